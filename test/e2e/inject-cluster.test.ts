/**
 * `inject` with a cluster and a registry: references the input does not hold are read from
 * the (stub) API server through a kubeconfig, the input winning over the cluster; --context
 * picks the context; a cluster that cannot be reached exits 2 naming its server; a
 * container without `command` gets its image's ENTRYPOINT/CMD from a real registry, with
 * the pull secret taken from the input.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { dirname } from 'node:path';
import t from 'tap';
import { parse } from 'yaml';
import { startStubApiServer } from '../helpers/stub-apiserver.js';
import { pushImage, startRegistry } from '../helpers/registry.js';
import type { User } from '../helpers/registry.js';
import { runInjectCli } from '../helpers/inject-cli.js';

interface Doc {
  kind: string;
  spec: { template: { spec: { containers: Array<{ name: string; command?: string[]; args?: string[] }> } } };
}

const AWS = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:shop/db-AbCdEf';
const stub = await startStubApiServer();
t.teardown(() => stub.close());
stub.addSecret('shop', 'db', { password: AWS });
stub.addConfigMap('shop', 'settings', { TOKEN: AWS });

const deployment = (env: string, extra = '') => `apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: shop}
spec:
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      containers:
        - name: api
          image: registry.example.com/api:1
          command: [/api]
          env:
${env}
${extra}`;
const noHome = { HOME: '/nonexistent-home' };

t.test('a reference the input does not hold is read from the cluster', async (t) => {
  const input = deployment('            - {name: DB_PASSWORD, valueFrom: {secretKeyRef: {name: db, key: password}}}');
  const without = await runInjectCli(['-f', '-'], input, noHome);
  t.equal(without.code, 1, 'no cluster: unresolved');
  const withCluster = await runInjectCli(['-f', '-', '--kubeconfig', stub.kubeconfigPath], input, noHome);
  t.equal(withCluster.code, 0, withCluster.stderr);
  const api = (parse(withCluster.stdout) as Doc).spec.template.spec.containers[0];
  t.same(api?.command, ['/helper/bin/secrets-init']);
  t.same(api?.args, ['--provider=aws', '/api']);
  const fromEnv = await runInjectCli(['-f', '-'], input, { ...noHome, KUBECONFIG: stub.kubeconfigPath });
  t.equal(fromEnv.stdout, withCluster.stdout, 'KUBECONFIG works as --kubeconfig does');
});

t.test('the input wins over the cluster', async (t) => {
  const input = `${deployment('            - {name: TOKEN, valueFrom: {configMapKeyRef: {name: settings, key: TOKEN}}}')}---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: shop}
data: {TOKEN: not-a-reference}
`;
  const result = await runInjectCli(['-f', '-', '--kubeconfig', stub.kubeconfigPath, '--check'], input, noHome);
  t.equal(result.code, 0, 'the ConfigMap of the input holds no reference: nothing to change');
  const fromCluster = await runInjectCli(['-f', '-', '--kubeconfig', stub.kubeconfigPath, '--check'], deployment('            - {name: TOKEN, valueFrom: {configMapKeyRef: {name: settings, key: TOKEN}}}'), noHome);
  t.equal(fromCluster.code, 1, "the cluster's ConfigMap holds one: it would change");
});

t.test('--context picks the context; an unreachable cluster exits 2 naming its server', async (t) => {
  const config = JSON.parse(await readFile(stub.kubeconfigPath, 'utf8')) as Record<string, unknown[]> & { 'current-context': string };
  const closed = 'https://127.0.0.1:1';
  config['clusters'] = [...config['clusters']!, { name: 'closed', cluster: { server: closed, 'insecure-skip-tls-verify': true } }];
  config['contexts'] = [...config['contexts']!, { name: 'elsewhere', context: { cluster: 'closed', user: 'stub-user', namespace: 'shop' } }];
  config['current-context'] = 'elsewhere';
  const path = join(dirname(stub.kubeconfigPath), 'two-contexts');
  await writeFile(path, JSON.stringify(config), { mode: 0o600 });
  const input = deployment('            - {name: DB_PASSWORD, valueFrom: {secretKeyRef: {name: db, key: password}}}');
  const unreachable = await runInjectCli(['-f', '-', '--kubeconfig', path], input, noHome);
  t.equal(unreachable.code, 2);
  t.equal(unreachable.stdout, '');
  t.match(unreachable.stderr, `cannot read from the cluster at ${closed}: `);
  t.match(unreachable.stderr, /ECONNREFUSED/);
  const chosen = await runInjectCli(['-f', '-', '--kubeconfig', path, '--context', 'stub'], input, noHome);
  t.equal(chosen.code, 0, chosen.stderr);
  const unknown = await runInjectCli(['-f', '-', '--kubeconfig', path, '--context', 'nope'], input, noHome);
  t.equal(unknown.code, 2);
  t.match(unknown.stderr, 'context "nope" is not defined');
});

t.test("a container without command: its image's config from the registry, the pull secret from the input", async (t) => {
  const puller: User = { username: 'puller', password: 'Pu11-S3cret-Registry-PW' };
  const registry = await startRegistry({ htpasswd: [puller] });
  t.teardown(() => registry.close());
  await pushImage(registry, 'team/app', '1.0', { entrypoint: ['/app/entry.sh'], cmd: ['serve', '--port=8080'] });
  const auth = Buffer.from(`${puller.username}:${puller.password}`).toString('base64');
  const dockerConfig = Buffer.from(JSON.stringify({ auths: { [registry.host]: { auth } } })).toString('base64');
  const input = `apiVersion: v1
kind: Secret
metadata: {name: regcred, namespace: shop}
type: kubernetes.io/dockerconfigjson
data: {.dockerconfigjson: ${dockerConfig}}
---
apiVersion: v1
kind: Pod
metadata: {name: app, namespace: shop}
spec:
  imagePullSecrets: [{name: regcred}]
  containers:
    - name: app
      image: ${registry.host}/team/app:1.0
      env: [{name: KEY, value: "${AWS}"}]
`;
  const result = await runInjectCli(['-f', '-', `--insecure-registries=${registry.host}`], input, noHome);
  t.equal(result.code, 0, result.stderr);
  const pod = parse(result.stdout.split(/^---\n/m)[1] ?? '') as { spec: { containers: Array<{ command?: string[]; args?: string[] }> } };
  t.same(pod.spec.containers[0]?.command, ['/helper/bin/secrets-init']);
  t.same(pod.spec.containers[0]?.args, ['--provider=aws', '/app/entry.sh', 'serve', '--port=8080']);
  t.notMatch(result.stdout + result.stderr, puller.password);
  const anonymous = await runInjectCli(['-f', '-', `--insecure-registries=${registry.host}`], input.replace('  imagePullSecrets: [{name: regcred}]\n', ''), noHome);
  t.equal(anonymous.code, 1, 'without the pull secret the registry refuses: the webhook would deny');
  t.match(anonymous.stderr, 'the webhook would deny this pod');
});
