/** The README documents every flag `--help` shows and every annotation the webhook reads. */
import { existsSync, readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import t from 'tap';
import { parse as parseYaml } from 'yaml';
import { COMMAND_FLAGS, DEFAULTS, GLOBAL_FLAGS, LOG_LEVELS } from '../../src/cli/flags.js';
import * as annotations from '../../src/core/annotations.js';
import { COMMAND_ANNOTATION_PREFIX } from '../../src/core/command-override.js';
import { ARGO_EMISSARY } from '../../src/core/supervisor.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { createMetrics } from '../../src/telemetry/metrics.js';
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

/** The rows of the Markdown table whose header row is `header`, as cells. */
function tableRows(text: string, header: string): string[][] {
  const lines = text.split('\n');
  const start = lines.indexOf(header);
  if (start < 0) return [];
  const rows: string[][] = [];
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('|')) break;
    rows.push(line.slice(1, -1).split(' | ').map((cell) => cell.trim()));
  }
  return rows;
}

t.test("the README's metrics table names every metric the webhook exports, with its labels", async (t) => {
  const metrics = createMetrics({ processMetrics: false, build: { version: 'test' } });
  // One observation of each, so that every series (and its labels) is written.
  metrics.observeAdmission('denied', 0.01, true);
  metrics.observeObjectLookup('Secret', 'found', 0.01);
  metrics.observeImageConfigLookup('fetched');
  metrics.observeRegistryRequest('manifest', 200);
  metrics.setCertificateExpiry(new Date());
  metrics.observeTlsReload('success');
  metrics.watchConnections('webhook', async () => 1);
  metrics.observeDroppedConnection('webhook');
  const exported = new Map<string, Set<string>>();
  for (const line of (await metrics.registry.metrics()).split('\n')) {
    const series = /^(secrets_init_webhook_[a-z_]+?)(?:_bucket|_sum|_count)?(?:\{([^}]*)\})? /.exec(line);
    if (series === null) continue;
    const name = series[1] ?? '';
    const labels = exported.get(name) ?? new Set<string>();
    for (const [, label] of (series[2] ?? '').matchAll(/([a-z_]+)="/g)) if (label !== 'le') labels.add(label ?? '');
    exported.set(name, labels);
  }
  const rows = tableRows(readme, '| metric | labels |');
  t.ok(rows.length >= 8, `${rows.length} rows`);
  const documented = new Map<string, Set<string>>();
  for (const [names = '', labels = ''] of rows) {
    const labelNames = new Set([...labels.matchAll(/`([a-z_]+)`/g)].map((m) => m[1] ?? ''));
    const rowNames = [...names.matchAll(/`(secrets_init_webhook_[a-z_]+)`/g)].map((m) => m[1] ?? '');
    for (const name of rowNames) documented.set(name, labelNames);
    const union = new Set(rowNames.flatMap((name) => [...(exported.get(name) ?? [])]));
    t.same([...union].sort(), [...labelNames].sort(), `the labels of ${rowNames.join(', ')}`);
  }
  t.same([...documented.keys()].sort(), [...exported.keys()].sort(), 'the same metrics');
  for (const [name, labels] of exported) {
    for (const label of labels) t.ok(documented.get(name)?.has(label), `${name}{${label}} is documented on its row`);
  }
  const results = /`result`: ([a-z_, ]+);/.exec(rows[0]?.[1] ?? '')?.[1]?.split(', ') ?? [];
  const initialized = [...(await metrics.registry.metrics()).matchAll(/^secrets_init_webhook_admissions_total\{result="([a-z_]+)"/gm)].map((m) => m[1]);
  t.same([...new Set(initialized)].sort(), [...results].sort(), 'admissions_total: the documented results, each exported from the start');
});

t.test("the README's server flag table gives each flag the default --help gives", async (t) => {
  const rows = tableRows(readme, '| `server` flag | default | meaning |');
  t.ok(rows.length >= 30, `${rows.length} rows`);
  const plain = (text: string) => text.replace(/`/g, '');
  const inTable = new Set<string>();
  for (const [flags = '', shown = ''] of rows) {
    for (const [, name] of flags.matchAll(/`--([a-z-]+)`/g)) {
      const spec = COMMAND_FLAGS.server.find((candidate) => candidate.name === name);
      if (spec === undefined) {
        t.fail(`--${name} is not a server flag`);
        continue;
      }
      inTable.add(spec.name);
      const help = spec.defaultText ?? 'unset';
      if (spec.name === 'supervisor-command') {
        t.match(plain(shown), ARGO_EMISSARY.join(' '), '--supervisor-command: Argo\'s prefix, always known');
      } else if (spec.name === 'shutdown-drain') {
        t.match(plain(shown), /^5s in a pod .*, else 0$/, '--shutdown-drain');
        t.match(help, /^5s in a Kubernetes pod .*, 0 elsewhere$/, '--shutdown-drain in help');
      } else {
        t.equal(plain(shown).replace(/ \(any registry\)$/, ''), help, `--${spec.name}`);
      }
      // A range --help states, the README's row states too.
      const meaning = plain(rows.find(([cell]) => cell?.includes(`\`--${spec.name}\``))?.[2] ?? '').replace(/(\d),(\d)/g, '$1$2');
      for (const [bound] of spec.description.matchAll(/1 to \d+|at most \d+[a-z]+/g)) t.ok(meaning.includes(bound), `--${spec.name}: ${bound}`);
    }
  }
  // The self-bootstrap row names its companions with their defaults.
  const bootstrap = rows.find(([flags]) => flags?.includes('`--self-bootstrap`'))?.[2] ?? '';
  for (const name of ['bootstrap-secret', 'webhook-configuration', 'bootstrap-service', 'bootstrap-namespace']) {
    const spec = COMMAND_FLAGS.server.find((candidate) => candidate.name === name);
    t.ok(bootstrap.includes(`\`--${name}\``), `--${name} in the --self-bootstrap row`);
    if (spec?.defaultText !== undefined && name !== 'bootstrap-namespace') t.ok(bootstrap.includes(`\`--${name}\` \`${spec.defaultText}\``), `--${name} with its default`);
    inTable.add(name);
  }
  for (const spec of COMMAND_FLAGS.server) if (spec.hidden !== true) t.ok(inTable.has(spec.name), `--${spec.name} has a row`);
});

t.test("the README's alert table is the PrometheusRule's alerts, in its order, with their severity and for", async (t) => {
  const rule = parseYaml(readFileSync(new URL('../../manifests/components/monitoring/prometheusrule.yaml', import.meta.url), 'utf8')) as {
    spec: { groups: Array<{ rules: Array<{ alert: string; for: string; labels: { severity: string } }> }> };
  };
  const alerts = rule.spec.groups.flatMap((group) => group.rules).map((r) => [r.alert, `${r.labels.severity}, ${r.for}`]);
  const rows = tableRows(readme, '| alert | severity, `for` | fires when | what to do |').map(([alert = '', severity = '']) => [alert.replace(/`/g, ''), severity]);
  t.same(rows, alerts);
});

t.test('every manifests folder the docs name exists', async (t) => {
  const paths = new Set<string>();
  for (const text of [readme, install]) {
    for (const [, path] of text.matchAll(/(?:^|[`(\s/])((?:manifests\/)?(?:overlays|components)\/[a-z-]+)/gm)) paths.add((path ?? '').startsWith('manifests/') ? path ?? '' : `manifests/${path ?? ''}`);
  }
  t.ok(paths.size >= 9, [...paths].join(', '));
  for (const path of paths) t.ok(existsSync(new URL(`../../${path}/kustomization.yaml`, import.meta.url)), path);
});

t.test("the README's section on inject and audit names every flag of the two commands", async (t) => {
  const section = /\n## Offline: inject and audit\n[^]*?(?=\n## )/.exec(readme)?.[0] ?? '';
  t.ok(section.length > 1000, 'the section is there');
  for (const command of ['inject', 'audit'] as const) {
    for (const spec of COMMAND_FLAGS[command]) {
      if (spec.hidden === true) continue;
      t.ok(section.includes(`--${spec.name}`), `${command} --${spec.name}`);
    }
  }
});

t.test("the README's JSON log levels are the numbers --json writes", async (t) => {
  const stated = /as JSON lines \(`level` a number: ([^;]+);/.exec(readme)?.[1]?.replace(/\s+/g, ' ') ?? '';
  const pairs = [...stated.matchAll(/(\d+) ([a-z]+(?: and [a-z]+)?)/g)].flatMap(([, number, names]) => (names ?? '').split(' and ').map((name) => [name, Number(number)] as const));
  t.same(pairs.map(([name]) => name), [...LOG_LEVELS], 'every --log-level is given its number');
  for (const [name, number] of pairs) {
    let text = '';
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        text += chunk.toString();
        done();
      },
    });
    const logger = createLogger({ logLevel: name, json: true }, sink);
    logger[logger.level as 'info']('at the configured level');
    logger.flush();
    t.match(JSON.parse(text.split('\n')[0] ?? '{}'), { level: number, msg: 'at the configured level', app: 'secrets-init-webhook', time: String }, `--log-level=${name}`);
  }
});
