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
