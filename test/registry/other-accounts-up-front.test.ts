/**
 * The next credential after a 404 or 429 (other-accounts.test.ts) also when the refused one
 * was sent up front: a Basic credential another repository of the host accepted, or a cached
 * token of an account that has since reached its own pull limit. Those are the common cases
 * of a long-running webhook, and the answer used to end the lookup.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import type { Test } from 'tap';
import { parseImageReference } from '../../src/core/image-reference.js';
import { createRegistryClient } from '../../src/registry/client.js';

const manifest = Buffer.from(
  JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${'2'.repeat(64)}`, size: 2 },
    layers: [],
  }),
);
const digest = `sha256:${createHash('sha256').update(manifest).digest('hex')}`;
const basicOf = (user: string) => `Basic ${Buffer.from(`${user}:pw-${user}`).toString('base64')}`;
const other = { id: 'Secret team/other', username: 'other', password: 'pw-other' };
const own = { id: 'Secret team/own', username: 'own', password: 'pw-own' };

/**
 * A registry with accounts `other` and `own`; `answer(account, repo)` is the status of a
 * manifest request (200 serves the manifest). `scheme` Basic, or Bearer tokens of /token.
 */
async function registry(t: Test, scheme: 'basic' | 'bearer', answer: (account: string | undefined, repo: string) => number) {
  const log: string[] = [];
  const server = http.createServer((req, res) => {
    const authorization = req.headers.authorization;
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/token') {
      const account = ['other', 'own'].find((user) => basicOf(user) === authorization);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: `token-${account ?? 'anonymous'}`, expires_in: 300 }));
      return;
    }
    const match = /^\/v2\/(.+)\/manifests\/[^/]+$/.exec(url.pathname);
    let account: string | undefined;
    if (scheme === 'basic') account = ['other', 'own'].find((user) => basicOf(user) === authorization);
    else account = /^Bearer token-(other|own)$/.exec(authorization ?? '')?.[1];
    const known = scheme === 'basic' ? account !== undefined : authorization?.startsWith('Bearer ') === true;
    const status = match === null ? 404 : !known ? 401 : answer(account, match[1] ?? '');
    log.push(`${match?.[1] ?? url.pathname} ${account ?? (known ? 'anonymous' : 'none')} ${status}`);
    const challenge = scheme === 'basic' ? 'Basic realm="r"' : `Bearer realm="http://${req.headers.host ?? ''}/token",service="r"`;
    if (status === 401) res.writeHead(401, { 'www-authenticate': challenge, 'content-type': 'application/json' }).end('{"errors":[]}');
    else if (status !== 200) res.writeHead(status, { 'content-type': 'application/json' }).end('{"errors":[{"code":"DENIED","message":"no"}]}');
    else res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'docker-content-digest': digest }).end(req.method === 'HEAD' ? undefined : manifest);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  const client = createRegistryClient({ timeoutMs: 2_000, skipVerify: false, insecureRegistries: [host] });
  return { host, client, log };
}

t.test('Basic: the credential another repository accepted, sent up front, answered 404: the next one is tried', async (t) => {
  // `other` reads team/shared but not team/private, which it is not shown.
  const { host, client, log } = await registry(t, 'basic', (account, repo) => (repo === 'team/private' && account === 'other' ? 404 : 200));
  t.equal(await client.resolveTag(parseImageReference(`${host}/team/shared:v1`), [other, own]), digest);
  t.equal(await client.resolveTag(parseImageReference(`${host}/team/private:v1`), [other, own]), digest);
  t.same(log, ['team/shared none 401', 'team/shared other 200', 'team/private other 404', 'team/private own 200']);
  // Only the account that cannot read it: its answer is the lookup's.
  t.match(await client.resolveTag(parseImageReference(`${host}/team/private:v1`), [other]).catch((e: unknown) => e), { kind: 'not-found', status: 404 });
});

t.test('Bearer: the cached token of an account now over its pull limit (429): the next credential is tried', async (t) => {
  let limited = false;
  const { host, client, log } = await registry(t, 'bearer', (account) => (limited && account === 'other' ? 429 : 200));
  const ref = parseImageReference(`${host}/team/app:v1`);
  t.equal(await client.resolveTag(ref, [other, own]), digest);
  limited = true;
  t.equal(await client.resolveTag(ref, [other, own]), digest);
  t.equal(await client.resolveTag(ref, [other, own]), digest);
  t.same(log, ['team/app none 401', 'team/app other 200', 'team/app other 429', 'team/app own 200', 'team/app own 200'], 'then the own token is sent up front');
});
