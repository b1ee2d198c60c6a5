/**
 * The argv normaliser: turns Go/urfave-style spellings into canonical commander input,
 * checked against the flag tables in flags.ts.
 *
 * Accepted spellings, as Go's `flag` package (used by urfave/cli) accepts them:
 *   --name=value  --name value  -name=value  -name value   (value flags)
 *   --name  --name=true|false  (and the single-dash forms)  (boolean flags)
 * Single-letter aliases (-p, -h, -v) work with one or two dashes.
 * Output: every known flag as `--name=value`, `--name` or `--no-name`; help and
 * version requests cut the argument list short (like Go's flag.ErrHelp).
 */
import { COMMAND_FLAGS, COMMAND_NAMES, GLOBAL_FLAGS, type CommandName, type FlagSpec } from './flags.js';
import { parseBool } from './values.js';

export type Normalized = { ok: true; args: string[] } | { ok: false; message: string };

type Scope = 'global' | CommandName;

const FLAG_TOKEN = /^--?([^-=][^=]*)(?:=([\s\S]*))?$/;

function isCommandName(text: string): text is CommandName {
  return (COMMAND_NAMES as readonly string[]).includes(text);
}

function findFlag(specs: readonly FlagSpec[], name: string): FlagSpec | undefined {
  return specs.find((spec) => spec.name === name || spec.short === name);
}

function scopeFlags(scope: Scope): readonly FlagSpec[] {
  return scope === 'global' ? GLOBAL_FLAGS : COMMAND_FLAGS[scope];
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + cost);
    }
    previous = current;
  }
  return previous[b.length] ?? Math.max(a.length, b.length);
}

function unknownFlagMessage(token: string, name: string, scope: Scope): string {
  const where = scope === 'global' ? 'before the command' : `for command ${scope}`;
  // Name only: the value part may be long or sensitive.
  const flag = token.startsWith('--') ? `--${name}` : `-${name}`;
  let message = `unknown flag ${JSON.stringify(flag)} ${where}`;
  if (scope !== 'global' && findFlag(GLOBAL_FLAGS, name) !== undefined) {
    return `${message} (--${name} is a global flag and must come before the command)`;
  }
  if (scope === 'global') {
    const owner = COMMAND_NAMES.find((command) => findFlag(COMMAND_FLAGS[command], name) !== undefined);
    if (owner !== undefined) return `${message} (--${name} belongs after the ${owner} command)`;
  }
  const candidates = scopeFlags(scope)
    .filter((spec) => spec.hidden !== true)
    .map((spec) => spec.name)
    .concat(scope === 'global' ? ['help', 'version'] : ['help']);
  const best = candidates
    .map((candidate) => ({ candidate, distance: editDistance(name, candidate) }))
    .filter((entry) => entry.distance <= 2 && entry.distance < name.length)
    .sort((x, y) => x.distance - y.distance)[0];
  if (best !== undefined) message += ` (did you mean --${best.candidate}?)`;
  return message;
}

function commandList(): string {
  return COMMAND_NAMES.join(', ');
}

/**
 * Validate the argument structure (flags known for their position, values
 * present, exactly one command, no stray arguments) and canonicalise every flag.
 * Errors are returned as a message without the program prefix.
 */
export function normalizeArgv(argv: readonly string[]): Normalized {
  const args: string[] = [];
  let scope: Scope = 'global';
  let i = 0;
  while (i < argv.length) {
    const token = argv[i] as string;
    if (scope === 'global') {
      let word = token;
      if (token === '--') {
        // Go's flag package stops flag parsing at "--": the next word is the command.
        i++;
        if (i >= argv.length) break;
        word = argv[i] as string;
      } else if (token.startsWith('-') && token !== '-') {
        const step = normalizeFlag(argv, i, scope, args);
        if (step === 'done') return { ok: true, args };
        if (typeof step === 'string') return { ok: false, message: step };
        i = step;
        continue;
      }
      if (isCommandName(word)) {
        args.push(word);
        scope = word;
        i++;
        continue;
      }
      if (word === 'help' || word === 'h') {
        // urfave/cli's help command: `help` or `help <command>`.
        const topic = argv[i + 1];
        if (topic === undefined) return { ok: true, args: [...args, '--help'] };
        if (!isCommandName(topic)) {
          return { ok: false, message: `unknown help topic ${JSON.stringify(topic)} (commands: ${commandList()})` };
        }
        const extra = argv[i + 2];
        if (extra !== undefined) {
          return { ok: false, message: `unexpected argument ${JSON.stringify(extra)} after help ${topic}` };
        }
        return { ok: true, args: [...args, topic, '--help'] };
      }
      return { ok: false, message: `unknown command ${JSON.stringify(word)} (commands: ${commandList()})` };
    }
    if (token === '--') {
      const extra = argv[i + 1];
      if (extra !== undefined) {
        return { ok: false, message: `unexpected argument ${JSON.stringify(extra)} for command ${scope}` };
      }
      break;
    }
    if (token.startsWith('-') && token !== '-') {
      const step = normalizeFlag(argv, i, scope, args);
      if (step === 'done') return { ok: true, args };
      if (typeof step === 'string') return { ok: false, message: step };
      i = step;
      continue;
    }
    return { ok: false, message: `unexpected argument ${JSON.stringify(token)} for command ${scope} (it takes only flags)` };
  }
  if (scope === 'global') return { ok: false, message: `missing command (commands: ${commandList()})` };
  return { ok: true, args };
}

/**
 * Canonicalise the flag at argv[index] into `out`. Returns the index of the next
 * token, 'done' when a help/version request ends parsing, or an error message.
 */
function normalizeFlag(argv: readonly string[], index: number, scope: Scope, out: string[]): number | 'done' | string {
  const token = argv[index] as string;
  const match = FLAG_TOKEN.exec(token);
  if (match === null) return `bad flag syntax ${JSON.stringify(token)}`;
  const name = match[1] as string;
  const inline = match[2];

  const special =
    name === 'help' || name === 'h' ? 'help' : scope === 'global' && (name === 'version' || name === 'v') ? 'version' : undefined;
  if (special !== undefined) {
    if (inline !== undefined) {
      const wanted = parseBool(inline, false);
      if (!wanted.ok) return `invalid value ${JSON.stringify(inline)} for --${special} (${wanted.reason})`;
      if (!wanted.value) return index + 1;
    }
    out.push(`--${special}`);
    return 'done';
  }

  const spec = findFlag(scopeFlags(scope), name);
  if (spec === undefined) return unknownFlagMessage(token, name, scope);

  if (spec.kind === 'bool') {
    if (inline === undefined) {
      out.push(`--${spec.name}`);
    } else {
      const value = parseBool(inline, false);
      if (!value.ok) return `invalid value ${JSON.stringify(inline)} for --${spec.name} (${value.reason})`;
      out.push(value.value ? `--${spec.name}` : `--no-${spec.name}`);
    }
    return index + 1;
  }

  if (inline !== undefined) {
    out.push(`--${spec.name}=${inline}`);
    return index + 1;
  }
  const value = argv[index + 1];
  if (value === undefined) return `missing value for --${spec.name}`;
  out.push(`--${spec.name}=${value}`);
  return index + 2;
}
