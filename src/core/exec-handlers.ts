import type { Container } from './pod.js';

/**
 * The commands the kubelet runs inside a container besides its main process: exec
 * probes and lifecycle hooks. They do not run under secrets-init, so their environment
 * holds the raw references.
 */
export interface ExecHandler {
  /** How people name it: `livenessProbe`, `postStart hook`. */
  label: string;
  /** Where its `command` is in the container. */
  path: readonly string[];
  /** A probe: the kubelet expands `$(NAME)` in its command from the container's env (hooks it does not). */
  probe: boolean;
}

export const EXEC_HANDLERS: readonly ExecHandler[] = [
  { label: 'livenessProbe', path: ['livenessProbe', 'exec', 'command'], probe: true },
  { label: 'readinessProbe', path: ['readinessProbe', 'exec', 'command'], probe: true },
  { label: 'startupProbe', path: ['startupProbe', 'exec', 'command'], probe: true },
  { label: 'postStart hook', path: ['lifecycle', 'postStart', 'exec', 'command'], probe: false },
  { label: 'preStop hook', path: ['lifecycle', 'preStop', 'exec', 'command'], probe: false },
];

/** Every exec handler of the container that has a command, with that command. */
export function execCommands(container: Container): Array<{ handler: ExecHandler; command: string[] }> {
  const found: Array<{ handler: ExecHandler; command: string[] }> = [];
  for (const handler of EXEC_HANDLERS) {
    let value: unknown = container;
    for (const key of handler.path) value = isRecord(value) ? value[key] : undefined;
    if (Array.isArray(value) && value.length > 0 && value.every((word) => typeof word === 'string')) found.push({ handler, command: value as string[] });
  }
  return found;
}

/**
 * The variable names a command refers to, in any of the forms that reach the
 * environment: the kubelet's `$(NAME)`, and a shell's `$NAME` and `${NAME}`. Each `$` is
 * read in turn, as `/\$(?:\(([^)]*)\)|\{(IDENT)|(IDENT))/g` would, but a `$(` after the
 * word's last `)` is not searched to its end for one: a word of many unclosed `$(` took
 * time quadratic in its length.
 */
export function referredVariables(words: readonly string[]): Set<string> {
  const names = new Set<string>();
  for (const word of words) {
    const lastClose = word.lastIndexOf(')');
    for (let i = word.indexOf('$'); i >= 0; i = word.indexOf('$', i + 1)) {
      const next = word[i + 1];
      if (next === '(') {
        if (i + 2 > lastClose) continue;
        const close = word.indexOf(')', i + 2);
        names.add(word.slice(i + 2, close));
        i = close;
        continue;
      }
      const start = next === '{' ? i + 2 : i + 1;
      IDENTIFIER.lastIndex = start;
      const name = IDENTIFIER.exec(word)?.[0];
      if (name === undefined) continue;
      names.add(name);
      i = start + name.length - 1;
    }
  }
  return names;
}

const IDENTIFIER = /[A-Za-z_][A-Za-z0-9_]*/y;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
