import type { Container, Pod } from './pod.js';
import { containerSlots } from './pod.js';
import { wrapperPath } from './init-container.js';

export type EnvObjectKind = 'Secret' | 'ConfigMap';
export interface EnvObject { kind: EnvObjectKind; name: string }

/** Where a container's environment variables come from. */
export type EnvSource =
  | { type: 'value'; variable: string; value: string }
  | { type: 'key'; variable: string; object: EnvObject; key: string; optional: boolean }
  | { type: 'object'; object: EnvObject; optional: boolean; prefix: string };

export function objectKey(object: EnvObject): string {
  return `${object.kind}/${object.name}`;
}

export function envSources(container: Container): EnvSource[] {
  const sources: EnvSource[] = [];
  for (const from of container.envFrom ?? []) {
    const prefix = from.prefix ?? '';
    if (from.secretRef?.name) sources.push({ type: 'object', object: { kind: 'Secret', name: from.secretRef.name }, optional: from.secretRef.optional === true, prefix });
    if (from.configMapRef?.name) sources.push({ type: 'object', object: { kind: 'ConfigMap', name: from.configMapRef.name }, optional: from.configMapRef.optional === true, prefix });
  }
  for (const variable of container.env ?? []) {
    if (typeof variable.value === 'string' && variable.value !== '') {
      sources.push({ type: 'value', variable: variable.name, value: variable.value });
      continue;
    }
    const secret = variable.valueFrom?.secretKeyRef;
    const configMap = variable.valueFrom?.configMapKeyRef;
    const selector = secret ?? configMap;
    if (selector?.name) {
      sources.push({
        type: 'key',
        variable: variable.name,
        object: { kind: secret ? 'Secret' : 'ConfigMap', name: selector.name },
        key: selector.key,
        optional: selector.optional === true,
      });
    }
  }
  return sources;
}

/** A container already wrapped by a previous injection. */
export function isWrapped(container: Container, volumePath: string): boolean {
  return container.command?.[0] === wrapperPath(volumePath);
}

/**
 * The distinct Secrets and ConfigMaps the pod's not-yet-wrapped containers read
 * their environment from: what must be looked up before the pod can be mutated.
 */
export function referencedObjects(pod: Pod, volumePath: string): EnvObject[] {
  const found = new Map<string, EnvObject>();
  for (const { container } of containerSlots(pod)) {
    if (isWrapped(container, volumePath)) continue;
    for (const source of envSources(container)) {
      if (source.type !== 'value') found.set(objectKey(source.object), source.object);
    }
  }
  return [...found.values()];
}
