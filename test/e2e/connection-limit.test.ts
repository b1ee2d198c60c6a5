/**
 * --max-connections through the built server: past the bound a new connection is closed
 * before its handshake, the drop shows in /metrics (telemetry listener) and in one warning,
 * and the connections already open keep being answered.
 */
import t from 'tap';
import { connect as tlsConnect } from 'node:tls';
import type { TLSSocket } from 'node:tls';
import { makeTestCertificates } from '../helpers/certs.js';
import { startWebhook } from '../helpers/webhook-process.js';
import { exampleReview, metricValue, parseAnswer, postReview, send } from './fixtures/support.js';

const certs = await makeTestCertificates('ec-pkcs8');
t.teardown(certs.cleanup);
const hook = await startWebhook(
  ['server', `--tls-cert-file=${certs.certFile}`, `--tls-private-key-file=${certs.keyFile}`, '--telemetry-listen-address=127.0.0.1:0', '--max-connections=2'],
  {},
  { t },
);
const port = Number(new URL(hook.url).port);

function open(): Promise<{ socket: TLSSocket; connected: boolean }> {
  return new Promise((resolve) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, ca: certs.caPem, servername: 'localhost' });
    socket.once('secureConnect', () => resolve({ socket, connected: true }));
    socket.once('error', () => resolve({ socket, connected: false }));
    socket.once('close', () => resolve({ socket, connected: false }));
  });
}

t.test('the third connection of --max-connections=2 is dropped, counted and logged', async (t) => {
  const held = [await open(), await open()];
  t.teardown(() => held.forEach(({ socket }) => socket.destroy()));
  t.ok(held.every((c) => c.connected), 'two connections are served');
  const third = await open();
  t.notOk(third.connected, 'the third is closed before its handshake');

  const telemetryUrl = hook.telemetryUrl;
  if (telemetryUrl === undefined) throw new Error('no telemetry listener');
  const text = (await send(`${telemetryUrl}/metrics`)).text;
  t.equal(metricValue(text, 'secrets_init_webhook_connections_dropped_total', { listener: 'webhook' }), 1);
  t.equal(metricValue(text, 'secrets_init_webhook_connections_dropped_total', { listener: 'telemetry' }), 0);
  t.equal(metricValue(text, 'secrets_init_webhook_open_connections', { listener: 'webhook' }), 2);
  t.equal(metricValue(text, 'secrets_init_webhook_open_connections', { listener: 'telemetry' }), 1, 'the scrape itself');
  const warnings = () => hook.jsonLogs().filter((l) => l['msg'] === 'connections dropped: 2 (--max-connections) were open');
  // The log comes through a pipe, batched per turn of the server's event loop: wait for it.
  for (let i = 0; warnings().length === 0 && i < 100; i++) await new Promise((resolve) => setTimeout(resolve, 20));
  t.equal(warnings().length, 1, 'one warning');
  t.match(warnings()[0], { level: 40, listener: 'webhook', maxConnections: 2, dropped: 1 });

  // One held connection closes; an admission on a new one is answered.
  held[0]!.socket.destroy();
  let answer: ReturnType<typeof parseAnswer> | undefined;
  for (let i = 0; answer === undefined && i < 50; i++) {
    try {
      answer = parseAnswer(await postReview(hook.url, exampleReview(), { ca: certs.caPem, servername: 'localhost' }));
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
  t.equal(answer?.response.allowed, true, 'a new connection is served once one closed');
});
