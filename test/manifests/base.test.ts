/**
 * manifests/base: the objects every install shares (everything but the certificate).
 */
import type { V1ClusterRole, V1MutatingWebhook } from '@kubernetes/client-node';
import t from 'tap';
import {
  PACKAGE_VERSION,
  calls,
  checkDeployment,
  checkMatchConditions,
  checkObjects,
  checkRbac,
  checkService,
  checkWebhookEntry,
  namespaceLabels,
  ruleStrings,
  webhookConfiguration,
  webhookPodLabels,
} from './fixtures/checks.js';
import { APP_NAME, NAMESPACE, WEBHOOK_NAME, build, find, kinds } from './fixtures/kustomize.js';
import type { KubeObject } from './fixtures/kustomize.js';

const objects = await build('base');

t.test('the base builds into exactly the shared objects, all schema-valid', async (t) => {
  t.same(
    kinds(objects),
    [
      `ClusterRole/${APP_NAME}`,
      `ClusterRoleBinding/${APP_NAME}`,
      `Deployment/${APP_NAME}`,
      `MutatingWebhookConfiguration/${APP_NAME}`,
      `Namespace/${NAMESPACE}`,
      `PodDisruptionBudget/${APP_NAME}`,
      `PriorityClass/${APP_NAME}`,
      `Service/${APP_NAME}`,
      `ServiceAccount/${APP_NAME}`,
    ],
    'Namespace, ServiceAccount, RBAC, PriorityClass, Deployment, PDB, Service, webhook configuration',
  );
  checkObjects(t, objects);
});

t.test('RBAC: get on secrets, configmaps and serviceaccounts, nothing else', async (t) => {
  checkRbac(t, objects);
  const role = find<KubeObject & V1ClusterRole>(objects, 'ClusterRole', APP_NAME);
  t.same(ruleStrings(role.rules), ['core/configmaps: get', 'core/secrets: get', 'core/serviceaccounts: get'], 'exactly these rules');
});

t.test('Deployment: HA, hardened, probes, args our command line accepts', async (t) => {
  const server = checkDeployment(t, objects, { certificateFiles: true });
  t.ok(server, 'the base args parse completely (no pending flags)');
  t.equal(server?.provider, 'aws', 'default provider, as kube-secrets-init');
  t.equal(server?.image, 'ghcr.io/doitintl/secrets-init:0.5.3', 'the pinned default secrets-init image');
});

t.test('Deployment: the V8 heap limit leaves room within the container memory limit', async (t) => {
  const deployment = find<KubeObject & { spec: { template: { spec: { containers: Array<{ env?: Array<{ name: string; value?: string }>; resources?: { limits?: Record<string, string> } }> } } } }>(objects, 'Deployment', APP_NAME);
  const container = deployment.spec.template.spec.containers[0];
  const options = container?.env?.find((e) => e.name === 'NODE_OPTIONS')?.value ?? '';
  const heapMiB = Number(/--max-old-space-size=(\d+)/.exec(options)?.[1]);
  const semiSpaceMiB = Number(/--max-semi-space-size=(\d+)/.exec(options)?.[1]);
  const limit = container?.resources?.limits?.['memory'] ?? '';
  const limitMiB = Number(/^(\d+)Mi$/.exec(limit)?.[1]);
  t.ok(heapMiB > 0 && limitMiB > 0, `heap ${heapMiB} MiB, limit ${limit}`);
  t.ok(heapMiB <= limitMiB * 0.7, 'the old space is at most 70% of the limit (code, buffers and the young generation need the rest)');
  // V8's heap limit is the old space plus three semi-spaces; Node.js 22 and later let a
  // semi-space grow to 64 MiB unless told otherwise (256 + 192 MiB: past a 384Mi limit).
  t.ok(semiSpaceMiB > 0, 'the semi-space is bounded (--max-semi-space-size)');
  t.ok(heapMiB + 3 * semiSpaceMiB <= limitMiB * 0.8, `old space + 3 semi-spaces (${heapMiB + 3 * semiSpaceMiB} MiB) leave a fifth of the limit to code and buffers`);
});

t.test('Service: 443 -> 8443', async (t) => {
  checkService(t, objects);
});

t.test('the webhook configuration', async (t) => {
  const configuration = webhookConfiguration(objects);
  const service = checkService(t, objects) as Parameters<typeof checkWebhookEntry>[2];
  t.equal(configuration.webhooks?.length, 1, 'one webhook');
  const webhook = configuration.webhooks?.[0] as V1MutatingWebhook;
  t.equal(webhook.name, WEBHOOK_NAME, "kube-secrets-init's webhook name");
  checkWebhookEntry(t, webhook, service);
  checkMatchConditions(t, webhook);
  t.notOk(webhook.clientConfig.caBundle, 'no caBundle in the base: the certificate overlay provides it');
  t.equal(configuration.metadata.labels?.['secrets-init/selection'], 'opt-out', 'labelled as the opt-out selection');

  t.same(webhook.namespaceSelector?.matchExpressions, [
    { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', NAMESPACE] },
    { key: 'admission.secrets-init/ignore', operator: 'DoesNotExist' },
  ], 'namespaceSelector: not kube-system, not its own namespace, not namespaces labelled admission.secrets-init/ignore');
  t.notOk(webhook.namespaceSelector?.matchLabels, 'no namespace matchLabels');

  const own = webhookPodLabels(objects);
  const cases: Array<[string, Record<string, string>, Record<string, string>, boolean]> = [
    ['an application pod', namespaceLabels('shop'), { app: 'shop-api' }, true],
    ['a pod without labels', namespaceLabels('shop'), {}, true],
    ['a pod in kube-system', namespaceLabels('kube-system'), {}, false],
    ['a pod in the webhook namespace', namespaceLabels(NAMESPACE), {}, false],
    ['a pod in a namespace labelled admission.secrets-init/ignore', namespaceLabels('legacy', { 'admission.secrets-init/ignore': 'true' }), {}, false],
    ['… whatever the label value', namespaceLabels('legacy', { 'admission.secrets-init/ignore': '' }), {}, false],
    ['the webhook pods, even in another namespace', namespaceLabels('elsewhere'), own, false],
  ];
  for (const [what, namespace, pod, expected] of cases) {
    t.equal(calls(webhook, namespace, pod), expected, `${what}: ${expected ? 'sent' : 'not sent'}`);
  }
  const namespace = find(objects, 'Namespace', NAMESPACE);
  t.equal(namespace.metadata.name, webhook.namespaceSelector?.matchExpressions?.[0]?.values?.[1], 'the excluded namespace is the one installed into');
});

t.test('the image placeholder is replaced through kustomize, not by editing the Deployment', async (t) => {
  const { readFile } = await import('node:fs/promises');
  const { join } = await import('node:path');
  const { MANIFESTS } = await import('./fixtures/kustomize.js');
  const kustomization = await readFile(join(MANIFESTS, 'base', 'kustomization.yaml'), 'utf8');
  t.match(kustomization, /- name: secrets-init-webhook\n\s+newName: ghcr\.io\/OWNER\/secrets-init-webhook\n\s+newTag: (\S+)/, 'an images: entry for the logical name secrets-init-webhook');
  t.match(kustomization, new RegExp(`newTag: ${PACKAGE_VERSION.replace(/\./g, '\\.')}\\n`), 'tagged with the package version');
  // An overlay's entry must name the placeholder (test/manifests/set-image.test.ts builds it).
  t.match(kustomization, /kustomize edit set image ghcr\.io\/OWNER\/secrets-init-webhook=/, 'the kustomization says how to replace it');
});
