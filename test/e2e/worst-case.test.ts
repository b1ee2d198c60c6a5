/**
 * Worst-case pods through the built server and a stub API server: 1 MiB of ConfigMap
 * references pulled in by many envFrom prefixes, and 1,000 secretKeyRefs. The answers are
 * denials that say which bound was hit, the reads are bounded, and the server keeps
 * answering its probes meanwhile. (Their time and memory are in `npm run bench`: the test
 * runner instruments child processes for coverage, which makes their memory unrepresentative.)
 */
import t from 'tap';
import { makeTestCertificates } from '../helpers/certs.js';
import { startStubApiServer } from '../helpers/stub-apiserver.js';
import { startWebhook } from '../helpers/webhook-process.js';
import { parseAnswer, postReview, reviewOf, send } from './fixtures/support.js';
import type { Container, Pod } from './fixtures/support.js';

const NS = 'crafted';
const ARN = (i: number) => `arn:aws:secretsmanager:us-east-1:123456789012:secret:crafted-${String(i).padStart(6, '0')}-AbCdEfGhIjKlMnOpQrStUvWxYz`;

const certs = await makeTestCertificates('ec-pkcs8');
t.teardown(certs.cleanup);
const stub = await startStubApiServer();
t.teardown(() => stub.close());
// About 1 MiB of references in one ConfigMap.
const big = Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`KEY_${i}`, ARN(i)]));
stub.addConfigMap(NS, 'big', big);
for (let s = 0; s < 50; s++) stub.addSecret(NS, `s${s}`, Object.fromEntries(Array.from({ length: 20 }, (_, k) => [`k${k}`, ARN(s * 20 + k)])));

const hook = await startWebhook(['server', `--tls-cert-file=${certs.certFile}`, `--tls-private-key-file=${certs.keyFile}`], { KUBECONFIG: stub.kubeconfigPath }, { t });
const tls = { ca: certs.caPem, timeoutMs: 20_000 };

async function decide(pod: Pod) {
  const started = Date.now();
  const answer = parseAnswer(await postReview(hook.url, reviewOf(pod, NS), tls));
  return { answer, ms: Date.now() - started };
}

function secretReads(): string[] {
  return stub.requests.filter((r) => r.method === 'GET').map((r) => r.path.split('?')[0] ?? '');
}

t.test('1 MiB of references through 20 envFrom prefixes and 1,000 secretKeyRefs: the variables bound denies it', async (t) => {
  const before = stub.requests.length;
  const env = Array.from({ length: 1_000 }, (_, i) => ({ name: `REF_${i}`, valueFrom: { secretKeyRef: { name: `s${i % 50}`, key: `k${i % 20}` } } }));
  const app: Container = {
    name: 'app',
    image: 'registry.example.com/app:1',
    command: ['/app'],
    env,
    envFrom: Array.from({ length: 20 }, (_, p) => ({ prefix: `P${p}_`, configMapRef: { name: 'big' } })),
  };
  const probe = send(`${hook.url}/healthz`, tls);
  const { answer } = await decide({ metadata: { name: 'crafted' }, spec: { containers: [app] } });
  t.equal((await probe).status, 200, 'the probe was answered meanwhile');
  t.equal(answer.response.allowed, false);
  t.equal(answer.response.status?.code, 403);
  t.match(answer.response.status?.message, /the pod defines more than 10000 environment variables/);
  const reads = stub.requests.slice(before).filter((r) => r.method === 'GET');
  t.equal(reads.length, 51, 'each of the 51 distinct objects read once');
  t.equal(new Set(reads.map((r) => r.path)).size, 51);
});

t.test('20 distinct 1 MiB ConfigMaps through envFrom: the reads stop once their keys pass the bound', async (t) => {
  for (let i = 0; i < 20; i++) stub.addConfigMap(NS, `big-${i}`, big);
  const before = secretReads().length;
  const app: Container = { name: 'app', image: 'x:1', command: ['/app'], envFrom: Array.from({ length: 20 }, (_, i) => ({ configMapRef: { name: `big-${i}` } })) };
  const { answer } = await decide({ metadata: { name: 'many-big' }, spec: { containers: [app] } });
  t.equal(answer.response.allowed, false);
  t.match(answer.response.status?.message, /the pod defines more than 10000 environment variables/);
  const reads = secretReads().length - before;
  // The second one passes the bound; at most 8 (--max-concurrent-reads) were being read then.
  t.ok(reads <= 2 + 8, `${reads} of 20 ConfigMaps read`);
});

t.test('1,000 distinct Secrets: denied before anything is read', async (t) => {
  const before = secretReads().length;
  const env = Array.from({ length: 1_000 }, (_, i) => ({ name: `REF_${i}`, valueFrom: { secretKeyRef: { name: `other-${i}`, key: 'k' } } }));
  const { answer } = await decide({ metadata: { name: 'many-objects' }, spec: { containers: [{ name: 'app', image: 'x:1', command: ['/app'], env }] } });
  t.equal(answer.response.allowed, false);
  t.match(answer.response.status?.message, /the pod reads 1000 Secrets and ConfigMaps in its environment, more than 100/);
  t.equal(secretReads().length, before, 'no read at all');
});

t.test('the same ConfigMap within the bounds: injected', async (t) => {
  const app: Container = { name: 'app', image: 'x:1', command: ['/app'], envFrom: [{ configMapRef: { name: 'big' } }] };
  const { answer } = await decide({ metadata: { name: 'within' }, spec: { containers: [app] } });
  t.equal(answer.response.allowed, true);
  t.equal(answer.response.patchType, 'JSONPatch');
  const audit = JSON.parse(answer.response.auditAnnotations?.['secret-references'] ?? '{}') as Record<string, string[]>;
  t.equal(audit['app']?.length, 21, '20 origins and a count of the rest');
  t.equal(audit['app']?.at(-1), '9980 more');
});

