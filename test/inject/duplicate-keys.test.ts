/**
 * A key written twice in a mapping is refused, naming its line and column, as the yaml
 * package's `uniqueKeys` reports it, in time linear in the keys.
 */
import t from 'tap';
import fc from 'fast-check';
import assert from 'node:assert/strict';
import { parseAllDocuments } from 'yaml';
import { ManifestError, splitDocuments } from '../../src/manifests/documents.js';
import { runInjectCli } from '../helpers/inject-cli.js';

/** The first error of a text's documents, as splitDocuments words it, or undefined when it has none. */
function refusal(text: string): string | undefined {
  try {
    splitDocuments('-', text);
    return undefined;
  } catch (error) {
    if (!(error instanceof ManifestError)) throw error;
    return error.message;
  }
}

t.test('duplicate keys are found where the yaml package finds them', async () => {
  // Keys that read alike in YAML 1.1 and 1.2, in block and flow mappings, with anchors, tags and
  // explicit keys. (After a key without a value the package names the end of that key's line,
  // and this check the duplicate key itself.)
  const key = fc.constantFrom('a', 'b', '"a"', "'b'", '&x a', '!!str b', '? a\n', '1', '"1"', '~', 'null');
  const line = fc.tuple(fc.constantFrom('', '  ', '- '), key, fc.constantFrom(': 1', ': {a: 1, b: 2}', ': {a: 1, a: 2}', ': [{b: 1, b: 2}]')).map(([indent, k, value]) => `${indent}${k}${value}`);
  fc.assert(
    fc.property(fc.array(line, { minLength: 1, maxLength: 8 }), (lines) => {
      const text = `${lines.join('\n')}\n`;
      const [first] = parseAllDocuments(text, { prettyErrors: true, uniqueKeys: true, merge: true }) as ReturnType<typeof parseAllDocuments> & unknown[];
      const expected = first?.errors[0];
      const message = refusal(text);
      if (expected?.code !== 'DUPLICATE_KEY') return;
      const at = expected.linePos?.[0];
      assert.ok(message?.endsWith(`is not valid YAML or JSON: Map keys must be unique (line ${at?.line}, column ${at?.col})`), `${JSON.stringify(text)}: ${message}`);
    }),
    { numRuns: 3000 },
  );
});

t.test('a mapping of 40,000 keys is read in linear time, and a duplicate at its end is found', { timeout: 5_000 }, async (t) => {
  // Each key compared with every key before it, they took 20 s to read (a 2 MiB mapping, over ten minutes).
  const keys = Array.from({ length: 40_000 }, (_, i) => `  k${i}: v`);
  const head = 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\ndata:\n';
  const read = await runInjectCli(['-f', '-'], `${head}${keys.join('\n')}\n`);
  t.equal(read.stderr, '');
  t.equal(read.code, 0);
  const duplicated = await runInjectCli(['-f', '-'], `${head}${keys.join('\n')}\n  k17: again\n`);
  t.equal(duplicated.code, 2);
  t.equal(duplicated.stderr, 'secrets-init-webhook inject: stdin is not valid YAML or JSON: Map keys must be unique (line 40005, column 3)\n');
});
