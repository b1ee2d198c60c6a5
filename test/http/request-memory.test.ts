/**
 * The memory request bodies may hold: each body is charged as it arrives and before it is
 * parsed, a body that does not fit gets 503 while the server keeps answering others, and
 * every charge is given back when its response closes — answered, refused, bad, or cut.
 * Over real TLS, with a small capacity given to buildApp.
 */
import t from 'tap';
import type { Test } from 'tap';
import { execFileSync, spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { connect as tcpConnect } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { pino } from 'pino';
import { buildApp, buildTelemetryApp } from '../../src/http/app.js';
import type { CallerTimeouts } from '../../src/http/caller-timeouts.js';
import { CALLER_TIMEOUTS } from '../../src/http/caller-timeouts.js';
import { readinessFlag } from '../../src/http/health-routes.js';
import { holdUntilWritten } from '../../src/http/json-body.js';
import { HEAP_BYTES_PER_BODY_BYTE, RequestMemory, UNCOUNTED_ARRIVING_BYTES, bodyLimitBeyondCapacity } from '../../src/http/request-memory.js';
import type { ImageConfigSource } from '../../src/images/image-config-source.js';
import { staticImageConfigs } from '../../src/images/image-config-source.js';
import { unconfiguredReader } from '../../src/kubernetes/object-reader.js';
import { createMetrics } from '../../src/telemetry/metrics.js';
import type { WebhookMetrics } from '../../src/telemetry/metrics.js';
import { loadTlsMaterial } from '../../src/tls/material.js';
import type { TlsSource } from '../../src/tls/source.js';
import { SETTINGS } from '../helpers/pods.js';
import { makeTestCertificates } from '../helpers/certs.js';
import { rawConnection } from '../helpers/raw-connection.js';

const certs = await makeTestCertificates('ec-pkcs8');
t.teardown(() => certs.cleanup());
const material = await loadTlsMaterial(certs.certFile, certs.keyFile);
const staticTls: TlsSource = { current: () => material, onChange: () => () => undefined, close: async () => undefined };
const CA = certs.caPem;

const REFERENCE = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-Xy12Ab';

/** An AdmissionReview of a pod, its text padded to about `size` bytes with an annotation. */
function review(options: { uid?: string; image?: string; command?: string[]; args?: string[]; size?: number } = {}): string {
  const container = { name: 'c', image: options.image ?? 'busybox', ...(options.command ? { command: options.command } : {}), ...(options.args ? { args: options.args } : {}), env: [{ name: 'DB', value: REFERENCE }] };
  const make = (pad: string) =>
    JSON.stringify({
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: { uid: options.uid ?? 'u-1', kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE', namespace: 'ns', object: { metadata: { name: 'p', annotations: { pad } }, spec: { containers: [container] } } },
    });
  const bare = make('');
  return make('x'.repeat(Math.max(0, (options.size ?? 0) - bare.length)));
}

/** Until `release()`: an image source whose lookups wait (a slow registry), then answer from a table. */
function heldImages(): { source: ImageConfigSource; waiting: () => number; release: () => void } {
  let waiting = 0;
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const table = staticImageConfigs({ 'slow.example/app:1': { entrypoint: ['/app'], cmd: [] } });
  return {
    source: {
      async configOf(lookup) {
        waiting++;
        await released;
        waiting--;
        return table.configOf(lookup);
      },
    },
    waiting: () => waiting,
    release: () => release(),
  };
}

interface Webhook {
  port: number;
  memory: RequestMemory;
  metrics: WebhookMetrics;
}

async function startWebhook(t: Test, capacity: number, images: ImageConfigSource = staticImageConfigs({}), callerTimeouts?: CallerTimeouts): Promise<Webhook> {
  const readiness = readinessFlag();
  readiness.set(true);
  const memory = new RequestMemory(capacity);
  const metrics = createMetrics({ processMetrics: false });
  const app = await buildApp({
    logger: pino({ level: 'silent' }),
    admission: { settings: SETTINGS, maxConcurrentReads: 8, admissionTimeoutMs: 8_000, objects: unconfiguredReader(), images },
    metrics,
    readiness,
    maxRequestBytes: 1024 * 1024,
    serveMetrics: false,
    tls: staticTls,
    requestMemory: memory,
    ...(callerTimeouts !== undefined ? { callerTimeouts } : {}),
  });
  t.teardown(() => app.close());
  await app.listen({ host: '127.0.0.1', port: 0 });
  return { port: (app.server.address() as AddressInfo).port, memory, metrics };
}

interface Answer {
  status: number;
  body: string;
  connection: string | undefined;
}

/** POSTs `body` to /pods on a connection of its own; `chunked`: without Content-Length, in 16 KiB writes. */
function post(port: number, body: string, options: { chunked?: boolean; contentType?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { 'content-type': options.contentType ?? 'application/json' };
    if (options.chunked !== true) headers['content-length'] = Buffer.byteLength(body);
    const req = httpsRequest({ host: '127.0.0.1', port, path: '/pods', method: 'POST', ca: CA, servername: 'localhost', agent: false, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, connection: res.headers.connection }));
    });
    // A server that refuses a body may close before all of it was written.
    req.on('error', reject);
    if (options.chunked === true) {
      for (let i = 0; i < body.length; i += 16 * 1024) req.write(body.slice(i, i + 16 * 1024));
      req.end();
    } else {
      req.end(body);
    }
  });
}

/** Polls (bounded) until `condition` holds. */
async function until(condition: () => boolean, what: string, withinMs = 5_000): Promise<void> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > withinMs) throw new Error(`not within ${withinMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const rejected = async (metrics: WebhookMetrics) => (await metrics.registry.getSingleMetric('secrets_init_webhook_admissions_total')?.get())?.values.filter((v) => v.labels['result'] === 'rejected').reduce((n, v) => n + v.value, 0) ?? 0;

t.test('RequestMemory takes what fits and gives it back', async (t) => {
  const memory = new RequestMemory(100);
  t.ok(memory.take(60));
  t.notOk(memory.take(41), 'past the capacity: refused');
  t.equal(memory.held, 60, 'a refusal takes nothing');
  t.ok(memory.take(40), 'up to the capacity exactly');
  memory.give(60);
  memory.give(40);
  t.equal(memory.held, 0);
  t.ok(memory.takeArriving(50), 'bodies arriving: up to half');
  t.notOk(memory.takeArriving(1), 'not past half');
  t.ok(memory.take(50), 'the other half stays for what has arrived');
  memory.arrived(50);
  t.equal(memory.arriving, 0);
  t.equal(memory.held, 100, 'an arrived body still holds what it took');
  t.ok(memory.takeArriving(0) && !memory.takeArriving(1), 'and arriving ones cannot pass the capacity');
  t.throws(() => new RequestMemory(0), /positive/);
});

t.test('a body limit whose parse could not fit the capacity is named at start', async (t) => {
  const capacity = 152 * 1048576;
  t.equal(bodyLimitBeyondCapacity(2 * 1048576, capacity), undefined, 'two parses of 2 MiB bodies fit half of the Deployment heap');
  const reason = bodyLimitBeyondCapacity(3 * 1048576, capacity);
  t.match(reason, /--max-request-bytes=3 MiB: .*96 MiB of heap, and V8 may still hold the previous one's, more than the 152 MiB/);
  t.match(reason, /lower --max-request-bytes or raise --max-old-space-size/);
});

t.test('JSON.parse of the densest bodies stays within HEAP_BYTES_PER_BODY_BYTE on this Node.js', async (t) => {
  // Each shape in a child of its own with --expose-gc (nothing else on its heap): the heap
  // after parsing, less the heap before, per byte of text.
  const script = `
    const n = 2 * 1048576;
    const shapes = {
      nestedArrays: () => '['.repeat(n / 2) + ']'.repeat(n / 2),
      emptyObjects: () => '[' + '{},'.repeat(n / 3) + '{}]',
      emptyArrays: () => '[' + '[],'.repeat(n / 3) + '[]]',
      arraysOfZero: () => '[' + '[0],'.repeat(n / 4) + '[0]]',
      nestedObjects: () => '{"":'.repeat(n / 5) + '0' + '}'.repeat(n / 5),
      zeros: () => '[' + '0,'.repeat(n / 2) + '0]',
    };
    const make = shapes[process.argv[1]];
    if (make === undefined) throw new Error('no shape ' + process.argv[1]);
    const text = JSON.parse(JSON.stringify(make()));
    globalThis.gc();
    const before = process.memoryUsage().heapUsed;
    const value = JSON.parse(text);
    globalThis.gc();
    const perByte = (process.memoryUsage().heapUsed - before) / text.length;
    if (value === undefined) throw new Error('unreachable');
    process.stdout.write(String(perByte));
  `;
  const shapes = ['nestedArrays', 'emptyObjects', 'emptyArrays', 'arraysOfZero', 'nestedObjects', 'zeros'];
  const perByte = Object.fromEntries(shapes.map((shape) => [shape, Number(execFileSync(process.execPath, ['--expose-gc', '-e', script, shape], { encoding: 'utf8' }))]));
  for (const [shape, bytes] of Object.entries(perByte)) {
    t.ok(bytes > 1, `${shape}: the measure sees the parsed value (${bytes.toFixed(1)} bytes per byte)`);
    // The text itself takes one more byte per character (two for text outside Latin-1).
    t.ok(bytes + 2 <= HEAP_BYTES_PER_BODY_BYTE, `${shape}: ${bytes.toFixed(1)} bytes of heap per byte of JSON (+2 for the text) <= ${HEAP_BYTES_PER_BODY_BYTE}`);
  }
  t.ok(perByte['nestedArrays']! > 20, 'nested arrays, the densest shape, cost what the bound was made for');
});

t.test('answered, refused and bad bodies all give their charge back', async (t) => {
  const small = review({ command: ['/app'] });
  // Room for two small bodies' worst case.
  const webhook = await startWebhook(t, 2.5 * small.length * HEAP_BYTES_PER_BODY_BYTE);
  const answered = await post(webhook.port, small);
  t.equal(answered.status, 200);
  t.match(JSON.parse(answered.body), { response: { uid: 'u-1', allowed: true, patchType: 'JSONPatch' } });
  await until(() => webhook.memory.held === 0, 'the answered admission gave its charge back');

  const big = review({ command: ['/app'], size: 3 * small.length });
  const refused = await post(webhook.port, big);
  t.equal(refused.status, 503, 'a body whose parse cannot fit is refused');
  t.match(JSON.parse(refused.body), { statusCode: 503, message: /holds as much request data as its memory allows \(\d+(\.\d)? MiB\); try again/ });
  t.equal(refused.connection, 'close');
  t.equal(await rejected(webhook.metrics), 1, 'counted as a rejected admission');
  await until(() => webhook.memory.held === 0, 'the refused body gave its charge back');

  for (const [what, body, status] of [
    ['not JSON', '{"apiVersion":', 400],
    ['empty', '', 400],
    ['not an AdmissionReview', '{"a":1}', 400],
  ] as const) {
    const answer = await post(webhook.port, body);
    t.equal(answer.status, status, what);
    await until(() => webhook.memory.held === 0, `${what}: the charge given back`);
  }
  const bom = await post(webhook.port, `\ufeff${small}`);
  t.equal(bom.status, 200, 'a byte order mark is skipped, as by Fastify’s own parser');
  const poisoned = await post(webhook.port, small.replace('"metadata":{', '"metadata":{"labels":{"__proto__":"x","constructor":"y"},'));
  t.equal(poisoned.status, 200, '__proto__ and constructor keys are data, not a reason to refuse the pod');
  await until(() => webhook.memory.held === 0, 'all given back');
});

t.test('a body held while its image is looked up keeps its charge; what does not fit meanwhile is refused, then fits again', async (t) => {
  const images = heldImages();
  const slow = review({ uid: 'slow', image: 'slow.example/app:1', size: 8 * 1024 });
  const fast = review({ uid: 'fast', command: ['/app'], size: 8 * 1024 });
  // Room for one of them, not two.
  const webhook = await startWebhook(t, 1.5 * slow.length * HEAP_BYTES_PER_BODY_BYTE, images.source);
  const first = post(webhook.port, slow);
  await until(() => images.waiting() === 1, 'the first admission waits for its image');
  t.ok(webhook.memory.held >= slow.length * HEAP_BYTES_PER_BODY_BYTE, 'held while it waits');
  const second = await post(webhook.port, fast);
  t.equal(second.status, 503, 'a second body does not fit beside it');
  images.release();
  const firstAnswer = await first;
  t.equal(firstAnswer.status, 200);
  t.match(JSON.parse(firstAnswer.body), { response: { uid: 'slow', allowed: true } });
  await until(() => webhook.memory.held === 0, 'given back once answered');
  const again = await post(webhook.port, fast);
  t.equal(again.status, 200, 'the same body fits once the first was answered');
});

t.test('a caller that goes away while its parsed body is held: the charge is given back once the admission ends', async (t) => {
  const images = heldImages();
  const slow = review({ uid: 'slow', image: 'slow.example/app:1' });
  const webhook = await startWebhook(t, 4 * slow.length * HEAP_BYTES_PER_BODY_BYTE, images.source);
  const caller = await rawConnection(t, webhook.port, CA);
  caller.post(slow);
  await until(() => images.waiting() === 1, 'the admission waits for its image');
  t.ok(webhook.memory.held > 0, 'held while it waits');
  caller.socket.destroy();
  await new Promise((resolve) => setTimeout(resolve, 50));
  images.release();
  await until(() => webhook.memory.held === 0, 'given back once the admission ended, though nobody read the answer');
});

t.test('large and chunked bodies are charged as they arrive, not as they are declared', async (t) => {
  const webhook = await startWebhook(t, 256 * 1024);
  // Declares 1 MiB (within the body limit, far past the capacity), sends 20 KiB and waits.
  const slowSender = await rawConnection(t, webhook.port, CA);
  slowSender.post(`{"pad":"${'x'.repeat(20 * 1024)}`, { declaredLength: 1024 * 1024 });
  await until(() => webhook.memory.held >= 20 * 1024, 'the sent part is charged');
  t.ok(webhook.memory.held < 64 * 1024, `only what arrived is held (${webhook.memory.held} bytes), not the declared 1 MiB`);
  const small = review({ command: ['/app'] });
  t.ok(small.length <= UNCOUNTED_ARRIVING_BYTES);
  t.equal((await post(webhook.port, small)).status, 200, 'a small admission is answered meanwhile');

  // A caller that goes away mid-body gives its charge back.
  slowSender.socket.destroy();
  await until(() => webhook.memory.held === 0, 'the abandoned body gave its charge back');

  // A chunked body (no Content-Length) past the capacity: refused as it arrives.
  const refused = await post(webhook.port, `{"pad":"${'x'.repeat(512 * 1024)}"}`, { chunked: true }).catch((error: Error) => error);
  if (refused instanceof Error) t.match(refused.message, /socket hang up|ECONNRESET|EPIPE/, 'cut while it was still sending');
  else t.equal(refused.status, 503, 'refused as it arrives');
  await until(() => webhook.memory.held === 0, 'the refused chunked body gave its charge back');
  t.equal((await post(webhook.port, small)).status, 200, 'and the server still answers');
});

t.test('a chunked body is charged as its chunks arrive, and one past the body limit is refused', async (t) => {
  const webhook = await startWebhook(t, 256 * 1024 * 1024);
  // No Content-Length: a chunk of 20 KiB sent, the rest not yet.
  const sender = await rawConnection(t, webhook.port, CA);
  const chunk = `{"pad":"${'x'.repeat(20 * 1024)}`;
  sender.socket.write(`POST /pods HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n${chunk.length.toString(16)}\r\n${chunk}\r\n`);
  await until(() => webhook.memory.arriving >= 20 * 1024, 'the chunk that came is charged while the body arrives');
  t.ok(webhook.memory.held >= 20 * 1024);
  sender.socket.destroy();
  await until(() => webhook.memory.held === 0, 'given back when the caller goes away');

  // Past the 1 MiB body limit without declaring a length: 413, not read to its end.
  const over = await post(webhook.port, review({ command: ['/app'], size: 1536 * 1024 }), { chunked: true }).catch((error: Error) => error);
  if (over instanceof Error) t.match(over.message, /socket hang up|ECONNRESET|EPIPE/, 'cut while it was still sending');
  else t.equal(over.status, 413, 'refused as too large');
  t.equal((await post(webhook.port, review({ command: ['/app'], size: 1000 * 1024 }), { chunked: true })).status, 200, 'a chunked body within the limit is answered');
});

t.test('a body that stops arriving is cut at the request bound and gives back what it held', async (t) => {
  // A request bound short enough for a test, long enough to see the half that came charged on a loaded machine.
  const webhook = await startWebhook(t, 1024 * 1024, staticImageConfigs({}), { handshakeMs: 10_000, requestMs: 3_000, sweepMs: 100, keepAliveMs: CALLER_TIMEOUTS.keepAliveMs });
  const caller = await rawConnection(t, webhook.port, CA);
  const closed = new Promise((resolve) => caller.socket.once('close', resolve));
  caller.post(`{"pad":"${'x'.repeat(32 * 1024)}`, { declaredLength: 64 * 1024 });
  await until(() => webhook.memory.held >= 32 * 1024, 'the half that came is charged');
  await closed;
  t.match(caller.received(), /^HTTP\/1\.1 408 /, 'cut with 408');
  await until(() => webhook.memory.held === 0, 'what it held is given back');
});

t.test('the telemetry listener serves GETs only: a request body is never read, a POST is answered at once', async (t) => {
  const readiness = readinessFlag();
  readiness.set(true);
  const app = await buildTelemetryApp({ logger: pino({ level: 'silent' }), metrics: createMetrics({ processMetrics: false }), readiness });
  t.teardown(() => app.close());
  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.server.address() as AddressInfo).port;
  for (const path of ['/metrics', '/nothing']) {
    const socket = tcpConnect({ host: '127.0.0.1', port });
    t.teardown(() => socket.destroy());
    let received = '';
    socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
    // Declares 1 MiB and sends 5 bytes: the answer must not wait for the rest.
    socket.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${1024 * 1024}\r\n\r\n{"a":`);
    await until(() => received.includes('\r\n\r\n'), `an answer to POST ${path} without its body`);
    t.match(received, /^HTTP\/1\.1 404 /, `POST ${path}: 404`);
  }
});

t.test('pipelined requests waiting behind a slow one hold no charge for their parsed bodies; a large answer holds its own until written', async (t) => {
  const images = heldImages();
  const slow = review({ uid: 'slow', image: 'slow.example/app:1' });
  const small = review({ uid: 'small', command: ['/app'] });
  // Its answer carries the 40 KB argument twice over (patch, base64): past the uncounted 16 Ki characters.
  const large = review({ uid: 'large', command: ['/app'], args: ['x'.repeat(40_000)] });
  const webhook = await startWebhook(t, 64 * 1024 * 1024, images.source);
  const caller = await rawConnection(t, webhook.port, CA);
  caller.post(slow);
  await until(() => images.waiting() === 1, 'the first admission waits for its image');
  const slowCharge = webhook.memory.held;
  t.equal(slowCharge, slow.length * HEAP_BYTES_PER_BODY_BYTE, 'the slow one holds its parse charge');
  const decided = () => webhook.metrics.registry.getSingleMetric('secrets_init_webhook_admissions_total')?.get();
  const count = async () => ((await decided())?.values ?? []).reduce((n, v) => n + v.value, 0);
  caller.post(small);
  for (let i = 0; (await count()) < 1 && i < 500; i++) await new Promise((resolve) => setTimeout(resolve, 10));
  t.equal(await count(), 1, 'the pipelined small one is decided while the slow one waits');
  t.equal(caller.received(), '', 'its answer waits behind the slow one');
  t.equal(webhook.memory.held, slowCharge, 'and holds nothing: its parsed body was let go');
  caller.post(large);
  for (let i = 0; (await count()) < 2 && i < 500; i++) await new Promise((resolve) => setTimeout(resolve, 10));
  const largeCharge = webhook.memory.held - slowCharge;
  t.ok(largeCharge > 3 * 16 * 1024 && largeCharge < large.length * HEAP_BYTES_PER_BODY_BYTE, `the large answer holds a charge of its own size (${largeCharge} bytes), not its body's parse charge`);
  images.release();
  await until(() => (caller.received().match(/HTTP\/1\.1 200 /g) ?? []).length === 3 && caller.received().includes('"uid":"large"'), 'the three answers, in order');
  await until(() => webhook.memory.held === 0, 'all given back once written');
});

t.test('a large answer queued behind a slow one gives its charge back when the caller goes away', async (t) => {
  const images = heldImages();
  const slow = review({ uid: 'slow', image: 'slow.example/app:1' });
  const large = review({ uid: 'large', command: ['/app'], args: ['x'.repeat(40_000)] });
  const webhook = await startWebhook(t, 64 * 1024 * 1024, images.source);
  const caller = await rawConnection(t, webhook.port, CA);
  for (const body of [slow, large]) caller.post(body);
  await until(() => images.waiting() === 1, 'the first admission waits for its image');
  const slowCharge = slow.length * HEAP_BYTES_PER_BODY_BYTE;
  await until(() => webhook.memory.held > slowCharge && webhook.memory.held < slowCharge + large.length * HEAP_BYTES_PER_BODY_BYTE, 'the large answer, decided, holds a charge of its size while it waits');
  // Its response never closes on its own (it never got the connection): the socket's close must give it back.
  caller.socket.destroy();
  await until(() => webhook.memory.held === slowCharge, 'the queued answer gave its charge back when the connection closed');
  images.release();
  await until(() => webhook.memory.held === 0, 'and the slow one once it was decided');
});

t.test('holdUntilWritten: an answer not written within the bound has its connection cut and gives back its charge', async (t) => {
  class Emitter extends EventEmitter {
    destroyed = false;
    destroy(): void {
      this.destroyed = true;
      this.emit('close');
    }
  }
  const memory = new RequestMemory(1000);
  const stuckSocket = new Emitter();
  const stuck = Object.assign(new Emitter(), { req: { socket: stuckSocket } });
  t.ok(memory.take(200));
  holdUntilWritten(stuck as unknown as ServerResponse, 200, memory, 50);
  t.equal(memory.held, 200, 'kept while it is not written');
  await until(() => stuckSocket.destroyed, 'the connection is cut after the bound');
  t.equal(memory.held, 0, 'and the charge given back');
  stuck.emit('close');
  t.equal(memory.held, 0, 'once only');

  const goneSocket = new Emitter();
  goneSocket.destroyed = true;
  t.ok(memory.take(300));
  holdUntilWritten(Object.assign(new Emitter(), { req: { socket: goneSocket } }) as unknown as ServerResponse, 300, memory, 60_000);
  t.equal(memory.held, 0, 'an answer whose connection is already gone gives back at once');
});

t.test('bodies still arriving may hold half the memory: slow senders cannot take the room parsing needs', async (t) => {
  const webhook = await startWebhook(t, 512 * 1024);
  const trickle = async (bytes: number) => {
    const sender = await rawConnection(t, webhook.port, CA);
    sender.post(`{"pad":"${'x'.repeat(bytes)}`, { declaredLength: 1024 * 1024 });
    return sender;
  };
  const first = await trickle(200 * 1024);
  await until(() => webhook.memory.arriving >= 200 * 1024, 'the first slow body holds what it sent');
  const second = await trickle(100 * 1024);
  await until(() => second.received().startsWith('HTTP/1.1 503 '), 'a second one past half the memory is refused');
  t.ok(webhook.memory.arriving >= 200 * 1024 && webhook.memory.arriving <= 256 * 1024, `bodies arriving hold at most half (${webhook.memory.arriving} bytes)`);
  // Its parse charge (32 x ~9 KB) fits beside the first slow body, not beside both.
  const small = review({ command: ['/app'], size: 9 * 1024 });
  const charge = small.length * HEAP_BYTES_PER_BODY_BYTE;
  t.ok(charge + 200 * 1024 <= 512 * 1024 && charge + 300 * 1024 > 512 * 1024, 'a body that needs the room the second sender would have taken');
  const answer = await post(webhook.port, small);
  t.equal(answer.status, 200, `an admission that has arrived still finds room to be parsed (${answer.body.slice(0, 200)}; held ${webhook.memory.held})`);
  first.socket.destroy();
  await until(() => webhook.memory.held === 0 && webhook.memory.arriving === 0, 'all given back once the slow senders are gone');
});

t.test('a body that declares much and sends little holds about what it sent, not what it declared', async (t) => {
  const webhook = await startWebhook(t, 256 * 1024);
  const senders = 40;
  const before = process.memoryUsage().arrayBuffers;
  const connections = await Promise.all(Array.from({ length: senders }, () => rawConnection(t, webhook.port, CA)));
  // Each declares 1 MiB and sends its body in two pieces: the second makes the server gather them.
  for (const connection of connections) connection.post('{"pad":"', { declaredLength: 1024 * 1024 });
  await until(() => webhook.memory.held >= senders * 8, 'the first pieces arrived');
  for (const connection of connections) connection.socket.write('xxxxxxxx');
  await until(() => webhook.memory.held >= senders * 16, 'the second pieces arrived');
  const grown = process.memoryUsage().arrayBuffers - before;
  t.ok(grown < (senders * 1024 * 1024) / 4, `${senders} bodies of 16 bytes declaring 1 MiB each hold ${Math.round(grown / 1024)} KiB of buffers, not ${senders} MiB`);
  for (const connection of connections) connection.socket.destroy();
  await until(() => webhook.memory.held === 0, 'all given back once they are gone');
});

t.test('a body that stops half way holds about what it sent and is charged for, not twice that', async (t) => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const webhook = await startWebhook(t, 256 * 1024 * 1024);
  const senders = 16;
  // The senders run in a process of their own: what they write is not counted here.
  // Each declares 1 MiB and sends 8 bytes, then 496 KiB in 16 KiB pieces, and stops (a
  // buffer grown by doubling had just grown to 992 KiB); it keeps its connection until told.
  const child = spawn(process.execPath, ['--input-type=module', '-e', HALF_WAY_SENDERS, String(webhook.port), String(senders)], {
    stdio: ['pipe', 'pipe', 'inherit'],
    env: { ...process.env, SENDER_CA: CA },
  });
  t.teardown(() => child.kill());
  // V8 frees the memory of dead buffers on a background thread after a collection: the
  // least of a few collections a little apart is what is still held.
  const held = async () => {
    let least = Infinity;
    for (let i = 0; i < 5; i++) {
      gc();
      await new Promise((resolve) => setTimeout(resolve, 20));
      least = Math.min(least, process.memoryUsage().arrayBuffers);
    }
    return least;
  };
  const before = await held();
  child.stdin.write('go\n');
  const sent = 8 + 31 * 16 * 1024;
  await until(() => webhook.memory.arriving >= senders * sent, 'all pieces arrived');
  const grown = (await held()) - before;
  const charged = webhook.memory.arriving;
  t.ok(grown < charged + senders * 96 * 1024, `${senders} bodies charged ${Math.round(charged / 1024)} KiB hold ${Math.round(grown / 1024)} KiB of buffers`);
  child.stdin.end();
  await until(() => webhook.memory.held === 0, 'all given back once they are gone');
});

/** The half-way senders of the test above: argv port and count, the CA in SENDER_CA; connect, wait for "go" on stdin, send, hold until stdin ends. */
const HALF_WAY_SENDERS = `
import { connect } from 'node:tls';
const [port, count] = process.argv.slice(-2).map(Number);
const sockets = await Promise.all(Array.from({ length: count }, () => new Promise((resolve) => {
  const socket = connect({ host: '127.0.0.1', port, ca: process.env.SENDER_CA, servername: 'localhost' }, () => resolve(socket));
  socket.on('error', () => undefined);
})));
process.stdin.once('data', async () => {
  for (const socket of sockets) socket.write('POST /pods HTTP/1.1\\r\\nHost: x\\r\\nContent-Type: application/json\\r\\nContent-Length: 1048576\\r\\n\\r\\n{"pad":"');
  const piece = 'x'.repeat(16 * 1024);
  for (let i = 0; i < 31; i++) {
    for (const socket of sockets) socket.write(piece);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
});
process.stdin.on('end', () => process.exit(0));
`;
