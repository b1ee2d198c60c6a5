import t from 'tap';
import { podPullFacts } from '../../src/core/pull-facts.js';
import { container, pod } from '../helpers/pods.js';

t.test('podPullFacts: the pinned architecture, pull secret names and ServiceAccount, as plain strings', async (t) => {
  const pinned = pod({
    containers: [container('app')],
    nodeSelector: { 'kubernetes.io/arch': 'arm64' },
    imagePullSecrets: [{ name: 'a' }, { name: 'b' }, { name: 'a' }, { name: '' }],
    serviceAccountName: 'builder',
  });
  t.same(podPullFacts(pinned), { architecture: 'arm64', imagePullSecrets: ['a', 'b'], serviceAccountName: 'builder' });
  const plain = podPullFacts(pod({ containers: [container('app')] }));
  t.same(plain, { imagePullSecrets: [], serviceAccountName: 'default' });
  t.notOk('architecture' in plain, 'no architecture when the pod pins none (the configured default applies)');
  // A lookup may outlive its admission: nothing of the pod's own objects may be kept.
  const facts = podPullFacts(pinned);
  t.not(facts.imagePullSecrets, pinned.spec.imagePullSecrets);
  t.ok(Object.values(facts).every((v) => typeof v === 'string' || (Array.isArray(v) && v.every((s) => typeof s === 'string'))), 'strings only');
});

t.test('podPullFacts: a hand-made list of 200,000 pull secret names is read in linear time', { timeout: 5_000 }, async (t) => {
  // 200,000 names (a 2 MiB request holds 150,000): each searched for among those before it, they took about a minute.
  const names = Array.from({ length: 200_000 }, (_, i) => ({ name: `s${i % 150_000}` }));
  const facts = podPullFacts(pod({ containers: [container('app')], imagePullSecrets: names }));
  t.equal(facts.imagePullSecrets.length, 150_000);
  t.equal(facts.imagePullSecrets[149_999], 's149999');
});
