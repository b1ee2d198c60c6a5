/**
 * kubectl reads a stream whose first character (after white space) is `{` as a stream of
 * JSON objects, and stops with an error at the first `---` (after applying what came before
 * it). inject's YAML output must not start with `{` when a document follows: an unchanged
 * JSON document first (a .json file before YAML ones) is written after a `---`.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { parseAllDocuments } from 'yaml';
import { runInjectCli } from '../helpers/inject-cli.js';

const namespace = '{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}\n';
const pod = `apiVersion: v1
kind: Pod
metadata: {name: p, namespace: shop}
spec:
  containers:
    - name: c
      image: app:1
      command: [/app]
      env: [{name: DB, value: "arn:aws:secretsmanager:us-east-1:123456789012:secret:db"}]
`;

/** What kubectl does with the stream: JSON objects if it starts with `{`, else YAML documents. */
function readAsKubectl(stream: string): 'json' | 'yaml' {
  return stream.trimStart().startsWith('{') ? 'json' : 'yaml';
}

t.test('a JSON document first, then YAML: the output is a YAML stream', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'inject-json-first-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'a-namespace.json'), namespace);
  await writeFile(join(dir, 'b-pod.yaml'), pod);
  const { code, stdout, stderr } = await runInjectCli(['-f', dir]);
  t.equal(code, 0, stderr);
  t.equal(readAsKubectl(stdout), 'yaml', 'kubectl reads it as YAML documents');
  t.ok(stdout.includes(namespace), 'the JSON document as it was');
  const documents = parseAllDocuments(stdout);
  t.same(Array.isArray(documents) ? documents.map((document) => (document.toJS() as { kind: string }).kind) : [], ['Namespace', 'Pod']);
});

t.test('a JSON document alone is written as it was', async (t) => {
  const { code, stdout } = await runInjectCli(['-f', '-'], namespace);
  t.equal(code, 0);
  t.equal(stdout, namespace);
});
