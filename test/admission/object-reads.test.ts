import t from 'tap';
import { AdmissionDeadline } from '../../src/admission/deadline.js';
import { VariableBudgetExceeded, resolveObjectFacts } from '../../src/admission/object-reads.js';
import { decidePod } from '../../src/admission/pod-outcome.js';
import type { PodLookups } from '../../src/admission/pod-outcome.js';
import type { EnvObject, ObjectUse } from '../../src/core/env-sources.js';
import type { ObjectFacts } from '../../src/core/object-facts.js';
import type { Pod } from '../../src/core/pod.js';
import { SETTINGS } from '../helpers/pods.js';

const FACTS: ObjectFacts = { exists: true, keys: new Map([['K', undefined]]) };

/**
 * Loads as the webhook runs them through the shared facts cache: tracked by the deadline,
 * so each one rejects as soon as the deadline passes while the read itself goes on (for
 * 50ms here). Records which objects were loaded, and the most reads under way at once.
 */
function sharedLoads(deadline: AdmissionDeadline) {
  const started: string[] = [];
  let running = 0;
  let most = 0;
  const load = (object: EnvObject): Promise<ObjectFacts> => {
    started.push(object.name);
    running++;
    most = Math.max(most, running);
    const read = new Promise<ObjectFacts>((resolve) => setTimeout(() => resolve(FACTS), 50)).finally(() => running--);
    return deadline.track(`${object.kind} ${object.name}`, read);
  };
  return { load, started, mostAtOnce: () => most };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 100));

t.test('decidePod: after the deadline, the reads still queued behind --max-concurrent-reads are not started', async (t) => {
  const deadline = new AdmissionDeadline();
  const loads = sharedLoads(deadline);
  const lookups: PodLookups = {
    objectFacts: loads.load,
    imageConfig: () => Promise.reject(new Error('not needed: every container has a command')),
    signal: deadline.signal,
  };
  const env = Array.from({ length: 10 }, (_, i) => ({ name: `V${i}`, valueFrom: { configMapKeyRef: { name: `cm-${i}`, key: 'K' } } }));
  const pod: Pod = { metadata: { name: 'p' }, spec: { containers: [{ name: 'app', image: 'app:1', command: ['/app'], env }] } };

  const decided = decidePod(pod, 'prod', SETTINGS, lookups, 2);
  await new Promise((resolve) => setTimeout(resolve, 10));
  t.same(loads.started, ['cm-0', 'cm-1'], 'two reads under way before the deadline');
  deadline.expire();
  await t.rejects(decided, { name: 'AbortError' }, 'rejects with the signal\'s reason');
  await settle();
  t.same(loads.started, ['cm-0', 'cm-1'], 'no read started after the deadline');
  t.equal(loads.mostAtOnce(), 2, 'never more than --max-concurrent-reads at once');
});

t.test('resolveObjectFacts: an already aborted signal reads nothing; without one, every object is read', async (t) => {
  const uses: ObjectUse[] = Array.from({ length: 5 }, (_, i) => ({ object: { kind: 'ConfigMap', name: `cm-${i}` }, keys: 'all' }));
  const limits = { concurrency: 2, maxVariables: 100 };

  const aborted = new AdmissionDeadline();
  aborted.expire();
  const early = sharedLoads(aborted);
  await t.rejects(resolveObjectFacts(uses, 'prod', early.load, limits, aborted.signal), { name: 'AbortError' });
  t.same(early.started, []);

  const open = new AdmissionDeadline();
  const all = sharedLoads(open);
  const facts = await resolveObjectFacts(uses, 'prod', all.load, limits, open.signal);
  t.equal(facts.size, 5);
  t.equal(all.mostAtOnce(), 2);
});

t.test('one envFrom object with more keys than the pod may define is refused as soon as it is read', async (t) => {
  const big: ObjectFacts = { exists: true, keys: new Map([['A', undefined], ['B', undefined], ['C', undefined]]) };
  const uses: ObjectUse[] = [{ object: { kind: 'ConfigMap', name: 'big' }, keys: 'all' }];
  const refused = await resolveObjectFacts(uses, 'ns', async () => big, { concurrency: 1, maxVariables: 2 }).then(
    () => undefined,
    (error: unknown) => error,
  );
  t.ok(refused instanceof VariableBudgetExceeded, 'refused for the variable budget');
  t.equal((await resolveObjectFacts(uses, 'ns', async () => big, { concurrency: 1, maxVariables: 3 })).size, 1, 'at the bound it is kept');
});
