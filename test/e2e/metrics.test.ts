/**
 * The operator's view through /metrics of the built server: admissions by result and dry
 * run, object reads by kind and result, image config lookups and registry requests, the
 * serving certificate's expiry and reloads, and the build. No label carries pod data.
 */
import { X509Certificate } from 'node:crypto';
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { makeLoopbackCertificates, makeTestCertificates } from '../helpers/certs.js';
import { pushImage, startRegistry } from '../helpers/registry.js';
import { startStubApiServer } from '../helpers/stub-apiserver.js';
import { startWebhook } from '../helpers/webhook-process.js';
import { metricValue, parseAnswer, postReview, reviewOf, send } from './fixtures/support.js';
import type { Pod } from './fixtures/support.js';

const NS = 'team-m';
const ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:metrics-AbCdEf';
const certs = await makeTestCertificates('ec-pkcs8');
t.teardown(certs.cleanup);
const stub = await startStubApiServer();
t.teardown(() => stub.close());
stub.addSecret(NS, 'db', { password: ARN });
stub.forbid('Secret', NS, 'locked');
const registry = await startRegistry();
t.teardown(() => registry.close());
await pushImage(registry, 'team/app', '1.0', { entrypoint: ['/entry'], cmd: ['run'] });

const hook = await startWebhook(
  // --object-cache-ttl=0: each admission reads its objects, so the counts below are exact.
  ['server', `--tls-cert-file=${certs.certFile}`, `--tls-private-key-file=${certs.keyFile}`, `--insecure-registries=${registry.host}`, '--object-cache-ttl=0'],
  { KUBECONFIG: stub.kubeconfigPath, SECRETS_INIT_WEBHOOK_VERSION: '9.8.7', SECRETS_INIT_WEBHOOK_REVISION: 'abc123' },
  { t },
);
const tls = { ca: certs.caPem };

async function metrics(): Promise<string> {
  return (await send(`${hook.url}/metrics`, tls)).text;
}

async function admit(pod: Pod, dryRun = false): Promise<void> {
  const review = reviewOf(pod, NS);
  review.request['dryRun'] = dryRun;
  parseAnswer(await postReview(hook.url, review, tls));
}

const secretRef = (name: string) => [{ name: 'DB', valueFrom: { secretKeyRef: { name, key: 'password' } } }];

t.test('admissions, object reads, image lookups and registry requests are counted, by outcome only', async (t) => {
  const image = `${registry.host}/team/app:1.0`;
  await admit({ metadata: { name: 'a' }, spec: { containers: [{ name: 'app', image, env: secretRef('db') }] } });
  await admit({ metadata: { name: 'b' }, spec: { containers: [{ name: 'app', image, env: secretRef('db') }] } }, true);
  await admit({ metadata: { name: 'c' }, spec: { containers: [{ name: 'app', image: 'x:1', command: ['/x'], env: secretRef('missing') }] } });
  await admit({ metadata: { name: 'd' }, spec: { containers: [{ name: 'app', image: 'x:1', command: ['/x'], env: secretRef('locked') }] } });
  const text = await metrics();
  const value = (name: string, labels: Record<string, string>) => metricValue(text, `secrets_init_webhook_${name}`, labels);
  t.equal(value('admissions_total', { result: 'injected', dry_run: 'false' }), 1);
  t.equal(value('admissions_total', { result: 'injected', dry_run: 'true' }), 1);
  t.equal(value('admissions_total', { result: 'denied', dry_run: 'false' }), 2);
  t.equal(value('object_lookups_total', { kind: 'Secret', result: 'found' }), 2);
  t.equal(value('object_lookups_total', { kind: 'Secret', result: 'not_found' }), 1);
  t.equal(value('object_lookups_total', { kind: 'Secret', result: 'forbidden' }), 1);
  t.equal(value('object_lookups_total', { kind: 'ServiceAccount', result: 'not_found' }), 1, "the pod's ServiceAccount, read for pull secrets once");
  t.equal(value('object_lookup_duration_seconds_count', { kind: 'Secret' }), 4);
  t.equal(value('image_config_lookups_total', { result: 'fetched' }), 1);
  t.equal(value('image_config_lookups_total', { result: 'cache_hit' }), 1);
  t.ok((value('registry_requests_total', { kind: 'manifest', code: '200' }) ?? 0) >= 2, 'tag and manifest');
  t.equal(value('registry_requests_total', { kind: 'blob', code: '200' }), 1, 'the config blob');
  t.ok((value('admission_duration_seconds_count', { result: 'injected' }) ?? 0) === 2);
  t.equal(value('build_info', { version: '9.8.7', revision: 'abc123', node_version: process.version }), 1);
  t.notMatch(text, /team-m|db|locked|team\/app|\ba\b"/, 'no namespace, object, image or pod name in any label');
});

t.test('the serving certificate: its expiry, and each reload that succeeded or failed', async (t) => {
  const expiry = () => metricValue(text, 'secrets_init_webhook_tls_certificate_expiry_timestamp_seconds');
  let text = await metrics();
  t.equal(expiry(), Math.floor(new Date(new X509Certificate(certs.certPem).validTo).getTime() / 1000));
  // A new pair, written the way a file is replaced atomically.
  const next = await makeLoopbackCertificates({ keyType: 'ec' });
  await writeFile(join(certs.dir, 'next-key.pem'), next.key);
  await writeFile(join(certs.dir, 'next-cert.pem'), next.cert);
  await rename(join(certs.dir, 'next-key.pem'), certs.keyFile);
  await rename(join(certs.dir, 'next-cert.pem'), certs.certFile);
  for (let i = 0; i < 60 && metricValue(text, 'secrets_init_webhook_tls_reloads_total', { result: 'success' }) !== 1; i++) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    text = (await send(`${hook.url}/metrics`, { ca: certs.caPem + next.caCert })).text;
  }
  t.equal(metricValue(text, 'secrets_init_webhook_tls_reloads_total', { result: 'success' }), 1);
  t.equal(expiry(), Math.floor(new Date(new X509Certificate(next.cert).validTo).getTime() / 1000), 'the new expiry');
  await writeFile(certs.certFile, 'not a certificate');
  for (let i = 0; i < 60 && metricValue(text, 'secrets_init_webhook_tls_reloads_total', { result: 'failure' }) !== 1; i++) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    text = (await send(`${hook.url}/metrics`, { ca: certs.caPem + next.caCert })).text;
  }
  t.equal(metricValue(text, 'secrets_init_webhook_tls_reloads_total', { result: 'failure' }), 1, 'a broken pair is refused and counted');
});
