import t from 'tap';
import { computePodMutation } from '../../src/core/pod-mutation.js';
import { expandedVariables } from '../../src/core/env-sources.js';
import { AWS_REFS, GOOGLE_REFS, container, facts, findContainer, mutateAndApply, objects, pod, SETTINGS } from '../helpers/pods.js';

// How the kubelet builds a container's environment decides which variables hold references.

t.test('a later env entry replaces a variable from envFrom', async (t) => {
  const withDefaults = objects([[{ kind: 'ConfigMap', name: 'defaults' }, { DB_PASSWORD: AWS_REFS[0]!, MODE: 'prod' }]]);
  const overriddenByGoogle = pod({
    containers: [container('app', { command: ['/app'], envFrom: [{ configMapRef: { name: 'defaults' } }], env: [{ name: 'DB_PASSWORD', value: GOOGLE_REFS[0]! }] })],
  });
  const { result } = mutateAndApply(overriddenByGoogle, facts(withDefaults));
  t.strictSame(findContainer(result, 'app')?.args, ['--provider=google', '/app'], 'not "mixed": the AWS value is shadowed');

  const overriddenByPlain = pod({
    containers: [container('app', { command: ['/app'], envFrom: [{ configMapRef: { name: 'defaults' } }], env: [{ name: 'DB_PASSWORD', value: 'hunter2' }] })],
  });
  const outcome = computePodMutation(overriddenByPlain, facts(withDefaults), SETTINGS);
  t.same(outcome, { allowed: true, warnings: [] }, 'no reference is left, so nothing is injected');

  const overriddenByFieldRef = pod({
    containers: [container('app', { command: ['/app'], env: [{ name: 'X', value: AWS_REFS[0]! }, { name: 'X', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }] })],
  });
  t.same(computePodMutation(overriddenByFieldRef, facts(), SETTINGS), { allowed: true, warnings: [] });
});

t.test('a later envFrom object replaces keys of an earlier one, prefixes included', async (t) => {
  const data = objects([
    [{ kind: 'Secret', name: 'first' }, { TOKEN: AWS_REFS[0]! }],
    [{ kind: 'ConfigMap', name: 'second' }, { TOKEN: 'plain' }],
  ]);
  const shadowed = pod({ containers: [container('app', { command: ['/app'], envFrom: [{ secretRef: { name: 'first' } }, { configMapRef: { name: 'second' } }] })] });
  t.same(computePodMutation(shadowed, facts(data), SETTINGS), { allowed: true, warnings: [] });
  const prefixed = pod({ containers: [container('app', { command: ['/app'], envFrom: [{ secretRef: { name: 'first' } }, { configMapRef: { name: 'second' }, prefix: 'CM_' }] })] });
  const { result, mutation } = mutateAndApply(prefixed, facts(data));
  t.strictSame(findContainer(result, 'app')?.args, ['--provider=aws', '/app'], 'CM_TOKEN does not shadow TOKEN');
  t.strictSame(mutation.audit, { app: ['Secret first[TOKEN]'] });
});

t.test('an optional key that is missing leaves the earlier definition in place', async (t) => {
  const data = objects([[{ kind: 'Secret', name: 's' }, { OTHER: 'x' }]]);
  const input = pod({
    containers: [container('app', { command: ['/app'], env: [{ name: 'K', value: AWS_REFS[0]! }, { name: 'K', valueFrom: { secretKeyRef: { name: 's', key: 'K', optional: true } } }] })],
  });
  const { result, outcome } = mutateAndApply(input, facts(data));
  t.strictSame(findContainer(result, 'app')?.args, ['--provider=aws', '/app']);
  t.match(outcome.warnings, [/optional key "K" is not in Secret team-a\/s/]);
});

t.test('$(VAR) expansion of a variable that holds a reference counts as a reference', async (t) => {
  const data = objects([[{ kind: 'Secret', name: 'db' }, { password: GOOGLE_REFS[0]! }]]);
  const input = pod({
    containers: [
      container('app', {
        command: ['/app'],
        env: [
          { name: 'A', valueFrom: { secretKeyRef: { name: 'db', key: 'password' } } },
          { name: 'B', value: '$(A)' },
          { name: 'A', value: 'shadowed later, but B already holds the reference' },
        ],
      }),
      // A holds the reference when B is defined, and is plain afterwards: only a wrong
      // expansion of the escaped $$(A) would leave a reference in the environment.
      container('escaped', { command: ['/e'], env: [{ name: 'A', value: GOOGLE_REFS[0]! }, { name: 'B', value: '$$(A)' }, { name: 'A', value: 'plain' }] }),
    ],
  });
  const { result, mutation } = mutateAndApply(input, facts(data));
  t.strictSame(findContainer(result, 'app')?.args, ['--provider=google', '/app']);
  t.strictSame(findContainer(result, 'escaped')?.command, ['/e'], '$$(A) is a literal, not an expansion');
  t.strictSame(mutation.audit, { app: ['Secret db[password]'] });
});

t.test('a non-empty value wins over valueFrom; an empty one does not (as the kubelet judges it)', async (t) => {
  const data = objects([[{ kind: 'Secret', name: 'db' }, { password: AWS_REFS[0]! }]]);
  const from = { secretKeyRef: { name: 'db', key: 'password' } };
  const input = pod({
    containers: [
      container('empty', { command: ['/e'], env: [{ name: 'DB', value: '', valueFrom: from }] }),
      container('valued', { command: ['/v'], env: [{ name: 'DB', value: 'plain', valueFrom: from }] }),
    ],
  });
  const { result, mutation } = mutateAndApply(input, facts(data));
  t.strictSame(findContainer(result, 'empty')?.command, ['/helper/bin/secrets-init'], 'value "" with valueFrom: the Secret decides');
  t.strictSame(findContainer(result, 'valued')?.command, ['/v'], 'a non-empty value decides');
  t.strictSame(mutation.audit, { empty: ['Secret db[password]'] });
});

t.test('expandedVariables follows the kubelet syntax', async (t) => {
  t.strictSame(expandedVariables('$(A)-$(B_2)'), ['A', 'B_2']);
  t.strictSame(expandedVariables('$$(A) $$$(B)'), ['B']);
  t.strictSame(expandedVariables('$(unclosed'), []);
  t.strictSame(expandedVariables('no $ here $x'), []);
});

t.test('the init container name is reserved', async (t) => {
  const userContainer = pod({ containers: [container('copy-secrets-init', { command: ['/x'] }), container('app', { command: ['/app'], env: [{ name: 'K', value: AWS_REFS[0]! }] })] });
  const outcome = computePodMutation(userContainer, facts(), SETTINGS);
  t.equal(outcome.allowed, false);
  t.match(!outcome.allowed && outcome.reason, 'container name "copy-secrets-init" is reserved');

  const foreignInit = pod({
    initContainers: [container('copy-secrets-init', { command: ['/setup'] })],
    containers: [container('app', { command: ['/app'], env: [{ name: 'K', value: AWS_REFS[0]! }] })],
  });
  t.equal(computePodMutation(foreignInit, facts(), SETTINGS).allowed, false, 'an init container of that name that does not mount our volume is not ours');

  const noReferences = pod({ containers: [container('copy-secrets-init', { command: ['/x'] })] });
  t.same(computePodMutation(noReferences, facts(), SETTINGS), { allowed: true, warnings: [] }, 'the name matters only when injecting');
});

t.test('a mistyped provider annotation denies only pods that need injection', async (t) => {
  const needs = pod({ containers: [container('app', { command: ['/app'], env: [{ name: 'K', value: AWS_REFS[0]! }] })] }, { 'secrets-init/provider': 'azure' });
  const outcome = computePodMutation(needs, facts(), SETTINGS);
  t.match(!outcome.allowed && outcome.reason, 'annotation secrets-init/provider must be "aws" or "google", not "azure"');
  const plain = pod({ containers: [container('app', { command: ['/app'], env: [{ name: 'K', value: 'v' }] })] }, { 'secrets-init/provider': 'azure' });
  const allowed = computePodMutation(plain, facts(), SETTINGS);
  t.equal(allowed.allowed, true);
  t.match(allowed.warnings, [/not "azure"; ignored: no container holds a reference/]);
});
