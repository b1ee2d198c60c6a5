/** Public entry point: reading Secrets, ConfigMaps and ServiceAccounts from the Kubernetes API. */
export { LookupError, describeRef } from './lookup.js';
export type {
  DataObjectKind,
  DataObjectRef,
  KubeObjectReader,
  LookupFailureCause,
  ObjectKind,
  ObjectLookup,
  ObjectRef,
  ServiceAccountLookup,
} from './lookup.js';
export { createKubeObjectReader } from './api-reader.js';
export type { KubeReaderOptions } from './api-reader.js';
export { KubeConfigError, SERVICE_ACCOUNT_DIR, loadKubeConfig } from './kubeconfig.js';
export type { LoadKubeConfigOptions } from './kubeconfig.js';
export { perAdmissionReader } from './per-admission.js';
export { unconfiguredReader } from './unconfigured.js';
