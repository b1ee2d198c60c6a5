/** The reader used when no Kubernetes API access is configured: every read fails, saying so. */
import { LookupError } from './lookup.js';
import type { DataObjectRef, KubeObjectReader, ObjectLookup, ObjectRef, ServiceAccountLookup } from './lookup.js';

const DETAIL = 'no Kubernetes API access configured (set KUBECONFIG or run in a cluster)';

function notConfigured(ref: ObjectRef): Promise<never> {
  return Promise.reject(new LookupError(ref, 'not-configured', DETAIL));
}

export function unconfiguredReader(): KubeObjectReader {
  return {
    read(ref: DataObjectRef): Promise<ObjectLookup> {
      return notConfigured(ref);
    },
    readServiceAccount(namespace: string, name: string): Promise<ServiceAccountLookup> {
      return notConfigured({ kind: 'ServiceAccount', namespace, name });
    },
  };
}
