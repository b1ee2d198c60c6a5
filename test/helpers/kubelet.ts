/**
 * The kubelet's expansion of a container's `command`, `args` and env values, written
 * here from its documented rules (not from the webhook's code), so that tests can
 * check the process a patched pod would really start.
 */

/**
 * `$(NAME)` becomes the variable's value (left as written when `lookup` does not know
 * the name), `$$` becomes `$`, any other `$` (an unclosed `$(` included) stays.
 */
export function kubeletExpand(text: string, lookup: (name: string) => string | undefined): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const char = text[i]!;
    const next = text[i + 1];
    if (char !== '$' || next === undefined) {
      out += char;
      i++;
    } else if (next === '$') {
      out += '$';
      i += 2;
    } else if (next === '(' && text.indexOf(')', i + 2) >= 0) {
      const close = text.indexOf(')', i + 2);
      const name = text.slice(i + 2, close);
      out += lookup(name) ?? `$(${name})`;
      i = close + 1;
    } else {
      out += `$${next}`;
      i += 2;
    }
  }
  return out;
}

/** A lookup where every name is defined, as a marker no real word contains: whatever expands shows. */
export function symbolicValue(name: string): string {
  return `\u27e8${name}\u27e9`;
}

/** What the kubelet starts for a container: its `command` then `args`, each word expanded with `lookup`. */
export function kubeletProcess(container: { command?: string[]; args?: string[] }, lookup: (name: string) => string | undefined = symbolicValue): string[] {
  return [...(container.command ?? []), ...(container.args ?? [])].map((word) => kubeletExpand(word, lookup));
}
