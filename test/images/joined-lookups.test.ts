/**
 * Admissions of one scope share an image lookup (joined in flight, or its failure kept for a
 * few seconds): each is denied with the whole of its message, the problems of the pull secrets
 * the lookup read included, though only the first admission read them.
 */
import t from 'tap';
import type { Test } from 'tap';
import type { Pod } from '../../src/core/pod.js';
import { podPullFacts } from '../../src/core/pull-facts.js';
import { registryImageSource } from '../../src/images/registry-source.js';
import { createKubeObjectReader, loadKubeConfig, perAdmissionReader } from '../../src/kubernetes/object-reader.js';
import { createRegistryClient } from '../../src/registry/client.js';
import type { FaultyRegistryOptions } from '../helpers/faulty-registry.js';
import { startFaultyRegistry } from '../helpers/faulty-registry.js';
import { startStubApiServer } from '../helpers/stub-apiserver.js';

const NS = 'team-a';
const PROBLEM = /\(credentials not usable: cannot read Secret team-a\/regcred: forbidden \(HTTP 403\)/;

async function setup(t: Test, options: FaultyRegistryOptions) {
  const registry = await startFaultyRegistry(options);
  t.teardown(() => registry.close());
  const stub = await startStubApiServer();
  t.teardown(() => stub.close());
  stub.forbid('secrets', NS, 'regcred');
  const kubeConfig = loadKubeConfig({ KUBECONFIG: stub.kubeconfigPath });
  if (kubeConfig === undefined) throw new Error('no kubeconfig');
  const reader = createKubeObjectReader(kubeConfig, { timeoutMs: 2000 });
  const source = registryImageSource({
    client: createRegistryClient({ timeoutMs: 3000, skipVerify: false, insecureRegistries: [registry.host] }),
    dockerConfigJsonKey: '.dockerconfigjson',
    cloud: [],
    defaultArchitecture: 'amd64',
    tagTtlMs: 60_000,
  });
  const pod: Pod = { metadata: { name: 'p' }, spec: { containers: [{ name: 'app', image: `${registry.host}/${registry.repo}:${registry.tag}` }], imagePullSecrets: [{ name: 'regcred' }] } };
  // Each call is an admission of its own: its own pod facts and its own reader.
  const lookup = () =>
    source.configOf({ image: pod.spec.containers[0]!.image!, container: 'app', namespace: NS, pod: podPullFacts(pod), objects: perAdmissionReader(reader) }).then(
      () => 'found',
      (error: unknown) => (error instanceof Error ? error.message : String(error)),
    );
  return { lookup, source };
}

t.test('admissions that joined a lookup in flight name the pull secret it could not read', async (t) => {
  const { lookup, source } = await setup(t, { basicAuth: { username: 'u', password: 'p' } });
  const messages = await Promise.all([lookup(), lookup(), lookup()]);
  t.equal(source.cache.stats().tags.coalesced, 2, 'two admissions joined the first one');
  for (const message of messages) {
    t.match(message, 'unauthorized (HTTP 401)');
    t.match(message, PROBLEM);
  }
});

t.test('an admission answered by a failure kept from an earlier lookup names the pull secret too', async (t) => {
  const { lookup, source } = await setup(t, { fault: { kind: 'status', status: 503 } });
  const first = await lookup();
  t.match(first, 'HTTP 503');
  t.match(first, PROBLEM);
  const second = await lookup();
  t.equal(source.cache.stats().tags.failuresServed, 1, 'the kept failure answered the second admission');
  t.equal(second, first);
});
