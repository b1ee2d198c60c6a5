import t from 'tap';
import fjp from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';
import { decideAdmission } from '../../src/admission/handler.js';
import type { AdmissionDependencies } from '../../src/admission/handler.js';
import type { AdmissionRequest } from '../../src/admission/review.js';
import type { Pod } from '../../src/core/pod.js';
import { ImageConfigError, staticImageConfigs } from '../../src/images/image-config-source.js';
import { SETTINGS } from '../helpers/pods.js';
import { createObjectFactsCache } from '../../src/admission/object-facts-cache.js';
import type { DataObjectRef, KubeObjectReader, ObjectLookup } from '../../src/kubernetes/object-reader.js';
import { LookupError } from '../../src/kubernetes/object-reader.js';

const settings = SETTINGS;
const ARN = 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:db-AbCdEf';

/** An in-memory reader that records what it was asked. */
function memoryReader(objects: Record<string, Record<string, string>>, failures: Record<string, LookupError> = {}) {
  const reads: string[] = [];
  const reader: KubeObjectReader = {
    async read(ref: DataObjectRef): Promise<ObjectLookup> {
      const key = `${ref.kind}/${ref.namespace}/${ref.name}`;
      reads.push(key);
      const failure = failures[key];
      if (failure) throw failure;
      const data = objects[key];
      return data ? { found: true, data: new Map(Object.entries(data)) } : { found: false };
    },
    async readServiceAccount() {
      return { found: false };
    },
  };
  return { reader, reads };
}

function deps(reader: KubeObjectReader, images = staticImageConfigs({})): AdmissionDependencies {
  return { settings, objects: reader, images, maxConcurrentReads: 8, admissionTimeoutMs: 8_000 };
}

function podRequest(pod: Pod, extra: Partial<AdmissionRequest> = {}): AdmissionRequest {
  return { uid: 'uid-1', kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE', namespace: 'prod', object: pod, ...extra };
}

function applied(pod: Pod, patch: string | undefined): Pod {
  if (patch === undefined) throw new Error('no patch');
  const ops = JSON.parse(Buffer.from(patch, 'base64').toString()) as Operation[];
  return fjp.applyPatch(fjp.deepClone(pod) as Pod, ops, true).newDocument;
}

const podWithSecretRef: Pod = {
  metadata: { name: 'api' },
  spec: {
    containers: [
      { name: 'app', image: 'app:1', command: ['/app'], env: [{ name: 'DB', valueFrom: { secretKeyRef: { name: 'db', key: 'password' } } }] },
      { name: 'worker', image: 'app:1', command: ['/worker'], env: [{ name: 'DB', valueFrom: { secretKeyRef: { name: 'db', key: 'password' } } }] },
    ],
  },
};

t.test('reads each referenced object once, keeps no value, wraps both containers', async (t) => {
  const { reader, reads } = memoryReader({ 'Secret/prod/db': { password: ARN, other: 'plain-VALUE-42' } });
  const decision = await decideAdmission(podRequest(podWithSecretRef), deps(reader));
  t.same(reads, ['Secret/prod/db']);
  t.equal(decision.result, 'injected');
  t.equal(decision.response.uid, 'uid-1');
  const pod = applied(podWithSecretRef, decision.response.patch);
  t.same(pod.spec.containers.map((c) => c.args?.[0]), ['--provider=aws', '--provider=aws']);
  t.notMatch(JSON.stringify(decision), /plain-VALUE-42|secretsmanager/, 'neither the value nor the ARN from the Secret is in the decision');
  t.same(decision.response.auditAnnotations?.['injected-containers'], 'app,worker');
  t.match(decision.response.auditAnnotations?.['secret-references'] ?? '', 'Secret db[password]');
});

t.test('one injected container is named in the audit annotations too', async (t) => {
  const single: Pod = { metadata: { name: 'one' }, spec: { containers: [{ name: 'app', image: 'app:1', command: ['/app'], env: [{ name: 'DB', value: ARN }] }] } };
  const decision = await decideAdmission(podRequest(single), deps(memoryReader({}).reader));
  t.equal(decision.result, 'injected');
  t.strictSame(decision.response.auditAnnotations, { 'injected-containers': 'app', 'secret-references': JSON.stringify({ app: [ARN] }) });
});

t.test('non-pod kinds, other operations and subresources are allowed untouched without lookups', async (t) => {
  const { reader, reads } = memoryReader({});
  for (const extra of [
    { kind: { group: 'apps', version: 'v1', kind: 'Deployment' } },
    { kind: { group: '', version: 'v1', kind: 'ConfigMap' } },
    { kind: { group: 'example.com', version: 'v1', kind: 'Pod' } },
    { operation: 'UPDATE' },
    { operation: 'DELETE', object: null },
    { subResource: 'ephemeralcontainers' },
  ]) {
    const decision = await decideAdmission(podRequest(podWithSecretRef, extra), deps(reader));
    t.same(decision.response, { uid: 'uid-1', allowed: true }, JSON.stringify(extra));
    t.equal(decision.result, 'skipped');
  }
  t.same(reads, []);
});

t.test('without request.namespace, objects are read in the pod\'s own namespace, else in default', async (t) => {
  const { reader, reads } = memoryReader({ 'Secret/team/db': { password: ARN }, 'Secret/default/db': { password: ARN } });
  const own = await decideAdmission(podRequest({ ...podWithSecretRef, metadata: { name: 'api', namespace: 'team' } }, { namespace: '' }), deps(reader));
  t.equal(own.result, 'injected');
  t.equal(own.pod, 'team/api');
  t.same(reads, ['Secret/team/db']);
  const none = await decideAdmission(podRequest(podWithSecretRef, { namespace: '' }), deps(reader));
  t.equal(none.pod, 'default/api');
  t.same(reads, ['Secret/team/db', 'Secret/default/db']);
});

t.test('a pod of the wrong shape is denied with the reason, not a crash', async (t) => {
  const { reader } = memoryReader({});
  for (const [object, where] of [
    [null, '/'],
    [{ spec: {} }, '/spec'],
    [{ spec: { containers: 'x' } }, '/spec/containers'],
    [{ spec: { containers: [{ name: 'a', env: [{ name: 'X', value: 3 }] }] } }, '/spec/containers/0/env/0/value'],
    [{ spec: { containers: [{ name: 'a', command: 'ls' }] } }, '/spec/containers/0/command'],
    [{ spec: { containers: [{ name: 'a', stdin: true, tty: 'yes' }] } }, '/spec/containers/0/tty'],
    [{ spec: { containers: [{ name: 'a', resources: { limits: { cpu: true } } }] } }, '/spec/containers/0/resources/limits/cpu'],
    [{ metadata: { annotations: { a: 1 } }, spec: { containers: [] } }, '/metadata/annotations/a'],
  ] as const) {
    const decision = await decideAdmission(podRequest(object as unknown as Pod), deps(reader));
    t.equal(decision.response.allowed, false);
    t.equal(decision.response.status?.code, 403);
    t.match(decision.response.status?.message ?? '', `the pod is malformed: ${where}`);
  }
});

t.test('a malformed pod is denied naming the pod, as far as its metadata tells, like every other denial', async (t) => {
  const { reader } = memoryReader({});
  for (const [object, pod] of [
    [{ metadata: { name: 'web' }, spec: { containers: [{ name: 'a', env: [{ name: 'X', value: 3 }] }] } }, 'prod/web'],
    [{ metadata: { generateName: 'web-7d9f-' }, spec: {} }, 'prod/web-7d9f-<generated>'],
    [{ metadata: { name: 5 }, spec: {} }, 'prod/<unnamed>'],
    [null, 'prod/<unnamed>'],
  ] as const) {
    const decision = await decideAdmission(podRequest(object as unknown as Pod), deps(reader));
    t.equal(decision.response.status?.code, 403);
    t.ok((decision.response.status?.message ?? '').startsWith(`pod ${pod}: the pod is malformed: /`), `${JSON.stringify(object)}: ${decision.response.status?.message}`);
    t.equal(decision.pod, pod, 'and the log line names it');
  }
});

t.test('a failed lookup denies with code 500, naming the object and the cause', async (t) => {
  const failure = new LookupError({ kind: 'Secret', namespace: 'prod', name: 'db' }, 'forbidden', 'forbidden (HTTP 403): nope', 403);
  const { reader } = memoryReader({}, { 'Secret/prod/db': failure });
  const decision = await decideAdmission(podRequest(podWithSecretRef), deps(reader));
  t.equal(decision.response.allowed, false);
  t.equal(decision.response.status?.code, 500);
  t.equal(decision.response.status?.reason, 'InternalError', 'the reason that goes with 500, not Forbidden');
  t.equal(decision.response.status?.message, 'pod prod/api: cannot read Secret prod/db: forbidden (HTTP 403): nope');
});

t.test('all lookup failures of one admission are reported together', async (t) => {
  const pod: Pod = { metadata: { generateName: 'web-' }, spec: { containers: [{ name: 'a', command: ['/a'], envFrom: [{ secretRef: { name: 's1' } }, { configMapRef: { name: 'c1' } }] }] } };
  const failures = {
    'Secret/prod/s1': new LookupError({ kind: 'Secret', namespace: 'prod', name: 's1' }, 'timeout', 'timed out after 2000ms'),
    'ConfigMap/prod/c1': new LookupError({ kind: 'ConfigMap', namespace: 'prod', name: 'c1' }, 'unreachable', 'API server unreachable'),
  };
  const decision = await decideAdmission(podRequest(pod), deps(memoryReader({}, failures).reader));
  t.match(decision.response.status?.message ?? '', /^pod prod\/web-<generated>: .*Secret prod\/s1: timed out.*; .*ConfigMap prod\/c1: API server unreachable/);
});

t.test('image configs are asked only for containers without command that hold references', async (t) => {
  const pod: Pod = {
    metadata: { name: 'p' },
    spec: {
      containers: [
        { name: 'wrapped', image: 'reg.example:5000/app:2', args: ['--serve'], env: [{ name: 'K', value: ARN }] },
        { name: 'plain', image: 'unknown:1', env: [{ name: 'K', value: 'x' }] },
      ],
    },
  };
  const asked: string[] = [];
  const images = staticImageConfigs({ 'reg.example:5000/app:2': { entrypoint: ['/entry'], cmd: ['--default'] } });
  const decision = await decideAdmission(podRequest(pod), deps(memoryReader({}).reader, { configOf: (l) => (asked.push(l.image), images.configOf(l)) }));
  t.same(asked, ['reg.example:5000/app:2']);
  const result = applied(pod, decision.response.patch);
  t.same(result.spec.containers[0]?.args, ['--provider=aws', '/entry', '--serve']);
  t.same(result.spec.containers[1], pod.spec.containers[1]);
});

t.test('image lookups are bounded: one for each image, however many containers name it, and at most 100 images', async (t) => {
  const needing = (images: string[]): Pod => ({ metadata: { name: 'p' }, spec: { containers: images.map((image, i) => ({ name: `c${i}`, image, env: [{ name: 'K', value: ARN }] })) } });
  const asking = () => {
    const asked: string[] = [];
    const by: string[] = [];
    const source = { configOf: async (lookup: { image: string; container: string }) => (asked.push(lookup.image), by.push(lookup.container), { entrypoint: [`/${lookup.image}`], cmd: [] }) };
    return { asked, by, source };
  };
  // 2,000 containers of one image: one lookup, and each container wrapped with its config.
  const one = asking();
  const shared = needing(Array.from({ length: 2_000 }, (_, i) => (i % 2 === 0 ? 'reg.example/app:1' : 'reg.example/tool:1')));
  const decision = await decideAdmission(podRequest(shared), deps(memoryReader({}).reader, one.source));
  t.same(one.asked, ['reg.example/app:1', 'reg.example/tool:1']);
  t.same(one.by, ['c0', 'c1'], 'asked for by the first container of each image, which a failure names');
  const result = applied(shared, decision.response.patch);
  t.same(result.spec.containers[1_998]?.args, ['--provider=aws', '/reg.example/app:1']);
  t.same(result.spec.containers[1_999]?.args, ['--provider=aws', '/reg.example/tool:1']);

  // Each image is a registry lookup (3 requests and their TLS handshakes): 10,000 of them took seconds of CPU.
  const many = asking();
  const distinct = await decideAdmission(podRequest(needing(Array.from({ length: 101 }, (_, i) => `reg.example/app${i}:1`))), deps(memoryReader({}).reader, many.source));
  t.equal(distinct.response.status?.code, 403);
  t.equal(
    distinct.response.status?.message,
    'pod prod/p: the containers without "command" name 101 images, more than the 100 whose ENTRYPOINT and CMD one pod may have looked up; set "command" on the containers, or the secrets-init/command.<container> annotations',
  );
  t.same(many.asked, [], 'nothing was looked up');
  const hundred = asking();
  t.equal((await decideAdmission(podRequest(needing(Array.from({ length: 100 }, (_, i) => `reg.example/app${i}:1`))), deps(memoryReader({}).reader, hundred.source))).result, 'injected');
  t.equal(hundred.asked.length, 100);
});

t.test('an image config failure denies, never admits the pod unwrapped', async (t) => {
  const pod: Pod = { metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'nowhere:1', env: [{ name: 'K', value: ARN }] }] } };
  const decision = await decideAdmission(podRequest(pod), deps(memoryReader({}).reader));
  t.equal(decision.response.allowed, false);
  t.match(decision.response.status?.message ?? '', 'image "nowhere:1" is not known');
});

t.test('an image failure the pod causes is a 403; one of a registry a 500', async (t) => {
  const pod: Pod = {
    metadata: { name: 'p' },
    spec: { containers: [{ name: 'a', image: 'bad', env: [{ name: 'K', value: ARN }] }, { name: 'b', image: 'down', env: [{ name: 'K', value: ARN }] }] },
  };
  const source = (faults: Record<string, 'pod' | 'dependency'>) => ({
    configOf: async ({ image }: { image: string }) => { throw new ImageConfigError(`image ${image} failed`, faults[image]); },
  });
  const podOnly = await decideAdmission(podRequest({ ...pod, spec: { containers: [pod.spec.containers[0]!] } }), deps(memoryReader({}).reader, source({ bad: 'pod' })));
  t.equal(podOnly.response.status?.code, 403);
  t.equal(podOnly.response.status?.reason, 'Forbidden');
  const both = await decideAdmission(podRequest(pod), deps(memoryReader({}).reader, source({ bad: 'pod', down: 'dependency' })));
  t.equal(both.response.status?.code, 500, 'a failed dependency decides');
  t.match(both.response.status?.message, /image bad failed; image down failed/);
});

t.test('what a pod makes the answer echo is bounded: the message, the warnings, the audit', async (t) => {
  const image = `registry.example.com/${'a'.repeat(1024 * 1024)}`;
  const huge = await decideAdmission(podRequest({ metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image, env: [{ name: 'K', value: ARN }] }] } }), deps(memoryReader({}).reader));
  t.equal(huge.response.allowed, false);
  t.ok((huge.response.status?.message.length ?? 0) < 4200, `the denial is short (${huge.response.status?.message.length} characters)`);
  t.match(huge.response.status?.message, /characters left out\)$/);

  const containers = Array.from({ length: 300 }, (_, i) => ({
    name: `c${i}`,
    command: ['/app'],
    env: [{ name: 'K', value: ARN }, { name: 'PASSWORD', value: `${ARN}-${i}` }],
    livenessProbe: { exec: { command: ['check', '$K'] } },
  }));
  const many = await decideAdmission(podRequest({ metadata: { name: 'p' }, spec: { containers } }), deps(memoryReader({}).reader));
  t.equal(many.response.allowed, true);
  const warnings = many.response.warnings ?? [];
  t.ok(warnings.join('').length < 4600, `warnings are bounded (${warnings.length} lines)`);
  t.match(warnings.at(-1), /^\d+ more warnings left out$/);
  t.equal(many.response.auditAnnotations?.['injected-containers']?.split(',').length, 300);
});

t.test('a pod reading more Secrets and ConfigMaps than the limit is denied before any read', async (t) => {
  const { reader, reads } = memoryReader({});
  const env = Array.from({ length: 101 }, (_, i) => ({ name: `V${i}`, valueFrom: { secretKeyRef: { name: `s${i}`, key: 'k' } } }));
  const decision = await decideAdmission(podRequest({ metadata: { name: 'p' }, spec: { containers: [{ name: 'c', command: ['/a'], env }] } }), deps(reader));
  t.equal(decision.response.allowed, false);
  t.equal(decision.response.status?.code, 403);
  t.match(decision.response.status?.message, /the pod reads 101 Secrets and ConfigMaps in its environment, more than 100; split it, or raise --max-objects-per-pod/);
  t.strictSame(reads, [], 'nothing was read');
  const atLimit = await decideAdmission(podRequest({ metadata: { name: 'p' }, spec: { containers: [{ name: 'c', command: ['/a'], env: env.slice(0, 100) }] } }), deps(memoryReader({}).reader));
  t.match(atLimit.response.status?.message, /Secret prod\/s0 referenced by container "c" does not exist/, 'at the limit the objects are read');
});

t.test('envFrom keys past --max-variables-per-pod stop the reads; of objects read for some keys only those are kept', async (t) => {
  const big = Object.fromEntries(Array.from({ length: 1_000 }, (_, k) => [`K${k}`, ARN]));
  const store: Record<string, Record<string, string>> = {};
  for (let i = 0; i < 30; i++) store[`ConfigMap/prod/big${i}`] = big;
  const { reader, reads } = memoryReader(store);
  const envFrom = Array.from({ length: 30 }, (_, i) => ({ prefix: `P${i}_`, configMapRef: { name: `big${i}` } }));
  const decision = await decideAdmission(podRequest({ metadata: { name: 'p' }, spec: { containers: [{ name: 'c', command: ['/a'], envFrom }] } }), deps(reader));
  t.equal(decision.response.allowed, false);
  t.equal(decision.response.status?.code, 403);
  t.match(decision.response.status?.message, /the pod defines more than 10000 environment variables/);
  // 11 objects pass the bound; at most 8 more were already being read then.
  t.ok(reads.length <= 11 + 8, `the reads stopped once the keys passed the bound (${reads.length} of 30)`);
});

t.test('reads for one admission run at most --max-concurrent-reads at a time, each object once', async (t) => {
  let inFlight = 0;
  let peak = 0;
  const asked: string[] = [];
  const reader: KubeObjectReader = {
    async read(ref: DataObjectRef): Promise<ObjectLookup> {
      asked.push(ref.name);
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise((resolve) => setTimeout(resolve, 2));
      inFlight--;
      return { found: true, data: new Map([['k', ARN]]) };
    },
    async readServiceAccount() {
      return { found: false };
    },
  };
  const env = Array.from({ length: 60 }, (_, i) => ({ name: `V${i}`, valueFrom: { secretKeyRef: { name: `s${i % 40}`, key: 'k' } } }));
  const decision = await decideAdmission(podRequest({ metadata: { name: 'p' }, spec: { containers: [{ name: 'c', command: ['/a'], env }] } }), { ...deps(reader), maxConcurrentReads: 3 });
  t.equal(decision.response.allowed, true);
  t.equal(asked.length, 40, 'each distinct Secret once');
  t.equal(peak, 3, 'never more than 3 at once');
});

t.test('one deadline for the whole admission: the answer names what was still pending, and reads are aborted', async (t) => {
  const aborted: string[] = [];
  const hang = (label: string, signal?: AbortSignal) => new Promise<never>((_, reject) => {
    signal?.addEventListener('abort', () => {
      aborted.push(label);
      reject(new LookupError({ kind: 'Secret', namespace: 'prod', name: label }, 'timeout', 'abandoned'));
    });
  });
  const reader: KubeObjectReader = {
    async read(ref, options) {
      if (ref.name === 'slow') return hang(ref.name, options?.signal);
      return { found: true, data: new Map([['k', ARN]]) };
    },
    async readServiceAccount() {
      return { found: false };
    },
  };
  const env = [{ name: 'A', valueFrom: { secretKeyRef: { name: 'fast', key: 'k' } } }, { name: 'B', valueFrom: { secretKeyRef: { name: 'slow', key: 'k' } } }];
  const started = Date.now();
  const decision = await decideAdmission(podRequest({ metadata: { name: 'p' }, spec: { containers: [{ name: 'c', command: ['/a'], env }] } }), { ...deps(reader), admissionTimeoutMs: 100 });
  t.ok(Date.now() - started < 2_000, 'answered at the deadline, not after the hang');
  t.equal(decision.response.allowed, false);
  t.equal(decision.response.status?.code, 500);
  t.equal(decision.response.status?.message, 'pod prod/p: no answer within 100ms (--admission-timeout); still waiting for Secret prod/slow');
  t.strictSame(aborted, ['slow'], 'the pending read was aborted');

  const images = { configOf: () => new Promise<never>(() => undefined) };
  const image = await decideAdmission(podRequest({ metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'reg.example/app:1', env: [{ name: 'K', value: ARN }] }] } }), { ...deps(memoryReader({}).reader, images), admissionTimeoutMs: 100 });
  t.equal(image.response.status?.message, 'pod prod/p: no answer within 100ms (--admission-timeout); still waiting for the image config of container "c" (reg.example/app:1)');
});

t.test('with the shared facts cache, admissions of the same objects share one read, and answers stay the same', async (t) => {
  const { reader, reads } = memoryReader({ 'Secret/prod/db': { password: ARN }, 'ConfigMap/prod/cfg': { MODE: 'x' } });
  const shared = { ...deps(reader), objectFacts: createObjectFactsCache(60_000) };
  const podOf = (name: string, secret = 'db') => ({
    metadata: { name },
    spec: { containers: [{ name: 'c', command: ['/a'], env: [{ name: 'PW', valueFrom: { secretKeyRef: { name: secret, key: 'password' } } }], envFrom: [{ configMapRef: { name: 'cfg' } }] }] },
  });
  const burst = await Promise.all(Array.from({ length: 50 }, (_, i) => decideAdmission(podRequest(podOf(`p${i}`)), shared)));
  t.ok(burst.every((d) => d.response.allowed && d.response.patch === burst[0]?.response.patch), 'the same answer for every pod');
  t.same(reads.sort(), ['ConfigMap/prod/cfg', 'Secret/prod/db'], 'one read per object for 50 concurrent admissions');
  await decideAdmission(podRequest(podOf('later')), shared);
  t.equal(reads.length, 2, 'and none within the TTL');
  const missing = await decideAdmission(podRequest(podOf('m', 'nope')), shared);
  const missingUncached = await decideAdmission(podRequest(podOf('m', 'nope')), deps(memoryReader({ 'ConfigMap/prod/cfg': { MODE: 'x' } }).reader));
  t.same(missing.response.status, missingUncached.response.status, 'a denial is the same as without the cache');

  const { reader: countingReader, reads: coalescedReads } = memoryReader({ 'Secret/prod/db': { password: ARN }, 'ConfigMap/prod/cfg': { MODE: 'x' } });
  const noTtl = { ...deps(countingReader), objectFacts: createObjectFactsCache(0) };
  await Promise.all(Array.from({ length: 10 }, (_, i) => decideAdmission(podRequest(podOf(`q${i}`)), noTtl)));
  t.equal(coalescedReads.length, 2, 'TTL 0: concurrent reads still coalesce');
  await decideAdmission(podRequest(podOf('r')), noTtl);
  t.equal(coalescedReads.length, 4, 'but nothing is kept');
});

t.test('dryRun requests get the same mutation as real ones', async (t) => {
  const { reader } = memoryReader({ 'Secret/prod/db': { password: ARN } });
  const real = await decideAdmission(podRequest(podWithSecretRef), deps(reader));
  const dry = await decideAdmission(podRequest(podWithSecretRef, { dryRun: true }), deps(reader));
  t.ok(real.response.patch);
  t.equal(dry.response.patch, real.response.patch);
  // The reference's dry runs rewrote the containers without the init container and volume.
  const dryPod = applied(podWithSecretRef, dry.response.patch);
  t.same(dryPod.spec.initContainers?.map((c) => c.name), ['copy-secrets-init'], 'the dry run adds the init container');
  t.same(dryPod.spec.volumes?.map((v) => v.name), ['secrets-init-bin'], 'and the volume its containers mount');
});

t.test('an unexpected reader error becomes a denial naming the object, not the error text', async (t) => {
  const broken: KubeObjectReader = {
    read: async () => { throw new TypeError('boom with data-XYZ'); },
    readServiceAccount: async () => ({ found: false }),
  };
  const decision = await decideAdmission(podRequest(podWithSecretRef), deps(broken));
  t.equal(decision.response.allowed, false);
  t.equal(decision.response.status?.code, 500);
  t.equal(decision.response.status?.message, 'pod prod/api: cannot read Secret prod/db: internal error');
});

t.test('an unexpected image source error is logged and denied as an internal error', async (t) => {
  const pod: Pod = { metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'x:1', env: [{ name: 'K', value: ARN }] }] } };
  const logged: unknown[] = [];
  const images = { configOf: async () => { throw new RangeError('kaput'); } };
  const decision = await decideAdmission(podRequest(pod), deps(memoryReader({}).reader, images), { error: (obj: unknown) => { logged.push(obj); } });
  t.equal(decision.response.allowed, false);
  t.equal(decision.response.status?.code, 500);
  t.equal(decision.response.status?.message, "pod prod/p: internal error; the webhook's log has the details");
  t.equal(logged.length, 1);
});

t.test('a pod that opts out reads nothing, and is admitted as it is whatever its Secrets', async (t) => {
  const { reader, reads } = memoryReader({}, { 'Secret/prod/db': new LookupError({ kind: 'Secret', namespace: 'prod', name: 'db' }, 'forbidden', 'forbidden') });
  const optedOut: Pod = { ...podWithSecretRef, metadata: { name: 'api', annotations: { 'secrets-init/inject': 'false' } } };
  const decision = await decideAdmission(podRequest(optedOut), deps(reader));
  t.equal(decision.response.allowed, true, decision.response.status?.message ?? '');
  t.equal(decision.response.patch, undefined);
  t.same(reads, [], 'no Secret read for a pod the webhook leaves alone');
});
