/**
 * `inject` and the webhook give the same pod for the same input: generated pods (inline
 * references, `$(…)` and `$$` values, Secret and ConfigMap keys, envFrom, containers without
 * `command` and their command annotation, init containers and native sidecars, provider
 * annotations, opted-out pods, pods the webhook denies) go to the built server, which reads
 * the Secret and ConfigMap from a stub API server, and to `inject`, which reads the same
 * objects from the manifests beside the pod. The webhook's patched pod must equal the pod
 * `inject` writes; a denial must be reported by `inject` with the webhook's reason.
 */
import fc from 'fast-check';
import t from 'tap';
import { parseAllDocuments } from 'yaml';
import { makeTestCertificates } from '../helpers/certs.js';
import { startStubApiServer } from '../helpers/stub-apiserver.js';
import { startWebhook } from '../helpers/webhook-process.js';
import { parseAnswer, patchedPod, postReview, reviewOf } from './fixtures/support.js';
import type { Container, Pod } from './fixtures/support.js';
import { runInjectCli } from '../helpers/inject-cli.js';

const NS = 'team-a';
const AWS = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:app/db-AbCdEf';
const SSM = 'arn:aws:ssm:eu-west-1:123456789012:parameter/app/key';
const GCP = 'gcp:secretmanager:projects/p/secrets/s/versions/2';
const SECRET_DATA = { db: AWS, plain: 'not-a-reference', google: GCP, 'odd.key-1': SSM };
const CONFIG_DATA = { A: SSM, B: 'plain', C: '$(A)' };

const certs = await makeTestCertificates('ec-pkcs8');
t.teardown(certs.cleanup);
const stub = await startStubApiServer();
t.teardown(() => stub.close());
stub.addSecret(NS, 'app-secrets', SECRET_DATA);
stub.addConfigMap(NS, 'app-config', CONFIG_DATA);
const webhook = await startWebhook(['server', `--tls-cert-file=${certs.certFile}`, `--tls-private-key-file=${certs.keyFile}`], { KUBECONFIG: stub.kubeconfigPath });

const objectsYaml = [
  { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'app-secrets', namespace: NS }, data: Object.fromEntries(Object.entries(SECRET_DATA).map(([k, v]) => [k, Buffer.from(v).toString('base64')])) },
  { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'app-config', namespace: NS }, data: CONFIG_DATA },
]
  .map((object) => JSON.stringify(object))
  .join('\n---\n');

const envArb = fc.oneof(
  fc.constantFrom(AWS, SSM, GCP, 'plain', '$(OTHER)', '$$(NOT_EXPANDED)', `prefix-$(REF)`, '').map((value) => ({ value })),
  fc.constantFrom(...Object.keys(SECRET_DATA), 'missing-key').map((key) => ({ valueFrom: { secretKeyRef: { name: 'app-secrets', key, ...(key === 'missing-key' ? { optional: true } : {}) } } })),
  fc.constantFrom(...Object.keys(CONFIG_DATA)).map((key) => ({ valueFrom: { configMapKeyRef: { name: 'app-config', key } } })),
);
const containerArb = (name: string, sidecar: boolean) =>
  fc.record({
    env: fc.array(fc.tuple(fc.constantFrom('REF', 'OTHER', 'X_1', 'my.var'), envArb), { maxLength: 4 }),
    envFrom: fc.constantFrom([], [{ configMapRef: { name: 'app-config' } }], [{ prefix: 'S_', secretRef: { name: 'app-secrets' } }]),
    command: fc.option(fc.constantFrom(['/app'], ['/bin/sh', '-c', 'echo $(REF) $$HOME']), { nil: undefined }),
    args: fc.option(fc.constantFrom(['--flag'], ['$(OTHER)']), { nil: undefined }),
  }).map(({ env, envFrom, command, args }): Container => {
    const container: Container = { name, image: `registry.example.com/${name}:1`, env: env.map(([variable, source]) => ({ name: variable, ...source })) };
    if (envFrom.length > 0) container.envFrom = [...envFrom];
    if (command !== undefined) container.command = [...command];
    if (args !== undefined) container.args = [...args];
    if (sidecar) container.restartPolicy = 'Always';
    return container;
  });
const podArb = fc
  .record({
    containers: fc.array(fc.constantFrom('app', 'worker', 'log-shipper'), { minLength: 1, maxLength: 3 }),
    init: fc.option(fc.constantFrom('setup', 'proxy'), { nil: undefined }),
    provider: fc.option(fc.constantFrom('aws', 'google'), { nil: undefined }),
    optOut: fc.boolean(),
  })
  .chain(({ containers, init, provider, optOut }) =>
    fc.record({
      containers: fc.tuple(...[...new Set(containers)].map((name) => containerArb(name, false))),
      init: init === undefined ? fc.constant([]) : fc.tuple(containerArb(init, init === 'proxy')),
      provider: fc.constant(provider),
      optOut: fc.constant(optOut),
    }),
  )
  .map(({ containers, init, provider, optOut }, ): Pod => {
    const annotations: Record<string, string> = {};
    for (const container of [...init, ...containers]) if (container.command === undefined) annotations[`secrets-init/command.${container.name}`] = JSON.stringify({ entrypoint: ['/entry'], cmd: ['run', '$HOME'] });
    if (provider !== undefined) annotations['secrets-init/provider'] = provider;
    if (optOut) annotations['secrets-init/inject'] = 'false';
    const pod: Pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'generated', namespace: NS, annotations }, spec: { containers: [...containers] } };
    if (init.length > 0) pod.spec.initContainers = [...init];
    return pod;
  });

function examplePod(containers: Container[]): Pod {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'example', namespace: NS, annotations: {} }, spec: { containers } };
}

t.test('the webhook and inject give the same pod, or the same denial', async (t) => {
  let compared = { patched: 0, unchanged: 0, denied: 0 };
  await fc.assert(
    fc.asyncProperty(podArb, async (pod) => {
      const answer = parseAnswer(await postReview(webhook.url, reviewOf(pod, NS), { ca: certs.caPem }));
      const injected = await runInjectCli(['-f', '-', '-o', 'json'], `${objectsYaml}\n---\n${JSON.stringify(pod)}\n`);
      const { response } = answer;
      if (!response.allowed) {
        compared.denied++;
        const reason = (response.status?.message ?? '').replace(/^pod [^:]+: /, '');
        if (injected.code !== 1 || !injected.stderr.includes(`the webhook would deny this pod: ${reason}`)) {
          throw new Error(`webhook denied (${reason}); inject exited ${injected.code}: ${injected.stderr}`);
        }
        return;
      }
      if (injected.code !== 0) throw new Error(`webhook allowed; inject exited ${injected.code}: ${injected.stderr}`);
      const items = (JSON.parse(injected.stdout) as { items: Pod[] }).items;
      const written = items[2];
      const expected = response.patch === undefined ? pod : patchedPod(pod, answer);
      if (response.patch === undefined) compared.unchanged++;
      else compared.patched++;
      t.same(written, expected, 'same pod');
      if (JSON.stringify(written) !== JSON.stringify(expected)) throw new Error('differs');
    }),
    {
      numRuns: 60,
      seed: Number(process.env['PROPERTY_SEED'] ?? Date.now() % 2 ** 31),
      // One of each outcome whatever the seed: denied (two providers in one container, and a
      // missing key), unchanged, patched.
      examples: [
        [examplePod([{ name: 'app', image: 'registry.example.com/app:1', command: ['/app'], env: [{ name: 'A', value: AWS }, { name: 'G', value: GCP }] }])],
        [examplePod([{ name: 'app', image: 'registry.example.com/app:1', command: ['/app'], env: [{ name: 'K', valueFrom: { secretKeyRef: { name: 'app-secrets', key: 'missing-key' } } }] }])],
        [examplePod([{ name: 'app', image: 'registry.example.com/app:1', command: ['/app'], env: [{ name: 'P', value: 'plain' }] }])],
        [examplePod([{ name: 'app', image: 'registry.example.com/app:1', command: ['/app'], env: [{ name: 'S', valueFrom: { secretKeyRef: { name: 'app-secrets', key: 'db' } } }] }])],
      ],
    },
  );
  t.ok(compared.patched > 5 && compared.unchanged > 0 && compared.denied >= 2, `patched ${compared.patched}, unchanged ${compared.unchanged}, denied ${compared.denied}: every outcome compared`);
});

t.test('a YAML stream in, the same pods out as YAML', async (t) => {
  const pod: Pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'yaml', namespace: NS }, spec: { containers: [{ name: 'app', image: 'registry.example.com/app:1', command: ['/app'], env: [{ name: 'DB', valueFrom: { secretKeyRef: { name: 'app-secrets', key: 'db' } } }] }] } };
  const answer = parseAnswer(await postReview(webhook.url, reviewOf(pod, NS), { ca: certs.caPem }));
  const injected = await runInjectCli(['-f', '-'], `${objectsYaml}\n---\n${JSON.stringify(pod)}\n`);
  t.equal(injected.code, 0, injected.stderr);
  const docs = parseAllDocuments(injected.stdout);
  t.same((Array.isArray(docs) ? docs : [])[2]?.toJS(), patchedPod(pod, answer));
});
