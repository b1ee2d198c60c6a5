/**
 * Golden files of `inject`: each folder of test/inject/golden holds `args` (one argument per
 * line, `{dir}` for the folder), its input manifests, and what the command must write:
 * `stdout`, `stderr` and `exit`. The case folder's path reads `{dir}` in the output.
 * The expected files were written by the command and then read line by line; to rewrite
 * them after an intended change: UPDATE_GOLDEN=1 npx tap test/inject/golden.test.ts, then
 * review the diff.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { parse, parseAllDocuments } from 'yaml';
import { runInjectCli } from '../helpers/inject-cli.js';

const GOLDEN = fileURLToPath(new URL('./golden/', import.meta.url));
const update = process.env['UPDATE_GOLDEN'] === '1';

for (const name of readdirSync(GOLDEN).sort()) {
  const dir = join(GOLDEN, name);
  t.test(name, async (t) => {
    const args = readFileSync(join(dir, 'args'), 'utf8').split('\n').filter((line) => line !== '').map((line) => line.replaceAll('{dir}', dir));
    const result = await runInjectCli(args);
    const actual = { stdout: result.stdout.replaceAll(dir, '{dir}'), stderr: result.stderr.replaceAll(dir, '{dir}'), exit: `${result.code}\n` };
    for (const [file, text] of Object.entries(actual)) {
      const path = join(dir, file);
      if (update) writeFileSync(path, text);
      t.equal(text, existsSync(path) ? readFileSync(path, 'utf8') : '', `${file} as in ${name}/${file}`);
    }
    if (result.code === 2) t.equal(result.stdout, '', 'nothing written to stdout on an error');
    if (result.stdout !== '') t.same(parseAllDocuments(result.stdout).flatMap((document) => document.errors.map((error) => error.message)), [], 'the output parses');
    if (result.code === 0 && result.stdout !== '' && !args.includes('json') && !args.includes('--check')) {
      // The YAML written holds what -o json gives: the webhook's patch applied to the input's objects.
      const json = await runInjectCli([...args, '-o', 'json']);
      const expected = JSON.parse(json.stdout) as { kind?: string; items?: unknown[] };
      const written = parseAllDocuments(result.stdout, { merge: true }).map((document) => document.toJS({ maxAliasCount: -1 }) as unknown).filter((value) => value != null);
      t.same(withoutNulls(written), withoutNulls(written.length === 1 ? [expected] : expected.items), 'the YAML reads back as the -o json output');
    }
  });
}

/** As the API server stores an object: without null fields. */
function withoutNulls(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutNulls);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(Object.entries(value).filter(([, item]) => item !== null).map(([key, item]) => [key, withoutNulls(item)]));
}

t.test('documents nothing changes come out byte for byte; the output parses and is stable', async (t) => {
  const dir = join(GOLDEN, 'workload-kinds');
  const input = readFileSync(join(dir, 'input.yaml'), 'utf8');
  const { stdout, code } = await runInjectCli(['-f', join(dir, 'input.yaml')]);
  t.equal(code, 0);
  const inputDocs = input.split(/^---\n/m);
  const outputDocs = stdout.split(/^---\n/m);
  t.equal(outputDocs.length, inputDocs.length, 'one output document per input document, in order');
  for (const [i, doc] of inputDocs.entries()) {
    const kind = (parse(doc) as { kind: string; metadata: { name: string } }).kind;
    const name = (parse(doc) as { metadata: { name: string } }).metadata.name;
    if (['Namespace', 'Service'].includes(kind) || name === 'static-site') t.equal(outputDocs[i], doc, `${kind} ${name} unchanged, comments and flow style kept`);
    else t.not(outputDocs[i], doc, `${kind} ${name} changed`);
  }
  const again = await runInjectCli(['-f', '-'], stdout);
  t.equal(again.code, 0);
  t.equal(again.stdout, stdout, 'injecting the output again changes nothing');
  const check = await runInjectCli(['-f', '-', '--check'], stdout);
  t.equal(check.code, 0, '--check passes on injected manifests');
  t.equal(check.stdout, '');
});
