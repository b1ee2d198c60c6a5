import type { Container } from './pod.js';
import type { SupervisorCommand } from './supervisor.js';
import { supervisorOf } from './supervisor.js';
import { given } from './original-command.js';

/** Where the wrapper runs from, and what it must run under. */
export interface WrapSettings {
  /** Directory of the copied binary; the wrapper is `<volumePath>/secrets-init`. */
  volumePath: string;
  supervisors: readonly SupervisorCommand[];
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
  return { command: [...supervisor, wrapperPath(settings.volumePath)], args: [...runtimeArgs, ...rest] };
}
