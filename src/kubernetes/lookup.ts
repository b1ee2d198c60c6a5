/**
 * The vocabulary for reading objects from the Kubernetes API: what is read,
 * what comes back, and how a failed read is reported.
 */

/** Objects whose string data can be referenced from a container's env. */
export type DataObjectKind = 'Secret' | 'ConfigMap';
/** Every kind this package reads (the last three by `audit` only). */
export type ObjectKind = DataObjectKind | 'ServiceAccount' | 'Pod' | 'Namespace' | 'MutatingWebhookConfiguration';

export interface ObjectRef {
  readonly kind: ObjectKind;
  readonly namespace: string;
  readonly name: string;
}

/** A reference to a Secret or ConfigMap, the objects `KubeObjectReader.read` accepts. */
export interface DataObjectRef extends ObjectRef {
  readonly kind: DataObjectKind;
}

/**
 * Found: the object's string data (Secret `data` base64-decoded to UTF-8;
 * ConfigMap `data` only, `binaryData` ignored as the kubelet does for env).
 * Missing: the API server answered 404 NotFound.
 */
export type ObjectLookup = { found: true; data: ReadonlyMap<string, string> } | { found: false };

/** Found: the names in the ServiceAccount's `imagePullSecrets`, in order, without duplicates. */
export type ServiceAccountLookup = { found: true; imagePullSecrets: string[] } | { found: false };

export type LookupFailureCause =
  | 'forbidden'
  | 'unauthorized'
  | 'timeout'
  | 'unreachable'
  | 'server-error'
  | 'bad-response'
  | 'not-configured';

/** `Secret prod/db-creds` */
export function describeRef(ref: ObjectRef): string {
  // `*`: a list (audit's reads): `Pods in team-a`, `Namespaces in the cluster`.
  if (ref.name === '*') return `${ref.kind}s in ${ref.namespace === '' ? 'the cluster' : ref.namespace}`;
  if (ref.namespace === '') return `${ref.kind} ${ref.name}`;
  return `${ref.kind} ${ref.namespace}/${ref.name}`;
}

/**
 * A read that did not produce an answer (found or not found).
 *
 * The message names the object and the cause, e.g.
 * `cannot read Secret prod/db-creds: forbidden (HTTP 403): secrets "db-creds" is forbidden: ...`.
 * It never contains object data. `cause` is a `LookupFailureCause` string, not
 * an underlying error: the client library's errors are deliberately not chained
 * (some embed response bodies, which may hold Secret data).
 */
export class LookupError extends Error {
  override readonly name = 'LookupError';
  readonly ref: ObjectRef;
  override readonly cause: LookupFailureCause;
  readonly httpStatus?: number;

  /** `detail` is what follows `cannot read Kind ns/name: `. */
  constructor(ref: ObjectRef, cause: LookupFailureCause, detail: string, httpStatus?: number) {
    super(`cannot read ${describeRef(ref)}: ${detail}`);
    this.ref = Object.freeze({ kind: ref.kind, namespace: ref.namespace, name: ref.name });
    this.cause = cause;
    if (httpStatus !== undefined) this.httpStatus = httpStatus;
  }
}

/** Per read: `signal` abandons it (the caller's deadline passed); it then rejects with a LookupError. */
export interface ReadOptions {
  signal?: AbortSignal;
}

export interface KubeObjectReader {
  /** Resolves found / not found; rejects only with `LookupError`. */
  read(ref: DataObjectRef, options?: ReadOptions): Promise<ObjectLookup>;
  /** Resolves found / not found; rejects only with `LookupError` (whose ref has kind `ServiceAccount`). */
  readServiceAccount(namespace: string, name: string, options?: ReadOptions): Promise<ServiceAccountLookup>;
}
