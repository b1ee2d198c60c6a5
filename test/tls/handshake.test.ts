import { once } from 'node:events';
import { createServer, request, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { connect, type ConnectionOptions } from 'node:tls';
import t from 'tap';
import { generateCertificates, type GeneratedCertificates } from '../../src/tls/generate.js';
import { loadTlsMaterial } from '../../src/tls/material.js';
import { makeTestCertificates, TEST_NAMESPACE, TEST_SERVICE, type TestKeyFormat } from '../helpers/certs.js';

/** The type of a subtest's `t` (tap does not export it with its plugins applied). */
type Tap = NonNullable<ReturnType<typeof t.test>['subtest']>;

async function startServer(t: Tap, cert: string, key: string): Promise<number> {
  const server: Server = createServer({ cert, key }, (_req, res) => {
    res.end('ok');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return (server.address() as AddressInfo).port;
}

interface HandshakeResult {
  authorized: boolean;
  peerCN?: string;
  errorCode?: string;
}

/** One TLS handshake against 127.0.0.1:port with rejectUnauthorized; resolves with the outcome. */
function handshake(port: number, options: ConnectionOptions): Promise<HandshakeResult> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, rejectUnauthorized: true, ...options });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('TLS handshake timed out'));
    }, 10_000);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      const cn = socket.getPeerCertificate().subject?.CN;
      const result: HandshakeResult = { authorized: socket.authorized };
      if (typeof cn === 'string') result.peerCN = cn;
      socket.end();
      resolve(result);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ authorized: false, errorCode: err.code ?? err.message });
    });
  });
}

function httpsGet(port: number, ca: string, servername: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', ca, servername, agent: false, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve(body));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end();
  });
}

for (const keyType of ['rsa', 'ec'] as const) {
  t.test(`real handshake with generated ${keyType} certificates`, async (t) => {
    const certs: GeneratedCertificates = await generateCertificates({
      service: 'webhook',
      namespace: 'secrets',
      hosts: ['localhost', '127.0.0.1'],
      days: 1,
      keyType,
    });
    const other = await generateCertificates({
      service: 'webhook',
      namespace: 'secrets',
      hosts: ['localhost', '127.0.0.1'],
      days: 1,
      keyType: 'ec',
    });
    const port = await startServer(t, certs.cert, certs.key);
    const ca = certs.caCert;

    t.same(await handshake(port, { ca }), { authorized: true, peerCN: 'webhook.secrets.svc' }, 'IP SAN 127.0.0.1');
    for (const servername of [
      'localhost',
      'webhook',
      'webhook.secrets',
      'webhook.secrets.svc',
      'webhook.secrets.svc.cluster.local',
    ]) {
      t.same(await handshake(port, { ca, servername }), { authorized: true, peerCN: 'webhook.secrets.svc' }, servername);
    }

    const noCa = await handshake(port, { servername: 'localhost' });
    t.equal(noCa.authorized, false);
    t.equal(noCa.errorCode, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'untrusted without the CA');

    const wrongCa = await handshake(port, { ca: other.caCert, servername: 'localhost' });
    t.equal(wrongCa.authorized, false);
    t.equal(wrongCa.errorCode, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', "untrusted with another install's CA");

    const bundle = await handshake(port, { ca: [other.caCert, ca], servername: 'localhost' });
    t.same(bundle, { authorized: true, peerCN: 'webhook.secrets.svc' }, 'trusted via a bundle holding two CAs for the same service');

    const leafAsCa = await handshake(port, { ca: certs.cert, servername: 'localhost' });
    t.equal(leafAsCa.authorized, false, 'the leaf itself is not a usable trust anchor for itself');

    const evil = await handshake(port, { ca, servername: 'evil.example' });
    t.equal(evil.authorized, false);
    t.equal(evil.errorCode, 'ERR_TLS_CERT_ALTNAME_INVALID', 'hostname check fails');

    const otherNs = await handshake(port, { ca, servername: 'webhook.other.svc' });
    t.equal(otherNs.errorCode, 'ERR_TLS_CERT_ALTNAME_INVALID', 'other namespace does not match');

    t.equal(await httpsGet(port, ca, 'webhook.secrets.svc'), 'ok', 'HTTPS request round-trip');
  });
}

for (const format of ['rsa-pkcs1', 'rsa-pkcs8', 'ec-pkcs8'] as const satisfies readonly TestKeyFormat[]) {
  t.test(`test helper (${format}) + loadTlsMaterial serve a verifiable certificate`, async (t) => {
    const files = await makeTestCertificates(format);
    t.teardown(files.cleanup);
    const material = await loadTlsMaterial(files.certFile, files.keyFile);
    const port = await startServer(t, material.cert, material.key);
    for (const servername of [undefined, 'localhost', `${TEST_SERVICE}.${TEST_NAMESPACE}.svc`]) {
      const options: ConnectionOptions = servername === undefined ? { ca: files.caPem } : { ca: files.caPem, servername };
      const result = await handshake(port, options);
      t.equal(result.authorized, true, `servername ${servername ?? '(none, IP)'}`);
    }
    t.equal((await handshake(port, { ca: files.caPem, servername: 'evil.example' })).errorCode, 'ERR_TLS_CERT_ALTNAME_INVALID');
  });
}
