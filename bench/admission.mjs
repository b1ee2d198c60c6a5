// Benchmarks of the admission path (run: npm run bench). Prints ops/s and heap use.
// Runs with the heap limits of manifests/base/deployment.yaml (--max-old-space-size=256 --max-semi-space-size=16).
// Targets on this project's 2-core machines: the pure mutation of the example pod above
// 20k ops/s; full admissions over loopback HTTP (keep-alive, 16 in flight: parse,
// validate, mutate, encode; the client runs in the same process) above 1k ops/s with
// p99 under 100 ms. bench/http.mjs (run next by npm run bench) compares the built server, over
// HTTPS, against a bare Fastify server.
import { performance } from 'node:perf_hooks';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { pino } from 'pino';
import { computePodMutation } from '../dist/core/pod-mutation.js';
import { toJsonPatch } from '../dist/core/json-patch.js';
import { NO_RUNTIME_OPTIONS } from '../dist/core/runtime-options.js';
import { DEFAULT_SUPERVISORS } from '../dist/core/supervisor.js';
import { DEFAULT_POD_LIMITS } from '../dist/core/settings.js';
import { buildApp } from '../dist/http/app.js';
import { readinessFlag } from '../dist/http/health-routes.js';
import { createMetrics } from '../dist/telemetry/metrics.js';
import { staticImageConfigs } from '../dist/images/image-config-source.js';
import { unconfiguredReader } from '../dist/kubernetes/object-reader.js';

const review = JSON.parse(readFileSync(new URL('../examples/admission-review.json', import.meta.url), 'utf8'));
const pod = review.request.object;
const settings = { image: 'ghcr.io/doitintl/secrets-init:0.5.3', pullPolicy: 'IfNotPresent', volumeName: 'secrets-init-bin', volumePath: '/helper/bin', runtime: NO_RUNTIME_OPTIONS, supervisors: DEFAULT_SUPERVISORS, limits: DEFAULT_POD_LIMITS };
const facts = { namespace: 'shop', objects: new Map(), imageConfigs: new Map() };

async function measure(name, iterations, fn) {
  for (let i = 0; i < Math.min(1000, iterations / 10); i++) await fn();
  globalThis.gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  const start = performance.now();
  for (let i = 0; i < iterations; i++) await fn();
  const ms = performance.now() - start;
  const heapAfter = process.memoryUsage().heapUsed;
  console.log(`${name.padEnd(44)} ${Math.round((iterations / ms) * 1000).toString().padStart(9)} ops/s  ${(ms / iterations * 1000).toFixed(1).padStart(7)} µs/op  heap ${((heapAfter - heapBefore) / 1048576).toFixed(1)} MiB`);
}

await measure('core: computePodMutation + toJsonPatch', 50_000, () => {
  const outcome = computePodMutation(pod, facts, settings);
  if (!outcome.allowed || !outcome.mutation) throw new Error('unexpected outcome');
  toJsonPatch(pod, outcome.mutation);
});

const app = await buildApp({
  logger: pino({ level: 'silent' }),
  admission: { settings, objects: unconfiguredReader(), images: staticImageConfigs({}), maxConcurrentReads: 8, admissionTimeoutMs: 8000 },
  metrics: createMetrics({ processMetrics: false }),
  readiness: readinessFlag(),
  maxRequestBytes: 5 * 1024 * 1024,
  serveMetrics: true,
});
const payload = JSON.stringify(review);
await app.listen({ host: '127.0.0.1', port: 0 });
const { port } = app.server.address();
const agent = new Agent({ keepAlive: true, maxSockets: 16 });
function post() {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const req = request({ host: '127.0.0.1', port, path: '/pods', method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve(performance.now() - started) : reject(new Error(`status ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end(payload);
  });
}
const total = 20_000;
const latencies = [];
let sent = 0;
const start = performance.now();
await Promise.all(Array.from({ length: 16 }, async () => {
  while (sent < total) {
    sent++;
    latencies.push(await post());
  }
}));
const ms = performance.now() - start;
latencies.sort((a, b) => a - b);
const p = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))].toFixed(2);
console.log(`${'http: POST /pods, keep-alive, 16 in flight'.padEnd(44)} ${Math.round((total / ms) * 1000).toString().padStart(9)} ops/s  p50 ${p(0.5)} ms  p99 ${p(0.99)} ms  rss ${(process.memoryUsage().rss / 1048576).toFixed(0)} MiB`);
agent.destroy();
await app.close();

// Worst-case pods, through the admission decision with an in-memory API server: 1 MiB of
// ConfigMap references through 20 envFrom prefixes plus 1,000 secretKeyRefs (denied by
// --max-variables-per-pod after 51 reads), and the same ConfigMap once (10,000 references,
// injected). Time per admission and the heap it leaves behind.
const { decideAdmission } = await import('../dist/admission/handler.js');
const arn = (i) => `arn:aws:secretsmanager:us-east-1:123456789012:secret:crafted-${String(i).padStart(6, '0')}-AbCdEfGhIjKlMnOpQrStUvWxYz`;
const store = new Map([['ConfigMap/big', new Map(Array.from({ length: 10_000 }, (_, i) => [`KEY_${i}`, arn(i)]))]]);
for (let s = 0; s < 50; s++) store.set(`Secret/s${s}`, new Map(Array.from({ length: 20 }, (_, k) => [`k${k}`, arn(s * 20 + k)])));
const memoryReader = {
  async read(ref) {
    const data = store.get(`${ref.kind}/${ref.name}`);
    return data ? { found: true, data } : { found: false };
  },
  async readServiceAccount() {
    return { found: false };
  },
};
const deps = { settings, objects: memoryReader, images: staticImageConfigs({}), maxConcurrentReads: 8, admissionTimeoutMs: 8000 };
const admissionOf = (containers) => ({ uid: 'bench', kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE', namespace: 'crafted', object: { metadata: { name: 'crafted' }, spec: { containers } } });
const crafted = admissionOf([{
  name: 'app', command: ['/app'],
  env: Array.from({ length: 1_000 }, (_, i) => ({ name: `REF_${i}`, valueFrom: { secretKeyRef: { name: `s${i % 50}`, key: `k${i % 20}` } } })),
  envFrom: Array.from({ length: 20 }, (_, p) => ({ prefix: `P${p}_`, configMapRef: { name: 'big' } })),
}]);
const within = admissionOf([{ name: 'app', command: ['/app'], envFrom: [{ configMapRef: { name: 'big' } }] }]);
await measure('worst case: 20 x 1 MiB envFrom + 1,000 refs (denied)', 200, async () => {
  const decision = await decideAdmission(crafted, deps);
  if (decision.response.allowed) throw new Error('expected a denial');
});
await measure('worst case: 1 MiB envFrom, 10,000 references (injected)', 200, async () => {
  const decision = await decideAdmission(within, deps);
  if (!decision.response.allowed) throw new Error('expected an injection');
});
console.log(`${'rss after the worst cases'.padEnd(44)} ${(process.memoryUsage().rss / 1048576).toFixed(0)} MiB`);
