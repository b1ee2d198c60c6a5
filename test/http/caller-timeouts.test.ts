/**
 * Slow and stalled callers, over real TLS and TCP: each is cut off within its bound (short
 * ones here, through `callerTimeouts`) while the server keeps answering others, and a
 * healthy keep-alive connection is not.
 */
import t from 'tap';
import type { Test } from 'tap';
import { connect as tcpConnect } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { Server } from 'node:http';
import { pino } from 'pino';
import { buildApp, buildTelemetryApp } from '../../src/http/app.js';
import type { CallerTimeouts } from '../../src/http/caller-timeouts.js';
import { API_SERVER_IDLE_MS, CALLER_TIMEOUTS } from '../../src/http/caller-timeouts.js';
import { readinessFlag } from '../../src/http/health-routes.js';
import { createMetrics } from '../../src/telemetry/metrics.js';
import { staticImageConfigs } from '../../src/images/image-config-source.js';
import { unconfiguredReader } from '../../src/kubernetes/object-reader.js';
import { loadTlsMaterial } from '../../src/tls/material.js';
import type { TlsSource } from '../../src/tls/source.js';
import { SETTINGS } from '../helpers/pods.js';
import { makeTestCertificates } from '../helpers/certs.js';

const SHORT: CallerTimeouts = { handshakeMs: 500, requestMs: 500, sweepMs: 100, keepAliveMs: 1_500 };
/** Longest a stalled caller may stay connected with SHORT: its bound, one sweep, and slack for a loaded machine. */
const CUT_OFF_WITHIN_MS = 3_000;
/** How long a test waits before calling a connection still open. */
const GIVE_UP_MS = 8_000;

const REVIEW = JSON.stringify({
  apiVersion: 'admission.k8s.io/v1',
  kind: 'AdmissionReview',
  request: { uid: 'u-1', kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE', namespace: 'ns', object: { metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'busybox' }] } } },
});

const certs = await makeTestCertificates('ec-pkcs8');
t.teardown(() => certs.cleanup());
const material = await loadTlsMaterial(certs.certFile, certs.keyFile);
const staticTls: TlsSource = { current: () => material, onChange: () => () => undefined, close: async () => undefined };

async function startWebhook(t: Test, callerTimeouts?: CallerTimeouts): Promise<{ port: number; server: Server }> {
  const readiness = readinessFlag();
  readiness.set(true);
  const app = await buildApp({
    logger: pino({ level: 'silent' }),
    admission: { settings: SETTINGS, maxConcurrentReads: 8, admissionTimeoutMs: 8_000, objects: unconfiguredReader(), images: staticImageConfigs({}) },
    metrics: createMetrics({ processMetrics: false }),
    readiness,
    maxRequestBytes: 1024 * 1024,
    serveMetrics: false,
    tls: staticTls,
    ...(callerTimeouts !== undefined ? { callerTimeouts } : {}),
  });
  t.teardown(() => app.close());
  await app.listen({ host: '127.0.0.1', port: 0 });
  return { port: (app.server.address() as AddressInfo).port, server: app.server as unknown as Server };
}

interface Ending {
  /** Milliseconds from connecting until the server closed the connection; undefined when it was still open after GIVE_UP_MS. */
  closedAfterMs?: number;
  /** What the server sent. */
  received: string;
}

/** Waits until the server closes `socket` (or GIVE_UP_MS pass: then the test closes it). */
function ending(socket: Socket, startedAt: number): Promise<Ending> {
  return new Promise((resolve) => {
    let received = '';
    let gaveUp = false;
    const timer = setTimeout(() => {
      gaveUp = true;
      socket.destroy();
    }, GIVE_UP_MS);
    socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(gaveUp ? { received } : { closedAfterMs: Date.now() - startedAt, received });
    });
  });
}

/** A TLS connection to `port` that, once secure, does `behave` and then waits to be closed. */
function tlsCaller(port: number, behave: (socket: Socket) => void): Promise<Ending> {
  const startedAt = Date.now();
  const socket = tlsConnect({ host: '127.0.0.1', port, ca: certs.caPem, servername: 'localhost' }, () => behave(socket));
  return ending(socket, startedAt);
}

/** Writes `text` one byte every 50 ms until the socket closes: always active, never done. */
function trickle(socket: Socket, text: string): void {
  let at = 0;
  const timer = setInterval(() => {
    if (socket.destroyed || at >= text.length) clearInterval(timer);
    else socket.write(text[at++] ?? '');
  }, 50);
  socket.once('close', () => clearInterval(timer));
}

const HEAD = `POST /pods HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${REVIEW.length}\r\n\r\n`;

/** One admission on its own connection; resolves with the HTTP status line. */
function admit(port: number): Promise<string> {
  return tlsCaller(port, (socket) => socket.write(`${HEAD.replace('HTTP/1.1\r\n', 'HTTP/1.1\r\nConnection: close\r\n')}${REVIEW}`)).then((end) => end.received.split('\r\n')[0] ?? '');
}

function cutOff(t: Test, end: Ending, what: string): void {
  t.ok(end.closedAfterMs !== undefined && end.closedAfterMs <= CUT_OFF_WITHIN_MS, `${what}: closed by the server within ${CUT_OFF_WITHIN_MS} ms (after ${end.closedAfterMs ?? `more than ${GIVE_UP_MS}`} ms)`);
}

t.test('a connection that never starts the TLS handshake is closed after handshakeMs', async (t) => {
  const { port } = await startWebhook(t, SHORT);
  const startedAt = Date.now();
  const end = await ending(tcpConnect(port, '127.0.0.1'), startedAt);
  cutOff(t, end, 'silent TCP connection');
  t.ok((end.closedAfterMs ?? 0) >= SHORT.handshakeMs - 50, `not before handshakeMs (${end.closedAfterMs} ms)`);
});

t.test('stalled requests get 408 and are closed within requestMs, while others are answered', async (t) => {
  const { port } = await startWebhook(t, SHORT);
  const stalled = {
    'nothing sent': tlsCaller(port, () => undefined),
    'half the headers': tlsCaller(port, (socket) => socket.write(HEAD.slice(0, 40))),
    'half the body': tlsCaller(port, (socket) => socket.write(HEAD + REVIEW.slice(0, 50))),
    // Always active: an inactivity timeout would never fire for it; the request's bound does.
    'a byte every 50 ms': tlsCaller(port, (socket) => trickle(socket, HEAD + REVIEW)),
  };
  // While all four hang, an admission on another connection is answered.
  const answered = await admit(port);
  t.equal(answered, 'HTTP/1.1 200 OK', 'an admission is answered while four callers stall');
  for (const [what, pending] of Object.entries(stalled)) {
    const end = await pending;
    cutOff(t, end, what);
    t.match(end.received, /^HTTP\/1\.1 408 /, `${what}: answered 408 Request Timeout`);
    t.ok((end.closedAfterMs ?? 0) >= SHORT.requestMs - 50, `${what}: not before requestMs (${end.closedAfterMs} ms)`);
  }
});

t.test('a healthy keep-alive connection idle for longer than requestMs stays usable', async (t) => {
  const { port } = await startWebhook(t, SHORT);
  const startedAt = Date.now();
  const socket = tlsConnect({ host: '127.0.0.1', port, ca: certs.caPem, servername: 'localhost' });
  const statuses: string[] = [];
  let buffered = '';
  socket.on('data', (chunk: Buffer) => {
    buffered += chunk.toString('latin1');
    // Each answer is one JSON body after its headers; count status lines.
    for (let at = buffered.indexOf('HTTP/1.1 '); at >= 0; at = buffered.indexOf('HTTP/1.1 ')) {
      statuses.push(buffered.slice(at, buffered.indexOf('\r\n', at)));
      buffered = buffered.slice(at + 9);
    }
  });
  const closed = ending(socket, startedAt);
  await new Promise<void>((resolve) => socket.once('secureConnect', () => resolve()));
  socket.write(HEAD + REVIEW);
  for (let i = 0; i < 100 && statuses.length < 1; i++) await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, SHORT.requestMs + 4 * SHORT.sweepMs));
  t.notOk(socket.destroyed, 'still open after requestMs and several sweeps');
  socket.write(HEAD + REVIEW);
  for (let i = 0; i < 100 && statuses.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
  t.same(statuses, ['HTTP/1.1 200 OK', 'HTTP/1.1 200 OK'], 'both admissions answered on the one connection');
  socket.end();
  await closed;
});

t.test('the telemetry listener cuts off a trickling caller too', async (t) => {
  const readiness = readinessFlag();
  const app = await buildTelemetryApp({ logger: pino({ level: 'silent' }), metrics: createMetrics({ processMetrics: false }), readiness, callerTimeouts: SHORT });
  t.teardown(() => app.close());
  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.server.address() as AddressInfo).port;
  const startedAt = Date.now();
  const socket = tcpConnect(port, '127.0.0.1', () => trickle(socket, 'GET /metrics HTTP/1.1\r\nHost: localhost\r\nX-Padding: ' + 'x'.repeat(200) + '\r\n\r\n'));
  const end = await ending(socket, startedAt);
  cutOff(t, end, 'trickled GET /metrics');
  t.match(end.received, /^HTTP\/1\.1 408 /, 'answered 408 Request Timeout');
});

t.test('an idle keep-alive connection is closed by the server after keepAliveMs, not before', async (t) => {
  const { port } = await startWebhook(t, SHORT);
  const startedAt = Date.now();
  let answeredAt: number | undefined;
  const socket = tlsConnect({ host: '127.0.0.1', port, ca: certs.caPem, servername: 'localhost' });
  socket.on('data', (chunk: Buffer) => {
    if (answeredAt === undefined && chunk.toString('latin1').startsWith('HTTP/1.1 200 ')) answeredAt = Date.now();
  });
  const closed = ending(socket, startedAt);
  await new Promise<void>((resolve) => socket.once('secureConnect', () => resolve()));
  socket.write(HEAD + REVIEW);
  const end = await closed;
  t.ok(answeredAt !== undefined, 'the admission was answered');
  const idleMs = (end.closedAfterMs ?? GIVE_UP_MS) - ((answeredAt ?? startedAt) - startedAt);
  t.ok(end.closedAfterMs !== undefined, 'the server closed the idle connection');
  t.ok(idleMs >= SHORT.keepAliveMs - 50 && idleMs <= SHORT.keepAliveMs + CUT_OFF_WITHIN_MS, `after about keepAliveMs idle (${idleMs} ms)`);
});

t.test('by default: CALLER_TIMEOUTS, and no inactivity timer per connection', async (t) => {
  const { server } = await startWebhook(t);
  t.equal(server.requestTimeout, CALLER_TIMEOUTS.requestMs, 'requestTimeout');
  // The API server sends a POST on an idle connection it still holds and does not send it
  // again when that fails: an idle connection must stay open longer than it keeps one, so
  // that it is always the API server that closes it. (Fastify's default, 72 s, made a
  // pod's admission fail with EOF when it came as the webhook closed the connection.)
  t.ok(server.keepAliveTimeout > API_SERVER_IDLE_MS, `idle keep-alive connections outlive the API server's (${server.keepAliveTimeout} ms > ${API_SERVER_IDLE_MS} ms)`);
  t.equal(server.keepAliveTimeout, CALLER_TIMEOUTS.keepAliveMs, 'keepAliveTimeout');
  t.ok(server.headersTimeout > 0 && server.headersTimeout <= CALLER_TIMEOUTS.requestMs, `headers within the request's bound (${server.headersTimeout} ms)`);
  t.equal(server.timeout, 0, 'no socket inactivity timeout');
});
