/**
 * A KubeObjectReader over the Secrets, ConfigMaps and ServiceAccounts of the input
 * manifests, asking a cluster (when one is configured) for what the input does not hold,
 * the way the webhook would read them from the API server.
 */
import { LookupError } from '../kubernetes/lookup.js';
import type { DataObjectRef, KubeObjectReader, ObjectKind, ObjectLookup, ServiceAccountLookup } from '../kubernetes/lookup.js';
import type { ManifestObject } from './workloads.js';

type Held = { kind: 'Secret' | 'ConfigMap'; data: ReadonlyMap<string, string> } | { kind: 'ServiceAccount'; imagePullSecrets: string[] };

/** The objects of the input that pods can read, by `Kind/namespace/name`. */
export class InputObjects {
  readonly #objects = new Map<string, Held>();

  static key(kind: ObjectKind, namespace: string, name: string): string {
    return `${kind}/${namespace}/${name}`;
  }

  /** Takes the object if it is a Secret, ConfigMap or ServiceAccount (namespace defaulted). */
  add(object: ManifestObject, defaultNamespace: string): void {
    const { value } = object;
    const kind = value['kind'];
    if (kind !== 'Secret' && kind !== 'ConfigMap' && kind !== 'ServiceAccount') return;
    if (value['apiVersion'] !== undefined && value['apiVersion'] !== 'v1') return;
    const metadata = record(value['metadata']);
    const name = metadata['name'];
    if (typeof name !== 'string' || name === '') return;
    const namespace = typeof metadata['namespace'] === 'string' && metadata['namespace'] !== '' ? metadata['namespace'] : defaultNamespace;
    const key = InputObjects.key(kind, namespace, name);
    if (kind === 'ServiceAccount') {
      const names = (Array.isArray(value['imagePullSecrets']) ? value['imagePullSecrets'] : []).map((entry: unknown) => record(entry)['name']).filter((entry): entry is string => typeof entry === 'string');
      this.#objects.set(key, { kind, imagePullSecrets: [...new Set(names)] });
      return;
    }
    const data = new Map<string, string>();
    for (const [dataKey, text] of Object.entries(record(value['data']))) {
      if (typeof text !== 'string') continue;
      // Secret data is base64, as the API server holds it; ConfigMap data is plain text.
      data.set(dataKey, kind === 'Secret' ? Buffer.from(text, 'base64').toString('utf8') : text);
    }
    // stringData is written over data when the API server stores a Secret.
    if (kind === 'Secret') for (const [dataKey, text] of Object.entries(record(value['stringData']))) if (typeof text === 'string') data.set(dataKey, text);
    this.#objects.set(key, { kind, data });
  }

  has(kind: ObjectKind, namespace: string, name: string): boolean {
    return this.#objects.has(InputObjects.key(kind, namespace, name));
  }

  get(kind: ObjectKind, namespace: string, name: string): Held | undefined {
    return this.#objects.get(InputObjects.key(kind, namespace, name));
  }
}

function record(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

/** Why an object could not be read when no cluster is configured. */
export const NO_CLUSTER = 'not in the input, and no cluster to read it from (give --kubeconfig, or add it to the input)';

/** Reads the input first, then `cluster` (undefined: nothing else to read from). */
export function manifestReader(input: InputObjects, cluster: KubeObjectReader | undefined): KubeObjectReader {
  return {
    async read(ref: DataObjectRef): Promise<ObjectLookup> {
      const held = input.get(ref.kind, ref.namespace, ref.name);
      if (held !== undefined && held.kind !== 'ServiceAccount') return { found: true, data: held.data };
      if (cluster !== undefined) return cluster.read(ref);
      throw new LookupError(ref, 'not-configured', NO_CLUSTER);
    },
    async readServiceAccount(namespace: string, name: string): Promise<ServiceAccountLookup> {
      const held = input.get('ServiceAccount', namespace, name);
      if (held !== undefined && held.kind === 'ServiceAccount') return { found: true, imagePullSecrets: held.imagePullSecrets };
      if (cluster !== undefined) return cluster.readServiceAccount(namespace, name);
      // Without a cluster, a ServiceAccount that is not in the input adds no pull secrets.
      return { found: false };
    },
  };
}
