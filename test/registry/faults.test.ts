/**
 * Registry faults, served by a small fake registry: timeouts, 5xx, 429, garbage, digest
 * mismatches, oversized bodies, 404, endless 401, and storage redirects.
 */
import { createServer } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import t from 'tap';
import { parseImageReference } from '../../src/core/image-reference.js';
import { createRegistryClient, RegistryError, type RegistryClientOptions } from '../../src/registry/client.js';
import { startFaultyRegistry, type FaultyRegistry, type FaultyRegistryOptions } from '../helpers/faulty-registry.js';

type Tap = NonNullable<ReturnType<typeof t.test>['subtest']>;

const linux = { os: 'linux', architecture: 'amd64' };
const SECRET = 'faulty-pw-6e1d0c9b';
const creds = [{ id: 'Secret ns/pull', username: 'puller', password: SECRET }];

async function fake(t: Tap, options: FaultyRegistryOptions = {}): Promise<FaultyRegistry> {
  const server = await startFaultyRegistry(options);
  t.teardown(() => server.close());
  return server;
}

function clientFor(server: FaultyRegistry, options: Partial<RegistryClientOptions> = {}) {
  return createRegistryClient({ timeoutMs: 2_000, skipVerify: false, insecureRegistries: [server.host], ...options });
}

const refOf = (server: FaultyRegistry) => parseImageReference(`${server.host}/${server.repo}:${server.tag}`);

/** Runs `call`, expects a RegistryError, checks the common message shape and that no secret leaks. */
async function expectError(t: Tap, server: FaultyRegistry, call: Promise<unknown>): Promise<RegistryError> {
  const err = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof RegistryError)) {
    t.fail(`expected a RegistryError, got ${String(err)}`);
    throw new Error('no RegistryError');
  }
  t.equal(err.registry, server.host);
  t.equal(err.image, `${server.host}/${server.repo}:${server.tag}`);
  t.ok(err.message.startsWith(`cannot read image "${server.host}/${server.repo}:${server.tag}" from registry ${server.host}: `), err.message);
  t.notOk(err.message.includes(SECRET), 'no password in the message');
  t.notOk(err.message.includes(Buffer.from(`puller:${SECRET}`).toString('base64')), 'no Basic value in the message');
  return err;
}

t.test('the fake registry serves a healthy image', async (t) => {
  const server = await fake(t, { entrypoint: ['/fake'], cmd: ['ok'] });
  const client = clientFor(server);
  const digest = await client.resolveTag(refOf(server), creds);
  t.equal(digest, server.manifestDigest());
  t.same(await client.imageConfig(refOf(server), digest, linux, creds), { manifestDigest: digest, entrypoint: ['/fake'], cmd: ['ok'] });
});

t.test('timeout: a slow registry fails within about timeoutMs', async (t) => {
  const server = await fake(t, { fault: { kind: 'slow', delayMs: 3_000 } });
  const client = clientFor(server, { timeoutMs: 300 });
  const started = Date.now();
  const err = await expectError(t, server, client.resolveTag(refOf(server), creds));
  const elapsed = Date.now() - started;
  t.match(err, { kind: 'timeout', transient: true });
  t.match(err.message, /timed out after 300 ms fetching the manifest/);
  t.ok(elapsed >= 280 && elapsed < 1_500, `failed after ${elapsed} ms`);
});

t.test('timeout: timeoutMs also bounds the whole call', async (t) => {
  // Each request takes 300 ms (< timeoutMs), but manifest + config blob take 600 ms in all.
  const server = await fake(t, { fault: { kind: 'slow', delayMs: 300 } });
  const client = clientFor(server, { timeoutMs: 450 });
  const digest = server.manifestDigest();
  const started = Date.now();
  const err = await expectError(t, server, client.imageConfig(refOf(server), digest, linux, creds));
  const elapsed = Date.now() - started;
  t.match(err, { kind: 'timeout' });
  t.ok(elapsed >= 400 && elapsed < 1_500, `failed after ${elapsed} ms (without the call bound it would succeed after ~600 ms)`);
});

t.test('HTTP 500 and 503', async (t) => {
  const server = await fake(t, { fault: { kind: 'status', status: 500 } });
  const client = clientFor(server);
  const err = await expectError(t, server, client.resolveTag(refOf(server), creds));
  t.match(err, { kind: 'server', status: 500, transient: true });
  t.match(err.message, /registry server error \(HTTP 500\)/);

  server.fault = { kind: 'status', status: 503 };
  server.target = 'blob';
  const blob = await expectError(t, server, client.imageConfig(refOf(server), server.manifestDigest(), linux, creds));
  t.match(blob, { kind: 'server', status: 503 });
  t.match(blob.message, /registry server error \(HTTP 503\): injected HTTP 503/);
});

t.test('HTTP 429 with Retry-After', async (t) => {
  const server = await fake(t, { fault: { kind: 'status', status: 429, retryAfter: 7 } });
  const client = clientFor(server);
  const err = await expectError(t, server, client.resolveTag(refOf(server), creds));
  t.match(err, { kind: 'rate-limited', status: 429, transient: true });
  t.match(err.message, /too many requests \(HTTP 429\): retry after 7 s$/, 'HEAD: no body, the header is reported');
  const get = await expectError(t, server, client.imageConfig(refOf(server), `sha256:${'b'.repeat(64)}`, linux, creds));
  t.match(get.message, /too many requests \(HTTP 429\): injected HTTP 429; retry after 7 s$/, 'GET: the registry error message too');
});

t.test('garbage JSON in the manifest and in the config blob', async (t) => {
  const server = await fake(t, { fault: { kind: 'garbage' }, target: 'manifest' });
  const client = clientFor(server);
  const digest = await client.resolveTag(refOf(server), creds);
  const err = await expectError(t, server, client.imageConfig(refOf(server), digest, linux, creds));
  t.match(err, { kind: 'invalid', transient: false });
  t.match(err.message, /the manifest is not valid JSON/);

  server.target = 'blob';
  const blob = await expectError(t, server, client.imageConfig(refOf(server), server.manifestDigest(), linux, creds));
  t.match(blob, { kind: 'invalid' });
  t.match(blob.message, /the image config is not valid JSON/);
});

t.test('a body whose digest differs from the requested one', async (t) => {
  const server = await fake(t, { fault: { kind: 'wrong-digest' }, target: 'manifest' });
  const client = clientFor(server);
  const digest = await client.resolveTag(refOf(server), creds);
  const err = await expectError(t, server, client.imageConfig(refOf(server), digest, linux, creds));
  t.match(err, { kind: 'digest-mismatch' });
  t.match(err.message, new RegExp(`digest mismatch for manifest ${digest}: expected ${digest}, received content with digest sha256:[0-9a-f]{64}`));

  server.target = 'blob';
  const blob = await expectError(t, server, client.imageConfig(refOf(server), digest, linux, creds));
  t.match(blob, { kind: 'digest-mismatch' });
  t.match(blob.message, /digest mismatch for config blob sha256:/);
});

t.test('no Docker-Content-Digest on HEAD: resolveTag falls back to GET and hashes the body', async (t) => {
  const server = await fake(t, { noDigestHeader: true });
  const client = clientFor(server);
  t.equal(await client.resolveTag(refOf(server), creds), server.manifestDigest());
  t.same(
    server.requests().map((r) => r.method),
    ['HEAD', 'GET'],
  );
});

t.test('a registry without HEAD support: resolveTag uses GET', async (t) => {
  const server = await fake(t, { headNotAllowed: true });
  const client = clientFor(server);
  t.equal(await client.resolveTag(refOf(server), creds), server.manifestDigest());
  t.same(
    server.requests().map((r) => `${r.method} ${r.status}`),
    ['HEAD 405', 'GET 200'],
  );
});

t.test('oversized bodies', async (t) => {
  const server = await fake(t, { fault: { kind: 'huge', bytes: 256 * 1024 }, target: 'manifest' });
  const small = clientFor(server, { maxBytes: 64 * 1024 });
  const declared = await expectError(t, server, small.imageConfig(refOf(server), `sha256:${'a'.repeat(64)}`, linux, creds));
  t.match(declared, { kind: 'too-large' });
  t.match(declared.message, /the manifest is larger than the limit of 65536 bytes/);

  server.fault = { kind: 'huge', bytes: 256 * 1024, chunked: true };
  const streamed = await expectError(t, server, small.imageConfig(refOf(server), `sha256:${'a'.repeat(64)}`, linux, creds));
  t.match(streamed, { kind: 'too-large' }, 'without Content-Length the stream is cut at the limit');

  server.fault = { kind: 'huge', bytes: 2 * 1024 * 1024, chunked: true };
  const byDefault = await expectError(t, server, clientFor(server).imageConfig(refOf(server), `sha256:${'a'.repeat(64)}`, linux, creds));
  t.match(byDefault.message, /larger than the limit of 1048576 bytes/, 'the default limit is 1 MiB');

  // A declared length over the limit is refused before any of the body is waited for.
  server.fault = { kind: 'stall', bytes: 1, then: 'hold', declared: 96 * 1024 };
  const announced = await expectError(t, server, clientFor(server, { maxBytes: 64 * 1024, timeoutMs: 3_000 }).imageConfig(refOf(server), `sha256:${'a'.repeat(64)}`, linux, creds));
  t.match(announced, { kind: 'too-large' }, 'a body that declares too much and stalls is too large, not a timeout');

  server.fault = { kind: 'huge', bytes: 256 * 1024 };
  server.target = 'blob';
  const blob = await expectError(t, server, small.imageConfig(refOf(server), server.manifestDigest(), linux, creds));
  t.match(blob.message, /the config blob is larger than the limit of 65536 bytes/);
});

t.test('an image config whose Cmd is too long is refused', async (t) => {
  const server = await fake(t, { cmd: ['sh', '-c', 'x'.repeat(70_000)] });
  const client = clientFor(server);
  const err = await expectError(t, server, client.imageConfig(refOf(server), server.manifestDigest(), linux, creds));
  t.match(err, { kind: 'invalid', transient: false });
  t.match(err.message, /the image config's Entrypoint and Cmd hold 70004 characters, more than the 65536 accepted$/);
});

t.test('404: manifest unknown', async (t) => {
  const server = await fake(t, { fault: { kind: 'not-found' }, target: 'manifest' });
  const client = clientFor(server);
  const head = await expectError(t, server, client.resolveTag(refOf(server), creds));
  t.match(head, { kind: 'not-found', status: 404, transient: false });
  t.match(head.message, /manifest unknown \(HTTP 404\)$/);
  const get = await expectError(t, server, client.imageConfig(refOf(server), server.manifestDigest(), linux, creds));
  t.match(get.message, /manifest not found \(HTTP 404\): manifest unknown$/);
});

t.test('401 forever: each credential is tried once, then anonymous is reported', async (t) => {
  const server = await fake(t, { fault: { kind: 'unauthorized' } });
  const client = clientFor(server);
  const two = [...creds, { id: 'Secret ns/second', username: 'other', password: SECRET }];
  const err = await expectError(t, server, client.resolveTag(refOf(server), two));
  t.match(err, { kind: 'unauthorized', status: 401 });
  t.match(err.message, /unauthorized \(HTTP 401\) with credentials Secret ns\/pull, Secret ns\/second and anonymously$/);
  t.same(
    server.requests().map((r) => `${r.method} ${r.status} ${r.authorized ? 'auth' : 'anon'}`),
    ['HEAD 401 anon', 'HEAD 401 auth', 'HEAD 401 auth'],
    'bounded: one anonymous request and one per credential',
  );
});

t.test('blob redirects to another origin drop the Authorization header', async (t) => {
  const server = await fake(t, { basicAuth: { username: 'puller', password: SECRET }, redirectBlobs: true, cmd: ['redirected'] });
  // The storage server is on loopback too: named for any port.
  const client = clientFor(server, { allowedRegistries: [server.host, '127.0.0.1:*'] });
  const digest = await client.resolveTag(refOf(server), creds);
  const config = await client.imageConfig(refOf(server), digest, linux, creds);
  t.same(config.cmd, ['redirected']);
  const storage = server.storageRequests();
  t.equal(storage.length, 1, 'the blob came from the storage server');
  t.equal(storage[0]?.authorized, false, 'no Authorization sent to the other origin');
  t.ok(
    server.requests().some((r) => r.path.includes('/blobs/') && r.status === 307 && r.authorized),
    'the registry itself got the credentials',
  );
});

t.test('a RegistryError is the only rejection', async (t) => {
  const server = await fake(t);
  const client = clientFor(server);
  const bad = { domain: server.host, path: 'UPPER/Case', tag: 'v1' };
  const err = await client.resolveTag(bad, creds).catch((e: unknown) => e);
  t.type(err, RegistryError);
  t.match(err, { kind: 'invalid' });
  const badTag = await client.resolveTag({ domain: server.host, path: 'test/app', tag: '../x' }, creds).catch((e: unknown) => e);
  t.match(badTag, { kind: 'invalid' });
  t.equal(server.requests().length, 0, 'nothing was sent');
});

t.test('a redirect whose body never ends does not keep its connection streaming', async (t) => {
  // Every request is redirected to itself with a body that never ends: 16 KiB every 5 ms.
  let open = 0;
  let pushed = 0;
  const sent: string[] = [];
  const server = createServer((req, res) => {
    open++;
    sent.push(req.method ?? '');
    res.on('close', () => open--);
    res.writeHead(302, { location: req.url ?? '/' });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    const timer = setInterval(() => {
      pushed += 16 * 1024;
      res.write(Buffer.alloc(16 * 1024, 0x61));
    }, 5);
    res.on('close', () => clearInterval(timer));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  const client = createRegistryClient({ timeoutMs: 5_000, skipVerify: false, insecureRegistries: [host] });
  const err = await client.resolveTag(parseImageReference(`${host}/test/app:v1`), creds).catch((e: unknown) => e);
  t.match(err, { kind: 'http', message: /too many redirects/ });
  // HEAD, then GET (a HEAD that fails so is tried as a GET): each the request and 5 redirects.
  t.same(sent, [...Array<string>(6).fill('HEAD'), ...Array<string>(6).fill('GET')], 'at most 5 redirects followed');
  // Each redirect's body is cut once it passes 64 KiB, long before the 5-s timeout.
  for (let i = 0; i < 100 && open > 0; i++) await new Promise((resolve) => setTimeout(resolve, 20));
  t.equal(open, 0, 'every redirect response was closed');
  const settled = pushed;
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.equal(pushed, settled, 'nothing is streamed after the lookup failed');
});

t.test('an error body that never ends is read for its error code only, then the answer stands', async (t) => {
  // 404 with a body that never ends: 16 KiB every 50 ms (1 MiB, the body limit, after 3 s).
  const server = createServer((_req, res) => {
    res.writeHead(404, { 'content-type': 'application/json' });
    res.write('{"errors":[{"code":"MANIFEST_UNKNOWN","message":"no such manifest","detail":"');
    const timer = setInterval(() => res.write(Buffer.alloc(16 * 1024, 0x61)), 50);
    res.on('close', () => clearInterval(timer));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  const client = createRegistryClient({ timeoutMs: 5_000, skipVerify: false, insecureRegistries: [host] });
  const started = Date.now();
  const err = await client.imageConfig(parseImageReference(`${host}/test/app:v1`), `sha256:${'a'.repeat(64)}`, linux, []).catch((e: unknown) => e);
  t.match(err, { kind: 'not-found', message: /manifest unknown \(HTTP 404\)/ }, 'a 404, not a timeout');
  t.ok(Date.now() - started < 1_500, `answered once 64 KiB of it came, long before the timeout (${Date.now() - started} ms)`);
});

t.test('a kept-alive connection the registry closed as the next request went out: the request is sent again', async (t) => {
  // Answers the first request of each connection (keeping it open), and closes the
  // connection, answering nothing, when a second request comes on it.
  const digest = `sha256:${'b'.repeat(64)}`;
  const sockets: Socket[] = [];
  const server = createTcpServer((socket) => {
    sockets.push(socket);
    let seen = '';
    let answered = 0;
    socket.on('data', (chunk: Buffer) => {
      seen += chunk.toString('latin1');
      const requests = seen.split('\r\n\r\n').length - 1;
      if (requests > 1) {
        socket.destroy();
        return;
      }
      if (requests === 1 && answered === 0) {
        answered = 1;
        socket.write(`HTTP/1.1 200 OK\r\ndocker-content-digest: ${digest}\r\ncontent-length: 0\r\nconnection: keep-alive\r\n\r\n`);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  const client = createRegistryClient({ timeoutMs: 3_000, skipVerify: false, insecureRegistries: [host] });
  t.equal(await client.resolveTag(parseImageReference(`${host}/test/app:v1`), []), digest);
  t.equal(await client.resolveTag(parseImageReference(`${host}/test/app:v2`), []), digest, 'sent again on a new connection, not a failure');
  t.equal(sockets.length, 2);
});

t.test('a burst of lookups of a slow registry: each request is sent at once, not queued behind the others until its timeout', async (t) => {
  // 150 lookups at once (pods of as many namespaces, each its own access scope, so none shares
  // another's), the registry answering each request in 300 ms: well within the 3 s timeout.
  const server = await fake(t, { fault: { kind: 'slow', delayMs: 300 } });
  const client = clientFor(server, { timeoutMs: 3_000 });
  const outcomes = await Promise.all(
    Array.from({ length: 150 }, async () => {
      try {
        const digest = await client.resolveTag(refOf(server), []);
        await client.imageConfig(refOf(server), digest, linux, []);
        return 'found';
      } catch (error) {
        return error instanceof Error ? error.message : String(error);
      }
    }),
  );
  t.same(outcomes.filter((outcome) => outcome !== 'found'), [], 'every lookup answered');
});
