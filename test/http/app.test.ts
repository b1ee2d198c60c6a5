import t from 'tap';
import type { Test } from 'tap';
import { pino } from 'pino';
import { PassThrough, Writable } from 'node:stream';
import { STATUS_CODES } from 'node:http';
import { buildApp, buildTelemetryApp } from '../../src/http/app.js';
import { readinessFlag } from '../../src/http/health-routes.js';
import { createMetrics } from '../../src/telemetry/metrics.js';
import { staticImageConfigs } from '../../src/images/image-config-source.js';
import { SETTINGS } from '../helpers/pods.js';
import { LookupError, unconfiguredReader } from '../../src/kubernetes/object-reader.js';
import type { KubeObjectReader } from '../../src/kubernetes/object-reader.js';

const ARN = 'arn:aws:ssm:us-east-1:111122223333:parameter/app/token';

async function makeApp(t: Test, overrides: { maxRequestBytes?: number; serveMetrics?: boolean; objects?: KubeObjectReader; admissionTimeoutMs?: number } = {}) {
  const lines: string[] = [];
  const logger = pino({ level: 'debug' }, new Writable({ write(chunk, _enc, done) { lines.push(String(chunk)); done(); } }));
  const metrics = createMetrics({ processMetrics: false });
  const readiness = readinessFlag();
  const app = await buildApp({
    logger,
    admission: {
      settings: SETTINGS,
      maxConcurrentReads: 8,
      admissionTimeoutMs: overrides.admissionTimeoutMs ?? 8_000,
      objects: overrides.objects ?? unconfiguredReader(),
      images: staticImageConfigs({}),
    },
    metrics,
    readiness,
    maxRequestBytes: overrides.maxRequestBytes ?? 5 * 1024 * 1024,
    serveMetrics: overrides.serveMetrics ?? true,
  });
  t.teardown(() => app.close());
  return { app, readiness, lines };
}

function review(apiVersion: string, pod: unknown, extra: Record<string, unknown> = {}) {
  return { apiVersion, kind: 'AdmissionReview', request: { uid: 'u-42', kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE', namespace: 'ns', object: pod, ...extra } };
}
const pod = { metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'i:1', command: ['/bin/app'], env: [{ name: 'TOKEN', value: ARN }] }] } };

t.test('answers v1 and v1beta1 reviews in their own apiVersion and echoes the uid', async (t) => {
  const { app } = await makeApp(t);
  for (const apiVersion of ['admission.k8s.io/v1', 'admission.k8s.io/v1beta1']) {
    const res = await app.inject({ method: 'POST', url: '/pods', payload: review(apiVersion, pod) });
    t.equal(res.statusCode, 200);
    const body = res.json();
    t.equal(body.apiVersion, apiVersion);
    t.equal(body.kind, 'AdmissionReview');
    t.equal(body.response.uid, 'u-42');
    t.equal(body.response.allowed, true);
    t.equal(body.response.patchType, 'JSONPatch');
    const ops = JSON.parse(Buffer.from(body.response.patch, 'base64').toString());
    t.same(ops.find((o: { path: string }) => o.path === '/spec/containers/0/args').value, ['--provider=aws', '/bin/app']);
  }
});

t.test('the pod may name its own namespace when it is the request\'s, or leave it out', async (t) => {
  const { app } = await makeApp(t);
  for (const metadata of [{ name: 'p', namespace: 'ns' }, { name: 'p' }, { name: 'p', namespace: '' }]) {
    const res = await app.inject({ method: 'POST', url: '/pods', payload: review('admission.k8s.io/v1', { ...pod, metadata }) });
    t.equal(res.statusCode, 200, JSON.stringify(metadata));
    t.equal(res.json().response.allowed, true);
  }
});

t.test('a denial is HTTP 200 with allowed:false and the reason', async (t) => {
  const { app } = await makeApp(t);
  const withRef = { metadata: { name: 'p' }, spec: { containers: [{ name: 'c', command: ['/a'], env: [{ name: 'X', valueFrom: { secretKeyRef: { name: 'db', key: 'k' } } }] }] } };
  const res = await app.inject({ method: 'POST', url: '/pods', payload: review('admission.k8s.io/v1', withRef) });
  t.equal(res.statusCode, 200);
  const { response } = res.json();
  t.equal(response.allowed, false);
  t.match(response.status.message, 'pod ns/p: cannot read Secret ns/db: no Kubernetes API access configured');
});

t.test("the API server's timeout query parameter bounds the admission: the denial arrives before it gives up", async (t) => {
  // A Secret read that never ends (until the admission's deadline aborts it).
  const hanging: KubeObjectReader = {
    read: (ref, options) => new Promise((_resolve, reject) => options?.signal?.addEventListener('abort', () => reject(new LookupError(ref, 'timeout', 'abandoned')))),
    readServiceAccount: async () => ({ found: false }),
  };
  const withRef = { metadata: { name: 'p' }, spec: { containers: [{ name: 'c', command: ['/a'], env: [{ name: 'X', valueFrom: { secretKeyRef: { name: 'db', key: 'k' } } }] }] } };
  const { app } = await makeApp(t, { objects: hanging, admissionTimeoutMs: 8_000 });
  // As the API server calls a webhook whose timeoutSeconds is 2 (or whose request has 2 s left).
  let started = Date.now();
  let res = await app.inject({ method: 'POST', url: '/pods?timeout=2s', payload: review('admission.k8s.io/v1', withRef) });
  let elapsed = Date.now() - started;
  t.ok(elapsed < 2_000, `answered within the caller's 2 s (after ${elapsed} ms), not after --admission-timeout (8 s)`);
  t.ok(elapsed >= 1_000, `but not much before it (after ${elapsed} ms)`);
  let { response } = res.json();
  t.equal(response.allowed, false);
  t.equal(response.status.code, 500);
  t.match(response.status.message, /^pod ns\/p: no answer within 1600ms \(the API server's timeout=2s\); still waiting for Secret ns\/db$/);

  // A timeout longer than --admission-timeout does not extend it.
  const { app: quick } = await makeApp(t, { objects: hanging, admissionTimeoutMs: 200 });
  started = Date.now();
  res = await quick.inject({ method: 'POST', url: '/pods?timeout=30s', payload: review('admission.k8s.io/v1', withRef) });
  elapsed = Date.now() - started;
  t.ok(elapsed < 1_500, `--admission-timeout still applies (after ${elapsed} ms)`);
  ({ response } = res.json());
  t.match(response.status.message, 'no answer within 200ms (--admission-timeout)');
  // Nor does a timeout that is not a duration: it is ignored.
  res = await quick.inject({ method: 'POST', url: '/pods?timeout=soon', payload: review('admission.k8s.io/v1', withRef) });
  t.match(res.json().response.status.message, 'no answer within 200ms (--admission-timeout)');
  // Nor one that is not positive.
  for (const timeout of ['0s', '-5s']) {
    res = await quick.inject({ method: 'POST', url: `/pods?timeout=${timeout}`, payload: review('admission.k8s.io/v1', withRef) });
    t.match(res.json().response.status.message, 'no answer within 200ms (--admission-timeout)', `timeout=${timeout}`);
  }
});

t.test('bad requests get a 4xx with a message that says what is wrong', async (t) => {
  const { app, lines } = await makeApp(t, { maxRequestBytes: 1024 });
  const cases: Array<[string, { payload: string; contentType?: string }, number, RegExp]> = [
    ['not JSON', { payload: '{"apiVersion": ' }, 400, /JSON/i],
    ['not application/json', { payload: 'hello', contentType: 'text/plain' }, 415, /unsupported content-type "text\/plain": send the AdmissionReview as application\/json/],
    ['empty body', { payload: '' }, 400, /empty/i],
    ['no request', { payload: JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }) }, 400, /invalid AdmissionReview: body must have required property 'request'/],
    ['no uid', { payload: JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: {} }) }, 400, /body\/request must have required property 'uid'/],
    ['empty uid', { payload: JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: '' } }) }, 400, /body\/request\/uid/],
    ['unknown apiVersion', { payload: JSON.stringify({ ...review('admission.k8s.io/v2', pod) }) }, 400, /body\/apiVersion must be equal to one of the allowed values \(admission\.k8s\.io\/v1, admission\.k8s\.io\/v1beta1\)/],
    ['wrong kind', { payload: JSON.stringify({ ...review('admission.k8s.io/v1', pod), kind: 'Pod' }) }, 400, /body\/kind/],
    ['an array', { payload: '[]' }, 400, /invalid AdmissionReview: body must be object/],
    ['over the size limit', { payload: JSON.stringify({ pad: 'x'.repeat(2048) }) }, 413, /^request body over 1024 bytes \(--max-request-bytes\)$/],
    ['the pod in another namespace than the request', { payload: JSON.stringify(review('admission.k8s.io/v1', { ...pod, metadata: { name: 'p', namespace: 'other' } })) }, 400, /invalid AdmissionReview: request\.namespace "ns" differs from the pod's metadata\.namespace "other"/],
    ['only a __proto__ key', { payload: '{"__proto__": {"x": 1}}' }, 400, /invalid AdmissionReview: body must have required property/],
  ];
  for (const [name, { payload, contentType }, status, message] of cases) {
    const res = await app.inject({ method: 'POST', url: '/pods', payload, headers: { 'content-type': contentType ?? 'application/json' } });
    t.equal(res.statusCode, status, name);
    t.match(res.json().message, message, name);
    t.equal(res.json().error, STATUS_CODES[status], `${name}: the error label matches the status`);
  }
  const missing = await app.inject({ method: 'GET', url: '/nope' });
  t.equal(missing.statusCode, 404);
  t.match(missing.json().message, 'POST /pods');
  t.notMatch(lines.join(''), /"level":50/, 'no request was logged as a server error');
});

t.test('what a hand-made review makes the log echo is bounded: a namespace or operation no API server sends is a 400', async (t) => {
  const { app, lines } = await makeApp(t);
  const long = 'n'.repeat(100_000);
  for (const [field, extra] of [
    ['namespace', { namespace: long }],
    ['operation', { operation: `CREATE${long}` }],
  ] as const) {
    lines.length = 0;
    const res = await app.inject({ method: 'POST', url: '/pods', payload: review('admission.k8s.io/v1', pod, extra) });
    t.equal(res.statusCode, 400, field);
    t.match(res.json().message, `invalid AdmissionReview: body/request/${field} must NOT have more than`, field);
    t.notMatch(res.body, 'n'.repeat(1_000), `${field}: the answer does not echo it`);
    t.ok(lines.length > 0 && lines.every((line) => line.length < 4_096), `${field}: no log line echoes it (longest: ${Math.max(...lines.map((line) => line.length))} characters)`);
  }
  // The longest a namespace can be (a DNS label) is answered as before.
  const res = await app.inject({ method: 'POST', url: '/pods', payload: review('admission.k8s.io/v1', pod, { namespace: 'n'.repeat(63) }) });
  t.equal(res.statusCode, 200);
  t.equal(res.json().response.allowed, true);
});

t.test('__proto__ and constructor are ordinary keys: such a pod is answered, and nothing is polluted', async (t) => {
  const { app } = await makeApp(t);
  // Written as JSON text: in a JavaScript literal `__proto__` would set the prototype instead.
  const metadata = '{"name": "p", "labels": {"__proto__": "x", "app": "web"}, "annotations": {"__proto__": "a", "constructor": "b", "secrets-init/provider": "aws"}}';
  const env = '[{"name": "__proto__", "value": "' + ARN + '"}, {"name": "constructor", "value": "plain"}]';
  const payload = `{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {"uid": "u-proto", "kind": {"group": "", "version": "v1", "kind": "Pod"}, "operation": "CREATE", "namespace": "ns", "object": {"metadata": ${metadata}, "spec": {"containers": [{"name": "c", "command": ["/bin/app"], "env": ${env}}]}}}}`;
  const res = await app.inject({ method: 'POST', url: '/pods', payload, headers: { 'content-type': 'application/json' } });
  t.equal(res.statusCode, 200);
  const { response } = res.json();
  t.equal(response.allowed, true);
  const ops = JSON.parse(Buffer.from(response.patch, 'base64').toString()) as Array<{ path: string; value: unknown }>;
  t.same(ops.find((o) => o.path === '/spec/containers/0/args')?.value, ['--provider=aws', '/bin/app'], 'the variable named __proto__ holds a reference: wrapped');
  t.equal(({} as Record<string, unknown>)['x'], undefined, 'Object.prototype is untouched');
});

t.test('health, readiness and metrics', async (t) => {
  const { app, readiness } = await makeApp(t);
  t.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
  t.equal((await app.inject({ method: 'GET', url: '/readyz' })).statusCode, 503, 'not ready until the server says so');
  readiness.set(true);
  t.equal((await app.inject({ method: 'GET', url: '/readyz' })).statusCode, 200);
  await app.inject({ method: 'POST', url: '/pods', payload: review('admission.k8s.io/v1', pod) });
  await app.inject({ method: 'POST', url: '/pods', payload: review('admission.k8s.io/v1', pod, { operation: 'UPDATE' }) });
  await app.inject({ method: 'POST', url: '/pods', payload: 'junk', headers: { 'content-type': 'application/json' } });
  const metrics = await app.inject({ method: 'GET', url: '/metrics' });
  t.match(metrics.headers['content-type'], 'text/plain');
  t.match(metrics.body, 'secrets_init_webhook_admissions_total{result="injected",dry_run="false"} 1');
  t.match(metrics.body, 'secrets_init_webhook_admissions_total{result="skipped",dry_run="false"} 1');
  t.match(metrics.body, 'secrets_init_webhook_admissions_total{result="rejected",dry_run="false"} 1');
  t.notMatch(metrics.body, /arn:aws/);
});

t.test('every admission outcome is exported at 0 from the start, so a rate over the first ones sees them', async (t) => {
  // Prometheus takes a series' first sample as its start: a series born at its first denial
  // (with every denial up to the first scrape in it) shows no increase, and
  // SecretsInitWebhookDenialSpike missed the first burst of denials after each restart.
  const { app } = await makeApp(t);
  const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
  for (const result of ['injected', 'unchanged', 'skipped', 'denied']) {
    for (const dryRun of ['false', 'true']) t.match(text, `secrets_init_webhook_admissions_total{result="${result}",dry_run="${dryRun}"} 0\n`, `${result}, dry run ${dryRun}`);
  }
  t.match(text, 'secrets_init_webhook_admissions_total{result="rejected",dry_run="false"} 0\n');
  await app.inject({ method: 'POST', url: '/pods', payload: review('admission.k8s.io/v1', pod) });
  const after = (await app.inject({ method: 'GET', url: '/metrics' })).body;
  t.match(after, 'secrets_init_webhook_admissions_total{result="injected",dry_run="false"} 1\n');
  t.equal(after.split('\n').filter((line) => line.startsWith('secrets_init_webhook_admissions_total{result="injected",dry_run="false"}')).length, 1, 'shown once');
});

t.test('a rejected request is timed like any other admission, not observed as 0 s', async (t) => {
  const { app } = await makeApp(t);
  // A body that takes 300 ms to arrive and is then refused (not JSON): 400 after 300 ms.
  const body = new PassThrough();
  body.write('{"apiVersion": ');
  setTimeout(() => body.end('not json'), 300);
  const res = await app.inject({ method: 'POST', url: '/pods', payload: body, headers: { 'content-type': 'application/json' } });
  t.equal(res.statusCode, 400);
  const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
  const sample = (name: string) => Number(new RegExp(`^${name}\\{result="rejected"\\} (\\S+)$`, 'm').exec(text)?.[1]);
  t.equal(sample('secrets_init_webhook_admission_duration_seconds_count'), 1);
  // At least a third of the 300 ms: the request may start some time after the timer is set on a loaded machine.
  t.ok(sample('secrets_init_webhook_admission_duration_seconds_sum') >= 0.1, `observed ${sample('secrets_init_webhook_admission_duration_seconds_sum')} s, the time the request took`);
});

t.test('with a telemetry listener, /metrics moves off the webhook port', async (t) => {
  const { app, readiness } = await makeApp(t, { serveMetrics: false });
  t.equal((await app.inject({ method: 'GET', url: '/metrics' })).statusCode, 404);
  const telemetry = await buildTelemetryApp({ logger: pino({ level: 'silent' }), metrics: createMetrics({ processMetrics: false }), readiness });
  t.teardown(() => telemetry.close());
  t.equal((await telemetry.inject({ method: 'GET', url: '/metrics' })).statusCode, 200);
});

t.test('an unexpected failure is answered 500 "internal error"; its message goes to the log only', async (t) => {
  const { app, lines } = await makeApp(t);
  app.get('/fails', async () => {
    throw new Error('connect ECONNREFUSED 10.0.0.7:6443 with token sk-internal-detail');
  });
  const res = await app.inject({ method: 'GET', url: '/fails' });
  t.equal(res.statusCode, 500);
  t.same(res.json(), { statusCode: 500, error: 'Internal Server Error', message: 'internal error' });
  t.notMatch(res.body, /sk-internal-detail|10\.0\.0\.7/);
  t.ok(lines.some((line) => line.includes('sk-internal-detail')), 'the log has the details');
});

t.test('once shutdown began every answer says Connection: close; before, none does', async (t) => {
  let draining = false;
  const app = await buildApp({
    logger: pino({ level: 'silent' }),
    admission: { settings: SETTINGS, maxConcurrentReads: 8, admissionTimeoutMs: 8_000, objects: unconfiguredReader(), images: staticImageConfigs({}) },
    metrics: createMetrics({ processMetrics: false }),
    readiness: readinessFlag(),
    maxRequestBytes: 5 * 1024 * 1024,
    serveMetrics: false,
    draining: () => draining,
  });
  t.teardown(() => app.close());
  const before = await app.inject({ method: 'POST', url: '/pods', payload: review('admission.k8s.io/v1', pod) });
  t.equal(before.statusCode, 200);
  t.not(before.headers.connection, 'close');
  draining = true;
  for (const request of [{ method: 'POST' as const, url: '/pods', payload: review('admission.k8s.io/v1', pod) }, { method: 'GET' as const, url: '/healthz' }, { method: 'GET' as const, url: '/nowhere' }]) {
    const res = await app.inject(request);
    t.equal(res.headers.connection, 'close', `${request.method} ${request.url}`);
  }
});
