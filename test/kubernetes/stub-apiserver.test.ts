// The stub API server itself: raw HTTPS, so these checks do not depend on the client library.
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request } from 'node:https';
import type { RequestOptions } from 'node:https';
import type { TLSSocket } from 'node:tls';
import t from 'tap';
import type { Test } from 'tap';
import { STUB_USER, startStubApiServer } from '../helpers/stub-apiserver.js';
import type { StubApiServer } from '../helpers/stub-apiserver.js';

interface RawResponse {
  status: number;
  contentType: string | undefined;
  json: Record<string, unknown>;
}

function get(
  stub: StubApiServer,
  path: string,
  options: { token?: string | null; method?: string; tls?: Pick<RequestOptions, 'ca' | 'servername'> } = {},
): Promise<RawResponse> {
  const token = options.token === undefined ? stub.token : options.token;
  return new Promise((resolve, reject) => {
    const req = request(
      `${stub.url}${path}`,
      {
        method: options.method ?? 'GET',
        headers: token === null ? {} : { Authorization: `Bearer ${token}` },
        ...(options.tls ?? { ca: stub.caPem }),
        timeout: 10_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          try {
            const json = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
            resolve({ status: res.statusCode ?? 0, contentType: res.headers['content-type'], json });
          } catch (error) {
            reject(error instanceof Error ? error : new Error(String(error)));
          }
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer from ${stub.url}${path} within 10s`)));
    req.on('error', reject);
    req.end();
  });
}

/** The error of a request that must fail, or `undefined` if it got an answer. */
function failure(promise: Promise<unknown>): Promise<(Error & { code?: string }) | undefined> {
  return promise.then(
    () => undefined,
    (error: unknown) => (error instanceof Error ? error : new Error(String(error))),
  );
}

async function withStub(t: Test, fn: (stub: StubApiServer) => Promise<void>): Promise<void> {
  const stub = await startStubApiServer();
  t.teardown(() => stub.close());
  await fn(stub);
}

t.test('serves a Secret the way kube-apiserver does', (t) =>
  withStub(t, async (stub) => {
    stub.addSecret('prod', 'db', { password: 'hünter2' });
    const res = await get(stub, '/api/v1/namespaces/prod/secrets/db');
    t.equal(res.status, 200);
    t.equal(res.contentType, 'application/json');
    t.equal(res.json['kind'], 'Secret');
    t.equal(res.json['apiVersion'], 'v1');
    t.equal(res.json['type'], 'Opaque');
    t.same(res.json['data'], { password: Buffer.from('hünter2').toString('base64') });
    const metadata = res.json['metadata'] as Record<string, unknown>;
    t.equal(metadata['name'], 'db');
    t.equal(metadata['namespace'], 'prod');
    t.match(metadata['uid'], /^[0-9a-f-]{36}$/);
    t.match(metadata['resourceVersion'], /^\d+$/);
    t.match(metadata['creationTimestamp'], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  }),
);

t.test('serves ConfigMaps (with binaryData base64) and ServiceAccounts', (t) =>
  withStub(t, async (stub) => {
    stub.addConfigMap('ns', 'cfg', { a: '1' }, { bin: Buffer.from([0xff, 0x00]) });
    stub.addServiceAccount('ns', 'sa', ['pull-a', 'pull-b']);
    stub.addServiceAccount('ns', 'bare');
    const cm = await get(stub, '/api/v1/namespaces/ns/configmaps/cfg');
    t.equal(cm.json['kind'], 'ConfigMap');
    t.same(cm.json['data'], { a: '1' });
    t.same(cm.json['binaryData'], { bin: '/wA=' });
    const sa = await get(stub, '/api/v1/namespaces/ns/serviceaccounts/sa');
    t.equal(sa.json['kind'], 'ServiceAccount');
    t.same(sa.json['imagePullSecrets'], [{ name: 'pull-a' }, { name: 'pull-b' }]);
    const bare = await get(stub, '/api/v1/namespaces/ns/serviceaccounts/bare');
    t.notOk('imagePullSecrets' in bare.json, 'empty imagePullSecrets is omitted, as the API server does');
  }),
);

t.test('missing objects and unknown paths are 404 NotFound Status objects', (t) =>
  withStub(t, async (stub) => {
    stub.addSecret('ns', 'gone', { k: 'v' });
    stub.remove('secrets', 'ns', 'gone');
    const missing = await get(stub, '/api/v1/namespaces/ns/secrets/gone');
    t.equal(missing.status, 404);
    t.same(missing.json, {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'secrets "gone" not found',
      reason: 'NotFound',
      details: { name: 'gone', kind: 'secrets' },
      code: 404,
    });
    const other = await get(stub, '/api/v1/namespaces/ns/persistentvolumeclaims/x');
    t.equal(other.status, 404);
    t.equal(other.json['reason'], 'NotFound');
    t.equal(other.json['message'], 'the server could not find the requested resource');
    const pod = await get(stub, '/api/v1/namespaces/ns/pods/x');
    t.equal(pod.status, 404);
    t.equal(pod.json['message'], 'pods "x" not found');
  }),
);

t.test('pods and namespaces are listed in name order, in pages of limit with a continue token', (t) =>
  withStub(t, async (stub) => {
    for (const name of ['c', 'a', 'e', 'b', 'd']) stub.addPod('ns', { metadata: { name }, spec: { containers: [] } });
    stub.addPod('other', { metadata: { name: 'z' }, spec: { containers: [] } });
    const names: string[] = [];
    let path = '/api/v1/namespaces/ns/pods?limit=2';
    for (let page = 0; page < 10; page++) {
      const { status, json } = await get(stub, path);
      t.equal(status, 200);
      t.equal(json['kind'], 'PodList');
      names.push(...(json['items'] as Array<{ metadata: { name: string } }>).map((item) => item.metadata.name));
      const metadata = json['metadata'] as { continue?: string; remainingItemCount?: number };
      if (metadata.continue === undefined) break;
      t.equal(metadata.remainingItemCount, 5 - names.length);
      path = `/api/v1/namespaces/ns/pods?limit=2&continue=${encodeURIComponent(metadata.continue)}`;
    }
    t.same(names, ['a', 'b', 'c', 'd', 'e'], "every pod of the namespace once, in order; another namespace's not");
    const bad = await get(stub, '/api/v1/namespaces/ns/pods?limit=2&continue=not-a-token');
    t.equal(bad.status, 400);
    t.equal(bad.json['reason'], 'BadRequest');
    stub.addNamespace('ns', { team: 'a' });
    const namespaces = await get(stub, '/api/v1/namespaces');
    t.same((namespaces.json['items'] as Array<{ metadata: { labels: unknown } }>).map((item) => item.metadata.labels), [{ team: 'a', 'kubernetes.io/metadata.name': 'ns' }]);
    stub.forbid('pods', 'ns');
    const forbidden = await get(stub, '/api/v1/namespaces/ns/pods');
    t.equal(forbidden.status, 403);
    t.match(forbidden.json['message'], 'cannot list resource "pods" in API group "" in the namespace "ns"');
  }),
);

t.test('expireContinueTokens: a list continued with an older token is a 410 Expired Status; a new list is not', (t) =>
  withStub(t, async (stub) => {
    for (const name of ['a', 'b', 'c']) stub.addPod('ns', { metadata: { name }, spec: { containers: [] } });
    const first = await get(stub, '/api/v1/namespaces/ns/pods?limit=1');
    const token = (first.json['metadata'] as { continue: string }).continue;
    let hooked = 0;
    stub.beforeNextGet('/api/v1/namespaces/ns/pods', () => {
      hooked++;
      stub.expireContinueTokens();
    });
    const expired = await get(stub, `/api/v1/namespaces/ns/pods?limit=1&continue=${encodeURIComponent(token)}`);
    t.equal(hooked, 1, 'the hook ran before the GET was answered');
    t.equal(expired.status, 410);
    t.match(expired.json, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Expired', code: 410 });
    t.match(expired.json['message'], /^The provided continue parameter is too old to display a consistent list result\. You can start a new list without the continue parameter/);
    const remainder = (expired.json['metadata'] as { continue: string }).continue;
    t.type(remainder, 'string', 'a token for the inconsistent remainder');
    const rest = await get(stub, `/api/v1/namespaces/ns/pods?limit=5&continue=${encodeURIComponent(remainder)}`);
    t.same((rest.json['items'] as Array<{ metadata: { name: string } }>).map((item) => item.metadata.name), ['b', 'c'], 'which serves the remainder');
    const again = await get(stub, '/api/v1/namespaces/ns/pods?limit=1');
    t.equal(again.status, 200, 'a new list is served');
    const next = await get(stub, `/api/v1/namespaces/ns/pods?limit=1&continue=${encodeURIComponent((again.json['metadata'] as { continue: string }).continue)}`);
    t.equal(next.status, 200, 'and its tokens are valid');
    t.equal(hooked, 1, 'the hook ran once');
  }),
);

t.test('forbid answers 403 with a real Forbidden Status, per object or per namespace', (t) =>
  withStub(t, async (stub) => {
    stub.addSecret('ns', 'a', { k: 'v' });
    stub.addSecret('ns', 'b', { k: 'v' });
    stub.addConfigMap('other', 'c', { k: 'v' });
    stub.forbid('secrets', 'ns', 'a');
    stub.forbid('ConfigMap', 'other');
    const a = await get(stub, '/api/v1/namespaces/ns/secrets/a');
    t.equal(a.status, 403);
    t.same(a.json, {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: `secrets "a" is forbidden: User "${STUB_USER}" cannot get resource "secrets" in API group "" in the namespace "ns"`,
      reason: 'Forbidden',
      details: { name: 'a', kind: 'secrets' },
      code: 403,
    });
    t.equal((await get(stub, '/api/v1/namespaces/ns/secrets/b')).status, 200, 'only the named object is forbidden');
    t.equal((await get(stub, '/api/v1/namespaces/other/configmaps/c')).status, 403);
    t.equal((await get(stub, '/api/v1/namespaces/other/configmaps/nope')).status, 403, 'authz comes before existence');
  }),
);

t.test('checks the bearer token from its kubeconfig', (t) =>
  withStub(t, async (stub) => {
    stub.addSecret('ns', 's', { k: 'v' });
    const kubeconfig = JSON.parse(readFileSync(stub.kubeconfigPath, 'utf8')) as {
      clusters: Array<{ cluster: { server: string } }>;
      users: Array<{ user: { token: string } }>;
    };
    t.equal(kubeconfig.clusters[0]?.cluster.server, stub.url);
    t.match(stub.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    t.equal(kubeconfig.users[0]?.user.token, stub.token);
    t.equal((await get(stub, '/api/v1/namespaces/ns/secrets/s')).status, 200);
    const anonymous = await get(stub, '/api/v1/namespaces/ns/secrets/s', { token: null });
    t.equal(anonymous.status, 401);
    t.equal(anonymous.json['reason'], 'Unauthorized');
    t.equal((await get(stub, '/api/v1/namespaces/ns/secrets/s', { token: 'wrong' })).status, 401);
    t.equal((await get(stub, '/api/v1/namespaces/ns/secrets/s', { method: 'DELETE' })).status, 405);
    t.same(
      stub.requests.map((r) => [r.method, r.path, r.authorization]),
      [
        ['GET', '/api/v1/namespaces/ns/secrets/s', `Bearer ${stub.token}`],
        ['GET', '/api/v1/namespaces/ns/secrets/s', undefined],
        ['GET', '/api/v1/namespaces/ns/secrets/s', 'Bearer wrong'],
        ['DELETE', '/api/v1/namespaces/ns/secrets/s', `Bearer ${stub.token}`],
      ],
    );
  }),
);

t.test('serves HTTPS with a certificate from its own CA, which its kubeconfig trusts', (t) =>
  withStub(t, async (stub) => {
    stub.addSecret('ns', 's', { k: 'v' });
    const kubeconfig = JSON.parse(readFileSync(stub.kubeconfigPath, 'utf8')) as {
      clusters: Array<{ cluster: Record<string, unknown> }>;
    };
    const cluster = kubeconfig.clusters[0]?.cluster ?? {};
    t.same(Object.keys(cluster).sort(), ['certificate-authority-data', 'server'], 'no insecure-skip-tls-verify');
    t.equal(Buffer.from(String(cluster['certificate-authority-data']), 'base64').toString('utf8'), stub.caPem);

    const ca = new X509Certificate(stub.caPem);
    t.ok(ca.ca, 'caPem is a CA certificate');
    // The certificate the server presents: signed by that CA, for loopback and the in-cluster names.
    const served = await new Promise<X509Certificate>((resolve, reject) => {
      const options = { ca: stub.caPem, timeout: 10_000, headers: { Authorization: `Bearer ${stub.token}` } };
      const req = request(`${stub.url}/api/v1/namespaces/ns/secrets/s`, options, (res) => {
        const peer = (res.socket as TLSSocket).getPeerX509Certificate();
        res.resume();
        if (peer === undefined) reject(new Error('no peer certificate'));
        else resolve(peer);
      });
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', reject);
      req.end();
    });
    t.ok(served.verify(ca.publicKey), 'the serving certificate is signed by caPem');
    t.notOk(served.ca, 'the serving certificate is not itself a CA');
    t.equal(served.checkIP('127.0.0.1'), '127.0.0.1');
    t.equal(served.checkHost('kubernetes.default.svc'), 'kubernetes.default.svc');

    const untrusted = await failure(get(stub, '/api/v1/namespaces/ns/secrets/s', { tls: {} }));
    t.match(untrusted?.code, /^(UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN)$/, 'the system CAs do not trust it');
    const wrongName = await failure(get(stub, '/api/v1/namespaces/ns/secrets/s', { tls: { ca: stub.caPem, servername: 'example.com' } }));
    t.equal(wrongName?.code, 'ERR_TLS_CERT_ALTNAME_INVALID', 'a name the certificate does not hold is refused');

    const other = await startStubApiServer();
    t.teardown(() => other.close());
    t.not(other.caPem, stub.caPem, 'every stub has its own CA');
    const crossed = await failure(get(stub, '/api/v1/namespaces/ns/secrets/s', { tls: { ca: other.caPem } }));
    t.match(crossed?.code, /^(UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN)$/, "another stub's CA does not trust it");

    // Plain HTTP to the TLS port gets no API answer.
    const plain = await new Promise<number | Error>((resolve) => {
      const req = httpRequest(`${stub.url.replace(/^https:/, 'http:')}/api/v1/namespaces/ns/secrets/s`, { timeout: 10_000 }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', resolve);
      req.end();
    });
    t.not(plain, 200, 'plain HTTP is not served');
    t.same(
      stub.requests.map((r) => r.path),
      ['/api/v1/namespaces/ns/secrets/s'],
      'only the verified request reached the API: clients that refused the certificate sent nothing',
    );
  }),
);

t.test('failWith fails exactly the next N requests with matching Status bodies', (t) =>
  withStub(t, async (stub) => {
    stub.addSecret('ns', 's', { k: 'v' });
    stub.failWith(500);
    stub.failWith(503, 2);
    stub.failWith(429);
    const path = '/api/v1/namespaces/ns/secrets/s';
    const got = [];
    for (let i = 0; i < 5; i++) got.push(await get(stub, path));
    t.same(
      got.map((r) => [r.status, r.json['reason'], r.json['code']]),
      [
        [500, 'InternalError', 500],
        [503, 'ServiceUnavailable', 503],
        [503, 'ServiceUnavailable', 503],
        [429, 'TooManyRequests', 429],
        [200, undefined, undefined],
      ],
    );
    t.throws(() => stub.failWith(200), RangeError);
    t.throws(() => stub.failWith(500, 0), RangeError);
  }),
);

t.test('close() is prompt with a delayed request pending, and removes the kubeconfig', async (t) => {
  const stub = await startStubApiServer();
  stub.addSecret('ns', 's', { k: 'v' });
  stub.delayMs = 60_000;
  const pending = get(stub, '/api/v1/namespaces/ns/secrets/s').then(
    () => 'answered',
    () => 'failed',
  );
  // Wait until the request has reached the server.
  for (let i = 0; i < 200 && stub.requests.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
  t.equal(stub.requests.length, 1);
  const started = Date.now();
  await stub.close();
  t.ok(Date.now() - started < 1000, 'close did not wait for the delay');
  t.equal(await pending, 'failed', 'the pending request was cut off');
  t.notOk(existsSync(stub.kubeconfigPath), 'kubeconfig removed');
  await stub.close(); // idempotent
});

t.test('delayMs delays responses', (t) =>
  withStub(t, async (stub) => {
    stub.addSecret('ns', 's', { k: 'v' });
    stub.delayMs = 150;
    const started = Date.now();
    t.equal((await get(stub, '/api/v1/namespaces/ns/secrets/s')).status, 200);
    t.ok(Date.now() - started >= 140, 'response came after the delay');
  }),
);
