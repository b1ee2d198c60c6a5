/**
 * `inject` reading a Secret whose value YAML takes for something else: a password that
 * starts with `*` (an alias), `|` or `>` (a block scalar header), `!` (a tag), or a bad escape
 * in a quoted one. The command says what is wrong and where (exit 2), and never the value:
 * its stderr ends up in CI logs. Nor does the YAML library print process warnings quoting it.
 */
import t from 'tap';
import fc from 'fast-check';
import { runInjectCli } from '../helpers/inject-cli.js';

const CANARY = 'CANARY7f3aQz9';

/** Pieces of the canary long enough to tell it apart from the words of a message. */
function pieces(secret: string): string[] {
  const out: string[] = [];
  for (let i = 0; i + 5 <= secret.length; i++) out.push(secret.slice(i, i + 5));
  return out;
}

function leaked(text: string): string | undefined {
  return pieces(CANARY).find((piece) => text.includes(piece));
}

function secretWith(value: string): string {
  return `apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: ${value}\n  user: app\n`;
}

/** Warnings the process emits while `run` runs (the YAML library's go to stderr). */
async function warningsDuring<T>(run: () => Promise<T>): Promise<{ result: T; warnings: string[] }> {
  const warnings: string[] = [];
  const listener = (warning: Error) => warnings.push(warning.message);
  process.on('warning', listener);
  try {
    const result = await run();
    // Warnings are emitted on the next tick.
    await new Promise((resolve) => setImmediate(resolve));
    return { result, warnings };
  } finally {
    process.off('warning', listener);
  }
}

t.test('a value YAML reads as something else is refused without quoting it', async (t) => {
  const cases: Array<[string, string, RegExp]> = [
    ['an alias', `*${CANARY}`, /cannot be read: Unresolved alias \(the anchor must be set before the alias\)$/m],
    ['an alias in a flow mapping', `{a: *${CANARY}}`, /Unresolved alias/],
    ['a literal block header', `|${CANARY}`, /is not valid YAML or JSON: Block scalar header includes extra characters \(line 6, column 14\)$/m],
    ['a folded block header', `>${CANARY}`, /Block scalar header includes extra characters \(line 6, column 14\)$/m],
    ['a block header and a space', `|- ${CANARY}`, /is not valid YAML or JSON: Not a YAML token \(line 6, column \d+\)$/m],
    ['a tag with no suffix', `!!${CANARY}!!`, /A tag has no suffix \(line 6, column 13\)$/m],
    ['a tag', `!${CANARY}!x y`, /is not valid YAML or JSON: /],
    ['a bad escape in a double-quoted value', `"\\U${CANARY}"`, /Invalid escape sequence \(line 6, column \d+\)$/m],
    ['a bad \\u escape', `"\\u${CANARY}"`, /Invalid escape sequence \(line 6, column \d+\)$/m],
    ['a reserved first character', `@${CANARY}`, /Plain value cannot start with reserved character @ \(line 6, column 13\)$/m],
    ['a flow sequence left open', `[${CANARY}`, /is not valid YAML or JSON: /],
    ['an ordered map with a repeated key', `!!omap [${CANARY}: 1, ${CANARY}: 2]`, /is not valid YAML or JSON: /],
  ];
  for (const [what, value, message] of cases) {
    const { result, warnings } = await warningsDuring(() => runInjectCli(['-f', '-'], secretWith(value)));
    t.equal(result.code, 2, `${what}: refused`);
    t.equal(result.stdout, '', `${what}: nothing written`);
    t.match(result.stderr, message, `${what}: says what and where`);
    t.equal(leaked(result.stderr), undefined, `${what}: the value is not quoted: ${result.stderr}`);
    t.equal(warnings.map(leaked).find((piece) => piece !== undefined), undefined, `${what}: no warning quotes it`);
  }
});

t.test('a key made of values is not printed as a process warning', async (t) => {
  // A mapping or sequence as a key: the YAML library warns, quoting it, that it is stringified.
  for (const line of [`{password: ${CANARY}}: x`, `[password, ${CANARY}]: x`, `? [${CANARY}]\n  : x`]) {
    const text = `apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  ${line}\n`;
    const { warnings } = await warningsDuring(() => runInjectCli(['-f', '-'], text));
    t.same(warnings.filter((warning) => leaked(warning) !== undefined), [], `${JSON.stringify(line)}: no warning quotes the key`);
  }
});

t.test('whatever surrounds a value, a refusal never quotes it', async (t) => {
  const special = fc.constantFrom(...'|>!&*%@`\'"[]{}:,?-#\\<>= \t'.split(''), '\\x', '\\u', '\\U', '!!', '<<', '---', '...', '\n', '\n ', '\n  ', ': ', ' #', '|-', '|2', '!<', '!!binary ', '!!int ', '!!omap ');
  const around = fc.array(special, { maxLength: 3 }).map((parts) => parts.join(''));
  const contexts: Array<(value: string) => string> = [
    (value) => secretWith(value),
    (value) => secretWith(`"${value}"`),
    (value) => secretWith(`'${value}'`),
    (value) => `apiVersion: v1\nkind: Secret\nmetadata: {name: db}\nstringData: {password: ${value}, user: app}\n`,
    (value) => `{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"}, "stringData": {"password": ${value}}}`,
    (value) => `{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"}, "stringData": {"password": "${value}"}}`,
    (value) => `apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: |\n    ${value}\n`,
    (value) => `apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  - ${value}\n`,
  ];
  await fc.assert(
    fc.asyncProperty(around, around, fc.integer({ min: 0, max: contexts.length - 1 }), async (before, after, context) => {
      const text = (contexts[context] as (value: string) => string)(`${before}${CANARY}${after}`);
      const { result, warnings } = await warningsDuring(() => runInjectCli(['-f', '-'], text));
      // Written back as given (a Secret is no workload): only a refusal's words count here.
      if (result.code !== 0 && leaked(result.stdout + result.stderr) !== undefined) throw new Error(`quoted: ${JSON.stringify(text)} -> ${result.stderr}`);
      const warned = warnings.find((warning) => leaked(warning) !== undefined);
      if (warned !== undefined) throw new Error(`warned: ${JSON.stringify(text)} -> ${warned}`);
    }),
    { numRuns: 3000 },
  );
});
