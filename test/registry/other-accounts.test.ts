/**
 * A registry may answer an account that cannot read a repository as it answers strangers: 404
 * (a private repository it does not show them) or 429 (that account's own pull limit). The
 * kubelet then pulls with the pod's next credential; so must the lookup, or the pod is denied
 * although it would run.
 */
import t from 'tap';
import type { Test } from 'tap';
import { parseImageReference } from '../../src/core/image-reference.js';
import { createRegistryClient, RegistryError } from '../../src/registry/client.js';
import { startFaultyRegistry } from '../helpers/faulty-registry.js';

const linux = { os: 'linux', architecture: 'amd64' };
const PASSWORD = 'hub-pw-3b9d7e21';
const OTHER_PASSWORD = 'other-pw-5c1e8f02';
const otherTeam = { id: 'Secret team/other-team-robot', username: 'other', password: OTHER_PASSWORD };
const ownTeam = { id: 'Secret team/own-robot', username: 'paid', password: PASSWORD };

for (const status of [404, 429] as const) {
  t.test(`an account answered ${status}: the next credential is tried`, async (t: Test) => {
    const server = await startFaultyRegistry({
      bearerAuth: { username: 'paid', password: PASSWORD, anonymousStatus: status, others: [{ username: 'other', password: OTHER_PASSWORD }] },
      cmd: ['served'],
    });
    t.teardown(() => server.close());
    const client = createRegistryClient({ timeoutMs: 2_000, skipVerify: false, insecureRegistries: [server.host] });
    const ref = parseImageReference(`${server.host}/${server.repo}:${server.tag}`);

    const digest = await client.resolveTag(ref, [otherTeam, ownTeam]);
    t.equal(digest, server.manifestDigest());
    t.same(await client.imageConfig(ref, digest, linux, [otherTeam, ownTeam]), { manifestDigest: digest, entrypoint: [], cmd: ['served'] });
    t.same(
      server.requests().filter((r) => r.path !== '/token').map((r) => `${r.method} ${r.status} ${r.token ?? 'none'}`),
      ['HEAD 401 none', `HEAD ${status} other`, 'HEAD 200 user', 'GET 200 user', 'GET 200 user'],
      'the other account, then the own one; whose token is sent up front afterwards',
    );

    if (status === 404) {
      const missing = await client.resolveTag(parseImageReference(`${server.host}/${server.repo}:nope`), [otherTeam, ownTeam]).catch((e: unknown) => e);
      t.match(missing, { kind: 'not-found', status: 404 }, 'a tag that no account can find is not found');
    }

    // Only the account that cannot read it: its answer is the lookup's.
    const alone = await client.resolveTag(ref, [otherTeam]).catch((e: unknown) => e);
    t.type(alone, RegistryError);
    t.match(alone, status === 429 ? { kind: 'rate-limited', status: 429 } : { kind: 'not-found', status: 404 });
  });
}
