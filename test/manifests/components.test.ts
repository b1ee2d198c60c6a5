/**
 * manifests/components: opt-in selection (namespace label OR pod label, as two webhooks
 * with disjoint selectors) and no-match-conditions (for clusters without matchConditions),
 * each applied the way a user's overlay applies them.
 */
import type { V1Deployment, V1MutatingWebhook } from '@kubernetes/client-node';
import t from 'tap';
import {
  CERT_MANAGER_NAMESPACE,
  calls,
  checkMatchConditions,
  checkObjects,
  checkWebhookEntry,
  namespaceLabels,
  serverOptions,
  webhookConfiguration,
  webhookContainer,
  webhookPodLabels,
} from './fixtures/checks.js';
import { APP_NAME, LABELLED_PODS_WEBHOOK_NAME, NAMESPACE, WEBHOOK_NAME, buildOverlay, find, kinds } from './fixtures/kustomize.js';
import type { KubeObject } from './fixtures/kustomize.js';

function webhooksOf(objects: readonly KubeObject[]): V1MutatingWebhook[] {
  return webhookConfiguration(objects).webhooks ?? [];
}

function named(webhooks: readonly V1MutatingWebhook[], name: string): V1MutatingWebhook {
  const webhook = webhooks.find((w) => w.name === name);
  if (webhook === undefined) throw new Error(`no webhook ${name} (have ${webhooks.map((w) => w.name).join(', ')})`);
  return webhook;
}

t.test('opt-in: pods labelled secrets-init/inject="true" OR in namespaces labelled secrets-init/inject=enabled', async (t) => {
  for (const certificates of ['overlays/cert-manager', 'overlays/self-signed']) {
    await t.test(`on ${certificates}`, async (t) => {
      const objects = await buildOverlay(t, { resources: [certificates], components: ['components/opt-in'] });
      checkObjects(t, objects);
      const configuration = webhookConfiguration(objects);
      t.equal(configuration.metadata.labels?.['secrets-init/selection'], 'opt-in', 'labelled as the opt-in selection');
      const webhooks = webhooksOf(objects);
      t.same(webhooks.map((w) => w.name).sort(), [LABELLED_PODS_WEBHOOK_NAME, WEBHOOK_NAME].sort(), 'two webhooks: by namespace, by pod label');
      const service = find(objects, 'Service', APP_NAME) as Parameters<typeof checkWebhookEntry>[2];
      for (const webhook of webhooks) {
        checkWebhookEntry(t, webhook, service);
        checkMatchConditions(t, webhook);
      }
      const byNamespace = named(webhooks, WEBHOOK_NAME);
      const byPod = named(webhooks, LABELLED_PODS_WEBHOOK_NAME);
      const { name: _a, namespaceSelector: _b, objectSelector: _c, ...restA } = byNamespace;
      const { name: _d, namespaceSelector: _e, objectSelector: _f, ...restB } = byPod;
      t.same(restA, restB, 'both webhooks are the same apart from name and selectors');

      const own = webhookPodLabels(objects);
      const enabled = { 'secrets-init/inject': 'enabled' };
      const cases: Array<[string, Record<string, string>, Record<string, string>, 'namespace' | 'pod' | 'none']> = [
        ['enabled namespace, unlabelled pod', namespaceLabels('shop', enabled), { app: 'api' }, 'namespace'],
        ['enabled namespace, pod labelled "true"', namespaceLabels('shop', enabled), { 'secrets-init/inject': 'true' }, 'pod'],
        ['enabled namespace, pod labelled "false" (opt-out)', namespaceLabels('shop', enabled), { 'secrets-init/inject': 'false' }, 'none'],
        ['enabled namespace, pod labelled something else', namespaceLabels('shop', enabled), { 'secrets-init/inject': 'maybe' }, 'namespace'],
        ['other namespace, pod labelled "true"', namespaceLabels('batch'), { 'secrets-init/inject': 'true' }, 'pod'],
        ['other namespace, unlabelled pod', namespaceLabels('batch'), {}, 'none'],
        ['namespace labelled secrets-init/inject=true (not "enabled")', namespaceLabels('batch', { 'secrets-init/inject': 'true' }), {}, 'none'],
        ['enabled namespace also labelled admission.secrets-init/ignore', namespaceLabels('shop', { ...enabled, 'admission.secrets-init/ignore': 'true' }), { 'secrets-init/inject': 'true' }, 'none'],
        ['kube-system, even labelled enabled, pod labelled "true"', namespaceLabels('kube-system', enabled), { 'secrets-init/inject': 'true' }, 'none'],
        ['the webhook namespace, pod labelled "true"', namespaceLabels(NAMESPACE, enabled), { 'secrets-init/inject': 'true' }, 'none'],
        ["the webhook's own pods in an enabled namespace", namespaceLabels('shop', enabled), own, 'none'],
        ["the webhook's own pods labelled \"true\"", namespaceLabels('shop'), { ...own, 'secrets-init/inject': 'true' }, 'none'],
      ];
      for (const [what, namespace, pod, expected] of cases) {
        const sent = [calls(byNamespace, namespace, pod) ? 'namespace' : undefined, calls(byPod, namespace, pod) ? 'pod' : undefined].filter((x) => x !== undefined);
        t.same(sent, expected === 'none' ? [] : [expected], `${what}: ${expected === 'none' ? 'not sent' : `sent once, by the ${expected} webhook`}`);
      }
    });
  }
});

t.test('no-match-conditions: removes them from every webhook, with or without opt-in', async (t) => {
  const plain = await buildOverlay(t, { resources: ['overlays/cert-manager'], components: ['components/no-match-conditions'] });
  checkObjects(t, plain);
  t.same(webhooksOf(plain).map((w) => w.name), [WEBHOOK_NAME], 'still one webhook (the opt-in patch adds none)');
  t.same(webhooksOf(plain).filter((w) => w.matchConditions !== undefined).map((w) => w.name), [], 'no matchConditions');

  const optIn = await buildOverlay(t, { resources: ['overlays/cert-manager'], components: ['components/opt-in', 'components/no-match-conditions'] });
  checkObjects(t, optIn);
  t.same(webhooksOf(optIn).map((w) => w.name).sort(), [LABELLED_PODS_WEBHOOK_NAME, WEBHOOK_NAME].sort(), 'opt-in: both webhooks');
  t.same(webhooksOf(optIn).filter((w) => w.matchConditions !== undefined).map((w) => w.name), [], 'opt-in: no matchConditions');

  const withCerts = await buildOverlay(t, { resources: ['overlays/cert-manager'] });
  const strip = (objects: readonly KubeObject[]) =>
    objects.map((o) => (o.kind === 'MutatingWebhookConfiguration' ? { ...o, webhooks: webhooksOf(objects).map(({ matchConditions: _m, ...rest }) => rest) } : o));
  t.same(strip(plain), strip(withCerts), 'nothing else changes');
  t.same(kinds(plain), kinds(withCerts), 'same objects');
});

t.test('the example overlay builds as cert-manager + opt-in by hand, with the cert-manager namespace excluded again', async (t) => {
  const byHand = await buildOverlay(t, { resources: ['overlays/cert-manager'], components: ['components/opt-in'] });
  const { build } = await import('./fixtures/kustomize.js');
  // The component replaces the namespaceSelectors (dropping overlays/cert-manager's exclusion
  // of cert-manager); overlays/cert-manager-opt-in adds it again, to every webhook, after it.
  const expected = byHand.map((o) =>
    o.kind === 'MutatingWebhookConfiguration'
      ? {
          ...o,
          webhooks: webhooksOf(byHand).map((w) => ({
            ...w,
            namespaceSelector: {
              ...w.namespaceSelector,
              matchExpressions: w.namespaceSelector?.matchExpressions?.map((e) =>
                e.key === 'kubernetes.io/metadata.name' ? { ...e, values: [...(e.values ?? []), CERT_MANAGER_NAMESPACE] } : e,
              ),
            },
          })),
        }
      : o,
  );
  t.same(await build('overlays/cert-manager-opt-in'), expected, 'overlays/cert-manager-opt-in');
});

t.test('openshift: no uid or fsGroup in the webhook Deployment, and injected init containers name none', async (t) => {
  for (const certificates of ['overlays/cert-manager', 'overlays/self-signed']) {
    await t.test(`on ${certificates}`, async (t) => {
      const plain = await buildOverlay(t, { resources: [certificates] });
      const objects = await buildOverlay(t, { resources: [certificates], components: ['components/openshift'] });
      checkObjects(t, objects);
      t.same(kinds(objects), kinds(plain), 'the same objects');
      const deployment = find<KubeObject & V1Deployment>(objects, 'Deployment', APP_NAME);
      const pod = deployment.spec?.template.spec;
      const container = webhookContainer(deployment);
      // restricted-v2 refuses a uid or fsGroup outside the namespace's range: none is named.
      const named = JSON.stringify(deployment).match(/"(runAsUser|runAsGroup|fsGroup|supplementalGroups)"/g) ?? [];
      t.same(named, [], 'no uid, gid or fsGroup anywhere in the Deployment');
      t.equal(pod?.securityContext?.runAsNonRoot, true, 'the pod still runs as non-root');
      t.equal(container.securityContext?.runAsNonRoot, true, 'the container too');
      t.same(container.securityContext?.capabilities?.drop, ['ALL'], 'capabilities still dropped');
      t.equal(container.securityContext?.allowPrivilegeEscalation, false);
      t.equal(pod?.securityContext?.seccompProfile?.type, 'RuntimeDefault');
      const server = serverOptions(t, container.args ?? []);
      t.equal(server?.initContainerUser, 'unset', 'the webhook leaves the init container its uid to assign');
      const plainContainer = webhookContainer(find<KubeObject & V1Deployment>(plain, 'Deployment', APP_NAME));
      t.same(container.args?.filter((arg) => arg !== '--init-container-user=unset'), plainContainer.args, 'the other args as they were');
      t.equal(serverOptions(t, plainContainer.args ?? [])?.initContainerUser, 1000, 'without the component: uid 1000');
    });
  }
});
