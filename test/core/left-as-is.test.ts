import t from 'tap';
import fc from 'fast-check';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as annotations from '../../src/core/annotations.js';
import { COMMAND_ANNOTATION_PREFIX } from '../../src/core/command-override.js';
import { leftAsIs } from '../../src/core/left-as-is.js';
import { computePodMutation } from '../../src/core/pod-mutation.js';
import type { Container, EnvVar, Pod } from '../../src/core/pod.js';
import { AWS_REFS, GOOGLE_REFS, NAMESPACE, NEAR_MISSES, SETTINGS } from '../helpers/pods.js';

const NUM_RUNS = 300;
const WRAPPER = `${SETTINGS.volumePath}/secrets-init`;

// A pod nothing in the webhook cares about: plain values (near misses and `$` forms
// included), field references, words and annotations of others.
const plainValueArb = fc.oneof(
  // `$(…)` where no expansion can start a reference: after text that none starts with, or after `$$`.
  fc.constantFrom<string>(...NEAR_MISSES, '--user=$(A)', '$$(B)', '$$$(A)', 'x$(TOKEN)y', 'arn:x:$(A)', '', 'arn', 'gcp'),
  fc.string({ maxLength: 12 }).filter((s) => !/^(arn|gcp)/i.test(s)),
);
const plainEnvArb: fc.Arbitrary<EnvVar> = fc.record({ name: fc.constantFrom('A', 'B', 'TOKEN', 'my.key-1', '__proto__'), kind: fc.constantFrom('value', 'field', 'none'), value: plainValueArb }).map(({ name, kind, value }) => {
  if (kind === 'value') return { name, value };
  if (kind === 'field') return { name, valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } };
  return { name };
});
const wordsArb = fc.option(fc.array(fc.constantFrom('/bin/app', '--flag', '$(A)', `${WRAPPER}-not`, 'secrets-init'), { maxLength: 3 }), { nil: undefined });
const plainContainerArb = (name: string): fc.Arbitrary<Container> =>
  fc.record({ env: fc.option(fc.array(plainEnvArb, { maxLength: 5 }), { nil: undefined }), command: wordsArb, args: wordsArb }).map(({ env, command, args }) => {
    const container: Container = { name, image: 'app:1' };
    if (env !== undefined) container.env = env;
    if (command !== undefined) container.command = command;
    if (args !== undefined) container.args = args;
    return container;
  });
const otherAnnotationsArb = fc.option(
  fc.dictionary(fc.constantFrom('example.com/owner', 'secrets-init', 'Secrets-Init/inject', 'example.com/secrets-init/x', '__proto__', 'constructor'), fc.string({ maxLength: 8 })),
  { nil: undefined },
);
const plainPodArb: fc.Arbitrary<Pod> = fc
  .record({
    containers: fc.array(plainContainerArb('c'), { minLength: 1, maxLength: 3 }),
    initContainers: fc.option(fc.array(plainContainerArb('i'), { maxLength: 2 }), { nil: undefined }),
    annotations: otherAnnotationsArb,
  })
  .map(({ containers, initContainers, annotations }) => {
    const pod: Pod = { metadata: { name: 'web', namespace: NAMESPACE }, spec: { containers: containers.map((c, i) => ({ ...c, name: `c${i}` })) } };
    if (initContainers !== undefined) pod.spec.initContainers = initContainers.map((c, i) => ({ ...c, name: `i${i}` }));
    if (annotations !== undefined && pod.metadata !== undefined) pod.metadata.annotations = annotations;
    return pod;
  });

/** What the full plan decides for a pod that reads no object. */
const planned = (pod: Pod) => computePodMutation(pod, { namespace: NAMESPACE, objects: new Map(), imageConfigs: new Map() }, SETTINGS);

t.test('a plain pod is left as is, and the plan agrees: allowed, unchanged, no warning', async () => {
  fc.assert(
    fc.property(plainPodArb, (pod) => {
      assert.ok(leftAsIs(pod, SETTINGS), 'left as is');
      assert.deepEqual(planned(pod), { allowed: true, warnings: [] }, 'the plan agrees');
    }),
    { numRuns: NUM_RUNS },
  );
});

/** One thing the webhook must look at, put into a plain pod (a new object; the pod is not modified). */
type Spoiler = (pod: Pod, container: number) => Pod;
const withContainer = (pod: Pod, index: number, change: (c: Container) => Container): Pod => ({
  ...pod,
  spec: { ...pod.spec, containers: pod.spec.containers.map((c, i) => (i === index % pod.spec.containers.length ? change(c) : c)) },
});
const SPOILERS: Record<string, fc.Arbitrary<Spoiler>> = {
  'a reference in a value': fc.constantFrom(...AWS_REFS, ...GOOGLE_REFS).map((ref) => (pod, i) => withContainer(pod, i, (c) => ({ ...c, env: [...(c.env ?? []), { name: 'REF', value: ref }] }))),
  'a value the kubelet\'s expansion may make a reference': fc
    .constantFrom('$(A)', 'arn:$(A):secretsmanager:us-east-1:1:secret:x', 'gcp:$(B)', 'arn:aws:ssm:us-east-1:1:$(A)', 'arn:aws-c$(B)', 'arn:aws:secretsmanager:x:$(A)')
    .map((value) => (pod, i) => withContainer(pod, i, (c) => ({ ...c, env: [...(c.env ?? []), { name: 'REF', value }] }))),
  'a secretKeyRef or configMapKeyRef': fc.constantFrom('secretKeyRef', 'configMapKeyRef').map((field) => (pod, i) =>
    withContainer(pod, i, (c) => ({ ...c, env: [...(c.env ?? []), { name: 'REF', valueFrom: { [field]: { name: 'o', key: 'k' } } }] })),
  ),
  'an envFrom entry': fc.constantFrom({ secretRef: { name: 'o' } }, { configMapRef: { name: 'o' } }, {}).map((from) => (pod, i) => withContainer(pod, i, (c) => ({ ...c, envFrom: [from] }))),
  'a container that already runs secrets-init': fc.constantFrom('command', 'args').map((field) => (pod, i) =>
    withContainer(pod, i, (c) => ({ ...c, [field]: [...((c[field] as string[] | undefined) ?? []), WRAPPER, '/bin/app'] })),
  ),
  'an annotation of ours': fc
    .tuple(fc.constantFrom('inject', 'provider', 'status', 'exit-early', 'google-project', 'log-format', 'wrap-exec', 'command.c0', 'anything'), fc.string({ maxLength: 8 }))
    .map(([key, value]) => (pod) => ({ ...pod, metadata: { ...pod.metadata, annotations: { ...pod.metadata?.annotations, [`secrets-init/${key}`]: value } } })),
  'an init container with a reference': fc.constantFrom(...AWS_REFS).map((ref) => (pod) => ({
    ...pod,
    spec: { ...pod.spec, initContainers: [...(pod.spec.initContainers ?? []), { name: 'ref-init', command: ['/x'], env: [{ name: 'R', value: ref }] }] },
  })),
};

for (const [what, spoilerArb] of Object.entries(SPOILERS)) {
  t.test(`not left as is: ${what}`, async () => {
    fc.assert(
      fc.property(plainPodArb, spoilerArb, fc.nat(), (pod, spoil, index) => {
        assert.equal(leftAsIs(spoil(pod, index), SETTINGS), false);
      }),
      { numRuns: 100 },
    );
  });
}

t.test('not left as is: more env entries than --max-variables-per-pod', async (t) => {
  const pod: Pod = { spec: { initContainers: [{ name: 'i', env: [{ name: 'A', value: '1' }] }], containers: [{ name: 'c', env: [{ name: 'B', value: '2' }, { name: 'C' }] }] } };
  t.ok(leftAsIs(pod, { ...SETTINGS, limits: { ...SETTINGS.limits, variablesPerPod: 3 } }), 'at the limit');
  const tight = { ...SETTINGS, limits: { ...SETTINGS.limits, variablesPerPod: 2 } };
  t.notOk(leftAsIs(pod, tight), 'one over it, init containers counted');
  const outcome = computePodMutation(pod, { namespace: NAMESPACE, objects: new Map(), imageConfigs: new Map() }, tight);
  t.equal(outcome.allowed, false, 'which the plan denies');
});

t.test("the benchmark's pods: the one without references is left as is, the others are not", async (t) => {
  const podOf = (variant: string) => (JSON.parse(readFileSync(new URL(`../../bench/fixtures/${variant}.json`, import.meta.url), 'utf8')) as { request: { object: Pod } }).request.object;
  t.ok(leftAsIs(podOf('noop'), SETTINGS));
  t.notOk(leftAsIs(podOf('inject'), SETTINGS));
  t.notOk(leftAsIs(podOf('denied'), SETTINGS));
});

t.test('every annotation the webhook reads or writes has the prefix leftAsIs looks for', async (t) => {
  const names = Object.entries(annotations).filter(([, value]) => typeof value === 'string').map(([, value]) => value as string);
  t.ok(names.length >= 8, `${names.length} annotation names`);
  for (const name of [...names, COMMAND_ANNOTATION_PREFIX]) t.ok(name.startsWith(annotations.ANNOTATION_PREFIX), name);
});
