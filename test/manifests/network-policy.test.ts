/**
 * manifests/components/network-policy: NetworkPolicies for the webhook's pods, built with
 * the base and every overlay the way a user's overlay includes them, and their settings
 * changed the way a user changes them (JSON patches in the user's kustomization).
 *
 * What the policies allow is checked twice: as the exact list of rules (direction,
 * protocol/port, peer), and by evaluating NetworkPolicy semantics (isolation, additive
 * policies, ipBlock with except, namespace and pod selectors) on concrete connections.
 */
import { BlockList, isIP } from 'node:net';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import type { V1Deployment, V1NetworkPolicyPeer, V1NetworkPolicyPort, V1Service } from '@kubernetes/client-node';
import t from 'tap';
import type { Test } from 'tap';
import { checkObjects, webhookContainer } from './fixtures/checks.js';
import { APP_NAME, MANIFESTS, NAMESPACE, build, buildOverlay, copyManifests, find, kinds, kustomize, schemaProblems, selects, unknownFields } from './fixtures/kustomize.js';
import type { KubeObject, LabelSelector, Teardown } from './fixtures/kustomize.js';

/** A rule as written (client-node's model calls `from` `_from`; the YAML and the API say `from`). */
interface Rule {
  from?: V1NetworkPolicyPeer[];
  to?: V1NetworkPolicyPeer[];
  ports?: V1NetworkPolicyPort[];
}
interface Policy extends KubeObject {
  spec?: { podSelector?: LabelSelector; policyTypes?: string[]; ingress?: Rule[]; egress?: Rule[] };
}
type Direction = 'Ingress' | 'Egress';

const COMPONENT = 'components/network-policy';
/** The documentation range (RFC 5737) the component ships as the API server's addresses. */
const PLACEHOLDER = '192.0.2.0/24';
const POLICY_NAMES = [
  'secrets-init-webhook-default-deny',
  'secrets-init-webhook-from-api-server',
  'secrets-init-webhook-from-monitoring',
  'secrets-init-webhook-to-api-server',
  'secrets-init-webhook-to-dns',
  'secrets-init-webhook-to-registries',
];

// ---- NetworkPolicy semantics -----------------------------------------------------------

/** The other end of a connection: an address outside the pod network, or a pod (labels of its namespace and itself). */
type Peer = { ip: string } | { namespace: string; namespaceLabels?: Record<string, string>; pod: Record<string, string> };

function inCidr(cidr: string, ip: string): boolean {
  const [network = '', bits = ''] = cidr.split('/');
  const family = isIP(network);
  if (family === 0 || !/^\d+$/.test(bits)) throw new Error(`not a CIDR: ${cidr}`);
  if (isIP(ip) !== family) return false;
  const list = new BlockList();
  list.addSubnet(network, Number(bits), family === 6 ? 'ipv6' : 'ipv4');
  return list.check(ip, family === 6 ? 'ipv6' : 'ipv4');
}

function policyTypes(policy: Policy): Direction[] {
  const declared = policy.spec?.policyTypes;
  if (declared !== undefined) return declared as Direction[];
  return policy.spec?.egress !== undefined ? ['Ingress', 'Egress'] : ['Ingress'];
}

function peerMatches(peer: V1NetworkPolicyPeer, policyNamespace: string, other: Peer): boolean {
  if (peer.ipBlock !== undefined) {
    if (!('ip' in other)) return false;
    return inCidr(peer.ipBlock.cidr, other.ip) && !(peer.ipBlock.except ?? []).some((cidr) => inCidr(cidr, other.ip));
  }
  if (peer.namespaceSelector === undefined && peer.podSelector === undefined) throw new Error('an empty NetworkPolicy peer');
  if ('ip' in other) return false;
  const namespaceLabels = { 'kubernetes.io/metadata.name': other.namespace, ...other.namespaceLabels };
  const inNamespace = peer.namespaceSelector !== undefined ? selects(peer.namespaceSelector as LabelSelector, namespaceLabels) : other.namespace === policyNamespace;
  return inNamespace && selects(peer.podSelector as LabelSelector | undefined, other.pod);
}

function portMatches(ports: readonly V1NetworkPolicyPort[] | undefined, protocol: string, port: number, named: Readonly<Record<string, number>>): boolean {
  if (ports === undefined || ports.length === 0) return true;
  return ports.some((p) => {
    if ((p.protocol ?? 'TCP') !== protocol) return false;
    if (p.port === undefined) return true;
    const number = typeof p.port === 'number' ? p.port : named[p.port];
    if (number === undefined) return false;
    return p.endPort !== undefined ? port >= number && port <= p.endPort : port === number;
  });
}

/**
 * Whether a connection between the webhook pod (labels `pod`) and `other` is allowed:
 * a pod that no policy of that direction selects is not isolated; otherwise some rule
 * of a selecting policy must allow the peer and the port. `named` resolves named ports
 * (the pod's own container ports, for ingress).
 */
function allowed(policies: readonly Policy[], direction: Direction, pod: Record<string, string>, other: Peer, protocol: string, port: number, named: Readonly<Record<string, number>> = {}): boolean {
  const selecting = policies.filter((p) => p.metadata.namespace === NAMESPACE && selects(p.spec?.podSelector, pod) && policyTypes(p).includes(direction));
  if (selecting.length === 0) return true;
  return selecting.some((policy) => {
    const rules = rulesOf(policy, direction);
    return rules.some(
      (rule) =>
        (rule.peers === undefined || rule.peers.length === 0 || rule.peers.some((peer) => peerMatches(peer, policy.metadata.namespace ?? '', other))) &&
        portMatches(rule.ports, protocol, port, named),
    );
  });
}

/** The rules of one direction, as peers (`from` or `to`) and ports. */
function rulesOf(policy: Policy, direction: Direction): Array<{ peers: V1NetworkPolicyPeer[] | undefined; ports: V1NetworkPolicyPort[] | undefined }> {
  return direction === 'Ingress' ? (policy.spec?.ingress ?? []).map((r) => ({ peers: r.from, ports: r.ports })) : (policy.spec?.egress ?? []).map((r) => ({ peers: r.to, ports: r.ports }));
}

function selectorText(selector: LabelSelector | undefined): string {
  if (selector === undefined) return '*';
  const parts = [
    ...Object.entries(selector.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`),
    ...(selector.matchExpressions ?? []).map((e) => `${e.key} ${e.operator}${e.values ? ` (${e.values.join(',')})` : ''}`),
  ];
  return `{${parts.join(', ')}}`;
}

function peerText(peer: V1NetworkPolicyPeer): string {
  if (peer.ipBlock !== undefined) return `ipBlock ${peer.ipBlock.cidr}${peer.ipBlock.except?.length ? ` except ${peer.ipBlock.except.join(',')}` : ''}`;
  const namespaces = peer.namespaceSelector !== undefined ? `namespaces ${selectorText(peer.namespaceSelector as LabelSelector)}` : 'own namespace';
  return `${namespaces} pods ${selectorText(peer.podSelector as LabelSelector | undefined)}`;
}

/** Every rule of the policies selecting `pod` in one direction, as `PROTO/port from|to peer` (sorted). */
function ruleTexts(policies: readonly Policy[], direction: Direction, pod: Record<string, string>): string[] {
  const texts: string[] = [];
  for (const policy of policies) {
    if (!selects(policy.spec?.podSelector, pod) || !policyTypes(policy).includes(direction)) continue;
    const rules = rulesOf(policy, direction);
    for (const rule of rules) {
      const ports = rule.ports?.length ? rule.ports.map((p) => `${p.protocol ?? 'TCP'}/${String(p.port ?? '*')}${p.endPort !== undefined ? `-${p.endPort}` : ''}`) : ['any port'];
      const peers = rule.peers?.length ? rule.peers.map(peerText) : ['anywhere'];
      for (const port of ports) for (const peer of peers) texts.push(`${port} ${direction === 'Ingress' ? 'from' : 'to'} ${peer}`);
    }
  }
  return texts.sort();
}

// ---- builds ----------------------------------------------------------------------------

function policiesOf(objects: readonly KubeObject[]): Policy[] {
  return objects.filter((o) => o.kind === 'NetworkPolicy') as Policy[];
}

function policy(objects: readonly KubeObject[], name: string): Policy {
  return find<Policy>(objects, 'NetworkPolicy', name);
}

function withoutPolicies(objects: readonly KubeObject[]): KubeObject[] {
  return objects.filter((o) => o.kind !== 'NetworkPolicy');
}

/**
 * A user's overlay in a fresh temp dir: `resources` and the component, referenced
 * relatively under `manifests` (the repository's, or a private copy), plus `patches`
 * (YAML lines of the `patches:` list, as a user writes them).
 */
async function userOverlay(t: Teardown, spec: { manifests?: string; resources: string[]; patches?: string }): Promise<KubeObject[]> {
  const manifests = spec.manifests ?? MANIFESTS;
  const dir = await mkdtemp(join(tmpdir(), 'secrets-init-user-overlay-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const rel = (path: string) => relative(dir, join(manifests, path));
  const text = [
    'apiVersion: kustomize.config.k8s.io/v1beta1',
    'kind: Kustomization',
    'resources:',
    ...spec.resources.map((r) => `  - ${rel(r)}`),
    'components:',
    `  - ${rel(COMPONENT)}`,
    ...(spec.patches !== undefined ? ['patches:', spec.patches.trimEnd()] : []),
  ].join('\n');
  await writeFile(join(dir, 'kustomization.yaml'), `${text}\n`);
  return kustomize(dir);
}

function webhookPod(objects: readonly KubeObject[]): { labels: Record<string, string>; ports: Record<string, number> } {
  const deployment = find<KubeObject & V1Deployment>(objects, 'Deployment', APP_NAME);
  const ports = Object.fromEntries((webhookContainer(deployment).ports ?? []).map((p) => [p.name ?? '', p.containerPort]));
  return { labels: deployment.spec?.template.metadata?.labels ?? {}, ports };
}

const API_SERVER = { ip: '192.0.2.10' };
const MONITORING_POD: Peer = { namespace: 'monitoring', pod: { 'app.kubernetes.io/name': 'prometheus' } };
const KUBE_DNS: Peer = { namespace: 'kube-system', pod: { 'k8s-app': 'kube-dns' } };

/** Objects of a build with the component: schema-valid, the six policies, all of them over exactly the webhook's pods. */
function checkComponentBuild(t: Test, objects: readonly KubeObject[]): void {
  checkObjects(t, objects);
  t.same(policiesOf(objects).map((p) => p.metadata.name).sort(), POLICY_NAMES, 'the six NetworkPolicies');
  const deployment = find<KubeObject & V1Deployment>(objects, 'Deployment', APP_NAME);
  const service = find<KubeObject & V1Service>(objects, 'Service', APP_NAME);
  const { labels } = webhookPod(objects);
  for (const p of policiesOf(objects)) {
    const selector = p.spec?.podSelector ?? {};
    t.equal(p.metadata.namespace, NAMESPACE, `${p.metadata.name}: in ${NAMESPACE}`);
    t.same(selector, deployment.spec?.selector, `${p.metadata.name}: the podSelector is the Deployment's selector`);
    t.same(selector.matchLabels, service.spec?.selector, `${p.metadata.name}: and the Service's`);
    t.ok(selects(selector, labels), `${p.metadata.name}: selects the webhook's pods`);
    t.notOk(selects(selector, {}), `${p.metadata.name}: not every pod of the namespace`);
    t.notOk(selects(selector, { 'app.kubernetes.io/name': APP_NAME }), `${p.metadata.name}: not pods with the name label alone`);
    t.notOk(selects(selector, { 'app.kubernetes.io/name': 'other', 'app.kubernetes.io/component': 'admission-webhook' }), `${p.metadata.name}: not another app's webhook`);
  }
}

// ---- tests -----------------------------------------------------------------------------

t.test('the component renders with the base and with every overlay, adding only the policies', async (t) => {
  await t.test('base', async (t) => {
    const objects = await buildOverlay(t, { resources: ['base'], components: [COMPONENT] });
    checkComponentBuild(t, objects);
    t.same(withoutPolicies(objects), await build('base'), 'the rest is the base, unchanged');
  });
  const overlays = (await readdir(join(MANIFESTS, 'overlays'), { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name).sort();
  t.ok(overlays.includes('manual'), 'overlays/manual exists (built below, with certificate files)');
  // The manual overlays need certificate files: overlays/manual is built below with them.
  for (const overlay of overlays.filter((o) => o !== 'manual' && o !== 'manual-opt-in')) {
    await t.test(overlay, async (t) => {
      const objects = await buildOverlay(t, { resources: [`overlays/${overlay}`], components: [COMPONENT] });
      checkComponentBuild(t, objects);
      t.same(withoutPolicies(objects), await build(`overlays/${overlay}`), `the rest is overlays/${overlay}, unchanged`);
      const base = await buildOverlay(t, { resources: ['base'], components: [COMPONENT] });
      t.same(policiesOf(objects), policiesOf(base), 'the same policies as with the base');
    });
  }
  await t.test('manual (with certificate files in place)', async (t) => {
    // Only the build is of interest here; overlays.test.ts checks real certificates.
    const manifests = await copyManifests(t);
    const certs = join(manifests, 'overlays', 'manual', 'certs');
    const pem = (label: string) => `-----BEGIN ${label}-----\nAAAA\n-----END ${label}-----\n`;
    await writeFile(join(certs, 'ca.pem'), pem('CERTIFICATE'));
    await writeFile(join(certs, 'cert.pem'), pem('CERTIFICATE'));
    await writeFile(join(certs, 'key.pem'), pem('PRIVATE KEY'));
    const objects = await userOverlay(t, { manifests, resources: ['overlays/manual'] });
    checkComponentBuild(t, objects);
    t.same(withoutPolicies(objects), await kustomize(join(manifests, 'overlays', 'manual')), 'the rest is overlays/manual, unchanged');
    t.ok(kinds(objects).includes('Secret/secrets-init-webhook-tls'), 'with its certificate Secret');
  });
});

t.test('the schema check catches a broken NetworkPolicy (so the checks above can fail)', async (t) => {
  const objects = await buildOverlay(t, { resources: ['base'], components: [COMPONENT] });
  const good = policy(objects, 'secrets-init-webhook-from-api-server');
  t.same(schemaProblems(good), [], 'the shipped policy is valid');
  const noCidr = structuredClone(good);
  delete (noCidr.spec?.ingress?.[0]?.from?.[0]?.ipBlock as Partial<{ cidr: string }> | undefined)?.cidr;
  t.ok(schemaProblems(noCidr).length > 0, 'an ipBlock without cidr is refused');
  const typo = structuredClone(good);
  (typo.spec as Record<string, unknown>)['ingres'] = [];
  t.same(unknownFields(typo), ['.spec.ingres'], 'an unknown field is reported');
  t.ok(schemaProblems(typo).some((problem) => problem.includes('.spec.ingres')), 'and refused');
});

t.test('defaults: what the webhook pods may receive and send', async (t) => {
  const objects = await buildOverlay(t, { resources: ['overlays/self-signed'], components: [COMPONENT] });
  const policies = policiesOf(objects);
  const { labels, ports } = webhookPod(objects);
  t.equal(ports['https'], 8443, 'the container serves admissions on 8443');
  t.equal(ports['metrics'], 9090, 'and telemetry on 9090');

  const deny = policy(objects, 'secrets-init-webhook-default-deny');
  t.same(deny.spec?.policyTypes, ['Ingress', 'Egress'], 'default-deny isolates both directions');
  t.equal(deny.spec?.ingress, undefined, 'default-deny allows no ingress');
  t.equal(deny.spec?.egress, undefined, 'default-deny allows no egress');

  t.same(
    ruleTexts(policies, 'Ingress', labels),
    [`TCP/8443 from ipBlock ${PLACEHOLDER}`, 'TCP/9090 from namespaces {kubernetes.io/metadata.name In (monitoring)} pods *'],
    'ingress: 8443 only from the API server list (placeholder), 9090 only from the monitoring namespace',
  );
  t.same(
    ruleTexts(policies, 'Egress', labels),
    [
      'TCP/443 to ipBlock 0.0.0.0/0 except 169.254.0.0/16',
      `TCP/443 to ipBlock ${PLACEHOLDER}`,
      'TCP/53 to namespaces {kubernetes.io/metadata.name=kube-system} pods {k8s-app=kube-dns}',
      `TCP/6443 to ipBlock ${PLACEHOLDER}`,
      'UDP/53 to namespaces {kubernetes.io/metadata.name=kube-system} pods {k8s-app=kube-dns}',
    ],
    'egress: DNS to kube-dns in kube-system, the API server list (placeholder) on 443/6443, registries on 443',
  );
  t.equal(policy(objects, 'secrets-init-webhook-from-api-server').spec?.ingress?.[0]?.ports?.[0]?.port, ports['https'], "the API server rule is on the container's https port");
  t.equal(policy(objects, 'secrets-init-webhook-from-monitoring').spec?.ingress?.[0]?.ports?.[0]?.port, ports['metrics'], "the monitoring rule is on the container's metrics port");

  const ingress: Array<[string, Peer, string, number, boolean]> = [
    ['the API server (in the list) to 8443', API_SERVER, 'TCP', 8443, true],
    ['the API server to 9090', API_SERVER, 'TCP', 9090, false],
    ['the API server over UDP', API_SERVER, 'UDP', 8443, false],
    ['an address outside the list to 8443', { ip: '10.0.0.5' }, 'TCP', 8443, false],
    ['a pod in monitoring to 9090', MONITORING_POD, 'TCP', 9090, true],
    ['a pod in monitoring to 8443', MONITORING_POD, 'TCP', 8443, false],
    ['a pod in default to 9090', { namespace: 'default', pod: { app: 'shop' } }, 'TCP', 9090, false],
    ['a pod in kube-system to 8443', { namespace: 'kube-system', pod: { 'k8s-app': 'kube-dns' } }, 'TCP', 8443, false],
    ['another pod of secrets-init to 8443', { namespace: NAMESPACE, pod: labels }, 'TCP', 8443, false],
    ['an address outside the list to 9090', { ip: '10.0.0.5' }, 'TCP', 9090, false],
  ];
  for (const [what, peer, protocol, port, expected] of ingress) {
    t.equal(allowed(policies, 'Ingress', labels, peer, protocol, port, ports), expected, `ingress from ${what}: ${expected ? 'allowed' : 'denied'}`);
  }
  const egress: Array<[string, Peer, string, number, boolean]> = [
    ['kube-dns, UDP 53', KUBE_DNS, 'UDP', 53, true],
    ['kube-dns, TCP 53', KUBE_DNS, 'TCP', 53, true],
    ['kube-dns, TCP 443', KUBE_DNS, 'TCP', 443, false],
    ['a pod labelled k8s-app=kube-dns outside kube-system', { namespace: 'default', pod: { 'k8s-app': 'kube-dns' } }, 'UDP', 53, false],
    ['another kube-system pod on 53', { namespace: 'kube-system', pod: { 'k8s-app': 'metrics-server' } }, 'UDP', 53, false],
    ['an outside resolver on 53', { ip: '8.8.8.8' }, 'UDP', 53, false],
    ['the API server (in the list) on 6443', API_SERVER, 'TCP', 6443, true],
    ['the API server (in the list) on 443', API_SERVER, 'TCP', 443, true],
    ['an address outside the list on 6443', { ip: '10.0.0.1' }, 'TCP', 6443, false],
    ['a registry on 443', { ip: '203.0.113.7' }, 'TCP', 443, true],
    ['a registry on 80', { ip: '203.0.113.7' }, 'TCP', 80, false],
    ['a registry on 5000', { ip: '203.0.113.7' }, 'TCP', 5000, false],
    ['instance metadata on 80', { ip: '169.254.169.254' }, 'TCP', 80, false],
    ['instance metadata on 443', { ip: '169.254.169.254' }, 'TCP', 443, false],
    ['the EKS Pod Identity agent', { ip: '169.254.170.23' }, 'TCP', 80, false],
    ['an IPv6 address on 443 (not in the default list)', { ip: '2001:db8::1' }, 'TCP', 443, false],
    ['a pod in monitoring', MONITORING_POD, 'TCP', 9090, false],
  ];
  for (const [what, peer, protocol, port, expected] of egress) {
    t.equal(allowed(policies, 'Egress', labels, peer, protocol, port), expected, `egress to ${what}: ${expected ? 'allowed' : 'denied'}`);
  }
  t.equal(allowed(policies, 'Ingress', { app: 'shop' }, { ip: '10.0.0.5' }, 'TCP', 8080), true, 'pods that are not the webhook are not isolated by these policies');
});

/** The settings as docs/install.md and the component's kustomization.yaml tell a user to write them. */
const USER_PATCHES = `
  - target: {kind: NetworkPolicy, name: secrets-init-webhook-from-api-server}
    patch: |-
      - op: replace
        path: /spec/ingress/0/from
        value:
          - ipBlock: {cidr: 10.0.0.0/28}
          - ipBlock: {cidr: 10.0.1.0/28}
  - target: {kind: NetworkPolicy, name: secrets-init-webhook-to-api-server}
    patch: |-
      - op: replace
        path: /spec/egress/0/to
        value:
          - ipBlock: {cidr: 172.20.0.10/32}
          - ipBlock: {cidr: 172.20.0.11/32}
  - target: {kind: NetworkPolicy, name: secrets-init-webhook-from-monitoring}
    patch: |-
      - op: replace
        path: /spec/ingress/0/from/0/namespaceSelector/matchExpressions/0/values
        value: ["prometheus", "gmp-system"]
  - target: {kind: NetworkPolicy, name: secrets-init-webhook-to-registries}
    patch: |-
      - op: replace
        path: /spec/egress/0/to
        value:
          - ipBlock: {cidr: 203.0.113.0/24}
          - ipBlock: {cidr: "2001:db8::/32"}
      - op: add
        path: /spec/egress/0/ports/-
        value: {protocol: TCP, port: 5000}
`;

t.test('settings: a user overlay changes the CIDRs, the monitoring namespaces and the registry ports', async (t) => {
  const defaults = await buildOverlay(t, { resources: ['overlays/self-signed'], components: [COMPONENT] });
  const objects = await userOverlay(t, { resources: ['overlays/self-signed'], patches: USER_PATCHES });
  checkComponentBuild(t, objects);
  const policies = policiesOf(objects);
  const { labels, ports } = webhookPod(objects);

  t.same(policy(objects, 'secrets-init-webhook-from-api-server').spec?.ingress, [{ from: [{ ipBlock: { cidr: '10.0.0.0/28' } }, { ipBlock: { cidr: '10.0.1.0/28' } }], ports: [{ protocol: 'TCP', port: 8443 }] }], 'from-api-server: the given CIDRs, still on 8443 only');
  t.same(policy(objects, 'secrets-init-webhook-to-api-server').spec?.egress, [{ to: [{ ipBlock: { cidr: '172.20.0.10/32' } }, { ipBlock: { cidr: '172.20.0.11/32' } }], ports: [{ protocol: 'TCP', port: 443 }, { protocol: 'TCP', port: 6443 }] }], 'to-api-server: the given addresses, on 443 and 6443');
  t.same(
    policy(objects, 'secrets-init-webhook-from-monitoring').spec?.ingress?.[0]?.from?.[0]?.namespaceSelector,
    { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: ['prometheus', 'gmp-system'] }] },
    'from-monitoring: the given namespaces',
  );
  t.same(policy(objects, 'secrets-init-webhook-to-registries').spec?.egress, [{ to: [{ ipBlock: { cidr: '203.0.113.0/24' } }, { ipBlock: { cidr: '2001:db8::/32' } }], ports: [{ protocol: 'TCP', port: 443 }, { protocol: 'TCP', port: 5000 }] }], 'to-registries: the given ranges, 443 and 5000');
  t.notOk(JSON.stringify(policies).includes(PLACEHOLDER), 'no placeholder left');

  for (const name of ['secrets-init-webhook-default-deny', 'secrets-init-webhook-to-dns']) {
    t.same(policy(objects, name), policy(defaults, name), `${name}: unchanged`);
  }
  t.same(withoutPolicies(objects), withoutPolicies(defaults), 'nothing but the policies changes');

  const cases: Array<[Direction, string, Peer, string, number, boolean]> = [
    ['Ingress', 'the old placeholder address to 8443', API_SERVER, 'TCP', 8443, false],
    ['Ingress', 'an address of the new list to 8443', { ip: '10.0.1.5' }, 'TCP', 8443, true],
    ['Ingress', 'an address next to the new list to 8443', { ip: '10.0.0.16' }, 'TCP', 8443, false],
    ['Ingress', 'a pod in monitoring to 9090', MONITORING_POD, 'TCP', 9090, false],
    ['Ingress', 'a pod in prometheus to 9090', { namespace: 'prometheus', pod: { app: 'prometheus' } }, 'TCP', 9090, true],
    ['Ingress', 'a pod in gmp-system to 9090', { namespace: 'gmp-system', pod: { app: 'collector' } }, 'TCP', 9090, true],
    ['Ingress', 'a pod in prometheus to 8443', { namespace: 'prometheus', pod: { app: 'prometheus' } }, 'TCP', 8443, false],
    ['Egress', 'the new API server address on 6443', { ip: '172.20.0.11' }, 'TCP', 6443, true],
    ['Egress', 'the old placeholder address on 6443', API_SERVER, 'TCP', 6443, false],
    ['Egress', 'a registry in the new range on 5000', { ip: '203.0.113.9' }, 'TCP', 5000, true],
    ['Egress', 'a registry in the new IPv6 range on 443', { ip: '2001:db8::5' }, 'TCP', 443, true],
    ['Egress', 'an address outside the registry ranges on 443', { ip: '198.51.100.1' }, 'TCP', 443, false],
    ['Egress', 'instance metadata on 443', { ip: '169.254.169.254' }, 'TCP', 443, false],
    ['Egress', 'kube-dns, UDP 53', KUBE_DNS, 'UDP', 53, true],
  ];
  for (const [direction, what, peer, protocol, port, expected] of cases) {
    t.equal(allowed(policies, direction, labels, peer, protocol, port, ports), expected, `${direction.toLowerCase()} ${what}: ${expected ? 'allowed' : 'denied'}`);
  }
});

t.test('settings: the API server peers may be pods (a control plane that connects through agents in kube-system)', async (t) => {
  const objects = await userOverlay(t, {
    resources: ['overlays/cert-manager'],
    patches: `
  - target: {kind: NetworkPolicy, name: secrets-init-webhook-from-api-server}
    patch: |-
      - op: replace
        path: /spec/ingress/0/from
        value:
          - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}
            podSelector: {matchLabels: {k8s-app: konnectivity-agent}}
          - ipBlock: {cidr: 172.16.0.0/28}
`,
  });
  checkComponentBuild(t, objects);
  const policies = policiesOf(objects);
  const { labels, ports } = webhookPod(objects);
  t.same(
    ruleTexts(policies, 'Ingress', labels),
    ['TCP/8443 from ipBlock 172.16.0.0/28', 'TCP/8443 from namespaces {kubernetes.io/metadata.name=kube-system} pods {k8s-app=konnectivity-agent}', 'TCP/9090 from namespaces {kubernetes.io/metadata.name In (monitoring)} pods *'],
    'ingress: the agents and the range on 8443, monitoring on 9090',
  );
  const agent: Peer = { namespace: 'kube-system', pod: { 'k8s-app': 'konnectivity-agent' } };
  t.equal(allowed(policies, 'Ingress', labels, agent, 'TCP', 8443, ports), true, 'an agent pod in kube-system to 8443: allowed');
  t.equal(allowed(policies, 'Ingress', labels, agent, 'TCP', 9090, ports), false, 'an agent pod to 9090: denied');
  t.equal(allowed(policies, 'Ingress', labels, { namespace: 'default', pod: { 'k8s-app': 'konnectivity-agent' } }, 'TCP', 8443, ports), false, 'the same label outside kube-system: denied');
  t.equal(allowed(policies, 'Ingress', labels, { ip: '172.16.0.3' }, 'TCP', 8443, ports), true, 'an address of the range: allowed');
});

t.test('settings: a user overlay may drop a policy; the pods stay isolated', async (t) => {
  const objects = await userOverlay(t, {
    resources: ['overlays/self-signed'],
    patches: `
  - patch: |-
      $patch: delete
      apiVersion: networking.k8s.io/v1
      kind: NetworkPolicy
      metadata: {name: secrets-init-webhook-from-monitoring, namespace: secrets-init}
`,
  });
  checkObjects(t, objects);
  const policies = policiesOf(objects);
  const { labels, ports } = webhookPod(objects);
  t.same(policies.map((p) => p.metadata.name).sort(), POLICY_NAMES.filter((name) => name !== 'secrets-init-webhook-from-monitoring'), 'the other five remain');
  t.same(ruleTexts(policies, 'Ingress', labels), [`TCP/8443 from ipBlock ${PLACEHOLDER}`], 'ingress: the API server rule only');
  t.equal(allowed(policies, 'Ingress', labels, MONITORING_POD, 'TCP', 9090, ports), false, 'a pod in monitoring to 9090: denied (still isolated)');
  t.equal(allowed(policies, 'Ingress', labels, { ip: '10.0.0.5' }, 'TCP', 9090, ports), false, 'anything else to 9090: denied');
});
