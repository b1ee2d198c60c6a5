import type { Pod } from './pod.js';

const ARCH_LABEL = 'kubernetes.io/arch';
/** The label's name before Kubernetes 1.14; the kubelet still sets it on every node. */
const BETA_ARCH_LABEL = 'beta.kubernetes.io/arch';
const OS_LABEL = 'kubernetes.io/os';
/** The label's name before Kubernetes 1.14; nodes still carry it, and old manifests select on it. */
const BETA_OS_LABEL = 'beta.kubernetes.io/os';

/** The CPU architecture the pod will run on, when the pod pins one (see pinnedNodeLabel), by `kubernetes.io/arch` or its old `beta.` name. */
export function pinnedArchitecture(pod: Pod): string | undefined {
  return pinnedNodeLabel(pod, ARCH_LABEL) ?? pinnedNodeLabel(pod, BETA_ARCH_LABEL);
}

/**
 * Whether the pod can only run on Windows nodes: `spec.os.name: windows`, or a pinned
 * `kubernetes.io/os: windows` (or its old `beta.` name; see pinnedNodeLabel).
 */
export function runsOnWindows(pod: Pod): boolean {
  const os = record(pod.spec['os'])?.['name'];
  if (typeof os === 'string' && os !== '') return os === 'windows';
  return pinnedNodeLabel(pod, OS_LABEL) === 'windows' || pinnedNodeLabel(pod, BETA_OS_LABEL) === 'windows';
}

/**
 * The one value a node label must have for the pod to be scheduled: its nodeSelector's,
 * else that of a required node affinity whose every term allows exactly that one value.
 */
function pinnedNodeLabel(pod: Pod, label: string): string | undefined {
  const selected = record(pod.spec['nodeSelector'])?.[label];
  if (typeof selected === 'string' && selected !== '') return labelValue(selected);
  const terms = record(record(record(record(pod.spec['affinity'])?.['nodeAffinity'])?.['requiredDuringSchedulingIgnoredDuringExecution']))?.['nodeSelectorTerms'];
  if (!Array.isArray(terms) || terms.length === 0) return undefined;
  const perTerm = terms.map((term) => termPinnedValue(term, label));
  const first = perTerm[0];
  return first !== undefined && perTerm.every((value) => value === first) ? first : undefined;
}

/** The single value of `label` a node selector term requires, if it pins exactly one. */
function termPinnedValue(term: unknown, label: string): string | undefined {
  const expressions = record(term)?.['matchExpressions'];
  if (!Array.isArray(expressions)) return undefined;
  for (const expression of expressions) {
    const e = record(expression);
    const values = e?.['values'];
    if (e?.['key'] !== label || e['operator'] !== 'In' || !Array.isArray(values)) continue;
    const distinct = new Set(values);
    const [only] = distinct;
    if (distinct.size === 1 && typeof only === 'string') return labelValue(only);
  }
  return undefined;
}

/**
 * Longest value a label can have. A longer one pins nothing: no node carries it, and the API
 * server refuses the pod after the webhook. Image lookups carry the architecture into cache
 * keys kept across admissions, where one of a megabyte each would fill the heap.
 */
const MAX_LABEL_VALUE_CHARS = 63;

function labelValue(value: string): string | undefined {
  return value.length <= MAX_LABEL_VALUE_CHARS ? value : undefined;
}

function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}
