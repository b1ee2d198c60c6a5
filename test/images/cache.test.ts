import t from 'tap';
import { AsyncCache, type AsyncCacheOptions, type Clock } from '../../src/cache/async-cache.js';
import { ImageConfigCache, type ImageConfigValue, type ImageKeyParts } from '../../src/images/cache.js';

class FakeClock implements Clock {
  constructor(public time = 1_000_000) {}
  now(): number {
    return this.time;
  }
  advance(ms: number): void {
    this.time += ms;
  }
}

interface Deferred<T> { promise: Promise<T>; resolve(value: T): void; reject(error: unknown): void }
function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** A loader that counts its calls and answers from `next`. */
function counting<T>(next: (call: number) => Promise<T>): { load: () => Promise<T>; readonly calls: number } {
  let calls = 0;
  return {
    load: () => next(++calls),
    get calls() {
      return calls;
    },
  };
}

function cache<V>(clock: Clock, overrides: Partial<AsyncCacheOptions> = {}): AsyncCache<V> {
  return new AsyncCache<V>({ maxEntries: 100, ttlMs: 1_000, failureTtlMs: 200, clock, ...overrides });
}

/** Settles a promise into a value the test can compare, without unhandled rejections. */
async function outcome<T>(promise: Promise<T>): Promise<{ value: T } | { error: unknown }> {
  try {
    return { value: await promise };
  } catch (error) {
    return { error };
  }
}

t.test('AsyncCache', async (t) => {
  t.test('500 concurrent gets of one key call load once and all get its value', async (t) => {
    const clock = new FakeClock();
    const c = cache<string>(clock);
    const gate = deferred<string>();
    const loader = counting(() => gate.promise);
    const gets = Array.from({ length: 500 }, () => c.get('k', loader.load));
    t.equal(loader.calls, 1, 'load called at the first get, not again');
    t.equal(c.size, 0, 'an in-flight load is not an entry');
    gate.resolve('v');
    const values = await Promise.all(gets);
    t.ok(values.every((v) => v === 'v'));
    t.equal(loader.calls, 1);
    t.strictSame(c.stats(), { hits: 0, misses: 1, coalesced: 499, failuresServed: 0, evictions: 0 });
    t.equal(c.size, 1);
  });

  t.test('sequential gets hit the cache', async (t) => {
    const c = cache<number>(new FakeClock());
    const loader = counting(async (call) => call * 10);
    t.equal(await c.get('k', loader.load), 10);
    t.equal(await c.get('k', loader.load), 10);
    t.equal(await c.get('k', loader.load), 10);
    t.equal(loader.calls, 1);
    t.strictSame(c.stats(), { hits: 2, misses: 1, coalesced: 0, failuresServed: 0, evictions: 0 });
  });

  t.test('a success expires after ttlMs and is reloaded', async (t) => {
    const clock = new FakeClock();
    const c = cache<number>(clock, { ttlMs: 1_000 });
    const loader = counting(async (call) => call);
    t.equal(await c.get('k', loader.load), 1);
    clock.advance(999);
    t.equal(await c.get('k', loader.load), 1, 'still fresh 1ms before expiry');
    clock.advance(1);
    t.equal(await c.get('k', loader.load), 2, 'reloaded at expiry');
    t.equal(loader.calls, 2);
    clock.advance(999);
    t.equal(await c.get('k', loader.load), 2, 'the reload has a fresh ttl');
  });

  t.test('ttlMs Infinity never expires', async (t) => {
    const clock = new FakeClock();
    const c = cache<number>(clock, { ttlMs: Infinity });
    const loader = counting(async (call) => call);
    t.equal(await c.get('k', loader.load), 1);
    clock.advance(10 * 365 * 24 * 3600 * 1000);
    t.equal(await c.get('k', loader.load), 1);
    clock.time = Number.MAX_SAFE_INTEGER;
    t.equal(await c.get('k', loader.load), 1);
    t.equal(loader.calls, 1);
  });

  t.test('ttlMs 0 coalesces but does not cache', async (t) => {
    const c = cache<number>(new FakeClock(), { ttlMs: 0 });
    const loader = counting(async (call) => call);
    const [a, b] = await Promise.all([c.get('k', loader.load), c.get('k', loader.load)]);
    t.same([a, b], [1, 1]);
    t.equal(await c.get('k', loader.load), 2);
    t.equal(c.size, 0);
  });

  t.test('a failure is re-thrown (the same error) for failureTtlMs, then retried', async (t) => {
    const clock = new FakeClock();
    const c = cache<string>(clock, { failureTtlMs: 200 });
    const boom = new Error('registry down');
    const loader = counting(async (call) => {
      if (call === 1) throw boom;
      return 'recovered';
    });
    const first = await outcome(c.get('k', loader.load));
    t.strictSame(first, { error: boom });
    clock.advance(199);
    const second = await outcome(c.get('k', loader.load));
    t.ok('error' in second && second.error === boom, 'the very same error instance');
    t.equal(loader.calls, 1, 'load not called while the failure is cached');
    t.equal(c.stats().failuresServed, 1);
    clock.advance(1);
    t.equal(await c.get('k', loader.load), 'recovered');
    t.equal(loader.calls, 2);
    t.equal(await c.get('k', loader.load), 'recovered', 'the success replaced the failure');
    t.equal(loader.calls, 2);
  });

  t.test('failureTtlMs 0 retries at once', async (t) => {
    const c = cache<string>(new FakeClock(), { failureTtlMs: 0 });
    const loader = counting(async (call) => {
      if (call === 1) throw new Error('once');
      return 'ok';
    });
    await t.rejects(c.get('k', loader.load), { message: 'once' });
    t.equal(c.size, 0);
    t.equal(await c.get('k', loader.load), 'ok');
    t.equal(loader.calls, 2);
    t.equal(c.stats().failuresServed, 0);
  });

  t.test('a failure while others wait rejects all of them with that error', async (t) => {
    const c = cache<string>(new FakeClock());
    const gate = deferred<string>();
    const loader = counting(() => gate.promise);
    const gets = Array.from({ length: 50 }, () => outcome(c.get('k', loader.load)));
    const boom = new Error('manifest unknown');
    gate.reject(boom);
    const results = await Promise.all(gets);
    t.ok(results.every((r) => 'error' in r && r.error === boom), 'every waiter gets the same error instance');
    t.equal(loader.calls, 1);
    t.strictSame(c.stats(), { hits: 0, misses: 1, coalesced: 49, failuresServed: 0, evictions: 0 });
  });

  t.test('a load that throws synchronously is handled like a rejection', async (t) => {
    const c = cache<string>(new FakeClock());
    const boom = new Error('sync');
    let calls = 0;
    const load = (): Promise<string> => {
      calls++;
      throw boom;
    };
    let promise: Promise<string> | undefined;
    t.doesNotThrow(() => {
      promise = c.get('k', load);
    }, 'get does not throw synchronously');
    t.strictSame(await outcome(promise ?? Promise.resolve('missing')), { error: boom });
    const again = await outcome(c.get('k', load));
    t.ok('error' in again && again.error === boom, 'the failure is cached like a rejection');
    t.equal(calls, 1);
  });

  t.test('least recently used entries are evicted first; touching protects', async (t) => {
    const c = cache<string>(new FakeClock(), { maxEntries: 3 });
    const loads: string[] = [];
    const load = (key: string) => async () => {
      loads.push(key);
      return key.toUpperCase();
    };
    for (const key of ['a', 'b', 'c']) await c.get(key, load(key));
    t.equal(await c.get('a', load('a')), 'A', 'touch a: b is now the least recently used');
    await c.get('d', load('d'));
    t.equal(c.size, 3);
    t.equal(c.stats().evictions, 1);
    loads.length = 0;
    await c.get('a', load('a'));
    await c.get('c', load('c'));
    await c.get('d', load('d'));
    t.strictSame(loads, [], 'a, c and d were kept');
    await c.get('b', load('b'));
    t.strictSame(loads, ['b'], 'b was evicted and reloads');
    t.equal(c.stats().evictions, 2, 'reloading b evicted the least recent of a, c, d');
    loads.length = 0;
    await c.get('a', load('a'));
    t.strictSame(loads, ['a'], 'a was the least recently used and went');
  });

  t.test('maxEntries holds under many keys', async (t) => {
    const c = cache<number>(new FakeClock(), { maxEntries: 50 });
    let largest = 0;
    for (let i = 0; i < 1_000; i++) {
      await c.get(`key-${i}`, async () => i);
      largest = Math.max(largest, c.size);
    }
    t.equal(largest, 50, 'the size reached the bound and never passed it');
    t.equal(c.size, 50);
    t.equal(c.stats().evictions, 950);
    t.equal(await c.get('key-999', async () => -1), 999, 'the newest is kept');
    t.equal(await c.get('key-0', async () => -1), -1, 'the oldest is gone');
  });

  t.test('failures count toward maxEntries and are evicted like successes', async (t) => {
    const c = cache<number>(new FakeClock(), { maxEntries: 2, failureTtlMs: 10_000 });
    await t.rejects(c.get('bad', async () => { throw new Error('x'); }));
    await c.get('a', async () => 1);
    await c.get('b', async () => 2);
    t.equal(c.size, 2);
    t.equal(await c.get('bad', async () => 3), 3, 'the failure was evicted');
  });

  t.test('in-flight loads are neither counted nor evicted', async (t) => {
    const c = cache<string>(new FakeClock(), { maxEntries: 1 });
    const gates = [deferred<string>(), deferred<string>(), deferred<string>()];
    const pending = gates.map((gate, i) => c.get(`k${i}`, () => gate.promise));
    t.equal(c.size, 0);
    await c.get('settled', async () => 's');
    t.equal(c.size, 1);
    const joined = c.get('k0', async () => 'second load');
    t.equal(c.stats().coalesced, 1, 'the in-flight load survived a full cache');
    gates.forEach((gate, i) => gate.resolve(`v${i}`));
    t.strictSame(await Promise.all(pending), ['v0', 'v1', 'v2']);
    t.equal(await joined, 'v0');
    t.equal(c.size, 1, 'settling still respects the bound');
  });

  t.test('delete and clear forget entries and detach in-flight loads', async (t) => {
    const c = cache<string>(new FakeClock());
    await c.get('a', async () => 'a1');
    await c.get('b', async () => 'b1');
    c.delete('a');
    t.equal(c.size, 1);
    t.equal(await c.get('a', async () => 'a2'), 'a2');
    c.clear();
    t.equal(c.size, 0);
    t.equal(await c.get('b', async () => 'b2'), 'b2');

    c.clear();
    const oldGate = deferred<string>();
    const freshGate = deferred<string>();
    const old = c.get('x', () => oldGate.promise);
    c.delete('x');
    const fresh = c.get('x', () => freshGate.promise);
    oldGate.resolve('stale');
    t.equal(await old, 'stale', 'the detached load still answers its waiters');
    t.equal(c.size, 0, 'the detached result was not cached');
    const coalescedBefore = c.stats().coalesced;
    const joined = c.get('x', async () => 'unexpected');
    t.equal(c.stats().coalesced, coalescedBefore + 1, 'the new load is still in flight after the old one settled');
    freshGate.resolve('new');
    t.strictSame(await Promise.all([fresh, joined]), ['new', 'new']);
    t.equal(await c.get('x', async () => 'unexpected'), 'new', 'the new result is cached');
    t.equal(c.stats().evictions, 0, 'delete and clear are not evictions');
  });

  t.test('stats returns a snapshot', async (t) => {
    const c = cache<string>(new FakeClock());
    const before = c.stats();
    await c.get('k', async () => 'v');
    t.equal(before.misses, 0);
    t.equal(c.stats().misses, 1);
  });

  t.test('rejects invalid options', async (t) => {
    const clock = new FakeClock();
    t.throws(() => cache(clock, { maxEntries: 0 }), RangeError);
    t.throws(() => cache(clock, { maxEntries: 1.5 }), RangeError);
    t.throws(() => cache(clock, { ttlMs: -1 }), RangeError);
    t.throws(() => cache(clock, { failureTtlMs: Number.NaN }), RangeError);
    t.doesNotThrow(() => cache(clock, { maxEntries: 1, ttlMs: Infinity, failureTtlMs: 0 }));
  });
});

const DIGEST_A = `sha256:${'a'.repeat(64)}`;
const DIGEST_B = `sha256:${'b'.repeat(64)}`;

function config(manifestDigest: string, name: string): ImageConfigValue {
  return { manifestDigest, entrypoint: [`/${name}`], cmd: ['--serve'] };
}

/** Registry fakes that count their calls. */
function registry(tags: Record<string, string>) {
  const calls = { resolveTag: [] as string[], fetchConfig: [] as string[] };
  return {
    calls,
    resolveTag: (tag: string) => async () => {
      calls.resolveTag.push(tag);
      const digest = tags[tag];
      if (digest === undefined) throw new Error(`tag ${tag} unknown`);
      return digest;
    },
    fetchConfig: (platform: string) => async (digest: string) => {
      calls.fetchConfig.push(`${digest} ${platform}`);
      return config(digest, `${digest.slice(7, 10)}-${platform}`);
    },
  };
}

const NGINX: ImageKeyParts = { registry: 'docker.io', repository: 'library/nginx', platform: 'linux/amd64' };
const SCOPE = JSON.stringify(['team-a', ['pull'], 'default']);

/** A resolve in one scope whose loads used credentials (so nothing of it is kept for anyone else). */
function resolveIn(images: ImageConfigCache, image: ImageKeyParts, resolveTag: () => Promise<string>, fetchConfig: (digest: string) => Promise<ImageConfigValue>, scope = SCOPE, anonymous = false): Promise<ImageConfigValue> {
  return images.resolve(image, scope, async () => ({ value: await resolveTag(), anonymous }), async (digest) => ({ value: await fetchConfig(digest), anonymous }));
}

t.test('ImageConfigCache', async (t) => {
  const options = (clock: Clock) => ({ tagTtlMs: 60_000, maxEntries: 100, failureTtlMs: 5_000, clock });

  t.test('a digest reference skips the tag level', async (t) => {
    const images = new ImageConfigCache(options(new FakeClock()));
    const reg = registry({});
    const image = { ...NGINX, tag: 'ignored', digest: DIGEST_A };
    const first = await resolveIn(images, image, reg.resolveTag('ignored'), reg.fetchConfig('linux/amd64'));
    t.strictSame(first, config(DIGEST_A, 'aaa-linux/amd64'));
    await resolveIn(images, image, reg.resolveTag('ignored'), reg.fetchConfig('linux/amd64'));
    t.strictSame(reg.calls, { resolveTag: [], fetchConfig: [`${DIGEST_A} linux/amd64`] });
    const stats = images.stats();
    t.strictSame(stats.tags, { hits: 0, misses: 0, coalesced: 0, failuresServed: 0, evictions: 0 });
    t.equal(stats.configs.hits, 1);
  });

  t.test('after tagTtl the tag is re-resolved and a new digest brings the new config', async (t) => {
    const clock = new FakeClock();
    const images = new ImageConfigCache(options(clock));
    const tags: Record<string, string> = { '1.27': DIGEST_A };
    const reg = registry(tags);
    const image = { ...NGINX, tag: '1.27' };
    const resolve = () => resolveIn(images, image, reg.resolveTag('1.27'), reg.fetchConfig('linux/amd64'));
    t.equal((await resolve()).manifestDigest, DIGEST_A);
    tags['1.27'] = DIGEST_B; // the tag is pushed again
    clock.advance(59_999);
    t.equal((await resolve()).manifestDigest, DIGEST_A, 'the tag is trusted within its ttl');
    t.equal(reg.calls.resolveTag.length, 1);
    clock.advance(1);
    const after = await resolve();
    t.strictSame(after, config(DIGEST_B, 'bbb-linux/amd64'));
    t.equal(reg.calls.resolveTag.length, 2);
    t.strictSame(reg.calls.fetchConfig, [`${DIGEST_A} linux/amd64`, `${DIGEST_B} linux/amd64`]);
    tags['1.27'] = DIGEST_A; // rolled back
    clock.advance(60_000);
    t.equal((await resolve()).manifestDigest, DIGEST_A);
    t.equal(reg.calls.fetchConfig.length, 2, 'configs by digest never expire');
  });

  t.test('a lookup that asked the registry for its tag is reported loaded, even when its config was cached', async (t) => {
    // image_config_lookups_total{result}: cache_hit must mean "the registry was not asked".
    const clock = new FakeClock();
    const images = new ImageConfigCache(options(clock));
    const reg = registry({ '1.27': DIGEST_A });
    const image = { ...NGINX, tag: '1.27' };
    const served: string[] = [];
    const resolve = () =>
      images.resolve(image, SCOPE, async () => ({ value: await reg.resolveTag('1.27')(), anonymous: false }), async (digest) => ({ value: await reg.fetchConfig('linux/amd64')(digest), anonymous: false }), (how) => served.push(how));
    await resolve();
    await resolve();
    t.strictSame(served, ['loaded', 'hit'], 'fetched, then a hit within the tag ttl');
    clock.advance(60_000);
    served.length = 0;
    await Promise.all([resolve(), resolve()]);
    t.equal(reg.calls.resolveTag.length, 2, 'the expired tag was resolved at the registry again');
    t.equal(reg.calls.fetchConfig.length, 1, 'its config came from the cache');
    t.strictSame(served, ['loaded', 'coalesced'], 'the lookup that resolved the tag was loaded, the one that joined it coalesced: neither was a hit');
  });

  t.test('two tags pointing at one digest share one config fetch', async (t) => {
    const images = new ImageConfigCache(options(new FakeClock()));
    const reg = registry({ latest: DIGEST_A, '1.27': DIGEST_A });
    const a = await resolveIn(images, { ...NGINX, tag: 'latest' }, reg.resolveTag('latest'), reg.fetchConfig('linux/amd64'));
    const b = await resolveIn(images, { ...NGINX, tag: '1.27' }, reg.resolveTag('1.27'), reg.fetchConfig('linux/amd64'));
    t.equal(a, b, 'the same cached config');
    t.strictSame(reg.calls, { resolveTag: ['latest', '1.27'], fetchConfig: [`${DIGEST_A} linux/amd64`] });
  });

  t.test('500 concurrent resolves of one tag: one resolveTag and one fetchConfig', async (t) => {
    const images = new ImageConfigCache(options(new FakeClock()));
    const reg = registry({ stable: DIGEST_A });
    // Pods of one scope (namespace, pull secrets, ServiceAccount) share one load.
    const results = await Promise.all(
      Array.from({ length: 500 }, () => resolveIn(images, { ...NGINX, tag: 'stable' }, reg.resolveTag('stable'), reg.fetchConfig('linux/amd64'))),
    );
    t.ok(results.every((r) => r.manifestDigest === DIGEST_A && r.entrypoint[0] === '/aaa-linux/amd64'));
    t.strictSame(reg.calls, { resolveTag: ['stable'], fetchConfig: [`${DIGEST_A} linux/amd64`] });
    const stats = images.stats();
    t.equal(stats.tags.coalesced, 499);
    t.equal(stats.configs.misses, 1);
    t.equal(stats.configs.coalesced, 499);
  });

  t.test('different platforms are different config entries', async (t) => {
    const images = new ImageConfigCache(options(new FakeClock()));
    const reg = registry({ latest: DIGEST_A });
    const amd = await resolveIn(images, { ...NGINX, platform: 'linux/amd64' }, reg.resolveTag('latest'), reg.fetchConfig('linux/amd64'));
    const arm = await resolveIn(images, { ...NGINX, platform: 'linux/arm64' }, reg.resolveTag('latest'), reg.fetchConfig('linux/arm64'));
    t.strictSame(amd.entrypoint, ['/aaa-linux/amd64']);
    t.strictSame(arm.entrypoint, ['/aaa-linux/arm64']);
    t.strictSame(reg.calls.resolveTag, ['latest'], 'the tag level is shared by platforms; no tag means latest');
    t.strictSame(reg.calls.fetchConfig, [`${DIGEST_A} linux/amd64`, `${DIGEST_A} linux/arm64`]);
    await resolveIn(images, { ...NGINX, platform: 'linux/arm64' }, reg.resolveTag('latest'), reg.fetchConfig('linux/arm64'));
    t.equal(reg.calls.fetchConfig.length, 2);
  });

  t.test('registry and repository are part of both keys', async (t) => {
    const images = new ImageConfigCache(options(new FakeClock()));
    const reg = registry({ v1: DIGEST_A });
    const parts: ImageKeyParts[] = [
      { ...NGINX, tag: 'v1' },
      { ...NGINX, registry: 'registry.example.com:5000', tag: 'v1' },
      { ...NGINX, repository: 'library/redis', tag: 'v1' },
    ];
    for (const image of parts) await resolveIn(images, image, reg.resolveTag('v1'), reg.fetchConfig('linux/amd64'));
    t.equal(reg.calls.resolveTag.length, 3);
    t.equal(reg.calls.fetchConfig.length, 3);
  });

  t.test('failures are cached briefly at both levels', async (t) => {
    const clock = new FakeClock();
    const images = new ImageConfigCache(options(clock));
    const reg = registry({});
    const image = { ...NGINX, tag: 'missing' };
    const first = await outcome(resolveIn(images, image, reg.resolveTag('missing'), reg.fetchConfig('linux/amd64')));
    const second = await outcome(resolveIn(images, image, reg.resolveTag('missing'), reg.fetchConfig('linux/amd64')));
    t.ok('error' in first && 'error' in second && first.error === second.error, 'the same error re-thrown');
    t.equal(reg.calls.resolveTag.length, 1);
    clock.advance(5_000);
    await outcome(resolveIn(images, image, reg.resolveTag('missing'), reg.fetchConfig('linux/amd64')));
    t.equal(reg.calls.resolveTag.length, 2, 'retried after failureTtlMs');

    let fetches = 0;
    const flaky = async (digest: string) => {
      fetches++;
      if (fetches === 1) throw new Error('blob unknown');
      return config(digest, 'ok');
    };
    const pinned = { ...NGINX, digest: DIGEST_B };
    await t.rejects(resolveIn(images, pinned, reg.resolveTag('x'), flaky), { message: 'blob unknown' });
    await t.rejects(resolveIn(images, pinned, reg.resolveTag('x'), flaky), { message: 'blob unknown' });
    t.equal(fetches, 1);
    clock.advance(5_000);
    t.equal((await resolveIn(images, pinned, reg.resolveTag('x'), flaky)).entrypoint[0], '/ok');
    t.equal(fetches, 2);
  });

  t.test('scopes: a pod is given only what its own scope read, or what was read anonymously', async (t) => {
    const images = new ImageConfigCache(options(new FakeClock()));
    const teamA = SCOPE;
    const teamB = JSON.stringify(['team-b', [], 'default']);
    const privateReg = registry({ v1: DIGEST_A });
    const image = { ...NGINX, registry: 'registry.example.com', repository: 'acme/private', tag: 'v1' };
    // team-a reads the private image with its pull secret.
    await resolveIn(images, image, privateReg.resolveTag('v1'), privateReg.fetchConfig('linux/amd64'), teamA);
    // team-b, without access, gets its own loads (here refused), not team-a's config.
    const refused = async () => {
      throw new Error('unauthorized (HTTP 401) anonymously');
    };
    await t.rejects(resolveIn(images, image, refused, refused, teamB), { message: /unauthorized/ });
    // team-b, in the other order (a digest reference: only the config level), is refused too.
    await t.rejects(resolveIn(images, { ...image, digest: DIGEST_A }, refused, refused, teamB), { message: /unauthorized/ });
    t.strictSame(privateReg.calls, { resolveTag: ['v1'], fetchConfig: [`${DIGEST_A} linux/amd64`] }, "team-a's loads ran once each");
    // team-a is still served from its cache; its pods share it.
    await resolveIn(images, image, privateReg.resolveTag('v1'), privateReg.fetchConfig('linux/amd64'), teamA);
    t.equal(privateReg.calls.fetchConfig.length, 1);

    // What a scope read anonymously is given to every scope without asking again.
    const publicReg = registry({ stable: DIGEST_B });
    const open = { ...NGINX, tag: 'stable' };
    const first = await resolveIn(images, open, publicReg.resolveTag('stable'), publicReg.fetchConfig('linux/amd64'), teamB, true);
    const served: string[] = [];
    const second = await images.resolve(open, teamA, async () => t.fail('no tag load') as never, async () => t.fail('no config load') as never, (how) => served.push(how));
    t.equal(second, first, 'the same config, read by team-b anonymously');
    t.strictSame(served, ['hit']);
  });

  t.test('scopes too long for any real pod are looked up for their caller alone and never kept', async (t) => {
    const images = new ImageConfigCache(options(new FakeClock()));
    const long = JSON.stringify(['ns', Array.from({ length: 100 }, (_, i) => ({ name: `pull-secret-${i}` })), 'default']);
    t.ok(long.length > 2048);
    const reg = registry({ v1: DIGEST_A });
    const image = { ...NGINX, tag: 'v1' };
    const served: string[] = [];
    for (let i = 0; i < 3; i++) {
      const resolveTag = reg.resolveTag('v1');
      const fetchConfig = reg.fetchConfig('linux/amd64');
      const found = await images.resolve(image, long, async () => ({ value: await resolveTag(), anonymous: true }), async (digest) => ({ value: await fetchConfig(digest), anonymous: true }), (how) => served.push(how));
      t.strictSame(found, config(DIGEST_A, 'aaa-linux/amd64'));
    }
    t.equal(reg.calls.fetchConfig.length, 3, 'each lookup fetched its own, even what it read anonymously');
    t.strictSame(served, ['loaded', 'loaded', 'loaded']);
    const stats = images.stats();
    t.equal(stats.tags.misses + stats.configs.misses, 0, 'the caches were never consulted');
    // A real scope still shares them.
    await resolveIn(images, image, reg.resolveTag('v1'), reg.fetchConfig('linux/amd64'));
    await resolveIn(images, image, reg.resolveTag('v1'), reg.fetchConfig('linux/amd64'));
    t.equal(reg.calls.fetchConfig.length, 4);
  });

  t.test('scopes: loads are coalesced within a scope, and one scope\'s failure never reaches another', async (t) => {
    const images = new ImageConfigCache(options(new FakeClock()));
    const image = { ...NGINX, tag: 'v1' };
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let aLoads = 0;
    let bLoads = 0;
    const wrongSecret = async (): Promise<string> => {
      aLoads++;
      await gate;
      throw new Error('unauthorized (HTTP 401) with credentials Secret team-a/wrong');
    };
    const goodSecret = async (): Promise<string> => {
      bLoads++;
      await gate;
      return DIGEST_A;
    };
    const reg = registry({});
    const a1 = resolveIn(images, image, wrongSecret, reg.fetchConfig('linux/amd64'), SCOPE);
    const a2 = resolveIn(images, image, wrongSecret, reg.fetchConfig('linux/amd64'), SCOPE);
    const b = resolveIn(images, image, goodSecret, reg.fetchConfig('linux/amd64'), JSON.stringify(['team-b', ['pull'], 'default']));
    release();
    await t.rejects(a1, { message: /team-a\/wrong/ });
    await t.rejects(a2, { message: /team-a\/wrong/ });
    t.equal((await b).manifestDigest, DIGEST_A, "team-b is answered with its own credentials' result");
    t.equal(aLoads, 1, 'team-a loaded once for both of its pods');
    t.equal(bLoads, 1);
  });

  t.test('the configs kept are bounded by the characters of their ENTRYPOINT and CMD', async (t) => {
    const images = new ImageConfigCache(options(new FakeClock()));
    let fetches = 0;
    // 5 Mi characters each: two do not fit the ~8 Mi bound together.
    const long = async (digest: string): Promise<ImageConfigValue> => {
      fetches++;
      return { manifestDigest: digest, entrypoint: ['/app'], cmd: ['x'.repeat(5 * 1024 * 1024)] };
    };
    await resolveIn(images, { ...NGINX, digest: DIGEST_A }, async () => 'unused', long);
    await resolveIn(images, { ...NGINX, digest: DIGEST_A }, async () => 'unused', long);
    t.equal(fetches, 1, 'one such config is kept');
    await resolveIn(images, { ...NGINX, digest: DIGEST_B }, async () => 'unused', long);
    await resolveIn(images, { ...NGINX, digest: DIGEST_A }, async () => 'unused', long);
    t.equal(fetches, 3, 'the second evicted the first');
    t.equal(images.stats().configs.evictions, 2);
  });

  t.test('cached configs are frozen copies', async (t) => {
    const images = new ImageConfigCache(options(new FakeClock()));
    const original = config(DIGEST_A, 'app');
    const image = { ...NGINX, digest: DIGEST_A };
    const got = await resolveIn(images, image, async () => 'unused', async () => original);
    original.entrypoint.push('--changed-by-fetcher');
    t.throws(() => got.cmd.push('--changed-by-caller'), TypeError);
    const again = await resolveIn(images, image, async () => 'unused', async () => config(DIGEST_A, 'other'));
    t.strictSame(again, config(DIGEST_A, 'app'));
  });
});

t.test('AsyncCache: a weight bound keeps the total weight of successes within it', async (t) => {
  const cache = new AsyncCache<number[]>({ maxEntries: 100, ttlMs: 60_000, failureTtlMs: 0, weigh: (v) => v.length, maxWeight: 10 });
  await cache.get('a', async () => [1, 2, 3, 4]);
  await cache.get('b', async () => [1, 2, 3, 4]);
  t.equal(cache.size, 2);
  await cache.get('c', async () => [1, 2, 3, 4]);
  t.equal(cache.size, 2, 'the least recently used went to stay within 10');
  let loads = 0;
  await cache.get('a', async () => (loads++, [1]));
  t.equal(loads, 1, '"a" was evicted');
  await cache.get('huge', async () => Array.from({ length: 11 }, () => 0));
  t.equal(cache.size, 3, 'a value heavier than the whole bound is not kept');
  await cache.get('huge', async () => (loads++, [0]));
  t.equal(loads, 2);
});
