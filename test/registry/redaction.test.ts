/**
 * Registries that echo credentials in their error bodies (some quote the bearer token or
 * the user name): nothing the webhook holds or sent may reach a message, not even a
 * piece of it cut off at the end of a long message.
 */
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import type { Test } from 'tap';
import { parseImageReference } from '../../src/core/image-reference.js';
import { RegistryError, createRegistryClient } from '../../src/registry/client.js';
import { makeLoopbackCertificates } from '../helpers/certs.js';

const USER = 'robot$team-puller';
const PASSWORD = 'Pa55-w0rd-of-the-robot';
const TOKEN = `tok.${'Zq9'.repeat(40)}.sig`;
const BASIC = Buffer.from(`${USER}:${PASSWORD}`).toString('base64');

/** A registry whose every answer to an authorized request is an error (404, or 500) quoting what it received. */
async function echoingRegistry(mode: 'bearer' | 'basic', padding = 0): Promise<{ host: string; close: () => Promise<void> }> {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const authorization = req.headers.authorization;
    const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    if (req.url?.startsWith('/token')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ token: TOKEN, expires_in: 300 }));
      return;
    }
    if (authorization === undefined) {
      const challenge = mode === 'bearer' ? `Bearer realm="http://${host}/token",service="echo",scope="repository:team/app:pull"` : 'Basic realm="echo"';
      res.writeHead(401, { 'www-authenticate': challenge, 'content-type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }));
      return;
    }
    res.writeHead(padding > 0 ? 500 : 404, { 'content-type': 'application/json' });
    const bare = authorization.replace(/^\S+ /, '');
    const message = `${'x'.repeat(padding)}user ${USER} (password ${PASSWORD}) sent "${bare}": no such manifest`;
    res.end(JSON.stringify({ errors: [{ code: 'MANIFEST_UNKNOWN', message }] }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { host, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

async function failure(mode: 'bearer' | 'basic', padding = 0): Promise<string> {
  const registry = await echoingRegistry(mode, padding);
  t.teardown(registry.close);
  const client = createRegistryClient({ timeoutMs: 5_000, skipVerify: false, insecureRegistries: [registry.host] });
  // A manifest GET (a HEAD has no body to echo).
  const digest = `sha256:${'a'.repeat(64)}`;
  const error = await client
    .imageConfig(parseImageReference(`${registry.host}/team/app:1`), digest, { os: 'linux', architecture: 'amd64' }, [{ id: 'Secret team-a/robot', username: USER, password: PASSWORD }])
    .catch((e: unknown) => e);
  t.type(error, RegistryError);
  return (error as Error).message;
}

function assertClean(t: Tap, message: string): void {
  for (const [what, secret] of [['token', TOKEN], ['user name', USER], ['password', PASSWORD], ['Basic value', BASIC]] as const) {
    t.notOk(message.includes(secret), `no ${what} in: ${message.slice(0, 120)}…`);
  }
  for (const piece of [TOKEN.slice(0, 24), TOKEN.slice(-24), BASIC.slice(0, 16)]) t.notOk(message.includes(piece), 'no piece of a secret either');
}

type Tap = Test;

t.test('a bearer token and the user name echoed by the registry are redacted', async (t) => {
  const message = await failure('bearer');
  assertClean(t, message);
  t.match(message, /not found \(HTTP 404\): user \[redacted\] \(password \[redacted\]\) sent "\[redacted\]": no such manifest/);
});

t.test('a Basic value echoed by the registry is redacted', async (t) => {
  const message = await failure('basic');
  assertClean(t, message);
  t.match(message, /not found \(HTTP 404\): user \[redacted\] \(password \[redacted\]\) sent "\[redacted\]"/);
});

t.test('a long error body is redacted before it is cut short', async (t) => {
  // The token starts right where a 200-character cut used to fall.
  for (const padding of [130, 150, 170, 520, 560]) {
    const message = await failure('bearer', padding);
    assertClean(t, message);
    t.match(message, /registry server error \(HTTP 500\)/);
  }
});

/** A Basic registry whose error quotes the user name and password it received: as sent (UTF-8), or with `?` for each non-ASCII character. */
async function quotingRegistry(t: Tap, form: 'as sent' | 'made ASCII'): Promise<string> {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const authorization = req.headers.authorization;
    if (authorization === undefined) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="quote"' });
      res.end();
      return;
    }
    const decoded = Buffer.from(authorization.replace(/^Basic /, ''), 'base64').toString('utf8');
    const [user = '', password = ''] = (form === 'as sent' ? decoded : decoded.replace(/[^\x20-\x7e]/g, '?')).split(':');
    res.writeHead(400, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ errors: [{ code: 'DENIED', message: `user ${user} with password ${password} may not read this repository` }] }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  const client = createRegistryClient({ timeoutMs: 5_000, skipVerify: false, insecureRegistries: [host] });
  const error = await client
    .imageConfig(parseImageReference(`${host}/team/app:1`), `sha256:${'a'.repeat(64)}`, { os: 'linux', architecture: 'amd64' }, [
      { id: 'Secret team-a/robot', username: 'jürgen-robot', password: 'Grüße-Geheimnis-42' },
    ])
    .catch((e: unknown) => e);
  t.type(error, RegistryError);
  return (error as Error).message;
}

t.test('a non-ASCII password or user name quoted by the registry is redacted, as sent or made ASCII', async (t) => {
  for (const form of ['as sent', 'made ASCII'] as const) {
    const message = await quotingRegistry(t, form);
    for (const secret of ['Grüße-Geheimnis-42', 'Gr??e-Geheimnis-42', 'Geheimnis', 'jürgen-robot', 'j?rgen-robot']) {
      t.notOk(message.includes(secret), `${form}: no ${JSON.stringify(secret)} in: ${message}`);
    }
    t.match(message, /unexpected HTTP status 400 for manifest: user \[redacted\] with password \[redacted\] may not read this repository$/, form);
  }
});

t.test('a manifest that is not JSON is not quoted: it may echo what the registry was sent', async (t) => {
  // The same body for the same credentials: its digest holds when it is fetched by it.
  const body = `${USER}:${PASSWORD} was sent`;
  const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.headers.authorization === undefined) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="echo"' });
      res.end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'docker-content-digest': digest });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  const client = createRegistryClient({ timeoutMs: 5_000, skipVerify: false, insecureRegistries: [host] });
  const error = await client
    .imageConfig(parseImageReference(`${host}/team/app:1`), digest, { os: 'linux', architecture: 'amd64' }, [{ id: 'Secret team-a/robot', username: USER, password: PASSWORD }])
    .catch((e: unknown) => e);
  t.type(error, RegistryError);
  const message = (error as Error).message;
  t.match(message, /the manifest is not valid JSON/);
  for (const piece of [USER.slice(0, 8), PASSWORD.slice(0, 8)]) t.notOk(message.includes(piece), `no piece of a credential in: ${message}`);
});

t.test('registry text that reaches a message unquoted (a token realm) is redacted before the message is cut short', async (t) => {
  // A password that may stand in a host name, put by the registry into its realm so that it
  // starts 5 characters before the 600-character cut of a message's cause.
  const password = 'pw-7c1e9a3b5d';
  const realmHost = `${'a'.repeat(567)}.${password}.example`;
  const certificates = await makeLoopbackCertificates();
  const server = createHttpsServer({ cert: certificates.cert, key: certificates.key }, (_req, res) => {
    res.writeHead(401, { 'www-authenticate': `Bearer realm="http://${realmHost}/token",service="echo"` });
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  const client = createRegistryClient({ timeoutMs: 5_000, ca: certificates.caCert, skipVerify: false, insecureRegistries: [], allowedRegistries: [host] });
  const error = await client.resolveTag(parseImageReference(`${host}/team/app:1`), [{ id: 'Secret team-a/robot', username: 'robot', password }]).catch((e: unknown) => e);
  t.type(error, RegistryError);
  const message = (error as Error).message;
  t.match(message, /token realm a+\.\[reda/, 'the password redacted (where the cut falls)');
  t.notOk(message.includes(password.slice(0, 5)), `no piece of the password in: …${message.slice(-60)}`);
});
