/**
 * A Bearer token fetch is shared by the calls that need the same token at once; each call is
 * still bound by its own --registry-timeout, not by that of the call that started the fetch.
 */
import { setTimeout as delay } from 'node:timers/promises';
import t from 'tap';
import { parseImageReference } from '../../src/core/image-reference.js';
import { createRegistryClient, RegistryError } from '../../src/registry/client.js';
import { startFaultyRegistry } from '../helpers/faulty-registry.js';

t.test("a call that joins another call's token fetch is not failed by that call's deadline", async (t) => {
  const server = await startFaultyRegistry({ bearerAuth: { username: 'u', password: 'p' }, fault: { kind: 'slow', delayMs: 1_200 }, target: 'manifest', tokenDelayMs: 1_400 });
  t.teardown(() => server.close());
  const client = createRegistryClient({ timeoutMs: 2_000, skipVerify: false, insecureRegistries: [server.host] });
  const image = parseImageReference(`${server.host}/${server.repo}:${server.tag}`);

  // The first call's manifest request is slow: its token fetch starts 1.2 s into its 2 s.
  const started = Date.now();
  const first = client.resolveTag(image, []).then(
    () => 'resolved',
    (error: unknown) => error,
  );
  await delay(100);
  server.fault = { kind: 'none' };
  // The second call starts 1.4 s in: it is challenged at once and needs the same anonymous token.
  await delay(1_300);
  const second = client.resolveTag(image, []).then(
    (digest) => digest,
    (error: unknown) => error,
  );

  const firstOutcome = await first;
  t.ok(firstOutcome instanceof RegistryError && firstOutcome.kind === 'timeout', `the first call fails within its own bound: ${String(firstOutcome)}`);
  t.ok(Date.now() - started < 2_600, 'and not later');
  const secondOutcome = await second;
  t.equal(secondOutcome, server.manifestDigest(), `the second call gets the token within its own bound and resolves the tag: ${String(secondOutcome)}`);
  t.equal(server.requests().filter((request) => request.path === '/token').length, 1, 'one token fetch for both');
});
