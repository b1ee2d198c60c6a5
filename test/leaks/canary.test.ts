/**
 * Canaries: distinctive values in every place a secret can sit (Secret data and stringData,
 * values that look like references, invalid base64, invalid UTF-8, huge values, pull secrets
 * well-formed and malformed, registry and token servers quoting what they were sent, an API
 * server quoting the webhook's token), then every path run at --log-level=debug: the built
 * server (answers, logs, /metrics) and the offline commands (inject, its kubectl plugin,
 * audit, certs), all they write captured. No canary, nor its base64, may appear anywhere.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import t from 'tap';
import type { Test } from 'tap';
import { startStubApiServer } from '../helpers/stub-apiserver.js';
import { REPO_ROOT, runCli, startWebhook } from '../helpers/webhook-process.js';
import { parseAnswer, postReview, send } from '../e2e/fixtures/support.js';
import type { Pod } from '../e2e/fixtures/support.js';

const NS = 'leak';
const AWS_REF = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf';

/** Every secret value of the test, by where it sits. */
const CANARY = {
  plain: 'CANARY-7f3a-plain-value',
  stringData: 'CANARY-7f3a-string-data',
  refLike: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:CANARY-7f3a-in-a-reference',
  gcpLike: 'gcp:secretmanager:projects/p/secrets/CANARY-7f3a-google/versions/1',
  notUtf8: 'CANARY-7f3a-not-utf8',
  badBase64: 'CANARY-7f3a-bad-base64!!',
  huge: `CANARY-7f3a-huge-${'x'.repeat(200_000)}`,
  pullUser: 'CANARY-7f3a-pull-user',
  pullPassword: 'CANARY-7f3a-pull-password',
  fieldsUser: 'CANARY-7f3a-fields-user',
  fieldsPassword: 'CANARY-7f3a-fields-password',
  saPassword: 'CANARY-7f3a-serviceaccount-password',
  defaultPassword: 'CANARY-7f3a-default-password',
  legacyPassword: 'CANARY-7f3a-dockercfg-password',
  malformed: 'CANARY-7f3a-malformed-json',
  badAuth: 'CANARY-7f3a-bad-auth',
  auths: 'CANARY-7f3a-auths-string',
  userinfo: 'CANARY-7f3a-userinfo-password',
  token: 'CANARY-7f3a-registry-token',
} as const;

const scratch = await mkdtemp(join(tmpdir(), 'leak-check-'));
t.teardown(() => rm(scratch, { recursive: true, force: true }));

// ---------------------------------------------------------------------------
// A registry and token server that quote whatever they were sent.

const requests: string[] = [];

/** A registry whose challenge is Basic or Bearer (one scheme per host, as the webhook remembers the last challenge of a host). */
async function echoingRegistry(scheme: 'basic' | 'bearer'): Promise<string> {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    const authorization = req.headers.authorization;
    const url = req.url ?? '';
    requests.push(`${req.method ?? ''} ${url}`);
    const decoded = authorization?.startsWith('Basic ') ? Buffer.from(authorization.slice(6), 'base64').toString('utf8') : '';
    const quote = `sent ${authorization ?? 'nothing'} (${decoded})`;
    const answer = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(req.method === 'HEAD' ? undefined : typeof body === 'string' ? body : JSON.stringify(body));
    };
    if (url.startsWith('/token')) {
      if (url.includes('tokenfail')) return answer(500, { errors: [{ code: 'UNKNOWN', message: `token server: ${quote}` }], details: quote });
      if (authorization === undefined) return answer(200, { token: 'anonymous-token-without-access', expires_in: 300 });
      return answer(200, { token: `${CANARY.token}-${decoded.length}`, expires_in: 300 });
    }
    const repository = /^\/v2\/([^/]+)\//.exec(url)?.[1] ?? '';
    if (authorization === undefined || authorization === 'Bearer anonymous-token-without-access') {
      const challenge = scheme === 'basic' ? 'Basic realm="canary"' : `Bearer realm="http://${host}/token/${repository}",service="canary",scope="repository:${repository}/app:pull"`;
      return answer(401, { errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }, { 'www-authenticate': challenge });
    }
    // A body that is not JSON, the same for the same credentials: its digest holds when fetched by it.
    if (repository === 'garbage') return answer(200, `${decoded || authorization.replace(/^\S+ /, '')} ${quote}`, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' });
    if (repository === 'denied') return answer(403, { errors: [{ code: 'DENIED', message: `no: ${quote}` }] });
    if (repository === 'slow') return answer(429, { errors: [{ code: 'TOOMANYREQUESTS', message: `slow down ${quote}` }] }, { 'retry-after': '30' });
    return answer(scheme === 'basic' ? 404 : 500, { errors: [{ code: 'MANIFEST_UNKNOWN', message: `${'pad '.repeat(Math.min(150, decoded.length * 3))}${quote}` }] });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}
const BASIC_HOST = await echoingRegistry('basic');
const BEARER_HOST = await echoingRegistry('bearer');
const HOSTS = [BASIC_HOST, BEARER_HOST];
const REPOSITORIES = ['plain', 'tokenfail', 'garbage', 'denied', 'slow'];
const IMAGES = HOSTS.flatMap((host) => REPOSITORIES.map((repository) => `${host}/${repository}/app:1`));

// ---------------------------------------------------------------------------
// The cluster: Secrets, pull secrets and a ServiceAccount holding the canaries.

const stub = await startStubApiServer();
t.teardown(() => stub.close());
const API_TOKEN = stub.token;

const dockerConfig = (auths: unknown) => ({ '.dockerconfigjson': JSON.stringify({ auths }) });
const basic = (user: string, password: string) => Buffer.from(`${user}:${password}`).toString('base64');

stub.addNamespace(NS);
stub.addSecret(NS, 'app', { ref: AWS_REF, plain: CANARY.plain, 'looks-like-ref': CANARY.refLike, google: CANARY.gcpLike, huge: CANARY.huge, [`${'k'.repeat(200)}`]: CANARY.plain });
stub.addSecret(NS, 'binary', { bytes: Buffer.concat([Buffer.from(CANARY.notUtf8), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from(AWS_REF)]), ref: AWS_REF });
stub.respondRaw(`/api/v1/namespaces/${NS}/secrets/invalid`, {
  status: 200,
  body: JSON.stringify({ kind: 'Secret', apiVersion: 'v1', metadata: { name: 'invalid', namespace: NS }, data: { ref: Buffer.from(AWS_REF).toString('base64'), broken: CANARY.badBase64 } }),
});
stub.respondRaw(`/api/v1/namespaces/${NS}/secrets/echo`, {
  status: 500,
  body: JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code: 500, reason: 'InternalError', message: `proxy: Authorization: Bearer ${API_TOKEN} was refused` }),
});
const forEachHost = (entry: (host: string) => [string, unknown]) => Object.fromEntries(HOSTS.map(entry));
stub.addSecret(NS, 'regcred', dockerConfig(forEachHost((host) => [host, { auth: basic(CANARY.pullUser, CANARY.pullPassword) }])), 'kubernetes.io/dockerconfigjson');
stub.addSecret(NS, 'regcred-fields', dockerConfig(forEachHost((host) => [`http://${host}/v2/`, { username: CANARY.fieldsUser, password: CANARY.fieldsPassword }])), 'kubernetes.io/dockerconfigjson');
stub.addSecret(NS, 'regcred-malformed', { '.dockerconfigjson': `{"auths": {"${BASIC_HOST}": {"auth": "${CANARY.malformed}"` });
stub.addSecret(NS, 'regcred-bad-auth', dockerConfig(forEachHost((host) => [host, { auth: CANARY.badAuth }])));
stub.addSecret(NS, 'regcred-auths-string', { '.dockerconfigjson': JSON.stringify({ auths: CANARY.auths }) });
stub.addSecret(NS, 'regcred-userinfo', dockerConfig(forEachHost((host) => [`https://someone:${CANARY.userinfo}@${host}`, { auth: basic('someone', CANARY.userinfo) }])));
stub.addSecret(NS, 'regcred-legacy', { '.dockercfg': JSON.stringify(forEachHost((host) => [host, { auth: basic('legacy', CANARY.legacyPassword) }])) });
stub.addSecret(NS, 'regcred-sa', dockerConfig(forEachHost((host) => [host, { auth: basic('sa', CANARY.saPassword) }])));
stub.addSecret(NS, 'regcred-default', dockerConfig(forEachHost((host) => [host, { auth: basic('default', CANARY.defaultPassword) }])));
stub.addServiceAccount(NS, 'default', ['regcred-sa']);

const PULL_SECRETS = ['regcred', 'regcred-fields', 'regcred-malformed', 'regcred-bad-auth', 'regcred-auths-string', 'regcred-userinfo', 'regcred-legacy'].map((name) => ({ name }));

/** What no output may hold: the canaries, their base64 (as a Secret holds them), the Basic values sent, the API token. */
const FORBIDDEN: string[] = [
  'CANARY',
  API_TOKEN,
  ...Object.values(CANARY).map((value) => Buffer.from(value).toString('base64').slice(0, 20)),
  ...[
    [CANARY.pullUser, CANARY.pullPassword],
    [CANARY.fieldsUser, CANARY.fieldsPassword],
    ['sa', CANARY.saPassword],
    ['default', CANARY.defaultPassword],
    ['legacy', CANARY.legacyPassword],
    ['someone', CANARY.userinfo],
  ].map(([user, password]) => basic(user ?? '', password ?? '').slice(0, 20)),
];

function assertNoCanary(t: Test, where: string, text: string): void {
  const found = FORBIDDEN.filter((secret) => text.includes(secret));
  const at = found[0] === undefined ? -1 : text.indexOf(found[0]);
  t.same(found, [], `${where}: nothing secret${at < 0 ? '' : `, but: …${text.slice(Math.max(0, at - 200), at + 80)}…`}`);
}

// ---------------------------------------------------------------------------
// Pods that read them.

const container = (name: string, fields: Record<string, unknown>) => ({ name, image: 'registry.example.com/app:1', command: ['/app'], ...fields });

function pods(): Array<{ name: string; pod: Pod }> {
  const out: Array<{ name: string; pod: Pod }> = [];
  const add = (name: string, spec: Record<string, unknown>, annotations?: Record<string, string>) =>
    out.push({ name, pod: { metadata: { name, namespace: NS, ...(annotations ? { annotations } : {}) }, spec } as Pod });
  add('env-from-secret', { containers: [container('app', { envFrom: [{ secretRef: { name: 'app' } }] })] });
  add('keys', {
    containers: [
      container('app', {
        env: [
          { name: 'REF', valueFrom: { secretKeyRef: { name: 'app', key: 'ref' } } },
          { name: 'PLAIN', valueFrom: { secretKeyRef: { name: 'app', key: 'plain' } } },
          { name: 'LOOKS', valueFrom: { secretKeyRef: { name: 'app', key: 'looks-like-ref' } } },
          { name: 'URL', value: 'postgres://u:$(PLAIN)@db/$(LOOKS)' },
          { name: 'MISSING', valueFrom: { secretKeyRef: { name: 'app', key: 'missing', optional: true } } },
        ],
        livenessProbe: { exec: { command: ['sh', '-c', 'check $LOOKS $(PLAIN) ${REF}'] } },
        args: ['$(LOOKS)', '$(PLAIN)'],
      }),
    ],
  });
  add('other-provider', { containers: [container('app', { envFrom: [{ secretRef: { name: 'app' } }] })] }, { 'secrets-init/provider': 'google' });
  add('mixed', { containers: [container('app', { env: [{ name: 'A', valueFrom: { secretKeyRef: { name: 'app', key: 'looks-like-ref' } } }, { name: 'G', valueFrom: { secretKeyRef: { name: 'app', key: 'google' } } }] })] });
  add('binary', { containers: [container('app', { envFrom: [{ secretRef: { name: 'binary' } }] })] });
  add('invalid-base64', { containers: [container('app', { envFrom: [{ secretRef: { name: 'invalid' } }] })] });
  add('echoed-token', { containers: [container('app', { envFrom: [{ secretRef: { name: 'echo' } }] })] });
  add('windows', { os: { name: 'windows' }, containers: [container('app', { envFrom: [{ secretRef: { name: 'app' } }] })] });
  add('missing-required', { containers: [container('app', { env: [{ name: 'X', valueFrom: { secretKeyRef: { name: 'app', key: 'absent' } } }, { name: 'R', value: AWS_REF }] })] });
  for (const image of IMAGES) {
    add(`image-${image.replace(/[^a-z]+/g, '-')}`, {
      imagePullSecrets: PULL_SECRETS,
      containers: [{ name: 'app', image, env: [{ name: 'P', valueFrom: { secretKeyRef: { name: 'app', key: 'looks-like-ref' } } }] }],
    });
  }
  for (const host of HOSTS) add(`image-sa-only-${host.replace(/\D+/g, '-')}`, { containers: [{ name: 'app', image: `${host}/plain/app:2`, env: [{ name: 'P', value: AWS_REF }] }] });
  return out;
}

function reviewOf(pod: Pod, uid: string): unknown {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid,
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      operation: 'CREATE',
      namespace: NS,
      name: pod.metadata?.name,
      object: pod,
      userInfo: { username: 'someone' },
    },
  };
}

// ---------------------------------------------------------------------------

t.test('the server: answers, logs and /metrics at --log-level=debug', async (t) => {
  const hook = await startWebhook(
    [
      '--log-level=debug',
      'server',
      `--insecure-registries=${HOSTS.join(',')}`,
      '--registry-timeout=2s',
      '--default-image-pull-secret=regcred-default',
      `--default-image-pull-secret-namespace=${NS}`,
      '--object-cache-ttl=1m',
    ],
    { KUBECONFIG: stub.kubeconfigPath },
    { t, readyTimeoutMs: 60_000 },
  );
  const answers: string[] = [];
  let n = 0;
  for (const round of [1, 2]) {
    for (const { name, pod } of pods()) {
      const result = await postReview(hook.url, reviewOf(pod, `uid-${round}-${n++}`), { timeoutMs: 20_000 });
      t.equal(result.status, 200, `${name}: an answer`);
      const answer = parseAnswer(result);
      const patch = answer.response.patch === undefined ? '' : Buffer.from(answer.response.patch, 'base64').toString('utf8');
      answers.push(`${name}: ${result.text}\n${patch}`);
      assertNoCanary(t, `the answer for ${name} (round ${round})`, `${result.text}\n${patch}`);
    }
  }
  const all = answers.join('\n');
  t.match(all, /secret-references/, 'some pods were injected');
  t.match(all, /cannot read image/, 'some image lookups failed');
  t.match(all, /not valid base64/, 'the invalid Secret was refused');
  t.match(all, /regcred-malformed/, 'the malformed pull secret was named');
  t.ok(requests.some((request) => request.startsWith('GET /token')), `the token server was asked: ${requests.join(', ')}`);
  const metrics = await send(`${hook.url}/metrics`);
  t.equal(metrics.status, 200);
  assertNoCanary(t, '/metrics', metrics.text);
  await hook.stop();
  assertNoCanary(t, 'the logs', hook.logs());
  t.match(hook.stdout(), /admission denied/);
});

t.test('the server bootstrapping its certificate: no key material in its logs', async (t) => {
  const boot = await startStubApiServer();
  t.teardown(() => boot.close());
  boot.addMutatingWebhookConfiguration('secrets-init-webhook', [
    { name: 'secrets-init.doit-intl.com', sideEffects: 'None', admissionReviewVersions: ['v1'], clientConfig: { service: { name: 'secrets-init-webhook', namespace: 'secrets-init', path: '/pods' } } },
  ]);
  const args = ['--log-level=debug', 'server', '--self-bootstrap', '--bootstrap-namespace=secrets-init'];
  const first = await startWebhook(args, { KUBECONFIG: boot.kubeconfigPath }, { t, readyTimeoutMs: 60_000 });
  // A second replica reads the Secret the first wrote.
  const second = await startWebhook(args, { KUBECONFIG: boot.kubeconfigPath }, { t, readyTimeoutMs: 60_000 });
  await Promise.all([first.stop(), second.stop()]);
  const secret = boot.getObject('Secret', 'secrets-init', 'secrets-init-webhook-tls') as { data?: Record<string, string> } | undefined;
  const keys = ['tls.key', 'ca.key'].map((key) => secret?.data?.[key]).filter((value): value is string => value !== undefined);
  t.ok(keys.length > 0, 'the Secret holds the keys');
  const logs = first.logs() + second.logs();
  t.notMatch(logs, /PRIVATE KEY/);
  for (const encoded of keys) {
    const body = Buffer.from(encoded, 'base64').toString('utf8').replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
    t.notOk(logs.includes(body.slice(0, 24)) || logs.includes(encoded.slice(0, 24)), 'no piece of a key, as PEM or as the Secret holds it');
  }
  assertNoCanary(t, 'the bootstrap logs', logs.replaceAll(boot.token, ''));
  t.notOk(logs.includes(boot.token), 'nor the API token');
});

// ---------------------------------------------------------------------------
// The offline commands.

const SECRET_YAML = `apiVersion: v1
kind: Secret
metadata:
  name: app
  namespace: ${NS}
data:
  ref: ${Buffer.from(AWS_REF).toString('base64')}
  plain: ${Buffer.from(CANARY.plain).toString('base64')}
  broken: ${CANARY.badBase64}
  bytes: ${Buffer.concat([Buffer.from(CANARY.notUtf8), Buffer.from([0xff])]).toString('base64')}
stringData:
  looks-like-ref: ${CANARY.refLike}
  text: ${CANARY.stringData}
  google: ${CANARY.gcpLike}
---
apiVersion: v1
kind: Secret
metadata:
  name: regcred
  namespace: ${NS}
type: kubernetes.io/dockerconfigjson
stringData:
  .dockerconfigjson: '${JSON.stringify({ auths: forEachHost((host) => [host, { auth: basic(CANARY.pullUser, CANARY.pullPassword) }]) })}'
---
apiVersion: v1
kind: Secret
metadata:
  name: regcred-malformed
  namespace: ${NS}
stringData:
  .dockerconfigjson: '{"auths": {"${BASIC_HOST}": {"auth": "${CANARY.malformed}"'
`;

function deploymentYaml(name: string, containerYaml: string, extra = ''): string {
  return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
  namespace: ${NS}
spec:
  selector: {matchLabels: {app: ${name}}}
  template:
    metadata:
      labels: {app: ${name}}
    spec:
${extra}      containers:
${containerYaml}`;
}

const INJECTABLE = deploymentYaml(
  'api',
  `      - name: api
        image: registry.example.com/api:1
        command: [/app]
        args: ["$(PLAIN)"]
        envFrom: [{secretRef: {name: app}}]
        env:
        - {name: URL, value: "postgres://u:$(PLAIN)@db"}
        livenessProbe: {exec: {command: [sh, -c, "check $TEXT"]}}
`,
);
const DENIED = deploymentYaml('mixed', `      - name: m\n        image: registry.example.com/m:1\n        command: [/m]\n        env:\n        - {name: A, valueFrom: {secretKeyRef: {name: app, key: looks-like-ref}}}\n        - {name: G, valueFrom: {secretKeyRef: {name: app, key: google}}}\n`);
const IMAGE_WORKLOADS = IMAGES.map((image, i) =>
  deploymentYaml(`image-${i}`, `      - name: app\n        image: ${image}\n        env: [{name: P, valueFrom: {secretKeyRef: {name: app, key: looks-like-ref}}}]\n`, '      imagePullSecrets: [{name: regcred}, {name: regcred-malformed}]\n'),
);

async function file(name: string, text: string): Promise<string> {
  const path = join(scratch, name);
  await writeFile(path, text);
  return path;
}

t.test('inject: stderr, --check, --explain and the refusals', async (t) => {
  const secrets = await file('secrets.yaml', SECRET_YAML);
  const injectable = await file('injectable.yaml', INJECTABLE);
  const denied = await file('denied.yaml', DENIED);
  const images = await file('images.yaml', IMAGE_WORKLOADS.join('---\n'));
  const broken = await file('broken.yaml', `${SECRET_YAML}---\napiVersion: v1\nkind: Secret\nmetadata: {name: x}\nstringData:\n  password: *${CANARY.plain}\n`);
  const common = ['--log-level=debug', 'inject', `--insecure-registries=${HOSTS.join(',')}`, '--registry-timeout=2s'];
  const runs: Array<[string, string[], Record<string, string>]> = [
    ['explain', [...common, '-f', secrets, '-f', injectable, '--explain'], {}],
    ['check', [...common, '-f', secrets, '-f', injectable, '--check'], {}],
    ['json', [...common, '-f', secrets, '-f', injectable, '-o', 'json', '--explain'], {}],
    ['denied', [...common, '-f', secrets, '-f', denied, '--explain'], {}],
    ['images', [...common, '-f', secrets, '-f', images, '--explain'], {}],
    ['broken', [...common, '-f', broken], {}],
    ['from the cluster', [...common, '-f', injectable, '-f', denied, '-f', images, '--explain'], { KUBECONFIG: stub.kubeconfigPath }],
    ['unresolved', [...common, '-f', injectable], {}],
  ];
  for (const [what, args, env] of runs) {
    const result = await runCli(args, env, { t, timeoutMs: 60_000 });
    assertNoCanary(t, `inject (${what}): stderr`, result.stderr);
    // A success writes the input back, Secrets and all: only other outcomes' stdout is checked.
    if (result.code !== 0 || args.includes('--check')) assertNoCanary(t, `inject (${what}): stdout`, result.stdout);
    if (what === 'images') t.match(result.stderr, /cannot read image/, 'the image lookups failed');
    if (what === 'broken') t.equal(result.code, 2, 'the broken input was refused');
  }
  // The kubectl plugin is the same command.
  const plugin = await new Promise<{ code: number | null; out: string }>((resolve) => {
    const child = spawn(process.execPath, [join(REPO_ROOT, 'dist', 'kubectl-plugin.js'), 'inject', '-f', secrets, '-f', denied, '-f', images, '--explain', `--insecure-registries=${HOSTS.join(',')}`], {
      env: { PATH: process.env['PATH'] ?? '', HOME: scratch },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
    child.on('exit', (code) => resolve({ code, out }));
  });
  t.equal(plugin.code, 1, 'the plugin refused the denied workloads');
  assertNoCanary(t, 'the kubectl plugin', plugin.out);
});

t.test('audit: pods reading the canary Secrets', async (t) => {
  const readable = new Set(['env-from-secret', 'keys', 'other-provider', 'mixed', 'binary', 'missing-required']);
  for (const { name, pod } of pods()) if (readable.has(name)) stub.addPod(NS, { ...pod, status: { phase: 'Running' } });
  for (const output of ['table', 'json']) {
    const result = await runCli(['--log-level=debug', 'audit', '-A', '-o', output], { KUBECONFIG: stub.kubeconfigPath }, { t, timeoutMs: 60_000 });
    t.equal(result.code, 1, `audit -o ${output} found the pods: ${result.stdout} ${result.stderr}`);
    assertNoCanary(t, `audit -o ${output}`, result.stdout + result.stderr);
  }
  // A pod reading the Secret whose read the API server answers quoting the token.
  const echoed = pods().find(({ name }) => name === 'echoed-token');
  if (echoed !== undefined) stub.addPod(NS, { ...echoed.pod, status: { phase: 'Running' } });
  const refused = await runCli(['--log-level=debug', 'audit', '-n', NS], { KUBECONFIG: stub.kubeconfigPath }, { t, timeoutMs: 60_000 });
  t.not(refused.code, 0, 'audit reports the failed read');
  t.match(refused.stdout + refused.stderr, /cannot read Secret leak\/echo: API server error \(HTTP 500\): proxy: Authorization: \[redacted\] was refused/);
  assertNoCanary(t, 'audit with the echoing read', refused.stdout + refused.stderr);
});

t.test('certs: the private key goes to its file only', async (t) => {
  const out = join(scratch, 'certs');
  const result = await runCli(['--log-level=debug', 'certs', '--out', out], {}, { t });
  t.equal(result.code, 0, result.stderr);
  for (const name of ['key.pem', 'ca-key.pem']) {
    const key = await readFile(join(out, name), 'utf8').catch(() => '');
    if (key === '') continue;
    const body = key.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
    t.notOk((result.stdout + result.stderr).includes(body.slice(0, 40)), `no piece of ${name} is written out`);
  }
  t.notMatch(result.stdout + result.stderr, /PRIVATE KEY/);
});

