// Keeping the certificate current: renewal (fake clock), CA rotation, races on update, never going back to
// an older certificate, repairs of the Secret and the caBundle, and the periodic check's timer.
import { X509Certificate } from 'node:crypto';
import t from 'tap';
import type { TlsMaterial } from '../../src/tls/material.js';
import {
  DAY_MS,
  MWC,
  MWC_PATH,
  NS,
  POLICY,
  SECRET,
  SECRETS_PATH,
  SECRET_PATH,
  bundleCerts,
  calls,
  cluster,
  fakeClock,
  issueAt,
  recordingLogger,
  replica,
  secretDataOf,
  storedSecret,
  storedWebhooks,
  until,
  webhook,
} from './fixtures/helpers.js';

function issuerOf(cert: string, cas: X509Certificate[]): X509Certificate | undefined {
  const leaf = new X509Certificate(cert);
  return cas.find((ca) => leaf.checkIssued(ca) && leaf.verify(ca.publicKey));
}

function writes(c: { stub: { requests: Array<{ method: string; path: string }> } }): string[] {
  return c.stub.requests.filter((r) => r.method !== 'GET').map((r) => `${r.method} ${r.path.split('?')[0] ?? ''}`);
}

t.test('within renewBeforeDays: a new serving certificate under the SAME CA; onChange fires; other replicas follow', async (t) => {
  const c = await cluster(t);
  const clock = fakeClock();
  const a = await replica(t, c, { now: clock.now });
  const b = await replica(t, c, { now: clock.now });
  const first = a.current();
  const bundle = a.caBundle();
  const seenA: TlsMaterial[] = [];
  const seenB: TlsMaterial[] = [];
  a.onChange((m) => seenA.push(m));
  b.onChange((m) => seenB.push(m));

  clock.advanceDays(300);
  await a.refresh();
  t.same(seenA, [], 'not due after 300 days: nothing changes');
  t.same(writes(c), [`POST ${SECRETS_PATH}`, `PATCH ${MWC_PATH}`], 'and nothing is written');

  clock.advanceDays(40); // 25 days left < 30
  await a.refresh();
  t.equal(seenA.length, 1, 'onChange fired once');
  const renewed = a.current();
  t.equal(seenA[0], renewed);
  t.not(renewed.cert, first.cert, 'a new serving certificate');
  t.not(renewed.key, first.key, 'with a new key');
  t.equal(a.caBundle(), bundle, 'the same CA');
  const cas = bundleCerts(bundle);
  t.ok(issuerOf(renewed.cert, cas), 'signed by the CA in the caBundle');
  const expected = clock.now().getTime() + 365 * DAY_MS;
  t.ok(Math.abs(renewed.notAfter.getTime() - expected) < 60_000, 'valid 365 days from the (fake) now');
  t.equal(storedSecret(c.stub)?.data['tls.crt'], renewed.cert, 'the Secret was updated');
  t.same(writes(c), [`POST ${SECRETS_PATH}`, `PATCH ${MWC_PATH}`, `PUT ${SECRET_PATH}`], 'the caBundle needed no patch');

  await b.refresh();
  t.equal(b.current().cert, renewed.cert, 'the other replica picks the renewed certificate up');
  t.equal(seenB.length, 1, "and its onChange fires");
  t.equal(writes(c).length, 3, 'without writing anything');
});

t.test('CA near expiry: a new CA, the caBundle carries both during the transition, then only the new one', async (t) => {
  const c = await cluster(t);
  const clock = fakeClock();
  const policy = { validityDays: 10, renewBeforeDays: 2, caValidityDays: 25 };
  const a = await replica(t, c, { now: clock.now, ...policy });
  const b = await replica(t, c, { now: clock.now, ...policy });
  const [ca1] = bundleCerts(a.caBundle());
  if (ca1 === undefined) return;

  clock.advanceDays(9); // leaf due; CA1 has 16 days left, enough for a 10-day leaf + 2
  await a.refresh();
  t.same(bundleCerts(a.caBundle()).map((x) => x.fingerprint256), [ca1.fingerprint256], 'renewed under CA1');
  const underCa1 = a.current();

  clock.advanceDays(9); // day 18: leaf due again; CA1 has 7 days left: too few
  await a.refresh();
  const bundle = bundleCerts(a.caBundle());
  t.equal(bundle.length, 2, 'the bundle holds two CAs');
  const [ca2, old] = bundle;
  t.equal(old?.fingerprint256, ca1.fingerprint256, 'the old CA second');
  t.not(ca2?.fingerprint256, ca1.fingerprint256, 'a new CA first');
  t.equal(issuerOf(a.current().cert, bundle)?.fingerprint256, ca2?.fingerprint256, 'the new certificate is signed by the new CA');
  t.equal(issuerOf(underCa1.cert, bundle)?.fingerprint256, ca1.fingerprint256, 'certificates of the old CA still verify');
  for (const w of storedWebhooks(c.stub).slice(0, 1)) {
    t.same(
      bundleCerts(w.clientConfig.caBundle).map((x) => x.fingerprint256),
      bundle.map((x) => x.fingerprint256),
      'the webhook configuration was patched with both',
    );
  }
  t.equal(storedSecret(c.stub)?.data['ca.crt'], Buffer.from(a.caBundle(), 'base64').toString('utf8'));
  t.ok(
    new X509Certificate(storedSecret(c.stub)?.data['ca.crt'] ?? '').checkPrivateKey(
      (await import('node:crypto')).createPrivateKey(storedSecret(c.stub)?.data['ca.key'] ?? ''),
    ),
    'ca.key is the new CA key',
  );

  await b.refresh();
  t.equal(b.current().cert, a.current().cert, 'the other replica switches to the new CA too');

  clock.advanceDays(9); // day 27: CA1 expired; the leaf is due, CA2 has 16 days left
  await a.refresh();
  t.same(
    bundleCerts(a.caBundle()).map((x) => x.fingerprint256),
    [ca2?.fingerprint256],
    'after the next renewal the old CA is gone from the bundle',
  );
  t.equal(issuerOf(a.current().cert, bundleCerts(a.caBundle()))?.fingerprint256, ca2?.fingerprint256);
});

t.test('a new CA is not served before the caBundle trusts it: the switch waits for the patch', async (t) => {
  const c = await cluster(t);
  const clock = fakeClock();
  const log = recordingLogger();
  const policy = { validityDays: 10, renewBeforeDays: 2, caValidityDays: 25 };
  const source = await replica(t, c, { now: clock.now, logger: log.logger, ...policy });
  clock.advanceDays(9);
  await source.refresh(); // renewed under CA1
  const underCa1 = source.current();
  const changes: TlsMaterial[] = [];
  source.onChange((m) => changes.push(m));

  clock.advanceDays(9); // the CA rotates; every attempt to patch the caBundle loses a race
  for (let i = 0; i < 5; i++) c.stub.conflictOnNextWrite({ resource: 'MutatingWebhookConfiguration' });
  await t.rejects(source.refresh(), { cause: 'conflict', message: /cannot update MutatingWebhookConfiguration secrets-init-webhook: it kept changing/ });
  t.equal(source.current(), underCa1, 'still serving the certificate of the trusted CA');
  t.equal(changes.length, 0);
  t.match(log.text(), /keeping the current serving certificate until the caBundle trusts the new CA/);
  t.not(storedSecret(c.stub)?.data['tls.crt'], underCa1.cert, 'though the Secret already holds the new one');

  await source.refresh();
  t.equal(changes.length, 1, 'switched once the caBundle was patched');
  t.equal(source.current().cert, storedSecret(c.stub)?.data['tls.crt']);
  t.equal(bundleCerts(storedWebhooks(c.stub)[0]?.clientConfig.caBundle).length, 2);
});

t.test('an injected 409 on update: re-read, and use the newer certificate another replica stored', async (t) => {
  const c = await cluster(t);
  const clock = fakeClock();
  const old = await issueAt(new Date(clock.now().getTime() - 340 * DAY_MS)); // 25 days left: due
  c.stub.addSecret(NS, SECRET, secretDataOf(old), 'kubernetes.io/tls');
  const winner = await issueAt(clock.now(), { cert: old.caCerts[0] ?? '', key: old.caKey ?? '' });
  c.stub.conflictOnNextWrite({
    resource: 'Secret',
    beforeReply: () => c.stub.addSecret(NS, SECRET, secretDataOf(winner), 'kubernetes.io/tls'),
  });
  const log = recordingLogger();
  const source = await replica(t, c, { now: clock.now, logger: log.logger });

  t.same(calls(c.stub).slice(0, 3), [`GET ${SECRET_PATH}`, `PUT ${SECRET_PATH}`, `GET ${SECRET_PATH}`]);
  t.equal(writes(c).filter((w) => w.startsWith('PUT')).length, 1, 'no second write');
  t.equal(source.current().cert, winner.cert, "serves the other replica's certificate");
  t.equal(storedSecret(c.stub)?.data['tls.crt'], winner.cert, 'which was not overwritten');
  t.match(log.text(), /changed by another replica meanwhile/);
});

t.test('a 409 with nothing newer stored: re-read, still due, renewed on the next attempt', async (t) => {
  const c = await cluster(t);
  const clock = fakeClock();
  const old = await issueAt(new Date(clock.now().getTime() - 340 * DAY_MS));
  c.stub.addSecret(NS, SECRET, secretDataOf(old), 'kubernetes.io/tls');
  c.stub.conflictOnNextWrite({ resource: 'Secret' });
  const source = await replica(t, c, { now: clock.now });
  t.equal(writes(c).filter((w) => w.startsWith('PUT')).length, 2);
  t.not(source.current().cert, old.cert);
  t.equal(storedSecret(c.stub)?.data['tls.crt'], source.current().cert);
  t.equal(issuerOf(source.current().cert, bundleCerts(source.caBundle()))?.fingerprint256, old.issuer.fingerprint256, 'same CA');
});

t.test('two replicas renewing at once: one update wins, the other re-reads, both serve the winner', async (t) => {
  const c = await cluster(t);
  const clock = fakeClock();
  const a = await replica(t, c, { now: clock.now });
  const b = await replica(t, c, { now: clock.now });
  clock.advanceDays(340);
  c.stub.delayMs = 10;
  await Promise.all([a.refresh(), b.refresh()]);
  const puts = writes(c).filter((w) => w.startsWith('PUT'));
  t.equal(puts.length, 2, 'both tried to update');
  t.equal(a.current().cert, b.current().cert, 'both serve the same certificate');
  t.equal(storedSecret(c.stub)?.data['tls.crt'], a.current().cert, 'the stored one');
});

t.test('a stored older certificate never replaces a newer one: the newer one is kept and written back', async (t) => {
  const c = await cluster(t);
  const clock = fakeClock();
  const log = recordingLogger();
  const source = await replica(t, c, { now: clock.now, logger: log.logger });
  const original = storedSecret(c.stub)?.data ?? {};
  const changes: TlsMaterial[] = [];
  source.onChange((m) => changes.push(m));

  // Another replica stores a newer certificate (same CA) 100 days later; this one takes it.
  clock.advanceDays(100);
  const newer = await issueAt(clock.now(), { cert: original['ca.crt'] ?? '', key: original['ca.key'] ?? '' });
  c.stub.addSecret(NS, SECRET, secretDataOf(newer), 'kubernetes.io/tls');
  await source.refresh();
  t.equal(source.current().cert, newer.cert, 'takes the newer certificate');
  t.equal(changes.length, 1);

  // Then a stale writer (a restored backup, an old replica) puts the older, still valid, one back.
  c.stub.addSecret(NS, SECRET, original, 'kubernetes.io/tls');
  await source.refresh();
  t.equal(source.current().cert, newer.cert, 'keeps serving the newer certificate');
  t.equal(changes.length, 1, 'no change announced');
  t.equal(storedSecret(c.stub)?.data['tls.crt'], newer.cert, 'and puts it back into the Secret');
  t.match(log.text(), /holds an older certificate .* writing the newer one back/);

  // A replica starting now gets the newer one.
  const late = await replica(t, c, { now: clock.now });
  t.equal(late.current().cert, newer.cert);
});

t.test('the Secret deleted while running: recreated with the certificate being served', async (t) => {
  const c = await cluster(t);
  const source = await replica(t, c);
  const cert = source.current().cert;
  c.stub.remove('Secret', NS, SECRET);
  await source.refresh();
  t.equal(storedSecret(c.stub)?.data['tls.crt'], cert);
  t.equal(source.current().cert, cert, 'nothing changes for clients');
});

t.test('the Secret deleted, and a replica starting before the next check: the caBundle keeps the CA the running replica serves', async (t) => {
  const c = await cluster(t);
  const clock = fakeClock();
  const a = await replica(t, c, { now: clock.now });
  const servedByA = a.current().cert;
  clock.advanceDays(1);
  c.stub.remove('Secret', NS, SECRET);
  // e.g. `kubectl delete secret` then `rollout restart`, or a pod rescheduled meanwhile: a new CA.
  const b = await replica(t, c, { now: clock.now });
  t.not(b.caBundle(), a.caBundle(), 'the new replica made a new CA');
  for (const w of storedWebhooks(c.stub).slice(0, 1)) {
    const cas = bundleCerts(w.clientConfig.caBundle);
    t.ok(issuerOf(b.current().cert, cas), "the new replica's certificate is trusted");
    t.ok(issuerOf(servedByA, cas), 'the certificate the running replica still serves stays trusted');
  }
  await a.refresh();
  t.equal(a.current().cert, b.current().cert, 'at its next check the running replica takes the stored certificate');
  t.ok(issuerOf(a.current().cert, bundleCerts(storedWebhooks(c.stub)[0]?.clientConfig.caBundle)), 'which the caBundle trusts');
});

t.test('an unusable Secret is replaced: garbage gets a new CA; a certificate for another Service keeps its CA', async (t) => {
  const c = await cluster(t);
  c.stub.addSecret(NS, SECRET, { 'tls.crt': 'garbage', 'tls.key': 'garbage' }, 'kubernetes.io/tls');
  const log = recordingLogger();
  const first = await replica(t, c, { logger: log.logger });
  t.match(log.text(), /Secret secrets-init\/secrets-init-webhook-tls is not usable: missing ca\.crt/);
  t.equal(storedSecret(c.stub)?.data['tls.crt'], first.current().cert);
  t.equal(storedSecret(c.stub)?.type, 'kubernetes.io/tls');

  // A set issued for another Service under a CA whose key is in the Secret.
  const foreign = await issueAt(new Date(), undefined, { ...POLICY, service: 'other-webhook' });
  c.stub.addSecret(NS, SECRET, { ...secretDataOf(foreign), extra: 'kept' }, 'kubernetes.io/tls');
  const log2 = recordingLogger();
  const second = await replica(t, c, { logger: log2.logger });
  t.match(log2.text(), /is not usable: tls\.crt does not cover secrets-init-webhook, /);
  t.same(second.current().subjectAltNames.length, 4);
  t.equal(bundleCerts(second.caBundle())[0]?.fingerprint256, foreign.issuer.fingerprint256, 'the CA is reused');
  t.equal(storedSecret(c.stub)?.data['extra'], 'kept', 'other keys of the Secret are kept');
});

t.test('a Secret without ca.key is used while valid; at renewal a new CA, the old one kept during the transition', async (t) => {
  const c = await cluster(t);
  const clock = fakeClock();
  const made = await issueAt(clock.now());
  const { 'ca.key': _dropped, ...withoutCaKey } = secretDataOf(made);
  c.stub.addSecret(NS, SECRET, withoutCaKey, 'kubernetes.io/tls');
  const source = await replica(t, c, { now: clock.now });
  t.equal(source.current().cert, made.cert, 'used as it is');
  clock.advanceDays(340);
  await source.refresh();
  const bundle = bundleCerts(source.caBundle());
  t.equal(bundle.length, 2);
  t.equal(bundle[1]?.fingerprint256, made.issuer.fingerprint256, 'the old CA is still trusted');
  t.not(issuerOf(source.current().cert, bundle)?.fingerprint256, made.issuer.fingerprint256, 'signed by a new CA');
  t.ok(storedSecret(c.stub)?.data['ca.key'], 'whose key is stored');
});

t.test('a caBundle reset by someone else (e.g. a chart upgrade) is patched again by the next check', async (t) => {
  const c = await cluster(t);
  const source = await replica(t, c);
  c.stub.addMutatingWebhookConfiguration(MWC, [webhook('pods.secrets-init.doit-intl.com', undefined, undefined, '')]);
  await source.refresh();
  t.equal(storedWebhooks(c.stub)[0]?.clientConfig.caBundle, source.caBundle());
});

t.test('the configuration changed between our read and our patch: the test op fails (422), re-read, patch again', async (t) => {
  const c = await cluster(t);
  c.stub.beforeNextWrite({
    resource: 'MutatingWebhookConfiguration',
    run: () => c.stub.addMutatingWebhookConfiguration(MWC, [webhook('pods.secrets-init.doit-intl.com'), webhook('new.example.com')]),
  });
  const log = recordingLogger();
  const source = await replica(t, c, { logger: log.logger });
  t.same(
    calls(c.stub).filter((call) => call.endsWith(MWC_PATH)),
    [`GET ${MWC_PATH}`, `PATCH ${MWC_PATH}`, `GET ${MWC_PATH}`, `PATCH ${MWC_PATH}`],
  );
  const webhooks = storedWebhooks(c.stub);
  t.same(webhooks.map((w) => w.name), ['pods.secrets-init.doit-intl.com', 'new.example.com'], "the other writer's change is kept");
  t.same(webhooks.map((w) => w.clientConfig.caBundle), [source.caBundle(), source.caBundle()]);
  t.match(log.text(), /MutatingWebhookConfiguration secrets-init-webhook was changed meanwhile/);
});

t.test('the periodic check renews on its own, logs and retries failures, and close() stops it', async (t) => {
  const c = await cluster(t);
  const clock = fakeClock();
  const log = recordingLogger();
  const source = await replica(t, c, { now: clock.now, checkIntervalMs: 20, logger: log.logger });
  const changes: TlsMaterial[] = [];
  source.onChange((m) => changes.push(m));

  t.ok(await until(() => c.stub.requests.length >= 8), 'checks run on the timer');
  t.equal(changes.length, 0);

  c.stub.failWith(500, 2);
  t.ok(await until(() => log.lines.some((l) => l.level === 'error')), 'a failed check is logged');
  t.match(log.lines.find((l) => l.level === 'error')?.message, /certificate check failed, retrying in 20ms: cannot get Secret secrets-init\/secrets-init-webhook-tls: API server error \(HTTP 500\)/);

  clock.advanceDays(340);
  t.ok(await until(() => changes.length === 1), 'the timer renews the certificate when due');
  t.equal(storedSecret(c.stub)?.data['tls.crt'], source.current().cert);

  await source.close();
  await source.close(); // idempotent
  const count = c.stub.requests.length;
  await new Promise((resolve) => setTimeout(resolve, 100));
  t.equal(c.stub.requests.length, count, 'no requests after close()');
  await t.rejects(source.refresh(), { name: 'BootstrapError', cause: 'closed' });
  t.equal(source.current().cert, changes[0]?.cert, 'current() still answers after close');
});

t.test('close() during a slow check aborts its request promptly', async (t) => {
  const c = await cluster(t);
  const source = await replica(t, c, { timeoutMs: 60_000 });
  c.stub.delayMs = 30_000;
  const check = source.refresh();
  t.ok(await until(() => c.stub.openConnections > 0 && c.stub.requests.length > 4), 'the check is waiting on the API server');
  const started = Date.now();
  await source.close();
  t.ok(Date.now() - started < 1000, 'close did not wait for the API server');
  await t.rejects(check, { cause: 'closed' });
});
