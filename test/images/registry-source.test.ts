import t from 'tap';
import type { Test } from 'tap';
import type { Pod } from '../../src/core/pod.js';
import { podPullFacts } from '../../src/core/pull-facts.js';
import { ImageConfigError } from '../../src/images/image-config-source.js';
import { registryImageSource } from '../../src/images/registry-source.js';
import type { RegistrySourceOptions } from '../../src/images/registry-source.js';
import { createKubeObjectReader, loadKubeConfig, perAdmissionReader } from '../../src/kubernetes/object-reader.js';
import { RegistryError, createRegistryClient } from '../../src/registry/client.js';
import { pushImage, startRegistry } from '../helpers/registry.js';
import type { TestRegistry } from '../helpers/registry.js';
import { startFaultyRegistry } from '../helpers/faulty-registry.js';
import { startStubApiServer } from '../helpers/stub-apiserver.js';
import type { StubApiServer } from '../helpers/stub-apiserver.js';

const USER = { username: 'puller', password: 'pull-PASSWORD-77' };
const NS = 'team-a';

function dockerConfig(host: string, user = USER): Record<string, string> {
  return { '.dockerconfigjson': JSON.stringify({ auths: { [host]: { auth: Buffer.from(`${user.username}:${user.password}`).toString('base64') } } }) };
}

function podFor(image: string, fields: Partial<Pod['spec']> = {}): Pod {
  return { metadata: { name: 'p' }, spec: { containers: [{ name: 'app', image }], ...fields } };
}

async function setup(t: Test, options: Partial<RegistrySourceOptions> = {}) {
  const registry: TestRegistry = await startRegistry({ htpasswd: [USER] });
  t.teardown(() => registry.close());
  const stub: StubApiServer = await startStubApiServer();
  t.teardown(() => stub.close());
  stub.addSecret(NS, 'regcred', dockerConfig(registry.host), 'kubernetes.io/dockerconfigjson');
  const kubeConfig = loadKubeConfig({ KUBECONFIG: stub.kubeconfigPath });
  if (kubeConfig === undefined) throw new Error('no kubeconfig');
  const reader = createKubeObjectReader(kubeConfig, { timeoutMs: 2000 });
  const source = registryImageSource({
    client: createRegistryClient({ timeoutMs: 3000, skipVerify: false, insecureRegistries: [registry.host] }),
    dockerConfigJsonKey: '.dockerconfigjson',
    cloud: [],
    defaultArchitecture: 'amd64',
    tagTtlMs: 60_000,
    ...options,
  });
  const lookup = (pod: Pod) => source.configOf({ image: pod.spec.containers[0]!.image!, container: 'app', namespace: NS, pod: podPullFacts(pod), objects: perAdmissionReader(reader) });
  return { registry, stub, source, lookup };
}

const registryReads = (registry: TestRegistry, repo: string) =>
  registry.requests().filter((r) => (r.method === 'GET' || r.method === 'HEAD') && r.path.startsWith(`/v2/${repo}/`) && r.status < 400);

t.test('a burst of lookups for one image costs one tag resolution and one config fetch', async (t) => {
  const { registry, lookup, source } = await setup(t);
  await pushImage(registry, 'team/app', '1.0', { entrypoint: ['/entry'], cmd: ['serve'] }, { auth: USER });
  await registry.waitForRequests(registry.requests().length);
  const before = registryReads(registry, 'team/app').length;
  const pod = podFor(`${registry.host}/team/app:1.0`, { imagePullSecrets: [{ name: 'regcred' }] });
  const results = await Promise.all(Array.from({ length: 50 }, () => lookup(pod)));
  for (const result of results) t.same(result, { entrypoint: ['/entry'], cmd: ['serve'] });
  await new Promise((resolve) => setTimeout(resolve, 300));
  const reads = registryReads(registry, 'team/app').slice(before);
  t.equal(reads.filter((r) => r.path.includes('/manifests/')).length, 2, 'one tag resolution (HEAD) and one manifest GET by digest');
  t.equal(reads.filter((r) => r.path.includes('/blobs/')).length, 1, 'one config blob');
  t.equal(source.cache.stats().tags.misses, 1);
});

t.test('an unauthorized lookup is not remembered: the next pod with credentials succeeds', async (t) => {
  const { registry, lookup } = await setup(t);
  await pushImage(registry, 'team/private', '2', { entrypoint: ['/p'] }, { auth: USER });
  const image = `${registry.host}/team/private:2`;
  const error = await lookup(podFor(image)).then(() => undefined, (e: unknown) => e);
  t.ok(error instanceof ImageConfigError, 'an ImageConfigError');
  const message = (error as Error).message;
  t.match(message, `container "app": cannot read image "${image}" from registry ${registry.host}: unauthorized`);
  t.match(message, 'set "command" on container "app", or the pod annotation secrets-init/command.app, to avoid the registry lookup');
  t.same(await lookup(podFor(image, { imagePullSecrets: [{ name: 'regcred' }] })), { entrypoint: ['/p'], cmd: [] });
});

t.test("a private image read with one scope's pull secret is not given to a pod whose own credentials cannot read it", async (t) => {
  const { registry, stub, source, lookup } = await setup(t);
  await pushImage(registry, 'team/secret-app', '1', { entrypoint: ['/private-entry'], cmd: ['--flag'] }, { auth: USER });
  const image = `${registry.host}/team/secret-app:1`;
  t.same(await lookup(podFor(image, { imagePullSecrets: [{ name: 'regcred' }] })), { entrypoint: ['/private-entry'], cmd: ['--flag'] });
  // The same image from a pod of the same namespace without the pull secret, and from another
  // namespace whose Secret of the same name holds a wrong password: both are refused.
  const reader = createKubeObjectReader(loadKubeConfig({ KUBECONFIG: stub.kubeconfigPath })!, { timeoutMs: 2000 });
  stub.addSecret('team-b', 'regcred', dockerConfig(registry.host, { username: 'puller', password: 'wrong-password' }), 'kubernetes.io/dockerconfigjson');
  for (const [namespace, pod] of [
    [NS, podFor(image)],
    ['team-b', podFor(image, { imagePullSecrets: [{ name: 'regcred' }] })],
  ] as const) {
    const error = await source.configOf({ image, container: 'app', namespace, pod: podPullFacts(pod), objects: perAdmissionReader(reader) }).then(
      () => undefined,
      (e: unknown) => e,
    );
    t.ok(error instanceof ImageConfigError, `${namespace}: refused`);
    t.match((error as Error).message, /unauthorized/);
    t.notMatch((error as Error).message, /private-entry/);
  }
});

t.test('credential problems are named in the failure, never the secret', async (t) => {
  const { registry, stub, lookup } = await setup(t);
  await pushImage(registry, 'team/locked', '1', { cmd: ['x'] }, { auth: USER });
  stub.forbid('secrets', NS, 'regcred');
  const error = await lookup(podFor(`${registry.host}/team/locked:1`, { imagePullSecrets: [{ name: 'regcred' }] })).then(() => undefined, (e: unknown) => e as Error);
  t.match(error?.message, /unauthorized.*credentials not usable: cannot read Secret team-a\/regcred: forbidden/);
  t.notMatch(error?.message, USER.password);
});

t.test('transient registry failures are remembered briefly, so a broken registry is not hammered', async (t) => {
  const faulty = await startFaultyRegistry({ fault: { kind: 'status', status: 503 }, target: 'all' });
  t.teardown(() => faulty.close());
  const source = registryImageSource({
    client: createRegistryClient({ timeoutMs: 2000, skipVerify: false, insecureRegistries: [faulty.host] }),
    dockerConfigJsonKey: '.dockerconfigjson',
    cloud: [],
    defaultArchitecture: 'amd64',
    tagTtlMs: 60_000,
    failureTtlMs: 60_000,
  });
  const stub = await startStubApiServer();
  t.teardown(() => stub.close());
  const reader = createKubeObjectReader(loadKubeConfig({ KUBECONFIG: stub.kubeconfigPath })!, { timeoutMs: 1000 });
  const pod = podFor(`${faulty.host}/${faulty.repo}:${faulty.tag}`);
  const lookup = () => source.configOf({ image: pod.spec.containers[0]!.image!, container: 'app', namespace: NS, pod: podPullFacts(pod), objects: reader });
  const first = await lookup().then(() => undefined, (e: unknown) => e as Error);
  t.match(first?.message, /registry server error \(HTTP 503\)/);
  t.equal((first as ImageConfigError).fault, 'dependency', 'a registry that fails is not the pod author\'s to fix');
  const asked = faulty.requests().length;
  const second = await lookup().then(() => undefined, (e: unknown) => e as Error);
  t.match(second?.message, /HTTP 503/);
  t.equal(faulty.requests().length, asked, 'the second lookup did not reach the registry');
});

t.test("a lookup refused for the webhook's own load ('overloaded') is not remembered: the next one asks again", async (t) => {
  let calls = 0;
  const source = registryImageSource({
    client: {
      async resolveTag(image) {
        calls++;
        if (calls === 1) throw new RegistryError(`${image.domain}/${image.path}:1`, image.domain, 'overloaded', 'no room to read the manifest', undefined);
        return `sha256:${'c'.repeat(64)}`;
      },
      async imageConfig(_image, digest) {
        return { manifestDigest: digest, entrypoint: ['/ok'], cmd: [] };
      },
    },
    dockerConfigJsonKey: '.dockerconfigjson',
    cloud: [],
    defaultArchitecture: 'amd64',
    tagTtlMs: 60_000,
    failureTtlMs: 60_000,
  });
  const pod = podFor('registry.example.com/team/app:1');
  const objects = { read: async () => ({ found: false as const }), readServiceAccount: async () => ({ found: false as const }) };
  const lookup = () => source.configOf({ image: 'registry.example.com/team/app:1', container: 'app', namespace: NS, pod: podPullFacts(pod), objects });
  const first = await lookup().then(() => undefined, (e: unknown) => e as Error);
  t.match(first?.message, /no room to read the manifest/);
  t.same(await lookup(), { entrypoint: ['/ok'], cmd: [] });
  t.equal(calls, 2);
});

t.test('every lookup of one image is given the cached config itself, not a copy of it', async (t) => {
  const words = Array.from({ length: 4_000 }, (_, i) => `--option-${i}`);
  const source = registryImageSource({
    client: {
      async resolveTag() {
        return `sha256:${'c'.repeat(64)}`;
      },
      async imageConfig(_image, digest) {
        return { manifestDigest: digest, entrypoint: ['/app'], cmd: words };
      },
    },
    dockerConfigJsonKey: '.dockerconfigjson',
    cloud: [],
    defaultArchitecture: 'amd64',
    tagTtlMs: 60_000,
  });
  const pod = podFor('registry.example.com/team/app:1');
  const objects = { read: async () => ({ found: false as const }), readServiceAccount: async () => ({ found: false as const }) };
  // A pod may name one image in thousands of containers: a copy each would hold thousands of configs.
  const configs = await Promise.all(Array.from({ length: 3 }, (_, i) => source.configOf({ image: 'registry.example.com/team/app:1', container: `c${i}`, namespace: NS, pod: podPullFacts(pod), objects })));
  t.strictSame(configs[0], { entrypoint: ['/app'], cmd: words });
  t.equal(configs[1]!.cmd, configs[0]!.cmd);
  t.equal(configs[2]!.entrypoint, configs[0]!.entrypoint);
  t.ok(Object.isFrozen(configs[0]!.cmd), 'and frozen: no caller can change what the next pod is given');
});

t.test('an invalid image reference is a clear failure', async (t) => {
  const { lookup } = await setup(t);
  const error = await lookup(podFor('Not A/Valid::image')).then(() => undefined, (e: unknown) => e);
  t.ok(error instanceof ImageConfigError);
  t.match((error as Error).message, 'container "app": invalid');
  t.equal((error as ImageConfigError).fault, 'pod', "the pod's author must fix it");
  const hugeImage = `registry.example.com/${'a'.repeat(1024 * 1024)}:!`;
  const huge = await lookup(podFor(hugeImage)).then(() => undefined, (e: unknown) => e as Error);
  t.ok(huge !== undefined && huge.message.length < 400, `a 1 MiB reference is quoted short (${huge?.message.length} characters)`);
  t.ok(huge?.message.endsWith(`(${hugeImage.length} characters)`), 'and says how long it was');
});

t.test("a registry the webhook may not contact is the pod's fault, not a failed dependency", async (t) => {
  const stub = await startStubApiServer();
  t.teardown(() => stub.close());
  const reader = createKubeObjectReader(loadKubeConfig({ KUBECONFIG: stub.kubeconfigPath })!, { timeoutMs: 1000 });
  const source = registryImageSource({
    client: createRegistryClient({ timeoutMs: 2000, skipVerify: false, insecureRegistries: [], allowedRegistries: ['ghcr.io'] }),
    dockerConfigJsonKey: '.dockerconfigjson',
    cloud: [],
    defaultArchitecture: 'amd64',
    tagTtlMs: 60_000,
  });
  const pod = podFor('registry.example.com/team/app:1');
  const error = await source.configOf({ image: 'registry.example.com/team/app:1', container: 'app', namespace: NS, pod: podPullFacts(pod), objects: reader }).then(() => undefined, (e: unknown) => e);
  t.ok(error instanceof ImageConfigError);
  t.match((error as Error).message, /the registry is not in --allowed-registries/);
  t.equal((error as ImageConfigError).fault, 'pod', "the pod's author must choose another registry");
});
