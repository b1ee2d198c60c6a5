/**
 * The kubelet's `$(NAME)` syntax in env values and in `command`/`args`: `$(NAME)` expands
 * (left as written when NAME is not defined), `$$` is a literal `$`, and any other `$` (an
 * unclosed `$(` included) stays as it is.
 */

/**
 * Walks `value` as the kubelet expands it: `text` gets each run of literal text (`$$`
 * already made `$`), `variable` each `$(NAME)`, in order.
 */
export function scanExpansion(value: string, text: (literal: string) => void, variable: (name: string) => void): void {
  let from = 0;
  // Once a `$(` finds no `)` after it, no later one can: they are not searched again (a
  // value of many unclosed `$(` would otherwise be searched to its end from each of them).
  let closable = true;
  for (let i = value.indexOf('$'); i >= 0 && i < value.length - 1; i = value.indexOf('$', i + 1)) {
    const next = value[i + 1];
    if (next === '$') {
      text(value.slice(from, i + 1));
      from = i + 2;
      i++;
    } else if (next === '(' && closable) {
      const close = value.indexOf(')', i + 2);
      // Unclosed: no later `$(` can close either; only `$$` is left to collapse.
      if (close < 0) {
        closable = false;
        continue;
      }
      if (i > from) text(value.slice(from, i));
      variable(value.slice(i + 2, close));
      from = close + 1;
      i = close;
    }
  }
  if (from < value.length) text(value.slice(from));
}

const NO_NAMES: readonly string[] = Object.freeze([]);

/** The variables an env value (or a `command`/`args` word) expands, in order. */
export function expandedVariables(value: string): readonly string[] {
  // Most values expand nothing: one native search instead of a walk over every character.
  if (!value.includes('$(')) return NO_NAMES;
  const names: string[] = [];
  scanExpansion(value, ignore, (name) => names.push(name));
  return names;
}

function ignore(): void {}

/**
 * What every expansion of `value` starts with, whatever its variables hold: the text
 * before its first `$`, and that `$` itself unless it opens a `$(NAME)`.
 */
export function fixedStart(value: string): string {
  const dollar = value.indexOf('$');
  if (dollar < 0) return value;
  const opensVariable = value[dollar + 1] === '(' && value.indexOf(')', dollar + 2) >= 0;
  return opensVariable ? value.slice(0, dollar) : value.slice(0, dollar + 1);
}
