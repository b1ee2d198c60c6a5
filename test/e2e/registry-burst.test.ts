/**
 * A burst of 500 pods (one ReplicaSet scaling up) that all run the same private image without
 * `command`, against the built server, a REAL registry with htpasswd auth and a stub
 * kube-apiserver holding the pull secret: every admission is allowed with the image's
 * ENTRYPOINT/CMD, the registry is asked for the tag and the config blob once, and the pull
 * secret is read at most once per admission.
 */
import { Agent, request as httpsRequest } from 'node:https';
import t from 'tap';
import { makeTestCertificates } from '../helpers/certs.js';
import { flushLog, pushImage, startRegistry } from '../helpers/registry.js';
import type { LoggedRequest, User } from '../helpers/registry.js';
import { startStubApiServer } from '../helpers/stub-apiserver.js';
import { startWebhook } from '../helpers/webhook-process.js';
import { containerNamed, parseAnswer, patchedPod, reviewOf } from './fixtures/support.js';
import type { HttpResult, Pod } from './fixtures/support.js';

const PODS = 500;
const NS = 'burst';
const AWS_REF = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:db-password-AbCdEf';
const PULLER: User = { username: 'burst-puller', password: 'Bur5t-Pull-S3cret' };

const certs = await makeTestCertificates('ec-pkcs8');
t.teardown(certs.cleanup);

const registry = await startRegistry({ htpasswd: [PULLER] });
t.teardown(() => registry.close());
const stub = await startStubApiServer();
t.teardown(() => stub.close());

const REPO = 'team/app';
const IMAGE = `${registry.host}/${REPO}:1.0`;
const pushed = await pushImage(registry, REPO, '1.0', { entrypoint: ['/app/entry.sh'], cmd: ['serve', '--port=8080'] });
const auth = Buffer.from(`${PULLER.username}:${PULLER.password}`).toString('base64');
stub.addSecret(NS, 'regcred', { '.dockerconfigjson': JSON.stringify({ auths: { [registry.host]: { auth } } }) }, 'kubernetes.io/dockerconfigjson');
stub.addSecret(NS, 'db', { password: AWS_REF });
stub.addConfigMap(NS, 'settings', { MODE: 'production', TOKEN: AWS_REF });

const hook = await startWebhook(
  ['server', `--tls-cert-file=${certs.certFile}`, `--tls-private-key-file=${certs.keyFile}`, `--insecure-registries=${registry.host}`],
  { KUBECONFIG: stub.kubeconfigPath },
  { t, readyTimeoutMs: 60_000 },
);

const agent = new Agent({ keepAlive: true, maxSockets: 64, ca: certs.caPem, rejectUnauthorized: true });
t.teardown(() => agent.destroy());

/** POSTs one review on the shared keep-alive agent (bounded). */
function post(review: unknown, timeoutMs: number): Promise<HttpResult> {
  const body = JSON.stringify(review);
  return new Promise<HttpResult>((resolve, reject) => {
    const req = httpsRequest(
      `${hook.url}/pods`,
      { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') });
        });
        res.on('error', (error) => {
          clearTimeout(timer);
          reject(error);
        });
      },
    );
    const timer = setTimeout(() => req.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    req.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    req.end(body);
  });
}


function podNumber(i: number): Pod {
  const name = `app-7d9f8c6b5-${String(i).padStart(5, '0')}`;
  return {
    metadata: { name, namespace: NS, labels: { app: 'app' } },
    spec: {
      imagePullSecrets: [{ name: 'regcred' }],
      containers: [{
        name: 'app',
        image: IMAGE,
        env: [{ name: 'DB_PASSWORD', value: AWS_REF }, { name: 'DB', valueFrom: { secretKeyRef: { name: 'db', key: 'password' } } }],
        envFrom: [{ configMapRef: { name: 'settings' } }],
      }],
    },
  };
}

t.test(`${PODS} concurrent admissions of one private image and the same Secret and ConfigMap cost one lookup each`, async (t) => {
  const before = (await flushLog(registry)).length;
  const apiBefore = stub.requests.length;
  const pods = Array.from({ length: PODS }, (_, i) => podNumber(i));
  const reviews = pods.map((pod) => reviewOf(pod, NS));
  t.equal(new Set(reviews.map((r) => r.request.uid)).size, PODS, 'every review has its own uid');

  const started = Date.now();
  const results = await Promise.all(reviews.map((review) => post(review, 60_000)));
  const elapsedMs = Date.now() - started;
  t.comment(`${PODS} admissions answered in ${elapsedMs} ms`);

  const wrong: string[] = [];
  results.forEach((result, i) => {
    const pod = pods[i] as Pod;
    const review = reviews[i];
    try {
      const answer = parseAnswer(result);
      if (result.status !== 200) throw new Error(`HTTP ${result.status}`);
      if (answer.response.uid !== review?.request.uid) throw new Error(`uid ${answer.response.uid} answers ${review?.request.uid}`);
      if (!answer.response.allowed) throw new Error(`denied: ${answer.response.status?.message ?? ''}`);
      const container = containerNamed(patchedPod(pod, answer), 'app');
      const got = JSON.stringify([container?.command, container?.args]);
      const want = JSON.stringify([['/helper/bin/secrets-init'], ['--provider=aws', '/app/entry.sh', 'serve', '--port=8080']]);
      if (got !== want) throw new Error(`command/args ${got}`);
    } catch (error) {
      wrong.push(`${pod.metadata?.name ?? i}: ${(error as Error).message}`);
    }
  });
  t.same(wrong.slice(0, 5), [], `all ${PODS} allowed with the image's ENTRYPOINT and CMD (${wrong.length} wrong)`);

  // From just after the sentinel logged before the burst.
  const logged = (await flushLog(registry)).slice(before + 1);
  const tagReads = logged.filter((r) => (r.method === 'GET' || r.method === 'HEAD') && r.path === `/v2/${REPO}/manifests/1.0`);
  const digestReads = logged.filter((r) => r.method === 'GET' && r.path === `/v2/${REPO}/manifests/${pushed.manifestDigest}`);
  const configReads = logged.filter((r) => r.method === 'GET' && r.path === `/v2/${REPO}/blobs/${pushed.configDigest}`);
  const other = logged.filter((r) => !tagReads.includes(r) && !digestReads.includes(r) && !configReads.includes(r));
  const show = (list: LoggedRequest[]): string[] => list.map((r) => `${r.method} ${r.path} ${r.status}`);
  t.comment(`registry requests during the burst: ${JSON.stringify(show(logged))}`);

  t.equal(tagReads.filter((r) => r.status >= 200 && r.status < 300).length, 1, 'ONE successful manifest HEAD/GET resolved the tag');
  t.ok(
    tagReads.every((r) => (r.status >= 200 && r.status < 300) || r.status === 401),
    'any other tag request is only the anonymous probe answered by the auth challenge',
  );
  t.ok(tagReads.length <= 2, `at most the challenge and the authenticated request for the tag (${tagReads.length})`);
  t.equal(configReads.length, 1, 'ONE config blob GET');
  t.equal(configReads[0]?.status, 200, 'and it succeeded');
  t.equal(digestReads.filter((r) => r.status === 200).length, 1, 'ONE GET of the manifest by digest');
  t.same(show(other), [], 'no other registry request');

  const api = stub.requests.slice(apiBefore).map((r) => `${r.method} ${r.path.split('?')[0] ?? ''}`);
  const secretReads = api.filter((r) => r === `GET /api/v1/namespaces/${NS}/secrets/regcred`).length;
  const accountReads = api.filter((r) => r === `GET /api/v1/namespaces/${NS}/serviceaccounts/default`).length;
  t.comment(`API server requests during the burst: ${api.length} (pull secret: ${secretReads}, ServiceAccount: ${accountReads})`);
  t.equal(api.filter((r) => r === `GET /api/v1/namespaces/${NS}/secrets/db`).length, 1, 'ONE read of the Secret the pods reference');
  t.equal(api.filter((r) => r === `GET /api/v1/namespaces/${NS}/configmaps/settings`).length, 1, 'ONE read of the ConfigMap');
  t.ok(secretReads >= 1, 'the pull secret was read');
  t.ok(secretReads <= PODS, `the pull secret was read at most once per admission (${secretReads})`);
  t.ok(accountReads <= PODS, `the ServiceAccount was read at most once per admission (${accountReads})`);
  t.ok(hook.running(), 'the webhook is still running');
  t.notOk(hook.logs().includes(PULLER.password), 'the password is not in the logs');
});
