// collectCredentials through the real Kubernetes reader against the stub API server.
import t from 'tap';
import type { Test } from 'tap';
import { parseImageReference } from '../../src/core/image-reference.js';
import type { Pod } from '../../src/core/pod.js';
import { createKubeObjectReader, loadKubeConfig } from '../../src/kubernetes/object-reader.js';
import type { KubeObjectReader } from '../../src/kubernetes/object-reader.js';
import {
  CloudCredentialError,
  DEFAULT_DOCKER_CONFIG_JSON_KEY,
  MAX_PULL_SECRETS,
  collectCredentials,
  googleCredentialProvider,
} from '../../src/registry/credentials.js';
import { podImagePullSecretNames, podPullFacts, podServiceAccountName } from '../../src/core/pull-facts.js';
import type { PodPullFacts } from '../../src/core/pull-facts.js';
import type { CloudCredentialProvider, CredentialSources, RegistryCredential } from '../../src/registry/credentials.js';
import { startStubApiServer } from '../helpers/stub-apiserver.js';
import type { StubApiServer } from '../helpers/stub-apiserver.js';
import { startFakeMetadata } from './fixtures/fakes.js';

const NS = 'apps';
const IMAGE = parseImageReference('registry.example.com/team/app:1.0');

const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');

/** dockerconfigjson content with one entry per [key, user, password]. */
function dockerConfigJson(...entries: Array<[string, string, string]>): string {
  const auths: Record<string, { auth: string }> = {};
  for (const [key, user, password] of entries) auths[key] = { auth: b64(`${user}:${password}`) };
  return JSON.stringify({ auths });
}

function pullSecret(stub: StubApiServer, namespace: string, name: string, user: string, host = 'registry.example.com'): void {
  stub.addSecret(namespace, name, { '.dockerconfigjson': dockerConfigJson([host, user, `pw-of-${user}`]) }, 'kubernetes.io/dockerconfigjson');
}

/** What collectCredentials is given of a pod with `spec`. */
function pod(spec: Record<string, unknown> = {}): PodPullFacts {
  return podPullFacts(podOf(spec));
}

function podOf(spec: Record<string, unknown> = {}): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p', namespace: NS },
    spec: { containers: [{ name: 'app', image: 'registry.example.com/team/app:1.0' }], ...spec },
  };
}

function pullSecrets(...names: string[]): Record<string, unknown> {
  return { imagePullSecrets: names.map((name) => ({ name })) };
}

async function setup(t: Test, timeoutMs = 2000): Promise<{ stub: StubApiServer; reader: KubeObjectReader }> {
  const stub = await startStubApiServer();
  t.teardown(() => stub.close());
  const kubeConfig = loadKubeConfig({ KUBECONFIG: stub.kubeconfigPath });
  if (kubeConfig === undefined) throw new Error('stub kubeconfig did not load');
  return { stub, reader: createKubeObjectReader(kubeConfig, { timeoutMs }) };
}

function sources(reader: KubeObjectReader, extra: Partial<CredentialSources> = {}): CredentialSources {
  return { reader, dockerConfigJsonKey: DEFAULT_DOCKER_CONFIG_JSON_KEY, cloud: [], ...extra };
}

function summary(credentials: readonly RegistryCredential[]): Array<[string, string]> {
  return credentials.map((c) => [c.id, c.username]);
}

function fakeCloud(name: string, match: (domain: string) => boolean, result: () => Promise<RegistryCredential | undefined>): CloudCredentialProvider & { calls: string[] } {
  const calls: string[] = [];
  return {
    name,
    calls,
    matches: match,
    credential: (domain) => {
      calls.push(domain);
      return result();
    },
  };
}

function secretGets(stub: StubApiServer, namespace: string, name: string): number {
  return stub.requests.filter((r) => r.path === `/api/v1/namespaces/${namespace}/secrets/${name}`).length;
}

t.test('pod helpers: pull secret names and service account name', async (t) => {
  t.same(podImagePullSecretNames(podOf({ imagePullSecrets: [{ name: 'a' }, { name: '' }, {}, 'x', null, { name: 'b' }, { name: 'a' }] })), ['a', 'b']);
  t.same(podImagePullSecretNames(podOf({ imagePullSecrets: 'nope' })), []);
  t.same(podImagePullSecretNames(podOf()), []);
  t.equal(podServiceAccountName(podOf()), 'default');
  t.equal(podServiceAccountName(podOf({ serviceAccountName: 'builder' })), 'builder');
  t.equal(podServiceAccountName(podOf({ serviceAccount: 'legacy' })), 'legacy');
  t.equal(podServiceAccountName(podOf({ serviceAccountName: '', serviceAccount: 'legacy' })), 'legacy');
});

t.test('order: pod secrets (in order), then the ServiceAccount\'s, then the default, then cloud', async (t) => {
  const { stub, reader } = await setup(t);
  pullSecret(stub, NS, 'pod-b', 'user-pod-b');
  pullSecret(stub, NS, 'pod-a', 'user-pod-a');
  pullSecret(stub, NS, 'sa-1', 'user-sa-1');
  pullSecret(stub, NS, 'sa-2', 'user-sa-2');
  pullSecret(stub, 'platform', 'fallback', 'user-default');
  stub.addServiceAccount(NS, 'builder', ['sa-1', 'pod-a', 'sa-2']);
  const cloud = fakeCloud('Fake cloud', (d) => d === 'registry.example.com', async () => ({ id: 'Fake cloud', username: 'cloud-user', password: 'cloud-pw' }));
  const other = fakeCloud('Other cloud', () => false, async () => ({ id: 'Other cloud', username: 'x', password: 'y' }));
  const result = await collectCredentials(
    pod({ ...pullSecrets('pod-b', 'pod-a'), serviceAccountName: 'builder' }),
    NS,
    IMAGE,
    sources(reader, { defaultPullSecret: { namespace: 'platform', name: 'fallback' }, cloud: [other, cloud] }),
  );
  t.same(summary(result.credentials), [
    ['Secret apps/pod-b', 'user-pod-b'],
    ['Secret apps/pod-a', 'user-pod-a'],
    ['Secret apps/sa-1', 'user-sa-1'],
    ['Secret apps/sa-2', 'user-sa-2'],
    ['Secret platform/fallback', 'user-default'],
    ['Fake cloud', 'cloud-user'],
  ]);
  t.same(result.problems, []);
  t.equal(result.credentials[0]?.password, 'pw-of-user-pod-b');
  t.equal(secretGets(stub, NS, 'pod-a'), 1, 'a Secret named by the pod and the ServiceAccount is read once');
  t.same(stub.requests.filter((r) => r.path.includes('/serviceaccounts/')).map((r) => r.path), [
    '/api/v1/namespaces/apps/serviceaccounts/builder',
  ]);
  t.same(cloud.calls, ['registry.example.com']);
  t.same(other.calls, [], 'a provider that does not match is not asked');
});

t.test('the "default" ServiceAccount when the pod names none', async (t) => {
  const { stub, reader } = await setup(t);
  pullSecret(stub, NS, 'from-default-sa', 'u');
  stub.addServiceAccount(NS, 'default', ['from-default-sa']);
  const result = await collectCredentials(pod(), NS, IMAGE, sources(reader));
  t.same(summary(result.credentials), [['Secret apps/from-default-sa', 'u']]);
});

t.test('missing Secrets and a missing ServiceAccount are skipped silently', async (t) => {
  const { stub, reader } = await setup(t);
  pullSecret(stub, NS, 'present', 'u-present');
  const result = await collectCredentials(
    pod({ ...pullSecrets('gone', 'present'), serviceAccountName: 'no-such-sa' }),
    NS,
    IMAGE,
    sources(reader, { defaultPullSecret: { namespace: 'platform', name: 'also-gone' } }),
  );
  t.same(summary(result.credentials), [['Secret apps/present', 'u-present']]);
  t.same(result.problems, []);
});

t.test('403 on a Secret: recorded in problems naming the Secret, not thrown; the rest still used', async (t) => {
  const { stub, reader } = await setup(t);
  pullSecret(stub, NS, 'locked', 'u-locked');
  pullSecret(stub, NS, 'open', 'u-open');
  stub.forbid('Secret', NS, 'locked');
  const result = await collectCredentials(pod(pullSecrets('locked', 'open')), NS, IMAGE, sources(reader));
  t.same(summary(result.credentials), [['Secret apps/open', 'u-open']]);
  t.equal(result.problems.length, 1);
  t.match(result.problems[0], /^cannot read Secret apps\/locked: forbidden \(HTTP 403\)/);
});

t.test('403 on the ServiceAccount: recorded, the pod and default secrets still used', async (t) => {
  const { stub, reader } = await setup(t);
  pullSecret(stub, NS, 'pod-secret', 'u-pod');
  pullSecret(stub, 'platform', 'fallback', 'u-default');
  stub.addServiceAccount(NS, 'default', ['whatever']);
  stub.forbid('ServiceAccount', NS);
  const result = await collectCredentials(
    pod(pullSecrets('pod-secret')),
    NS,
    IMAGE,
    sources(reader, { defaultPullSecret: { namespace: 'platform', name: 'fallback' } }),
  );
  t.same(summary(result.credentials), [
    ['Secret apps/pod-secret', 'u-pod'],
    ['Secret platform/fallback', 'u-default'],
  ]);
  t.equal(result.problems.length, 1);
  t.match(result.problems[0], /^cannot read ServiceAccount apps\/default: forbidden \(HTTP 403\)/);
});

t.test('a timed-out read is a problem, not an exception', async (t) => {
  const { stub, reader } = await setup(t, 200);
  pullSecret(stub, NS, 'slow', 'u');
  stub.delayMs = 1000;
  const result = await collectCredentials(pod(pullSecrets('slow')), NS, IMAGE, sources(reader));
  t.same(result.credentials, []);
  t.same([...result.problems].sort(), [
    'cannot read Secret apps/slow: timed out after 200ms',
    'cannot read ServiceAccount apps/default: timed out after 200ms',
  ]);
});

t.test('legacy .dockercfg Secret', async (t) => {
  const { stub, reader } = await setup(t);
  stub.addSecret(NS, 'old', { '.dockercfg': JSON.stringify({ 'https://registry.example.com': { auth: b64('legacy-user:legacy-pw') } }) }, 'kubernetes.io/dockercfg');
  const result = await collectCredentials(pod(pullSecrets('old')), NS, IMAGE, sources(reader));
  t.same(result.credentials, [{ id: 'Secret apps/old', username: 'legacy-user', password: 'legacy-pw' }]);
  t.same(result.problems, []);
});

t.test('custom dockerConfigJsonKey', async (t) => {
  const { stub, reader } = await setup(t);
  stub.addSecret(NS, 'custom', {
    'config.json': dockerConfigJson(['registry.example.com', 'custom-user', 'custom-pw']),
    '.dockerconfigjson': dockerConfigJson(['registry.example.com', 'ignored-user', 'ignored-pw']),
  });
  const result = await collectCredentials(pod(pullSecrets('custom')), NS, IMAGE, sources(reader, { dockerConfigJsonKey: 'config.json' }));
  t.same(summary(result.credentials), [['Secret apps/custom', 'custom-user']]);
  const fallback = await collectCredentials(pod(pullSecrets('custom')), NS, IMAGE, sources(reader));
  t.same(summary(fallback.credentials), [['Secret apps/custom', 'ignored-user']], 'the default key otherwise');
});

t.test('unusable Secret content is a problem that does not quote the content', async (t) => {
  const { stub, reader } = await setup(t);
  const leaked = 'p4ss-that-must-not-leak';
  stub.addSecret(NS, 'broken', { '.dockerconfigjson': `{"auths":{"registry.example.com":{"password":"${leaked}"` });
  stub.addSecret(NS, 'opaque', { token: leaked });
  const result = await collectCredentials(pod(pullSecrets('broken', 'opaque')), NS, IMAGE, sources(reader));
  t.same(result.credentials, []);
  t.same(result.problems, [
    'Secret apps/broken: key ".dockerconfigjson" holds invalid dockerconfigjson content: not valid JSON',
    'Secret apps/opaque has no ".dockerconfigjson" or ".dockercfg" key; it is not an image pull secret',
  ]);
  t.notOk(JSON.stringify(result).includes(leaked));
});

t.test('only entries matching the image are used, most specific first within a Secret', async (t) => {
  const { stub, reader } = await setup(t);
  stub.addSecret(NS, 'many', {
    '.dockerconfigjson': dockerConfigJson(
      ['other.example.com', 'other', 'pw-other'],
      ['registry.example.com', 'host', 'pw-host'],
      ['registry.example.com/team', 'team', 'pw-team'],
      ['registry.example.com/elsewhere', 'elsewhere', 'pw-elsewhere'],
      ['*.example.com', 'wild', 'pw-wild'],
    ),
  });
  const result = await collectCredentials(pod(pullSecrets('many')), NS, IMAGE, sources(reader));
  t.same(result.credentials.map((c) => c.username), ['team', 'host', 'wild']);
  const hub = await collectCredentials(pod(pullSecrets('many')), NS, parseImageReference('nginx'), sources(reader));
  t.same(hub.credentials, []);
});

t.test('the same username/password from two sources is listed once, at its first place', async (t) => {
  const { stub, reader } = await setup(t);
  pullSecret(stub, NS, 'first', 'same');
  pullSecret(stub, NS, 'second', 'same');
  pullSecret(stub, NS, 'third', 'different');
  const result = await collectCredentials(pod(pullSecrets('first', 'second', 'third')), NS, IMAGE, sources(reader));
  t.same(summary(result.credentials), [
    ['Secret apps/first', 'same'],
    ['Secret apps/third', 'different'],
  ]);
});

t.test('credential ids and problems never contain passwords', async (t) => {
  const { stub, reader } = await setup(t);
  const passwords = ['pw-of-alpha', 'pw-of-beta', 'cloud-secret-pw'];
  pullSecret(stub, NS, 'alpha', 'alpha');
  pullSecret(stub, NS, 'beta', 'beta');
  pullSecret(stub, NS, 'locked', 'gamma');
  stub.forbid('Secret', NS, 'locked');
  const cloud = fakeCloud('Fake cloud', () => true, async () => ({ id: 'Fake cloud', username: 'c', password: 'cloud-secret-pw' }));
  const result = await collectCredentials(pod(pullSecrets('alpha', 'beta', 'locked')), NS, IMAGE, sources(reader, { cloud: [cloud] }));
  t.equal(result.credentials.length, 3);
  for (const credential of result.credentials) {
    for (const password of [...passwords, b64(`alpha:pw-of-alpha`)]) {
      t.notOk(credential.id.includes(password), `${credential.id} holds no password`);
    }
  }
  for (const problem of result.problems) {
    for (const password of [...passwords, 'pw-of-gamma']) t.notOk(problem.includes(password));
  }
});

t.test('a failing cloud provider is a problem; collectCredentials never rejects', async (t) => {
  const { reader } = await setup(t);
  const failing = fakeCloud('Broken cloud', () => true, async () => {
    throw new CloudCredentialError('Broken cloud', 'token endpoint said no');
  });
  const weird = fakeCloud('Weird cloud', () => true, async () => {
    throw new TypeError('something\nodd');
  });
  const empty = fakeCloud('Empty cloud', () => true, async () => undefined);
  const throwsOnMatch: CloudCredentialProvider = {
    name: 'Throwing matcher',
    matches: () => {
      throw new Error('bad matcher');
    },
    credential: async () => ({ id: 'x', username: 'x', password: 'x' }),
  };
  const result = await collectCredentials(pod(), NS, IMAGE, sources(reader, { cloud: [failing, weird, empty, throwsOnMatch] }));
  t.same(result.credentials, []);
  t.same(result.problems, ['Broken cloud: token endpoint said no', 'Weird cloud: something odd']);
});

t.test('with the real Google provider against a fake metadata server', async (t) => {
  const { stub, reader } = await setup(t);
  const metadata = await startFakeMetadata();
  t.teardown(() => metadata.close());
  pullSecret(stub, NS, 'ar-key', '_json_key', 'europe-docker.pkg.dev');
  const google = googleCredentialProvider({ env: { GCE_METADATA_HOST: metadata.host }, timeoutMs: 2000 });
  const image = parseImageReference('europe-docker.pkg.dev/project/repo/app@sha256:' + 'a'.repeat(64));
  const result = await collectCredentials(pod(pullSecrets('ar-key')), NS, image, sources(reader, { cloud: [google] }));
  t.same(summary(result.credentials), [
    ['Secret apps/ar-key', '_json_key'],
    ['Google workload identity', 'oauth2accesstoken'],
  ]);
  t.equal(result.credentials[1]?.password, metadata.token(1));

  await metadata.close();
  const down = googleCredentialProvider({ env: { GCE_METADATA_HOST: metadata.host }, timeoutMs: 2000 });
  const degraded = await collectCredentials(pod(pullSecrets('ar-key')), NS, image, sources(reader, { cloud: [down] }));
  t.same(summary(degraded.credentials), [['Secret apps/ar-key', '_json_key']]);
  t.equal(degraded.problems.length, 1);
  t.match(degraded.problems[0], /^Google workload identity: metadata server 127\.0\.0\.1:\d+ unreachable/);
});

t.test('work is bounded: at most MAX_PULL_SECRETS Secrets are read, the rest reported', async (t) => {
  const { stub, reader } = await setup(t);
  const names = Array.from({ length: MAX_PULL_SECRETS + 5 }, (_, i) => `s${i}`);
  pullSecret(stub, NS, `s${MAX_PULL_SECRETS + 2}`, 'late');
  const result = await collectCredentials(pod(pullSecrets(...names)), NS, IMAGE, sources(reader));
  t.same(result.credentials, []);
  t.same(result.problems, [`more than ${MAX_PULL_SECRETS} image pull secrets; 5 not read (first: Secret apps/s${MAX_PULL_SECRETS})`]);
  t.equal(stub.requests.filter((r) => r.path.includes('/secrets/')).length, MAX_PULL_SECRETS);
  // Each image of a pod is looked up with its names: those past the bound are counted, not looked at.
  const many = Array.from({ length: 100_000 }, (_, i) => `m${i}`);
  const counted = await collectCredentials({ imagePullSecrets: many, serviceAccountName: 'default' }, NS, IMAGE, sources(reader));
  t.same(counted.problems, [`more than ${MAX_PULL_SECRETS} image pull secrets; ${100_000 - MAX_PULL_SECRETS} not read (first: Secret apps/m${MAX_PULL_SECRETS})`]);
});
