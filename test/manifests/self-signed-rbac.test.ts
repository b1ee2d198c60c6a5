/**
 * overlays/self-signed against the code: the certificate bootstrap (src/bootstrap), run
 * against the stub API server with exactly the permissions the overlay's RBAC grants (every
 * other verb on its Secret and webhook configuration answers 403, as RBAC would), creates
 * its Secret, publishes the caBundle and renews the certificate; and it uses every verb the
 * overlay grants there. A verb granted and never used (e.g. `update` on the webhook
 * configuration) or used and not granted fails this test.
 */
import type { V1Deployment, V1MutatingWebhook } from '@kubernetes/client-node';
import t from 'tap';
import { bootstrapCertificates } from '../../src/bootstrap/index.js';
import { loadKubeConfig } from '../../src/kubernetes/object-reader.js';
import { startStubApiServer } from '../helpers/stub-apiserver.js';
import type { StubKind, StubRequest, StubVerb } from '../helpers/stub-apiserver.js';
import { flagName, webhookConfiguration, webhookContainer } from './fixtures/checks.js';
import { APP_NAME, NAMESPACE, build, find } from './fixtures/kustomize.js';
import type { KubeObject } from './fixtures/kustomize.js';

const VERBS: readonly StubVerb[] = ['get', 'create', 'update', 'patch'];
const DAY_MS = 24 * 60 * 60 * 1000;

interface Rule {
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  verbs: string[];
}
type Role = KubeObject & { rules?: Rule[] };
type Binding = KubeObject & { roleRef: { kind: string; name: string }; subjects?: Array<{ kind: string; name: string; namespace?: string }> };

/** What RBAC is asked for a request: the object's group, resource, namespace ('' when cluster-scoped) and name. */
interface Target {
  kind: StubKind;
  group: string;
  resource: string;
  namespace: string;
  name: string;
}

/** The rules that apply to the webhook's ServiceAccount, each with the namespace it is limited to (undefined: cluster-wide). */
function serviceAccountRules(objects: readonly KubeObject[]): Array<{ rule: Rule; namespace: string | undefined }> {
  const found: Array<{ rule: Rule; namespace: string | undefined }> = [];
  for (const binding of objects.filter((o) => o.kind === 'ClusterRoleBinding' || o.kind === 'RoleBinding') as Binding[]) {
    if (!(binding.subjects ?? []).some((s) => s.kind === 'ServiceAccount' && s.name === APP_NAME && s.namespace === NAMESPACE)) continue;
    const role = find<Role>(objects, binding.roleRef.kind, binding.roleRef.name);
    const namespace = binding.kind === 'RoleBinding' ? binding.metadata.namespace : undefined;
    for (const rule of role.rules ?? []) found.push({ rule, namespace });
  }
  return found;
}

/** RBAC's decision (no wildcards here: checkRbac refuses them). `create` carries no name, so only rules without resourceNames allow it. */
function allows(rules: ReturnType<typeof serviceAccountRules>, target: Target, verb: StubVerb): boolean {
  return rules.some(
    ({ rule, namespace }) =>
      (namespace === undefined || namespace === target.namespace) &&
      (rule.apiGroups ?? []).includes(target.group) &&
      (rule.resources ?? []).includes(target.resource) &&
      rule.verbs.includes(verb) &&
      (rule.resourceNames === undefined || (verb !== 'create' && rule.resourceNames.includes(target.name))),
  );
}

/** The verb of a request to `target`, or undefined when the request is about something else. */
function verbOf(request: StubRequest, target: Target): StubVerb | undefined {
  const prefix = target.group === '' ? '/api/v1' : `/apis/${target.group}/v1`;
  const collection = `${prefix}${target.namespace === '' ? '' : `/namespaces/${target.namespace}`}/${target.resource}`;
  const path = request.path.split('?')[0] ?? '';
  if (path === collection && request.method === 'POST') return 'create';
  if (path !== `${collection}/${target.name}`) return undefined;
  return ({ GET: 'get', PUT: 'update', PATCH: 'patch' } as Record<string, StubVerb | undefined>)[request.method];
}

t.test('self-signed: the bootstrap works with exactly the RBAC the overlay grants, and uses all of it', async (t) => {
  const objects = await build('overlays/self-signed');
  const args = webhookContainer(find<KubeObject & V1Deployment>(objects, 'Deployment', APP_NAME)).args ?? [];
  const flag = (name: string): string => {
    const arg = args.find((a) => flagName(a) === name);
    if (arg === undefined) throw new Error(`no --${name} in the Deployment's args`);
    return arg.slice(arg.indexOf('=') + 1);
  };
  const secret: Target = { kind: 'Secret', group: '', resource: 'secrets', namespace: NAMESPACE, name: flag('bootstrap-secret') };
  const configuration: Target = {
    kind: 'MutatingWebhookConfiguration',
    group: 'admissionregistration.k8s.io',
    resource: 'mutatingwebhookconfigurations',
    namespace: '',
    name: flag('webhook-configuration'),
  };
  const rules = serviceAccountRules(objects);
  const granted = (target: Target) => VERBS.filter((verb) => allows(rules, target, verb));
  t.same(granted(secret), ['get', 'create', 'update'], 'the overlay grants get, create, update on the Secret');
  t.same(granted(configuration), ['get', 'patch'], 'and get, patch on the webhook configuration');

  const stub = await startStubApiServer();
  t.teardown(() => stub.close());
  const webhooks = webhookConfiguration(objects).webhooks ?? [];
  stub.addMutatingWebhookConfiguration(configuration.name, webhooks as unknown as Array<Record<string, unknown>>);
  for (const target of [secret, configuration]) {
    for (const verb of VERBS.filter((v) => !allows(rules, target, v))) {
      stub.forbid(target.kind, target.namespace, verb === 'create' ? undefined : target.name, [verb]);
    }
  }
  const kubeConfig = loadKubeConfig({ KUBECONFIG: stub.kubeconfigPath });
  if (kubeConfig === undefined) throw new Error('the stub kubeconfig did not load');
  let now = Date.now();
  const errors: string[] = [];
  const source = await bootstrapCertificates({
    kubeConfig,
    namespace: NAMESPACE,
    service: find(objects, 'Service', APP_NAME).metadata.name,
    secretName: secret.name,
    webhookConfigurationName: configuration.name,
    timeoutMs: 5000,
    checkIntervalMs: 60 * 60 * 1000,
    now: () => new Date(now),
    logger: { info: () => undefined, warn: () => undefined, error: (message: string) => void errors.push(message) },
  });
  t.teardown(() => source.close());
  const stored = stub.getObject('MutatingWebhookConfiguration', '', configuration.name);
  const storedWebhooks = (stored?.['webhooks'] ?? []) as V1MutatingWebhook[];
  t.same(storedWebhooks.map((w) => w.clientConfig.caBundle), webhooks.map(() => source.caBundle()), 'fresh start: the Secret is created and every webhook gets the caBundle');

  const first = source.current().cert;
  now += 360 * DAY_MS; // within the renewal window of the default 365-day certificate
  await source.refresh();
  t.not(source.current().cert, first, 'renewal: a new certificate, written to the Secret');
  t.same(errors, [], 'nothing failed');

  const used = (target: Target) => VERBS.filter((verb) => stub.requests.some((request) => verbOf(request, target) === verb));
  t.same(used(secret), granted(secret), `the verbs used on Secret ${secret.namespace}/${secret.name} are exactly those granted`);
  t.same(used(configuration), granted(configuration), `the verbs used on MutatingWebhookConfiguration ${configuration.name} are exactly those granted`);
});
