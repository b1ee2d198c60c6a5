/**
 * Failures of the certificate bootstrap, and the RBAC it needs.
 *
 * Messages are one line, name the object and what went wrong, and never hold certificate
 * or key material (nor anything else from a Secret's data).
 */

export type BootstrapFailureCause =
  /** HTTP 403: the service account lacks a permission (the message says which). */
  | 'forbidden'
  | 'unauthorized'
  /** The object does not exist where it must (the MutatingWebhookConfiguration). */
  | 'not-found'
  /** A create lost to another replica (HTTP 409 AlreadyExists). */
  | 'already-exists'
  /** A write lost to a concurrent one (HTTP 409 Conflict, or a failed JSON patch `test`, HTTP 422). */
  | 'conflict'
  /** HTTP 422 Invalid, other than a failed `test`. */
  | 'invalid'
  | 'timeout'
  | 'unreachable'
  | 'server-error'
  | 'bad-response'
  /** The cluster's objects do not fit together (no webhook of the configuration points at our Service...). */
  | 'misconfigured'
  /** The bootstrap was closed while a request was in flight. */
  | 'closed';

export class BootstrapError extends Error {
  override readonly name = 'BootstrapError';
  override readonly cause: BootstrapFailureCause;
  readonly httpStatus?: number;

  constructor(cause: BootstrapFailureCause, message: string, httpStatus?: number) {
    super(message);
    this.cause = cause;
    if (httpStatus !== undefined) this.httpStatus = httpStatus;
  }
}

export function isFailure(error: unknown, ...causes: BootstrapFailureCause[]): error is BootstrapError {
  return error instanceof BootstrapError && causes.includes(error.cause);
}

/** The objects the bootstrap reads and writes. */
export type BootstrapObject =
  | { kind: 'Secret'; namespace: string; name: string }
  | { kind: 'MutatingWebhookConfiguration'; name: string };

/** `Secret secrets-init/secrets-init-webhook-tls`, `MutatingWebhookConfiguration secrets-init-webhook` */
export function describeObject(object: BootstrapObject): string {
  return object.kind === 'Secret' ? `Secret ${object.namespace}/${object.name}` : `MutatingWebhookConfiguration ${object.name}`;
}

/**
 * The RBAC rule that grants access to `object`, in words, for error messages:
 *
 * - in the webhook's namespace (Role + RoleBinding): `get`, `update` on `secrets` with
 *   `resourceNames: [<secret>]`, and `create` on `secrets` (RBAC cannot limit `create` by name,
 *   since the object has no name yet when it is authorized);
 * - cluster-wide (ClusterRole + ClusterRoleBinding): `get`, `patch` on
 *   `admissionregistration.k8s.io` `mutatingwebhookconfigurations` with
 *   `resourceNames: [<configuration>]`.
 */
export function rbacFor(object: BootstrapObject): string {
  if (object.kind === 'Secret') {
    return (
      `a Role in namespace "${object.namespace}" bound to the webhook's service account with the rules ` +
      `{apiGroups: [""], resources: ["secrets"], resourceNames: ["${object.name}"], verbs: ["get", "update"]} and ` +
      '{apiGroups: [""], resources: ["secrets"], verbs: ["create"]} (create cannot be restricted by name)'
    );
  }
  return (
    "a ClusterRole bound to the webhook's service account with the rule " +
    `{apiGroups: ["admissionregistration.k8s.io"], resources: ["mutatingwebhookconfigurations"], resourceNames: ["${object.name}"], verbs: ["get", "patch"]}`
  );
}

/** Everything the bootstrap needs, as Role and ClusterRole rules (YAML), e.g. for docs and `--help`. */
export function requiredRbac(namespace: string, secretName: string, webhookConfigurationName: string): string {
  return [
    '# Role in the webhook namespace',
    'apiVersion: rbac.authorization.k8s.io/v1',
    'kind: Role',
    `metadata: {namespace: ${namespace}, name: secrets-init-webhook-certificates}`,
    'rules:',
    `- {apiGroups: [""], resources: [secrets], resourceNames: [${secretName}], verbs: [get, update]}`,
    '- {apiGroups: [""], resources: [secrets], verbs: [create]}  # create cannot be restricted by name',
    '---',
    'apiVersion: rbac.authorization.k8s.io/v1',
    'kind: ClusterRole',
    'metadata: {name: secrets-init-webhook-certificates}',
    'rules:',
    `- {apiGroups: [admissionregistration.k8s.io], resources: [mutatingwebhookconfigurations], resourceNames: [${webhookConfigurationName}], verbs: [get, patch]}`,
    '',
  ].join('\n');
}
