// The webhook against a bare Fastify 5 HTTPS server, over real TLS and keep-alive connections
// (run: npm run bench, after bench/admission.mjs; or node bench/http.mjs once dist/ is built).
//
// Servers, each a child process pinned to core 1 (taskset) with the NODE_OPTIONS of
// manifests/base/deployment.yaml (heap bounds):
//   webhook --json  node dist/main.js --json --log-level=info server … (manifests/base/deployment.yaml's args)
//   webhook text    the same without --json (human-readable log lines)
//   bare fastify    bench/bare-server.mjs: Fastify 5, same certificate files, parses the same JSON
//                   body, answers a constant AdmissionReview (same apiVersion, the uid, allowed)
//   bare + log line the same with one JSON info line per request through the webhook's logger
//                   (the fields of its admission line): not a goal, a reference for that line's cost
//   bare+log+answer the same, answering the injected pod with the webhook's own answer to it (its
//                   patch and audit annotations, fetched once): what logging and writing that
//                   answer cost without deciding anything; a reference, not a goal
// Their stdout/stderr go to files. The load generator (autocannon, in this process, pinned to
// core 0) POSTs bench/fixtures/*.json to /pods on keep-alive connections, one request in flight
// per connection. Runs alternate between the servers; each number is the median of the rounds.
//
// Environment: BENCH_DURATION (seconds per run, default 5), BENCH_ROUNDS (default 3),
// BENCH_WARMUP (seconds per server and body before the rounds, default 1), BENCH_NODE (the
// servers' Node.js binary; default this one).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MEMORY_REQUEST, SERVER_NODE, bareArgs, loadRun, makeCertificates, median, pinning, postOnce, rssBytes, startServer, webhookArgs } from './lib.mjs';

const DURATION_S = Number(process.env.BENCH_DURATION ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const WARMUP_S = Number(process.env.BENCH_WARMUP ?? 1);

// Goals (issue "speed and observability", item 2): reported, never failed on.
const TARGETS = {
  inject: { rps: 0.85, p99: 1.5 },
  noop: { rps: 0.9 },
  textVsJson: 0.1,
  rss: 1.3,
};

const bodies = Object.fromEntries(
  ['inject', 'noop', 'denied'].map((variant) => [variant, readFileSync(new URL(`./fixtures/${variant}.json`, import.meta.url), 'utf8').trim()]),
);
// Which servers run which scenario: every body at concurrency 16 with both log formats; the
// injection path also at 1 and 64 in flight.
const SCENARIOS = [
  { variant: 'inject', connections: 16, servers: ['json', 'bare', 'text', 'barelog', 'bareanswer'] },
  { variant: 'noop', connections: 16, servers: ['json', 'bare', 'text', 'barelog'] },
  { variant: 'denied', connections: 16, servers: ['json', 'bare', 'text'] },
  { variant: 'inject', connections: 1, servers: ['json', 'bare'] },
  { variant: 'inject', connections: 64, servers: ['json', 'bare'] },
];
const LABEL = { json: 'webhook --json', text: 'webhook text', bare: 'bare fastify', barelog: 'bare + log line', bareanswer: 'bare+log+answer' };

const pins = pinning();
const certs = await makeCertificates();
const runs = SCENARIOS.reduce((n, s) => n + s.servers.length, 0) * ROUNDS;
const serverNode = execFileSync(SERVER_NODE, ['--version'], { encoding: 'utf8' }).trim();
console.log(`\nwebhook vs bare Fastify 5 over HTTPS (servers on Node.js ${serverNode}; ${pins.note}; ${ROUNDS} rounds x ${DURATION_S} s per run, ${runs} runs, ~${Math.ceil((runs * (DURATION_S + 0.3) + 12 * WARMUP_S) / 60)} min)`);
console.log(`bodies: ${Object.entries(bodies).map(([v, b]) => `${v} ${Buffer.byteLength(b)} B`).join(', ')} (bench/fixtures, a ReplicaSet-made pod with 22+1 env vars)`);

const json = await startServer({ name: LABEL.json, args: webhookArgs({ json: true, ...certs }), message: 'secrets-init-webhook is serving', core: pins.serverCore, taskset: pins.taskset });
// The webhook's answer to the injected pod, for the bare server to send back without deciding anything.
const answerDir = mkdtempSync(join(tmpdir(), 'secrets-init-webhook-answer-'));
process.once('exit', () => rmSync(answerDir, { recursive: true, force: true }));
const answerFile = join(answerDir, 'inject-answer.json');
const { uid: _uid, ...injectAnswer } = (await postOnce(json.url, bodies.inject, certs.caPem)).review.response;
writeFileSync(answerFile, JSON.stringify(injectAnswer));
const servers = {
  json,
  text: await startServer({ name: LABEL.text, args: webhookArgs({ json: false, ...certs }), message: 'secrets-init-webhook is serving', core: pins.serverCore, taskset: pins.taskset }),
  bare: await startServer({ name: LABEL.bare, args: bareArgs(certs), message: 'bare fastify is serving', core: pins.serverCore, taskset: pins.taskset }),
  barelog: await startServer({ name: LABEL.barelog, args: [...bareArgs(certs), '--log-line'], message: 'bare fastify is serving', core: pins.serverCore, taskset: pins.taskset }),
  bareanswer: await startServer({ name: LABEL.bareanswer, args: [...bareArgs(certs), '--log-line', `--answer-file=${answerFile}`], message: 'bare fastify is serving', core: pins.serverCore, taskset: pins.taskset }),
};

// Each server answers each body as expected, to a client that trusts only the generated CA.
const EXPECT = {
  inject: (r) => r.allowed === true && typeof r.patch === 'string',
  noop: (r) => r.allowed === true && r.patch === undefined,
  denied: (r) => r.allowed === false && r.status?.code === 403,
};
for (const [key, server] of Object.entries(servers)) {
  const seen = [];
  for (const [variant, body] of Object.entries(bodies)) {
    const answer = await postOnce(server.url, body, certs.caPem);
    const response = answer.review.response;
    const uid = JSON.parse(body).request.uid;
    const ok = answer.review.apiVersion === 'admission.k8s.io/v1' && response?.uid === uid && (key.startsWith('bare') ? response.allowed === true : EXPECT[variant](response));
    if (!ok) throw new Error(`${server.name}: unexpected answer to ${variant}: ${JSON.stringify(answer.review).slice(0, 500)}`);
    seen.push(`${variant} ${answer.bytes} B`);
    if (variant === 'inject') seen.unshift(`${answer.protocol} ${answer.cipher}`);
  }
  console.log(`${server.name.padEnd(15)} pid ${server.pid}, ${server.url}, RSS ${((rssBytes(server.pid) ?? NaN) / 1048576).toFixed(0)} MiB before any load: ${seen.join(', ')}`);
}

for (const [variant, body] of Object.entries(bodies)) {
  for (const key of Object.keys(servers)) {
    if (WARMUP_S > 0) await loadRun({ url: servers[key].url, body, connections: 16, durationS: WARMUP_S, caPem: certs.caPem, serverPid: servers[key].pid });
  }
}

const results = new Map(); // `${scenarioIndex}/${server}` -> run results
for (let round = 1; round <= ROUNDS; round++) {
  for (const [index, scenario] of SCENARIOS.entries()) {
    // Alternate the order too, so that no server always runs right after the same one.
    const order = round % 2 === 1 ? scenario.servers : [...scenario.servers].reverse();
    const line = [];
    for (const key of order) {
      const server = servers[key];
      const logBefore = server.logBytes();
      const run = await loadRun({ url: server.url, body: bodies[scenario.variant], connections: scenario.connections, durationS: DURATION_S, caPem: certs.caPem, serverPid: server.pid });
      run.logBytesPerRequest = (server.logBytes() - logBefore) / Math.max(1, run.requests);
      if (run.errors > 0 || run.non2xx > 0) console.log(`  !! ${server.name}: ${run.errors} errors/timeouts, ${run.non2xx} non-2xx answers`);
      const key2 = `${index}/${key}`;
      if (!results.has(key2)) results.set(key2, []);
      results.get(key2).push(run);
      line.push(`${key} ${Math.round(run.rps)}/s p99 ${run.p99.toFixed(2)}`);
    }
    console.log(`round ${round} ${scenario.variant} c=${scenario.connections}: ${line.join(' | ')}`);
  }
}

const stat = (index, key) => {
  const list = results.get(`${index}/${key}`) ?? [];
  const m = (field) => median(list.map((r) => r[field]));
  return {
    rps: m('rps'),
    p50: m('p50'),
    p99: m('p99'),
    cpu: m('cpuPerRequestUs'),
    serverCpu: m('serverCpuPct'),
    clientCpu: m('clientCpuPct'),
    rss: m('peakRss') / 1048576,
    log: m('logBytesPerRequest'),
    errors: list.reduce((n, r) => n + r.errors + r.non2xx, 0),
  };
};
/**
 * A ratio between two servers as the median, over the rounds, of the ratio within each
 * round: the servers of a scenario run back to back in every round, so a round's ratio is
 * measured on the machine as it was then, while the medians of each server's own runs may
 * come from different rounds (a shared machine's speed drifts by more than the differences
 * measured here).
 */
const paired = (index, a, b, field) => {
  const as = results.get(`${index}/${a}`) ?? [];
  const bs = results.get(`${index}/${b}`) ?? [];
  return median(as.map((run, round) => run[field] / bs[round]?.[field]).filter(Number.isFinite));
};
const fmt = (value, digits = 0, width = 8) => (Number.isFinite(value) ? value.toFixed(digits) : 'n/a').padStart(width);
// Ratios compared with a goal are shown to three places: 0.898x is not 0.90x.
const verdict = (value, target, atLeast) => (!Number.isFinite(value) ? '' : (atLeast ? value >= target : value <= target) ? 'met' : 'MISSED');
const goals = [];

console.log(`\nmedians of ${ROUNDS} rounds (RSS: peak VmRSS during the run; CPU: utime+stime of the server process over the run / answers; client: autocannon's CPU on its core); ratios: the median of the rounds' ratios, each round's servers measured back to back`);
for (const [index, scenario] of SCENARIOS.entries()) {
  console.log(`\n${scenario.variant} (${Buffer.byteLength(bodies[scenario.variant])} B), ${scenario.connections} in flight`);
  console.log(`  ${'server'.padEnd(15)} ${'req/s'.padStart(8)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'CPU µs/req'.padStart(11)} ${'server CPU'.padStart(10)} ${'RSS MiB'.padStart(8)} ${'log B/req'.padStart(9)} ${'client CPU'.padStart(10)}`);
  const s = Object.fromEntries(scenario.servers.map((key) => [key, stat(index, key)]));
  for (const key of ['json', 'text', 'bare', 'barelog', 'bareanswer']) {
    const r = s[key];
    if (r === undefined) continue;
    console.log(
      `  ${LABEL[key].padEnd(15)} ${fmt(r.rps)} ${fmt(r.p50, 2)} ${fmt(r.p99, 2)} ${fmt(r.cpu, 0, 11)} ${fmt(r.serverCpu, 0, 9)}% ${fmt(r.rss, 0)} ${fmt(r.log, 0, 9)} ${fmt(r.clientCpu, 0, 9)}%${r.errors > 0 ? `  (${r.errors} errors/non-2xx)` : ''}`,
    );
  }
  const ratio = (a, b, field) => paired(index, a, b, field);
  const rpsRatio = ratio('json', 'bare', 'rps');
  const p99Ratio = ratio('json', 'bare', 'p99');
  const rssRatio = ratio('json', 'bare', 'peakRss');
  const cpuRatio = ratio('json', 'bare', 'cpuPerRequestUs');
  const target = scenario.connections === 16 ? TARGETS[scenario.variant] : undefined;
  const parts = [
    `req/s ${rpsRatio.toFixed(3)}x${target?.rps !== undefined ? ` (goal >= ${target.rps}x: ${verdict(rpsRatio, target.rps, true)})` : ''} (of the medians above: ${(s.json.rps / s.bare.rps).toFixed(3)}x)`,
    `p99 ${p99Ratio.toFixed(3)}x${target?.p99 !== undefined ? ` (goal <= ${target.p99}x: ${verdict(p99Ratio, target.p99, false)})` : ''}`,
    `CPU/req ${cpuRatio.toFixed(2)}x`,
    `RSS ${rssRatio.toFixed(3)}x (goal <= ${TARGETS.rss}x: ${verdict(rssRatio, TARGETS.rss, false)})`,
  ];
  console.log(`  webhook --json / bare: ${parts.join('; ')}`);
  if (s.barelog !== undefined) {
    console.log(`  bare + log line / bare: req/s ${ratio('barelog', 'bare', 'rps').toFixed(2)}x, CPU/req ${ratio('barelog', 'bare', 'cpuPerRequestUs').toFixed(2)}x; webhook --json / (bare + log line): req/s ${ratio('json', 'barelog', 'rps').toFixed(2)}x, CPU/req ${ratio('json', 'barelog', 'cpuPerRequestUs').toFixed(2)}x (for reference, not a goal)`);
  }
  if (s.bareanswer !== undefined) {
    console.log(`  bare+log+answer / bare: req/s ${ratio('bareanswer', 'bare', 'rps').toFixed(2)}x, CPU/req ${ratio('bareanswer', 'bare', 'cpuPerRequestUs').toFixed(2)}x; webhook --json / (bare+log+answer): req/s ${ratio('json', 'bareanswer', 'rps').toFixed(2)}x, CPU/req ${ratio('json', 'bareanswer', 'cpuPerRequestUs').toFixed(2)}x (for reference, not a goal)`);
  }
  if (target?.rps !== undefined) goals.push([`${scenario.variant} c=16 req/s, webhook/bare >= ${target.rps}x`, rpsRatio, verdict(rpsRatio, target.rps, true)]);
  if (target?.p99 !== undefined) goals.push([`${scenario.variant} c=16 p99, webhook/bare <= ${target.p99}x`, p99Ratio, verdict(p99Ratio, target.p99, false)]);
  goals.push([`${scenario.variant} c=${scenario.connections} RSS, webhook/bare <= ${TARGETS.rss}x`, rssRatio, verdict(rssRatio, TARGETS.rss, false)]);
  // Not a ratio: the Deployment's memory request must cover the webhook's peak use.
  const requestShare = (s.json.rss * 1048576) / MEMORY_REQUEST.bytes;
  goals.push([`${scenario.variant} c=${scenario.connections} peak RSS / memory request (${MEMORY_REQUEST.text}) <= 1`, requestShare, verdict(requestShare, 1, false)]);
  if (s.text !== undefined) {
    const textRps = ratio('text', 'json', 'rps');
    const textP99 = ratio('text', 'json', 'p99');
    const textCpu = ratio('text', 'json', 'cpuPerRequestUs');
    const lo = 1 - TARGETS.textVsJson;
    console.log(`  webhook text / --json: req/s ${textRps.toFixed(3)}x (goal >= ${lo.toFixed(2)}x: ${verdict(textRps, lo, true)}); p99 ${textP99.toFixed(2)}x; CPU/req ${textCpu.toFixed(2)}x`);
    goals.push([`${scenario.variant} c=16 text logs req/s, text/--json >= ${lo.toFixed(2)}x`, textRps, verdict(textRps, lo, true)]);
  }
}

console.log('\ngoals (reported, not enforced):');
for (const [what, value, result] of goals) console.log(`  ${what.padEnd(52)} ${value.toFixed(3)}x  ${result}`);
const clientMax = Math.max(...[...results.values()].flat().map((r) => r.clientCpuPct));
if (clientMax > 90) console.log(`  note: the load generator reached ${clientMax.toFixed(0)}% of its core in some run; those numbers may be client-bound`);

for (const server of Object.values(servers)) await server.stop();
