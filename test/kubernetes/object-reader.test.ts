// createKubeObjectReader through the real @kubernetes/client-node, against the stub API server over loopback.
import { randomUUID } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { inspect } from 'node:util';
import t from 'tap';
import type { Test } from 'tap';
import { KubeConfig } from '@kubernetes/client-node';
import { LookupError, createKubeObjectReader, loadKubeConfig } from '../../src/kubernetes/object-reader.js';
import { withoutCredentials } from '../../src/kubernetes/errors.js';
import { decodeServiceAccount } from '../../src/kubernetes/decode.js';
import type { KubeObjectReader, LookupFailureCause, ObjectLookup } from '../../src/kubernetes/object-reader.js';
import { STUB_USER, startStubApiServer } from '../helpers/stub-apiserver.js';
import type { StubApiServer } from '../helpers/stub-apiserver.js';

const SECRET_VALUE = 'sup3r-s3cret-\u00e9\u00e8-\u2603-value';

async function setup(t: Test, timeoutMs = 2000): Promise<{ stub: StubApiServer; reader: KubeObjectReader }> {
  const stub = await startStubApiServer();
  t.teardown(() => stub.close());
  const kubeConfig = loadKubeConfig({ KUBECONFIG: stub.kubeconfigPath });
  if (kubeConfig === undefined) throw new Error('stub kubeconfig did not load');
  return { stub, reader: createKubeObjectReader(kubeConfig, { timeoutMs }) };
}

function entries(lookup: ObjectLookup): Array<[string, string]> | undefined {
  return lookup.found ? [...lookup.data.entries()].sort(([a], [b]) => a.localeCompare(b)) : undefined;
}

/** The LookupError a promise rejects with; fails the test if it resolves or rejects with something else. */
async function lookupError(t: Test, promise: Promise<unknown>): Promise<LookupError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof LookupError) return error;
    t.fail(`rejected with a non-LookupError: ${String(error)}`);
    throw error;
  }
  t.fail('expected the read to reject');
  throw new Error('expected the read to reject');
}

function expectFailure(
  t: Test,
  error: LookupError,
  cause: LookupFailureCause,
  message: string | RegExp,
  httpStatus?: number,
): void {
  t.equal(error.cause, cause, 'cause');
  if (typeof message === 'string') t.equal(error.message, message, 'message');
  else t.match(error.message, message, 'message');
  t.equal(error.httpStatus, httpStatus, 'httpStatus');
  t.notOk(error.message.includes(SECRET_VALUE.slice(0, 6)), 'message holds no secret data');
  t.notOk(error.message.includes(Buffer.from(SECRET_VALUE).toString('base64').slice(0, 6)), 'message holds no encoded secret data');
}

t.test('a found Secret: data base64-decoded to UTF-8, one authenticated GET', async (t) => {
  const { stub, reader } = await setup(t);
  stub.addSecret('prod', 'db-creds', { password: SECRET_VALUE, user: 'admin', empty: '' });
  const lookup = await reader.read({ kind: 'Secret', namespace: 'prod', name: 'db-creds' });
  t.same(entries(lookup), [
    ['empty', ''],
    ['password', SECRET_VALUE],
    ['user', 'admin'],
  ]);
  t.same(stub.requests, [
    { method: 'GET', path: '/api/v1/namespaces/prod/secrets/db-creds', authorization: `Bearer ${stub.token}` },
  ]);
});

t.test('a Secret with no data is found and empty', async (t) => {
  const { stub, reader } = await setup(t);
  stub.addSecret('ns', 'empty', {}, 'kubernetes.io/dockerconfigjson');
  t.same(entries(await reader.read({ kind: 'Secret', namespace: 'ns', name: 'empty' })), []);
});

t.test('binary Secret values decode as UTF-8 with replacement characters', async (t) => {
  const { stub, reader } = await setup(t);
  stub.addSecret('ns', 'bin', { raw: new Uint8Array([0x61, 0xff, 0x62]) });
  t.same(entries(await reader.read({ kind: 'Secret', namespace: 'ns', name: 'bin' })), [['raw', 'a\ufffdb']]);
});

t.test('a found ConfigMap: data only, binaryData ignored', async (t) => {
  const { stub, reader } = await setup(t);
  stub.addConfigMap('ns', 'cfg', { LOG_LEVEL: 'debug', URL: 'gcp:secretmanager:projects/p/secrets/s' }, {
    blob: Buffer.from([0, 1, 2]),
  });
  const lookup = await reader.read({ kind: 'ConfigMap', namespace: 'ns', name: 'cfg' });
  t.same(entries(lookup), [
    ['LOG_LEVEL', 'debug'],
    ['URL', 'gcp:secretmanager:projects/p/secrets/s'],
  ]);
  t.equal(stub.requests[0]?.path, '/api/v1/namespaces/ns/configmaps/cfg');
});

t.test('404 NotFound is found: false, for both kinds', async (t) => {
  const { stub, reader } = await setup(t);
  stub.addSecret('ns', 'other', { k: 'v' });
  t.same(await reader.read({ kind: 'Secret', namespace: 'ns', name: 'missing' }), { found: false });
  t.same(await reader.read({ kind: 'ConfigMap', namespace: 'ns', name: 'missing' }), { found: false });
  t.same(await reader.read({ kind: 'Secret', namespace: 'other-ns', name: 'other' }), { found: false }, 'namespaced');
  t.equal(stub.requests.length, 3);
});

t.test('names that cannot exist are not found without asking the server', async (t) => {
  const { stub, reader } = await setup(t);
  for (const name of ['', '.', '..', 'a/b', '%2e%2e']) {
    t.same(await reader.read({ kind: 'Secret', namespace: 'ns', name }), { found: false }, JSON.stringify(name));
  }
  t.same(await reader.read({ kind: 'ConfigMap', namespace: '..', name: 'x' }), { found: false });
  t.equal(stub.requests.length, 0);
});

t.test('names are URL-encoded into the path', async (t) => {
  const { stub, reader } = await setup(t);
  stub.addSecret('ns', 'a b?c', { k: 'v' });
  t.same(entries(await reader.read({ kind: 'Secret', namespace: 'ns', name: 'a b?c' })), [['k', 'v']]);
  t.equal(stub.requests[0]?.path, '/api/v1/namespaces/ns/secrets/a%20b%3Fc');
});

t.test('403 is forbidden, quoting the Status message and naming the object', async (t) => {
  const { stub, reader } = await setup(t);
  stub.addSecret('prod', 'db-creds', { password: SECRET_VALUE });
  stub.forbid('secrets', 'prod', 'db-creds');
  const error = await lookupError(t, reader.read({ kind: 'Secret', namespace: 'prod', name: 'db-creds' }));
  expectFailure(
    t,
    error,
    'forbidden',
    `cannot read Secret prod/db-creds: forbidden (HTTP 403): secrets "db-creds" is forbidden: User "${STUB_USER}" ` +
      'cannot get resource "secrets" in API group "" in the namespace "prod"',
    403,
  );
  t.same(error.ref, { kind: 'Secret', namespace: 'prod', name: 'db-creds' });
  t.equal(error.name, 'LookupError');
  t.ok(error instanceof Error);
});

t.test('401 is unauthorized', async (t) => {
  const { stub, reader } = await setup(t);
  stub.addConfigMap('ns', 'cfg', { k: 'v' });
  stub.token = 'rotated';
  const error = await lookupError(t, reader.read({ kind: 'ConfigMap', namespace: 'ns', name: 'cfg' }));
  expectFailure(t, error, 'unauthorized', 'cannot read ConfigMap ns/cfg: unauthorized (HTTP 401)', 401);
});

t.test('5xx and 429 are server errors with the Status message', async (t) => {
  const { stub, reader } = await setup(t);
  stub.addSecret('ns', 's', { password: SECRET_VALUE });
  const cases: Array<[number, string]> = [
    [500, 'cannot read Secret ns/s: API server error (HTTP 500): Internal error occurred: stub apiserver failure'],
    [503, 'cannot read Secret ns/s: API server error (HTTP 503): the server is currently unable to handle the request'],
    [
      429,
      'cannot read Secret ns/s: API server is throttling requests (HTTP 429): Too many requests, please try again later.',
    ],
  ];
  for (const [status, message] of cases) {
    // A 429 or 503 carries Retry-After: it is sent once more, and fails only when that fails too.
    stub.failWith(status, status === 500 ? 1 : 2);
    const error = await lookupError(t, reader.read({ kind: 'Secret', namespace: 'ns', name: 's' }));
    expectFailure(t, error, 'server-error', message, status);
  }
  // The failures were transient: the next read works (and returns the data the errors never showed).
  t.same(entries(await reader.read({ kind: 'Secret', namespace: 'ns', name: 's' })), [['password', SECRET_VALUE]]);
});

t.test('a GET the API server asks to send again (429, 5xx with Retry-After) is sent once more after the wait it names', async (t) => {
  const { stub, reader } = await setup(t);
  stub.addSecret('ns', 's', { password: SECRET_VALUE });
  for (const status of [429, 503]) {
    // API Priority and Fairness rejects with 429 and Retry-After: 1 when its queues are full.
    stub.failWith(status);
    const before = stub.requests.length;
    const started = Date.now();
    t.same(entries(await reader.read({ kind: 'Secret', namespace: 'ns', name: 's' })), [['password', SECRET_VALUE]], `after a ${status}`);
    t.equal(stub.requests.length - before, 2, 'two requests');
    t.ok(Date.now() - started >= 950, 'the second after the Retry-After');
  }
  // A 500 without Retry-After, and a wait longer than the time left, fail at once.
  stub.failWith(500);
  let before = stub.requests.length;
  expectFailure(t, await lookupError(t, reader.read({ kind: 'Secret', namespace: 'ns', name: 's' })), 'server-error', /HTTP 500/, 500);
  t.equal(stub.requests.length - before, 1, 'a 500 without Retry-After: one request');
  stub.failWith(429, 1, 5);
  before = stub.requests.length;
  const started = Date.now();
  expectFailure(t, await lookupError(t, reader.read({ kind: 'Secret', namespace: 'ns', name: 's' })), 'server-error', /HTTP 429/, 429);
  t.equal(stub.requests.length - before, 1, 'Retry-After: 5 with 2 s to go: one request');
  t.ok(Date.now() - started < 500, 'and no waiting');
});

t.test('a connection reset before any answer (a keep-alive connection the server closed) is sent again once', async (t) => {
  const { stub, reader } = await setup(t);
  stub.addSecret('ns', 's', { password: SECRET_VALUE });
  t.equal((await reader.read({ kind: 'Secret', namespace: 'ns', name: 's' })).found, true, 'a first read opens a kept-alive connection');
  stub.resetNext();
  t.same(entries(await reader.read({ kind: 'Secret', namespace: 'ns', name: 's' })), [['password', SECRET_VALUE]]);
  t.equal(stub.requests.length, 3, 'the reset request, then the one sent again');
  stub.resetNext(2);
  const error = await lookupError(t, reader.read({ kind: 'Secret', namespace: 'ns', name: 's' }));
  expectFailure(t, error, 'unreachable', /^cannot read Secret ns\/s: API server unreachable \(socket hang up\)$/);
  t.equal(stub.requests.length, 5, 'only once more');
});

t.test('a slow API server times out near the timeout, and the request is aborted', async (t) => {
  const { stub, reader } = await setup(t, 200);
  stub.addConfigMap('prod', 'cfg', { k: 'v' });
  stub.delayMs = 5000;
  const started = Date.now();
  const error = await lookupError(t, reader.read({ kind: 'ConfigMap', namespace: 'prod', name: 'cfg' }));
  const elapsed = Date.now() - started;
  expectFailure(t, error, 'timeout', 'cannot read ConfigMap prod/cfg: timed out after 200ms');
  t.ok(elapsed >= 190, `did not give up early (${elapsed}ms)`);
  t.ok(elapsed < 2000, `rejected well before the server answered (${elapsed}ms)`);
  t.equal(stub.requests.length, 1, 'the request reached the server');
  // The client hung up instead of leaving the request running until the server answers.
  for (let i = 0; i < 100 && stub.openConnections > 0; i++) await new Promise((r) => setTimeout(r, 10));
  t.equal(stub.openConnections, 0, 'the HTTP request was aborted');
});

t.test("a read abandoned by the admission's deadline says so, not that the read timed out", async (t) => {
  const { stub, reader } = await setup(t, 5000);
  stub.addConfigMap('prod', 'cfg', { k: 'v' });
  stub.delayMs = 5000;
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 100);
  const started = Date.now();
  const error = await lookupError(t, reader.read({ kind: 'ConfigMap', namespace: 'prod', name: 'cfg' }, { signal: controller.signal }));
  expectFailure(t, error, 'timeout', "cannot read ConfigMap prod/cfg: abandoned: the admission's deadline passed");
  t.ok(Date.now() - started < 2000, 'given up when the signal came, not at the read timeout');
});

t.test('a refused connection is unreachable', async (t) => {
  // A port that was just free and is now closed.
  const port = await new Promise<number>((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromClusterAndUser(
    { name: 'closed', server: `http://127.0.0.1:${port}`, skipTLSVerify: true },
    { name: 'user', token: 'x' },
  );
  const reader = createKubeObjectReader(kubeConfig, { timeoutMs: 2000 });
  const error = await lookupError(t, reader.read({ kind: 'Secret', namespace: 'ns', name: 'x' }));
  expectFailure(
    t,
    error,
    'unreachable',
    `cannot read Secret ns/x: API server unreachable (connect ECONNREFUSED 127.0.0.1:${port})`,
  );
});

t.test('a stopped stub is unreachable too', async (t) => {
  const { stub, reader } = await setup(t);
  await stub.close();
  const error = await lookupError(t, reader.read({ kind: 'Secret', namespace: 'ns', name: 'x' }));
  t.equal(error.cause, 'unreachable');
  t.match(error.message, /^cannot read Secret ns\/x: API server unreachable \(connect ECONNREFUSED 127\.0\.0\.1:\d+\)$/);
});

t.test('unusable 200 responses are bad-response, without quoting the body', async (t) => {
  const { stub, reader } = await setup(t);
  const path = (name: string): string => `/api/v1/namespaces/ns/secrets/${name}`;
  stub.respondRaw(path('truncated'), { status: 200, body: `{"kind":"Secret","data":{"k":"${SECRET_VALUE}` });
  stub.respondRaw(path('text'), { status: 200, body: SECRET_VALUE, contentType: 'text/plain' });
  stub.respondRaw(path('wrong-kind'), { status: 200, body: '{"kind":"SecretList","apiVersion":"v1","items":[]}' });
  stub.respondRaw(path('not-base64'), {
    status: 200,
    body: JSON.stringify({ kind: 'Secret', apiVersion: 'v1', metadata: {}, data: { k: SECRET_VALUE } }),
  });
  stub.respondRaw(path('number'), {
    status: 200,
    body: JSON.stringify({ kind: 'Secret', apiVersion: 'v1', metadata: {}, data: { k: 42 } }),
  });
  const cases: Array<[string, string]> = [
    ['truncated', 'cannot read Secret ns/truncated: bad response from API server (HTTP 200): body is not valid JSON'],
    ['text', 'cannot read Secret ns/text: bad response from API server (HTTP 200): body is not valid JSON'],
    [
      'wrong-kind',
      'cannot read Secret ns/wrong-kind: bad response from API server (HTTP 200): expected a Secret object, got kind "SecretList"',
    ],
    ['not-base64', 'cannot read Secret ns/not-base64: bad response from API server (HTTP 200): data["k"] is not valid base64'],
    ['number', 'cannot read Secret ns/number: bad response from API server (HTTP 200): data["k"] is not a string'],
  ];
  for (const [name, message] of cases) {
    const error = await lookupError(t, reader.read({ kind: 'Secret', namespace: 'ns', name }));
    expectFailure(t, error, 'bad-response', message, 200);
  }
});

t.test('a 404 that is not a Kubernetes NotFound Status is bad-response, not "missing"', async (t) => {
  const { stub, reader } = await setup(t);
  stub.respondRaw('/api/v1/namespaces/ns/secrets/s', { status: 404, body: '404 page not found', contentType: 'text/plain' });
  const error = await lookupError(t, reader.read({ kind: 'Secret', namespace: 'ns', name: 's' }));
  expectFailure(
    t,
    error,
    'bad-response',
    'cannot read Secret ns/s: HTTP 404 without a Kubernetes NotFound Status (is the API server URL right?): 404 page not found',
    404,
  );
});

t.test('client configuration problems surface as not-configured, without a request', async (t) => {
  const kubeConfig = new KubeConfig();
  // client-node refuses plain HTTP unless TLS verification is explicitly skipped.
  kubeConfig.loadFromClusterAndUser({ name: 'c', server: 'http://127.0.0.1:1', skipTLSVerify: false }, { name: 'u' });
  const reader = createKubeObjectReader(kubeConfig, { timeoutMs: 2000 });
  const error = await lookupError(t, reader.read({ kind: 'Secret', namespace: 'ns', name: 's' }));
  expectFailure(
    t,
    error,
    'not-configured',
    'cannot read Secret ns/s: Kubernetes client configuration error: HTTP protocol is not allowed when skipTLSVerify is not set or false',
  );
});

t.test('a kubeconfig token with a line break in it: no part of it in the message, which says what is wrong', async (t) => {
  const stub = await startStubApiServer();
  t.teardown(() => stub.close());
  // A long token wrapped over two lines (an editor, a pasted block scalar): JSON's \n in the kubeconfig.
  const token = { head: `eyJhbGciOiJSUzI1NiJ9.HEAD-${randomUUID()}`, tail: `SIGNATURE-${randomUUID()}` };
  const text = await readFile(stub.kubeconfigPath, 'utf8');
  await writeFile(stub.kubeconfigPath, text.replace(/"token": "[^"]*"/, `"token": ${JSON.stringify(`${token.head}\n${token.tail}`)}`));
  const kubeConfig = loadKubeConfig({ KUBECONFIG: stub.kubeconfigPath });
  if (kubeConfig === undefined) throw new Error('stub kubeconfig did not load');
  const reader = createKubeObjectReader(kubeConfig, { timeoutMs: 2000 });
  const error = await lookupError(t, reader.read({ kind: 'Secret', namespace: 'ns', name: 's' }));
  expectFailure(
    t,
    error,
    'not-configured',
    'cannot read Secret ns/s: Kubernetes client configuration error: Bearer [redacted] is not a legal HTTP header value (does the token or password hold a line break or another control character?)',
  );
  t.notOk(error.message.includes(token.head.slice(-12)), 'nothing of the first line');
  t.notOk(error.message.includes(token.tail.slice(-12)), 'nothing of the second line');
  t.same(stub.requests, [], 'nothing reached the API server');
});

t.test('withoutCredentials: the whole value after an auth scheme is dropped, line breaks included', async (t) => {
  t.equal(
    withoutCredentials('Basic dXNlcjpwYXNz\r\nX-Other: 1 is not a legal HTTP header value'),
    'Basic [redacted] is not a legal HTTP header value (does the token or password hold a line break or another control character?)',
  );
  t.equal(
    withoutCredentials('tok\nen is not a legal HTTP header value'),
    'a header value is not a legal HTTP header value (does the token or password hold a line break or another control character?)',
  );
  t.equal(withoutCredentials('cannot use Bearer abc\ndef-ghi for this'), 'cannot use Bearer [redacted]');
  t.equal(withoutCredentials('ENOENT: no such file /var/run/token'), 'ENOENT: no such file /var/run/token');
});

t.test('a ServiceAccount of 200,000 pull secret names is decoded in linear time', { timeout: 5_000 }, async (t) => {
  // Each searched for among those before it, they took about a minute.
  const imagePullSecrets = Array.from({ length: 200_000 }, (_, i) => ({ name: `s${i % 150_000}` }));
  const decoded = decodeServiceAccount({ kind: 'ServiceAccount', apiVersion: 'v1', metadata: { name: 'default' }, imagePullSecrets });
  t.equal(decoded.ok && decoded.value.length, 150_000);
  t.equal(decoded.ok && decoded.value[149_999], 's149999');
});

t.test('ServiceAccounts: imagePullSecrets names, not found, and the same errors', async (t) => {
  const { stub, reader } = await setup(t);
  stub.addServiceAccount('ns', 'builder', ['regcred', 'other', 'regcred']);
  stub.addServiceAccount('ns', 'default');
  t.same(await reader.readServiceAccount('ns', 'builder'), { found: true, imagePullSecrets: ['regcred', 'other'] });
  t.same(await reader.readServiceAccount('ns', 'default'), { found: true, imagePullSecrets: [] });
  t.same(await reader.readServiceAccount('ns', 'nobody'), { found: false });
  t.equal(stub.requests[0]?.path, '/api/v1/namespaces/ns/serviceaccounts/builder');
  stub.forbid('serviceaccounts', 'locked');
  const error = await lookupError(t, reader.readServiceAccount('locked', 'default'));
  t.equal(error.cause, 'forbidden');
  t.same(error.ref, { kind: 'ServiceAccount', namespace: 'locked', name: 'default' });
  t.match(error.message, /^cannot read ServiceAccount locked\/default: forbidden \(HTTP 403\): serviceaccounts "default" is forbidden/);
});

t.test('reads run concurrently, each with its own outcome', async (t) => {
  const { stub, reader } = await setup(t);
  stub.addSecret('ns', 'a', { k: 'A' });
  stub.addConfigMap('ns', 'b', { k: 'B' });
  stub.forbid('secrets', 'ns', 'c');
  stub.delayMs = 100;
  const started = Date.now();
  const [a, b, c, d] = await Promise.allSettled([
    reader.read({ kind: 'Secret', namespace: 'ns', name: 'a' }),
    reader.read({ kind: 'ConfigMap', namespace: 'ns', name: 'b' }),
    reader.read({ kind: 'Secret', namespace: 'ns', name: 'c' }),
    reader.read({ kind: 'Secret', namespace: 'ns', name: 'd' }),
  ]);
  t.ok(Date.now() - started < 350, 'four 100ms reads did not run one after another');
  t.same(a?.status === 'fulfilled' ? entries(a.value) : a, [['k', 'A']]);
  t.same(b?.status === 'fulfilled' ? entries(b.value) : b, [['k', 'B']]);
  t.equal(c?.status === 'rejected' && c.reason instanceof LookupError ? c.reason.cause : c, 'forbidden');
  t.same(d?.status === 'fulfilled' ? d.value : d, { found: false });
});

t.test('no failure, however reported, carries the data of a Secret read before it', async (t) => {
  const { stub, reader } = await setup(t, 300);
  const encoded = Buffer.from(SECRET_VALUE).toString('base64');
  stub.addSecret('prod', 'db', { password: SECRET_VALUE });
  const ok = await reader.read({ kind: 'Secret', namespace: 'prod', name: 'db' });
  t.equal(ok.found ? ok.data.get('password') : undefined, SECRET_VALUE, 'the value was read');

  const ref = { kind: 'Secret', namespace: 'prod', name: 'db' } as const;
  const errors: LookupError[] = [];
  stub.failWith(500);
  errors.push(await lookupError(t, reader.read(ref)));
  stub.failWith(401);
  errors.push(await lookupError(t, reader.read(ref)));
  stub.forbid('secrets', 'prod', 'db');
  errors.push(await lookupError(t, reader.read(ref)));
  // A server that answers with the object but breaks it: the body holds the secret.
  const path = '/api/v1/namespaces/prod/secrets/db';
  // (A JSON.parse error message would quote the unexpected token and what follows it.)
  stub.respondRaw(path, { status: 200, body: `{"kind":"Secret","data":{"password":${encoded}}}` });
  errors.push(await lookupError(t, reader.read(ref)));
  stub.respondRaw(path, { status: 200, body: JSON.stringify({ kind: 'Secret', data: { password: SECRET_VALUE } }) });
  errors.push(await lookupError(t, reader.read(ref)));
  stub.respondRaw(path, { status: 500, body: `{"data":{"password":"${encoded}"}}` });
  errors.push(await lookupError(t, reader.read(ref)));
  stub.respondRaw(path, { status: 200, body: '{}' });
  stub.delayMs = 2000;
  errors.push(await lookupError(t, reader.read(ref)));

  t.same(
    errors.map((e) => e.cause),
    ['server-error', 'unauthorized', 'forbidden', 'bad-response', 'bad-response', 'server-error', 'timeout'],
  );
  for (const error of errors) {
    const renderings = [error.message, error.stack ?? '', inspect(error, { depth: 5 }), JSON.stringify(error)];
    for (const text of renderings) {
      // Fragments too: a JSON.parse message quotes about ten characters of the body.
      const leaked = [SECRET_VALUE.slice(0, 6), encoded.slice(0, 6)].some((fragment) => text.includes(fragment));
      t.notOk(leaked, `${error.cause}: no secret data in ${text.slice(0, 60)}`);
    }
  }
});

t.test('timeoutMs must be positive', async (t) => {
  const { stub } = await setup(t);
  const kubeConfig = loadKubeConfig({ KUBECONFIG: stub.kubeconfigPath });
  if (kubeConfig === undefined) throw new Error('stub kubeconfig did not load');
  for (const timeoutMs of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
    t.throws(() => createKubeObjectReader(kubeConfig, { timeoutMs }), RangeError, String(timeoutMs));
  }
});

t.test('reads reuse their connections to the API server (keep-alive, one TLS setup)', async (t) => {
  const { stub, reader } = await setup(t);
  stub.addSecret('ns', 'db', { k: 'v' });
  for (let i = 0; i < 20; i++) t.equal((await reader.read({ kind: 'Secret', namespace: 'ns', name: 'db' })).found, true);
  t.equal(stub.connectionsAccepted, 1, '20 reads one after the other: one connection');
  await Promise.all(Array.from({ length: 40 }, () => reader.read({ kind: 'Secret', namespace: 'ns', name: 'db' })));
  t.ok(stub.connectionsAccepted <= 40, `40 at once: the connection kept is reused, one more for each other read (${stub.connectionsAccepted} in all)`);
  t.equal(stub.requests.length, 60, 'every read was a request');
});

t.test('a burst of reads from a slow API server: each is sent at once, not queued behind the others until its timeout', async (t) => {
  // Pods of many workloads created at once, each reading a Secret of its own, while the API
  // server takes 400 ms per read: well within the 2 s timeout.
  const { stub, reader } = await setup(t, 2000);
  for (let i = 0; i < 120; i++) stub.addSecret('ns', `s${i}`, { k: 'v' });
  stub.delayMs = 400;
  const outcomes = await Promise.all(
    Array.from({ length: 120 }, (_, i) =>
      reader.read({ kind: 'Secret', namespace: 'ns', name: `s${i}` }).then(
        (lookup) => (lookup.found ? 'found' : 'not found'),
        (error: unknown) => (error instanceof Error ? error.message : String(error)),
      ),
    ),
  );
  t.same(outcomes.filter((outcome) => outcome !== 'found'), [], 'every read answered');
  stub.delayMs = 0;
  // The connections the burst opened stay for the reads to come.
  await new Promise((resolve) => setTimeout(resolve, 200));
  const before = stub.connectionsAccepted;
  await Promise.all(Array.from({ length: 16 }, (_, i) => reader.read({ kind: 'Secret', namespace: 'ns', name: `s${i}` })));
  t.equal(stub.connectionsAccepted, before, '16 reads at once after the burst reuse kept connections');
});

t.test('server text in messages is one line: control characters folded, cut short', async (t) => {
  const { oneLine } = await import('../../src/kubernetes/bounded-call.js');
  t.equal(oneLine('denied\n{"level":50,"msg":"forged"}\r\n\u0000\u007fend', 100), 'denied {"level":50,"msg":"forged"} end');
  t.equal(oneLine(`  ${'x'.repeat(20)}  `, 10), `${'x'.repeat(10)}...`);
});
