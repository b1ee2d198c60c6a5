/** The README documents every flag `--help` shows and every annotation the webhook reads. */
import { readFileSync } from 'node:fs';
import t from 'tap';
import { COMMAND_FLAGS, DEFAULTS, GLOBAL_FLAGS } from '../../src/cli/flags.js';
import * as annotations from '../../src/core/annotations.js';
import { COMMAND_ANNOTATION_PREFIX } from '../../src/core/command-override.js';
import { runInjectCli } from '../helpers/inject-cli.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const install = readFileSync(new URL('../../docs/install.md', import.meta.url), 'utf8');

t.test('every visible flag is in the README', async (t) => {
  for (const spec of [...GLOBAL_FLAGS, ...Object.values(COMMAND_FLAGS).flat()]) {
    if (spec.hidden === true) continue;
    t.ok(readme.includes(`--${spec.name}`), `--${spec.name}`);
  }
});

t.test('every annotation is in the README', async (t) => {
  const names = Object.entries(annotations)
    .filter(([key, value]) => key.startsWith('ANNOTATION_') && typeof value === 'string')
    .map(([, value]) => value as string);
  t.ok(names.length >= 7, `${names.length} annotations`);
  for (const name of [...names, `${COMMAND_ANNOTATION_PREFIX}<container>`]) t.ok(readme.includes(`\`${name}`), name);
});

t.test('--provider has no effect, and the docs do not tell admins to set it', async (t) => {
  const pod = [
    'apiVersion: v1',
    'kind: Pod',
    'metadata: {name: p, namespace: shop}',
    'spec:',
    '  containers:',
    '    - {name: aws, image: app, command: [/app], env: [{name: A, value: "arn:aws:secretsmanager:us-east-1:123456789012:secret:a"}]}',
    '    - {name: gcp, image: app, command: [/app], env: [{name: G, value: "gcp:secretmanager:projects/p/secrets/g"}]}',
    '',
  ].join('\n');
  const outputs = await Promise.all(['aws', 'google'].map((provider) => runInjectCli(['-f', '-', `--provider=${provider}`], pod)));
  t.same(outputs.map((o) => o.code), [0, 0], 'inject succeeds with either value');
  t.equal(outputs[0]?.stdout, outputs[1]?.stdout, 'the same mutation with --provider=aws and --provider=google');
  t.match(readme, /`--provider`, `-p` \| `aws` \| accepted for compatibility[^|]*has no effect/, "the README's flag table says so");
  t.notMatch(readme, /`--provider` stands where nothing else decides/, 'the README does not give it a role elsewhere');
  const overlaySettings = /Other things to change in your overlay[^]*?The flags are in/.exec(install)?.[0] ?? '';
  t.ok(overlaySettings !== '', 'docs/install.md lists the settings to change in an overlay');
  t.notMatch(overlaySettings, /--provider=/, 'and a --provider value is not one of them');
});

t.test("the differences name the registry access kube-secrets-init had and this webhook has not, with what replaces it", async (t) => {
  // kube-secrets-init read image configs through go-containerregistry's k8schain: plain HTTP
  // after HTTPS to private IP addresses, and the webhook container's own Docker config,
  // Google key and Azure credentials. Pods it admitted that way are denied here until the
  // operator sets what replaces them.
  const differences = /## Differences from kube-secrets-init[^]*?\n## /.exec(readme)?.[0] ?? '';
  t.ok(differences !== '', 'the README has the section');
  for (const named of ['RFC 1918', '`--insecure-registries`', '`DOCKER_CONFIG`', '`GOOGLE_APPLICATION_CREDENTIALS`', '`AZURE_CLIENT_ID`', '`--default-image-pull-secret`', '`_json_key`']) {
    t.ok(differences.includes(named), `it names ${named}`);
  }
  const upgrade = /From \*\*kube-secrets-init\*\*[^]*?\n## /.exec(install)?.[0] ?? '';
  t.ok(upgrade !== '', 'docs/install.md has the upgrade paragraph');
  t.match(upgrade, /--insecure-registries[^]*--default-image-pull-secret/, 'which says what to set before switching');
});

t.test("the differences give the default --log-level, which is not kube-secrets-init's", async (t) => {
  // kube-secrets-init's --log-level defaults to warning; ours to info, one line per admission.
  const differences = /## Differences from kube-secrets-init[^]*?\n## /.exec(readme)?.[0] ?? '';
  t.not(DEFAULTS.logLevel, 'warning', 'the defaults differ');
  t.ok(differences.includes(`the default \`--log-level\` is \`${DEFAULTS.logLevel}\``), `the README says ours is ${DEFAULTS.logLevel}`);
  t.match(differences, /kube-secrets-init's default is `warning`/, "and that kube-secrets-init's is warning");
});
