/**
 * Bearer tokens: fetched only from a realm as safe as the registry (no plain-http realm for
 * an https registry), kept at most a day whatever the token server says, and reused only
 * with the very credential that earned them (a Secret whose password changed does not go on
 * reading with the old password's token).
 */
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { parseImageReference } from '../../src/core/image-reference.js';
import { createRegistryClient, RegistryError } from '../../src/registry/client.js';
import { startFaultyRegistry } from '../helpers/faulty-registry.js';
import { makeLoopbackCertificates } from '../helpers/certs.js';

const DIGEST = `sha256:${'c'.repeat(64)}`;

async function listen(server: ReturnType<typeof createHttpServer> | ReturnType<typeof createHttpsServer>): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

t.test('an https registry whose token realm is plain http is refused; the realm is not contacted', async (t) => {
  const realmRequests: string[] = [];
  const realm = createHttpServer((req, res) => {
    realmRequests.push(req.url ?? '');
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ token: 'plain-token', expires_in: 300 }));
  });
  const realmHost = await listen(realm);
  const certificates = await makeLoopbackCertificates();
  const registry = createHttpsServer({ cert: certificates.cert, key: certificates.key }, (_req, res) => {
    res.writeHead(401, { 'www-authenticate': `Bearer realm="http://${realmHost}/token",service="reg"` });
    res.end();
  });
  const registryHost = await listen(registry);
  t.teardown(() => {
    realm.close();
    registry.close();
  });
  // Both hosts named by the operator (loopback), so that only the realm rule can refuse.
  const client = createRegistryClient({ timeoutMs: 3_000, ca: certificates.caCert, skipVerify: false, insecureRegistries: [], allowedRegistries: [registryHost, realmHost] });
  const err = await client.resolveTag(parseImageReference(`${registryHost}/team/app:v1`), []).catch((e: unknown) => e);
  t.type(err, RegistryError);
  t.match(err, { kind: 'refused' });
  t.match((err as Error).message, `the registry's token realm ${realmHost} is plain http, which only registries in --insecure-registries may use`);
  t.same(realmRequests, []);
});

t.test("a cached token is not reused once the Secret's password changed", async (t) => {
  const server = await startFaultyRegistry({ bearerAuth: { username: 'puller', password: 'right-pw-5f2a', anonymousStatus: 404 } });
  t.teardown(() => server.close());
  const client = createRegistryClient({ timeoutMs: 3_000, skipVerify: false, insecureRegistries: [server.host] });
  const image = parseImageReference(`${server.host}/${server.repo}:${server.tag}`);
  const id = 'Secret team/pull';
  t.equal(await client.resolveTag(image, [{ id, username: 'puller', password: 'right-pw-5f2a' }]), server.manifestDigest());
  const changed = await client.resolveTag(image, [{ id, username: 'puller', password: 'wrong-pw-0000' }]).catch((e: unknown) => e);
  t.type(changed, RegistryError, 'the old password\'s token is not sent for the new one');
  t.equal(await client.resolveTag(image, [{ id, username: 'puller', password: 'right-pw-5f2a' }]), server.manifestDigest(), 'the right one still reads');
});

t.test('a token is kept at most a day, whatever expires_in the token server gives', async (t) => {
  let tokens = 0;
  const registry = createHttpServer((req: IncomingMessage, res: ServerResponse) => {
    const host = req.headers.host ?? '';
    if (req.url?.startsWith('/token') === true) {
      tokens++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ token: `token-${tokens}`, expires_in: 30 * 24 * 3600 }));
      return;
    }
    if (req.headers.authorization?.startsWith('Bearer token-') !== true) {
      res.writeHead(401, { 'www-authenticate': `Bearer realm="http://${host}/token",service="reg"` });
      res.end();
      return;
    }
    res.writeHead(200, { 'docker-content-digest': DIGEST, 'content-type': 'application/vnd.oci.image.manifest.v1+json' });
    res.end();
  });
  const host = await listen(registry);
  const realNow = Date.now;
  t.teardown(() => {
    Date.now = realNow;
    registry.close();
  });
  const client = createRegistryClient({ timeoutMs: 3_000, skipVerify: false, insecureRegistries: [host] });
  const image = parseImageReference(`${host}/team/app:v1`);
  t.equal(await client.resolveTag(image, []), DIGEST);
  Date.now = () => realNow() + 23 * 3600 * 1000;
  t.equal(await client.resolveTag(image, []), DIGEST);
  t.equal(tokens, 1, 'reused within the day');
  Date.now = () => realNow() + 25 * 3600 * 1000;
  t.equal(await client.resolveTag(image, []), DIGEST);
  t.equal(tokens, 2, 'fetched again after a day');
});
