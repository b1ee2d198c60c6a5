/**
 * Coalescing for one admission review: each distinct object is read at most
 * once, and every caller asking for it shares that one promise (and its
 * outcome, including a failure).
 *
 * Create one per admission and drop it with the admission: it holds Secret
 * data only as long as the admission does, and is not a cache across pods.
 */
import type { DataObjectRef, KubeObjectReader, ObjectKind, ObjectLookup, ServiceAccountLookup } from './lookup.js';

function key(kind: ObjectKind, namespace: string, name: string): string {
  return JSON.stringify([kind, namespace, name]);
}

export function perAdmissionReader(inner: KubeObjectReader): KubeObjectReader {
  const objects = new Map<string, Promise<ObjectLookup>>();
  const accounts = new Map<string, Promise<ServiceAccountLookup>>();
  return {
    read(ref: DataObjectRef): Promise<ObjectLookup> {
      const k = key(ref.kind, ref.namespace, ref.name);
      let pending = objects.get(k);
      if (pending === undefined) {
        pending = inner.read({ kind: ref.kind, namespace: ref.namespace, name: ref.name });
        objects.set(k, pending);
      }
      return pending;
    },
    readServiceAccount(namespace: string, name: string): Promise<ServiceAccountLookup> {
      const k = key('ServiceAccount', namespace, name);
      let pending = accounts.get(k);
      if (pending === undefined) {
        pending = inner.readServiceAccount(namespace, name);
        accounts.set(k, pending);
      }
      return pending;
    },
  };
}
