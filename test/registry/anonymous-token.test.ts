/**
 * A cached anonymous Bearer token must not stand in for a call's own credentials: Docker Hub
 * answers anonymous tokens over its pull limit with 429, and registries that hide private
 * repositories answer them with 404, neither of which asks for other credentials.
 */
import t from 'tap';
import type { Test } from 'tap';
import { parseImageReference } from '../../src/core/image-reference.js';
import { createRegistryClient, RegistryError } from '../../src/registry/client.js';
import { startFaultyRegistry } from '../helpers/faulty-registry.js';

const linux = { os: 'linux', architecture: 'amd64' };
const PASSWORD = 'hub-pw-3b9d7e21';
const paying = [{ id: 'Secret paying/hub', username: 'paid', password: PASSWORD }];

for (const anonymousStatus of [429, 404] as const) {
  t.test(`anonymous tokens answered ${anonymousStatus}: a later call with credentials uses them`, async (t: Test) => {
    const server = await startFaultyRegistry({ bearerAuth: { username: 'paid', password: PASSWORD, anonymousStatus }, cmd: ['served'] });
    t.teardown(() => server.close());
    const client = createRegistryClient({ timeoutMs: 2_000, skipVerify: false, insecureRegistries: [server.host] });
    const ref = parseImageReference(`${server.host}/${server.repo}:${server.tag}`);

    // A namespace without pull secrets: the anonymous token is fetched, refused, and cached.
    const anonymous = await client.resolveTag(ref, []).catch((e: unknown) => e);
    t.type(anonymous, RegistryError);
    t.match(anonymous, anonymousStatus === 429 ? { kind: 'rate-limited', status: 429 } : { kind: 'not-found', status: 404 });

    // A namespace with a valid pull secret, while that anonymous token is still cached.
    const before = server.requests().length;
    const digest = await client.resolveTag(ref, paying);
    t.equal(digest, server.manifestDigest());
    t.same(await client.imageConfig(ref, digest, linux, paying), { manifestDigest: digest, entrypoint: [], cmd: ['served'] });
    const sent = server.requests().slice(before);
    t.notOk(
      sent.some((r) => r.token === 'anonymous'),
      'the cached anonymous token was not sent for the call with credentials',
    );
    t.same(
      sent.map((r) => `${r.method} ${r.path.replace(/sha256:\w+/, 'DIGEST')} ${r.status} ${r.token ?? (r.authorized ? 'basic' : 'none')}`),
      [
        `HEAD /v2/${server.repo}/manifests/${server.tag} 401 none`,
        'GET /token 200 basic',
        `HEAD /v2/${server.repo}/manifests/${server.tag} 200 user`,
        // The user token is cached now: later calls send it at once.
        `GET /v2/${server.repo}/manifests/DIGEST 200 user`,
        `GET /v2/${server.repo}/blobs/DIGEST 200 user`,
      ],
    );

    // A call without credentials still sends the cached anonymous token up front.
    const again = server.requests().length;
    await client.resolveTag(ref, []).catch((e: unknown) => e);
    t.same(
      server.requests().slice(again).map((r) => `${r.status} ${r.token ?? 'none'}`),
      [`${anonymousStatus} anonymous`],
    );
  });
}
