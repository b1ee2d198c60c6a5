import t from 'tap';
import { podArchitecture } from '../../src/core/platform.js';
import { container, pod } from '../helpers/pods.js';

const base = { containers: [container('app')] };
const affinity = (...terms: unknown[]) => ({ nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: terms } } });
const archTerm = (...values: string[]) => ({ matchExpressions: [{ key: 'kubernetes.io/os', operator: 'In', values: ['linux'] }, { key: 'kubernetes.io/arch', operator: 'In', values }] });

t.test('the pod pins an architecture by nodeSelector or required affinity', async (t) => {
  t.equal(podArchitecture(pod(base), 'amd64'), 'amd64', 'default');
  t.equal(podArchitecture(pod(base), 'arm64'), 'arm64', 'the configured default');
  t.equal(podArchitecture(pod({ ...base, nodeSelector: { 'kubernetes.io/arch': 'arm64' } }), 'amd64'), 'arm64');
  t.equal(podArchitecture(pod({ ...base, affinity: affinity(archTerm('arm64')) }), 'amd64'), 'arm64');
  t.equal(podArchitecture(pod({ ...base, affinity: affinity(archTerm('arm64'), archTerm('arm64')) }), 'amd64'), 'arm64', 'all terms agree');
  t.equal(podArchitecture(pod({ ...base, affinity: affinity(archTerm('arm64'), archTerm('amd64')) }), 's390x'), 's390x', 'terms disagree: not pinned');
  t.equal(podArchitecture(pod({ ...base, affinity: affinity(archTerm('arm64', 'amd64')) }), 'amd64'), 'amd64', 'several allowed: not pinned');
  t.equal(podArchitecture(pod({ ...base, affinity: affinity({ matchExpressions: [{ key: 'kubernetes.io/arch', operator: 'NotIn', values: ['amd64'] }] }) }), 'amd64'), 'amd64');
  t.equal(podArchitecture(pod({ ...base, nodeSelector: { 'kubernetes.io/arch': 'arm64' }, affinity: affinity(archTerm('amd64')) }), 'x'), 'arm64', 'nodeSelector first');
  t.equal(podArchitecture(pod({ ...base, nodeSelector: 'junk', affinity: { nodeAffinity: 3 } }), 'amd64'), 'amd64', 'malformed fields are ignored');
});
