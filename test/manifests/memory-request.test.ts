/**
 * The Deployment's memory request covers what the webhook really uses. Under node memory
 * pressure the kubelet evicts first the pods using more than they request (before it looks at
 * priority), and the scheduler places pods by their requests: a failurePolicy Fail webhook
 * that always uses more than it requests is among the first pods evicted, whatever its
 * PriorityClass.
 *
 * The webhook is started as the Deployment runs it (its args: the TLS and telemetry
 * listeners; its NODE_OPTIONS; a Kubernetes API configured, so the client library is loaded as
 * in a cluster), idle and then answering admissions for a few seconds; its resident memory,
 * as its own /metrics report it, must stay within the request. The child is started through
 * `env -i`: tap adds its own --import to the NODE_OPTIONS of every process a test spawns,
 * which would more than double the resident memory measured.
 */
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Agent, request } from 'node:https';
import type { V1Deployment } from '@kubernetes/client-node';
import t from 'tap';
import { makeTestCertificates } from '../helpers/certs.js';
import { MAIN_JS, REPO_ROOT, SERVING_MESSAGE } from '../helpers/webhook-process.js';
import { exampleReview, metricValue, send } from '../e2e/fixtures/support.js';
import { webhookContainer } from './fixtures/checks.js';
import { APP_NAME, build, find } from './fixtures/kustomize.js';
import type { KubeObject } from './fixtures/kustomize.js';

/** Kubernetes memory quantity (Ki, Mi, Gi, K, M, G or bytes) in bytes. */
function bytes(quantity: string): number {
  const match = /^(\d+)(Ki|Mi|Gi|K|M|G)?$/.exec(quantity);
  if (match === null) throw new Error(`not a memory quantity: ${quantity}`);
  const unit = { Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, K: 1e3, M: 1e6, G: 1e9 }[match[2] ?? ''] ?? 1;
  return Number(match[1]) * unit;
}

const mib = (value: number | undefined) => `${((value ?? 0) / 1024 ** 2).toFixed(1)} MiB`;

const LOAD_MS = 5_000;
const IN_FLIGHT = 16;

t.test('the memory request covers the resident memory of the webhook as deployed, idle and under load', async (t) => {
  const objects = await build('base');
  const container = webhookContainer(find<KubeObject & V1Deployment>(objects, 'Deployment', APP_NAME));
  const request_ = container.resources?.requests?.['memory'] ?? '';
  const requested = bytes(request_);
  const nodeOptions = container.env?.find((e) => e.name === 'NODE_OPTIONS')?.value ?? '';
  t.match(nodeOptions, /--max-old-space-size=/, `NODE_OPTIONS from the Deployment: ${nodeOptions}`);

  const certs = await makeTestCertificates('ec-pkcs8');
  t.teardown(() => certs.cleanup());
  // A cluster the webhook never needs to reach for the example pod: the client library is loaded, as in a pod.
  const kubeconfig = join(certs.dir, 'kubeconfig');
  await writeFile(
    kubeconfig,
    ['apiVersion: v1', 'kind: Config', 'clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]', 'users: [{name: u, user: {token: t}}]', 'contexts: [{name: x, context: {cluster: c, user: u}}]', 'current-context: x', ''].join('\n'),
  );
  const args = (container.args ?? []).map((arg) =>
    arg.startsWith('--listen-address=')
      ? '--listen-address=127.0.0.1:0'
      : arg.startsWith('--telemetry-listen-address=')
        ? '--telemetry-listen-address=127.0.0.1:0'
        : arg.startsWith('--tls-cert-file=')
          ? `--tls-cert-file=${certs.certFile}`
          : arg.startsWith('--tls-private-key-file=')
            ? `--tls-private-key-file=${certs.keyFile}`
            : arg,
  );
  t.ok(args.includes('--json'), 'JSON logs (the serving line is read from them)');
  const env = [`PATH=${process.env['PATH'] ?? ''}`, `HOME=${certs.dir}`, `NODE_OPTIONS=${nodeOptions}`, `KUBECONFIG=${kubeconfig}`];
  const child = spawn('env', ['-i', ...env, process.execPath, MAIN_JS, ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => {
    child.kill('SIGKILL');
  });
  let logs = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    logs += chunk;
  });
  const serving = await new Promise<{ url: string; telemetryUrl: string }>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`the webhook did not start:\n${out}${logs}`)), 20_000);
    child.once('exit', (code) => reject(new Error(`the webhook exited (${String(code)}):\n${out}${logs}`)));
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      for (const line of out.split('\n')) {
        if (!line.includes(SERVING_MESSAGE)) continue;
        const record = JSON.parse(line) as { url?: string; telemetryUrl?: string };
        if (record.url !== undefined && record.telemetryUrl !== undefined) {
          clearTimeout(timer);
          resolve({ url: record.url, telemetryUrl: record.telemetryUrl });
        }
      }
      if (out.length > 1_000_000) out = out.slice(-100_000);
    });
  });
  const resident = async () => metricValue((await send(`${serving.telemetryUrl}/metrics`)).text, 'process_resident_memory_bytes');

  const idle = await resident();
  t.ok(idle !== undefined && idle <= requested, `idle: resident memory ${mib(idle)} within the memory request ${request_}`);

  const body = JSON.stringify(exampleReview());
  const agent = new Agent({ keepAlive: true, maxSockets: IN_FLIGHT, ca: certs.caPem });
  t.teardown(() => agent.destroy());
  const admit = () =>
    new Promise<number>((resolve, reject) => {
      const req = request(`${serving.url}/pods`, { method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.end(body);
    });
  const started = Date.now();
  let answered = 0;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (Date.now() - started < LOAD_MS) if ((await admit()) === 200) answered++;
    }),
  );
  t.ok(answered > 0, `${answered} admissions answered, ${IN_FLIGHT} in flight`);
  const loaded = await resident();
  t.ok(loaded !== undefined && loaded <= requested, `under load: resident memory ${mib(loaded)} within the memory request ${request_}`);
});
