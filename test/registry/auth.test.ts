/**
 * Registry authentication against a REAL registry: htpasswd Basic auth and token auth
 * (a token server of ours that the registry trusts through its rootcertbundle).
 */
import t from 'tap';
import { parseImageReference } from '../../src/core/image-reference.js';
import { createRegistryClient, RegistryError, type RegistryCredential } from '../../src/registry/client.js';
import { pushImage, startRegistry } from '../helpers/registry.js';

const linux = { os: 'linux', architecture: 'amd64' };
const PASSWORDS = ['alice-pw-7f3e9a1c', 'bob-pw-0d4c2b8e', 'wrong-pw-5a6b7c8d', 'carol-pw-91ab37ee'];

function cred(id: string, username: string, password: string): RegistryCredential {
  return { id, username, password };
}

/** Asserts that no password of the test suite appears in an error's message or stack. */
function assertNoSecret(t: Tap, err: unknown): void {
  const text = err instanceof Error ? `${err.message}\n${err.stack ?? ''}` : String(err);
  for (const password of PASSWORDS) t.notOk(text.includes(password), `no password in the error (${password.slice(0, 5)}…)`);
  for (const password of PASSWORDS) {
    t.notOk(text.includes(Buffer.from(password).toString('base64').slice(0, 12)), 'no base64 of a password either');
  }
}

type Tap = NonNullable<ReturnType<typeof t.test>['subtest']>;

t.test('htpasswd Basic auth', async (t) => {
  const registry = await startRegistry({
    htpasswd: [
      { username: 'alice', password: PASSWORDS[0] ?? '' },
      { username: 'bob', password: PASSWORDS[1] ?? '' },
    ],
  });
  t.teardown(() => registry.close());
  const pushed = await pushImage(registry, 'private/app', 'v1', { entrypoint: ['/private'], cmd: ['run'] });
  const ref = parseImageReference(`${registry.host}/private/app:v1`);
  const options = { timeoutMs: 5_000, skipVerify: false, insecureRegistries: [registry.host] };
  const alice = cred('Secret team-a/alice', 'alice', PASSWORDS[0] ?? '');
  const bob = cred('Secret team-a/bob', 'bob', PASSWORDS[1] ?? '');
  const wrong = cred('Secret team-a/stale', 'alice', PASSWORDS[2] ?? '');

  t.test('right credentials are accepted', async (t) => {
    const client = createRegistryClient(options);
    const digest = await client.resolveTag(ref, [alice]);
    t.equal(digest, pushed.manifestDigest);
    const config = await client.imageConfig(ref, digest, linux, [alice]);
    t.same(config, { manifestDigest: pushed.manifestDigest, entrypoint: ['/private'], cmd: ['run'] });
  });

  t.test('no credentials: 401', async (t) => {
    const client = createRegistryClient(options);
    const err = await client.resolveTag(ref, []).catch((e: unknown) => e);
    t.type(err, RegistryError);
    t.match(err, { kind: 'unauthorized', status: 401, transient: false });
    t.equal(
      (err as Error).message,
      `cannot read image "${registry.host}/private/app:v1" from registry ${registry.host}: unauthorized (HTTP 401) anonymously (no pull credentials)`,
    );
  });

  t.test('wrong credentials are rejected with a 401 message naming them, not their secrets', async (t) => {
    const client = createRegistryClient(options);
    const err = await client.imageConfig(ref, pushed.manifestDigest, linux, [wrong]).catch((e: unknown) => e);
    t.type(err, RegistryError);
    t.match(err, { kind: 'unauthorized', status: 401, image: `${registry.host}/private/app:v1`, registry: registry.host });
    t.equal(
      (err as Error).message,
      `cannot read image "${registry.host}/private/app:v1" from registry ${registry.host}: unauthorized (HTTP 401) with credentials Secret team-a/stale and anonymously`,
    );
    assertNoSecret(t, err);
  });

  t.test('first credential wrong, second right: success', async (t) => {
    const client = createRegistryClient(options);
    const before = await registry.settled();
    const digest = await client.resolveTag(ref, [wrong, bob]);
    t.equal(digest, pushed.manifestDigest);
    const logged = (await registry.waitForRequests(before + 3)).slice(before);
    t.same(
      logged.map((r) => `${r.method} ${r.status}`),
      ['HEAD 401', 'HEAD 401', 'HEAD 200'],
      'anonymous, then the wrong credential, then the right one',
    );
    // Within the same client, the accepted credential is sent at once next time.
    const again = await registry.settled();
    const config = await client.imageConfig(ref, digest, linux, [wrong, bob]);
    t.same(config.cmd, ['run']);
    const next = (await registry.waitForRequests(again + 2)).slice(again);
    t.same(
      next.map((r) => r.status),
      [200, 200],
      'no 401 round trips once a credential was accepted',
    );
  });

  t.test('all credentials wrong: every id is named', async (t) => {
    const client = createRegistryClient(options);
    const other = cred('Secret team-b/other', 'mallory', PASSWORDS[2] ?? '');
    const err = await client.resolveTag(ref, [wrong, other]).catch((e: unknown) => e);
    t.match((err as Error).message, /unauthorized \(HTTP 401\) with credentials Secret team-a\/stale, Secret team-b\/other and anonymously$/);
    assertNoSecret(t, err);
  });
});

t.test('token auth', async (t) => {
  const registry = await startRegistry({ token: { users: [{ username: 'carol', password: PASSWORDS[3] ?? '' }] } });
  t.teardown(() => registry.close());
  const token = registry.token;
  if (token === undefined) throw new Error('token server missing');
  const pushed = await pushImage(registry, 'tokens/app', 'v1', { entrypoint: ['/tok'], cmd: ['en'] }, { mediaType: 'docker' });
  const ref = parseImageReference(`${registry.host}/tokens/app:v1`);
  // The token server is plain http on loopback: credentials go there only because it is listed.
  const options = { timeoutMs: 5_000, skipVerify: false, insecureRegistries: [registry.host, token.host] };
  const carol = cred('Secret team-c/carol', 'carol', PASSWORDS[3] ?? '');
  const wrong = cred('Secret team-c/old', 'carol', PASSWORDS[2] ?? '');

  t.test('anonymous is denied', async (t) => {
    const client = createRegistryClient(options);
    const before = token.requests().length;
    const err = await client.resolveTag(ref, []).catch((e: unknown) => e);
    t.type(err, RegistryError);
    t.match(err, { kind: 'unauthorized', status: 401 });
    t.match((err as Error).message, /: unauthorized \(HTTP 401\) anonymously \(no pull credentials\)$/);
    t.same(
      token.requests().slice(before),
      [{ user: 'anonymous', scopes: ['repository:tokens/app:pull'], status: 200 }],
      'an anonymous token was issued (with no access), then refused by the registry',
    );
  });

  t.test('with credentials (the first wrong): ok, and the token is cached', async (t) => {
    const client = createRegistryClient(options);
    const before = token.requests().length;
    const digest = await client.resolveTag(ref, [wrong, carol]);
    t.equal(digest, pushed.manifestDigest);
    t.same(
      token.requests().slice(before).map((r) => `${r.user} ${r.status}`),
      ['carol 401', 'carol 200'],
      'the wrong password is refused by the token server, then the right one gets a token',
    );
    t.same(token.requests().at(-1)?.scopes, ['repository:tokens/app:pull'], 'pull scope only');

    const counted = token.requests().length;
    const logged = await registry.settled();
    const config = await client.imageConfig(ref, digest, linux, [wrong, carol]);
    t.same(config, { manifestDigest: pushed.manifestDigest, entrypoint: ['/tok'], cmd: ['en'] });
    t.same(await client.resolveTag(ref, [wrong, carol]), digest);
    t.equal(token.requests().length, counted, 'no new token request: the cached token is reused');
    const calls = (await registry.waitForRequests(logged + 3)).slice(logged);
    t.same(
      calls.map((r) => r.status),
      [200, 200, 200],
      'the cached token is sent up front (no 401 round trip)',
    );
  });

  t.test('the cache is per credential: another credential id gets its own token', async (t) => {
    const client = createRegistryClient(options);
    await client.resolveTag(ref, [carol]);
    const before = token.requests().length;
    const alias = cred('Secret team-d/carol-copy', 'carol', PASSWORDS[3] ?? '');
    await client.resolveTag(ref, [alias]);
    t.equal(token.requests().length, before + 1, 'a token request for the other id');
  });

  t.test('credentials are not sent to a plain-http token realm that is not listed', async (t) => {
    // Named (it is on loopback), but not as insecure.
    const client = createRegistryClient({ ...options, insecureRegistries: [registry.host], allowedRegistries: [registry.host, token.host] });
    const before = token.requests().length;
    const err = await client.resolveTag(ref, [carol]).catch((e: unknown) => e);
    t.match(err, { kind: 'unauthorized' });
    t.match((err as Error).message, /with credentials Secret team-c\/carol \(not sent: plain-http token realm\) and anonymously/);
    t.same(
      token.requests().slice(before).map((r) => r.user),
      ['anonymous'],
      'only the anonymous token request reached the token server',
    );
    assertNoSecret(t, err);
  });
});

t.test('token realms: a plain-http one only for an insecure registry, a loopback one only when named', async (t) => {
  const registry = await startRegistry({ token: { users: [{ username: 'carol', password: PASSWORDS[3] ?? '' }] } });
  t.teardown(() => registry.close());
  const token = registry.token;
  if (token === undefined) throw new Error('token server missing');
  await pushImage(registry, 'tokens/app', 'v1', { cmd: ['x'] });
  const ref = parseImageReference(`${registry.host}/tokens/app:v1`);
  const carol = cred('Secret team-c/carol', 'carol', PASSWORDS[3] ?? '');
  const before = token.requests().length;
  const unnamed = createRegistryClient({ timeoutMs: 5_000, skipVerify: false, insecureRegistries: [registry.host] });
  const err = await unnamed.resolveTag(ref, [carol]).catch((e: unknown) => e);
  t.match(err, { kind: 'refused' });
  t.match((err as Error).message, new RegExp(`${token.host.replace(/\./g, '\\.')} is a loopback address`));
  t.equal(token.requests().length, before, 'the token server was not contacted');
});

t.test('token auth: an expired token is fetched again', async (t) => {
  const registry = await startRegistry({ token: { users: [{ username: 'carol', password: PASSWORDS[3] ?? '' }], expiresInSeconds: 1 } });
  t.teardown(() => registry.close());
  const token = registry.token;
  if (token === undefined) throw new Error('token server missing');
  const pushed = await pushImage(registry, 'short/app', 'v1', { cmd: ['x'] });
  const ref = parseImageReference(`${registry.host}/short/app:v1`);
  const client = createRegistryClient({ timeoutMs: 5_000, skipVerify: false, insecureRegistries: [registry.host, token.host] });
  const carol = cred('Secret team-c/carol', 'carol', PASSWORDS[3] ?? '');
  t.equal(await client.resolveTag(ref, [carol]), pushed.manifestDigest);
  const before = token.requests().length;
  await new Promise((resolve) => setTimeout(resolve, 1_100));
  t.equal(await client.resolveTag(ref, [carol]), pushed.manifestDigest);
  t.equal(token.requests().length, before + 1, 'one new token request after expires_in');
});
