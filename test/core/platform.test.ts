import t from 'tap';
import { pinnedArchitecture, runsOnWindows } from '../../src/core/platform.js';
import type { Pod } from '../../src/core/pod.js';

/** What registry-source.ts uses: the pinned architecture, else the configured default. */
const podArchitecture = (p: Pod, fallback: string): string => pinnedArchitecture(p) ?? fallback;
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
  // The kubelet still labels every node with the old name, and old manifests select on it.
  t.equal(podArchitecture(pod({ ...base, nodeSelector: { 'beta.kubernetes.io/arch': 'arm64' } }), 'amd64'), 'arm64', 'the old beta label');
  const betaTerm = { matchExpressions: [{ key: 'beta.kubernetes.io/arch', operator: 'In', values: ['arm64'] }] };
  t.equal(podArchitecture(pod({ ...base, affinity: affinity(betaTerm) }), 'amd64'), 'arm64', 'the old beta label in a required affinity');
});

t.test('a value longer than a label value (63 characters) pins nothing', async (t) => {
  // Image lookups carry the architecture into cache keys kept across admissions: 150 hand-made
  // reviews pinning an architecture of 1 MB each filled a 256 MiB heap.
  const long = 'a'.repeat(64);
  t.equal(podArchitecture(pod({ ...base, nodeSelector: { 'kubernetes.io/arch': long } }), 'amd64'), 'amd64');
  t.equal(podArchitecture(pod({ ...base, affinity: affinity(archTerm(long)) }), 'amd64'), 'amd64');
  t.equal(podArchitecture(pod({ ...base, nodeSelector: { 'kubernetes.io/arch': 'a'.repeat(63) } }), 'amd64'), 'a'.repeat(63));
});

t.test('runsOnWindows: spec.os, nodeSelector, or a required affinity that allows only windows', async (t) => {
  const osTerm = (operator: string, ...values: string[]) => ({ matchExpressions: [{ key: 'kubernetes.io/os', operator, values }] });
  t.equal(runsOnWindows(pod(base)), false, 'nothing pinned');
  t.equal(runsOnWindows(pod({ ...base, os: { name: 'windows' } })), true, 'spec.os.name');
  t.equal(runsOnWindows(pod({ ...base, os: { name: 'linux' }, nodeSelector: { 'kubernetes.io/os': 'windows' } })), false, 'spec.os.name decides first');
  t.equal(runsOnWindows(pod({ ...base, nodeSelector: { 'kubernetes.io/os': 'windows' } })), true, 'nodeSelector');
  t.equal(runsOnWindows(pod({ ...base, nodeSelector: { 'kubernetes.io/os': 'linux' } })), false);
  t.equal(runsOnWindows(pod({ ...base, nodeSelector: { 'beta.kubernetes.io/os': 'windows' } })), true, 'the old beta label');
  t.equal(runsOnWindows(pod({ ...base, affinity: affinity(osTerm('In', 'windows')) })), true, 'affinity In [windows]');
  t.equal(runsOnWindows(pod({ ...base, affinity: affinity(osTerm('In', 'windows', 'windows'), osTerm('In', 'windows')) })), true, 'every term allows windows only');
  t.equal(runsOnWindows(pod({ ...base, affinity: affinity(osTerm('In', 'windows'), osTerm('In', 'linux')) })), false, 'one term allows linux');
  t.equal(runsOnWindows(pod({ ...base, affinity: affinity(osTerm('In', 'windows', 'linux')) })), false, 'a term allows both');
  t.equal(runsOnWindows(pod({ ...base, affinity: affinity(osTerm('NotIn', 'linux')) })), false, 'NotIn pins nothing');
  t.equal(runsOnWindows(pod({ ...base, os: 'junk', nodeSelector: [], affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: 'x' } } })), false, 'malformed fields are ignored');
});
