import type { Pod } from './pod.js';
import type { ImageConfig } from './original-command.js';

/** Pod annotation that stands in for a container image's config: `secrets-init/command.<container>`. */
export const COMMAND_ANNOTATION_PREFIX = 'secrets-init/command.';

export type CommandOverride = { config: ImageConfig } | { problem: string } | undefined;

/**
 * The image config the pod's annotation gives for `container`, so that no registry is
 * asked: a JSON array is the ENTRYPOINT (CMD empty); an object
 * `{"entrypoint": [...], "cmd": [...]}` gives both. The container's own `args` still
 * replace CMD, as for a real image.
 */
export function commandOverride(pod: Pod, container: string): CommandOverride {
  const annotation = `${COMMAND_ANNOTATION_PREFIX}${container}`;
  const raw = pod.metadata?.annotations?.[annotation];
  if (raw === undefined) return undefined;
  return parseCommandValue(raw, `annotation ${annotation}`);
}

/**
 * An image config written as the command annotation's value (also `inject --image-command`):
 * a JSON array of strings (the ENTRYPOINT) or `{"entrypoint": [...], "cmd": [...]}`. `what`
 * names where the value came from in problems.
 */
export function parseCommandValue(raw: string, what: string): { config: ImageConfig } | { problem: string } {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return { problem: `${what} is not JSON: expected an array of strings or {"entrypoint": [...], "cmd": [...]}` };
  }
  if (isStrings(value)) return { config: { entrypoint: value, cmd: [] } };
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const { entrypoint, cmd, ...rest } = value as Record<string, unknown>;
    const unknown = Object.keys(rest);
    if (unknown.length > 0) return { problem: `${what} has unknown field(s) ${fieldList(unknown)}: only "entrypoint" and "cmd" are allowed` };
    if (entrypoint !== undefined && !isStrings(entrypoint)) return { problem: `${what}: "entrypoint" must be an array of strings` };
    if (cmd !== undefined && !isStrings(cmd)) return { problem: `${what}: "cmd" must be an array of strings` };
    return { config: { entrypoint: entrypoint ?? [], cmd: cmd ?? [] } };
  }
  return { problem: `${what} must be a JSON array of strings or {"entrypoint": [...], "cmd": [...]}` };
}

/**
 * Unknown field names as a problem quotes them, cut short: the problem is given for each
 * container of the annotation's name, and a pod may hold thousands of them.
 */
function fieldList(names: readonly string[]): string {
  const listed = names.join(', ');
  return listed.length > MAX_LISTED_CHARS ? `${listed.slice(0, MAX_LISTED_CHARS)}…` : listed;
}

const MAX_LISTED_CHARS = 200;

function isStrings(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string');
}
