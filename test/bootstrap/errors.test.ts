// What the bootstrap says when it cannot do its job: missing webhook configuration, RBAC (403) naming the
// object and the rule needed, other API failures, bad options; and that no message or log holds a key.
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import type { Test } from 'tap';
import { KubeConfig } from '@kubernetes/client-node';
import { BootstrapError, bootstrapCertificates, requiredRbac } from '../../src/bootstrap/index.js';
import { STUB_USER } from '../helpers/stub-apiserver.js';
import {
  DAY_MS,
  MWC,
  NS,
  SECRET,
  cluster,
  fakeClock,
  issueAt,
  recordingLogger,
  rejection,
  replica,
  replicaOptions,
  secretDataOf,
  storedSecret,
  until,
  webhook,
} from './fixtures/helpers.js';

const SECRET_RBAC =
  `Certificate bootstrap needs a Role in namespace "${NS}" bound to the webhook's service account with the rules ` +
  `{apiGroups: [""], resources: ["secrets"], resourceNames: ["${SECRET}"], verbs: ["get", "update"]} and ` +
  '{apiGroups: [""], resources: ["secrets"], verbs: ["create"]} (create cannot be restricted by name)';
const MWC_RBAC =
  "Certificate bootstrap needs a ClusterRole bound to the webhook's service account with the rule " +
  `{apiGroups: ["admissionregistration.k8s.io"], resources: ["mutatingwebhookconfigurations"], resourceNames: ["${MWC}"], verbs: ["get", "patch"]}`;

/** Fails the test if any text holds key material. */
function noKeys(t: Test, text: string, keys: string[] = []): void {
  t.notMatch(text, /PRIVATE KEY/, 'no PEM private key');
  for (const key of keys) {
    const body = key.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
    t.notOk(text.includes(body.slice(0, 40)), 'no private key body');
  }
}

t.test('the MutatingWebhookConfiguration does not exist: start fails, saying so', async (t) => {
  const c = await cluster(t, { webhooks: null });
  const error = await rejection(t, bootstrapCertificates(replicaOptions(c.kubeConfig)));
  t.ok(error instanceof BootstrapError);
  t.equal((error as BootstrapError).cause, 'not-found');
  t.equal(
    error.message,
    `MutatingWebhookConfiguration ${MWC} not found: certificate bootstrap puts its CA into that object's caBundle, ` +
      "so it must exist before the webhook starts (apply the webhook's manifests or Helm chart first, or fix its name)",
  );
});

t.test('no webhook of the configuration points at our Service: start fails, naming what it found', async (t) => {
  const c = await cluster(t, { webhooks: [webhook('a.example.com', 'other', NS), webhook('b.example.com', 'secrets-init-webhook', 'default')] });
  const error = await rejection(t, bootstrapCertificates(replicaOptions(c.kubeConfig)));
  t.match(error, { name: 'BootstrapError', cause: 'misconfigured' });
  t.equal(
    error.message,
    `MutatingWebhookConfiguration ${MWC} has no webhook whose clientConfig.service is ${NS}/secrets-init-webhook ` +
      '(its webhooks: a.example.com, b.example.com)',
  );
  c.stub.addMutatingWebhookConfiguration(MWC, []);
  const empty = await rejection(t, bootstrapCertificates(replicaOptions(c.kubeConfig)));
  t.match(empty.message, /\(it has no webhooks\)$/);
});

t.test('403 reading the Secret: names the object, quotes the API server, and states the RBAC needed', async (t) => {
  const c = await cluster(t);
  c.stub.forbid('Secret', NS, SECRET);
  const error = await rejection(t, bootstrapCertificates(replicaOptions(c.kubeConfig)));
  t.match(error, { name: 'BootstrapError', cause: 'forbidden', httpStatus: 403 });
  t.equal(
    error.message,
    `cannot get Secret ${NS}/${SECRET}: forbidden (HTTP 403): secrets "${SECRET}" is forbidden: User "${STUB_USER}" ` +
      `cannot get resource "secrets" in API group "" in the namespace "${NS}". ${SECRET_RBAC}`,
  );
});

t.test('403 creating the Secret (create not granted)', async (t) => {
  const c = await cluster(t);
  c.stub.forbid('Secret', NS, undefined, ['create']);
  const error = await rejection(t, bootstrapCertificates(replicaOptions(c.kubeConfig)));
  t.equal(
    error.message,
    `cannot create Secret ${NS}/${SECRET}: forbidden (HTTP 403): secrets is forbidden: User "${STUB_USER}" ` +
      `cannot create resource "secrets" in API group "" in the namespace "${NS}". ${SECRET_RBAC}`,
  );
});

t.test('403 updating the Secret for a renewal', async (t) => {
  const c = await cluster(t);
  const old = await issueAt(new Date(Date.now() - 340 * DAY_MS));
  c.stub.addSecret(NS, SECRET, secretDataOf(old), 'kubernetes.io/tls');
  c.stub.forbid('Secret', NS, SECRET, ['update']);
  const error = await rejection(t, bootstrapCertificates(replicaOptions(c.kubeConfig)));
  t.match(error.message, new RegExp(`^cannot update Secret ${NS}/${SECRET}: forbidden \\(HTTP 403\\): .*cannot update resource "secrets"`));
  t.ok(error.message.endsWith(SECRET_RBAC));
  noKeys(t, error.message, [old.key, old.caKey ?? '']);
});

t.test('403 reading or patching the MutatingWebhookConfiguration: the ClusterRole rule', async (t) => {
  const c = await cluster(t);
  c.stub.forbid('MutatingWebhookConfiguration', '', MWC, ['patch']);
  const patch = await rejection(t, bootstrapCertificates(replicaOptions(c.kubeConfig)));
  t.equal(
    patch.message,
    `cannot patch MutatingWebhookConfiguration ${MWC}: forbidden (HTTP 403): ` +
      `mutatingwebhookconfigurations.admissionregistration.k8s.io "${MWC}" is forbidden: User "${STUB_USER}" ` +
      `cannot patch resource "mutatingwebhookconfigurations" in API group "admissionregistration.k8s.io" at the cluster scope. ${MWC_RBAC}`,
  );
  c.stub.forbid('MutatingWebhookConfiguration', '', MWC);
  const get = await rejection(t, bootstrapCertificates(replicaOptions(c.kubeConfig)));
  t.match(get.message, /^cannot get MutatingWebhookConfiguration secrets-init-webhook: forbidden \(HTTP 403\): .*at the cluster scope\. Certificate bootstrap needs a ClusterRole/);
});

t.test('in the periodic check a 403 is logged (with the RBAC hint) and retried, not thrown', async (t) => {
  const c = await cluster(t);
  const clock = fakeClock();
  const log = recordingLogger();
  const source = await replica(t, c, { now: clock.now });
  const timed = await replica(t, c, { now: clock.now, logger: log.logger, checkIntervalMs: 10 });
  c.stub.forbid('Secret', NS, SECRET, ['update']);
  clock.advanceDays(340);
  const cert = source.current().cert;
  await t.rejects(source.refresh(), { cause: 'forbidden' }, 'refresh() reports it');
  t.equal(source.current().cert, cert, 'still serving the current certificate');
  t.ok(await until(() => log.lines.filter((l) => l.level === 'error').length >= 2), 'the timer logs the failure and retries');
  t.match(log.lines.find((l) => l.level === 'error')?.message, /certificate check failed, retrying in 10ms: cannot update Secret .* Certificate bootstrap needs a Role/);
  t.equal(timed.current().cert, cert);
  await timed.close();
});

t.test('401, unreachable and slow API servers are reported per object', async (t) => {
  const c = await cluster(t);
  const token = c.stub.token;
  c.stub.token = 'rotated';
  const unauthorized = await rejection(t, bootstrapCertificates(replicaOptions(c.kubeConfig)));
  t.match(unauthorized, { cause: 'unauthorized', message: /^cannot get Secret secrets-init\/secrets-init-webhook-tls: unauthorized \(HTTP 401\)/ });

  c.stub.token = token;
  c.stub.delayMs = 2000;
  const slow = await rejection(t, bootstrapCertificates(replicaOptions(c.kubeConfig, { timeoutMs: 100 })));
  t.match(slow, { cause: 'timeout', message: 'cannot get Secret secrets-init/secrets-init-webhook-tls: timed out after 100ms' });
  c.stub.delayMs = 0;

  const port = await closedPort();
  const nowhere = new KubeConfig();
  nowhere.loadFromOptions({
    clusters: [{ name: 'c', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [{ name: 'u', token: 'x' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  const unreachable = await rejection(t, bootstrapCertificates(replicaOptions(nowhere)));
  t.match(unreachable, { cause: 'unreachable', message: /^cannot get Secret .*: API server unreachable \(connect ECONNREFUSED 127\.0\.0\.1:\d+\)$/ });
});

t.test('500s from the API server, and writers that never stop conflicting, end in clear errors', async (t) => {
  const c = await cluster(t);
  // A read is sent once more after a 503 with Retry-After: this one answers 503 both times.
  c.stub.failWith(503, 2);
  const unavailable = await rejection(t, bootstrapCertificates(replicaOptions(c.kubeConfig)));
  t.match(unavailable, { cause: 'server-error', message: /^cannot get Secret .*: API server error \(HTTP 503\): the server is currently unable/ });

  for (let i = 0; i < 5; i++) c.stub.conflictOnNextWrite({ resource: 'Secret' });
  const racing = await rejection(t, bootstrapCertificates(replicaOptions(c.kubeConfig)));
  t.match(racing, { cause: 'conflict', message: `cannot update Secret ${NS}/${SECRET}: it kept changing under concurrent writers (5 attempts)` });
  t.equal(storedSecret(c.stub), undefined);
});

t.test('a patch the API server refuses as invalid (422, not a failed test) is reported, not retried as a race', async (t) => {
  const c = await cluster(t, { webhooks: null });
  const { admissionReviewVersions: _dropped, ...incomplete } = webhook('pods.secrets-init.doit-intl.com');
  c.stub.addMutatingWebhookConfiguration(MWC, [incomplete]);
  const error = await rejection(t, bootstrapCertificates(replicaOptions(c.kubeConfig)));
  t.match(error, { name: 'BootstrapError', cause: 'invalid', httpStatus: 422 });
  t.equal(
    error.message,
    `cannot patch MutatingWebhookConfiguration ${MWC}: rejected as invalid (HTTP 422): ` +
      `MutatingWebhookConfiguration "${MWC}" is invalid: webhooks[0].admissionReviewVersions: Required value`,
  );
  t.equal(c.stub.requests.filter((r) => r.method === 'PATCH').length, 1, 'one attempt');
});

t.test('invalid options are RangeErrors before any request', async (t) => {
  const c = await cluster(t);
  const bad: Array<[Record<string, unknown>, RegExp]> = [
    [{ namespace: 'Bad_NS' }, /invalid namespace "Bad_NS": must be a DNS label/],
    [{ service: '' }, /invalid service name/],
    [{ secretName: 'a/b' }, /invalid Secret name/],
    [{ webhookConfigurationName: 'UPPER' }, /invalid MutatingWebhookConfiguration name/],
    [{ validityDays: 0 }, /invalid validityDays 0/],
    [{ renewBeforeDays: 400 }, /renewBeforeDays \(400\) must be less than validityDays \(365\)/],
    [{ validityDays: 3650 }, /caValidityDays \(3650\) must exceed validityDays \+ renewBeforeDays \(3680\)/],
    [{ checkIntervalMs: 0 }, /invalid checkIntervalMs/],
    [{ checkIntervalMs: 2 ** 31 }, /invalid checkIntervalMs/],
    [{ timeoutMs: Number.NaN }, /invalid timeoutMs/],
    [{ keyType: 'dsa' }, /invalid keyType "dsa"/],
  ];
  for (const [override, message] of bad) {
    await t.rejects(bootstrapCertificates({ ...replicaOptions(c.kubeConfig), ...override }), { name: 'RangeError', message });
  }
  t.equal(c.stub.requests.length, 0);
});

t.test('no log line or error message holds key material', async (t) => {
  const c = await cluster(t);
  const clock = fakeClock();
  const log = recordingLogger();
  const source = await replica(t, c, { now: clock.now, logger: log.logger });
  const keys = [source.current().key, storedSecret(c.stub)?.data['ca.key'] ?? ''];
  clock.advanceDays(340);
  await source.refresh();
  keys.push(source.current().key);
  c.stub.addSecret(NS, SECRET, { 'tls.crt': keys[0] ?? '', 'tls.key': keys[0] ?? '', 'ca.crt': keys[1] ?? '' }, 'kubernetes.io/tls');
  await source.refresh();
  t.ok(log.lines.length > 4);
  noKeys(t, log.text(), keys);
});

t.test('requiredRbac: the Role and ClusterRole rules as YAML', async (t) => {
  t.equal(
    requiredRbac(NS, SECRET, MWC),
    [
      '# Role in the webhook namespace',
      'apiVersion: rbac.authorization.k8s.io/v1',
      'kind: Role',
      'metadata: {namespace: secrets-init, name: secrets-init-webhook-certificates}',
      'rules:',
      '- {apiGroups: [""], resources: [secrets], resourceNames: [secrets-init-webhook-tls], verbs: [get, update]}',
      '- {apiGroups: [""], resources: [secrets], verbs: [create]}  # create cannot be restricted by name',
      '---',
      'apiVersion: rbac.authorization.k8s.io/v1',
      'kind: ClusterRole',
      'metadata: {name: secrets-init-webhook-certificates}',
      'rules:',
      '- {apiGroups: [admissionregistration.k8s.io], resources: [mutatingwebhookconfigurations], resourceNames: [secrets-init-webhook], verbs: [get, patch]}',
      '',
    ].join('\n'),
  );
});

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

t.test('a token the client cannot send (a line break in it): the error says so without quoting any of it', async (t) => {
  const c = await cluster(t);
  const token = { head: `eyJhbGciOiJSUzI1NiJ9.HEAD-${randomUUID()}`, tail: `SIGNATURE-${randomUUID()}` };
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [{ name: 'c', server: c.stub.url, caData: Buffer.from(c.stub.caPem).toString('base64'), skipTLSVerify: false }],
    users: [{ name: 'u', token: `${token.head}\n${token.tail}` }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  const error = await rejection(t, bootstrapCertificates(replicaOptions(kubeConfig)));
  t.match(error, { name: 'BootstrapError', message: /^cannot get Secret .*: Kubernetes client configuration error: Bearer \[redacted\] is not a legal HTTP header value/ });
  t.notOk(error.message.includes(token.head.slice(-12)), `nothing of the first line: ${error.message}`);
  t.notOk(error.message.includes(token.tail.slice(-12)), `nothing of the second line: ${error.message}`);
  t.same(c.stub.requests, [], 'nothing reached the API server');
});
