/**
 * The built server reading Secrets and ConfigMaps from a (stub) kube-apiserver through
 * KUBECONFIG: references held in objects, coalesced lookups, missing/optional/forbidden
 * objects, slow and unreachable API servers, no API access at all, and Secret values
 * never leaking into answers or logs.
 */
import { writeFile, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { makeTestCertificates } from '../helpers/certs.js';
import { startStubApiServer } from '../helpers/stub-apiserver.js';
import type { StubApiServer } from '../helpers/stub-apiserver.js';
import { startWebhook } from '../helpers/webhook-process.js';
import type { RunningWebhook } from '../helpers/webhook-process.js';
import { containerNamed, parseAnswer, patchedPod, postReview, reviewOf } from './fixtures/support.js';
import type { Container, HttpResult, Pod, ReviewAnswer } from './fixtures/support.js';

const NS = 'team-a';
const AWS_REF = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:db-password-AbCdEf';
const GCP_REF = 'gcp:secretmanager:projects/shop-prod/secrets/bq-key/versions/latest';
/** A Secret value that is not a reference: it must never leave the API server's answer. */
const SECRET_VALUE = 's3cr3t-VALUE-123';
const SECRET_VALUE_B64 = Buffer.from(SECRET_VALUE).toString('base64');
/** A reference stored in a Secret: also a Secret value, so also never echoed (audit data names keys, not values). */
const SECRET_HELD_REF = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:held-in-a-secret-XyZ';
const WRAPPER = ['/helper/bin/secrets-init'];

const certs = await makeTestCertificates('ec-pkcs8');
t.teardown(certs.cleanup);
const tls = { ca: certs.caPem };

function serverArgs(...extra: string[]): string[] {
  return ['--log-level=debug', 'server', `--tls-cert-file=${certs.certFile}`, `--tls-private-key-file=${certs.keyFile}`, ...extra];
}

function podOf(name: string, containers: Container[]): Pod {
  return { metadata: { name, namespace: NS }, spec: { containers } };
}

function secretKey(variable: string, name: string, key: string, optional?: boolean): Record<string, unknown> {
  return { name: variable, valueFrom: { secretKeyRef: { name, key, ...(optional === undefined ? {} : { optional }) } } };
}

function configMapKey(variable: string, name: string, key: string): Record<string, unknown> {
  return { name: variable, valueFrom: { configMapKeyRef: { name, key } } };
}

/** GETs the stub received after `from` (an index into stub.requests), as `METHOD path` strings. */
function requestsSince(stub: StubApiServer, from: number): string[] {
  return stub.requests.slice(from).map((r) => `${r.method} ${r.path.split('?')[0] ?? ''}`);
}

async function decide(hook: RunningWebhook, pod: Pod): Promise<{ result: HttpResult; answer: ReviewAnswer; elapsedMs: number }> {
  const started = Date.now();
  const result = await postReview(hook.url, reviewOf(pod, NS), tls);
  return { result, answer: parseAnswer(result), elapsedMs: Date.now() - started };
}

/** A kubeconfig for an API server on a loopback port where nothing listens. */
async function kubeconfigForClosedPort(): Promise<string> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  const dir = await mkdtemp(join(tmpdir(), 'closed-apiserver-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'kubeconfig');
  const kubeconfig = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'gone', cluster: { server: `http://127.0.0.1:${port}`, 'insecure-skip-tls-verify': true } }],
    users: [{ name: 'gone-user', user: { token: 'not-used' } }],
    contexts: [{ name: 'gone', context: { cluster: 'gone', user: 'gone-user' } }],
    'current-context': 'gone',
  };
  await writeFile(path, JSON.stringify(kubeconfig), { mode: 0o600 });
  return path;
}

t.test('with a reachable API server', async (t) => {
  const stub = await startStubApiServer();
  t.teardown(() => stub.close());
  stub.addSecret(NS, 'db-creds', { DB_PASSWORD: SECRET_HELD_REF, DB_USER_PASSWORD: SECRET_VALUE });
  stub.addConfigMap(NS, 'gcp-refs', { BQ_KEY: GCP_REF, MODE: 'production' });
  stub.addSecret(NS, 'locked', { TOKEN: AWS_REF });
  stub.forbid('Secret', NS, 'locked');

  const hook = await startWebhook(serverArgs(), { KUBECONFIG: stub.kubeconfigPath }, { t });
  const bodies: string[] = [];

  await t.test('references held in a Secret and a ConfigMap wrap each container with its provider', async (t) => {
    const from = stub.requests.length;
    const pod = podOf('mixed', [
      {
        name: 'api',
        image: 'registry.example.com/api:1',
        command: ['/app/api'],
        args: ['--port=8080'],
        env: [secretKey('DB_PASSWORD', 'db-creds', 'DB_PASSWORD'), secretKey('DB_USER_PASSWORD', 'db-creds', 'DB_USER_PASSWORD')],
      },
      {
        name: 'reporter',
        image: 'registry.example.com/reporter:1',
        command: ['/reporter'],
        env: [configMapKey('BQ_KEY', 'gcp-refs', 'BQ_KEY'), secretKey('USER_PASSWORD', 'db-creds', 'DB_USER_PASSWORD')],
      },
      {
        name: 'exporter',
        image: 'registry.example.com/exporter:1',
        command: ['/exporter'],
        envFrom: [{ configMapRef: { name: 'gcp-refs' } }],
      },
      { name: 'sidecar', image: 'registry.example.com/sidecar:1', command: ['/sidecar'], env: [{ name: 'MODE', value: 'plain' }] },
    ]);
    const { result, answer } = await decide(hook, pod);
    bodies.push(result.text);
    t.equal(result.status, 200);
    t.equal(answer.response.allowed, true, JSON.stringify(answer.response.status));
    const patched = patchedPod(pod, answer);
    t.same(containerNamed(patched, 'api')?.command, WRAPPER);
    t.same(containerNamed(patched, 'api')?.args, ['--provider=aws', '/app/api', '--port=8080'], 'Secret-held ARN: aws');
    t.same(containerNamed(patched, 'reporter')?.command, WRAPPER);
    t.same(containerNamed(patched, 'reporter')?.args, ['--provider=google', '/reporter'], 'ConfigMap-held gcp reference (configMapKeyRef): google');
    t.same(containerNamed(patched, 'exporter')?.command, WRAPPER);
    t.same(containerNamed(patched, 'exporter')?.args, ['--provider=google', '/exporter'], 'envFrom ConfigMap with a gcp reference: google');
    t.strictSame(containerNamed(patched, 'sidecar'), pod.spec.containers[3], 'the container without references is untouched');
    t.equal(patched.spec.initContainers?.[0]?.name, 'copy-secrets-init');
    t.same(
      requestsSince(stub, from).sort(),
      [`GET /api/v1/namespaces/${NS}/configmaps/gcp-refs`, `GET /api/v1/namespaces/${NS}/secrets/db-creds`],
      'one GET per distinct object, although three references name db-creds and two gcp-refs',
    );
  });

  await t.test('a required Secret that does not exist denies the pod, naming it', async (t) => {
    const pod = podOf('needs-missing', [
      { name: 'app', image: 'registry.example.com/app:1', command: ['/app'], env: [secretKey('X', 'does-not-exist', 'X')] },
    ]);
    const { result, answer } = await decide(hook, pod);
    bodies.push(result.text);
    t.equal(result.status, 200, 'a denial is an answer, not an HTTP error');
    t.equal(answer.response.allowed, false);
    t.equal(answer.response.patch, undefined, 'no patch on a denial');
    t.match(answer.response.status?.message, `Secret ${NS}/does-not-exist`);
    t.match(answer.response.status?.message, /does not exist/);
    t.equal(answer.response.status?.code, 403);
  });

  await t.test('a missing key in an existing Secret denies the pod, naming key and Secret', async (t) => {
    const pod = podOf('missing-key', [
      { name: 'app', image: 'registry.example.com/app:1', command: ['/app'], env: [secretKey('X', 'db-creds', 'NO_SUCH_KEY')] },
    ]);
    const { result, answer } = await decide(hook, pod);
    bodies.push(result.text);
    t.equal(result.status, 200);
    t.equal(answer.response.allowed, false);
    t.match(answer.response.status?.message, `Secret ${NS}/db-creds`);
    t.match(answer.response.status?.message, /NO_SUCH_KEY/);
  });

  await t.test('optional objects that do not exist admit the pod, with warnings', async (t) => {
    const pod = podOf('optional-missing', [
      {
        name: 'app',
        image: 'registry.example.com/app:1',
        command: ['/app'],
        env: [{ name: 'DIRECT', value: AWS_REF }, secretKey('MAYBE', 'maybe-secret', 'K', true)],
        envFrom: [{ configMapRef: { name: 'maybe-config', optional: true } }],
      },
    ]);
    const { result, answer } = await decide(hook, pod);
    bodies.push(result.text);
    t.equal(result.status, 200);
    t.equal(answer.response.allowed, true, JSON.stringify(answer.response.status));
    const warnings = answer.response.warnings ?? [];
    t.ok(warnings.some((w) => w.includes(`Secret ${NS}/maybe-secret`)), `a warning names the optional Secret: ${JSON.stringify(warnings)}`);
    t.ok(warnings.some((w) => w.includes(`ConfigMap ${NS}/maybe-config`)), 'a warning names the optional ConfigMap');
    t.same(containerNamed(patchedPod(pod, answer), 'app')?.args, ['--provider=aws', '/app'], 'still wrapped for its direct reference');
  });

  await t.test('a Secret the webhook may not read (403) denies the pod, naming it and "forbidden"', async (t) => {
    const pod = podOf('forbidden', [
      { name: 'app', image: 'registry.example.com/app:1', command: ['/app'], env: [secretKey('TOKEN', 'locked', 'TOKEN')] },
    ]);
    const { result, answer } = await decide(hook, pod);
    bodies.push(result.text);
    t.equal(result.status, 200);
    t.equal(answer.response.allowed, false);
    t.match(answer.response.status?.message, `Secret ${NS}/locked`);
    t.match(answer.response.status?.message, /forbidden/);
  });

  await t.test('keys such as __proto__ and constructor are ordinary keys of Secrets and ConfigMaps', async (t) => {
    // Built by fromEntries: in a literal, `__proto__` would set the prototype instead of a key.
    stub.addConfigMap(NS, 'odd-keys', Object.fromEntries([['__proto__', AWS_REF], ['MODE', 'plain']]));
    stub.addSecret(NS, 'odd-secret', Object.fromEntries([['constructor', GCP_REF]]));
    const pod = podOf('odd', [
      { name: 'from-map', image: 'registry.example.com/a:1', command: ['/a'], envFrom: [{ configMapRef: { name: 'odd-keys' } }] },
      { name: 'from-secret', image: 'registry.example.com/b:1', command: ['/b'], env: [secretKey('KEY', 'odd-secret', 'constructor')] },
    ]);
    const { result, answer } = await decide(hook, pod);
    bodies.push(result.text);
    t.equal(answer.response.allowed, true, JSON.stringify(answer.response.status));
    const patched = patchedPod(pod, answer);
    t.same(containerNamed(patched, 'from-map')?.args, ['--provider=aws', '/a'], 'the ConfigMap key __proto__ holds a reference: wrapped');
    t.same(containerNamed(patched, 'from-secret')?.args, ['--provider=google', '/b'], 'the Secret key constructor holds a reference: wrapped');
  });

  await t.test('Secret values appear in no answer and no log line, even at debug level', async (t) => {
    // A skipped review is logged too (at info, as every admission); the debug level is on
    // (the TLS watcher's start line is at debug).
    const skip = reviewOf(podOf('skip', [{ name: 'c', image: 'x:1', command: ['/c'] }]), NS);
    skip.request['operation'] = 'DELETE';
    bodies.push((await postReview(hook.url, skip, tls)).text);
    for (let i = 0; i < 50 && !hook.logs().includes('admission skipped'); i++) await new Promise((r) => setTimeout(r, 50));
    const logs = hook.logs();
    t.ok(hook.jsonLogs().some((r) => r['level'] === 20), 'debug lines are logged');
    t.ok(hook.jsonLogs().filter((r) => r['msg'] === 'admission decided').length >= 2, 'admissions are logged');
    t.ok(bodies.length >= 5, 'answers were collected');
    for (const [what, text] of [['logs', logs], ...bodies.map((b, i) => [`answer #${i + 1}`, b] as const)] as const) {
      t.notOk(text.includes(SECRET_VALUE), `${what}: no Secret value`);
      t.notOk(text.includes(SECRET_VALUE_B64), `${what}: no base64 Secret value`);
      t.notOk(text.includes(SECRET_HELD_REF), `${what}: no reference read from a Secret`);
    }
    const decodedPatches = bodies
      .map((b) => (JSON.parse(b) as ReviewAnswer).response.patch)
      .filter((p): p is string => p !== undefined)
      .map((p) => Buffer.from(p, 'base64').toString('utf8'));
    t.ok(decodedPatches.length >= 2, 'patches were decoded');
    t.notOk(decodedPatches.some((p) => p.includes(SECRET_VALUE) || p.includes(SECRET_HELD_REF)), 'no Secret value inside a patch');
  });

  t.same(await hook.stop(), { code: 0, signal: null });
});

t.test('a slow API server: the lookup times out and the pod is denied quickly', async (t) => {
  const stub = await startStubApiServer();
  t.teardown(() => stub.close());
  stub.addSecret(NS, 'slow', { K: AWS_REF });
  const hook = await startWebhook(serverArgs('--lookup-timeout=300ms'), { KUBECONFIG: stub.kubeconfigPath }, { t });
  stub.delayMs = 5_000;
  const pod = podOf('slow', [{ name: 'app', image: 'registry.example.com/app:1', command: ['/app'], env: [secretKey('K', 'slow', 'K')] }]);
  const { result, answer, elapsedMs } = await decide(hook, pod);
  t.equal(result.status, 200);
  t.equal(answer.response.allowed, false);
  t.match(answer.response.status?.message, `Secret ${NS}/slow`);
  t.match(answer.response.status?.message, /time(d)? ?out/i);
  t.ok(elapsedMs < 3_000, `answered in ${elapsedMs} ms (< 3 s, the stub waits 5 s)`);
  t.equal(stub.requests.length, 1, 'the stub saw the lookup');
  t.same(await hook.stop(), { code: 0, signal: null });
});

t.test('an unreachable API server denies pods that need a lookup', async (t) => {
  const kubeconfig = await kubeconfigForClosedPort();
  const hook = await startWebhook(serverArgs(), { KUBECONFIG: kubeconfig }, { t });
  const pod = podOf('unreachable', [
    { name: 'app', image: 'registry.example.com/app:1', command: ['/app'], env: [secretKey('K', 'db-creds', 'K')] },
  ]);
  const { result, answer, elapsedMs } = await decide(hook, pod);
  t.equal(result.status, 200);
  t.equal(answer.response.allowed, false);
  t.match(answer.response.status?.message, `Secret ${NS}/db-creds`);
  t.match(answer.response.status?.message, /unreachable/);
  t.ok(elapsedMs < 5_000, `answered in ${elapsedMs} ms`);
  t.same(await hook.stop(), { code: 0, signal: null });
});

t.test('no Kubernetes API access at all (no KUBECONFIG, empty HOME)', async (t) => {
  const hook = await startWebhook(serverArgs(), {}, { t });
  t.ok(
    hook.jsonLogs().some((r) => r['level'] === 40 && /no Kubernetes API access configured/.test(String(r['msg']))),
    'warns at startup',
  );

  const direct = podOf('direct', [
    { name: 'app', image: 'registry.example.com/app:1', command: ['/app'], env: [{ name: 'P', value: AWS_REF }] },
  ]);
  const injected = await decide(hook, direct);
  t.equal(injected.answer.response.allowed, true);
  t.same(containerNamed(patchedPod(direct, injected.answer), 'app')?.command, WRAPPER, 'direct env references are still injected');

  const fromSecret = podOf('from-secret', [
    { name: 'app', image: 'registry.example.com/app:1', command: ['/app'], env: [secretKey('K', 'db-creds', 'K')] },
  ]);
  const denied = await decide(hook, fromSecret);
  t.equal(denied.result.status, 200);
  t.equal(denied.answer.response.allowed, false);
  t.match(denied.answer.response.status?.message, `Secret ${NS}/db-creds`);
  t.match(denied.answer.response.status?.message, /no Kubernetes API access (is )?configured/);
  t.same(await hook.stop(), { code: 0, signal: null });
});
