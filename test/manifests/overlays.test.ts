/**
 * manifests/overlays: one per way of getting the serving certificate (self-signed
 * bootstrap, cert-manager, certificates you make), plus cert-manager with opt-in selection.
 * Every overlay folder is built; each must keep the base's guarantees.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import type { V1ClusterRole, V1Deployment, V1MutatingWebhook, V1Role, V1Secret } from '@kubernetes/client-node';
import t from 'tap';
import { runCli } from '../helpers/webhook-process.js';
import {
  BASE_EXCLUDED_NAMESPACES,
  BOOTSTRAP_FLAGS,
  CERT_MANAGER_NAMESPACE,
  calls,
  checkDeployment,
  checkMatchConditions,
  checkNamespaceExclusions,
  checkObjects,
  checkRbac,
  checkService,
  checkWebhookEntry,
  flagName,
  knownServerFlag,
  namespaceLabels,
  parseArgs,
  ruleStrings,
  webhookConfiguration,
  webhookContainer,
} from './fixtures/checks.js';
import { APP_NAME, MANIFESTS, NAMESPACE, WEBHOOK_NAME, build, copyManifests, find, kinds, kustomize } from './fixtures/kustomize.js';
import type { KubeObject } from './fixtures/kustomize.js';
import { parseDurationMs } from '../../src/cli/duration.js';

const BASE_KINDS = [
  `ClusterRole/${APP_NAME}`,
  `ClusterRoleBinding/${APP_NAME}`,
  `Deployment/${APP_NAME}`,
  `MutatingWebhookConfiguration/${APP_NAME}`,
  `Namespace/${NAMESPACE}`,
  `PodDisruptionBudget/${APP_NAME}`,
  `PriorityClass/${APP_NAME}`,
  `Service/${APP_NAME}`,
  `ServiceAccount/${APP_NAME}`,
];

/** Overlays that need files you generate first; built in their own test below. */
const NEEDS_GENERATED_FILES = new Set(['manual', 'manual-opt-in']);

/**
 * The namespaces each overlay keeps from every one of its webhooks by name. The cert-manager
 * overlays add cert-manager's namespace: our pods wait for its certificate, so its pods must
 * never wait for our webhook.
 */
const EXCLUDED_NAMESPACES: Readonly<Record<string, readonly string[]>> = {
  'cert-manager': [...BASE_EXCLUDED_NAMESPACES, CERT_MANAGER_NAMESPACE],
  'cert-manager-opt-in': [...BASE_EXCLUDED_NAMESPACES, CERT_MANAGER_NAMESPACE],
  manual: BASE_EXCLUDED_NAMESPACES,
  'manual-opt-in': BASE_EXCLUDED_NAMESPACES,
  'self-signed': BASE_EXCLUDED_NAMESPACES,
};

function excludedNamespaces(overlay: string): readonly string[] {
  const excluded = EXCLUDED_NAMESPACES[overlay];
  if (excluded === undefined) throw new Error(`no EXCLUDED_NAMESPACES entry for overlay ${overlay}`);
  return excluded;
}

t.test('every overlay builds, is schema-valid and keeps the base guarantees', async (t) => {
  const overlays = (await readdir(join(MANIFESTS, 'overlays'), { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name).sort();
  t.same(overlays, ['cert-manager', 'cert-manager-opt-in', 'manual', 'manual-opt-in', 'self-signed'], 'the overlays');
  t.same(Object.keys(EXCLUDED_NAMESPACES).sort(), overlays, 'the namespace exclusions of every overlay are listed');
  for (const overlay of overlays.filter((o) => !NEEDS_GENERATED_FILES.has(o))) {
    await t.test(overlay, async (t) => {
      const objects = await build(`overlays/${overlay}`);
      checkObjects(t, objects);
      checkRbac(t, objects);
      checkService(t, objects);
      checkDeployment(t, objects, { certificateFiles: overlay !== 'self-signed' });
      const service = find(objects, 'Service', APP_NAME) as Parameters<typeof checkWebhookEntry>[2];
      const webhooks = webhookConfiguration(objects).webhooks ?? [];
      t.ok(webhooks.length > 0, 'webhooks present');
      for (const webhook of webhooks) {
        checkWebhookEntry(t, webhook, service);
        checkMatchConditions(t, webhook);
        checkNamespaceExclusions(t, webhook, excludedNamespaces(overlay));
      }
    });
  }
});

t.test('self-signed: bootstrap flags in one patch, and only the RBAC the bootstrap needs', async (t) => {
  const objects = await build('overlays/self-signed');
  t.same(
    kinds(objects),
    [...BASE_KINDS, 'ClusterRole/secrets-init-webhook-bootstrap', 'ClusterRoleBinding/secrets-init-webhook-bootstrap', 'Role/secrets-init-webhook-bootstrap', 'RoleBinding/secrets-init-webhook-bootstrap'].sort(),
    'the base plus a Role and a ClusterRole (with bindings) for the bootstrap',
  );
  const role = find<KubeObject & V1Role>(objects, 'Role', 'secrets-init-webhook-bootstrap');
  t.equal(role.metadata.namespace, NAMESPACE, 'the Role is in the webhook namespace');
  t.same(ruleStrings(role.rules), ['core/secrets: create', 'core/secrets[secrets-init-webhook-tls]: get,update'], 'its own Secret: get/update by name, create');
  const clusterRole = find<KubeObject & V1ClusterRole>(objects, 'ClusterRole', 'secrets-init-webhook-bootstrap');
  // Exactly the verbs of src/bootstrap/api.ts: readSecret (get), createSecret (create) and
  // replaceSecret (update, a PUT) on its Secret; readWebhookConfiguration (get) and
  // patchWebhookConfiguration (patch, a JSON patch) on its webhook configuration, never a PUT.
  t.same(
    ruleStrings(clusterRole.rules),
    [`admissionregistration.k8s.io/mutatingwebhookconfigurations[${APP_NAME}]: get,patch`],
    'its own webhook configuration only: get/patch by name (no update: the caBundle is patched)',
  );
  const allRoles = objects.filter((o) => o.kind === 'ClusterRole' || o.kind === 'Role') as unknown as Array<KubeObject & V1Role>;
  t.same(
    allRoles.flatMap((r) => ruleStrings(r.rules)).filter((rule) => rule.includes('/mutatingwebhookconfigurations')),
    [`admissionregistration.k8s.io/mutatingwebhookconfigurations[${APP_NAME}]: get,patch`],
    'no other rule of the build reaches webhook configurations',
  );
  t.same(
    allRoles.flatMap((r) => ruleStrings(r.rules)).filter((rule) => rule.startsWith('core/secrets')).sort(),
    ['core/secrets: create', 'core/secrets: get', 'core/secrets[secrets-init-webhook-tls]: get,update'],
    "secrets: the base's read, and its own Secret's create/get/update (no patch, no other write)",
  );
  const base = find<KubeObject & V1ClusterRole>(objects, 'ClusterRole', APP_NAME);
  t.same(ruleStrings(base.rules), ['core/configmaps: get', 'core/secrets: get', 'core/serviceaccounts: get'], 'the base ClusterRole is unchanged');

  const deployment = find<KubeObject & V1Deployment>(objects, 'Deployment', APP_NAME);
  const args = webhookContainer(deployment).args ?? [];
  t.same(
    args.filter((arg) => (BOOTSTRAP_FLAGS as readonly string[]).includes(flagName(arg) ?? '')),
    ['--self-bootstrap', '--bootstrap-secret=secrets-init-webhook-tls', `--webhook-configuration=${APP_NAME}`],
    'the self-bootstrap flags name the Secret and the webhook configuration the RBAC allows',
  );
  t.notOk(args.some((arg) => arg.startsWith('--tls-')), 'no certificate file flags');
  t.notOk(deployment.spec?.template.spec?.volumes?.some((v) => v.secret !== undefined), 'no Secret volume');
  t.ok(deployment.spec?.template.spec?.volumes?.some((v) => v.name === 'tmp'), 'the /tmp volume stays');

  const missing = BOOTSTRAP_FLAGS.filter((name) => !knownServerFlag(name));
  if (missing.length === 0) {
    const parsed = parseArgs(args);
    t.equal(parsed.kind, 'server', `the full self-signed args parse${parsed.kind === 'exit' ? `: ${parsed.stderr}` : ''}`);
  } else {
    // Not in the command line yet: the rest of the args parse, and the parser names the first pending flag.
    const rest = parseArgs(args.filter((arg) => !(BOOTSTRAP_FLAGS as readonly string[]).includes(flagName(arg) ?? '')));
    t.equal(rest.kind, 'server', 'without the self-bootstrap flags, the args parse');
    const parsed = parseArgs(args);
    t.match(parsed.kind === 'exit' ? parsed.stderr : '', /unknown flag/, `pending self-bootstrap flags (not in src/cli/flags.ts yet): --${missing.join(', --')}`);
  }

  // One file to change when the flag names change.
  const files = await listFiles(MANIFESTS);
  const mentioning: string[] = [];
  for (const file of files) if ((await readFile(file, 'utf8')).includes('--self-bootstrap')) mentioning.push(file.slice(MANIFESTS.length + 1));
  t.same(mentioning, ['overlays/self-signed/self-bootstrap.yaml'], 'the bootstrap flags live in one patch file');
});

t.test('cert-manager: selfSigned Issuer -> CA -> CA Issuer -> serving Certificate -> mounted Secret, CA injected', async (t) => {
  const objects = await build('overlays/cert-manager');
  t.same(
    kinds(objects),
    [...BASE_KINDS, 'Certificate/secrets-init-webhook', 'Certificate/secrets-init-webhook-ca', 'Issuer/secrets-init-webhook-ca', 'Issuer/secrets-init-webhook-selfsigned'].sort(),
    'the base plus two Issuers and two Certificates',
  );
  type Spec = Record<string, unknown> & { issuerRef?: { name: string; kind?: string; group?: string }; secretName?: string };
  const spec = (kind: string, name: string) => (find(objects, kind, name) as KubeObject & { spec: Spec }).spec;
  const selfSigned = spec('Issuer', 'secrets-init-webhook-selfsigned');
  t.same(selfSigned['selfSigned'], {}, 'a selfSigned Issuer');
  const ca = spec('Certificate', 'secrets-init-webhook-ca');
  t.equal(ca['isCA'], true, 'the CA Certificate is a CA');
  t.same(ca.issuerRef, { group: 'cert-manager.io', kind: 'Issuer', name: 'secrets-init-webhook-selfsigned' }, 'issued by the selfSigned Issuer');
  const caIssuer = spec('Issuer', 'secrets-init-webhook-ca');
  t.same(caIssuer['ca'], { secretName: ca.secretName }, "the CA Issuer signs with the CA Certificate's Secret");
  const serving = spec('Certificate', 'secrets-init-webhook');
  t.same(serving.issuerRef, { group: 'cert-manager.io', kind: 'Issuer', name: 'secrets-init-webhook-ca' }, 'the serving Certificate comes from the CA Issuer');
  t.notOk(serving['isCA'], 'the serving Certificate is not a CA');
  t.equal(serving.secretName, 'secrets-init-webhook-tls', 'into the Secret secrets-init-webhook-tls');
  const deployment = find<KubeObject & V1Deployment>(objects, 'Deployment', APP_NAME);
  t.ok(deployment.spec?.template.spec?.volumes?.some((v) => v.secret?.secretName === serving.secretName), 'which the Deployment mounts');
  const service = find(objects, 'Service', APP_NAME);
  const svc = `${service.metadata.name}.${service.metadata.namespace ?? ''}`;
  t.same(serving['dnsNames'], [service.metadata.name, svc, `${svc}.svc`, `${svc}.svc.cluster.local`], "the Service's DNS names");
  t.ok((serving['usages'] as string[]).includes('server auth'), 'usable for server auth');
  t.same(serving['privateKey'], { algorithm: 'ECDSA', size: 256, encoding: 'PKCS8', rotationPolicy: 'Always' }, 'an ECDSA P-256 PKCS#8 key (a format the webhook loads), new at each renewal');
  for (const [name, certificate] of [['CA', ca], ['serving', serving]] as const) {
    const duration = parseDurationMs(String(certificate['duration']));
    const renewBefore = parseDurationMs(String(certificate['renewBefore']));
    t.ok(duration.ok && renewBefore.ok && renewBefore.value < duration.value, `${name}: renewed before it expires`);
  }
  const configuration = webhookConfiguration(objects);
  const certificate = find(objects, 'Certificate', 'secrets-init-webhook');
  t.equal(configuration.metadata.annotations?.['cert-manager.io/inject-ca-from'], `${certificate.metadata.namespace ?? ''}/${certificate.metadata.name}`, 'cert-manager injects the CA of the serving Certificate');
  t.notOk(configuration.webhooks?.some((w) => w.clientConfig.caBundle), 'no static caBundle');

  t.equal(configuration.webhooks?.length, 1, 'one webhook');
  for (const webhook of configuration.webhooks ?? []) {
    checkNamespaceExclusions(t, webhook, [...BASE_EXCLUDED_NAMESPACES, CERT_MANAGER_NAMESPACE]);
    t.equal(calls(webhook, namespaceLabels(CERT_MANAGER_NAMESPACE), { app: 'cert-manager' }), false, `${webhook.name}: cert-manager's pods are not sent`);
    t.equal(calls(webhook, namespaceLabels('shop'), { app: 'api' }), true, `${webhook.name}: other pods still are`);
  }
  const withoutCertManager = (webhooks: V1MutatingWebhook[] | undefined) =>
    webhooks?.map((w) => ({
      ...w,
      namespaceSelector: { ...w.namespaceSelector, matchExpressions: w.namespaceSelector?.matchExpressions?.map((e) => ({ ...e, values: e.values?.filter((v) => v !== CERT_MANAGER_NAMESPACE) })) },
    }));
  t.same(withoutCertManager(configuration.webhooks), withoutCertManager(webhookConfiguration(await build('base')).webhooks), "apart from cert-manager's namespace, the webhooks are the base's");
});

t.test('cert-manager-opt-in: the cert-manager overlay with the opt-in component', async (t) => {
  const objects = await build('overlays/cert-manager-opt-in');
  const plain = await build('overlays/cert-manager');
  t.same(kinds(objects), kinds(plain), 'the same objects as cert-manager');
  const configuration = webhookConfiguration(objects);
  t.equal(configuration.webhooks?.length, 2, 'two webhooks (namespace opt-in OR pod opt-in)');
  t.equal(configuration.metadata.annotations?.['cert-manager.io/inject-ca-from'], 'secrets-init/secrets-init-webhook', 'the CA is injected into both');
  for (const webhook of configuration.webhooks ?? []) {
    // The opt-in component replaces the selectors after overlays/cert-manager: the exclusion is added again.
    checkNamespaceExclusions(t, webhook, [...BASE_EXCLUDED_NAMESPACES, CERT_MANAGER_NAMESPACE]);
  }
  const enabled = { 'secrets-init/inject': 'enabled' };
  t.same(
    (configuration.webhooks ?? []).filter((w) => calls(w, namespaceLabels(CERT_MANAGER_NAMESPACE, enabled), { 'secrets-init/inject': 'true' }) || calls(w, namespaceLabels(CERT_MANAGER_NAMESPACE, enabled), {})).map((w) => w.name),
    [],
    'no pod in cert-manager is sent, even with the namespace and the pod opted in',
  );
  t.same(
    (configuration.webhooks ?? []).filter((w) => calls(w, namespaceLabels('shop', enabled), {})).map((w) => w.name),
    [WEBHOOK_NAME],
    'a pod in an enabled namespace is still sent',
  );
  t.same(
    objects.filter((o) => o.kind !== 'MutatingWebhookConfiguration'),
    plain.filter((o) => o.kind !== 'MutatingWebhookConfiguration'),
    'only the webhook configuration differs',
  );
});

t.test('manual: certificates from the certs command, caBundle from the same CA', async (t) => {
  const manifests = await copyManifests(t);
  const certs = join(manifests, 'overlays', 'manual', 'certs');
  const result = await runCli(['certs', '--out', certs], {}, { t });
  t.equal(result.code, 0, `certs succeeds (${result.stderr.trim()})`);
  const bundle = result.stdout.trim();
  const objects = await kustomize(join(manifests, 'overlays', 'manual'));
  checkObjects(t, objects);
  checkRbac(t, objects);
  checkService(t, objects);
  checkDeployment(t, objects, { certificateFiles: true });
  t.same(kinds(objects), [...BASE_KINDS, `Secret/secrets-init-webhook-tls`].sort(), 'the base plus the certificate Secret');

  const secret = find<KubeObject & V1Secret>(objects, 'Secret', 'secrets-init-webhook-tls');
  t.equal(secret.type, 'kubernetes.io/tls', 'a kubernetes.io/tls Secret');
  const data = (key: string) => Buffer.from((secret.data?.[key] ?? '').replace(/\s/g, ''), 'base64').toString('utf8');
  t.same(Object.keys(secret.data ?? {}).sort(), ['ca.crt', 'tls.crt', 'tls.key'], 'tls.crt, tls.key and ca.crt');
  t.equal(data('tls.crt'), await readFile(join(certs, 'cert.pem'), 'utf8'), 'tls.crt is cert.pem');
  t.equal(data('tls.key'), await readFile(join(certs, 'key.pem'), 'utf8'), 'tls.key is key.pem');
  t.equal(data('ca.crt'), await readFile(join(certs, 'ca.pem'), 'utf8'), 'ca.crt is ca.pem');

  const serving = new X509Certificate(data('tls.crt'));
  t.ok(serving.verify(new X509Certificate(data('ca.crt')).publicKey), 'the serving certificate is signed by the CA');
  t.ok(serving.checkHost('secrets-init-webhook.secrets-init.svc'), 'for secrets-init-webhook.secrets-init.svc');

  const webhooks = webhookConfiguration(objects).webhooks ?? [];
  t.ok(webhooks.length > 0, 'webhooks present');
  for (const webhook of webhooks as V1MutatingWebhook[]) {
    t.equal((webhook.clientConfig.caBundle ?? '').replace(/\s/g, ''), bundle, `${webhook.name}: caBundle is the bundle the certs command printed`);
    checkNamespaceExclusions(t, webhook, excludedNamespaces('manual'));
  }

  const ignore = await readFile(join(MANIFESTS, 'overlays', 'manual', 'certs', '.gitignore'), 'utf8');
  t.match(ignore, /^\*$/m, 'the generated files (and the private key) are git-ignored');
});

t.test('manual-opt-in: the manual overlay with the opt-in component, the CA in both webhooks', async (t) => {
  const manifests = await copyManifests(t);
  const certs = join(manifests, 'overlays', 'manual', 'certs');
  const result = await runCli(['certs', '--out', certs], {}, { t });
  t.equal(result.code, 0, `certs succeeds (${result.stderr.trim()})`);
  const bundle = result.stdout.trim();
  const objects = await kustomize(join(manifests, 'overlays', 'manual-opt-in'));
  const plain = await kustomize(join(manifests, 'overlays', 'manual'));
  checkObjects(t, objects);
  t.same(kinds(objects), kinds(plain), 'the same objects as manual');
  const webhooks = webhookConfiguration(objects).webhooks ?? [];
  t.equal(webhooks.length, 2, 'two webhooks (namespace opt-in OR pod opt-in)');
  for (const webhook of webhooks) {
    // Without it the API server cannot verify the webhook for these pods, and failurePolicy Fail refuses them.
    t.equal((webhook.clientConfig.caBundle ?? '').replace(/\s/g, ''), bundle, `${webhook.name}: caBundle is the bundle the certs command printed`);
    checkNamespaceExclusions(t, webhook, excludedNamespaces('manual-opt-in'));
  }
  t.same(
    objects.filter((o) => o.kind !== 'MutatingWebhookConfiguration'),
    plain.filter((o) => o.kind !== 'MutatingWebhookConfiguration'),
    'only the webhook configuration differs',
  );
});

t.test('every kustomization under manifests/ is exercised', async (t) => {
  const files = (await listFiles(MANIFESTS)).filter((f) => f.endsWith('/kustomization.yaml')).map((f) => f.slice(MANIFESTS.length + 1)).sort();
  t.same(files, [
    'base/kustomization.yaml',
    'components/monitoring/kustomization.yaml',
    'components/network-policy/kustomization.yaml',
    'components/no-match-conditions/kustomization.yaml',
    'components/openshift/kustomization.yaml',
    'components/opt-in/kustomization.yaml',
    'overlays/cert-manager-opt-in/kustomization.yaml',
    'overlays/cert-manager/kustomization.yaml',
    'overlays/manual-opt-in/kustomization.yaml',
    'overlays/manual/kustomization.yaml',
    'overlays/self-signed/kustomization.yaml',
  ], 'the kustomizations these tests build (add a test with a new one)');
});

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name)).sort();
}
