/**
 * The keep-alive agents reads use: one per set of TLS settings, so that a rotated client
 * certificate (or another kubeconfig's CA) gets connections of its own, and only a few kept.
 */
import { Agent as HttpsAgent } from 'node:https';
import t from 'tap';
import { createAgentPool } from '../../src/kubernetes/agent-pool.js';
import { makeLoopbackCertificates } from '../helpers/certs.js';

const first = await makeLoopbackCertificates();
const rotated = await makeLoopbackCertificates();

t.test('the same TLS settings share one agent; other settings get their own', async (t) => {
  const pool = createAgentPool();
  t.teardown(() => pool.close());
  const a = pool.reuse(new HttpsAgent({ ca: first.caCert, cert: first.cert, key: first.key }));
  t.ok(a instanceof HttpsAgent);
  t.equal(pool.reuse(new HttpsAgent({ ca: first.caCert, cert: first.cert, key: first.key })), a, 'same settings, same agent');
  t.not(pool.reuse(new HttpsAgent({ ca: first.caCert, cert: rotated.cert, key: rotated.key })), a, 'a rotated client certificate');
  t.not(pool.reuse(new HttpsAgent({ ca: rotated.caCert, cert: first.cert, key: first.key })), a, 'another CA');
  t.not(pool.reuse(new HttpsAgent({ ca: first.caCert, cert: first.cert, key: first.key, rejectUnauthorized: false })), a, 'verification off');
  const plain = new HttpsAgent({ ca: first.caCert });
  class ProxyAgent extends HttpsAgent {}
  const proxy = new ProxyAgent();
  t.equal(pool.reuse(proxy), proxy, 'another kind of agent is used as it is');
  t.not(pool.reuse(plain), plain);
});

t.test('past 4 settings the oldest agent is closed and a later read of its settings gets a new one', async (t) => {
  const pool = createAgentPool();
  t.teardown(() => pool.close());
  const settings = (n: number) => new HttpsAgent({ ca: first.caCert, servername: `host-${n}.example` });
  const oldest = pool.reuse(settings(0)) as HttpsAgent;
  for (let n = 1; n <= 3; n++) pool.reuse(settings(n));
  t.equal(pool.reuse(settings(0)), oldest, 'four are kept');
  // settings(0) is now the oldest by creation still: a fifth closes it.
  pool.reuse(settings(4));
  t.not(pool.reuse(settings(0)), oldest, 'the oldest was dropped');
});
