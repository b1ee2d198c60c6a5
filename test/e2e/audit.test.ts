/**
 * `audit` against the stub API server (HTTPS from its own CA, Status bodies, paginated pod
 * lists, namespaces with labels, a namespace whose pods are forbidden): missed pods with
 * owner, containers and likely reason; opted-out pods apart; Succeeded pods and injected pods
 * not listed; exit codes; JSON output; an unreachable cluster.
 */
import t from 'tap';
import { parseCommandLine } from '../../src/cli/parse.js';
import { runAudit } from '../../src/commands/audit.js';
import type { AuditReport } from '../../src/commands/audit.js';
import { startStubApiServer } from '../helpers/stub-apiserver.js';
import { runCli } from '../helpers/webhook-process.js';

const AWS = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:shop/db-AbCdEf';
const GCP = 'gcp:secretmanager:projects/p/secrets/s/versions/1';
const stub = await startStubApiServer();
t.teardown(() => stub.close());

stub.addNamespace('shop');
stub.addNamespace('legacy', { 'admission.secrets-init/ignore': '' });
stub.addNamespace('kube-system');
stub.addNamespace('locked');
stub.addNamespace('clean');
stub.forbid('pods', 'locked');
stub.addMutatingWebhookConfiguration('secrets-init-webhook', [
  {
    name: 'secrets-init.doit-intl.com',
    clientConfig: { service: { name: 'secrets-init-webhook', namespace: 'secrets-init', path: '/pods' } },
    sideEffects: 'None',
    admissionReviewVersions: ['v1'],
    namespaceSelector: {
      matchExpressions: [
        { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', 'secrets-init'] },
        { key: 'admission.secrets-init/ignore', operator: 'DoesNotExist' },
      ],
    },
    objectSelector: { matchExpressions: [{ key: 'app.kubernetes.io/name', operator: 'NotIn', values: ['secrets-init-webhook'] }] },
  },
]);
stub.addSecret('shop', 'db', { password: AWS, user: 'shop' });

const running = { phase: 'Running' };
const container = (name: string, env: Array<Record<string, unknown>>, command = ['/app']) => ({ name, image: `registry.example.com/${name}:1`, command, env });
const OLD = '2020-01-01T00:00:00Z';
stub.addPod('shop', {
  metadata: {
    name: 'api-7d9f8b6c5d-x2x9q',
    creationTimestamp: OLD,
    labels: { app: 'api', 'pod-template-hash': '7d9f8b6c5d' },
    ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'api-7d9f8b6c5d', controller: true, uid: 'u1' }],
  },
  spec: { containers: [container('api', [{ name: 'DB_PASSWORD', value: AWS }]), container('sidecar', [{ name: 'MODE', value: 'x' }])] },
  status: running,
});
stub.addPod('shop', {
  metadata: { name: 'reader', ownerReferences: [{ kind: 'Job', name: 'nightly-28900000', controller: true, uid: 'u2' }] },
  spec: {
    initContainers: [container('setup', [{ name: 'PASSWORD', valueFrom: { secretKeyRef: { name: 'db', key: 'password' } } }])],
    containers: [container('main', [{ name: 'USER', valueFrom: { secretKeyRef: { name: 'db', key: 'user' } } }])],
  },
  status: { phase: 'Pending' },
});
stub.addPod('shop', {
  metadata: { name: 'injected', annotations: { 'secrets-init/status': '{"containers":["app"],"initContainers":[]}' } },
  spec: { containers: [{ ...container('app', [{ name: 'DB_PASSWORD', value: AWS }], ['/helper/bin/secrets-init']), args: ['--provider=aws', '/app'] }] },
  status: running,
});
stub.addPod('shop', { metadata: { name: 'opted-out', annotations: { 'secrets-init/inject': 'false' } }, spec: { containers: [container('app', [{ name: 'KEY', value: GCP }])] }, status: running });
stub.addPod('shop', { metadata: { name: 'finished' }, spec: { containers: [container('app', [{ name: 'KEY', value: AWS }])] }, status: { phase: 'Succeeded' } });
for (let i = 0; i < 5; i++) stub.addPod('shop', { metadata: { name: `plain-${i}` }, spec: { containers: [container('app', [{ name: 'MODE', value: 'batch' }])] }, status: running });
stub.addPod('legacy', { metadata: { name: 'worker' }, spec: { containers: [container('worker', [{ name: 'TOKEN', value: AWS }])] }, status: running });
stub.addPod('kube-system', { metadata: { name: 'addon' }, spec: { containers: [container('addon', [{ name: 'TOKEN', value: GCP }])] }, status: running });
stub.addPod('locked', { metadata: { name: 'hidden' }, spec: { containers: [container('app', [{ name: 'TOKEN', value: AWS }])] }, status: running });
stub.addPod('clean', { metadata: { name: 'fine' }, spec: { containers: [container('app', [{ name: 'MODE', value: 'x' }])] }, status: running });

async function audit(args: string[], env: Record<string, string> = { KUBECONFIG: stub.kubeconfigPath, HOME: '/nonexistent-home' }) {
  const parsed = parseCommandLine(['audit', ...args], {}, 'test');
  if (parsed.kind !== 'audit') throw new Error(`parsed as ${parsed.kind}: ${'stderr' in parsed ? parsed.stderr : ''}`);
  let stdout = '';
  let stderr = '';
  const code = await runAudit(parsed.audit, { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) }, readStdin: async () => '', env });
  return { code, stdout, stderr };
}

t.test('every namespace, as JSON: misses with owner, containers and reason; opted out apart; a forbidden namespace reported', async (t) => {
  const from = stub.requests.length;
  const { code, stdout, stderr } = await audit(['--all-namespaces', '-o', 'json', '--page-size=3']);
  t.equal(code, 1, 'exit 1: misses found');
  t.equal(stderr, '');
  const report = JSON.parse(stdout) as AuditReport;
  const missed = Object.fromEntries(report.missed.map((m) => [`${m.namespace}/${m.pod}`, m]));
  t.same(Object.keys(missed).sort(), ['kube-system/addon', 'legacy/worker', 'shop/api-7d9f8b6c5d-x2x9q', 'shop/reader']);
  t.match(missed['shop/api-7d9f8b6c5d-x2x9q'], { owner: 'Deployment/api', containers: ['api'], variables: { api: ['DB_PASSWORD'] }, phase: 'Running' });
  t.match(missed['shop/api-7d9f8b6c5d-x2x9q']?.reason, /^created before the webhook was configured \(pod 2020-01-01T00:00:00Z, configuration /);
  t.match(missed['shop/reader'], { owner: 'Job/nightly-28900000', containers: ['setup'], variables: { setup: ['PASSWORD'] }, phase: 'Pending' }, 'references read from the Secret: only the key holding a reference counts');
  t.match(missed['shop/reader']?.reason, /^unknown: /);
  t.equal(missed['legacy/worker']?.reason, 'namespace legacy is not selected (label admission.secrets-init/ignore is set)');
  t.equal(missed['kube-system/addon']?.reason, 'namespace kube-system is not selected (label kubernetes.io/metadata.name is "kube-system")');
  t.same(report.optedOut.map((o) => `${o.namespace}/${o.pod}`), ['shop/opted-out']);
  t.equal(report.notScanned.length, 1);
  t.equal(report.notScanned[0]?.namespace, 'locked');
  t.match(report.notScanned[0]?.error, /^cannot read Pods in locked: forbidden \(HTTP 403\): pods is forbidden/);
  t.same(report.scanned, { namespaces: 4, pods: 12 }, 'Succeeded pods are not counted; the forbidden namespace is not scanned');
  const podLists = stub.requests.slice(from).filter((r) => r.path.startsWith('/api/v1/namespaces/shop/pods'));
  t.ok(podLists.length >= 4, `shop's 10 pods read in pages of 3 (${podLists.length} requests)`);
  t.ok(podLists.every((r) => r.path.includes('limit=3')), 'every page asks for limit=3');
  t.ok(podLists.slice(1).every((r) => /[?&]continue=/.test(r.path)), 'later pages follow the continue token');
  t.equal(stub.requests.slice(from).filter((r) => r.path === '/api/v1/namespaces/shop/secrets/db').length, 1, 'the Secret is read once, though two containers read it');
});

t.test('one namespace as a table', async (t) => {
  const { code, stdout } = await audit(['-n', 'shop']);
  t.equal(code, 1);
  const lines = stdout.split('\n');
  t.match(lines[0], 'Pods holding secret references without secrets-init (2):');
  t.match(lines[1], /^NAMESPACE\s+POD\s+OWNER\s+CONTAINERS\s+REASON$/);
  t.match(stdout, /shop\s+api-7d9f8b6c5d-x2x9q\s+Deployment\/api\s+api\s+created before the webhook was configured/);
  t.match(stdout, /Opted out by annotation, references left as they are \(1\):/);
  t.match(stdout, /shop\s+opted-out\s+-\s+app\s+annotation secrets-init\/inject: "false"/);
  t.match(stdout, 'Scanned 9 running or pending pods in 1 namespaces.');
  t.notMatch(stdout, AWS, 'no reference value in the report');
});

t.test('a namespace without misses exits 0', async (t) => {
  const { code, stdout } = await audit(['-n', 'clean']);
  t.equal(code, 0);
  t.match(stdout, 'No pod holds secret references without secrets-init.');
});

t.test('without the webhook configuration, the reason says so', async (t) => {
  const { code, stdout } = await audit(['-n', 'shop', '-o', 'json', '--webhook-configuration=other-name']);
  t.equal(code, 1);
  const report = JSON.parse(stdout) as AuditReport;
  t.ok(report.missed.every((m) => m.reason.startsWith('the webhook is not installed')), 'every miss: webhook not installed');
});

t.test('errors: no cluster, an unreachable cluster, exclusive flags', async (t) => {
  const none = await audit(['-n', 'shop'], { HOME: '/nonexistent-home' });
  t.equal(none.code, 2);
  t.match(none.stderr, 'no cluster to audit');
  const saved = stub.token;
  stub.token = 'another-token';
  t.teardown(() => {
    stub.token = saved;
  });
  const refused = await audit(['-n', 'shop']);
  t.equal(refused.code, 2);
  t.match(refused.stderr, `cannot use the cluster at ${stub.url}: `);
  t.match(refused.stderr, 'unauthorized (HTTP 401)');
  t.equal(refused.stdout, '');
  stub.token = saved;
  const both = parseCommandLine(['audit', '-n', 'shop', '-A'], {}, 'test');
  t.match(both, { kind: 'exit', code: 2 });
});

t.test('the built command: exit code and table', async (t) => {
  const result = await runCli(['audit', '-n', 'clean'], { KUBECONFIG: stub.kubeconfigPath }, { t });
  t.equal(result.code, 0, result.stderr);
  t.match(result.stdout, 'No pod holds secret references without secrets-init.');
});

t.test('-A without permission to list namespaces: exit 2, saying to use -n', async (t) => {
  stub.forbid('namespaces', '');
  const { code, stdout, stderr } = await audit(['-A']);
  t.equal(code, 2);
  t.equal(stdout, '');
  t.match(stderr, /^secrets-init-webhook audit: cannot read Namespaces in the cluster: forbidden \(HTTP 403\): namespaces is forbidden: .*; scan namespaces one at a time with -n\n$/);
});

t.test('a continue token that expires while a page is audited: the list starts again, each pod reported once', async (t) => {
  const own = await startStubApiServer();
  t.teardown(() => own.close());
  own.addSecret('big', 'db', { password: AWS });
  for (const name of ['p1', 'p2', 'p3']) {
    own.addPod('big', { metadata: { name }, spec: { containers: [container('app', [{ name: 'DB', valueFrom: { secretKeyRef: { name: 'db', key: 'password' } } }])] }, status: running });
  }
  // The Secret is read while the first page is audited: by then the list's token is too old.
  own.beforeNextGet('/api/v1/namespaces/big/secrets/db', () => own.expireContinueTokens());
  const { code, stdout, stderr } = await audit(['-n', 'big', '-o', 'json', '--page-size=1'], { KUBECONFIG: own.kubeconfigPath, HOME: '/nonexistent-home' });
  t.equal(code, 1, stderr);
  const report = JSON.parse(stdout) as AuditReport;
  t.same(report.missed.map((m) => m.pod), ['p1', 'p2', 'p3'], 'every pod once');
  t.same(report.scanned, { namespaces: 1, pods: 3 });
  const lists = own.requests.filter((r) => r.path.startsWith('/api/v1/namespaces/big/pods')).map((r) => (/[?&]continue=/.test(r.path) ? 'continue' : 'new'));
  t.same(lists, ['new', 'continue', 'new', 'continue', 'continue'], 'the expired continue (410) is followed by a new list');
});

t.test('a namespace whose pods cannot be listed, or a pod whose Secret cannot be read, is no all-clear: exit 2', async (t) => {
  const own = await startStubApiServer();
  t.teardown(() => own.close());
  own.addNamespace('locked');
  own.forbid('pods', 'locked');
  own.addPod('locked', { metadata: { name: 'hidden' }, spec: { containers: [container('app', [{ name: 'TOKEN', value: AWS }])] }, status: running });
  own.addNamespace('partial');
  own.addSecret('partial', 'db', { password: AWS });
  own.forbid('secrets', 'partial', 'db');
  own.addPod('partial', { metadata: { name: 'reader' }, spec: { containers: [container('app', [{ name: 'DB', valueFrom: { secretKeyRef: { name: 'db', key: 'password' } } }])] }, status: running });
  const env = { KUBECONFIG: own.kubeconfigPath, HOME: '/nonexistent-home' };

  const locked = await audit(['-n', 'locked'], env);
  t.equal(locked.code, 2, 'the one namespace asked for was not scanned');
  t.notMatch(locked.stdout, 'No pod holds secret references without secrets-init.', 'no all-clear headline');
  t.match(locked.stdout, /^No missed pod found among those checked, but the audit is incomplete: 1 namespace\(s\) not scanned \(below\)\.$/m);
  t.match(locked.stdout, 'Namespace locked not scanned: cannot read Pods in locked: forbidden (HTTP 403)');

  const partial = await audit(['-n', 'partial', '-o', 'json'], env);
  t.equal(partial.code, 2, "a pod whose Secret could not be read was not fully checked");
  const report = JSON.parse(partial.stdout) as AuditReport;
  t.same(report.missed, []);
  t.same(report.incomplete.map((p) => p.pod), ['reader']);

  const both = await audit(['-A'], env);
  t.equal(both.code, 2);
  t.match(both.stdout, '1 namespace(s) not scanned, 1 pod(s) not fully checked');

  own.addPod('partial', { metadata: { name: 'inline' }, spec: { containers: [container('app', [{ name: 'TOKEN', value: AWS }])] }, status: running });
  const missed = await audit(['-A'], env);
  t.equal(missed.code, 1, 'a missed pod still exits 1 when other pods could not be checked');
});
