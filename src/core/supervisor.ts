/**
 * A supervisor: a command that starts the real command as its child, written before it
 * and ended by `--`, such as Argo's executor (`/var/run/argo/argoexec emissary -- <step>`).
 * secrets-init must run under it, not above it: wrapping the supervisor makes secrets-init
 * the executor's parent, and such pods hang.
 */
export type SupervisorCommand = readonly string[];

/**
 * Argo Workflows' emissary executor, as its controller writes it into every step's main
 * container. Since Argo 3.5 the controller puts the executor's log options between
 * `emissary` and `--` (`--loglevel info --log-format text --gloglevel 0`): see supervisorOf.
 */
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

/**
 * The supervisor words the command line starts with, for the supervisor that takes the most
 * of them; undefined when none does. A supervisor matches word for word, but for Argo's
 * executor, whose options may stand before its `--` (see ARGO_EMISSARY): then the words
 * are the line's own, up to that `--`.
 */
export function supervisorOf(line: readonly string[], supervisors: readonly SupervisorCommand[]): readonly string[] | undefined {
  let found: readonly string[] | undefined;
  for (const supervisor of supervisors) {
    if (supervisor.length <= line.length && (found === undefined || supervisor.length > found.length) && supervisor.every((word, i) => line[i] === word)) {
      found = supervisor;
    } else if (isArgoEmissary(supervisor)) {
      const end = argoOptionsEnd(line);
      if (end >= 0 && (found === undefined || end + 1 > found.length)) found = line.slice(0, end + 1);
    }
  }
  return found;
}

function isArgoEmissary(supervisor: SupervisorCommand): boolean {
  return supervisor === ARGO_EMISSARY || (supervisor.length === ARGO_EMISSARY.length && supervisor.every((word, i) => word === ARGO_EMISSARY[i]));
}

/**
 * Where the `--` that ends Argo's executor stands in a line that starts with
 * `argoexec emissary` followed by options (`--name value`, `--name=value`, `-x`); -1 when the
 * line is not such a line.
 */
function argoOptionsEnd(line: readonly string[]): number {
  if (line[0] !== ARGO_EMISSARY[0] || line[1] !== ARGO_EMISSARY[1]) return -1;
  let valueAllowed = false;
  for (let i = 2; i < line.length; i++) {
    const word = line[i] ?? '';
    if (word === '--') return i;
    if (word.startsWith('-')) valueAllowed = !word.includes('=');
    else if (valueAllowed) valueAllowed = false;
    else return -1;
  }
  return -1;
}
