// AsyncCache's default clock. (Its other behaviour is tested with a fake clock in test/images/cache.test.ts.)
import t from 'tap';
import { AsyncCache } from '../../src/cache/async-cache.js';

t.test('without a clock, TTLs are measured on a monotonic clock, whatever the wall clock does', async (t) => {
  const realNow = Date.now;
  t.teardown(() => {
    Date.now = realNow;
  });
  const start = realNow();
  let wall = start;
  Date.now = () => wall;

  const forward = new AsyncCache<string>({ maxEntries: 1, ttlMs: 60_000, failureTtlMs: 0 });
  await forward.get('k', async () => 'v');
  wall = start + 3_600_000; // the wall clock stepped an hour ahead (NTP, an operator)
  t.equal(await forward.get('k', async () => 'reloaded'), 'v', 'still served: its TTL has not passed');

  const back = new AsyncCache<string>({ maxEntries: 1, ttlMs: 20, failureTtlMs: 0 });
  wall = start;
  await back.get('k', async () => 'v');
  wall = start - 3_600_000; // and an hour back
  await new Promise((resolve) => setTimeout(resolve, 60));
  t.equal(await back.get('k', async () => 'reloaded'), 'reloaded', 'reloaded once its TTL has passed, not an hour later');

  const failures = new AsyncCache<string>({ maxEntries: 1, ttlMs: 0, failureTtlMs: 20 });
  wall = start;
  await t.rejects(failures.get('k', async () => Promise.reject(new Error('registry down'))));
  wall = start - 3_600_000;
  await new Promise((resolve) => setTimeout(resolve, 60));
  t.equal(await failures.get('k', async () => 'recovered'), 'recovered', 'a failure is retried once its TTL has passed');
});
