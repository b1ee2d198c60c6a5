// The stub API server's write endpoints (used by the bootstrap tests), over raw HTTPS so these checks do not
// depend on the client library: create/update/patch semantics, resourceVersion, and faithful Status bodies.
import { request } from 'node:https';
import t from 'tap';
import type { Test } from 'tap';
import { STUB_USER, startStubApiServer } from '../helpers/stub-apiserver.js';
import type { StubApiServer } from '../helpers/stub-apiserver.js';

type Json = Record<string, unknown>;

interface Reply {
  status: number;
  json: Json;
}

function call(stub: StubApiServer, method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    const headers: Record<string, string> = { Authorization: `Bearer ${stub.token}` };
    if (payload !== undefined) headers['Content-Type'] = contentType;
    const req = request(`${stub.url}${path}`, { method, headers, ca: stub.caPem, timeout: 5000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Json });
        } catch (error) {
          reject(error instanceof Error ? error : new Error(String(error)));
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`no answer to ${method} ${path} within 5s`)));
    req.on('error', reject);
    req.end(payload);
  });
}

async function withStub(t: Test): Promise<StubApiServer> {
  const stub = await startStubApiServer();
  t.teardown(() => stub.close());
  return stub;
}

const SECRETS = '/api/v1/namespaces/ns/secrets';
const MWCS = '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations';
const b64 = (s: string): string => Buffer.from(s).toString('base64');
const meta = (r: Reply): Json => r.json['metadata'] as Json;

function hook(name: string): Json {
  return {
    name,
    clientConfig: { service: { name: 'svc', namespace: 'ns' } },
    sideEffects: 'None',
    admissionReviewVersions: ['v1'],
    rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'] }],
  };
}

t.test('POST creates (201, server metadata, stringData folded in); a second POST is 409 AlreadyExists', async (t) => {
  const stub = await withStub(t);
  const created = await call(stub, 'POST', SECRETS, {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 's', labels: { a: 'b' } },
    data: { x: b64('1') },
    stringData: { y: '2' },
  });
  t.equal(created.status, 201);
  t.same(created.json['data'], { x: b64('1'), y: b64('2') });
  t.equal(created.json['type'], 'Opaque');
  t.notOk('stringData' in created.json);
  t.match(meta(created), { name: 's', namespace: 'ns', labels: { a: 'b' }, uid: /^[0-9a-f-]{36}$/, resourceVersion: /^\d+$/ });
  t.same(stub.getObject('Secret', 'ns', 's'), created.json, 'stored as returned');

  const again = await call(stub, 'POST', SECRETS, { metadata: { name: 's' } });
  t.equal(again.status, 409);
  t.same(again.json, {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: 'secrets "s" already exists',
    reason: 'AlreadyExists',
    details: { name: 's', kind: 'secrets' },
    code: 409,
  });
  const wrongNs = await call(stub, 'POST', SECRETS, { metadata: { name: 't', namespace: 'other' } });
  t.equal(wrongNs.status, 400);
  t.equal(wrongNs.json['message'], 'the namespace of the provided object does not match the namespace sent on the request');
  const noName = await call(stub, 'POST', SECRETS, { metadata: {} });
  t.equal(noName.status, 422);
  t.equal(noName.json['reason'], 'Invalid');
});

t.test('kubernetes.io/tls Secrets need tls.crt and tls.key (422); data must be base64 (400)', async (t) => {
  const stub = await withStub(t);
  const missing = await call(stub, 'POST', SECRETS, { metadata: { name: 'tls' }, type: 'kubernetes.io/tls', data: { 'tls.crt': b64('c') } });
  t.equal(missing.status, 422);
  t.same(missing.json, {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: 'Secret "tls" is invalid: data[tls.key]: Required value',
    reason: 'Invalid',
    details: { name: 'tls', kind: 'Secret', causes: [{ reason: 'FieldValueRequired', message: 'Required value', field: 'data[tls.key]' }] },
    code: 422,
  });
  const bad = await call(stub, 'POST', SECRETS, { metadata: { name: 'b' }, data: { k: 'no!' } });
  t.equal(bad.status, 400);
  t.equal(bad.json['message'], 'Secret in version "v1" cannot be handled as a Secret: illegal base64 data at input byte 2');
  t.equal(stub.getObject('Secret', 'ns', 'tls'), undefined, 'nothing stored');
});

t.test('PUT: resourceVersion must match (409 Conflict), every write bumps it, type is immutable', async (t) => {
  const stub = await withStub(t);
  stub.addSecret('ns', 's', { k: 'v1' });
  const read = await call(stub, 'GET', `${SECRETS}/s`);
  const rv = String(meta(read)['resourceVersion']);

  const updated = await call(stub, 'PUT', `${SECRETS}/s`, { ...read.json, data: { k: b64('v2') } });
  t.equal(updated.status, 200);
  t.ok(Number(meta(updated)['resourceVersion']) > Number(rv), 'resourceVersion incremented');
  t.equal(meta(updated)['uid'], meta(read)['uid'], 'uid kept');

  const stale = await call(stub, 'PUT', `${SECRETS}/s`, { ...read.json, data: { k: b64('v3') } });
  t.equal(stale.status, 409);
  t.same(stale.json, {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message:
      'Operation cannot be fulfilled on secrets "s": the object has been modified; please apply your changes to the latest version and try again',
    reason: 'Conflict',
    details: { name: 's', kind: 'secrets' },
    code: 409,
  });
  t.same((stub.getObject('Secret', 'ns', 's')?.['data'] as Json)['k'], b64('v2'), 'the stale write was not applied');

  const unconditional = await call(stub, 'PUT', `${SECRETS}/s`, { metadata: { name: 's' }, data: { k: b64('v4') } });
  t.equal(unconditional.status, 200, 'no resourceVersion: an unconditional update');

  t.equal((await call(stub, 'PUT', `${SECRETS}/nope`, { metadata: { name: 'nope' } })).status, 404);
  const renamed = await call(stub, 'PUT', `${SECRETS}/s`, { metadata: { name: 'other' } });
  t.equal(renamed.status, 400);
  t.equal(renamed.json['message'], 'the name of the object (other) does not match the name on the URL (s)');
  const retyped = await call(stub, 'PUT', `${SECRETS}/s`, { metadata: { name: 's' }, type: 'kubernetes.io/tls', data: { 'tls.crt': '', 'tls.key': '' } });
  t.equal(retyped.status, 422);
  t.match(retyped.json['message'], /^Secret "s" is invalid: type: Invalid value: "kubernetes.io\/tls": field is immutable$/);
});

t.test('MutatingWebhookConfigurations: defaults, GET, JSON patch with a resourceVersion test, merge patch', async (t) => {
  const stub = await withStub(t);
  stub.addMutatingWebhookConfiguration('hooks', [hook('a.example.com')]);
  const read = await call(stub, 'GET', `${MWCS}/hooks`);
  t.equal(read.status, 200);
  t.equal(read.json['apiVersion'], 'admissionregistration.k8s.io/v1');
  t.equal(read.json['kind'], 'MutatingWebhookConfiguration');
  t.notOk('namespace' in meta(read), 'cluster-scoped');
  t.equal(meta(read)['generation'], 1);
  t.match((read.json['webhooks'] as Json[])[0], {
    clientConfig: { service: { name: 'svc', namespace: 'ns', port: 443 } },
    failurePolicy: 'Fail',
    matchPolicy: 'Equivalent',
    namespaceSelector: {},
    objectSelector: {},
    reinvocationPolicy: 'Never',
    timeoutSeconds: 10,
    rules: [{ scope: '*' }],
  });
  const rv = String(meta(read)['resourceVersion']);
  const bundle = b64('-----BEGIN CERTIFICATE-----\n...\n');

  const patched = await call(
    stub,
    'PATCH',
    `${MWCS}/hooks`,
    [
      { op: 'test', path: '/metadata/resourceVersion', value: rv },
      { op: 'add', path: '/webhooks/0/clientConfig/caBundle', value: bundle },
    ],
    'application/json-patch+json',
  );
  t.equal(patched.status, 200);
  t.equal((patched.json['webhooks'] as Array<{ clientConfig: Json }>)[0]?.clientConfig['caBundle'], bundle);
  t.ok(Number(meta(patched)['resourceVersion']) > Number(rv));
  t.equal(meta(patched)['generation'], 2, 'a spec change bumps the generation');

  const stale = await call(
    stub,
    'PATCH',
    `${MWCS}/hooks`,
    [
      { op: 'test', path: '/metadata/resourceVersion', value: rv },
      { op: 'replace', path: '/webhooks/0/clientConfig/caBundle', value: '' },
    ],
    'application/json-patch+json',
  );
  t.equal(stale.status, 422, 'a failed test op is 422 Invalid, as the API server answers');
  t.same(stale.json, {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: 'the server rejected our request due to an error in our request',
    reason: 'Invalid',
    details: {},
    code: 422,
  });

  const merged = await call(stub, 'PATCH', `${MWCS}/hooks`, { metadata: { labels: { x: 'y' } } }, 'application/merge-patch+json');
  t.equal(merged.status, 200);
  t.same(meta(merged)['labels'], { x: 'y' });
  t.equal(meta(merged)['generation'], 2, 'a metadata change does not');
  const mergedStale = await call(stub, 'PATCH', `${MWCS}/hooks`, { metadata: { resourceVersion: rv } }, 'application/merge-patch+json');
  t.equal(mergedStale.status, 409, 'a resourceVersion in a merge patch is a precondition');
  t.equal(mergedStale.json['message'], 'Operation cannot be fulfilled on mutatingwebhookconfigurations.admissionregistration.k8s.io "hooks": the object has been modified; please apply your changes to the latest version and try again');
  t.same(mergedStale.json['details'], { name: 'hooks', group: 'admissionregistration.k8s.io', kind: 'mutatingwebhookconfigurations' });

  const strategic = await call(stub, 'PATCH', `${MWCS}/hooks`, {}, 'application/strategic-merge-patch+json');
  t.equal(strategic.status, 415);
  const badBundle = await call(
    stub,
    'PATCH',
    `${MWCS}/hooks`,
    [{ op: 'replace', path: '/webhooks/0/clientConfig/caBundle', value: 'not base64!' }],
    'application/json-patch+json',
  );
  t.equal(badBundle.status, 400);
  const missing = await call(stub, 'GET', `${MWCS}/nope`);
  t.equal(missing.status, 404);
  t.same(missing.json['details'], { name: 'nope', group: 'admissionregistration.k8s.io', kind: 'mutatingwebhookconfigurations' });
  t.equal(missing.json['message'], 'mutatingwebhookconfigurations.admissionregistration.k8s.io "nope" not found');

  const created = await call(stub, 'POST', MWCS, { metadata: { name: 'new' }, webhooks: [hook('b.example.com')] });
  t.equal(created.status, 201);
  const invalidHook = await call(stub, 'POST', MWCS, { metadata: { name: 'bad' }, webhooks: [{ name: 'x', clientConfig: {} }] });
  t.equal(invalidHook.status, 422);
  t.match(invalidHook.json['message'], /^MutatingWebhookConfiguration "bad" is invalid: \[webhooks\[0\]\.clientConfig: /);
});

t.test('forbid by verb: create is namespace-wide, the others per object; cluster-scoped messages', async (t) => {
  const stub = await withStub(t);
  stub.addSecret('ns', 's', { k: 'v' });
  stub.forbid('Secret', 'ns', undefined, ['create']);
  stub.forbid('Secret', 'ns', 's', ['update']);
  t.equal((await call(stub, 'GET', `${SECRETS}/s`)).status, 200, 'get still allowed');
  const create = await call(stub, 'POST', SECRETS, { metadata: { name: 'n' } });
  t.equal(create.status, 403);
  t.equal(create.json['message'], `secrets is forbidden: User "${STUB_USER}" cannot create resource "secrets" in API group "" in the namespace "ns"`);
  t.same(create.json['details'], { kind: 'secrets' });
  const update = await call(stub, 'PUT', `${SECRETS}/s`, { metadata: { name: 's' } });
  t.equal(update.status, 403);
  t.match(update.json['message'], /cannot update resource "secrets"/);

  stub.addMutatingWebhookConfiguration('hooks', [hook('a.example.com')]);
  stub.forbid('MutatingWebhookConfiguration', '', 'hooks', ['patch']);
  const patch = await call(stub, 'PATCH', `${MWCS}/hooks`, [], 'application/json-patch+json');
  t.equal(patch.status, 403);
  t.equal(
    patch.json['message'],
    `mutatingwebhookconfigurations.admissionregistration.k8s.io "hooks" is forbidden: User "${STUB_USER}" cannot patch resource "mutatingwebhookconfigurations" in API group "admissionregistration.k8s.io" at the cluster scope`,
  );
  t.equal((await call(stub, 'GET', `${MWCS}/hooks`)).status, 200);
});

t.test('conflictOnNextWrite and beforeNextWrite intercept exactly one matching write each', async (t) => {
  const stub = await withStub(t);
  stub.addSecret('ns', 's', { k: 'v' });
  stub.addMutatingWebhookConfiguration('hooks', [hook('a.example.com')]);
  let ran = 0;
  stub.conflictOnNextWrite({ resource: 'Secret', beforeReply: () => ran++ });
  t.equal((await call(stub, 'PATCH', `${MWCS}/hooks`, [], 'application/json-patch+json')).status, 200, 'another resource passes');
  const conflicted = await call(stub, 'PUT', `${SECRETS}/s`, { metadata: { name: 's' }, data: { k: b64('new') } });
  t.equal(conflicted.status, 409);
  t.equal(conflicted.json['reason'], 'Conflict');
  t.equal(ran, 1);
  t.same((stub.getObject('Secret', 'ns', 's')?.['data'] as Json)['k'], b64('v'), 'not applied');
  stub.conflictOnNextWrite();
  const exists = await call(stub, 'POST', SECRETS, { metadata: { name: 'fresh' } });
  t.equal(exists.json['reason'], 'AlreadyExists', 'a POST gets AlreadyExists');
  t.equal((await call(stub, 'POST', SECRETS, { metadata: { name: 'fresh' } })).status, 201, 'one-off');

  stub.beforeNextWrite({ resource: 'Secret', run: () => stub.addSecret('ns', 's', { k: 'other writer' }) });
  const read = await call(stub, 'GET', `${SECRETS}/s`);
  const lost = await call(stub, 'PUT', `${SECRETS}/s`, { ...read.json, data: { k: b64('mine') } });
  t.equal(lost.status, 409, 'the write after the hook meets a newer resourceVersion');

  const copy = stub.getObject('Secret', 'ns', 's');
  if (copy !== undefined) copy['data'] = {};
  t.same((stub.getObject('Secret', 'ns', 's')?.['data'] as Json)['k'], b64('other writer'), 'getObject returns a copy');
});

t.test('paths and methods the stub does not serve', async (t) => {
  const stub = await withStub(t);
  stub.addSecret('ns', 's', { k: 'v' });
  t.equal((await call(stub, 'DELETE', `${SECRETS}/s`)).status, 405);
  t.equal((await call(stub, 'GET', SECRETS)).status, 404, 'no lists');
  t.equal((await call(stub, 'PUT', SECRETS, {})).status, 405);
  t.equal((await call(stub, 'POST', SECRETS, '{not json')).status, 400);
  t.equal((await call(stub, 'PATCH', `${SECRETS}/s`, { op: 'add' }, 'application/json-patch+json')).status, 400, 'a JSON patch must be a list');
});
