/**
 * Aliases are expanded up to a bound that grows with the document: a chart using one anchor
 * hundreds of times is read, an alias bomb or an alias inside its own anchor is refused
 * (exit 2, naming the document), quickly and without a stack trace.
 */
import t from 'tap';
import { runInjectCli } from '../helpers/inject-cli.js';

const configMap = 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\n';

t.test('one anchor used 300 times is read, and comes out byte for byte', async (t) => {
  const items = Array.from({ length: 300 }, (_, i) => `  - apiVersion: v1\n    kind: ConfigMap\n    metadata: {name: c${i}, labels: ${i === 0 ? '&labels {app: shop, tier: web}' : '*labels'}}\n`);
  const input = `apiVersion: v1\nkind: List\nitems:\n${items.join('')}`;
  const { code, stdout, stderr } = await runInjectCli(['-f', '-'], input);
  t.equal(stderr, '');
  t.equal(code, 0);
  t.equal(stdout, input);
  const json = await runInjectCli(['-f', '-', '-o', 'json'], input);
  const value = JSON.parse(json.stdout) as { items: Array<{ metadata: { labels: unknown } }> };
  t.same(value.items[299]?.metadata.labels, { app: 'shop', tier: 'web' }, 'every alias has its value');
});

t.test('40,000 aliases are read in linear time, and written back as aliases', { timeout: 5_000 }, async (t) => {
  // The yaml package finds the anchor of each alias by going over every anchor and alias
  // before it: 40,000 took 8 s to read, and as long again to check the output (a 2 MiB file of
  // them, minutes).
  const input = [
    'apiVersion: v1',
    'kind: Pod',
    'metadata: {name: p}',
    'spec:',
    '  containers:',
    '  - {name: app, image: r/app:1, command: [/app], env: [{name: DB, value: "arn:aws:secretsmanager:us-east-1:1:secret:db"}]}',
    `  - {name: tool, image: r/tool:1, command: [/tool], args: [&word x, ${Array(40_000).fill('*word').join(', ')}]}`,
    '',
  ].join('\n');
  const { code, stdout, stderr } = await runInjectCli(['-f', '-'], input);
  t.equal(stderr, '');
  t.equal(code, 0);
  t.match(stdout, 'args: [ --provider=aws, /app ]');
  t.equal(stdout.split('*word').length - 1, 40_000, 'the aliases are written as they were');
});

t.test('a billion laughs is refused at once', async (t) => {
  const levels = ['  a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
  for (const [i, name] of [...'bcdefghi'].entries()) levels.push(`  ${name}: &${name} [${Array(9).fill(`*${'abcdefghi'[i]}`).join(',')}]`);
  const started = Date.now();
  const { code, stdout, stderr } = await runInjectCli(['-f', '-'], `${configMap}---\n${configMap}data:\n${levels.join('\n')}\n`);
  t.ok(Date.now() - started < 2000, 'within 2 s');
  t.equal(code, 2);
  t.equal(stdout, '');
  t.equal(stderr, 'secrets-init-webhook inject: stdin, document 2: its aliases expand it to more than 100000 nodes (refused: an alias bomb could exhaust memory)\n');
});

t.test('an alias inside the node it refers to is refused', async (t) => {
  const { code, stdout, stderr } = await runInjectCli(['-f', '-'], `${configMap}data: &d {x: *d}\n`);
  t.equal(code, 2);
  t.equal(stdout, '');
  t.equal(stderr, 'secrets-init-webhook inject: stdin: alias *d is inside the node it refers to (its value would never end)\n');
});

t.test('a merge key whose value is anchored and used elsewhere: the other use keeps the value as it was', async (t) => {
  const input = [
    'apiVersion: v1',
    'kind: List',
    'items:',
    '- apiVersion: v1',
    '  kind: Pod',
    '  metadata: {name: a}',
    '  spec:',
    '    <<: &common {containers: [{name: c, image: r/app:1, command: [/app], env: [{name: DB, value: "arn:aws:secretsmanager:us-east-1:1:secret:db"}]}]}',
    '    hostname: a',
    '- apiVersion: example.com/v1',
    '  kind: PodPreset',
    '  metadata: {name: b}',
    '  template: *common',
    '',
  ].join('\n');
  const { code, stdout, stderr } = await runInjectCli(['-f', '-', '-o', 'json'], input);
  t.equal(stderr, '');
  t.equal(code, 0);
  const items = (JSON.parse(stdout) as { items: Array<{ spec?: { containers: Array<{ command: string[] }> }; template?: { containers: Array<{ command: string[] }> } }> }).items;
  t.same(items[0]?.spec?.containers[0]?.command, ['/helper/bin/secrets-init'], 'the pod is injected');
  t.same(items[1]?.template?.containers[0]?.command, ['/app'], 'the other use of the anchor is not');
  const yaml = await runInjectCli(['-f', '-'], input);
  t.equal(yaml.code, 0, 'written as YAML too');
});
