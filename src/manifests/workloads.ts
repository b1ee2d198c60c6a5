/**
 * Where manifests hold pods: a Pod itself, or the pod template of a workload. The pod a
 * workload's controller would create is what the webhook sees, so injection works on it.
 */
import type { Pod } from '../core/pod.js';

/**
 * Path of the pod template in each workload kind (core and apps/batch groups). A Map, not
 * an object: `kind` is the manifest's text, and `constructor` or `__proto__` name nothing.
 */
const TEMPLATE_PATHS: ReadonlyMap<string, readonly string[]> = new Map([
  ['Pod', []],
  ['Deployment', ['spec', 'template']],
  ['StatefulSet', ['spec', 'template']],
  ['DaemonSet', ['spec', 'template']],
  ['ReplicaSet', ['spec', 'template']],
  ['ReplicationController', ['spec', 'template']],
  ['Job', ['spec', 'template']],
  ['CronJob', ['spec', 'jobTemplate', 'spec', 'template']],
]);

export type PathSegment = string | number;

/** One pod (or pod template) in a document. */
export interface PodSite {
  /** The workload's kind and name, e.g. `Deployment` `api`. */
  kind: string;
  name: string;
  /** The workload's namespace as written; undefined when it names none. */
  namespace?: string;
  /** Path of the pod-shaped object (`metadata` + `spec`) from the document's root. */
  path: PathSegment[];
  /** The pod as the webhook would see it (metadata.namespace left to the caller). */
  pod: Pod;
}

export interface ManifestObject {
  /** Path from the document's root (`[]`, or `['items', i]` in a List). */
  path: PathSegment[];
  value: Record<string, unknown>;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The Kubernetes objects of a document: itself, or the items of a `…List`. */
export function objectsOf(value: Record<string, unknown>): ManifestObject[] {
  const kind = value['kind'];
  if (typeof kind === 'string' && kind.endsWith('List') && Array.isArray(value['items'])) {
    return (value['items'] as unknown[]).flatMap((item, i) => (isRecord(item) ? objectsOf(item).map((inner) => ({ path: ['items', i, ...inner.path], value: inner.value })) : []));
  }
  return [{ path: [], value }];
}

export function valueAt(root: unknown, path: readonly PathSegment[]): unknown {
  let current = root;
  for (const segment of path) {
    if (typeof segment === 'number' ? !Array.isArray(current) : !isRecord(current)) return undefined;
    current = (current as Record<string | number, unknown>)[segment];
  }
  return current;
}

/**
 * The pod of an object that holds one: `undefined` for other kinds, or when the template
 * has no `spec.containers` list (nothing the webhook would admit either).
 */
export function podSiteOf(object: ManifestObject): PodSite | undefined {
  const { value } = object;
  const kind = value['kind'];
  if (typeof kind !== 'string') return undefined;
  const templatePath = TEMPLATE_PATHS.get(kind);
  if (templatePath === undefined) return undefined;
  const template = valueAt(value, templatePath);
  if (!isRecord(template) || !isRecord(template['spec']) || !Array.isArray(template['spec']['containers'])) return undefined;
  const metadata = isRecord(value['metadata']) ? value['metadata'] : {};
  const name = typeof metadata['name'] === 'string' ? metadata['name'] : typeof metadata['generateName'] === 'string' ? `${metadata['generateName']}<generated>` : '<unnamed>';
  const podMetadata = isRecord(template['metadata']) ? (withoutNulls(template['metadata']) as Record<string, unknown>) : {};
  // A template's pods are named by their controller: give the webhook's view of that.
  if (kind !== 'Pod' && podMetadata['name'] === undefined && podMetadata['generateName'] === undefined) podMetadata['generateName'] = `${name}-`;
  const pod = { apiVersion: 'v1', kind: 'Pod', metadata: podMetadata, spec: withoutNulls(template['spec']) } as unknown as Pod;
  const site: PodSite = { kind, name, path: [...object.path, ...templatePath], pod };
  if (typeof metadata['namespace'] === 'string' && metadata['namespace'] !== '') site.namespace = metadata['namespace'];
  return site;
}

/**
 * The kind of an object inject does not know that holds a pod template where most
 * controllers keep one (`spec.template.spec.containers`, as Argo Rollouts, OpenKruise and
 * others do; `template.spec.containers`, as a PodTemplate): undefined for other objects.
 */
export function unknownTemplateKind(object: ManifestObject): string | undefined {
  const kind = object.value['kind'];
  if (typeof kind !== 'string' || TEMPLATE_PATHS.has(kind)) return undefined;
  for (const path of [['spec', 'template', 'spec', 'containers'], ['template', 'spec', 'containers']]) {
    if (Array.isArray(valueAt(object.value, path))) return kind;
  }
  return undefined;
}

/**
 * A copy without null fields, as the API server decodes an object (`annotations:` left empty
 * in YAML is null, and absent once stored): the webhook never sees them, so neither does
 * injection. Null list items are kept (they make an invalid object, for the core to judge).
 */
export function withoutNulls(value: unknown): unknown {
  if (Array.isArray(value)) return value.map((item) => (item === null ? null : withoutNulls(item)));
  if (!isRecord(value)) return value;
  const copy: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) if (item !== null) Object.defineProperty(copy, key, { value: withoutNulls(item), enumerable: true, writable: true, configurable: true });
  return copy;
}

/** Whether two values are the same object to the API server: key order and null fields aside. */
export function sameValue(a: unknown, b: unknown): boolean {
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((item, i) => sameValue(item, b[i]));
  }
  if (!isRecord(a) || !isRecord(b)) return Object.is(a, b);
  const keys = (record: Record<string, unknown>): string[] => Object.keys(record).filter((key) => record[key] !== null).sort();
  const [keysA, keysB] = [keys(a), keys(b)];
  return keysA.length === keysB.length && keysA.every((key, i) => key === keysB[i] && sameValue(a[key], b[key]));
}
