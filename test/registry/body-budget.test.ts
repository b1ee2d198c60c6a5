/**
 * One budget bounds the registry answers all requests of a client hold in memory at once:
 * hostile registries that stall large bodies cannot make the webhook hold more, lookups that
 * find no room fail at once, and every request gives its charge back however it ends.
 */
import t from 'tap';
import type { Test } from 'tap';
import { parseImageReference } from '../../src/core/image-reference.js';
import { BodyBudget, formatBytes } from '../../src/registry/body-budget.js';
import { createRegistryClient, RegistryError } from '../../src/registry/client.js';
import { RegistryFailure } from '../../src/registry/errors.js';
import { createTransport, type HttpRequest } from '../../src/registry/transport.js';
import { startFaultyRegistry, type Fault, type FaultyRegistry } from '../helpers/faulty-registry.js';

const KiB = 1024;
const linux = { os: 'linux', architecture: 'amd64' };
const ANY_DIGEST = `sha256:${'a'.repeat(64)}`;

async function fake(t: Test, fault: Fault = { kind: 'none' }): Promise<FaultyRegistry> {
  const server = await startFaultyRegistry({ fault, target: 'manifest' });
  t.teardown(() => server.close());
  return server;
}

function transportWith(server: FaultyRegistry, budget: BodyBudget) {
  const transport = createTransport({ skipVerify: false, insecureHosts: new Set([server.host]), namedByOperator: () => true, budget });
  return (options: Partial<HttpRequest> = {}) =>
    transport.request({
      method: 'GET',
      url: new URL(`http://${server.host}/v2/${server.repo}/manifests/${server.tag}`),
      maxBytes: 256 * KiB,
      timeoutMs: 2_000,
      deadline: Date.now() + 2_000,
      what: 'manifest',
      ...options,
    });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(condition: () => boolean, ms = 2_000): Promise<boolean> {
  for (const started = Date.now(); Date.now() - started < ms; await sleep(10)) if (condition()) return true;
  return condition();
}

t.test('a charge grows within the budget and is given back once', async (t) => {
  const budget = new BodyBudget(100);
  const a = budget.open();
  const b = budget.open();
  t.ok(a.growTo(60));
  t.ok(a.growTo(40), 'a smaller total keeps the charge');
  t.equal(budget.heldBytes, 60);
  t.notOk(b.growTo(41), 'no room: refused');
  t.equal(budget.heldBytes, 60, 'a refused charge takes nothing');
  t.ok(b.growTo(40));
  t.equal(budget.heldBytes, 100);
  a.release();
  a.release();
  t.equal(budget.heldBytes, 40, 'given back once');
  t.notOk(a.growTo(1), 'a released charge does not grow again');
  b.release();
  t.equal(budget.heldBytes, 0);
  t.throws(() => new BodyBudget(0), RangeError);
  t.throws(() => new BodyBudget(1.5), RangeError);
  t.equal(formatBytes(64 * 1024 * KiB), '64 MiB');
  t.equal(formatBytes(96 * KiB), '96 KiB');
  t.equal(formatBytes(1000), '1000 bytes');
});

t.test('stalled bodies are charged as they arrive, up to the budget; the rest fail at once', async (t) => {
  const server = await fake(t, { kind: 'stall', bytes: 200 * KiB, then: 'hold' });
  const budget = new BodyBudget(512 * KiB);
  const request = transportWith(server, budget);
  const started = Date.now();
  const outcomes = Array.from({ length: 6 }, () =>
    request().then(
      () => ({ ms: Date.now() - started, error: undefined }),
      (e: unknown) => ({ ms: Date.now() - started, error: e }),
    ),
  );
  await sleep(1_000);
  t.equal(budget.heldBytes, 400 * KiB, 'two stalled bodies of 200 KiB fit; the budget is never passed');
  const results = await Promise.all(outcomes);
  const overloaded = results.filter((r) => r.error instanceof RegistryFailure && r.error.kind === 'overloaded');
  const timedOut = results.filter((r) => r.error instanceof RegistryFailure && r.error.kind === 'timeout');
  t.equal(overloaded.length, 4, 'four found no room');
  t.ok(
    overloaded.every((r) => r.ms < 1_000),
    `and failed at once: ${overloaded.map((r) => r.ms).join(', ')} ms`,
  );
  t.equal(timedOut.length, 2, 'the two that fit ran into the 2-s timeout');
  t.ok(timedOut.every((r) => r.ms >= 1_900));
  t.equal(
    (overloaded[0]?.error as Error | undefined)?.message,
    `no room to read the manifest from ${server.host}: registry answers being read already hold the webhook's budget of 512 KiB for them (try again shortly)`,
  );
  t.equal(budget.heldBytes, 0, 'everything given back after the timeout');
});

t.test('a declared Content-Length is charged up front: no room fails before reading', async (t) => {
  const server = await fake(t, { kind: 'stall', bytes: 1, then: 'hold', declared: 200 * KiB });
  const budget = new BodyBudget(300 * KiB);
  const request = transportWith(server, budget);
  const first = request().catch((e: unknown) => e);
  t.ok(await until(() => budget.heldBytes === 200 * KiB), 'the declared length is charged at once');
  const started = Date.now();
  const second = await request().catch((e: unknown) => e);
  t.match(second, { kind: 'overloaded' });
  t.ok(Date.now() - started < 500, 'failed at once');
  t.equal(budget.heldBytes, 200 * KiB, 'the refused one took nothing');
  await first;
  t.equal(budget.heldBytes, 0);
});

t.test('the charge is given back after success, failure, timeout and a cut connection', async (t) => {
  const server = await fake(t);
  const budget = new BodyBudget(512 * KiB);
  const request = transportWith(server, budget);

  const ok = await request();
  t.equal(ok.status, 200);
  t.ok(ok.body.length > 0);
  t.equal(budget.heldBytes, 0, 'success');

  server.fault = { kind: 'not-found' };
  const missing = await request();
  t.equal(missing.status, 404);
  t.ok(missing.body.length > 0, 'the error body was read');
  t.equal(budget.heldBytes, 0, 'an error status');

  server.fault = { kind: 'huge', bytes: 300 * KiB, chunked: true };
  t.match(await request().catch((e: unknown) => e), { kind: 'too-large' });
  t.equal(budget.heldBytes, 0, 'too large');

  server.fault = { kind: 'stall', bytes: 100 * KiB, then: 'hold' };
  const stalled = request({ timeoutMs: 300 }).catch((e: unknown) => e);
  t.ok(await until(() => budget.heldBytes === 100 * KiB), 'charged while it stalls');
  t.match(await stalled, { kind: 'timeout' });
  t.equal(budget.heldBytes, 0, 'timeout');

  const pastDeadline = request({ timeoutMs: 5_000, deadline: Date.now() + 300 }).catch((e: unknown) => e);
  t.ok(await until(() => budget.heldBytes === 100 * KiB));
  t.match(await pastDeadline, { kind: 'timeout' });
  t.equal(budget.heldBytes, 0, "the call's deadline");

  server.fault = { kind: 'stall', bytes: 100 * KiB, then: 'cut' };
  t.match(await request().catch((e: unknown) => e), { kind: 'network' });
  t.equal(budget.heldBytes, 0, 'the registry cut the connection half way');

  server.fault = { kind: 'stall', bytes: 100 * KiB, then: 'hold' };
  const held = request().catch((e: unknown) => e);
  t.ok(await until(() => budget.heldBytes === 100 * KiB));
  const refused = budget.open();
  t.notOk(refused.growTo(413 * KiB), 'the rest of the budget is all that is left');
  await server.close();
  t.match(await held, { kind: 'network' });
  t.equal(budget.heldBytes, 0, 'the registry went away');
});

t.test('an error body that finds no room is answered with what was read', async (t) => {
  const server = await fake(t, { kind: 'status', status: 500 });
  const budget = new BodyBudget(64 * KiB);
  const taken = budget.open();
  t.ok(taken.growTo(64 * KiB));
  const answer = await transportWith(server, budget)();
  t.equal(answer.status, 500, 'the status still counts');
  t.equal(answer.body.length, 0, 'its body was not kept');
  taken.release();
  t.equal(budget.heldBytes, 0);
});

t.test('client: lookups beyond the budget fail at once as overloaded; the budget comes back', async (t) => {
  const server = await fake(t, { kind: 'stall', bytes: 200 * KiB, then: 'hold' });
  t.throws(
    () => createRegistryClient({ timeoutMs: 1_500, skipVerify: false, insecureRegistries: [server.host], maxBytes: 256 * KiB, maxBytesInFlight: 128 * KiB }),
    { name: 'RangeError', message: /at least the body limit \(256 KiB\)/ },
  );
  const client = createRegistryClient({ timeoutMs: 1_500, skipVerify: false, insecureRegistries: [server.host], maxBytes: 256 * KiB, maxBytesInFlight: 512 * KiB });
  const ref = parseImageReference(`${server.host}/${server.repo}:${server.tag}`);
  const started = Date.now();
  const settledAt: number[] = [];
  const lookups = Array.from({ length: 8 }, () =>
    client.imageConfig(ref, ANY_DIGEST, linux, []).then(
      () => undefined,
      (e: unknown) => {
        settledAt.push(Date.now() - started);
        return e;
      },
    ),
  );
  const results = await Promise.all(lookups);
  const overloaded = results.filter((r): r is RegistryError => r instanceof RegistryError && r.kind === 'overloaded');
  t.equal(overloaded.length, 6, 'all but two found no room');
  t.equal(results.filter((r) => r instanceof RegistryError && r.kind === 'timeout').length, 2);
  t.ok(settledAt.filter((ms) => ms < 750).length >= 6, `those failed at once: ${settledAt.join(', ')} ms`);
  const first = overloaded[0];
  t.match(first, { transient: true });
  t.equal(
    first?.message,
    `cannot read image "${server.host}/${server.repo}:${server.tag}" from registry ${server.host}: no room to read the manifest from ${server.host}: registry answers being read already hold the webhook's budget of 512 KiB for them (try again shortly)`,
  );

  // Once those bodies timed out, their room is free again: two more bodies of 200 KiB are read in full.
  server.fault = { kind: 'huge', bytes: 200 * KiB, chunked: true };
  const read = await Promise.all([0, 1].map(() => client.imageConfig(ref, ANY_DIGEST, linux, []).catch((e: unknown) => e)));
  t.match(read, [{ kind: 'digest-mismatch' }, { kind: 'digest-mismatch' }], 'read to the end, then checked');
  server.fault = { kind: 'none' };
  const again = await Promise.all(Array.from({ length: 4 }, () => client.imageConfig(ref, server.manifestDigest(), linux, [])));
  t.same(again.map((c) => c.cmd), [['faulty'], ['faulty'], ['faulty'], ['faulty']]);
});
