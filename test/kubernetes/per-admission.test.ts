// perAdmissionReader: one HTTP request per distinct object per admission, counted at the stub API server.
import t from 'tap';
import type { Test } from 'tap';
import {
  LookupError,
  createKubeObjectReader,
  loadKubeConfig,
  perAdmissionReader,
} from '../../src/kubernetes/object-reader.js';
import type { DataObjectRef, KubeObjectReader } from '../../src/kubernetes/object-reader.js';
import { startStubApiServer } from '../helpers/stub-apiserver.js';
import type { StubApiServer } from '../helpers/stub-apiserver.js';

async function setup(t: Test): Promise<{ stub: StubApiServer; reader: KubeObjectReader }> {
  const stub = await startStubApiServer();
  t.teardown(() => stub.close());
  const kubeConfig = loadKubeConfig({ KUBECONFIG: stub.kubeconfigPath });
  if (kubeConfig === undefined) throw new Error('stub kubeconfig did not load');
  return { stub, reader: createKubeObjectReader(kubeConfig, { timeoutMs: 2000 }) };
}

function countPaths(stub: StubApiServer): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const { path } of stub.requests) counts[path] = (counts[path] ?? 0) + 1;
  return counts;
}

t.test('duplicate refs read concurrently cost one request each; distinct refs stay distinct', async (t) => {
  const { stub, reader } = await setup(t);
  stub.addSecret('ns', 'x', { k: 'secret-x' });
  stub.addConfigMap('ns', 'x', { k: 'configmap-x' });
  stub.addSecret('other', 'x', { k: 'other-x' });
  stub.delayMs = 50; // keep the first request in flight while the duplicates arrive
  const admission = perAdmissionReader(reader);
  const refs: DataObjectRef[] = [
    { kind: 'Secret', namespace: 'ns', name: 'x' },
    { kind: 'ConfigMap', namespace: 'ns', name: 'x' },
    { kind: 'Secret', namespace: 'ns', name: 'x' },
    { kind: 'Secret', namespace: 'other', name: 'x' },
    { kind: 'ConfigMap', namespace: 'ns', name: 'x' },
    { kind: 'Secret', namespace: 'ns', name: 'x' },
    { kind: 'Secret', namespace: 'ns', name: 'missing' },
    { kind: 'Secret', namespace: 'ns', name: 'missing' },
  ];
  const results = await Promise.all(refs.map((ref) => admission.read(ref)));
  const values = results.map((r) => (r.found ? r.data.get('k') : 'not found'));
  t.same(values, ['secret-x', 'configmap-x', 'secret-x', 'other-x', 'configmap-x', 'secret-x', 'not found', 'not found']);
  t.same(countPaths(stub), {
    '/api/v1/namespaces/ns/secrets/x': 1,
    '/api/v1/namespaces/ns/configmaps/x': 1,
    '/api/v1/namespaces/other/secrets/x': 1,
    '/api/v1/namespaces/ns/secrets/missing': 1,
  });
  t.equal(results[0], results[2], 'duplicates share one result object');

  // Reading again later in the same admission is still free.
  await admission.read({ kind: 'Secret', namespace: 'ns', name: 'x' });
  t.equal(stub.requests.length, 4);
});

t.test('a failure is shared by every caller of that object in the admission', async (t) => {
  const { stub, reader } = await setup(t);
  stub.forbid('secrets', 'ns', 'locked');
  const admission = perAdmissionReader(reader);
  const ref: DataObjectRef = { kind: 'Secret', namespace: 'ns', name: 'locked' };
  const outcomes = await Promise.allSettled([admission.read(ref), admission.read(ref), admission.read(ref)]);
  const reasons = outcomes.map((o) => (o.status === 'rejected' ? o.reason : undefined));
  t.ok(reasons[0] instanceof LookupError);
  t.equal(reasons[1], reasons[0]);
  t.equal(reasons[2], reasons[0]);
  t.equal(stub.requests.length, 1);
});

t.test('each admission reads afresh: nothing is cached across admissions', async (t) => {
  const { stub, reader } = await setup(t);
  stub.addSecret('ns', 's', { k: 'v1' });
  const first = await perAdmissionReader(reader).read({ kind: 'Secret', namespace: 'ns', name: 's' });
  stub.addSecret('ns', 's', { k: 'v2' });
  const second = await perAdmissionReader(reader).read({ kind: 'Secret', namespace: 'ns', name: 's' });
  t.equal(first.found ? first.data.get('k') : undefined, 'v1');
  t.equal(second.found ? second.data.get('k') : undefined, 'v2');
  t.equal(stub.requests.length, 2);
});

t.test('ServiceAccounts are coalesced too, separately from Secrets of the same name', async (t) => {
  const { stub, reader } = await setup(t);
  stub.addServiceAccount('ns', 'app', ['regcred']);
  stub.addSecret('ns', 'app', { k: 'v' });
  const admission = perAdmissionReader(reader);
  const [a, b, secret] = await Promise.all([
    admission.readServiceAccount('ns', 'app'),
    admission.readServiceAccount('ns', 'app'),
    admission.read({ kind: 'Secret', namespace: 'ns', name: 'app' }),
  ]);
  t.same(a, { found: true, imagePullSecrets: ['regcred'] });
  t.equal(b, a);
  t.ok(secret.found);
  t.same(countPaths(stub), {
    '/api/v1/namespaces/ns/serviceaccounts/app': 1,
    '/api/v1/namespaces/ns/secrets/app': 1,
  });
});

t.test('keys cannot collide through separators in names', async (t) => {
  const calls: string[] = [];
  const inner: KubeObjectReader = {
    read: (ref) => {
      calls.push(`${ref.kind}|${ref.namespace}|${ref.name}`);
      return Promise.resolve({ found: false });
    },
    readServiceAccount: (namespace, name) => {
      calls.push(`ServiceAccount|${namespace}|${name}`);
      return Promise.resolve({ found: false });
    },
  };
  const admission = perAdmissionReader(inner);
  await admission.read({ kind: 'Secret', namespace: 'a', name: 'b/c' });
  await admission.read({ kind: 'Secret', namespace: 'a/b', name: 'c' });
  await admission.read({ kind: 'Secret', namespace: 'a', name: 'b/c' });
  t.same(calls, ['Secret|a|b/c', 'Secret|a/b|c']);
});
