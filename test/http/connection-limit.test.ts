/**
 * --max-connections over real TLS and TCP: past the bound a new connection is closed before
 * its handshake while the open ones keep being served, each drop is counted, the open
 * connections are exported, and a flood of drops is logged once per window, not per drop.
 */
import t from 'tap';
import type { Test } from 'tap';
import { connect as tcpConnect, createServer } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { TLSSocket } from 'node:tls';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { buildApp, buildTelemetryApp } from '../../src/http/app.js';
import { limitConnections } from '../../src/http/connection-limit.js';
import { readinessFlag } from '../../src/http/health-routes.js';
import { staticImageConfigs } from '../../src/images/image-config-source.js';
import { unconfiguredReader } from '../../src/kubernetes/object-reader.js';
import { createMetrics } from '../../src/telemetry/metrics.js';
import type { WebhookMetrics } from '../../src/telemetry/metrics.js';
import { loadTlsMaterial } from '../../src/tls/material.js';
import type { TlsSource } from '../../src/tls/source.js';
import { SETTINGS } from '../helpers/pods.js';
import { makeTestCertificates } from '../helpers/certs.js';

const certs = await makeTestCertificates('ec-pkcs8');
t.teardown(() => certs.cleanup());
const material = await loadTlsMaterial(certs.certFile, certs.keyFile);
const staticTls: TlsSource = { current: () => material, onChange: () => () => undefined, close: async () => undefined };

const REVIEW = JSON.stringify({
  apiVersion: 'admission.k8s.io/v1',
  kind: 'AdmissionReview',
  request: { uid: 'u-1', kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE', namespace: 'ns', object: { metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'busybox' }] } } },
});

/** The value of a metric's series with `listener`, from a scrape. */
async function metric(metrics: WebhookMetrics, name: string, listener: string): Promise<number | undefined> {
  const text = await metrics.registry.metrics();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{listener="${listener}"}`));
  return line === undefined ? undefined : Number(line.split(' ').pop());
}

/** A TLS connection: resolves when its handshake completes, or with the reason it did not. */
function tlsOpen(port: number): Promise<{ socket: TLSSocket; connected: boolean }> {
  return new Promise((resolve) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, ca: certs.caPem, servername: 'localhost' });
    socket.once('secureConnect', () => resolve({ socket, connected: true }));
    socket.once('error', () => resolve({ socket, connected: false }));
    socket.once('close', () => resolve({ socket, connected: false }));
  });
}

/** One admission on an open connection: the status line of its answer. */
function admit(socket: TLSSocket): Promise<string> {
  return new Promise((resolve) => {
    let received = '';
    const onData = (chunk: Buffer) => {
      received += chunk.toString('latin1');
      if (received.includes('\r\n\r\n') && received.includes('"uid":"u-1"')) {
        socket.off('data', onData);
        resolve(received.split('\r\n')[0] ?? '');
      }
    };
    socket.on('data', onData);
    socket.write(`POST /pods HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(REVIEW)}\r\n\r\n${REVIEW}`);
  });
}

async function startWebhook(t: Test, maxConnections: number): Promise<{ port: number; metrics: WebhookMetrics }> {
  const readiness = readinessFlag();
  readiness.set(true);
  const metrics = createMetrics({ processMetrics: false });
  const app = await buildApp({
    logger: pino({ level: 'silent' }),
    admission: { settings: SETTINGS, maxConcurrentReads: 8, admissionTimeoutMs: 8_000, objects: unconfiguredReader(), images: staticImageConfigs({}) },
    metrics,
    readiness,
    maxRequestBytes: 1024 * 1024,
    serveMetrics: false,
    tls: staticTls,
    maxConnections,
  });
  t.teardown(() => app.close());
  await app.listen({ host: '127.0.0.1', port: 0 });
  return { port: (app.server.address() as AddressInfo).port, metrics };
}

t.test('past --max-connections a new connection is closed before its handshake; the open ones are served', async (t) => {
  const webhook = await startWebhook(t, 3);
  t.equal(await metric(webhook.metrics, 'secrets_init_webhook_connections_dropped_total', 'webhook'), 0, 'exported at 0 from the start');
  const open = await Promise.all([1, 2, 3].map(() => tlsOpen(webhook.port)));
  t.teardown(() => open.forEach(({ socket }) => socket.destroy()));
  t.ok(open.every((c) => c.connected), 'three connections: up to the bound');
  t.equal(await metric(webhook.metrics, 'secrets_init_webhook_open_connections', 'webhook'), 3);

  const fourth = await tlsOpen(webhook.port);
  t.notOk(fourth.connected, 'the fourth is closed without a handshake');
  t.equal(await metric(webhook.metrics, 'secrets_init_webhook_connections_dropped_total', 'webhook'), 1, 'and counted');
  t.match(await admit(open[0]!.socket), /^HTTP\/1\.1 200 /, 'an open connection still gets its admission answered');

  open[1]!.socket.destroy();
  // The server sees the close shortly after; a new connection then fits.
  let fifth = await tlsOpen(webhook.port);
  for (let i = 0; !fifth.connected && i < 50; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    fifth = await tlsOpen(webhook.port);
  }
  t.teardown(() => fifth.socket.destroy());
  t.ok(fifth.connected, 'once one closed, a new connection is accepted');
  t.match(await admit(fifth.socket), /^HTTP\/1\.1 200 /);
});

t.test('the telemetry listener has the same bound', async (t) => {
  const readiness = readinessFlag();
  readiness.set(true);
  const metrics = createMetrics({ processMetrics: false });
  const app = await buildTelemetryApp({ logger: pino({ level: 'silent' }), metrics, readiness, maxConnections: 1 });
  t.teardown(() => app.close());
  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.server.address() as AddressInfo).port;
  const first = tcpConnect({ host: '127.0.0.1', port });
  t.teardown(() => first.destroy());
  await new Promise((resolve) => first.once('connect', resolve));
  const second = tcpConnect({ host: '127.0.0.1', port });
  second.on('error', () => undefined);
  let answer = '';
  second.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
  second.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
  await new Promise((resolve) => second.once('close', resolve));
  t.equal(answer, '', 'the second connection is closed unanswered');
  t.equal(await metric(metrics, 'secrets_init_webhook_connections_dropped_total', 'telemetry'), 1);
});

t.test('a flood of dropped connections is logged once per window, with the count', async (t) => {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'info' }, new Writable({ write(chunk: Buffer, _encoding, done) { lines.push(JSON.parse(chunk.toString('utf8')) as Record<string, unknown>); done(); } }));
  const metrics = createMetrics({ processMetrics: false });
  const held: Socket[] = [];
  const server = createServer((socket) => held.push(socket));
  limitConnections(server, { max: 1, listener: 'webhook', metrics, logger, warnEveryMs: 3_000 });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    held.forEach((s) => s.destroy());
    server.close();
  });
  const port = (server.address() as AddressInfo).port;
  const first = tcpConnect({ host: '127.0.0.1', port });
  t.teardown(() => first.destroy());
  while (held.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
  // Each of these is accepted by the kernel, then closed by the server: wait for the close.
  const dropped = () =>
    new Promise<void>((resolve) => {
      const socket = tcpConnect({ host: '127.0.0.1', port });
      socket.on('error', () => undefined);
      socket.once('close', () => resolve());
    });
  for (let i = 0; i < 5; i++) await dropped();
  const warnings = () => lines.filter((l) => typeof l['msg'] === 'string' && (l['msg'] as string).startsWith('connections dropped'));
  t.equal(await metric(metrics, 'secrets_init_webhook_connections_dropped_total', 'webhook'), 5, 'each drop counted');
  t.match(warnings()[0], { level: 40, listener: 'webhook', maxConnections: 1, dropped: 1, msg: 'connections dropped: 1 (--max-connections) were open' }, 'the first drop is logged at once');
  t.ok(warnings().length < 5, `the others wait for the window (${warnings().length} lines so far for 5 drops)`);
  const started = Date.now();
  const logged = () => warnings().reduce((n, l) => n + Number(l['dropped']), 0);
  while (logged() < 5 && Date.now() - started < 10_000) await new Promise((resolve) => setTimeout(resolve, 20));
  t.equal(logged(), 5, 'the window ends with a line for the rest, with their count');
  // The five came within a few ms; only a stall of a whole window could split them further.
  t.equal(warnings().length, 2, 'two lines for five drops');
});
