import type { Pod } from './pod.js';

const ARCH_LABEL = 'kubernetes.io/arch';

/**
 * The CPU architecture the pod will run on, when the pod pins one: its nodeSelector's
 * `kubernetes.io/arch`, else a required node affinity whose every term allows exactly
 * the same single architecture. Otherwise the cluster default.
 */
export function podArchitecture(pod: Pod, fallback: string): string {
  const selector = record(pod.spec['nodeSelector']);
  const selected = selector?.[ARCH_LABEL];
  if (typeof selected === 'string' && selected !== '') return selected;
  const terms = record(record(record(record(pod.spec['affinity'])?.['nodeAffinity'])?.['requiredDuringSchedulingIgnoredDuringExecution']))?.['nodeSelectorTerms'];
  if (!Array.isArray(terms) || terms.length === 0) return fallback;
  const perTerm = terms.map(termArchitecture);
  const first = perTerm[0];
  return first !== undefined && perTerm.every((arch) => arch === first) ? first : fallback;
}

/** The single architecture a node selector term requires, if it pins exactly one. */
function termArchitecture(term: unknown): string | undefined {
  const expressions = record(term)?.['matchExpressions'];
  if (!Array.isArray(expressions)) return undefined;
  for (const expression of expressions) {
    const e = record(expression);
    const values = e?.['values'];
    if (e?.['key'] === ARCH_LABEL && e['operator'] === 'In' && Array.isArray(values) && values.length === 1 && typeof values[0] === 'string') {
      return values[0];
    }
  }
  return undefined;
}

function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}
