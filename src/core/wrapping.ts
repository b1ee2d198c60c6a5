import type { Container } from './pod.js';
import type { SupervisorCommand } from './supervisor.js';
import { supervisorOf } from './supervisor.js';
import { given } from './original-command.js';
import { imageSupports } from './runtime-release.js';

/** Where the wrapper runs from, and what it must run under. */
export interface WrapSettings {
  /** Directory of the copied binary; the wrapper is `<volumePath>/secrets-init`. */
  volumePath: string;
  supervisors: readonly SupervisorCommand[];
  /** The injected secrets-init image (--image): its release decides which subcommands it has. */
  image?: string;
}

export function wrapperPath(volumePath: string): string {
  return `${volumePath}/secrets-init`;
}

/**
 * A container already wrapped by a previous injection: its command line runs the
 * wrapper first, or right after a supervisor.
 */
export function isWrapped(container: Container, settings: WrapSettings): boolean {
  if (!given(container.command)) return false;
  const line = [...container.command, ...(container.args ?? [])];
  const start = supervisorOf(line, settings.supervisors)?.length ?? 0;
  return line[start] === wrapperPath(settings.volumePath);
}

/**
 * The wrapped container's `command` and `args` for its command line `line` (as written
 * for the kubelet): `command` ends with the wrapper (after the supervisor, if the line
 * starts with one) and `args` holds the runtime's options then the rest of the line.
 */
export function wrapCommandLine(
  line: readonly string[],
  runtimeArgs: readonly string[],
  settings: WrapSettings,
): { command: string[]; args: string[] } | { problem: string } {
  const supervisor = supervisorOf(line, settings.supervisors) ?? [];
  const rest = line.slice(supervisor.length);
  if (rest.length === 0) {
    return { problem: `runs the supervisor "${supervisor.join(' ')}" with no command after it, so there is nothing for secrets-init to start` };
  }
  const clash = subcommandClash(rest, settings.image);
  if (clash !== undefined) return { problem: `runs ${clash}; write the program's absolute path in the container's command, such as "/bin/${rest[0]}"` };
  return { command: [...supervisor, wrapperPath(settings.volumePath)], args: [...runtimeArgs, ...rest] };
}

/**
 * secrets-init's own subcommands, by the words that call them (urfave/cli: `copy` with
 * its alias `cp`, and the `help` command it adds, alias `h`). When the first word after
 * its options is one of them, secrets-init runs that subcommand instead of starting the
 * command, and `--` does not stop it.
 */
const SUBCOMMANDS: ReadonlyMap<string, string> = new Map([
  ['copy', 'copy'],
  ['cp', 'copy'],
  ['help', 'help'],
  ['h', 'help'],
]);

/**
 * What is wrong with handing `line` to secrets-init when its first word names one of
 * secrets-init's subcommands (`"cp", which secrets-init takes …`); undefined otherwise.
 * `image`, the injected secrets-init, decides whether it has `copy` (from 0.4.0 on;
 * before, `cp` and `copy` start the program); without it, it does.
 */
export function subcommandClash(line: readonly string[], image?: string): string | undefined {
  const first = line[0];
  const subcommand = first === undefined ? undefined : SUBCOMMANDS.get(first);
  if (subcommand === undefined) return undefined;
  if (subcommand === 'copy' && image !== undefined && !imageSupports(image, 'copy')) return undefined;
  return `"${first}", which secrets-init takes for its own subcommand "${subcommand}" and runs instead of the program ("--" does not prevent it)`;
}
