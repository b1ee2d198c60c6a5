/**
 * `audit`: the running and pending pods of a cluster whose containers hold secret
 * references but do not run secrets-init. The same reads (Secrets and ConfigMaps of the
 * pod's namespace, values dropped at once) and the same analysis (planPod) as the webhook;
 * a pod that opts out is listed apart; the likely reason of a miss comes from the webhook's
 * configuration (selectors, creation time) when it can be read.
 */
import type { AuditOptions } from '../cli/parse.js';
import { DEFAULTS } from '../cli/flags.js';
import { ANNOTATION_INJECT } from '../core/annotations.js';
import { objectKey, referencedObjects } from '../core/env-sources.js';
import { selectorMismatch } from '../core/label-selector.js';
import type { ObjectFacts } from '../core/object-facts.js';
import { planPod } from '../core/pod-mutation.js';
import type { Pod } from '../core/pod.js';
import { NO_RUNTIME_OPTIONS } from '../core/runtime-options.js';
import type { InjectionSettings } from '../core/settings.js';
import { DEFAULT_POD_LIMITS } from '../core/settings.js';
import { readObjectFacts } from '../admission/object-reads.js';
import { checkPod } from '../admission/pod-schema.js';
import { LookupError } from '../kubernetes/lookup.js';
import type { KubeObjectReader } from '../kubernetes/lookup.js';
import type { ClusterScanner, NamespaceFacts, WebhookFacts } from '../kubernetes/cluster-scan.js';
import { CLUSTER_FAILURES, ClusterAccessError, OFFLINE_CALL_TIMEOUT_MS, openCluster } from './cluster.js';
import type { Cluster } from './cluster.js';
import type { CommandIo, ExitCode } from './inject.js';

export interface AuditedPod {
  namespace: string;
  pod: string;
  /** `Deployment/api`, `Job/backfill`, `-` for a bare pod. */
  owner: string;
  /** Containers (init containers too) holding references without secrets-init. */
  containers: string[];
  /** Variables holding references, by container: names only. */
  variables: Record<string, string[]>;
  phase: string;
  reason: string;
}

export interface AuditReport {
  missed: AuditedPod[];
  optedOut: AuditedPod[];
  /** Namespaces whose pods could not be listed, and why. */
  notScanned: Array<{ namespace: string; error: string }>;
  /** Pods some of whose Secrets or ConfigMaps could not be read (their other references were still checked). */
  incomplete: Array<{ namespace: string; pod: string; errors: string[] }>;
  scanned: { namespaces: number; pods: number };
}


export async function runAudit(options: AuditOptions, io: CommandIo): Promise<ExitCode> {
  const fail = (message: string): ExitCode => {
    io.stderr.write(`secrets-init-webhook audit: ${message}\n`);
    return 2;
  };
  let cluster: Cluster | undefined;
  try {
    cluster = await openCluster(options.kube, io.env);
  } catch (error) {
    if (error instanceof ClusterAccessError) return fail(error.message);
    throw error;
  }
  if (cluster === undefined) return fail('no cluster to audit: give --kubeconfig, set KUBECONFIG, or run in a cluster');
  const { createClusterScanner } = await import('../kubernetes/cluster-scan.js');
  const scanner = createClusterScanner(cluster.kubeConfig, OFFLINE_CALL_TIMEOUT_MS);
  try {
    const report = await audit(options, cluster, scanner);
    io.stdout.write(options.output === 'json' ? `${JSON.stringify(report, null, 2)}\n` : table(report));
    return auditExitCode(report);
  } catch (error) {
    if (error instanceof LookupError) return fail(`${CLUSTER_FAILURES.has(error.cause) ? `cannot use the cluster at ${cluster.server}: ` : ''}${error.message}`);
    throw error;
  }
}

/**
 * 1 when a pod was missed; otherwise 2 when a namespace could not be scanned or a pod's
 * references could not all be read (the audit cannot say that nothing was missed); 0 when
 * every pod was checked and none was missed.
 */
export function auditExitCode(report: AuditReport): ExitCode {
  if (report.missed.length > 0) return 1;
  return report.notScanned.length > 0 || report.incomplete.length > 0 ? 2 : 0;
}

async function audit(options: AuditOptions, cluster: Cluster, scanner: ClusterScanner): Promise<AuditReport> {
  const settings: InjectionSettings = {
    image: DEFAULTS.image,
    pullPolicy: 'IfNotPresent',
    volumeName: DEFAULTS.volumeName,
    volumePath: options.volumePath,
    runtime: NO_RUNTIME_OPTIONS,
    supervisors: options.supervisors,
    limits: DEFAULT_POD_LIMITS,
  };
  // The first call also tells whether the cluster can be reached at all (rejects then).
  const webhook = await webhookConfiguration(scanner, options.webhookConfiguration);
  let namespaces: NamespaceFacts[];
  if (options.allNamespaces) {
    try {
      namespaces = await scanner.namespaces(options.pageSize);
    } catch (error) {
      if (error instanceof LookupError && error.cause === 'forbidden') throw new LookupError(error.ref, error.cause, `${error.message.replace(/^cannot read [^:]+: /, '')}; scan namespaces one at a time with -n`, error.httpStatus);
      throw error;
    }
  } else {
    const name = options.namespace ?? cluster.namespace ?? 'default';
    let facts: NamespaceFacts | undefined;
    try {
      facts = await scanner.namespace(name);
    } catch (error) {
      if (!(error instanceof LookupError) || error.cause !== 'forbidden') throw error;
    }
    namespaces = [facts ?? { name, labels: { 'kubernetes.io/metadata.name': name } }];
  }

  const report: AuditReport = { missed: [], optedOut: [], notScanned: [], incomplete: [], scanned: { namespaces: 0, pods: 0 } };
  const context: AuditContext = { webhook, settings, reader: cluster.reader, facts: new Map(), report };
  for (const namespace of namespaces) {
    try {
      for await (const page of scanner.pods(namespace.name, options.pageSize)) {
        for (const object of page) {
          const phase = (object['status'] as { phase?: unknown } | undefined)?.phase;
          if (phase !== 'Running' && phase !== 'Pending') continue;
          const checked = checkPod(object);
          if ('problem' in checked) continue;
          report.scanned.pods++;
          await auditPod(checked.pod, String(phase), namespace, context);
        }
      }
      report.scanned.namespaces++;
    } catch (error) {
      if (!(error instanceof LookupError) || CLUSTER_FAILURES.has(error.cause)) throw error;
      // Forbidden (or a server error) for this namespace: said, and the scan goes on.
      report.notScanned.push({ namespace: namespace.name, error: error.message });
    }
  }
  return report;
}

type WebhookView = { state: 'found'; facts: WebhookFacts } | { state: 'missing' } | { state: 'unreadable'; error: string };

async function webhookConfiguration(scanner: ClusterScanner, name: string): Promise<WebhookView> {
  try {
    const facts = await scanner.webhookConfiguration(name);
    return facts === undefined ? { state: 'missing' } : { state: 'found', facts };
  } catch (error) {
    if (!(error instanceof LookupError) || CLUSTER_FAILURES.has(error.cause)) throw error;
    return { state: 'unreadable', error: error.message };
  }
}

/** What every pod's audit shares: the webhook's configuration, the analysis settings, the reads (each object once), the report. */
interface AuditContext {
  webhook: WebhookView;
  settings: InjectionSettings;
  reader: KubeObjectReader;
  /** Facts of Secrets and ConfigMaps by `namespace/Kind/name`, read once for all pods. */
  facts: Map<string, Promise<ObjectFacts>>;
  report: AuditReport;
}

async function auditPod(pod: Pod, phase: string, namespace: NamespaceFacts, context: AuditContext): Promise<void> {
  const { webhook, settings, report } = context;
  const optedOut = (pod.metadata?.annotations?.[ANNOTATION_INJECT] ?? '').toLowerCase() === 'false';
  // An opted-out pod is analysed as if it had not opted out: it is listed only if it holds references.
  const analysed: Pod = optedOut ? { ...pod, metadata: { ...pod.metadata, annotations: withoutOptOut(pod.metadata?.annotations ?? {}) } } : pod;
  const objects = new Map<string, ObjectFacts>();
  const errors: string[] = [];
  for (const { object } of referencedObjects(analysed, settings)) {
    const key = `${namespace.name}/${objectKey(object)}`;
    let pending = context.facts.get(key);
    if (pending === undefined) {
      pending = readObjectFacts(context.reader, namespace.name, object);
      context.facts.set(key, pending);
    }
    try {
      objects.set(objectKey(object), await pending);
    } catch (error) {
      if (!(error instanceof LookupError)) throw error;
      if (CLUSTER_FAILURES.has(error.cause)) throw error;
      errors.push(error.message);
    }
  }
  const name = pod.metadata?.name ?? '';
  if (errors.length > 0) report.incomplete.push({ namespace: namespace.name, pod: name, errors });
  const { analysis } = planPod(analysed, { namespace: namespace.name, objects }, settings);
  const holding = analysis.containers.filter((c) => !c.wrapped && c.references.length > 0);
  if (holding.length === 0) return;
  const entry: AuditedPod = {
    namespace: namespace.name,
    pod: name,
    owner: ownerOf(pod),
    containers: holding.map((c) => c.slot.container.name),
    variables: Object.fromEntries(holding.map((c) => [c.slot.container.name, c.references.map((r) => r.variable)])),
    phase,
    reason: optedOut ? `annotation ${ANNOTATION_INJECT}: "false"` : missReason(pod, namespace, webhook),
  };
  (optedOut ? report.optedOut : report.missed).push(entry);
}

function withoutOptOut(annotations: Record<string, string>): Record<string, string> {
  const copy = { ...annotations };
  delete copy[ANNOTATION_INJECT];
  return copy;
}

/** The controller through ownerReferences; a ReplicaSet of a Deployment named as its Deployment. */
function ownerOf(pod: Pod): string {
  const references = (pod.metadata as { ownerReferences?: Array<{ kind?: string; name?: string; controller?: boolean }> } | undefined)?.ownerReferences ?? [];
  const owner = references.find((reference) => reference.controller === true) ?? references[0];
  if (owner?.kind === undefined || owner.name === undefined) return '-';
  const hash = pod.metadata?.labels?.['pod-template-hash'];
  // The Deployment controller names its ReplicaSets <deployment>-<pod-template-hash>.
  if (owner.kind === 'ReplicaSet' && hash !== undefined && hash !== '' && owner.name.endsWith(`-${hash}`)) return `Deployment/${owner.name.slice(0, -hash.length - 1)}`;
  return `${owner.kind}/${owner.name}`;
}

/** The likely reason the webhook did not change the pod. */
function missReason(pod: Pod, namespace: NamespaceFacts, webhook: WebhookView): string {
  if (webhook.state === 'missing') return 'the webhook is not installed (no MutatingWebhookConfiguration of that name)';
  if (webhook.state === 'unreadable') {
    if (Object.prototype.hasOwnProperty.call(namespace.labels, 'admission.secrets-init/ignore')) return 'namespace label admission.secrets-init/ignore opts the namespace out';
    return `unknown (the webhook configuration cannot be read: ${webhook.error})`;
  }
  const labels = pod.metadata?.labels ?? {};
  const exclusions = webhook.facts.webhooks.map((entry) => {
    const byNamespace = selectorMismatch(entry.namespaceSelector, namespace.labels);
    if (byNamespace !== undefined) return `namespace ${namespace.name} is not selected (${byNamespace})`;
    const byObject = selectorMismatch(entry.objectSelector, labels);
    return byObject === undefined ? undefined : `the pod's labels are not selected (${byObject})`;
  });
  const excluded = exclusions.length > 0 && exclusions.every((reason) => reason !== undefined) ? exclusions[0] : undefined;
  if (excluded !== undefined) return excluded;
  const created = pod.metadata?.creationTimestamp;
  const configured = webhook.facts.creationTimestamp;
  if (typeof created === 'string' && configured !== undefined && Date.parse(created) < Date.parse(configured)) {
    return `created before the webhook was configured (pod ${created}, configuration ${configured})`;
  }
  return 'unknown: admitted while the webhook was unavailable (failurePolicy Ignore) or skipped (a matchCondition), or its references changed after it started';
}

function table(report: AuditReport): string {
  const lines: string[] = [];
  const rows = (entries: AuditedPod[]) => {
    const header = ['NAMESPACE', 'POD', 'OWNER', 'CONTAINERS', 'REASON'];
    const cells = entries.map((e) => [e.namespace, e.pod, e.owner, e.containers.join(','), e.reason]);
    const widths = header.map((h, i) => Math.max(h.length, ...cells.map((row) => (row[i] ?? '').length)));
    for (const row of [header, ...cells]) lines.push(row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  '));
  };
  if (report.missed.length > 0) {
    lines.push(`Pods holding secret references without secrets-init (${report.missed.length}):`);
    rows(report.missed);
  } else if (report.notScanned.length > 0 || report.incomplete.length > 0) {
    const unchecked = [
      report.notScanned.length > 0 ? `${report.notScanned.length} namespace(s) not scanned` : '',
      report.incomplete.length > 0 ? `${report.incomplete.length} pod(s) not fully checked` : '',
    ].filter((part) => part !== '');
    lines.push(`No missed pod found among those checked, but the audit is incomplete: ${unchecked.join(', ')} (below).`);
  } else {
    lines.push('No pod holds secret references without secrets-init.');
  }
  if (report.optedOut.length > 0) {
    lines.push('', `Opted out by annotation, references left as they are (${report.optedOut.length}):`);
    rows(report.optedOut);
  }
  for (const { namespace, error } of report.notScanned) lines.push('', `Namespace ${namespace} not scanned: ${error}`);
  for (const { namespace, pod, errors } of report.incomplete) lines.push('', `Pod ${namespace}/${pod}: some references not checked: ${errors.join('; ')}`);
  lines.push('', `Scanned ${report.scanned.pods} running or pending pods in ${report.scanned.namespaces} namespaces.`);
  return `${lines.join('\n')}\n`;
}
