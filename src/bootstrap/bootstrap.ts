/**
 * Certificate self-bootstrap: the webhook makes its own serving certificate, keeps it in a
 * Secret that all replicas share, publishes its CA in the MutatingWebhookConfiguration's
 * `caBundle`, and renews it before it expires.
 *
 * At start (and then every `checkIntervalMs`):
 * 1. GET the Secret (`kubernetes.io/tls`: `tls.crt`, `tls.key`, `ca.crt`, plus `ca.key` so that
 *    any replica can re-sign under the same CA).
 *    - Missing: issue a CA and a serving certificate and CREATE the Secret; a 409 AlreadyExists
 *      means another replica won the race: read again and use theirs.
 *    - Usable and not within `renewBeforeDays` of expiry: use it, unless this replica already
 *      serves a newer certificate (then that one is written back: replicas converge on the newest).
 *    - Due for renewal: a new serving certificate under the same CA; or, when the CA itself is too
 *      close to expiry (or its key is unknown), under a new CA, with the old CA kept in `ca.crt`
 *      (and so in the caBundle) during the transition. UPDATE with the resourceVersion read; a 409
 *      Conflict means another replica wrote first: read again and use what it wrote (never
 *      replacing a newer certificate with an older one).
 *    - Unusable (corrupt, wrong Service names, key mismatch): replaced the same way, re-using its
 *      CA when that is possible.
 * 2. Make sure every webhook of the MutatingWebhookConfiguration that points at our Service has
 *    all of our CAs in its `caBundle`, keeping the unexpired CAs it already has (another replica
 *    may still serve a certificate of one of them): a JSON patch with a `test` of
 *    `metadata.resourceVersion`, retried with a fresh read when someone else changed the object
 *    in between.
 * 3. Switch to the new certificate (listeners of `onChange` get it) only after the caBundle is
 *    published, so the API server already trusts a new CA when it meets it.
 *
 * Failures at start reject (the server exits with the message); in a periodic check they are
 * logged and the check is retried sooner. Nothing logged or thrown holds key material.
 *
 * RBAC the webhook's service account needs (see also `requiredRbac`):
 * - in its namespace (Role): `get`, `update` on `secrets` with `resourceNames: [<secretName>]`,
 *   and `create` on `secrets` (RBAC cannot restrict `create` by name);
 * - cluster-wide (ClusterRole): `get`, `patch` on `admissionregistration.k8s.io`
 *   `mutatingwebhookconfigurations` with `resourceNames: [<webhookConfigurationName>]`.
 */
import type { X509Certificate } from 'node:crypto';
import type { KubeConfig, V1MutatingWebhook, V1Secret } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { TlsMaterial } from '../tls/material.js';
import type { TlsSource } from '../tls/source.js';
import { createBootstrapApi } from './api.js';
import type { BootstrapApi, JsonPatchOperation } from './api.js';
import {
  SECRET_KEYS,
  assess,
  caBundleFingerprints,
  caBundleOf,
  canRenewWithSameCa,
  compareFreshness,
  issueSet,
  mergedCaBundle,
  parseCertificates,
  toTlsMaterial,
} from './certificates.js';
import type { Assessment, CertificatePolicy, CertificateSet, ParsedSet } from './certificates.js';
import { BootstrapError, isFailure } from './errors.js';

export interface BootstrapOptions {
  kubeConfig: KubeConfig;
  /** The webhook's namespace (where its Secret lives). */
  namespace: string;
  /** Service name: the certificate's SANs are service, service.ns, service.ns.svc, service.ns.svc.cluster.local. */
  service: string;
  /** e.g. "secrets-init-webhook-tls" */
  secretName: string;
  /** The MutatingWebhookConfiguration whose webhooks pointing at our Service get our CA in `clientConfig.caBundle`. */
  webhookConfigurationName: string;
  /** Validity of the serving certificate (default 365 days). */
  validityDays?: number;
  /** Validity of a new CA (default 3650 days); must exceed validityDays + renewBeforeDays. */
  caValidityDays?: number;
  /** Renew this long before expiry (default 30 days). */
  renewBeforeDays?: number;
  /** How often the Secret, expiry and caBundle are checked again (default 1 hour). */
  checkIntervalMs?: number;
  /** Per API call (default 10 s). */
  timeoutMs?: number;
  /** Key algorithm of new certificates: ECDSA P-256 (default) or RSA 2048. A renewal under an existing CA uses the CA's. */
  keyType?: 'rsa' | 'ec';
  logger: Pick<Logger, 'info' | 'warn' | 'error'>;
  /** The clock (for tests). */
  now?: () => Date;
}

export interface CertificateBootstrap extends TlsSource {
  /** base64 of the PEM bundle of trusted CAs, as `clientConfig.caBundle` takes it. */
  caBundle(): string;
  /** Runs the periodic check now (or joins the one running); rejects with its failure. */
  refresh(): Promise<void>;
}

export const BOOTSTRAP_DEFAULTS = {
  validityDays: 365,
  caValidityDays: 3650,
  renewBeforeDays: 30,
  checkIntervalMs: 60 * 60 * 1000,
  timeoutMs: 10_000,
  keyType: 'ec',
} as const;

/** Writes that lose to concurrent writers are retried, with a fresh read, at most this many times. */
const MAX_ATTEMPTS = 5;
/** After a failed periodic check, the next one comes after at most this long. */
const RETRY_AFTER_FAILURE_MS = 60_000;
const MAX_TIMER_MS = 2 ** 31 - 1;
const MANAGED_BY = { 'app.kubernetes.io/managed-by': 'secrets-init-webhook' };
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

interface Settings {
  namespace: string;
  service: string;
  secretName: string;
  webhookConfigurationName: string;
  checkIntervalMs: number;
  policy: CertificatePolicy;
  logger: Pick<Logger, 'info' | 'warn' | 'error'>;
  now: () => Date;
}

function checkName(what: string, value: unknown, pattern: RegExp, max: number, kind: string): string {
  if (typeof value !== 'string' || value.length > max || !pattern.test(value)) {
    throw new RangeError(`invalid ${what} ${JSON.stringify(value)}: must be a ${kind}`);
  }
  return value;
}

function checkNumber(what: string, value: unknown, fallback: number, min: number, max: number, unit: string): number {
  const n = value ?? fallback;
  if (typeof n !== 'number' || !Number.isFinite(n) || n < min || n > max) {
    throw new RangeError(`invalid ${what} ${String(value)}: must be a number of ${unit} in ${min}..${max}`);
  }
  return n;
}

function settingsOf(options: BootstrapOptions): Settings {
  const namespace = checkName('namespace', options.namespace, DNS_LABEL, 63, 'DNS label');
  const service = checkName('service name', options.service, DNS_LABEL, 63, 'DNS label');
  const secretName = checkName('Secret name', options.secretName, DNS_SUBDOMAIN, 253, 'DNS subdomain');
  const webhookConfigurationName = checkName(
    'MutatingWebhookConfiguration name',
    options.webhookConfigurationName,
    DNS_SUBDOMAIN,
    253,
    'DNS subdomain',
  );
  const validityDays = checkNumber('validityDays', options.validityDays, BOOTSTRAP_DEFAULTS.validityDays, 0.001, 36500, 'days');
  const caValidityDays = checkNumber('caValidityDays', options.caValidityDays, BOOTSTRAP_DEFAULTS.caValidityDays, 0.001, 36500, 'days');
  const renewBeforeDays = checkNumber('renewBeforeDays', options.renewBeforeDays, BOOTSTRAP_DEFAULTS.renewBeforeDays, 0, 36500, 'days');
  if (renewBeforeDays >= validityDays) {
    throw new RangeError(`renewBeforeDays (${renewBeforeDays}) must be less than validityDays (${validityDays})`);
  }
  if (caValidityDays <= validityDays + renewBeforeDays) {
    throw new RangeError(
      `caValidityDays (${caValidityDays}) must exceed validityDays + renewBeforeDays (${validityDays + renewBeforeDays}): ` +
        'a CA must outlive the serving certificates it signs',
    );
  }
  const checkIntervalMs = checkNumber('checkIntervalMs', options.checkIntervalMs, BOOTSTRAP_DEFAULTS.checkIntervalMs, 1, MAX_TIMER_MS, 'milliseconds');
  checkNumber('timeoutMs', options.timeoutMs, BOOTSTRAP_DEFAULTS.timeoutMs, 1, MAX_TIMER_MS, 'milliseconds');
  const keyType = options.keyType ?? BOOTSTRAP_DEFAULTS.keyType;
  if (keyType !== 'rsa' && keyType !== 'ec') throw new RangeError(`invalid keyType ${JSON.stringify(keyType)}: must be "rsa" or "ec"`);
  return {
    namespace,
    service,
    secretName,
    webhookConfigurationName,
    checkIntervalMs,
    policy: { service, namespace, validityDays, caValidityDays, renewBeforeDays, keyType },
    logger: options.logger,
    now: options.now ?? (() => new Date()),
  };
}

/** A Secret's data value, base64-decoded; undefined when absent or not base64. */
function dataText(secret: V1Secret, key: string): string | undefined {
  const value: unknown = secret.data?.[key];
  if (typeof value !== 'string' || value.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(value)) return undefined;
  return Buffer.from(value, 'base64').toString('utf8');
}

function storedSet(secret: V1Secret): Partial<CertificateSet> {
  const ca = dataText(secret, SECRET_KEYS.ca);
  const set: Partial<CertificateSet> = {};
  const cert = dataText(secret, SECRET_KEYS.cert);
  const key = dataText(secret, SECRET_KEYS.key);
  const caKey = dataText(secret, SECRET_KEYS.caKey);
  if (cert !== undefined) set.cert = cert;
  if (key !== undefined) set.key = key;
  if (ca !== undefined) set.caCerts = [ca];
  if (caKey !== undefined) set.caKey = caKey;
  return set;
}

function secretData(set: CertificateSet): Record<string, string> {
  const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');
  const data: Record<string, string> = {
    [SECRET_KEYS.cert]: b64(set.cert),
    [SECRET_KEYS.key]: b64(set.key),
    [SECRET_KEYS.ca]: b64(set.caCerts.join('')),
  };
  if (set.caKey !== undefined) data[SECRET_KEYS.caKey] = b64(set.caKey);
  return data;
}

function describe(set: ParsedSet): string {
  return `serving certificate ${set.fingerprint} (notAfter ${set.notAfter.toISOString()}, CA ${set.issuer.fingerprint256})`;
}

function parsedCas(set: CertificateSet | undefined): X509Certificate[] {
  return set === undefined ? [] : (parseCertificates(set.caCerts.join('')) ?? []);
}

class Bootstrap implements CertificateBootstrap {
  private held: ParsedSet | undefined;
  private material: TlsMaterial | undefined;
  private readonly listeners = new Set<(material: TlsMaterial) => void>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private closed = false;
  private readonly abort = new AbortController();
  private readonly api: BootstrapApi;
  private readonly secretLabel: string;

  constructor(
    private readonly settings: Settings,
    kubeConfig: KubeConfig,
    timeoutMs: number,
  ) {
    this.api = createBootstrapApi(kubeConfig, { timeoutMs, signal: this.abort.signal });
    this.secretLabel = `Secret ${settings.namespace}/${settings.secretName}`;
  }

  async start(): Promise<void> {
    await this.sync('start');
    this.schedule(this.settings.checkIntervalMs);
  }

  current(): TlsMaterial {
    if (this.material === undefined) throw new Error('certificate bootstrap has not completed');
    return this.material;
  }

  caBundle(): string {
    if (this.held === undefined) throw new Error('certificate bootstrap has not completed');
    return caBundleOf(this.held);
  }

  onChange(listener: (material: TlsMaterial) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  refresh(): Promise<void> {
    if (this.closed) return Promise.reject(new BootstrapError('closed', 'certificate bootstrap closed'));
    this.running ??= this.sync('check').finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.abort.abort();
    await this.running?.catch(() => undefined);
  }

  private schedule(delayMs: number): void {
    if (this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.check();
    }, Math.min(delayMs, MAX_TIMER_MS));
    this.timer.unref();
  }

  private async check(): Promise<void> {
    try {
      await this.refresh();
      this.schedule(this.settings.checkIntervalMs);
    } catch (error) {
      if (this.closed) return;
      const retryMs = Math.min(this.settings.checkIntervalMs, RETRY_AFTER_FAILURE_MS);
      const message = error instanceof Error ? error.message : String(error);
      const after = retryMs < 1000 ? `${retryMs}ms` : `${Math.round(retryMs / 1000)}s`;
      this.settings.logger.error(`certificate check failed, retrying in ${after}: ${message}`);
      this.schedule(retryMs);
    }
  }

  private async sync(phase: 'start' | 'check'): Promise<void> {
    const chosen = await this.syncSecret();
    let webhookError: unknown;
    try {
      await this.ensureCaBundle(chosen);
    } catch (error) {
      if (phase === 'start') throw error;
      webhookError = error;
    }
    this.adopt(chosen, webhookError === undefined);
    if (webhookError !== undefined) throw webhookError;
  }

  /** The held set, if it is still usable and not due for renewal. */
  private heldIfValid(now: Date): ParsedSet | undefined {
    if (this.held === undefined) return undefined;
    const again = assess(this.held, this.settings.policy, now);
    return again.status === 'valid' ? again.set : undefined;
  }

  /** Reads the Secret and brings it to a usable, current state; returns the set it holds. */
  private async syncSecret(): Promise<ParsedSet> {
    const { namespace, secretName, policy, logger } = this.settings;
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const now = this.settings.now();
      const read = await this.api.readSecret(namespace, secretName);
      const held = this.heldIfValid(now);

      if (!read.found) {
        const next = held ?? (await this.replacement(undefined, now));
        try {
          await this.api.createSecret(namespace, this.newSecret(next));
        } catch (error) {
          if (!isFailure(error, 'already-exists')) throw error;
          logger.info(`${this.secretLabel} was created by another replica meanwhile; reading it`);
          continue;
        }
        logger.info(`created ${this.secretLabel} with ${describe(next)}`);
        return next;
      }

      const secret = read.object;
      const stored = assess(storedSet(secret), policy, now);
      if (stored.status === 'valid') {
        if (held === undefined || compareFreshness(held, stored.set) <= 0) return stored.set;
        // Never go back to an older certificate; put ours back so the replicas converge on the newest.
        logger.warn(
          `${this.secretLabel} holds an older certificate (notAfter ${stored.set.notAfter.toISOString()}) than this ` +
            `replica serves (notAfter ${held.notAfter.toISOString()}); writing the newer one back`,
        );
        if (await this.tryReplace(secret, held)) return held;
        continue;
      }

      logger.info(`${this.secretLabel} ${stored.status === 'renew' ? 'needs renewal' : 'is not usable'}: ${stored.reason}`);
      const next =
        held !== undefined && (stored.status === 'unusable' || compareFreshness(held, stored.set) > 0)
          ? held
          : await this.replacement(stored, now);
      if (await this.tryReplace(secret, next)) {
        logger.info(`updated ${this.secretLabel} with ${describe(next)}`);
        return next;
      }
    }
    throw new BootstrapError(
      'conflict',
      `cannot update ${this.secretLabel}: it kept changing under concurrent writers (${MAX_ATTEMPTS} attempts)`,
    );
  }

  /** A new set to store in place of `stored` (undefined: there is no Secret). */
  private async replacement(stored: Exclude<Assessment, { status: 'valid' }> | undefined, now: Date): Promise<ParsedSet> {
    const { policy } = this.settings;
    const heldCas = parsedCas(this.held);
    const renewalOf = (set: ParsedSet): Promise<ParsedSet> => {
      if (canRenewWithSameCa(set, policy, now) && set.caKey !== undefined) {
        return issueSet(policy, now, { reuseCa: { cert: set.caCerts[0] ?? '', key: set.caKey }, previousCas: [] });
      }
      this.settings.logger.info('issuing a new CA: the current one is too close to expiry or its key is unknown');
      return issueSet(policy, now, { previousCas: [...parsedCas(set), ...heldCas] });
    };
    if (stored === undefined) {
      return this.held !== undefined ? renewalOf(this.held) : issueSet(policy, now, { previousCas: [] });
    }
    if (stored.status === 'renew') return renewalOf(stored.set);
    return issueSet(policy, now, {
      ...(stored.reusableCa !== undefined ? { reuseCa: stored.reusableCa } : {}),
      previousCas: [...stored.caCerts, ...heldCas],
    });
  }

  private newSecret(set: CertificateSet): V1Secret {
    return {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: this.settings.secretName, namespace: this.settings.namespace, labels: { ...MANAGED_BY } },
      type: 'kubernetes.io/tls',
      data: secretData(set),
    };
  }

  /** UPDATE with the resourceVersion read; false when another writer got there first (409 Conflict). */
  private async tryReplace(secret: V1Secret, set: CertificateSet): Promise<boolean> {
    const data: Record<string, string> = { ...secret.data, ...secretData(set) };
    if (set.caKey === undefined) delete data[SECRET_KEYS.caKey];
    const metadata = { ...secret.metadata };
    // Omitted (not empty) managedFields are kept as they are by the API server.
    delete metadata.managedFields;
    try {
      await this.api.replaceSecret(this.settings.namespace, this.settings.secretName, { ...secret, metadata, data });
      return true;
    } catch (error) {
      if (!isFailure(error, 'conflict')) throw error;
      this.settings.logger.info(`${this.secretLabel} was changed by another replica meanwhile; reading it again`);
      return false;
    }
  }

  private pointsAtUs(webhook: V1MutatingWebhook): boolean {
    const service = webhook.clientConfig?.service;
    return service?.name === this.settings.service && service.namespace === this.settings.namespace;
  }

  /** Makes every webhook of ours in the configuration trust all CAs of `set`. */
  private async ensureCaBundle(set: ParsedSet): Promise<void> {
    const { webhookConfigurationName: name, namespace, service, logger } = this.settings;
    const label = `MutatingWebhookConfiguration ${name}`;
    const now = this.settings.now();
    /** The last patch rejected as invalid, and the resourceVersion it tested. */
    let rejected: { resourceVersion: string | undefined; error: BootstrapError } | undefined;
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const read = await this.api.readWebhookConfiguration(name);
      if (!read.found) {
        throw new BootstrapError(
          'not-found',
          `${label} not found: certificate bootstrap puts its CA into that object's caBundle, so it must exist ` +
            "before the webhook starts (apply the webhook's manifests or Helm chart first, or fix its name)",
        );
      }
      // A 422 for an object nobody changed was not a failed `test`: the patch itself is refused.
      if (rejected !== undefined && rejected.resourceVersion === read.object.metadata?.resourceVersion) throw rejected.error;
      const webhooks = read.object.webhooks ?? [];
      const ours = webhooks.flatMap((webhook, index) => (this.pointsAtUs(webhook) ? [{ webhook, index }] : []));
      if (ours.length === 0) {
        const names = webhooks.map((w) => w.name).join(', ');
        throw new BootstrapError(
          'misconfigured',
          `${label} has no webhook whose clientConfig.service is ${namespace}/${service}` +
            (webhooks.length > 0 ? ` (its webhooks: ${names})` : ' (it has no webhooks)'),
        );
      }
      const operations: JsonPatchOperation[] = [];
      const updated: string[] = [];
      for (const { webhook, index } of ours) {
        const present = caBundleFingerprints(webhook.clientConfig.caBundle);
        if (set.caFingerprints.every((f) => present.has(f))) continue;
        // The CAs already there stay: another replica may still serve a certificate of one of them.
        operations.push({
          op: webhook.clientConfig.caBundle === undefined ? 'add' : 'replace',
          path: `/webhooks/${index}/clientConfig/caBundle`,
          value: mergedCaBundle(set, webhook.clientConfig.caBundle, now),
        });
        updated.push(webhook.name);
      }
      if (operations.length === 0) return;
      const resourceVersion = read.object.metadata?.resourceVersion;
      const patch: JsonPatchOperation[] =
        resourceVersion === undefined
          ? operations
          : [{ op: 'test', path: '/metadata/resourceVersion', value: resourceVersion }, ...operations];
      try {
        await this.api.patchWebhookConfiguration(name, patch);
      } catch (error) {
        // A failed `test` is a 422 Invalid; an update in between can also be a 409 Conflict.
        if (!isFailure(error, 'conflict', 'invalid')) throw error;
        if (error.cause === 'invalid') rejected = { resourceVersion, error };
        logger.info(`${label} was changed meanwhile; reading it again`);
        continue;
      }
      logger.info(`updated the caBundle of webhook(s) ${updated.join(', ')} in ${label} (CA ${set.issuer.fingerprint256})`);
      return;
    }
    throw new BootstrapError('conflict', `cannot update ${label}: it kept changing under concurrent writers (${MAX_ATTEMPTS} attempts)`);
  }

  /** Switches to `chosen` (telling listeners) when it is another certificate. */
  private adopt(chosen: ParsedSet, caBundlePublished: boolean): void {
    const held = this.held;
    if (held !== undefined && held.fingerprint === chosen.fingerprint) {
      this.held = chosen; // the same certificate; the CA bundle may have changed
      return;
    }
    const now = this.settings.now();
    if (
      held !== undefined &&
      !caBundlePublished &&
      chosen.issuer.fingerprint256 !== held.issuer.fingerprint256 &&
      held.effectiveNotAfter.getTime() > now.getTime()
    ) {
      this.settings.logger.warn(
        `keeping the current serving certificate until the caBundle trusts the new CA ${chosen.issuer.fingerprint256}`,
      );
      return;
    }
    this.held = chosen;
    this.material = toTlsMaterial(chosen);
    this.settings.logger.info(`${held === undefined ? 'using' : 'switched to'} ${describe(chosen)} from ${this.secretLabel}`);
    if (held === undefined) return;
    for (const listener of this.listeners) {
      try {
        listener(this.material);
      } catch (error) {
        this.settings.logger.error(`a certificate change listener failed: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  }
}

/**
 * Gets (or makes) the serving certificate from the Secret, publishes its CA in the webhook
 * configuration, and keeps both current (see the module comment). Rejects with a
 * {@link BootstrapError} (or a RangeError for bad options) when that fails at start.
 * `close()` stops the periodic check.
 */
export async function bootstrapCertificates(options: BootstrapOptions): Promise<CertificateBootstrap> {
  const settings = settingsOf(options);
  const bootstrap = new Bootstrap(settings, options.kubeConfig, options.timeoutMs ?? BOOTSTRAP_DEFAULTS.timeoutMs);
  await bootstrap.start();
  return bootstrap;
}

