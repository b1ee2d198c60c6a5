import { optsOut } from './annotations.js';
import type { Container, Pod } from './pod.js';
import { containerSlots } from './pod.js';
import type { WrapSettings } from './wrapping.js';
import { isWrapped } from './wrapping.js';

export type EnvObjectKind = 'Secret' | 'ConfigMap';
export interface EnvObject { kind: EnvObjectKind; name: string }

/**
 * Where a container's environment variables come from, in the order the kubelet applies
 * them: every envFrom entry, then every env entry; a later definition of a name wins.
 */
export type EnvSource =
  | { type: 'value'; variable: string; value: string }
  | { type: 'other'; variable: string; annotation?: string }
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
    const secret = variable.valueFrom?.secretKeyRef;
    const configMap = variable.valueFrom?.configMapKeyRef;
    const selector = secret ?? configMap;
    // As the kubelet judges it: a non-empty value wins, else valueFrom, else "".
    if (variable.valueFrom === undefined || (variable.value ?? '') !== '') {
      sources.push({ type: 'value', variable: variable.name, value: variable.value ?? '' });
    } else if (!selector?.name) {
      // fieldRef, resourceFieldRef, or a selector without a name: never a reference, but for
      // a pod annotation, whose value the pod gives.
      const annotation = annotationField(variable.valueFrom['fieldRef']);
      sources.push(annotation === undefined ? { type: 'other', variable: variable.name } : { type: 'other', variable: variable.name, annotation });
    } else {
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

/**
 * The annotation a `fieldRef` reads, by the API server's rule for subscripted paths:
 * `metadata.annotations['KEY']`; undefined for any other field.
 */
export function annotationField(fieldRef: unknown): string | undefined {
  const path = typeof fieldRef === 'object' && fieldRef !== null ? (fieldRef as Record<string, unknown>)['fieldPath'] : undefined;
  if (typeof path !== 'string' || !path.endsWith("']")) return undefined;
  const open = path.indexOf("['");
  if (open < 0 || path.slice(0, open) !== 'metadata.annotations') return undefined;
  return path.slice(open + 2, -2);
}

/**
 * Whether any container may read a Secret or ConfigMap: an envFrom entry, or an env entry
 * with a secretKeyRef or configMapKeyRef. A quick test that allocates nothing; when it says
 * yes, `referencedObjects` tells which objects (it may find none: a value can win over its
 * valueFrom, a container can be wrapped already).
 */
export function mayReadObjects(pod: Pod): boolean {
  return (pod.spec.initContainers ?? []).some(mayRead) || pod.spec.containers.some(mayRead);
}

function mayRead(container: Container): boolean {
  if ((container.envFrom ?? []).length > 0) return true;
  for (const variable of container.env ?? []) {
    if (variable.valueFrom?.secretKeyRef !== undefined || variable.valueFrom?.configMapKeyRef !== undefined) return true;
  }
  return false;
}

/** A Secret or ConfigMap the pod reads, and what of it: every key (envFrom), or only these. */
export interface ObjectUse {
  object: EnvObject;
  keys: 'all' | Set<string>;
}

/**
 * The distinct Secrets and ConfigMaps the pod's not-yet-wrapped containers read
 * their environment from, and which of their keys: what must be looked up before the
 * pod can be mutated, and what of each answer needs keeping. None for a pod that opts
 * out: it is left alone, whatever its objects hold or whether they can be read.
 */
export function referencedObjects(pod: Pod, settings: WrapSettings): ObjectUse[] {
  if (optsOut(pod.metadata?.annotations ?? {})) return [];
  const found = new Map<string, ObjectUse>();
  for (const { container } of containerSlots(pod)) {
    if (isWrapped(container, settings)) continue;
    for (const source of envSources(container)) {
      if (source.type !== 'key' && source.type !== 'object') continue;
      const key = objectKey(source.object);
      let use = found.get(key);
      if (use === undefined) {
        use = { object: source.object, keys: new Set() };
        found.set(key, use);
      }
      if (source.type === 'object') use.keys = 'all';
      else if (use.keys !== 'all') use.keys.add(source.key);
    }
  }
  return [...found.values()];
}
