/**
 * Graceful shutdown of the built server. Admissions are made slow (~1 s) by a stub API
 * server that delays its answers (each admission reads a Secret through KUBECONFIG).
 *
 * On SIGTERM: /readyz turns 503 at once while /healthz stays 200 and the listener keeps
 * accepting for --shutdown-drain; then the listener closes, in-flight admissions finish, idle
 * keep-alive connections are closed and the process exits 0. In-flight work beyond
 * --shutdown-timeout is cut (exit 1); a second signal exits at once (128 + signal number).
 * An uncaught exception or unhandled rejection ends the process with exit code 1.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:https';
import type { IncomingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import t from 'tap';
import type { Test as Tap } from 'tap';
import { makeTestCertificates } from '../helpers/certs.js';
import { startStubApiServer } from '../helpers/stub-apiserver.js';
import type { StubApiServer } from '../helpers/stub-apiserver.js';
import { startWebhook } from '../helpers/webhook-process.js';
import type { ExitStatus, RunningWebhook } from '../helpers/webhook-process.js';
import { parseAnswer, postReview, reviewOf, send } from './fixtures/support.js';
import type { HttpResult, Pod } from './fixtures/support.js';

const NS = 'team-a';
const ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:db-password-AbCdEf';
const ADMISSION_DELAY_MS = 1_000;

const certs = await makeTestCertificates('ec-pkcs8');
t.teardown(certs.cleanup);
const tls = { ca: certs.caPem };

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function stubWithSecrets(t: Tap, count: number): Promise<StubApiServer> {
  const stub = await startStubApiServer();
  t.teardown(() => stub.close());
  for (let i = 0; i < count; i++) stub.addSecret(NS, `slow-${i}`, { K: ARN });
  return stub;
}

/** A pod whose admission reads Secret slow-i (a distinct object each, so lookups are not shared). */
function slowPod(i: number): Pod {
  return {
    metadata: { name: `slow-${i}` },
    spec: { containers: [{ name: 'app', image: 'registry.example.com/app:1', command: ['/app'], env: [{ name: 'K', valueFrom: { secretKeyRef: { name: `slow-${i}`, key: 'K' } } }] }] },
  };
}

function admit(hook: RunningWebhook, i: number): Promise<HttpResult> {
  return postReview(hook.url, reviewOf(slowPod(i), NS), { ...tls, timeoutMs: 20_000 });
}

/** Waits (bounded) until the stub has received `count` requests: that many admissions are in flight. */
async function waitForLookups(stub: StubApiServer, count: number): Promise<void> {
  for (let i = 0; i < 250 && stub.requests.length < count; i++) await sleep(20);
}

/** A GET through a keep-alive agent (the connection stays open and idle afterwards). */
function keepAliveGet(agent: Agent, url: string): Promise<{ status: number; headers: IncomingHttpHeaders; socket: Socket }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent, ca: certs.caPem, timeout: 10_000 }, (res) => {
      // Taken now: a keep-alive agent detaches the socket from the response once it is done.
      const socket = res.socket;
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, socket }));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

function messages(hook: RunningWebhook): string[] {
  return hook.jsonLogs().map((r) => String(r['msg']));
}

t.test('SIGTERM: unready at once, drain while serving, in-flight admissions finish, exit 0', async (t) => {
  const stub = await stubWithSecrets(t, 10);
  const drainMs = 2_000;
  const hook = await startWebhook(
    [
      'server',
      `--tls-cert-file=${certs.certFile}`,
      `--tls-private-key-file=${certs.keyFile}`,
      '--telemetry-listen-address=127.0.0.1:0',
      `--shutdown-drain=${drainMs}ms`,
      '--shutdown-timeout=10s',
      '--lookup-timeout=10s',
    ],
    { KUBECONFIG: stub.kubeconfigPath },
    { t },
  );
  const telemetryUrl = hook.telemetryUrl ?? '';
  t.equal((await send(`${hook.url}/readyz`, tls)).status, 200, 'ready before');

  // An idle keep-alive connection: it must not keep the process alive.
  const idleAgent = new Agent({ keepAlive: true, maxSockets: 1, keepAliveMsecs: 60_000 });
  t.teardown(() => idleAgent.destroy());
  const idle = await keepAliveGet(idleAgent, `${hook.url}/healthz`);
  t.equal(idle.status, 200);
  let idleClosedAt: number | undefined;
  idle.socket.once('close', () => {
    idleClosedAt = Date.now();
  });
  // A keep-alive client that sends again during the drain.
  const busyAgent = new Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => busyAgent.destroy());
  t.equal((await keepAliveGet(busyAgent, `${hook.url}/healthz`)).status, 200);

  stub.delayMs = ADMISSION_DELAY_MS;
  const inFlight = [0, 1, 2, 3, 4].map((i) => admit(hook, i));
  await waitForLookups(stub, 5);
  t.equal(stub.requests.length, 5, 'five admissions are waiting on the API server');

  const signalledAt = Date.now();
  const exited: Promise<ExitStatus> = hook.stop('SIGTERM', 20_000);
  let exitedAt: number | undefined;
  void exited.then(() => {
    exitedAt = Date.now();
  });

  // Unready at once, still alive, on both listeners.
  let readyz = await send(`${hook.url}/readyz`, tls);
  for (let i = 0; i < 50 && readyz.status !== 503; i++) {
    await sleep(10);
    readyz = await send(`${hook.url}/readyz`, tls);
  }
  t.equal(readyz.status, 503, '/readyz answers 503 during the drain');
  t.ok(Date.now() - signalledAt < 1_000, `unready within ${Date.now() - signalledAt} ms of SIGTERM`);
  t.equal(readyz.headers['connection'], 'close', 'responses during the drain ask clients to reconnect');
  t.equal((await send(`${hook.url}/healthz`, tls)).status, 200, '/healthz still answers 200 during the drain');
  t.equal((await send(`${telemetryUrl}/readyz`)).status, 503, 'telemetry /readyz is 503 too');
  t.equal((await send(`${telemetryUrl}/healthz`)).status, 200, 'telemetry /healthz is 200');
  const reused = await keepAliveGet(busyAgent, `${hook.url}/healthz`);
  t.equal(reused.status, 200, 'a keep-alive client is still served during the drain');
  t.equal(reused.headers['connection'], 'close', 'and told to close its connection');

  // The listener keeps accepting during the drain: admissions sent now are answered too.
  const duringDrain = admit(hook, 5);
  await sleep(drainMs - (Date.now() - signalledAt) - 300);
  t.ok(hook.running(), 'still running during the drain');
  // Sent just before the listener closes: in flight when it does.
  const lastMoment = admit(hook, 6);
  await waitForLookups(stub, 7);
  t.equal(stub.requests.length, 7, 'the admissions sent during the drain reached the API server');

  // After the drain: no new connections, but the in-flight admission still gets its answer.
  await sleep(Math.max(0, drainMs + 300 - (Date.now() - signalledAt)));
  t.ok(hook.running(), 'still running while an admission is in flight');
  const refused = await send(`${hook.url}/healthz`, { ...tls, timeoutMs: 2_000 }).then(
    (result) => `HTTP ${result.status}`,
    (error: NodeJS.ErrnoException) => error.code ?? error.message,
  );
  t.equal(refused, 'ECONNREFUSED', 'new connections are refused once the drain is over');

  const answers = await Promise.all([...inFlight, duringDrain, lastMoment]);
  t.same(answers.map((a) => a.status), [200, 200, 200, 200, 200, 200, 200], 'every in-flight admission answered 200');
  t.ok(answers.every((a) => parseAnswer(a).response.allowed === true), 'and allowed');

  const status = await exited;
  t.same(status, { code: 0, signal: null }, 'exit code 0');
  const elapsed = (exitedAt ?? Date.now()) - signalledAt;
  t.ok(elapsed >= drainMs, `did not exit before the drain was over (${elapsed} ms)`);
  t.ok(elapsed < drainMs + ADMISSION_DELAY_MS + 3_000, `exited ${elapsed} ms after SIGTERM: the idle keep-alive connection did not hold it`);
  t.ok(idleClosedAt !== undefined, 'the idle keep-alive connection was closed');
  t.ok(idleClosedAt !== undefined && idleClosedAt - signalledAt >= drainMs - 100, 'but not before the drain was over');

  const log = messages(hook);
  const order = ['shutting down', 'draining', 'closing the listener', 'stopped'].map((prefix) => log.findIndex((m) => m.startsWith(prefix)));
  t.ok(order.every((index, i) => index >= 0 && (i === 0 || index > (order[i - 1] ?? -1))), `shutdown logged in order (${order.join(', ')})`);
  t.equal(log.at(-1), 'stopped');
  t.match(hook.jsonLogs().find((r) => String(r['msg']).startsWith('shutting down')), { signal: 'SIGTERM', drainMs, timeoutMs: 10_000 });
});

t.test('admissions still running after --shutdown-timeout are cut: exit 1', async (t) => {
  const stub = await stubWithSecrets(t, 1);
  const hook = await startWebhook(
    ['server', `--tls-cert-file=${certs.certFile}`, `--tls-private-key-file=${certs.keyFile}`, '--shutdown-drain=0', '--shutdown-timeout=500ms', '--lookup-timeout=20s'],
    { KUBECONFIG: stub.kubeconfigPath },
    { t },
  );
  stub.delayMs = 15_000;
  const stuck = admit(hook, 0).then(
    (result) => `HTTP ${result.status}`,
    (error: NodeJS.ErrnoException) => error.code ?? error.message,
  );
  await waitForLookups(stub, 1);
  const started = Date.now();
  const status = await hook.stop('SIGTERM', 10_000);
  const elapsed = Date.now() - started;
  t.same(status, { code: 1, signal: null }, 'exit code 1: not everything finished');
  t.ok(elapsed < 3_000, `exited ${elapsed} ms after SIGTERM (timeout 500 ms)`);
  t.match(await stuck, /ECONNRESET|socket hang up/, 'the stuck admission lost its connection');
  const warning = hook.jsonLogs().find((r) => r['level'] === 40 && /--shutdown-timeout/.test(String(r['msg'])));
  t.match(warning, { timeoutMs: 500, openConnections: 1 }, 'the cut is logged with the number of connections');
  t.equal(messages(hook).at(-1), 'stopped');
});

t.test('SIGINT drains like SIGTERM', async (t) => {
  const hook = await startWebhook(['server', `--tls-cert-file=${certs.certFile}`, `--tls-private-key-file=${certs.keyFile}`, '--shutdown-drain=600ms'], {}, { t });
  const started = Date.now();
  const exited = hook.stop('SIGINT', 10_000);
  let readyz = await send(`${hook.url}/readyz`, tls);
  for (let i = 0; i < 50 && readyz.status !== 503; i++) readyz = await send(`${hook.url}/readyz`, tls);
  t.equal(readyz.status, 503, 'unready during the drain');
  t.same(await exited, { code: 0, signal: null });
  t.ok(Date.now() - started >= 600, 'after the drain');
});

t.test('a second signal during the drain exits at once', async (t) => {
  for (const [first, second, code] of [
    ['SIGTERM', 'SIGTERM', 143],
    ['SIGINT', 'SIGINT', 130],
  ] as const) {
    const stub = await stubWithSecrets(t, 0);
    // In a pod (KUBERNETES_SERVICE_HOST set) the drain defaults to 5s; KUBECONFIG still decides API access.
    const hook = await startWebhook(
      ['server', `--tls-cert-file=${certs.certFile}`, `--tls-private-key-file=${certs.keyFile}`],
      { KUBECONFIG: stub.kubeconfigPath, KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: '1' },
      { t },
    );
    const exited = hook.stop(first, 15_000);
    let readyz = await send(`${hook.url}/readyz`, tls);
    for (let i = 0; i < 50 && readyz.status !== 503; i++) readyz = await send(`${hook.url}/readyz`, tls);
    t.equal(readyz.status, 503, `${first}: draining`);
    t.match(hook.jsonLogs().find((r) => String(r['msg']).startsWith('shutting down')), { signal: first, drainMs: 5_000 }, 'the drain defaults to 5s in a pod');
    const started = Date.now();
    process.kill(hook.pid, second);
    const status = await exited;
    t.same(status, { code, signal: null }, `${first} then ${second}: exit code ${code}`);
    t.ok(Date.now() - started < 2_000, `exited ${Date.now() - started} ms after the second signal, not after the 5 s drain`);
    t.match(hook.jsonLogs().at(-1), { level: 40, msg: 'second stop signal: exiting at once', signal: second, exitCode: code });
  }
});

t.test('an uncaught exception or unhandled rejection is logged and ends the process with exit code 1', async (t) => {
  // A preload that, on a signal, throws outside any handler (SIGUSR2) or rejects a promise nobody awaits (SIGHUP).
  const dir = await mkdtemp(join(tmpdir(), 'shutdown-preload-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const preload = join(dir, 'fault.mjs');
  await writeFile(
    preload,
    [
      "process.on('SIGUSR2', () => setImmediate(() => { throw new Error('injected fault'); }));",
      "process.on('SIGHUP', () => { void Promise.reject(new Error('injected rejection')); });",
    ].join('\n'),
  );
  for (const [signal, what] of [
    ['SIGUSR2', 'uncaught exception'],
    ['SIGHUP', 'unhandled rejection'],
  ] as const) {
    const hook = await startWebhook(
      ['server', `--tls-cert-file=${certs.certFile}`, `--tls-private-key-file=${certs.keyFile}`, '--shutdown-drain=10s'],
      { NODE_OPTIONS: `--import=${pathToFileURL(preload).href}` },
      { t },
    );
    const status = await hook.stop(signal, 5_000);
    t.same(status, { code: 1, signal: null }, `${what}: exit code 1, at once (no drain)`);
    const fatal = hook.jsonLogs().find((r) => r['level'] === 60);
    t.match(fatal, { msg: `${what}; exiting rather than serving in a broken state`, err: { message: /injected/ } }, `${what} is logged at fatal level`);
  }
});
