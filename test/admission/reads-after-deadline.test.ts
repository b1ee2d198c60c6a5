/**
 * An admission whose deadline passed while its reads were queued behind
 * --max-concurrent-reads starts none of them afterwards: the pod is already denied, and a
 * slow API server must not get the whole queue at once.
 */
import t from 'tap';
import { decideAdmission } from '../../src/admission/handler.js';
import type { AdmissionDependencies } from '../../src/admission/handler.js';
import { createObjectFactsCache } from '../../src/admission/object-facts-cache.js';
import type { Pod } from '../../src/core/pod.js';
import { staticImageConfigs } from '../../src/images/image-config-source.js';
import type { KubeObjectReader, ObjectLookup } from '../../src/kubernetes/lookup.js';
import { SETTINGS } from '../helpers/pods.js';

for (const cached of [true, false]) {
  t.test(`reads queued at the deadline are not started (${cached ? 'through the facts cache' : 'without it'})`, async (t) => {
    let running = 0;
    let mostRunning = 0;
    let started = 0;
    const objects: KubeObjectReader = {
      async read(): Promise<ObjectLookup> {
        started++;
        running++;
        mostRunning = Math.max(mostRunning, running);
        // A slow API server, still within --lookup-timeout.
        await new Promise((resolve) => setTimeout(resolve, 200));
        running--;
        return { found: true, data: new Map([['K', 'plain']]) };
      },
      async readServiceAccount() {
        return { found: false };
      },
    };
    const deps: AdmissionDependencies = {
      settings: SETTINGS,
      objects,
      images: staticImageConfigs({}),
      maxConcurrentReads: 2,
      admissionTimeoutMs: 300,
      ...(cached ? { objectFacts: createObjectFactsCache(3000) } : {}),
    };
    const env = Array.from({ length: 40 }, (_, i) => ({ name: `V${i}`, valueFrom: { configMapKeyRef: { name: `cm-${i}`, key: 'K' } } }));
    const pod: Pod = { metadata: { name: 'p' }, spec: { containers: [{ name: 'app', image: 'app:1', command: ['/app'], env }] } };
    const decision = await decideAdmission({ uid: 'u', kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE', namespace: 'prod', object: pod }, deps);
    t.equal(decision.result, 'denied');
    t.match(decision.response.status?.message, /no answer within 300ms/);
    const atAnswer = started;
    t.ok(atAnswer <= 4, `two reads at a time for 300 ms: ${atAnswer} started`);
    await new Promise((resolve) => setTimeout(resolve, 500));
    t.equal(started, atAnswer, 'no read started after the answer');
    t.ok(mostRunning <= 2, `at most --max-concurrent-reads at once (${mostRunning})`);
  });
}
