/**
 * The facts cache's memory bound holds whatever the keys' length: measured on the heap, with a
 * forced collection, for objects as the reader makes them (keys out of a parsed JSON body).
 */
import t from 'tap';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { MAX_FACTS_BYTES, createObjectFactsCache, factsWeight, objectFactsKey } from '../../src/admission/object-facts-cache.js';
import type { ObjectFacts } from '../../src/core/object-facts.js';
import { deriveObjectFacts } from '../../src/core/object-facts.js';
import { decideAdmission } from '../../src/admission/handler.js';
import { staticImageConfigs } from '../../src/images/image-config-source.js';
import type { KubeObjectReader } from '../../src/kubernetes/object-reader.js';
import { SETTINGS } from '../helpers/pods.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function heapUsed(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

/** A ConfigMap's facts as the reader gives them: `keys` keys of `length` characters, a third holding references. */
function facts(object: number, keys: number, length: number): ObjectFacts {
  const data: Record<string, string> = {};
  for (let i = 0; i < keys; i++) data[`${object}.${i}.`.padEnd(length, 'k')] = i % 3 === 0 ? 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:db' : 'plain';
  const parsed = JSON.parse(JSON.stringify({ data })) as { data: Record<string, string> };
  return deriveObjectFacts(new Map(Object.entries(parsed.data)));
}

/** Loads `count` objects into a new cache; what the cache then holds on the heap, and how many it holds. */
async function fill(count: number, keys: number, length: number) {
  const before = heapUsed();
  const cache = createObjectFactsCache(60_000);
  let weight = 0;
  for (let i = 0; i < count; i++) {
    const loaded = await cache.get(objectFactsKey('ConfigMap', 'team', `cm-${i}`), async () => facts(i, keys, length));
    weight = factsWeight(loaded);
  }
  const bytes = heapUsed() - before;
  // Keeps the cache reachable until measured.
  return { bytes, held: cache.size, weightEach: weight };
}

t.test('50 ConfigMaps of 3,990 keys of 253 characters: the cache holds at most MAX_FACTS_BYTES', async (t) => {
  const { bytes, held, weightEach } = await fill(50, 3_990, 253);
  const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;
  t.ok(held >= 1, `some are held (${held})`);
  t.ok(held < 50, `not all 50: ${held} held`);
  t.ok(bytes <= MAX_FACTS_BYTES, `heap taken ${mib(bytes)} <= ${mib(MAX_FACTS_BYTES)}`);
  t.ok(bytes <= held * weightEach, `the estimate (${mib(held * weightEach)}) is on the high side of the heap taken (${mib(bytes)})`);
});

t.test('9,000 objects of 10 keys of 20 characters are all held, within the estimate', async (t) => {
  const { bytes, held, weightEach } = await fill(9_000, 10, 20);
  t.equal(held, 9_000);
  t.ok(bytes <= held * weightEach, `estimated ${held * weightEach} >= heap taken ${bytes}`);
});

t.test('an object is weighed by the length of its keys; a missing one still weighs', async (t) => {
  const short = factsWeight({ exists: true, keys: new Map([['k', undefined]]) });
  const long = factsWeight({ exists: true, keys: new Map([['k'.repeat(253), undefined]]) });
  t.equal(long - short, 2 * 252, 'two bytes a character');
  t.ok(factsWeight({ exists: false }) > 0);
});

t.test('hand-made pods naming objects longer than any Kubernetes name: what admissions leave in the cache stays within MAX_FACTS_BYTES', async (t) => {
  // As the API reader answers a name that cannot be stored (with `/` or `%`): not found, without asking.
  const reader: KubeObjectReader = {
    read: async () => ({ found: false }),
    readServiceAccount: async () => ({ found: false }),
  };
  const before = heapUsed();
  const cache = createObjectFactsCache(3_000);
  const deps = { settings: SETTINGS, objects: reader, images: staticImageConfigs({}), maxConcurrentReads: 8, admissionTimeoutMs: 8_000, objectFacts: cache };
  for (let i = 0; i < 300; i++) {
    // One admission's body (each well under --max-request-bytes): one optional Secret of a
    // 200,000-character name, or in a namespace of that length.
    const long = `x/${i}-`.padEnd(200_000, 'n');
    const [name, namespace] = i % 2 === 0 ? [long, 'ns'] : ['db', long];
    const pod = { metadata: { name: 'p' }, spec: { containers: [{ name: 'c', command: ['/a'], env: [{ name: 'X', valueFrom: { secretKeyRef: { name, key: 'k', optional: true } } }] }] } };
    const decision = await decideAdmission({ uid: `u-${i}`, kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE', namespace, object: JSON.parse(JSON.stringify(pod)) }, deps);
    t.equal(decision.response.allowed, true);
  }
  const bytes = heapUsed() - before;
  t.ok(bytes <= MAX_FACTS_BYTES, `heap kept after 300 admissions: ${(bytes / 1048576).toFixed(1)} MiB <= ${MAX_FACTS_BYTES / 1048576} MiB`);
});
