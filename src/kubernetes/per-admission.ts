/**
 * Coalescing for one admission review: each distinct object is read at most
 * once, and every caller asking for it shares that one promise (and its
 * outcome, including a failure).
 *
 * Create one per admission and drop it with the admission: it holds Secret
 * data only as long as the admission does, and is not a cache across pods.
 */
import type { DataObjectRef, KubeObjectReader, ObjectKind, ObjectLookup, ServiceAccountLookup } from './lookup.js';
import { describeRef } from './lookup.js';

/** The admission's deadline, as the reader needs it: a signal to pass on, and a place to say what is pending. */
export interface ReadDeadline {
  readonly signal: AbortSignal;
  track<T>(label: string, work: Promise<T>): Promise<T>;
}

function key(kind: ObjectKind, namespace: string, name: string): string {
  return JSON.stringify([kind, namespace, name]);
}

export function perAdmissionReader(inner: KubeObjectReader, deadline?: ReadDeadline): KubeObjectReader {
  const options = deadline === undefined ? {} : { signal: deadline.signal };
  const tracked = <T>(label: string, work: Promise<T>) => (deadline === undefined ? work : deadline.track(label, work));
  const objects = new Map<string, Promise<ObjectLookup>>();
  const accounts = new Map<string, Promise<ServiceAccountLookup>>();
  return {
    read(ref: DataObjectRef): Promise<ObjectLookup> {
      const k = key(ref.kind, ref.namespace, ref.name);
      let pending = objects.get(k);
      if (pending === undefined) {
        const copy = { kind: ref.kind, namespace: ref.namespace, name: ref.name };
        pending = tracked(describeRef(copy), inner.read(copy, options));
        objects.set(k, pending);
      }
      return pending;
    },
    readServiceAccount(namespace: string, name: string): Promise<ServiceAccountLookup> {
      const k = key('ServiceAccount', namespace, name);
      let pending = accounts.get(k);
      if (pending === undefined) {
        pending = tracked(describeRef({ kind: 'ServiceAccount', namespace, name }), inner.readServiceAccount(namespace, name, options));
        accounts.set(k, pending);
      }
      return pending;
    },
  };
}
