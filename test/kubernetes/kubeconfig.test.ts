// loadKubeConfig's sources and their order, and the reader used when there is no configuration.
import { chmod } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import t from 'tap';
import { HttpMethod, RequestContext } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import {
  KubeConfigError,
  LookupError,
  createKubeObjectReader,
  loadKubeConfig,
  unconfiguredReader,
} from '../../src/kubernetes/object-reader.js';
import { startStubApiServer } from '../helpers/stub-apiserver.js';
import { makeLoopbackCertificates } from '../helpers/certs.js';

function kubeconfigYaml(server: string, options: { cluster?: string; token?: string; current?: string } = {}): string {
  const cluster = options.cluster ?? 'c';
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    `- name: ${cluster}`,
    '  cluster:',
    `    server: ${server}`,
    'users:',
    `- name: u-${cluster}`,
    '  user:',
    `    token: ${options.token ?? 'tok'}`,
    'contexts:',
    `- name: ctx-${cluster}`,
    '  context:',
    `    cluster: ${cluster}`,
    `    user: u-${cluster}`,
    ...(options.current === '' ? [] : [`current-context: ${options.current ?? `ctx-${cluster}`}`]),
    '',
  ].join('\n');
}

/** A service account directory's files, as mounted into pods. */
const SERVICE_ACCOUNT_FILES = {
  token: 'in-cluster-token',
  // A real CA: one that does not parse is refused when the configuration is loaded.
  'ca.crt': (await makeLoopbackCertificates()).caCert,
  namespace: 'secrets-init',
};

async function bearer(config: KubeConfig): Promise<string | undefined> {
  const context = new RequestContext('https://example.invalid/', HttpMethod.GET);
  await config.applySecurityAuthentication(context);
  return context.getHeaders()['Authorization'];
}

function server(config: KubeConfig | undefined): string | undefined {
  return config?.getCurrentCluster()?.server;
}

t.test('KUBECONFIG pointing at the stub: loads it and reads through it', async (t) => {
  const stub = await startStubApiServer();
  t.teardown(() => stub.close());
  stub.addSecret('ns', 's', { k: 'v' });
  const home = t.testdir({ '.kube': { config: kubeconfigYaml('https://home.invalid') } });
  const config = loadKubeConfig({ KUBECONFIG: stub.kubeconfigPath, HOME: home });
  t.equal(server(config), stub.url, 'KUBECONFIG wins over ~/.kube/config');
  if (config === undefined) return;
  t.equal(await bearer(config), `Bearer ${stub.token}`);
  const lookup = await createKubeObjectReader(config, { timeoutMs: 2000 }).read({ kind: 'Secret', namespace: 'ns', name: 's' });
  t.equal(lookup.found ? lookup.data.get('k') : undefined, 'v');
});

t.test('nothing configured (empty env, empty HOME) is undefined, not localhost:8080', async (t) => {
  t.equal(loadKubeConfig({ HOME: t.testdir({}) }), undefined);
  t.equal(loadKubeConfig({}), undefined);
  t.equal(loadKubeConfig({ KUBECONFIG: '', HOME: '' }), undefined, 'empty values count as unset');
});

t.test('~/.kube/config is used when nothing else is configured', async (t) => {
  const home = t.testdir({ '.kube': { config: kubeconfigYaml('https://home.example:6443', { token: 'home-token' }) } });
  const config = loadKubeConfig({ HOME: home });
  t.equal(server(config), 'https://home.example:6443');
  if (config !== undefined) t.equal(await bearer(config), 'Bearer home-token');
});

t.test('in-cluster: service env vars plus the mounted token', async (t) => {
  // One fixture directory per test (t.testdir replaces it on each call).
  const root = t.testdir({ sa: SERVICE_ACCOUNT_FILES, home: { '.kube': { config: kubeconfigYaml('https://home.invalid') } } });
  const dir = join(root, 'sa');
  const home = join(root, 'home');
  const env = { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443', HOME: home };
  const config = loadKubeConfig(env, { serviceAccountDir: dir });
  t.equal(server(config), 'https://10.96.0.1:443', 'in-cluster wins over ~/.kube/config');
  t.equal(config?.getCurrentCluster()?.caFile, join(dir, 'ca.crt'));
  if (config !== undefined) t.equal(await bearer(config), 'Bearer in-cluster-token');

  const v6 = loadKubeConfig({ KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443' }, { serviceAccountDir: dir });
  t.equal(server(v6), 'https://[fd00::1]:443');
});

t.test("in-cluster: the context's namespace is the service account's, as kubectl's in a pod", async (t) => {
  const root = t.testdir({ sa: SERVICE_ACCOUNT_FILES, padded: { ...SERVICE_ACCOUNT_FILES, namespace: 'shop\n' }, none: { token: 't', 'ca.crt': SERVICE_ACCOUNT_FILES['ca.crt'] } });
  const env = { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' };
  const namespaceOf = (dir: string) => {
    const config = loadKubeConfig(env, { serviceAccountDir: join(root, dir) });
    return config?.getContextObject(config.getCurrentContext())?.namespace;
  };
  t.equal(namespaceOf('sa'), 'secrets-init');
  t.equal(namespaceOf('padded'), 'shop', 'the file as mounted, without its line break');
  t.equal(namespaceOf('none'), undefined, 'no namespace file: none (the commands then take default)');
  // client-go reads POD_NAMESPACE (set from the downward API) first.
  for (const dir of ['sa', 'none']) {
    const config = loadKubeConfig({ ...env, POD_NAMESPACE: 'payments' }, { serviceAccountDir: join(root, dir) });
    t.equal(config?.getContextObject(config.getCurrentContext())?.namespace, 'payments', `POD_NAMESPACE before the file (${dir})`);
  }
  const blank = loadKubeConfig({ ...env, POD_NAMESPACE: '' }, { serviceAccountDir: join(root, 'sa') });
  t.equal(blank?.getContextObject(blank.getCurrentContext())?.namespace, 'secrets-init', 'an empty POD_NAMESPACE is not one');
});

t.test('in-cluster needs both the env vars and the token file', async (t) => {
  const root = t.testdir({ sa: SERVICE_ACCOUNT_FILES, empty: {} });
  const dir = join(root, 'sa');
  const empty = join(root, 'empty');
  t.equal(loadKubeConfig({ KUBERNETES_SERVICE_HOST: '10.96.0.1' }, { serviceAccountDir: dir }), undefined);
  t.equal(loadKubeConfig({}, { serviceAccountDir: dir }), undefined);
  t.equal(
    loadKubeConfig({ KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' }, { serviceAccountDir: empty }),
    undefined,
  );
});

t.test('KUBECONFIG wins over in-cluster; an explicit path wins over KUBECONFIG', async (t) => {
  const files = t.testdir({
    sa: SERVICE_ACCOUNT_FILES,
    env: kubeconfigYaml('https://env.example'),
    flag: kubeconfigYaml('https://flag.example'),
  });
  const dir = join(files, 'sa');
  const env = { KUBECONFIG: join(files, 'env'), KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' };
  t.equal(server(loadKubeConfig(env, { serviceAccountDir: dir })), 'https://env.example');
  t.equal(server(loadKubeConfig(env, { serviceAccountDir: dir, kubeconfigPath: join(files, 'flag') })), 'https://flag.example');
});

t.test('a KUBECONFIG list: missing entries skipped, first definition and current-context win', async (t) => {
  const files = t.testdir({
    a: kubeconfigYaml('https://a.example', { cluster: 'shared', current: '' }),
    b: kubeconfigYaml('https://b.example', { cluster: 'shared' }),
  });
  const list = [join(files, 'missing'), join(files, 'a'), join(files, 'b')].join(delimiter);
  const config = loadKubeConfig({ KUBECONFIG: list });
  t.equal(config?.getCurrentContext(), 'ctx-shared', 'current-context from the first file that sets one');
  t.equal(server(config), 'https://a.example', 'the first file to define a cluster wins');
});

t.test("an exec plugin's relative command (with a path separator) runs from the kubeconfig's directory, as kubectl runs it", async (t) => {
  const credential = { apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential', status: { token: 'exec-token' } };
  const dir = t.testdir({
    bin: { 'get-token': `#!/bin/sh\necho '${JSON.stringify(credential)}'\n` },
    kubeconfig: JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'c', cluster: { server: 'https://exec.example' } }],
      users: [{ name: 'u', user: { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: './bin/get-token', interactiveMode: 'Never' } } }],
      contexts: [{ name: 'ctx', context: { cluster: 'c', user: 'u' } }],
      'current-context': 'ctx',
    }),
  });
  await chmod(join(dir, 'bin', 'get-token'), 0o755);
  t.not(process.cwd(), dir, "the process's working directory is another one");
  const config = loadKubeConfig({ KUBECONFIG: join(dir, 'kubeconfig') });
  if (config !== undefined) t.equal(await bearer(config), 'Bearer exec-token');
});

t.test('present but unusable configuration throws KubeConfigError instead of falling through', async (t) => {
  const files = t.testdir({
    broken: 'clusters:\n- name: c\n  cluster: {server: "https://x", token: s3cr3t-t0ken\n',
    nocontext: kubeconfigYaml('https://x.example', { current: '' }),
    dangling: kubeconfigYaml('https://x.example', { current: 'nope' }),
    empty: '',
    home: { '.kube': { config: 'kind: Config\n' } },
  });
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ KUBECONFIG: join(files, 'missing') }, /^KUBECONFIG .*missing: no such file$/],
    [{ KUBECONFIG: join(files, 'broken') }, /^cannot load kubeconfig .*broken: invalid YAML: .*\(line \d+, column \d+\)$/],
    [{ KUBECONFIG: join(files, 'nocontext') }, /^kubeconfig .*nocontext: no current-context set$/],
    [{ KUBECONFIG: join(files, 'dangling') }, /^kubeconfig .*dangling: current-context "nope" is not defined$/],
    [{ KUBECONFIG: join(files, 'empty') }, /^cannot load kubeconfig .*empty: /],
  ];
  for (const [env, message] of cases) {
    try {
      loadKubeConfig(env);
      t.fail(`expected ${JSON.stringify(env)} to throw`);
    } catch (error) {
      t.ok(error instanceof KubeConfigError, 'KubeConfigError');
      t.match(error instanceof Error ? error.message : '', message);
      t.notMatch(error instanceof Error ? error.message : '', /s3cr3t/, 'no credential quoted');
    }
  }
  t.throws(() => loadKubeConfig({}, { kubeconfigPath: join(files, 'missing') }), KubeConfigError);
  t.throws(() => loadKubeConfig({ HOME: join(files, 'home') }), KubeConfigError, 'a broken ~/.kube/config is an error too');
});

t.test('unconfiguredReader: every read rejects with not-configured, naming the object', async (t) => {
  const reader = unconfiguredReader();
  const cases: Array<[Promise<unknown>, string]> = [
    [
      reader.read({ kind: 'Secret', namespace: 'ns', name: 'name' }),
      'cannot read Secret ns/name: no Kubernetes API access configured (set KUBECONFIG or run in a cluster)',
    ],
    [
      reader.read({ kind: 'ConfigMap', namespace: 'prod', name: 'cfg' }),
      'cannot read ConfigMap prod/cfg: no Kubernetes API access configured (set KUBECONFIG or run in a cluster)',
    ],
    [
      reader.readServiceAccount('prod', 'default'),
      'cannot read ServiceAccount prod/default: no Kubernetes API access configured (set KUBECONFIG or run in a cluster)',
    ],
  ];
  for (const [promise, message] of cases) {
    const outcome = await promise.then(
      () => undefined,
      (error: unknown) => error,
    );
    t.ok(outcome instanceof LookupError, 'LookupError');
    if (outcome instanceof LookupError) {
      t.equal(outcome.cause, 'not-configured');
      t.equal(outcome.message, message);
      t.equal(outcome.httpStatus, undefined);
    }
  }
});
