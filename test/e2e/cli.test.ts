/**
 * The command line at process level: exit codes, one-line errors, --version/--help,
 * `certs`, graceful SIGTERM, and the separate telemetry listener.
 */
import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { createRequire } from 'node:module';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { Test } from 'tap';
import { makeTestCertificates } from '../helpers/certs.js';
import { MAIN_JS, REPO_ROOT, SERVING_MESSAGE, runCli, startWebhook } from '../helpers/webhook-process.js';
import type { CliResult } from '../helpers/webhook-process.js';
import { startStubApiServer } from '../helpers/stub-apiserver.js';
import { exampleReview, metricValue, parseAnswer, postReview, reviewOf, send } from './fixtures/support.js';

const { version } = createRequire(import.meta.url)('../../package.json') as { version: string };

async function tempDir(t: Test, prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Exit code 2, exactly one line on stderr (matching `pattern`), no serving. */
function usageFailure(t: Test, result: CliResult, pattern: RegExp): void {
  t.equal(result.code, 2, `exit code 2 (stderr: ${result.stderr.trim()})`);
  t.equal(result.signal, null);
  const lines = result.stderr.split('\n');
  t.equal(lines.length, 2, 'exactly one line on stderr');
  t.equal(lines[1], '', 'ending with a newline');
  t.match(lines[0], /^secrets-init-webhook: /, 'prefixed with the program name');
  t.match(lines[0], pattern);
  t.notMatch(result.stdout, /is serving|listening on/, 'never served');
  t.notMatch(result.stderr, /^\s+at /m, 'no stack trace');
}

t.test('usage errors: exit 2 and one line on stderr', async (t) => {
  const cases: Array<[string, string[], RegExp]> = [
    ['--provider=azure', ['server', '--provider=azure'], /azure.*--provider|--provider.*azure/],
    ['only --tls-cert-file', ['server', '--tls-cert-file=/etc/webhook/certs/cert.pem'], /--tls-private-key-file/],
    ['--listen-address=abc', ['server', '--listen-address=abc'], /--listen-address/],
    ['an unknown flag', ['server', '--no-such-flag=1'], /--no-such-flag/],
    ['an unknown command', ['serve'], /serve/],
  ];
  // Each run loads the whole program (about a second): run them side by side.
  const results = await Promise.all(cases.map(([, args]) => runCli(args, {}, { t })));
  for (const [i, [what, , pattern]] of cases.entries()) {
    await t.test(what, async (t) => usageFailure(t, results[i] as CliResult, pattern));
  }
});

t.test('unreadable TLS files: exit 2 before listening', async (t) => {
  // --json: every log line, including "listening on …", would be a JSON line on stdout.
  const result = await runCli(
    ['--json', 'server', '--tls-cert-file=/nonexistent/cert.pem', '--tls-private-key-file=/nonexistent/key.pem', '--listen-address=127.0.0.1:0'],
    {},
    { t },
  );
  usageFailure(t, result, /\/nonexistent\/(cert|key)\.pem/);
  t.notMatch(result.stdout, SERVING_MESSAGE);
  t.notMatch(result.stdout, /"msg":"listening on/, 'no listener was opened');
});

t.test('a certificate and a key that do not belong together: exit 2', async (t) => {
  const rsa = await makeTestCertificates('rsa-pkcs8');
  t.teardown(rsa.cleanup);
  const ec = await makeTestCertificates('ec-pkcs8');
  t.teardown(ec.cleanup);
  const dir = await tempDir(t, 'mismatch-');
  // Another RSA key: the same algorithm as the certificate's, but not its key.
  const otherRsaKey = join(dir, 'other-rsa-key.pem');
  await writeFile(otherRsaKey, generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }));

  const cases = [
    ['RSA certificate, EC key', rsa.certFile, ec.keyFile],
    ['EC certificate, RSA key', ec.certFile, rsa.keyFile],
    ['RSA certificate, another RSA key', rsa.certFile, otherRsaKey],
  ] as const;
  const results = await Promise.all(
    cases.map(([, cert, key]) =>
      runCli(['--json', 'server', `--tls-cert-file=${cert}`, `--tls-private-key-file=${key}`, '--listen-address=127.0.0.1:0'], {}, { t }),
    ),
  );
  for (const [i, [what]] of cases.entries()) {
    const result = results[i] as CliResult;
    await t.test(what, async (t) => {
      usageFailure(t, result, /does not match/);
      t.notOk(result.stderr.includes('PRIVATE KEY'), 'no key material in the message');
      t.notMatch(result.stdout, /"msg":"listening on/, 'no listener was opened');
    });
  }
});

t.test('--version and --help exit 0', async (t) => {
  const [shown, help, serverHelp] = await Promise.all([
    runCli(['--version'], {}, { t }),
    runCli(['--help'], {}, { t }),
    runCli(['server', '--help'], {}, { t }),
  ]);
  t.equal(shown.code, 0);
  t.match(shown.stdout, version, `prints the package.json version ${version}`);
  t.equal(shown.stdout.trim().split('\n').length, 1, 'one line');
  t.equal(shown.stderr, '');

  t.equal(help.code, 0);
  t.match(help.stdout, /server/);
  t.match(help.stdout, /certs/);
  t.match(help.stdout, /--log-level/);
  t.equal(help.stderr, '');

  t.equal(serverHelp.code, 0);
  t.match(serverHelp.stdout, /--tls-cert-file/);
  t.match(serverHelp.stdout, /--listen-address/);
});

t.test('certs --out writes a usable CA, certificate and key, and prints the CA bundle', async (t) => {
  const out = join(await tempDir(t, 'certs-out-'), 'nested', 'certs');
  const result = await runCli(['certs', '--out', out], {}, { t, timeoutMs: 30_000 });
  t.equal(result.code, 0, result.stderr);
  t.same((await readdir(out)).sort(), ['ca.pem', 'cert.pem', 'key.pem']);
  const caPem = await readFile(join(out, 'ca.pem'), 'utf8');
  t.match(caPem, /^-----BEGIN CERTIFICATE-----/);
  const lines = result.stdout.split('\n');
  t.equal(lines.length, 2, 'one line on stdout');
  t.match(lines[0], /^[A-Za-z0-9+/]+=*$/, 'base64');
  t.equal(Buffer.from(lines[0] ?? '', 'base64').toString('utf8'), caPem, 'the line decodes to ca.pem');

  // The files serve HTTPS that verifies against that CA for localhost and 127.0.0.1 (the default --host list).
  const hook = await startWebhook(['server', `--tls-cert-file=${join(out, 'cert.pem')}`, `--tls-private-key-file=${join(out, 'key.pem')}`], {}, { t });
  t.equal((await send(`${hook.url}/healthz`, { ca: caPem })).status, 200, 'verified as 127.0.0.1');
  t.equal((await send(`${hook.url}/healthz`, { ca: caPem, servername: 'localhost' })).status, 200, 'verified as localhost');
  t.same(await hook.stop(), { code: 0, signal: null });
});

t.test('SIGTERM stops a running server with exit code 0', async (t) => {
  const certs = await makeTestCertificates('rsa-pkcs1');
  t.teardown(certs.cleanup);
  const hook = await startWebhook(['server', `--tls-cert-file=${certs.certFile}`, `--tls-private-key-file=${certs.keyFile}`], {}, { t });
  t.equal((await send(`${hook.url}/readyz`, { ca: certs.caPem })).status, 200, 'ready before');
  t.match(hook.stdout(), /"msg":"listening on https:/, 'a listener logs "listening on" (what the exit-2 cases must not log)');
  const started = Date.now();
  const status = await hook.stop('SIGTERM', 5_000);
  const elapsed = Date.now() - started;
  t.same(status, { code: 0, signal: null }, 'exit code 0, not killed');
  t.ok(elapsed < 5_000, `exited in ${elapsed} ms`);
  t.ok(hook.jsonLogs().some((r) => r['msg'] === 'stopped'), 'logs that it stopped');
});

t.test('SIGTERM lets an admission in flight finish before exiting 0', async (t) => {
  const stub = await startStubApiServer();
  t.teardown(() => stub.close());
  stub.addSecret('ns', 'slow', { K: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:slow' });
  const hook = await startWebhook(['server', '--lookup-timeout=10s'], { KUBECONFIG: stub.kubeconfigPath }, { t });
  stub.delayMs = 1_500;
  const pod = { spec: { containers: [{ name: 'c', image: 'i:1', command: ['/c'], env: [{ name: 'K', valueFrom: { secretKeyRef: { name: 'slow', key: 'K' } } }] }] } };
  const inFlight = postReview(hook.url, reviewOf(pod, 'ns'));
  // Bounded wait until the lookup reached the API server: the admission is now in flight.
  for (let i = 0; i < 100 && stub.requests.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
  t.equal(stub.requests.length, 1, 'the admission is waiting on the API server');
  const status = await hook.stop('SIGTERM', 8_000);
  const answered = await inFlight;
  t.equal(answered.status, 200, 'the in-flight admission got its answer');
  t.equal(parseAnswer(answered).response.allowed, true);
  t.same(status, { code: 0, signal: null });
  const messages = hook.jsonLogs().map((r) => r['msg']);
  t.ok(messages.indexOf('admission decided') > messages.findIndex((m) => typeof m === 'string' && m.startsWith('shutting down')), 'decided after the shutdown began');
  t.equal(messages.at(-1), 'stopped');
});

t.test('--telemetry-listen-address moves /metrics to its own plain-HTTP listener', async (t) => {
  const certs = await makeTestCertificates('ec-pkcs8');
  t.teardown(certs.cleanup);
  const hook = await startWebhook(
    ['server', `--tls-cert-file=${certs.certFile}`, `--tls-private-key-file=${certs.keyFile}`, '--telemetry-listen-address=127.0.0.1:0'],
    {},
    { t },
  );
  t.ok(hook.telemetryUrl, `the serving line names the telemetry URL (${hook.telemetryUrl})`);
  const telemetryUrl = hook.telemetryUrl ?? 'http://127.0.0.1:1';
  t.match(telemetryUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
  t.not(new URL(telemetryUrl).port, String(hook.port), 'a different port');

  const answer = parseAnswer(await postReview(hook.url, exampleReview(), { ca: certs.caPem }));
  t.equal(answer.response.allowed, true);

  const onMain = await send(`${hook.url}/metrics`, { ca: certs.caPem });
  t.equal(onMain.status, 404, 'no /metrics on the webhook listener');
  const metrics = await send(`${telemetryUrl}/metrics`);
  t.equal(metrics.status, 200, '/metrics on the telemetry listener');
  t.equal(metricValue(metrics.text, 'secrets_init_webhook_admissions_total', { result: 'injected', dry_run: 'false' }), 1, 'counts the admission made on the main listener');
  t.equal((await send(`${telemetryUrl}/healthz`)).status, 200);
  t.equal((await send(`${telemetryUrl}/readyz`)).status, 200);
  t.equal((await send(`${hook.url}/healthz`, { ca: certs.caPem })).status, 200, 'health stays on the main listener too');
  t.same(await hook.stop(), { code: 0, signal: null });
});

t.test('inject -f - reads stdin as bytes: input that is not UTF-8 is refused (exit 2), not written back altered', async (t) => {
  const latin1 = Buffer.from('apiVersion: v1\nkind: ConfigMap\nmetadata: {name: menu}\ndata: {dish: "caf\xe9"}\n', 'latin1');
  const child = spawn(process.execPath, [MAIN_JS, 'inject', '-f', '-'], { cwd: REPO_ROOT, env: { PATH: process.env['PATH'] ?? '', HOME: '/nonexistent-home' }, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdin.end(latin1);
  const code = await new Promise<number | null>((resolve) => child.once('exit', (exitCode) => resolve(exitCode)));
  t.equal(code, 2);
  t.equal(stdout, '');
  t.match(stderr, /stdin is not UTF-8 text \(line 4\)/);
});
