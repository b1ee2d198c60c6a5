/**
 * Certificate self-bootstrap: the webhook's serving certificate kept in a Secret shared by all
 * replicas, its CA published in the MutatingWebhookConfiguration, renewed before expiry.
 *
 * RBAC the webhook's service account needs:
 * - Role in the webhook namespace: `get`, `update` on `secrets` with `resourceNames: [<secretName>]`,
 *   and `create` on `secrets` (create cannot be restricted by name);
 * - ClusterRole: `get`, `patch` on `admissionregistration.k8s.io`
 *   `mutatingwebhookconfigurations` with `resourceNames: [<webhookConfigurationName>]`.
 */
export { BOOTSTRAP_DEFAULTS, bootstrapCertificates } from './bootstrap.js';
export type { BootstrapOptions, CertificateBootstrap } from './bootstrap.js';
export { SECRET_KEYS } from './certificates.js';
export { BootstrapError, requiredRbac } from './errors.js';
export type { BootstrapFailureCause } from './errors.js';
