// The Kubernetes client's TLS path through the project's reader, against the HTTPS stub API server:
// trusting the cluster CA from a kubeconfig (inline or as a file), a CA that does not match, and the
// in-cluster login from a service account directory (token, ca.crt, namespace).
import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import type { Test } from 'tap';
import type { KubeConfig } from '@kubernetes/client-node';
import { LookupError, createKubeObjectReader, loadKubeConfig } from '../../src/kubernetes/object-reader.js';
import type { KubeObjectReader } from '../../src/kubernetes/object-reader.js';
import { makeLoopbackCertificates } from '../helpers/certs.js';
import { startStubApiServer } from '../helpers/stub-apiserver.js';
import type { StubApiServer } from '../helpers/stub-apiserver.js';

const TIMEOUT_MS = 5000;
const SECRET_VALUE = 'tls-test-secret-value';

// With NODE_TLS_REJECT_UNAUTHORIZED=0, Node skips certificate verification for every client that does
// not set rejectUnauthorized itself (client-node only sets it for insecure-skip-tls-verify).
t.not(process.env['NODE_TLS_REJECT_UNAUTHORIZED'], '0', 'certificate verification is not disabled for this process');

async function stubWithSecret(t: Test): Promise<StubApiServer> {
  const stub = await startStubApiServer();
  t.teardown(() => stub.close());
  stub.addSecret('ns', 's', { k: SECRET_VALUE });
  stub.addServiceAccount('ns', 'sa', ['pull']);
  return stub;
}

function readerFor(config: KubeConfig | undefined): KubeObjectReader {
  if (config === undefined) throw new Error('no Kubernetes configuration was found');
  return createKubeObjectReader(config, { timeoutMs: TIMEOUT_MS });
}

async function secretValue(reader: KubeObjectReader): Promise<string | undefined> {
  const lookup = await reader.read({ kind: 'Secret', namespace: 'ns', name: 's' });
  return lookup.found ? lookup.data.get('k') : undefined;
}

/** A kubeconfig file for `cluster` (its server and TLS settings) with a bearer-token user. */
function kubeconfig(t: Test, cluster: Record<string, unknown>, token: string, extraFiles: Record<string, string> = {}): string {
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'c', cluster }],
    users: [{ name: 'u', user: { token } }],
    contexts: [{ name: 'ctx', context: { cluster: 'c', user: 'u' } }],
    'current-context': 'ctx',
  };
  const dir = t.testdir({ ...extraFiles, kubeconfig: JSON.stringify(config) });
  return join(dir, 'kubeconfig');
}

/** A reader through a kubeconfig for `cluster`, with the stub's token. */
function readerForCluster(
  t: Test,
  stub: StubApiServer,
  cluster: Record<string, unknown>,
  files: Record<string, string> = {},
): KubeObjectReader {
  return readerFor(loadKubeConfig({ KUBECONFIG: kubeconfig(t, cluster, stub.token, files) }));
}

function base64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}

/**
 * The read fails promptly with a LookupError about the server's certificate, and nothing reached
 * the API server: a client that does not trust the server must not send it the bearer token.
 */
async function expectCertificateFailure(t: Test, stub: StubApiServer, reader: KubeObjectReader, problem: RegExp): Promise<void> {
  const before = stub.requests.length;
  const started = Date.now();
  let error: unknown;
  try {
    await reader.read({ kind: 'Secret', namespace: 'ns', name: 's' });
  } catch (caught) {
    error = caught;
  }
  t.ok(error instanceof LookupError, `rejects with a LookupError (got ${String(error)})`);
  if (!(error instanceof LookupError)) return;
  t.equal(error.cause, 'unreachable', 'cause');
  const certificateProblem = /^cannot read Secret ns\/s: API server certificate not trusted \(.*\): check the certificate-authority of the kubeconfig, or the service account's ca\.crt$/;
  t.match(error.message, certificateProblem, 'names the object and a certificate problem');
  t.match(error.message, problem, 'the specific certificate problem');
  t.equal(error.httpStatus, undefined, 'no HTTP status: there was no HTTP exchange');
  t.notOk(error.message.includes(stub.token), 'the token is not in the message');
  t.ok(Date.now() - started < TIMEOUT_MS, 'failed at the handshake, not by the timeout');
  t.equal(stub.requests.length, before, 'no request reached the API server');
}

const UNTRUSTED = /unable to verify the first certificate/;

t.test("a kubeconfig with the stub's CA inline reads over verified TLS, with the bearer token", async (t) => {
  const stub = await stubWithSecret(t);
  const config = loadKubeConfig({ KUBECONFIG: stub.kubeconfigPath });
  const cluster = config?.getCurrentCluster();
  t.equal(cluster?.server, stub.url);
  t.match(stub.url, /^https:\/\//);
  t.equal(cluster?.skipTLSVerify, false, 'TLS verification is on');
  t.equal(Buffer.from(cluster?.caData ?? '', 'base64').toString('utf8'), stub.caPem, 'the CA comes from certificate-authority-data');

  const reader = readerFor(config);
  t.equal(await secretValue(reader), SECRET_VALUE);
  t.same(await reader.read({ kind: 'Secret', namespace: 'ns', name: 'missing' }), { found: false }, 'a 404 over TLS is not found');
  t.same(await reader.readServiceAccount('ns', 'sa'), { found: true, imagePullSecrets: ['pull'] });
  t.same(
    stub.requests.map((r) => [r.method, r.path, r.authorization]),
    [
      ['GET', '/api/v1/namespaces/ns/secrets/s', `Bearer ${stub.token}`],
      ['GET', '/api/v1/namespaces/ns/secrets/missing', `Bearer ${stub.token}`],
      ['GET', '/api/v1/namespaces/ns/serviceaccounts/sa', `Bearer ${stub.token}`],
    ],
  );
});

t.test('certificate-authority as a file relative to the kubeconfig, and tls-server-name', async (t) => {
  const stub = await stubWithSecret(t);
  const path = kubeconfig(
    t,
    { server: stub.url, 'certificate-authority': 'cluster-ca.pem', 'tls-server-name': 'kubernetes.default.svc' },
    stub.token,
    { 'cluster-ca.pem': stub.caPem },
  );
  const config = loadKubeConfig({}, { kubeconfigPath: path });
  t.equal(config?.getCurrentCluster()?.caFile, join(path, '..', 'cluster-ca.pem'), 'resolved next to the kubeconfig');
  t.equal(await secretValue(readerFor(config)), SECRET_VALUE, 'the certificate is valid for the in-cluster service name');
  t.equal(stub.requests.length, 1);
});

t.test('a kubeconfig whose CA did not sign the server certificate: a certificate lookup error, no token sent', async (t) => {
  const stub = await stubWithSecret(t);
  const other = await makeLoopbackCertificates({ service: 'kubernetes', namespace: 'default' });
  t.not(other.caCert, stub.caPem);

  const server = stub.url;

  await t.test('another test CA', (t) =>
    expectCertificateFailure(t, stub, readerForCluster(t, stub, { server, 'certificate-authority-data': base64(other.caCert) }), UNTRUSTED),
  );
  await t.test('another test CA, as a file', (t) => {
    const reader = readerForCluster(t, stub, { server, 'certificate-authority': 'ca.pem' }, { 'ca.pem': other.caCert });
    return expectCertificateFailure(t, stub, reader, UNTRUSTED);
  });
  await t.test("no CA: the system's trusted CAs do not include a cluster CA", (t) =>
    expectCertificateFailure(t, stub, readerForCluster(t, stub, { server }), UNTRUSTED),
  );
  await t.test('the right CA, but a tls-server-name the certificate does not hold', (t) => {
    const cluster = { server, 'certificate-authority-data': base64(stub.caPem), 'tls-server-name': 'other.example' };
    return expectCertificateFailure(t, stub, readerForCluster(t, stub, cluster), /does not match certificate's altnames/);
  });

  // The control: the same server, token and client, with the right CA.
  const right = readerForCluster(t, stub, { server, 'certificate-authority-data': base64(stub.caPem) });
  t.equal(await secretValue(right), SECRET_VALUE, 'with the right CA the same read succeeds');
  t.equal(stub.requests.length, 1, 'only that read reached the API server');
});

/** A service account directory as the kubelet mounts it, and the in-cluster environment pointing at the stub. */
function inCluster(t: Test, stub: StubApiServer, files: { token: string; 'ca.crt'?: string; namespace?: string }) {
  const root = t.testdir({ serviceaccount: files, home: {} });
  const { hostname, port } = new URL(stub.url);
  return {
    serviceAccountDir: join(root, 'serviceaccount'),
    env: { KUBERNETES_SERVICE_HOST: hostname, KUBERNETES_SERVICE_PORT: port, HOME: join(root, 'home') },
  };
}

t.test('in-cluster: the service account token and ca.crt log in to the API server over verified TLS', async (t) => {
  const stub = await stubWithSecret(t);
  const token = `service-account-token-${randomUUID()}`;
  // The stub accepts only the service account's token from now on, not the one in its kubeconfig.
  stub.token = token;
  const { serviceAccountDir, env } = inCluster(t, stub, { token, 'ca.crt': stub.caPem, namespace: 'secrets-init' });
  const config = loadKubeConfig(env, { serviceAccountDir });
  const cluster = config?.getCurrentCluster();
  t.equal(cluster?.server, stub.url, 'https://KUBERNETES_SERVICE_HOST:KUBERNETES_SERVICE_PORT');
  t.equal(cluster?.caFile, join(serviceAccountDir, 'ca.crt'));
  t.equal(cluster?.skipTLSVerify, false);

  const reader = readerFor(config);
  t.equal(await secretValue(reader), SECRET_VALUE);
  t.same(await reader.readServiceAccount('ns', 'sa'), { found: true, imagePullSecrets: ['pull'] });
  t.same(
    stub.requests.map((r) => r.authorization),
    [`Bearer ${token}`, `Bearer ${token}`],
    'the stub saw the bearer token from the token file',
  );
});

t.test('in-cluster: a token the API server does not accept is unauthorized, not a certificate problem', async (t) => {
  const stub = await stubWithSecret(t);
  const files = { token: 'revoked-token', 'ca.crt': stub.caPem, namespace: 'secrets-init' };
  const { serviceAccountDir, env } = inCluster(t, stub, files);
  const reader = readerFor(loadKubeConfig(env, { serviceAccountDir }));
  const error = await reader.read({ kind: 'Secret', namespace: 'ns', name: 's' }).then(
    () => undefined,
    (caught: unknown) => caught,
  );
  t.ok(error instanceof LookupError, 'rejects with a LookupError');
  t.match(error, { cause: 'unauthorized', httpStatus: 401, message: 'cannot read Secret ns/s: unauthorized (HTTP 401)' });
  t.same(
    stub.requests.map((r) => r.authorization),
    ['Bearer revoked-token'],
    'the TLS handshake succeeded and the token file was sent',
  );
});

t.test('in-cluster: a token file the client cannot send is a clear error that does not quote the token', async (t) => {
  const stub = await stubWithSecret(t);
  const token = `sa-token-${randomUUID()}`;
  // A stray newline inside makes the header illegal; the client's error quotes the header.
  const { serviceAccountDir, env } = inCluster(t, stub, { token: `${token}\nsecond-line`, 'ca.crt': stub.caPem, namespace: 'secrets-init' });
  const reader = readerFor(loadKubeConfig(env, { serviceAccountDir }));
  const error = await reader.read({ kind: 'Secret', namespace: 'ns', name: 's' }).then(() => undefined, (caught: unknown) => caught);
  t.ok(error instanceof LookupError, 'rejects with a LookupError');
  t.match(error, { cause: 'not-configured' });
  t.notOk((error as Error).message.includes(token), `the token is not in: ${(error as Error).message}`);
  t.notOk((error as Error).message.includes('second-line'), `nor its second line: ${(error as Error).message}`);
  t.match((error as Error).message, /Bearer \[redacted\] is not a legal HTTP header value/);
  t.same(stub.requests, [], 'nothing reached the API server');
});

t.test('in-cluster: a ca.crt of another CA, or none, fails with a certificate error before the token is sent', async (t) => {
  const stub = await stubWithSecret(t);
  const token = `service-account-token-${randomUUID()}`;
  stub.token = token;
  const other = await makeLoopbackCertificates({ service: 'kubernetes', namespace: 'default' });

  await t.test("another cluster's CA", async (t) => {
    const { serviceAccountDir, env } = inCluster(t, stub, { token, 'ca.crt': other.caCert, namespace: 'secrets-init' });
    await expectCertificateFailure(t, stub, readerFor(loadKubeConfig(env, { serviceAccountDir })), UNTRUSTED);
  });
  await t.test('no ca.crt: only the system CAs, which do not include the cluster CA', async (t) => {
    const { serviceAccountDir, env } = inCluster(t, stub, { token, namespace: 'secrets-init' });
    const config = loadKubeConfig(env, { serviceAccountDir });
    t.equal(config?.getCurrentCluster()?.caFile, undefined, 'no CA file configured');
    t.equal(config?.getCurrentCluster()?.skipTLSVerify, false, 'and still verified');
    await expectCertificateFailure(t, stub, readerFor(config), UNTRUSTED);
  });
  t.equal(stub.requests.length, 0, 'the token never reached the server');
});

t.test('a CA that does not parse is refused when the configuration is loaded, not on every read', async (t) => {
  const stub = await stubWithSecret(t);
  const junk = base64('-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n');
  const path = kubeconfig(t, { server: stub.url, 'certificate-authority-data': junk }, stub.token);
  t.throws(() => loadKubeConfig({ KUBECONFIG: path }), { name: 'KubeConfigError', message: /certificate-authority-data holds no valid PEM certificate/ });
  const { serviceAccountDir, env } = inCluster(t, stub, { token: 't', 'ca.crt': 'not a certificate', namespace: 'secrets-init' });
  t.throws(() => loadKubeConfig(env, { serviceAccountDir }), { name: 'KubeConfigError', message: /in-cluster service account .*: certificate-authority .*ca\.crt holds no valid PEM certificate/ });
});

t.test("a kubeconfig user's tokenFile (relative to the kubeconfig): its token is sent, trimmed, and read again when rotated", async (t) => {
  const stub = await stubWithSecret(t);
  const first = `projected-token-${randomUUID()}`;
  stub.token = first;
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'c', cluster: { server: stub.url, 'certificate-authority-data': base64(stub.caPem) } }],
    // tokenFile wins over token, as in client-go.
    users: [{ name: 'u', user: { tokenFile: 'token', token: 'stale-inline-token' } }],
    contexts: [{ name: 'ctx', context: { cluster: 'c', user: 'u' } }],
    'current-context': 'ctx',
  };
  // Written by `kubectl create token … > token`: with a trailing newline, which client-go trims.
  const dir = t.testdir({ kubeconfig: JSON.stringify(config), token: `${first}\n` });
  const reader = readerFor(loadKubeConfig({ KUBECONFIG: join(dir, 'kubeconfig') }));
  t.equal(await secretValue(reader), SECRET_VALUE);

  // The kubelet rotates a projected token; the old one works until it expires.
  const second = `projected-token-${randomUUID()}`;
  await writeFile(join(dir, 'token'), second);
  t.equal(await secretValue(reader), SECRET_VALUE, 'within a minute of the last read, the token read then is still sent');
  const now = performance.now.bind(performance);
  performance.now = () => now() + 61_000;
  t.teardown(() => {
    performance.now = now;
  });
  stub.token = second;
  t.equal(await secretValue(reader), SECRET_VALUE, 'a minute later the file is read again');
  t.same(
    stub.requests.map((r) => r.authorization),
    [`Bearer ${first}`, `Bearer ${first}`, `Bearer ${second}`],
  );
});
