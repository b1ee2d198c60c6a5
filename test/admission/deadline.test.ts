import t from 'tap';
import { withinDeadline } from '../../src/admission/deadline.js';

t.test('work that finishes in time gives its value', async (t) => {
  const outcome = await withinDeadline(1_000, async (deadline) => {
    await deadline.track('quick read', new Promise((resolve) => setTimeout(resolve, 5)));
    return 42;
  });
  t.strictSame(outcome, { ok: true, value: 42 });
});

t.test('at the deadline: what is still pending, in the order started; the signal aborts', async (t) => {
  let signal: AbortSignal | undefined;
  const outcome = await withinDeadline(50, async (deadline) => {
    signal = deadline.signal;
    await deadline.track('fast', Promise.resolve());
    const hang = (label: string) => deadline.track(label, new Promise<void>((resolve) => deadline.signal.addEventListener('abort', () => resolve())));
    await Promise.all([hang('Secret a/b'), hang('the image config of container "c"'), hang('Secret a/b')]);
    return 'late';
  });
  t.strictSame(outcome, { ok: false, pending: ['Secret a/b', 'the image config of container "c"'] });
  t.equal(signal?.aborted, true);
});

t.test('a failure within the deadline rejects as usual; one after it is nobody\'s concern', async (t) => {
  await t.rejects(withinDeadline(1_000, async () => { throw new RangeError('boom'); }), RangeError);
  const late = await withinDeadline(10, (deadline) => deadline.track('slow', new Promise((_, reject) => setTimeout(() => reject(new Error('late')), 50))));
  t.strictSame(late, { ok: false, pending: ['slow'] });
  await new Promise((resolve) => setTimeout(resolve, 80));
});

t.test('at the deadline the admission stops waiting for shared work that goes on', async (t) => {
  let tracked: Promise<unknown> | undefined;
  const shared = new Promise<string>(() => undefined);
  const outcome = await withinDeadline(20, async (deadline) => {
    tracked = deadline.track('shared lookup', shared);
    return tracked;
  });
  t.strictSame(outcome, { ok: false, pending: ['shared lookup'] });
  await t.rejects(tracked!, /the admission deadline passed/, 'what the admission awaited rejects, though the shared work never settles');
});
