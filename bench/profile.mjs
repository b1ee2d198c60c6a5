// Where the webhook's time goes: one injection run (16 in flight) against `node --cpu-prof
// dist/main.js --json … server …` (and the bare Fastify server for comparison), then the
// functions and files with the most self time. Run after a build: node bench/profile.mjs
// Environment: BENCH_DURATION (seconds, default 5), BENCH_PROFILE_TOP (rows, default 25),
// BENCH_VARIANT (inject | noop | denied, default inject).
import { copyFileSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bareArgs, loadRun, makeCertificates, pinning, startServer, webhookArgs } from './lib.mjs';

const DURATION_S = Number(process.env.BENCH_DURATION ?? 5);
const TOP = Number(process.env.BENCH_PROFILE_TOP ?? 25);
const VARIANT = process.env.BENCH_VARIANT ?? 'inject';
const body = readFileSync(new URL(`./fixtures/${VARIANT}.json`, import.meta.url), 'utf8').trim();
const pins = pinning();
const certs = await makeCertificates();
const keep = mkdtempSync(join(tmpdir(), 'secrets-init-webhook-profile-'));

/** Self time per function and per file of a .cpuprofile, as shares of all samples. */
function summarize(profile, requests) {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const self = new Map();
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i] ?? 0;
    self.set(profile.samples[i], (self.get(profile.samples[i]) ?? 0) + dt);
    total += dt;
  }
  const functions = new Map();
  const files = new Map();
  for (const [id, us] of self) {
    const { callFrame } = byId.get(id);
    const file = shortFile(callFrame.url) || callFrame.functionName;
    const fn = `${callFrame.functionName || '(anonymous)'} ${file}${callFrame.url ? `:${callFrame.lineNumber + 1}` : ''}`;
    functions.set(fn, (functions.get(fn) ?? 0) + us);
    const group = groupOf(callFrame);
    files.set(group, (files.get(group) ?? 0) + us);
  }
  const top = (map) => [...map].sort((a, b) => b[1] - a[1]).slice(0, TOP).map(([name, us]) => [name, (us / total) * 100, us / requests]);
  return { totalMs: total / 1000, functions: top(functions), groups: top(files) };
}

function shortFile(url) {
  if (!url) return '';
  const path = url.replace(/^file:\/\//, '');
  const modules = path.lastIndexOf('/node_modules/');
  if (modules >= 0) return path.slice(modules + '/node_modules/'.length);
  const repo = path.indexOf('/dist/');
  if (repo >= 0) return path.slice(repo + 1);
  return path.replace(/^.*\/bench\//, 'bench/');
}

/** A coarse owner of a frame: a package, a dist/ folder, a node: internal area, or a V8 pseudo-frame. */
function groupOf(callFrame) {
  const url = callFrame.url;
  if (!url) return callFrame.functionName.startsWith('(') ? callFrame.functionName : '(native/builtin)';
  const path = url.replace(/^file:\/\//, '');
  const modules = path.lastIndexOf('/node_modules/');
  if (modules >= 0) {
    const rest = path.slice(modules + '/node_modules/'.length).split('/');
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  const dist = path.indexOf('/dist/');
  if (dist >= 0) return `webhook ${path.slice(dist + 1).split('/').slice(0, 2).join('/')}`;
  if (path.startsWith('node:')) return path.split('/').slice(0, 3).join('/');
  return shortFile(url);
}

for (const [name, args, message] of [
  ['webhook --json', webhookArgs({ json: true, ...certs }), 'secrets-init-webhook is serving'],
  ['bare fastify', bareArgs(certs), 'bare fastify is serving'],
]) {
  const dir = mkdtempSync(join(keep, 'run-'));
  const server = await startServer({ name, args, message, core: pins.serverCore, taskset: pins.taskset, nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`] });
  const warm = await loadRun({ url: server.url, body, connections: 16, durationS: 1, caPem: certs.caPem, serverPid: server.pid });
  const run = await loadRun({ url: server.url, body, connections: 16, durationS: DURATION_S, caPem: certs.caPem, serverPid: server.pid });
  // SIGTERM: a graceful stop ends in process.exit, which writes the profile.
  await server.stop('SIGTERM');
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  if (file === undefined) throw new Error(`${name}: no .cpuprofile in ${dir}`);
  const kept = join(keep, `${name.replace(/\W+/g, '-')}.cpuprofile`);
  copyFileSync(join(dir, file), kept);
  const summary = summarize(JSON.parse(readFileSync(kept, 'utf8')), warm.requests + run.requests);
  console.log(`\n${name}, ${VARIANT}, 16 in flight: ${Math.round(run.rps)} req/s, p99 ${run.p99.toFixed(2)} ms, ${run.cpuPerRequestUs.toFixed(0)} µs CPU/req; profile ${kept} (${summary.totalMs.toFixed(0)} ms sampled on the main thread, start and warm-up included; µs/req = self time / all ${warm.requests + run.requests} requests)`);
  console.log('  self time by function:');
  for (const [fn, pct, us] of summary.functions) console.log(`  ${pct.toFixed(1).padStart(6)}% ${us.toFixed(1).padStart(6)} µs/req  ${fn}`);
  console.log('  self time by owner:');
  for (const [group, pct, us] of summary.groups) console.log(`  ${pct.toFixed(1).padStart(6)}% ${us.toFixed(1).padStart(6)} µs/req  ${group}`);
}
