/**
 * The built server learning ENTRYPOINT/CMD from a REAL registry (Debian's docker-registry on
 * loopback) for containers without `command`: pull secrets from the pod, its ServiceAccount
 * and the default pull secret (read from a stub kube-apiserver through KUBECONFIG), wrong
 * credentials, multi-arch indexes, TLS registries with a private CA, the command annotation
 * that avoids the lookup, an unreachable or hanging registry, the tag cache TTL and a bad
 * --registry-ca-file.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { Test } from 'tap';
import { makeTestCertificates } from '../helpers/certs.js';
import { startFaultyRegistry } from '../helpers/faulty-registry.js';
import { SENTINEL_PATH, flushLog, pushImage, pushIndex, startRegistry } from '../helpers/registry.js';
import type { LoggedRequest, User } from '../helpers/registry.js';
import { startStubApiServer } from '../helpers/stub-apiserver.js';
import { runCli, startWebhook } from '../helpers/webhook-process.js';
import type { RunningWebhook } from '../helpers/webhook-process.js';
import { containerNamed, parseAnswer, patchedPod, postReview, reviewOf } from './fixtures/support.js';
import type { Container, HttpResult, Pod, ReviewAnswer } from './fixtures/support.js';

const AWS_REF = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:db-password-AbCdEf';
const WRAPPER = ['/helper/bin/secrets-init'];
const PULLER: User = { username: 'puller', password: 'Pu11-S3cret-Registry-PW' };
const WRONG_PASSWORD = 'Wr0ng-Guess-Of-The-PW';
const DOCKER_CONFIG_JSON = 'kubernetes.io/dockerconfigjson';

const certs = await makeTestCertificates('ec-pkcs8');
t.teardown(certs.cleanup);
const tls = { ca: certs.caPem };

const scratch = await mkdtemp(join(tmpdir(), 'registry-e2e-'));
t.teardown(() => rm(scratch, { recursive: true, force: true }));

const registry = await startRegistry({ htpasswd: [PULLER] });
t.teardown(() => registry.close());
const HOST = registry.host;
const APP = `${HOST}/team/app:1.0`;

const stub = await startStubApiServer();
t.teardown(() => stub.close());

const app = await pushImage(registry, 'team/app', '1.0', { entrypoint: ['/app/entry.sh'], cmd: ['serve', '--port=8080'] });

function dockerConfig(host: string, user: User): Record<string, string> {
  const auth = Buffer.from(`${user.username}:${user.password}`).toString('base64');
  return { '.dockerconfigjson': JSON.stringify({ auths: { [host]: { auth } } }) };
}

function serverArgs(...extra: string[]): string[] {
  return ['--log-level=debug', 'server', `--tls-cert-file=${certs.certFile}`, `--tls-private-key-file=${certs.keyFile}`, ...extra];
}

function start(extra: string[]): Promise<RunningWebhook> {
  // Started together below: allow for a loaded machine.
  return startWebhook(serverArgs(...extra), { KUBECONFIG: stub.kubeconfigPath }, { t, readyTimeoutMs: 60_000 });
}

interface PodOptions {
  args?: string[];
  spec?: Record<string, unknown>;
  annotations?: Record<string, string>;
}

/** A pod whose one container `app` runs `image` without `command` and references an AWS secret. */
function podOf(name: string, namespace: string, image: string, options: PodOptions = {}): Pod {
  const container: Container = { name: 'app', image, env: [{ name: 'DB_PASSWORD', value: AWS_REF }] };
  if (options.args !== undefined) container.args = options.args;
  return {
    metadata: { name, namespace, ...(options.annotations !== undefined ? { annotations: options.annotations } : {}) },
    spec: { containers: [container], ...options.spec },
  };
}

interface Decision {
  result: HttpResult;
  answer: ReviewAnswer;
  elapsedMs: number;
}

async function decide(hook: RunningWebhook, pod: Pod, timeoutMs = 10_000): Promise<Decision> {
  const namespace = pod.metadata?.namespace ?? 'default';
  const started = Date.now();
  const result = await postReview(hook.url, reviewOf(pod, namespace), { ...tls, timeoutMs });
  return { result, answer: parseAnswer(result), elapsedMs: Date.now() - started };
}

/** The wrapped container `app` after applying the answer's patch (fails the test when not allowed). */
function wrapped(t: Test, pod: Pod, decision: Decision): Container | undefined {
  t.equal(decision.result.status, 200, 'HTTP 200');
  t.equal(decision.answer.response.allowed, true, `allowed (${decision.answer.response.status?.message ?? 'no message'})`);
  if (!decision.answer.response.allowed) return undefined;
  const container = containerNamed(patchedPod(pod, decision.answer), 'app');
  t.same(container?.command, WRAPPER, 'command is the secrets-init wrapper');
  return container;
}

function deniedMessage(t: Test, decision: Decision): string {
  t.equal(decision.result.status, 200, 'a denial is an answer: HTTP 200');
  t.equal(decision.answer.response.allowed, false, 'not allowed');
  t.equal(decision.answer.response.patch, undefined, 'no patch');
  return decision.answer.response.status?.message ?? '';
}

/** GET/HEAD requests (as the registry logged them) for a repository's manifests or blobs. */
function reads(requests: LoggedRequest[], repo: string, kind: 'manifests' | 'blobs'): LoggedRequest[] {
  return requests.filter((r) => (r.method === 'GET' || r.method === 'HEAD') && r.path.startsWith(`/v2/${repo}/${kind}/`));
}


function assertNoSecretLeak(t: Test, where: string, text: string, user: User): void {
  const basic = Buffer.from(`${user.username}:${user.password}`).toString('base64');
  t.notOk(text.includes(user.password), `the password is not in ${where}`);
  t.notOk(text.includes(basic), `the Basic credential is not in ${where}`);
}

async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

// The other registries: TLS with a private CA, a closed port, one that never answers.
const secure = await startRegistry({ tls: true });
t.teardown(() => secure.close());
if (secure.caPem === undefined) throw new Error('the TLS registry has no CA');
const caFile = join(scratch, 'registry-ca.pem');
await writeFile(caFile, secure.caPem);
const closed = `127.0.0.1:${await closedPort()}`;
const hanging = await startFaultyRegistry({ fault: { kind: 'slow', delayMs: 30_000 } });
t.teardown(() => hanging.close());

// Every webhook process, started at once (each takes seconds of CPU to start, so there are few:
// flags that cannot affect another test's registry share a process). Tests whose point is which
// credentials are used get fresh processes, so that nothing cached from another pod hides it.
const insecure = `--insecure-registries=${HOST}`;
const [hook, viaAccount, viaDefault, wrongCreds, armSkipVerify, caNoCache, quick] = await Promise.all([
  // Default settings (cache TTL 5m, amd64, system CAs only) for the plain-http registry.
  start([insecure]),
  start([insecure]),
  start([insecure, '--default-image-pull-secret=regcred', '--default-image-pull-secret-namespace=shared']),
  start([insecure]),
  // The TLS registry is on loopback: the webhook contacts it only because it is named.
  start([insecure, '--default-architecture=arm64', '--registry-skip-verify', `--allowed-registries=${HOST},${secure.host}`]),
  start([insecure, `--registry-ca-file=${caFile}`, '--image-cache-ttl=0', `--allowed-registries=${HOST},${secure.host}`]),
  start([`--insecure-registries=${closed},${hanging.host}`, '--registry-timeout=500ms', `--allowed-registries=${closed},${hanging.host},${secure.host}`]),
]);
const NS = 'team-a';
stub.addSecret(NS, 'regcred', dockerConfig(HOST, PULLER), DOCKER_CONFIG_JSON);

t.test('pod imagePullSecrets: ENTRYPOINT and CMD come from the private registry', async (t) => {
  const pod = podOf('app-1', NS, APP, { spec: { imagePullSecrets: [{ name: 'regcred' }] } });
  const decision = await decide(hook, pod);
  const container = wrapped(t, pod, decision);
  t.same(container?.args, ['--provider=aws', '/app/entry.sh', 'serve', '--port=8080'], 'ENTRYPOINT + CMD');
  t.same(container?.image, APP, 'the image is unchanged');
  t.ok(
    stub.requests.some((r) => r.method === 'GET' && r.path.split('?')[0] === `/api/v1/namespaces/${NS}/secrets/regcred`),
    'the pull secret was read from the API server',
  );
  const logged = await flushLog(registry);
  t.ok(
    reads(logged, 'team/app', 'blobs').some((r) => r.path === `/v2/team/app/blobs/${app.configDigest}` && r.status === 200),
    'the config blob was read from the registry',
  );

  const withArgs = podOf('app-2', NS, APP, { args: ['worker'], spec: { imagePullSecrets: [{ name: 'regcred' }] } });
  const second = wrapped(t, withArgs, await decide(hook, withArgs));
  t.same(second?.args, ['--provider=aws', '/app/entry.sh', 'worker'], 'container args replace CMD');
  assertNoSecretLeak(t, 'the webhook logs', hook.logs(), PULLER);
});

t.test('the pull secret comes from the ServiceAccount, or from the default pull secret', async (t) => {
  stub.addSecret('team-sa', 'regcred', dockerConfig(HOST, PULLER), DOCKER_CONFIG_JSON);
  stub.addServiceAccount('team-sa', 'builder', ['regcred']);
  stub.addSecret('shared', 'regcred', dockerConfig(HOST, PULLER), DOCKER_CONFIG_JSON);
  // Fresh processes (viaAccount, viaDefault): nothing cached from other pods' credentials.

  const saPod = podOf('sa-pod', 'team-sa', APP, { spec: { serviceAccountName: 'builder' } });
  const saContainer = wrapped(t, saPod, await decide(viaAccount, saPod));
  t.same(saContainer?.args, ['--provider=aws', '/app/entry.sh', 'serve', '--port=8080'], 'via the ServiceAccount');
  const paths = stub.requests.map((r) => r.path.split('?')[0]);
  t.ok(paths.includes('/api/v1/namespaces/team-sa/serviceaccounts/builder'), 'the ServiceAccount was read');
  t.ok(paths.includes('/api/v1/namespaces/team-sa/secrets/regcred'), "the ServiceAccount's pull secret was read");

  // Namespace team-b has no pull secrets and no ServiceAccount at all.
  const defaultPod = podOf('default-pod', 'team-b', APP);
  const defaultContainer = wrapped(t, defaultPod, await decide(viaDefault, defaultPod));
  t.same(defaultContainer?.args, ['--provider=aws', '/app/entry.sh', 'serve', '--port=8080'], 'via --default-image-pull-secret');
  t.ok(
    stub.requests.some((r) => r.path.split('?')[0] === '/api/v1/namespaces/shared/secrets/regcred'),
    'the default pull secret was read from its namespace',
  );
  for (const [name, running] of [['ServiceAccount', viaAccount], ['default secret', viaDefault]] as const) {
    assertNoSecretLeak(t, `the ${name} webhook's logs`, running.logs(), PULLER);
  }
});

t.test('wrong credentials (and no others): denied with a message that names the image and the registry', async (t) => {
  const wrongUser: User = { username: PULLER.username, password: WRONG_PASSWORD };
  stub.addSecret('team-w', 'badcred', dockerConfig(HOST, wrongUser), DOCKER_CONFIG_JSON);
  const pod = podOf('wrong', 'team-w', APP, { spec: { imagePullSecrets: [{ name: 'badcred' }] } });
  const decision = await decide(wrongCreds, pod);
  const message = deniedMessage(t, decision);
  t.match(message, APP, 'names the image');
  t.match(message, `registry ${HOST}`, 'names the registry host');
  t.match(message, /unauthorized/i, 'says unauthorized');
  t.match(message, /Secret team-w\/badcred/, 'names the credentials tried (not their content)');
  t.match(message, /set "command" on container "app"/, 'tells how to avoid the lookup');
  assertNoSecretLeak(t, 'the response', decision.result.text, wrongUser);
  assertNoSecretLeak(t, 'the response', decision.result.text, PULLER);
  // Give the child a moment to write the denial's log line (bounded), then search every log.
  const denialLogged = () => wrongCreds.jsonLogs().find((r) => r['msg'] === 'admission denied' && r['pod'] === 'team-w/wrong');
  for (let i = 0; i < 50 && denialLogged() === undefined; i++) await new Promise((r) => setTimeout(r, 50));
  t.match(denialLogged()?.['reason'], /unauthorized/i, 'the denial was logged with its reason');
  assertNoSecretLeak(t, 'the logs', wrongCreds.logs(), wrongUser);
});

t.test('multi-arch index: the pod architecture (or the default) picks the config', async (t) => {
  await pushIndex(registry, 'team/multi', '1.0', [
    { config: { cmd: ['amd'] }, platform: { os: 'linux', architecture: 'amd64' } },
    { config: { cmd: ['arm'] }, platform: { os: 'linux', architecture: 'arm64' } },
  ]);
  const image = `${HOST}/team/multi:1.0`;
  const pullSecrets = { imagePullSecrets: [{ name: 'regcred' }] };

  const plain = podOf('multi-default', NS, image, { spec: pullSecrets });
  t.same(wrapped(t, plain, await decide(hook, plain))?.args, ['--provider=aws', 'amd'], 'default architecture amd64');

  const pinned = podOf('multi-arm', NS, image, { spec: { ...pullSecrets, nodeSelector: { 'kubernetes.io/arch': 'arm64' } } });
  t.same(wrapped(t, pinned, await decide(hook, pinned))?.args, ['--provider=aws', 'arm'], 'nodeSelector kubernetes.io/arch=arm64');

  const again = podOf('multi-default-2', NS, image, { spec: pullSecrets });
  t.same(wrapped(t, again, await decide(hook, again))?.args, ['--provider=aws', 'amd'], 'the amd64 pod still gets amd (per-platform cache)');

  const viaFlag = podOf('multi-flag', NS, image, { spec: pullSecrets });
  t.same(wrapped(t, viaFlag, await decide(armSkipVerify, viaFlag))?.args, ['--provider=aws', 'arm'], '--default-architecture=arm64');
});

t.test('TLS registry with a private CA', async (t) => {
  await pushImage(secure, 'team/tls-app', '2.0', { entrypoint: ['/tls-entry'], cmd: ['tls-cmd'] });
  const image = `${secure.host}/team/tls-app:2.0`;

  const pod = podOf('tls-pod', NS, image);
  t.same(wrapped(t, pod, await decide(caNoCache, pod))?.args, ['--provider=aws', '/tls-entry', 'tls-cmd'], 'trusted through --registry-ca-file');

  const message = deniedMessage(t, await decide(quick, pod));
  t.match(message, image, 'names the image');
  t.match(message, `registry ${secure.host}`, 'names the registry');
  t.match(message, /certificate/i, 'without the CA: says the certificate was not trusted');

  const unnamed = await decide(hook, pod);
  t.equal(unnamed.answer.response.status?.code, 403, "a registry the operator did not name on a loopback address is the pod's problem");
  t.match(unnamed.answer.response.status?.message, `${secure.host} is a loopback address, which a pod's image may not make the webhook contact`);

  t.same(wrapped(t, pod, await decide(armSkipVerify, pod))?.args, ['--provider=aws', '/tls-entry', 'tls-cmd'], '--registry-skip-verify');
  const requests = await flushLog(secure);
  t.equal(
    reads(requests, 'team/tls-app', 'blobs').filter((r) => r.status === 200).length,
    2,
    'the config blob was read over TLS once by each of the two webhooks that could',
  );
});

t.test('the command annotation stands in for the image: no registry request at all', async (t) => {
  const image = `${HOST}/team/never-pushed:9.9`;
  const before = (await flushLog(registry)).length;
  const apiBefore = stub.requests.length;
  const pod = podOf('annotated', NS, image, {
    annotations: { 'secrets-init/command.app': '["/override"]' },
    spec: { imagePullSecrets: [{ name: 'regcred' }] },
  });
  t.same(wrapped(t, pod, await decide(hook, pod))?.args, ['--provider=aws', '/override'], 'the annotation is the ENTRYPOINT');

  const withArgs = podOf('annotated-args', NS, image, {
    args: ['--flag'],
    annotations: { 'secrets-init/command.app': '["/override"]' },
    spec: { imagePullSecrets: [{ name: 'regcred' }] },
  });
  t.same(wrapped(t, withArgs, await decide(hook, withArgs))?.args, ['--provider=aws', '/override', '--flag'], 'container args follow it');

  const after = await flushLog(registry);
  // Everything logged between the two sentinels: only the first sentinel itself.
  t.same(
    after.slice(before).map((r) => `${r.method} ${SENTINEL_PATH.test(r.path) ? 'sentinel' : r.path}`),
    ['GET sentinel'],
    'the registry saw no request from the webhook',
  );
  t.same(
    stub.requests.slice(apiBefore).map((r) => r.path),
    [],
    'no pull secret or ServiceAccount was read either',
  );
});

t.test('registry down or hanging: denied quickly with --registry-timeout=500ms', async (t) => {
  const downImage = `${closed}/team/app:1.0`;
  const down = await decide(quick, podOf('down', NS, downImage), 5_000);
  const downMessage = deniedMessage(t, down);
  t.ok(down.elapsedMs < 3_000, `answered within 3 s (took ${down.elapsedMs} ms)`);
  t.match(downMessage, downImage, 'names the image');
  t.match(downMessage, `registry ${closed}`, 'names the registry');
  t.match(downMessage, /connection refused/i, 'says the connection was refused');

  const slowImage = `${hanging.host}/${hanging.repo}:${hanging.tag}`;
  const slow = await decide(quick, podOf('slow', NS, slowImage), 5_000);
  const slowMessage = deniedMessage(t, slow);
  t.ok(slow.elapsedMs < 3_000, `a hanging registry is answered within 3 s too (took ${slow.elapsedMs} ms)`);
  t.ok(slow.elapsedMs >= 400, `the registry was given its 500 ms (took ${slow.elapsedMs} ms)`);
  t.match(slowMessage, slowImage, 'names the image');
  t.match(slowMessage, `registry ${hanging.host}`, 'names the registry');
  t.match(slowMessage, /timed out after 500 ms/, 'says it timed out');
  t.ok(hanging.requests().length >= 1, 'the hanging registry was asked');
});

t.test('--image-cache-ttl: a tag is re-resolved only after its TTL', async (t) => {
  await pushImage(registry, 'team/ttl', '1.0', { entrypoint: ['/ttl'], cmd: ['v1'] });
  const image = `${HOST}/team/ttl:1.0`;
  const spec = { imagePullSecrets: [{ name: 'regcred' }] };

  const first = podOf('ttl-1', NS, image, { spec });
  t.same(wrapped(t, first, await decide(hook, first))?.args, ['--provider=aws', '/ttl', 'v1'], 'default TTL: v1');
  t.same(wrapped(t, first, await decide(caNoCache, first))?.args, ['--provider=aws', '/ttl', 'v1'], 'TTL 0: v1');

  await pushImage(registry, 'team/ttl', '1.0', { entrypoint: ['/ttl'], cmd: ['v2'] });
  const before = (await flushLog(registry)).length;

  const second = podOf('ttl-2', NS, image, { spec });
  t.same(wrapped(t, second, await decide(hook, second))?.args, ['--provider=aws', '/ttl', 'v1'], 'within the default TTL the old config is kept');
  const afterCached = await flushLog(registry);
  t.same(reads(afterCached.slice(before), 'team/ttl', 'manifests'), [], 'no manifest request within the TTL');
  t.same(reads(afterCached.slice(before), 'team/ttl', 'blobs'), [], 'no blob request within the TTL');

  const marker = afterCached.length;
  t.same(wrapped(t, second, await decide(caNoCache, second))?.args, ['--provider=aws', '/ttl', 'v2'], 'with --image-cache-ttl=0 the new Cmd is seen');
  const afterFresh = await flushLog(registry);
  const tagReads = reads(afterFresh.slice(marker), 'team/ttl', 'manifests').filter((r) => r.path === '/v2/team/ttl/manifests/1.0');
  t.ok(tagReads.some((r) => r.status === 200), 'the tag was resolved again');
});

t.test('--registry-ca-file that does not exist: exit code 2, one line on stderr', async (t) => {
  const result = await runCli(serverArgs('--listen-address=127.0.0.1:0', '--registry-ca-file=/nonexistent'), {}, { t });
  t.equal(result.code, 2, 'exit code 2');
  const lines = result.stderr.split('\n').filter((line) => line !== '');
  t.equal(lines.length, 1, `one line on stderr: ${JSON.stringify(result.stderr)}`);
  t.match(lines[0] ?? '', /--registry-ca-file/, 'names the flag');
  t.match(lines[0] ?? '', /\/nonexistent/, 'names the file');
  t.notMatch(result.stdout + result.stderr, /is serving/, 'never served');
});
