/**
 * An API server (or a proxy in front of it, or an admission webhook denying a write) whose
 * error answers quote the request: its Authorization header and its body. The webhook's own
 * token, a Basic password of the kubeconfig, and the TLS key the certificate bootstrap
 * writes must reach no message (a denial goes to whoever creates the pod).
 */
import { createServer } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import type { Test } from 'tap';
import { KubeConfig } from '@kubernetes/client-node';
import { createKubeObjectReader } from '../../src/kubernetes/api-reader.js';
import { createClusterScanner } from '../../src/kubernetes/cluster-scan.js';
import { createBootstrapApi } from '../../src/bootstrap/api.js';
import { makeLoopbackCertificates } from '../helpers/certs.js';

const TOKEN = 'CANARY-7f3a-api-token-Zq9xWv';
const PASSWORD = 'CANARY-7f3a-basic-password';
const KEY_MARKER = 'CANARY7f3aKEYBODY';

type Echo = (authorization: string, body: string) => { status: number; body: string };

/** What the server quotes, in the shapes a Status message or a proxy's page takes. */
const ECHOES: Record<string, Echo> = {
  'a Status quoting the header': (authorization) => status(500, `request with Authorization: ${authorization} failed`),
  'a Status quoting the token alone': (authorization) => status(403, `token ${authorization.replace(/^\S+ /, '')} may not do this`),
  'a Status quoting the request body': (_, body) => status(422, `admission webhook "policy.example.com" denied the request: ${body}`),
  'a Status quoting the body JSON-escaped': (_, body) => status(422, `denied: ${JSON.stringify(body)}`),
  'a proxy page quoting the header': (authorization) => ({ status: 502, body: `bad gateway (upstream saw authorization=${authorization})` }),
  'a Status whose quote is past the cut': (authorization, body) => status(500, `${'x'.repeat(480)} ${authorization} ${body}`),
};

function status(code: number, message: string): { status: number; body: string } {
  return { status: code, body: JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', message, reason: 'Whatever', code }) };
}

async function echoingServer(t: Test, echo: Echo): Promise<{ url: string; caData: string }> {
  const certs = await makeLoopbackCertificates();
  const server = createServer({ cert: certs.cert, key: certs.key }, (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const answer = echo(req.headers.authorization ?? '', Buffer.concat(chunks).toString('utf8'));
      res.writeHead(answer.status, { 'content-type': 'application/json' });
      res.end(answer.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`, caData: Buffer.from(certs.caCert).toString('base64') };
}

function kubeConfigFor(server: { url: string; caData: string }, user: { token: string } | { username: string; password: string }): KubeConfig {
  const config = new KubeConfig();
  config.loadFromOptions({
    clusters: [{ name: 'c', server: server.url, caData: server.caData, skipTLSVerify: false }],
    users: [{ name: 'u', ...user }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return config;
}

function assertClean(t: Test, what: string, message: string, secrets: readonly string[]): void {
  for (const secret of secrets) {
    t.notOk(message.includes(secret), `${what}: no ${secret.slice(0, 24)}… in: ${message.slice(0, 200)}`);
    // Nor a piece of one cut off at the end of the message.
    t.notOk(message.includes(secret.slice(0, 12)), `${what}: no piece of a secret`);
  }
  t.notOk(message.includes('CANARY'), `${what}: no canary at all in: ${message.slice(0, 200)}`);
}

const TLS_KEY = `-----BEGIN PRIVATE KEY-----\n${KEY_MARKER}${'A'.repeat(47)}\n${'B'.repeat(64)}\n-----END PRIVATE KEY-----\n`;
const USERS = [
  ['a bearer token', { token: TOKEN }, [TOKEN]],
  ['a Basic user', { username: 'admin', password: PASSWORD }, [PASSWORD, Buffer.from(`admin:${PASSWORD}`).toString('base64')]],
] as const;

for (const [shape, echo] of Object.entries(ECHOES)) {
  t.test(`${shape}: the webhook's reads and the offline commands' reads`, async (t) => {
    const server = await echoingServer(t, echo);
    for (const [who, user, secrets] of USERS) {
      const config = kubeConfigFor(server, user);
      const reader = createKubeObjectReader(config, { timeoutMs: 5_000 });
      for (const read of [
        () => reader.read({ kind: 'Secret', namespace: 'ns', name: 's' }),
        () => reader.read({ kind: 'ConfigMap', namespace: 'ns', name: 'c' }),
        () => reader.readServiceAccount('ns', 'default'),
      ]) {
        const error = await read().then(() => undefined, (e: unknown) => e);
        t.type(error, Error, `${who}: the read fails`);
        assertClean(t, who, (error as Error).message, secrets);
      }
      const scanner = createClusterScanner(config, 5_000);
      for (const scan of [() => scanner.namespaces(10), () => scanner.namespace('ns'), () => scanner.webhookConfiguration('w'), () => scanner.pods('ns', 10).next()]) {
        const error = await scan().then(() => undefined, (e: unknown) => e);
        t.type(error, Error, `${who}: the list fails`);
        assertClean(t, who, (error as Error).message, secrets);
      }
    }
  });

  t.test(`${shape}: the certificate bootstrap's reads and writes`, async (t) => {
    const server = await echoingServer(t, echo);
    for (const [who, user, secrets] of USERS) {
      const api = createBootstrapApi(kubeConfigFor(server, user), { timeoutMs: 5_000, signal: new AbortController().signal });
      const secret = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'tls', namespace: 'ns' }, type: 'kubernetes.io/tls', data: { 'tls.key': Buffer.from(TLS_KEY).toString('base64'), 'tls.crt': 'Y2VydA==' } };
      const keyPieces = [KEY_MARKER, Buffer.from(TLS_KEY).toString('base64').slice(0, 40)];
      for (const call of [
        () => api.readSecret('ns', 'tls'),
        () => api.createSecret('ns', secret),
        () => api.replaceSecret('ns', 'tls', secret),
        () => api.readWebhookConfiguration('w'),
        () => api.patchWebhookConfiguration('w', [{ op: 'add', path: '/webhooks/0/clientConfig/caBundle', value: 'Y2E=' }]),
      ]) {
        const error = await call().then(() => undefined, (e: unknown) => e);
        t.type(error, Error, `${who}: the call fails`);
        assertClean(t, who, (error as Error).message, [...secrets, ...keyPieces]);
      }
    }
  });
}
