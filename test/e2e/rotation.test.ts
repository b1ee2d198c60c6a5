/**
 * Certificate rotation against the built server: `--tls-cert-file`/`--tls-private-key-file`
 * point into a directory laid out like a Kubernetes Secret volume (`cert.pem -> ..data/cert.pem`,
 * `..data -> ..2024_…`), which is updated by the kubelet's symlink swap while clients keep
 * sending admissions and health checks, each on a new TLS connection. Nothing may fail, new
 * handshakes must get each new certificate within a bound, and broken pairs must be refused
 * (logged, old certificate kept) until a good one arrives.
 */
import { X509Certificate } from 'node:crypto';
import { request } from 'node:https';
import type { TLSSocket } from 'node:tls';
import t from 'tap';
import { secretVolume } from '../helpers/secret-volume.js';
import { generateCertificates } from '../../src/tls/generate.js';
import { makeTestCertificates } from '../helpers/certs.js';
import { startWebhook } from '../helpers/webhook-process.js';
import type { RunningWebhook } from '../helpers/webhook-process.js';
import { exampleReview } from './fixtures/support.js';

interface Pair {
  cert: string;
  key: string;
  ca: string;
  fingerprint: string;
}

const pairs: Pair[] = [];
// One RSA pair among the EC ones: a rotation may change the key type (ECDHE-RSA <-> ECDHE-ECDSA).
const rsa = await makeTestCertificates('rsa-pkcs8');
t.teardown(rsa.cleanup);
pairs.push({ cert: rsa.certPem, key: rsa.keyPem, ca: rsa.caPem, fingerprint: new X509Certificate(rsa.certPem).fingerprint256 });
for (let i = 0; i < 4; i++) {
  const generated = await generateCertificates({ service: 'secrets-init-webhook', namespace: 'default', hosts: ['localhost', '127.0.0.1'], days: 1, keyType: 'ec' });
  pairs.push({ cert: generated.cert, key: generated.key, ca: generated.caCert, fingerprint: new X509Certificate(generated.cert).fingerprint256 });
}
const ALL_CAS = pairs.map((p) => p.ca).join('');
const SWAPS = 10;
/** Default debounce is 250 ms; allow for a loaded machine. */
const VISIBLE_WITHIN_MS = 5_000;
const REVIEW_BODY = JSON.stringify(exampleReview());

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));


interface Outcome {
  startedAt: number;
  status?: number;
  fingerprint?: string;
  error?: string;
}

/** One request on a new TLS connection, verified against the test CAs: GET path, or POST the example review to /pods. */
function call(port: number, what: 'health' | 'review'): Promise<Outcome> {
  const startedAt = Date.now();
  return new Promise((resolve) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        agent: false,
        ca: ALL_CAS,
        rejectUnauthorized: true,
        timeout: 10_000,
        ...(what === 'health'
          ? { method: 'GET', path: '/healthz' }
          : { method: 'POST', path: '/pods', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(REVIEW_BODY) } }),
      },
      (res) => {
        const fingerprint = (res.socket as TLSSocket).getPeerCertificate().fingerprint256;
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
        });
        res.on('end', () => {
          const allowed = what === 'health' || (JSON.parse(text) as { response?: { allowed?: boolean } }).response?.allowed === true;
          resolve(allowed ? { startedAt, status: res.statusCode ?? 0, fingerprint } : { startedAt, error: `not allowed: ${text.slice(0, 200)}` });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (error: NodeJS.ErrnoException) => resolve({ startedAt, error: error.code ?? error.message }));
    req.end(what === 'review' ? REVIEW_BODY : undefined);
  });
}

async function waitForCertificate(port: number, fingerprint: string): Promise<number | undefined> {
  const deadline = Date.now() + VISIBLE_WITHIN_MS;
  while (Date.now() < deadline) {
    if ((await call(port, 'health')).fingerprint === fingerprint) return Date.now();
    await sleep(20);
  }
  return undefined;
}

async function waitForErrorLog(hook: RunningWebhook, from: number): Promise<Record<string, unknown> | undefined> {
  const deadline = Date.now() + VISIBLE_WITHIN_MS;
  for (;;) {
    const found = hook.jsonLogs().slice(from).find((r) => r['level'] === 50);
    if (found !== undefined || Date.now() >= deadline) return found;
    await sleep(50);
  }
}

t.test('rotating a Secret-volume certificate under load: no failed request', async (t) => {
  const first = pairs[0] as Pair;
  const volume = await secretVolume(t, first.cert, first.key);
  const hook = await startWebhook(['server', `--tls-cert-file=${volume.certFile}`, `--tls-private-key-file=${volume.keyFile}`], {}, { t });
  t.equal((await call(hook.port, 'health')).fingerprint, first.fingerprint, 'serves the initial certificate');

  const outcomes: Outcome[] = [];
  let stopped = false;
  const deadline = Date.now() + 90_000;
  const loops = (['health', 'review', 'review'] as const).map(async (what) => {
    for (let n = 0; !stopped && Date.now() < deadline && n < 10_000; n++) outcomes.push(await call(hook.port, what));
  });

  const visible: Array<{ fingerprint: string; at: number; until: number }> = [];
  const delays: number[] = [];
  try {
    for (let i = 1; i <= SWAPS; i++) {
      const pair = pairs[i % pairs.length] as Pair;
      const writtenAt = Date.now();
      const last = visible.at(-1);
      if (last) last.until = writtenAt;
      await volume.install(pair.cert, pair.key);
      const at = await waitForCertificate(hook.port, pair.fingerprint);
      if (at === undefined) {
        t.fail(`rotation ${i} not served to new handshakes within ${VISIBLE_WITHIN_MS} ms`);
        break;
      }
      delays.push(at - writtenAt);
      visible.push({ fingerprint: pair.fingerprint, at, until: Number.POSITIVE_INFINITY });
      await sleep(150);
    }
  } finally {
    stopped = true;
    await Promise.all(loops);
  }
  const failed = outcomes.filter((o) => o.error !== undefined || o.status !== 200);
  t.equal(failed.length, 0, `no failed request among ${outcomes.length} (failures: ${JSON.stringify(failed.slice(0, 5))})`);
  t.ok(outcomes.length >= SWAPS * 5, `requests kept coming during the rotations (${outcomes.length})`);
  t.equal(visible.length, SWAPS, `all ${SWAPS} rotations reached new handshakes (after ${delays.join(', ')} ms)`);
  const stale = outcomes.filter((o) => {
    const period = visible.find((v) => o.startedAt >= v.at && o.startedAt < v.until);
    return period !== undefined && o.fingerprint !== period.fingerprint;
  });
  t.equal(stale.length, 0, 'connections made after a rotation was visible all got the new certificate');

  const reloads = hook.jsonLogs().filter((r) => r['msg'] === 'TLS certificate reloaded');
  t.equal(reloads.length, SWAPS, 'one reload logged per rotation');
  t.match(reloads.at(-1), { certFile: volume.certFile, notAfter: String, subjectAltNames: Array, fingerprint256: String });
  t.equal(hook.jsonLogs().filter((r) => (r['level'] as number) >= 50).length, 0, 'no errors: atomic swaps never expose half a pair');
  t.same(await hook.stop(), { code: 0, signal: null });
});

t.test('broken pairs in the volume are refused; the old certificate stays until a good pair arrives', async (t) => {
  const [good, other, third] = pairs.slice(1) as [Pair, Pair, Pair];
  const volume = await secretVolume(t, good.cert, good.key);
  const hook = await startWebhook(['server', `--tls-cert-file=${volume.certFile}`, `--tls-private-key-file=${volume.keyFile}`], {}, { t });

  let mark = hook.jsonLogs().length;
  await volume.install(other.cert.slice(0, 200), other.key);
  const truncated = await waitForErrorLog(hook, mark);
  t.match(truncated, { certFile: volume.certFile, reason: /cert\.pem contains no complete PEM certificate/, msg: /still serving the previous certificate/ }, 'a truncated certificate is reported');
  t.equal((await call(hook.port, 'review')).fingerprint, good.fingerprint, 'the old certificate is still served');

  mark = hook.jsonLogs().length;
  await volume.install(other.cert, third.key);
  const mismatch = await waitForErrorLog(hook, mark);
  t.match(mismatch?.['reason'], /key\.pem .*does not match the certificate in .*cert\.pem/, 'a key of another pair is reported');
  const during = await call(hook.port, 'review');
  t.same([during.status, during.fingerprint], [200, good.fingerprint], 'admissions still succeed on the old certificate');

  await volume.install(other.cert, other.key);
  t.ok(await waitForCertificate(hook.port, other.fingerprint), 'the later good pair is served');
  t.notMatch(hook.logs(), /-----BEGIN|-----END/, 'no PEM material in the logs');
  t.same(await hook.stop(), { code: 0, signal: null });
});
