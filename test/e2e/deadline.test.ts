/**
 * One deadline per admission (--admission-timeout) through the built server: a slow or
 * hanging API server (a stub kube-apiserver) and a hanging registry in the same
 * admission get a denial at the deadline that names what was still pending, long
 * before the per-call timeouts would have added up.
 */
import t from 'tap';
import { makeTestCertificates } from '../helpers/certs.js';
import { startFaultyRegistry } from '../helpers/faulty-registry.js';
import { startStubApiServer } from '../helpers/stub-apiserver.js';
import { startWebhook } from '../helpers/webhook-process.js';
import { parseAnswer, postReview, reviewOf } from './fixtures/support.js';
import type { Pod } from './fixtures/support.js';

const NS = 'team-a';
const AWS_REF = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:db-password-AbCdEf';

const certs = await makeTestCertificates('ec-pkcs8');
t.teardown(certs.cleanup);
const stub = await startStubApiServer();
t.teardown(() => stub.close());
stub.addSecret(NS, 'db', { password: AWS_REF });
stub.addSecret(NS, 'db2', { password: AWS_REF });
const hanging = await startFaultyRegistry({ fault: { kind: 'slow', delayMs: 60_000 } });
t.teardown(() => hanging.close());

// Per-call bounds far above the deadline: only the deadline can answer in time.
const hook = await startWebhook(
  ['server', `--tls-cert-file=${certs.certFile}`, `--tls-private-key-file=${certs.keyFile}`, `--insecure-registries=${hanging.host}`,
    // Every admission reads for itself: nothing it waits for is served from the shared cache.
    '--admission-timeout=2500ms', '--lookup-timeout=20s', '--registry-timeout=20s', '--object-cache-ttl=0'],
  { KUBECONFIG: stub.kubeconfigPath },
  { t, readyTimeoutMs: 60_000 },
);

async function timedDecision(pod: Pod): Promise<{ ms: number; message: string | undefined; allowed: boolean | undefined }> {
  const started = Date.now();
  const answer = parseAnswer(await postReview(hook.url, reviewOf(pod, NS), { ca: certs.caPem, timeoutMs: 30_000 }));
  return { ms: Date.now() - started, message: answer.response.status?.message, allowed: answer.response.allowed };
}

t.test('a slow API server and a hanging registry in one admission: denied at the deadline, naming the registry lookup', async (t) => {
  stub.delayMs = 700;
  const pod: Pod = {
    metadata: { name: 'slow-and-hanging' },
    spec: {
      containers: [
        { name: 'api', image: `${hanging.host}/${hanging.repo}:${hanging.tag}`, env: [{ name: 'DB', valueFrom: { secretKeyRef: { name: 'db', key: 'password' } } }] },
      ],
    },
  };
  const { ms, message, allowed } = await timedDecision(pod);
  t.equal(allowed, false);
  t.match(message, /^pod team-a\/slow-and-hanging: no answer within 2500ms \(--admission-timeout\); still waiting for the image config of container "api" \(127\.0\.0\.1:\d+\/test\/app:v1\)$/);
  t.ok(ms >= 2_400 && ms < 6_000, `answered at the deadline (${ms} ms), not after 20 s per call`);
  t.ok(stub.requests.some((r) => r.path.includes('/secrets/db')), 'the Secret was read (slowly) first');
});

t.test('a hanging API server: denied at the deadline, naming the read', async (t) => {
  stub.delayMs = 30_000;
  const pod: Pod = { metadata: { name: 'hanging-api' }, spec: { containers: [{ name: 'app', image: 'x:1', command: ['/app'], env: [{ name: 'DB', valueFrom: { secretKeyRef: { name: 'db', key: 'password' } } }] }] } };
  const { ms, message, allowed } = await timedDecision(pod);
  t.equal(allowed, false);
  t.equal(message, 'pod team-a/hanging-api: no answer within 2500ms (--admission-timeout); still waiting for Secret team-a/db');
  t.ok(ms >= 2_400 && ms < 6_000, `answered at the deadline (${ms} ms)`);
  stub.delayMs = 0;
  // The webhook is not stuck: another pod is answered at once. (A read shared through the
  // object cache is not aborted with one admission, since others may wait on it: the same
  // Secret is read again once that read ends, within --lookup-timeout.)
  const other: Pod = { metadata: { name: 'other' }, spec: { containers: [{ name: 'app', image: 'x:1', command: ['/app'], env: [{ name: 'DB', valueFrom: { secretKeyRef: { name: 'db2', key: 'password' } } }] }] } };
  const next = await timedDecision(other);
  t.equal(next.allowed, true);
  t.ok(next.ms < 2_000, `answered at once (${next.ms} ms)`);
});
