/**
 * JSON objects one after another, with no `---` (what `jq '.items[]'` writes), are a stream
 * kubectl reads: inject reads it too, each object a document.
 */
import t from 'tap';
import { runInjectCli } from '../helpers/inject-cli.js';

const secret = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'app' }, stringData: { db: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:db' } };
const service = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'svc', annotations: { note: '} {"quoted": [braces]}' } } };
const pod = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'p' },
  spec: { containers: [{ name: 'c', image: 'app:1', command: ['/app'], env: [{ name: 'DB', valueFrom: { secretKeyRef: { name: 'app', key: 'db' } } }] }] },
};

t.test('concatenated JSON objects are documents', async (t) => {
  for (const input of [`${JSON.stringify(secret, null, 2)}\n${JSON.stringify(service, null, 2)}\n${JSON.stringify(pod, null, 2)}\n`, [secret, service, pod].map((object) => JSON.stringify(object)).join('')]) {
    const json = await runInjectCli(['-f', '-', '-o', 'json'], input);
    t.equal(json.code, 0, json.stderr);
    const items = (JSON.parse(json.stdout) as { items: { kind: string; spec?: { containers: { args?: string[] }[] } }[] }).items;
    t.same(items.map((item) => item.kind), ['Secret', 'Service', 'Pod']);
    t.same(items[2]?.spec?.containers[0]?.args, ['--provider=aws', '/app'], 'the pod injected, with the Secret of the stream');
    const yaml = await runInjectCli(['-f', '-'], input);
    t.equal(yaml.code, 0, yaml.stderr);
    t.ok(yaml.stdout.includes(JSON.stringify(service, null, input.includes('\n') ? 2 : undefined)), 'an unchanged object written as it was');
  }
});

t.test('JSON followed by something else is still refused', async (t) => {
  const { code, stderr } = await runInjectCli(['-f', '-'], `${JSON.stringify(service)} trailing`);
  t.equal(code, 2);
  t.match(stderr, /stdin is not valid YAML or JSON/);
});

t.test('objects that are YAML flow mappings but not JSON are refused, as kubectl refuses the stream', async (t) => {
  // kubectl reads a stream that starts with `{` as JSON, and stops at the first object that is not.
  for (const second of [
    '{apiVersion: v1, kind: Service, metadata: {name: svc}}',
    '{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "svc"},}',
    '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"mode": 0644}}',
    "{'apiVersion': 'v1', 'kind': 'Service', 'metadata': {'name': 'svc'}}",
  ]) {
    const { code, stdout, stderr } = await runInjectCli(['-f', '-'], `${JSON.stringify(secret)}\n${second}\n`);
    t.equal(code, 2, `refused: ${second}`);
    t.equal(stdout, '');
    t.match(stderr, /stdin is not valid YAML or JSON/);
  }
});
