/**
 * `inject --explain`: per container, why it is or is not wrapped, from the pod's plan (the
 * core's analysis) and its mutation. Names and references only: values of Secrets and
 * ConfigMaps never reach the plan.
 */
import type { DecidedPod } from '../admission/pod-outcome.js';
import { ANNOTATION_INJECT } from '../core/annotations.js';

export function explainPod(label: string, { plan, outcome }: DecidedPod): string {
  const lines = [`${label}:`];
  const { analysis } = plan;
  if (analysis.optedOut) {
    lines.push(`  not injected: the pod opts out (annotation ${ANNOTATION_INJECT}: "false")`);
    return `${lines.join('\n')}\n`;
  }
  const wraps = new Map((outcome.allowed ? (outcome.mutation?.wraps ?? []) : []).map((wrap) => [`${wrap.role}/${wrap.index}`, wrap]));
  for (const container of analysis.containers) {
    const { slot } = container;
    const what = `${slot.role === 'initContainers' ? 'init container' : 'container'} "${slot.container.name}"`;
    if (container.wrapped) {
      lines.push(`  ${what}: already runs secrets-init; left as it is`);
      continue;
    }
    if (container.references.length === 0) {
      lines.push(`  ${what}: not wrapped: no variable holds a secret reference`);
      continue;
    }
    const wrap = wraps.get(`${slot.role}/${slot.index}`);
    const verdict = wrap !== undefined ? `wrapped, provider ${wrap.provider}` : container.provider !== undefined ? `would be wrapped (provider ${container.provider}), but the pod is denied` : 'not wrapped: no single provider can resolve its references';
    lines.push(`  ${what}: ${verdict}`);
    for (const reference of container.references) lines.push(`    ${reference.variable} (${reference.provider}) from ${reference.origin}`);
    if (wrap !== undefined) lines.push(`    runs: ${JSON.stringify([...wrap.command, ...wrap.args])}`);
  }
  if (!outcome.allowed) lines.push(`  denied: ${outcome.reason}`);
  return `${lines.join('\n')}\n`;
}
