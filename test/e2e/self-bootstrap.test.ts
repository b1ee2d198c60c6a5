import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { request } from 'node:https';
import { startStubApiServer } from '../helpers/stub-apiserver.js';
import { runCli, startWebhook } from '../helpers/webhook-process.js';

const NS = 'secrets-init';
const webhook = { name: 'secrets-init.doit-intl.com', sideEffects: 'None', admissionReviewVersions: ['v1', 'v1beta1'], clientConfig: { service: { name: 'secrets-init-webhook', namespace: NS, path: '/pods' } } };

/** GET url over HTTPS trusting only `ca`, for hostname `servername`; resolves the status and the peer certificate. */
function verifiedGet(url: string, ca: string, servername: string): Promise<{ status: number; fingerprint: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca, servername, agent: false, timeout: 5000 }, (res) => {
      const fingerprint = (res.socket as import('node:tls').TLSSocket).getPeerCertificate().fingerprint256;
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, fingerprint }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

t.test('--self-bootstrap: certificate stored in the Secret, CA in the caBundle, served and verifiable', async (t) => {
  const stub = await startStubApiServer();
  t.teardown(() => stub.close());
  stub.addMutatingWebhookConfiguration('secrets-init-webhook', [webhook]);
  const args = ['server', '--self-bootstrap', `--bootstrap-namespace=${NS}`];
  const first = await startWebhook(args, { KUBECONFIG: stub.kubeconfigPath }, { t });
  const secret = stub.getObject('Secret', NS, 'secrets-init-webhook-tls');
  t.ok(secret, 'the Secret was created');
  const mwc = stub.getObject('MutatingWebhookConfiguration', '', 'secrets-init-webhook') as { webhooks: Array<{ clientConfig: { caBundle?: string } }> };
  const caBundle = mwc.webhooks[0]?.clientConfig.caBundle;
  t.ok(caBundle, 'the caBundle was written');
  const ca = Buffer.from(caBundle ?? '', 'base64').toString();
  t.ok(new X509Certificate(ca).ca, 'the bundle holds a CA');

  const served = await verifiedGet(`${first.url}/healthz`, ca, `secrets-init-webhook.${NS}.svc`);
  t.equal(served.status, 200, 'the API server would accept the webhook: verified with the caBundle, by the Service name');

  const second = await startWebhook(args, { KUBECONFIG: stub.kubeconfigPath }, { t });
  const again = await verifiedGet(`${second.url}/healthz`, ca, `secrets-init-webhook.${NS}.svc`);
  t.equal(again.fingerprint, served.fingerprint, 'a second replica serves the same certificate from the Secret');
  t.notMatch(first.logs() + second.logs(), /PRIVATE KEY/, 'no key material in the logs');
});

t.test('--self-bootstrap without the RBAC it needs exits 1 naming what is missing', async (t) => {
  const stub = await startStubApiServer();
  t.teardown(() => stub.close());
  stub.addMutatingWebhookConfiguration('secrets-init-webhook', [webhook]);
  stub.forbid('secrets', NS, 'secrets-init-webhook-tls');
  const result = await runCli(['server', '--self-bootstrap', `--bootstrap-namespace=${NS}`, '--listen-address=127.0.0.1:0'], { KUBECONFIG: stub.kubeconfigPath }, { t });
  t.equal(result.code, 1);
  t.match(result.stderr, /^secrets-init-webhook: --self-bootstrap: .*forbidden.*secrets-init-webhook-tls/);
});
