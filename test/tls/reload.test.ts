/**
 * TLS hot reload in-process: watchTlsFiles + the real Fastify app (buildApp) over real HTTPS.
 * Certificates are rotated (in-place rewrites and Kubernetes-style `..data` symlink swaps)
 * while clients keep making requests, each on a NEW TLS connection: no request may fail, and
 * after each rotation new handshakes must present the new certificate within a bound. Broken
 * pairs are rejected with an error log while the previous certificate stays in use.
 */
import { X509Certificate } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { connect } from 'node:tls';
import type { ConnectionOptions, TLSSocket } from 'node:tls';
import { pino } from 'pino';
import t from 'tap';
import { secretVolume } from '../helpers/secret-volume.js';
import type { Test } from 'tap';
import { buildApp } from '../../src/http/app.js';
import { readinessFlag } from '../../src/http/health-routes.js';
import { staticImageConfigs } from '../../src/images/image-config-source.js';
import { SETTINGS } from '../helpers/pods.js';
import { unconfiguredReader } from '../../src/kubernetes/object-reader.js';
import { createMetrics } from '../../src/telemetry/metrics.js';
import { watchTlsFiles } from '../../src/tls/file-source.js';
import { generateCertificates } from '../../src/tls/generate.js';
import { TlsMaterialError } from '../../src/tls/material.js';
import type { TlsMaterial } from '../../src/tls/material.js';
import type { TlsSource } from '../../src/tls/source.js';

interface Pair {
  cert: string;
  key: string;
  ca: string;
  fingerprint: string;
}

/** Distinct EC pairs (fast to make), each from its own CA. */
async function makePairs(count: number): Promise<Pair[]> {
  const pairs: Pair[] = [];
  for (let i = 0; i < count; i++) {
    const generated = await generateCertificates({ service: 'reload', namespace: 'test', hosts: ['localhost', '127.0.0.1'], days: 1, keyType: 'ec' });
    pairs.push({ cert: generated.cert, key: generated.key, ca: generated.caCert, fingerprint: new X509Certificate(generated.cert).fingerprint256 });
  }
  return pairs;
}

const PAIRS = await makePairs(6);
const [A, B, C] = PAIRS as [Pair, Pair, Pair, ...Pair[]];
/** Clients trust every test CA: a failed request means a real failure, not an unknown issuer. */
const ALL_CAS = PAIRS.map((pair) => pair.ca).join('');
const SWAPS = 10;
/** How long a rotation may take to reach new handshakes (debounce 50 ms in these tests; generous for loaded CI machines). */
const VISIBLE_WITHIN_MS = 4_000;

/** Log text must hold no PEM block and no line of any key's base64 body. */
function checkNoKeyMaterial(t: Test, text: string, extra?: RegExp): void {
  t.notMatch(text, /-----BEGIN|-----END/, 'no PEM block in the logs');
  const bodyLines = PAIRS.flatMap((pair) => pair.key.split('\n').filter((line) => line.length > 20 && !line.startsWith('-----')));
  t.ok(bodyLines.length > 0 && bodyLines.every((line) => !text.includes(line)), 'no private key content in the logs');
  if (extra) t.notMatch(text, extra, 'no file content in the logs');
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function captureLogs(): { logger: pino.Logger; records: Array<Record<string, unknown>>; text: () => string } {
  const lines: string[] = [];
  const logger = pino({ level: 'debug' }, new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk));
      done();
    },
  }));
  return {
    logger,
    get records() {
      return lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    },
    text: () => lines.join(''),
  };
}

// ---------------------------------------------------------------------------------------------
// Layouts: where the files live and how a rotation writes them.

interface Layout {
  certFile: string;
  keyFile: string;
  /** Replaces the pair the way this layout's writer does. */
  install(cert: string, key: string): Promise<void>;
}

/** Plain files rewritten in place (truncate + write), certificate first: readers can see half-written states. */
async function rewriteLayout(t: Test, pair: Pair): Promise<Layout> {
  const dir = await mkdtemp(join(tmpdir(), 'tls-reload-rewrite-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  const layout: Layout = {
    certFile,
    keyFile,
    async install(cert, key) {
      await writeFile(certFile, cert);
      await writeFile(keyFile, key, { mode: 0o600 });
    },
  };
  await layout.install(pair.cert, pair.key);
  return layout;
}

/** A Kubernetes Secret volume (`..data` symlink swaps). */
async function secretVolumeLayout(t: Test, pair: Pair): Promise<Layout> {
  return secretVolume(t, pair.cert, pair.key);
}

// ---------------------------------------------------------------------------------------------
// The server and its clients.

async function startHttps(t: Test, source: TlsSource, logger: pino.Logger): Promise<number> {
  const readiness = readinessFlag();
  readiness.set(true);
  const app = await buildApp({
    logger,
    admission: {
      settings: SETTINGS,
      maxConcurrentReads: 8,
      admissionTimeoutMs: 8_000,
      objects: unconfiguredReader(),
      images: staticImageConfigs({}),
    },
    metrics: createMetrics({ processMetrics: false }),
    readiness,
    maxRequestBytes: 1024 * 1024,
    serveMetrics: false,
    tls: source,
  });
  t.teardown(() => app.close());
  await app.listen({ host: '127.0.0.1', port: 0 });
  return (app.server.address() as AddressInfo).port;
}

interface Outcome {
  startedAt: number;
  status?: number;
  fingerprint?: string;
  error?: string;
}

/** One GET on a new connection (agent: false), verified against every test CA. */
function fetchOnce(port: number, path = '/healthz'): Promise<Outcome> {
  const startedAt = Date.now();
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false, ca: ALL_CAS, rejectUnauthorized: true, timeout: 5_000 }, (res) => {
      const fingerprint = (res.socket as TLSSocket).getPeerCertificate().fingerprint256;
      res.resume();
      res.on('end', () => resolve({ startedAt, status: res.statusCode ?? 0, fingerprint }));
      res.on('error', (error: NodeJS.ErrnoException) => resolve({ startedAt, error: error.code ?? error.message }));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (error: NodeJS.ErrnoException) => resolve({ startedAt, error: error.code ?? error.message }));
    req.end();
  });
}

/** Clients requesting back to back on new connections until stopped (bounded by time and count). */
function clientLoops(port: number, clients: number): { stop(): Promise<Outcome[]> } {
  const outcomes: Outcome[] = [];
  let stopped = false;
  const deadline = Date.now() + 90_000;
  const loops = Array.from({ length: clients }, async () => {
    let count = 0;
    while (!stopped && Date.now() < deadline && count < 20_000) {
      outcomes.push(await fetchOnce(port));
      count++;
    }
  });
  return {
    async stop() {
      stopped = true;
      await Promise.all(loops);
      return outcomes;
    },
  };
}

/** Handshakes until one presents `fingerprint`; resolves with when it did, or undefined after `withinMs`. */
async function waitForCertificate(port: number, fingerprint: string, withinMs = VISIBLE_WITHIN_MS): Promise<number | undefined> {
  const deadline = Date.now() + withinMs;
  while (Date.now() < deadline) {
    const outcome = await fetchOnce(port);
    if (outcome.fingerprint === fingerprint) return Date.now();
    await sleep(10);
  }
  return undefined;
}

/** The certificate new handshakes get now. */
async function servedNow(port: number): Promise<string | undefined> {
  return (await fetchOnce(port)).fingerprint;
}

interface SwapRecord {
  fingerprint: string;
  /** When a probe first saw it (setSecureContext done). */
  visibleAt: number;
  /** When the next rotation started to be written. */
  until: number;
}

/**
 * Rotates through PAIRS `SWAPS` times with clients running and checks: every request
 * succeeded; each rotation was visible within the bound; every request whose connection
 * started after a rotation was visible (and before the next was written) got that certificate.
 */
async function rotateUnderLoad(t: Test, layout: Layout, port: number): Promise<void> {
  const loops = clientLoops(port, 3);
  const swaps: SwapRecord[] = [];
  const delays: number[] = [];
  try {
    for (let i = 1; i <= SWAPS; i++) {
      const pair = PAIRS[i % PAIRS.length] as Pair;
      const writtenAt = Date.now();
      const previous = swaps.at(-1);
      if (previous) previous.until = writtenAt;
      await layout.install(pair.cert, pair.key);
      const visibleAt = await waitForCertificate(port, pair.fingerprint);
      if (visibleAt === undefined) {
        t.fail(`rotation ${i}: new handshakes did not get the new certificate within ${VISIBLE_WITHIN_MS} ms`);
        break;
      }
      delays.push(visibleAt - writtenAt);
      swaps.push({ fingerprint: pair.fingerprint, visibleAt, until: Number.POSITIVE_INFINITY });
      // Let the clients run on this certificate for a moment.
      await sleep(100);
    }
  } finally {
    const outcomes = await loops.stop();
    const failed = outcomes.filter((o) => o.error !== undefined || o.status !== 200);
    t.equal(failed.length, 0, `no failed request among ${outcomes.length} (failures: ${JSON.stringify(failed.slice(0, 5))})`);
    t.ok(outcomes.length >= SWAPS * 5, `the clients kept requesting during the rotations (${outcomes.length} requests)`);
    const known = new Set(PAIRS.map((p) => p.fingerprint));
    t.ok(outcomes.every((o) => o.fingerprint === undefined || known.has(o.fingerprint)), 'only the test certificates were served');
    const stale = outcomes.filter((o) => {
      const swap = swaps.find((s) => o.startedAt >= s.visibleAt && o.startedAt < s.until);
      return swap !== undefined && o.fingerprint !== swap.fingerprint;
    });
    t.equal(stale.length, 0, 'connections made after a rotation was visible all got the new certificate');
    t.equal(swaps.length, SWAPS, `all ${SWAPS} rotations were picked up (delays ${delays.join(', ')} ms)`);
  }
}

// ---------------------------------------------------------------------------------------------

t.test('in-place rewrites under load: no failed request, every rotation served', async (t) => {
  const logs = captureLogs();
  const layout = await rewriteLayout(t, A);
  const source = await watchTlsFiles(layout.certFile, layout.keyFile, { logger: logs.logger, debounceMs: 50, pollMs: 1_000 });
  t.teardown(() => source.close());
  const port = await startHttps(t, source, logs.logger);
  t.equal(await servedNow(port), A.fingerprint, 'serves the initial certificate');
  await rotateUnderLoad(t, layout, port);
  const reloads = logs.records.filter((r) => r['msg'] === 'TLS certificate reloaded');
  t.ok(reloads.length >= SWAPS, `a reload logged per rotation (${reloads.length})`);
  const last = reloads.at(-1);
  t.match(last, { level: 30, certFile: layout.certFile, keyFile: layout.keyFile, notAfter: String, subjectAltNames: Array, fingerprint256: String }, 'the reload log names the files, expiry, SANs');
  t.ok((last?.['subjectAltNames'] as string[]).includes('IP:127.0.0.1'));
  checkNoKeyMaterial(t, logs.text());
});

t.test('Kubernetes secret volume (..data symlink swap) under load', async (t) => {
  const logs = captureLogs();
  const layout = await secretVolumeLayout(t, A);
  const source = await watchTlsFiles(layout.certFile, layout.keyFile, { logger: logs.logger, debounceMs: 50, pollMs: 1_000 });
  t.teardown(() => source.close());
  const port = await startHttps(t, source, logs.logger);
  t.equal(await servedNow(port), A.fingerprint);
  await rotateUnderLoad(t, layout, port);
  // Atomic swaps never expose a half-written pair.
  t.equal(logs.records.filter((r) => (r['level'] as number) >= 50).length, 0, 'no error logged for atomic swaps');
  checkNoKeyMaterial(t, logs.text());
});

/** Waits (bounded) for a log record matching `test`, after index `from`. */
async function waitForLog(logs: ReturnType<typeof captureLogs>, from: number, test: (r: Record<string, unknown>) => boolean, withinMs = VISIBLE_WITHIN_MS): Promise<Record<string, unknown> | undefined> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const found = logs.records.slice(from).find(test);
    if (found !== undefined || Date.now() >= deadline) return found;
    await sleep(20);
  }
}

for (const makeLayout of [rewriteLayout, secretVolumeLayout]) {
  t.test(`broken pairs are rejected and the old certificate kept (${makeLayout === rewriteLayout ? 'rewrite' : 'secret volume'})`, async (t) => {
    const logs = captureLogs();
    const layout = await makeLayout(t, A);
    const source = await watchTlsFiles(layout.certFile, layout.keyFile, { logger: logs.logger, debounceMs: 50, pollMs: 500 });
    t.teardown(() => source.close());
    const changes: TlsMaterial[] = [];
    source.onChange((material) => changes.push(material));
    const port = await startHttps(t, source, logs.logger);
    const isError = (r: Record<string, unknown>) => r['level'] === 50;

    // A truncated certificate.
    let mark = logs.records.length;
    await layout.install(A.cert.slice(0, Math.floor(A.cert.length / 2)), A.key);
    const truncated = await waitForLog(logs, mark, isError);
    t.match(truncated?.['reason'], /TLS certificate file .*cert\.pem.*(truncated|no complete PEM)/, `truncated certificate: ${String(truncated?.['reason'])}`);
    t.match(truncated?.['msg'], /still serving the previous certificate/);
    t.equal(await servedNow(port), A.fingerprint, 'still serving the old certificate');

    // The key of another pair.
    mark = logs.records.length;
    await layout.install(B.cert, C.key);
    const mismatch = await waitForLog(logs, mark, isError);
    t.match(mismatch?.['reason'], /does not match the certificate/, `mismatched key: ${String(mismatch?.['reason'])}`);
    t.equal(await servedNow(port), A.fingerprint, 'still serving the old certificate');

    // The broken files stay: reported once, not again on every poll.
    mark = logs.records.length;
    await sleep(1_300);
    t.equal(logs.records.slice(mark).filter(isError).length, 0, 'a persisting problem is not re-reported on every poll');
    t.equal(changes.length, 0, 'listeners never saw a broken pair');

    // A good pair afterwards is picked up.
    await layout.install(B.cert, B.key);
    t.ok(await waitForCertificate(port, B.fingerprint), 'the next good pair is served');
    t.equal(changes.length, 1, 'listeners got exactly the good pair');
    t.equal(changes[0]?.cert, B.cert);

    // Back to a broken pair, then back to the pair in use: recovery is logged, nothing reloaded.
    mark = logs.records.length;
    await layout.install(B.cert, 'not a key\n');
    t.ok(await waitForLog(logs, mark, isError), 'an unusable key is reported');
    await layout.install(B.cert, B.key);
    t.ok(await waitForLog(logs, mark, (r) => r['msg'] === 'TLS files hold the certificate in use again'), 'the return to the pair in use is noted');
    t.equal(changes.length, 1, 'no reload for the same pair');
    t.equal(await servedNow(port), B.fingerprint);

    checkNoKeyMaterial(t, logs.text(), /not a key/);
  });
}

t.test('half-written rotation: certificate first, key later', async (t) => {
  const logs = captureLogs();
  const layout = await rewriteLayout(t, A);
  const source = await watchTlsFiles(layout.certFile, layout.keyFile, { logger: logs.logger, debounceMs: 50, pollMs: 500 });
  t.teardown(() => source.close());
  const port = await startHttps(t, source, logs.logger);
  await writeFile(layout.certFile, B.cert);
  const error = await waitForLog(logs, 0, (r) => r['level'] === 50);
  t.match(error?.['reason'], /does not match/, 'the half-written pair is reported');
  t.equal(await servedNow(port), A.fingerprint, 'the old pair is still served');
  await writeFile(layout.keyFile, B.key);
  t.ok(await waitForCertificate(port, B.fingerprint), 'once the key is written, the new pair is served');
});

t.test('the poll finds changes the watchers did not report', async (t) => {
  const logs = captureLogs();
  const layout = await rewriteLayout(t, A);
  // A debounce far longer than the test: only the poll can notice the change in time.
  const source = await watchTlsFiles(layout.certFile, layout.keyFile, { logger: logs.logger, debounceMs: 600_000, pollMs: 500 });
  t.teardown(() => source.close());
  // Let the check made at start finish, so only a poll can see the change below.
  await sleep(100);
  await layout.install(B.cert, B.key);
  await sleep(100);
  t.equal(source.current().cert, A.cert, 'not seen through the (long) debounce');
  const deadline = Date.now() + VISIBLE_WITHIN_MS;
  while (source.current().cert !== B.cert && Date.now() < deadline) await sleep(20);
  t.equal(source.current().cert, B.cert, 'picked up by polling');
});

t.test('TLS settings survive a reload: TLS 1.2+ only, ECDHE+AEAD for TLS 1.2', async (t) => {
  const logs = captureLogs();
  const layout = await rewriteLayout(t, A);
  const source = await watchTlsFiles(layout.certFile, layout.keyFile, { logger: logs.logger, debounceMs: 50, pollMs: 1_000 });
  t.teardown(() => source.close());
  const port = await startHttps(t, source, logs.logger);

  const handshake = (options: ConnectionOptions) =>
    new Promise<string>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port, ca: ALL_CAS, ...options });
      socket.once('secureConnect', () => {
        const result = `${socket.getProtocol() ?? '?'} ${socket.getCipher().name}`;
        socket.destroy();
        resolve(result);
      });
      socket.once('error', (error: NodeJS.ErrnoException) => {
        socket.destroy();
        resolve(`error ${error.code ?? error.message}`);
      });
    });
  const check = async (when: string) => {
    t.match(await handshake({}), /^TLSv1\.3 TLS_/, `${when}: TLS 1.3 by default`);
    t.equal(await handshake({ maxVersion: 'TLSv1.2' }), 'TLSv1.2 ECDHE-ECDSA-AES128-GCM-SHA256', `${when}: TLS 1.2 picks ECDHE+AES-GCM (server order)`);
    t.equal(await handshake({ maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-CHACHA20-POLY1305' }), 'TLSv1.2 ECDHE-ECDSA-CHACHA20-POLY1305', `${when}: ChaCha20-Poly1305 is allowed`);
    t.match(await handshake({ maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES128-SHA' }), /^error /, `${when}: CBC suites are refused`);
    t.match(await handshake({ minVersion: 'TLSv1.1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' }), /^error /, `${when}: TLS 1.1 is refused`);
  };
  await check('before a reload');
  await layout.install(B.cert, B.key);
  t.ok(await waitForCertificate(port, B.fingerprint), 'reloaded');
  await check('after a reload');
});

t.test('watchTlsFiles: startup errors, unsubscribe, close', async (t) => {
  const logs = captureLogs();
  const layout = await rewriteLayout(t, A);
  await writeFile(layout.keyFile, C.key);
  await t.rejects(watchTlsFiles(layout.certFile, layout.keyFile, { logger: logs.logger }), TlsMaterialError, 'a mismatched pair at start rejects (exit 2 at startup)');
  await t.rejects(watchTlsFiles(join(layout.certFile, 'missing'), layout.keyFile, { logger: logs.logger }), TlsMaterialError);

  await layout.install(A.cert, A.key);
  const source = await watchTlsFiles(layout.certFile, layout.keyFile, { logger: logs.logger, debounceMs: 20, pollMs: 100 });
  t.equal(source.current().cert, A.cert);
  const seen: string[] = [];
  const unsubscribe = source.onChange((m) => seen.push(m.cert));
  const kept: string[] = [];
  source.onChange((m) => kept.push(m.cert));
  unsubscribe();
  await layout.install(B.cert, B.key);
  const deadline = Date.now() + VISIBLE_WITHIN_MS;
  while (kept.length === 0 && Date.now() < deadline) await sleep(20);
  t.same(kept, [B.cert], 'a subscribed listener gets the new pair');
  t.same(seen, [], 'an unsubscribed one does not');

  await source.close();
  await layout.install(C.cert, C.key);
  await sleep(400);
  t.equal(source.current().cert, B.cert, 'after close() nothing changes any more');
  t.same(kept, [B.cert]);
});

/**
 * Files that give each reader the next text of a sequence (named pipes): the pair as a check
 * reads it first, then different bytes to any second read. A watcher that compared one read
 * and validated another remembered the good pair as rejected and never loaded it.
 */
t.test('the pair validated is the pair compared: a second read caught mid-rewrite cannot make a good pair "rejected"', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tls-reload-fifo-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  execFileSync('mkfifo', [certFile, keyFile]);
  let stopped = false;
  /** Whether this process still has `file` open (a reader not yet at its end). */
  const open = async (file: string) => {
    for (const fd of await readdir('/proc/self/fd')) {
      if ((await readlink(`/proc/self/fd/${fd}`).catch(() => '')) === file) return true;
    }
    return false;
  };
  /**
   * Serves texts[i] to the i-th reader, the last one to every reader after. A writer that
   * opened the pipe while the previous reader still had it open would write into that read.
   */
  const serve = async (file: string, texts: string[]) => {
    for (let i = 0; !stopped && i < 10_000; i++) {
      await writeFile(file, texts[Math.min(i, texts.length - 1)] as string);
      for (let wait = 0; wait < 1_000 && (await open(file)); wait++) await sleep(1);
    }
  };
  const writers = [
    serve(certFile, [A.cert, B.cert, B.cert.slice(0, Math.floor(B.cert.length / 2)), B.cert]),
    serve(keyFile, [A.key, B.key]),
  ];
  t.teardown(async () => {
    stopped = true;
    // Each writer waits for a reader: one more read of each lets them see `stopped`.
    await Promise.all([readFile(certFile), readFile(keyFile)]);
    await Promise.all(writers);
  });
  const logs = captureLogs();
  const source = await watchTlsFiles(certFile, keyFile, { logger: logs.logger, debounceMs: 50, pollMs: 100 });
  t.teardown(() => source.close());
  t.equal(source.current().cert, A.cert, 'the first read is the initial pair');
  const deadline = Date.now() + VISIBLE_WITHIN_MS;
  while (source.current().cert !== B.cert && Date.now() < deadline) await sleep(20);
  t.equal(source.current().cert, B.cert, 'the new pair, read whole, is loaded');
});
