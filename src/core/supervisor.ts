/**
 * A supervisor: a command that starts the real command as its child, written before it
 * and ended by `--`, such as Argo's executor (`/var/run/argo/argoexec emissary -- <step>`).
 * secrets-init must run under it, not above it: wrapping the supervisor makes secrets-init
 * the executor's parent, and such pods hang.
 */
export type SupervisorCommand = readonly string[];

/** Argo Workflows' emissary executor, as its controller writes it into every step's main container. */
export const ARGO_EMISSARY: SupervisorCommand = ['/var/run/argo/argoexec', 'emissary', '--'];

export const DEFAULT_SUPERVISORS: readonly SupervisorCommand[] = [ARGO_EMISSARY];

/**
 * A supervisor as an operator writes it on the command line: words separated by white
 * space, the last one `--`. `$` is refused: the kubelet would expand it in `command`.
 */
export function parseSupervisorCommand(text: string): { command: SupervisorCommand } | { problem: string } {
  const words = text.trim().split(/\s+/).filter((word) => word !== '');
  if (words.length < 2 || words[words.length - 1] !== '--') {
    return { problem: 'must be the words that start the supervisor, ending with "--", e.g. "/sbin/tini --"' };
  }
  if (words.some((word) => word.includes('$'))) return { problem: 'must not contain "$"' };
  return { command: words };
}

/** The longest supervisor that the command line starts with, word for word; undefined when none does. */
export function supervisorOf(line: readonly string[], supervisors: readonly SupervisorCommand[]): SupervisorCommand | undefined {
  let found: SupervisorCommand | undefined;
  for (const supervisor of supervisors) {
    if (supervisor.length > line.length || (found !== undefined && supervisor.length <= found.length)) continue;
    if (supervisor.every((word, i) => line[i] === word)) found = supervisor;
  }
  return found;
}
