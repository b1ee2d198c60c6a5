// The lookup path: the built webhook reading Secrets and ConfigMaps from a local HTTPS
// stand-in for the API server (bench/apiserver-standin.mjs), over real TLS, as a kubeconfig
// with the stand-in's CA configures it (run: npm run bench, or node bench/lookup.mjs once
// dist/ is built).
//
// The webhook (node dist/main.js --json … server …, pinned to core 1) runs with
// --object-cache-ttl=0, so that every admission reads its objects (the worst case; the
// default TTL is measured too). The stand-in and the load generator share core 0.
// Scenarios at 16 in flight: a pod with one secretKeyRef to a Secret of its own (every
// admission reads another Secret); a pod with a secretKeyRef and an envFrom ConfigMap shared
// by all pods (concurrent reads of the same object coalesce), with and without the object
// cache; the same pod with its reference inline (no read) for comparison. Reported: admissions/s, p99, reads per admission, new
// TLS connections to the API server per 100 reads (goal <= 1), RSS.
// Then a soak of mixed traffic (lookups, inline references, pods without references,
// missing objects, bodies that are not JSON) for BENCH_SOAK seconds (default 60): RSS every
// second, growth after the warm-up (goal: none), p99 per 10-s window (goal: well under 1 s).
//
// Environment: BENCH_DURATION (seconds per run, default 5), BENCH_ROUNDS (default 3),
// BENCH_SOAK (seconds, default 60; 0 skips the soak).
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadRun, makeCertificates, median, pinning, postOnce, REPO_ROOT, rssBytes, startServer, webhookArgs } from './lib.mjs';

const DURATION_S = Number(process.env.BENCH_DURATION ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SOAK_S = Number(process.env.BENCH_SOAK ?? 60);
const CONNECTIONS = 16;
const TARGETS = { connectionsPer100Reads: 1, soakP99Ms: 1000 };

const fixture = (name) => JSON.parse(readFileSync(new URL(`./fixtures/${name}.json`, import.meta.url), 'utf8'));
/** The realistic pod without references, with `change` applied to its first container. */
function variant(uid, change) {
  const review = fixture('noop');
  review.request.uid = uid;
  change(review.request.object.spec.containers[0]);
  return JSON.stringify(review);
}
const secretRef = (name, key) => ({ name: 'SHOP_DB_PASSWORD', valueFrom: { secretKeyRef: { name, key } } });
const bodies = {
  secret: variant('5d0c6a3e-1111-4a4e-9a1b-000000000001', (c) => c.env.push(secretRef('app-secrets', 'db-password'))),
  'secret+configmap': variant('5d0c6a3e-1111-4a4e-9a1b-000000000002', (c) => {
    c.env.push(secretRef('app-secrets', 'db-password'));
    c.envFrom = [{ configMapRef: { name: 'app-config' } }];
  }),
  inline: readFileSync(new URL('./fixtures/inject.json', import.meta.url), 'utf8').trim(),
  noop: readFileSync(new URL('./fixtures/noop.json', import.meta.url), 'utf8').trim(),
  missing: variant('5d0c6a3e-1111-4a4e-9a1b-000000000003', (c) => c.env.push(secretRef('missing-secret', 'db-password'))),
};
const NOT_JSON = '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":';
const EXPECT = {
  secret: (r) => r.allowed === true && typeof r.patch === 'string',
  'secret+configmap': (r) => r.allowed === true && typeof r.patch === 'string' && r.auditAnnotations?.['secret-references']?.includes('app-config'),
  inline: (r) => r.allowed === true && typeof r.patch === 'string',
  noop: (r) => r.allowed === true && r.patch === undefined,
  missing: (r) => r.allowed === false && /does not exist/.test(r.status?.message ?? ''),
};

const pins = pinning();
const certs = await makeCertificates();
const standin = await startServer({
  name: 'api server stand-in',
  args: [join(REPO_ROOT, 'bench', 'apiserver-standin.mjs'), `--tls-cert-file=${certs.certFile}`, `--tls-private-key-file=${certs.keyFile}`],
  message: 'api server stand-in is serving',
  core: pins.clientCore,
  taskset: pins.taskset,
});
const kubeconfig = join(mkdtempSync(join(tmpdir(), 'secrets-init-webhook-bench-kube-')), 'kubeconfig');
writeFileSync(
  kubeconfig,
  JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'standin', cluster: { server: standin.url, 'certificate-authority-data': Buffer.from(certs.caPem).toString('base64') } }],
    users: [{ name: 'bench', user: { token: 'bench-token' } }],
    contexts: [{ name: 'standin', context: { cluster: 'standin', user: 'bench', namespace: 'shop' } }],
    'current-context': 'standin',
  }),
  { mode: 0o600 },
);
const stats = () =>
  new Promise((resolve, reject) => {
    request(`${standin.url}/_stats`, { ca: certs.caPem, agent: false }, (res) => {
      let text = '';
      res.on('data', (chunk) => (text += chunk));
      res.on('end', () => resolve(JSON.parse(text)));
    })
      .on('error', reject)
      .end();
  });

const webhook = (name, extra) =>
  startServer({
    name,
    args: [...webhookArgs({ json: true, ...certs }), ...extra],
    message: 'secrets-init-webhook is serving',
    core: pins.serverCore,
    taskset: pins.taskset,
    env: { KUBECONFIG: kubeconfig },
  });
const servers = { uncached: await webhook('webhook, --object-cache-ttl=0', ['--object-cache-ttl=0']), cached: await webhook('webhook, default cache', []) };

console.log(`\nthe lookup path: webhook --json reading from an HTTPS API server stand-in (${pins.note}; ${ROUNDS} rounds x ${DURATION_S} s per run)`);
for (const server of Object.values(servers)) {
  for (const [name, body] of Object.entries(bodies)) {
    const answer = await postOnce(server.url, body, certs.caPem);
    if (!EXPECT[name](answer.review.response)) throw new Error(`${server.name}: unexpected answer to ${name}: ${JSON.stringify(answer.review).slice(0, 600)}`);
  }
}

// A Secret per pod: each admission names another Secret (app-secrets-<n>), so none is shared.
let nextSecret = 0;
const secretPerPod = [
  {
    method: 'POST',
    path: '/pods',
    headers: { 'content-type': 'application/json' },
    body: bodies.secret,
    setupRequest: (req) => ({ ...req, body: bodies.secret.replace('"name":"app-secrets"', `"name":"app-secrets-${nextSecret++}"`) }),
  },
];
if (!bodies.secret.includes('"name":"app-secrets"')) throw new Error('the secret body does not name app-secrets');

const SCENARIOS = [
  { body: 'secret', requests: secretPerPod, label: 'a Secret per pod', server: 'uncached' },
  { body: 'secret+configmap', label: 'shared Secret+ConfigMap', server: 'uncached' },
  { body: 'secret+configmap', label: 'shared Secret+ConfigMap', server: 'cached' },
  { body: 'inline', label: 'inline reference', server: 'uncached' },
];
const results = SCENARIOS.map(() => []);
for (let round = 1; round <= ROUNDS; round++) {
  for (const [index, scenario] of SCENARIOS.entries()) {
    const server = servers[scenario.server];
    const before = await stats();
    const run = await loadRun({ url: server.url, ...(scenario.requests ? { requests: scenario.requests } : { body: bodies[scenario.body] }), connections: CONNECTIONS, durationS: DURATION_S, caPem: certs.caPem, serverPid: server.pid });
    const after = await stats();
    run.reads = after.reads - before.reads;
    // The stats request itself is one connection.
    run.connections = after.connections - before.connections - 1;
    if (run.errors > 0 || run.non2xx > 0) console.log(`  !! ${server.name}: ${run.errors} errors/timeouts, ${run.non2xx} non-2xx answers`);
    results[index].push(run);
  }
  console.log(`round ${round} done`);
}

const fmt = (value, digits = 0, width = 8) => (Number.isFinite(value) ? value.toFixed(digits) : 'n/a').padStart(width);
const verdict = (ok) => (ok ? 'met' : 'MISSED');
console.log(`\nmedians of ${ROUNDS} rounds, ${CONNECTIONS} in flight`);
console.log(`  ${'pod'.padEnd(24)} ${'server'.padEnd(30)} ${'adm/s'.padStart(8)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'reads/adm'.padStart(9)} ${'conn/100 reads'.padStart(14)} ${'RSS MiB'.padStart(8)}`);
const goals = [];
for (const [index, scenario] of SCENARIOS.entries()) {
  const list = results[index];
  const m = (field) => median(list.map((r) => r[field]));
  const reads = list.reduce((n, r) => n + r.reads, 0);
  const connections = list.reduce((n, r) => n + r.connections, 0);
  // Too few reads (the cache answered) say nothing about connection reuse.
  const per100 = reads < 100 ? NaN : (connections / reads) * 100;
  const admissions = list.reduce((n, r) => n + r.requests, 0);
  console.log(
    `  ${scenario.label.padEnd(24)} ${servers[scenario.server].name.padEnd(30)} ${fmt(m('rps'))} ${fmt(m('p50'), 2)} ${fmt(m('p99'), 2)} ${fmt(reads / admissions, 3, 9)} ${fmt(per100, 3, 14)} ${fmt(m('peakRss') / 1048576)}`,
  );
  if (Number.isFinite(per100)) goals.push([`${scenario.label}, ${servers[scenario.server].name}: new connections per 100 reads <= ${TARGETS.connectionsPer100Reads}`, per100.toFixed(3), verdict(per100 <= TARGETS.connectionsPer100Reads)]);
}
const inlineRps = median(results[SCENARIOS.findIndex((s) => s.body === 'inline')].map((r) => r.rps));
for (const [index, scenario] of SCENARIOS.entries()) {
  if (scenario.body === 'inline') continue;
  console.log(`  ${scenario.label} (${servers[scenario.server].name}) / inline: ${(median(results[index].map((r) => r.rps)) / inlineRps).toFixed(2)}x admissions/s`);
}

if (SOAK_S > 0) {
  // Mixed traffic on the webhook that reads for every admission; each connection cycles
  // through the list. Bodies that are not JSON go on 2 connections of their own: Fastify
  // closes a connection after a body it cannot parse (the client may send more), and
  // autocannon counts the reconnection into the next request's latency.
  const post = (body) => ({ method: 'POST', path: '/pods', headers: { 'content-type': 'application/json' }, body });
  const requests = [secretPerPod[0], post(bodies.inline), post(bodies['secret+configmap']), post(bodies.noop), post(bodies.missing)];
  const server = servers.uncached;
  const WINDOW_S = 10;
  const windows = [];
  const started = Date.now();
  const rss = [];
  const sampler = setInterval(() => rss.push([(Date.now() - started) / 1000, rssBytes(server.pid) ?? NaN]), 1000);
  const before = await stats();
  console.log(`\nsoak: ${SOAK_S} s of mixed traffic on ${server.name}: ${CONNECTIONS - 2} connections cycling through a Secret per pod, inline, a shared Secret+ConfigMap, no references, a missing Secret; 2 more sending bodies that are not JSON`);
  const [run, bad] = await Promise.all([
    loadRun({
      url: server.url,
      requests,
      connections: CONNECTIONS - 2,
      durationS: SOAK_S,
      caPem: certs.caPem,
      serverPid: server.pid,
      onResponse: (statusCode, ms) => {
        const w = Math.floor((Date.now() - started) / 1000 / WINDOW_S);
        (windows[w] ??= []).push(ms);
      },
    }),
    loadRun({ url: server.url, body: NOT_JSON, connections: 2, durationS: SOAK_S, caPem: certs.caPem, serverPid: server.pid }),
  ]);
  clearInterval(sampler);
  const after = await stats();
  const p99 = (list) => {
    const sorted = [...list].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.floor(0.99 * sorted.length))];
  };
  const rssAt = (s) => (rss.find(([t]) => t >= s) ?? rss.at(-1))[1] / 1048576;
  const warm = Math.min(10, SOAK_S / 2);
  const growth = rss.at(-1)[1] / 1048576 - rssAt(warm);
  const peak = Math.max(...rss.map(([, b]) => b)) / 1048576;
  const allP99 = p99(windows.flat());
  const reads = after.reads - before.reads;
  console.log(`  ${Math.round(run.rps)} admissions/s (${run.non2xx} non-2xx, ${run.errors} errors/timeouts) and ${Math.round(bad.non2xx / SOAK_S)}/s bodies that are not JSON (${bad.non2xx} answered 400); ${reads} reads, ${after.connections - before.connections - 1} new connections to the API server`);
  console.log(`  p99 per ${WINDOW_S}-s window (ms): ${windows.map((w) => (w === undefined ? 'n/a' : p99(w).toFixed(1))).join(', ')}; whole soak ${allP99.toFixed(1)} ms (goal well under ${TARGETS.soakP99Ms} ms: ${verdict(allP99 < TARGETS.soakP99Ms / 10)})`);
  console.log(`  RSS (MiB): ${rssAt(1).toFixed(0)} at 1 s, ${rssAt(warm).toFixed(0)} after the ${warm}-s warm-up, ${(rss.at(-1)[1] / 1048576).toFixed(0)} at the end, peak ${peak.toFixed(0)}; growth after warm-up ${growth.toFixed(1)} MiB`);
  console.log(`  RSS every 5 s: ${rss.filter(([t]) => Math.round(t) % 5 === 0).map(([, b]) => (b / 1048576).toFixed(0)).join(' ')}`);
  goals.push([`soak p99 well under ${TARGETS.soakP99Ms} ms (< ${TARGETS.soakP99Ms / 10} ms)`, `${allP99.toFixed(1)} ms`, verdict(allP99 < TARGETS.soakP99Ms / 10)]);
  goals.push(['soak RSS growth after warm-up < 10 MiB', `${growth.toFixed(1)} MiB`, verdict(growth < 10)]);
}

console.log('\ngoals (reported, not enforced):');
for (const [what, value, result] of goals) console.log(`  ${what.padEnd(84)} ${String(value).padStart(10)}  ${result}`);
for (const server of [...Object.values(servers), standin]) await server.stop();
