/**
 * The certificates the bootstrap keeps in its Secret: issuing them (a CA, and serving
 * certificates signed by it, through the issuer in src/tls/generate.ts) and judging a stored
 * set (usable? due for renewal? newer than another?). Everything takes the time from the
 * caller, so renewal can be tested with a fake clock. Problems are described without ever
 * quoting certificate or key material.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import { issueCa, issueServingCertificate } from '../tls/generate.js';
import { parseSubjectAltNames } from '../tls/material.js';
import type { TlsMaterial } from '../tls/material.js';

/** The Secret's data keys: the `kubernetes.io/tls` ones, plus the CA key so any replica can re-sign. */
export const SECRET_KEYS = {
  cert: 'tls.crt',
  key: 'tls.key',
  /** The CA bundle: the CA that signed tls.crt first, then CAs still trusted during a CA rotation. */
  ca: 'ca.crt',
  caKey: 'ca.key',
} as const;

export const DAY_MS = 24 * 60 * 60 * 1000;
/** At most this many CAs in a bundle (the current one and those of earlier rotations still in their transition). */
const MAX_BUNDLE = 4;

export interface CertificatePolicy {
  service: string;
  namespace: string;
  validityDays: number;
  caValidityDays: number;
  renewBeforeDays: number;
  keyType: 'rsa' | 'ec';
}

/** PEM texts, as the Secret stores them. */
export interface CertificateSet {
  cert: string;
  key: string;
  /** Issuer of `cert` first. */
  caCerts: string[];
  /** Private key of `caCerts[0]`, when known. */
  caKey?: string;
}

/** A set that parsed and fits together, with what the decisions need. */
export interface ParsedSet extends CertificateSet {
  leaf: X509Certificate;
  issuer: X509Certificate;
  notBefore: Date;
  notAfter: Date;
  /** When the chain stops working: the earlier of the serving certificate's and its CA's expiry. */
  effectiveNotAfter: Date;
  /** SHA-256 fingerprint of the serving certificate. */
  fingerprint: string;
  /** SHA-256 fingerprints of `caCerts`, in order. */
  caFingerprints: string[];
}

export type Assessment =
  | { status: 'valid'; set: ParsedSet }
  /** Usable today, but within renewBeforeDays of expiry (or past it). */
  | { status: 'renew'; set: ParsedSet; reason: string }
  /** Missing, unreadable or not fitting together; `caCerts` are the parseable, unexpired CAs it had. */
  | { status: 'unusable'; reason: string; caCerts: X509Certificate[]; reusableCa?: { cert: string; key: string } };

export const SERVICE_NAMES = (service: string, namespace: string): string[] => [
  service,
  `${service}.${namespace}`,
  `${service}.${namespace}.svc`,
  `${service}.${namespace}.svc.cluster.local`,
];

const CERT_BLOCK = /-----BEGIN CERTIFICATE-----\r?\n[\s\S]*?-----END CERTIFICATE-----/g;

function dateOf(text: string): Date {
  return new Date(text);
}

export function notBeforeOf(cert: X509Certificate): Date {
  return dateOf(cert.validFrom);
}

export function notAfterOf(cert: X509Certificate): Date {
  return dateOf(cert.validTo);
}

/** Every certificate in a PEM text; undefined if a block does not parse. */
export function parseCertificates(pem: string): X509Certificate[] | undefined {
  const blocks = pem.match(CERT_BLOCK) ?? [];
  try {
    return blocks.map((block) => new X509Certificate(block));
  } catch {
    return undefined;
  }
}

function parseKey(pem: string): KeyObject | undefined {
  try {
    return createPrivateKey({ key: pem, format: 'pem' });
  } catch {
    return undefined;
  }
}

function pemOf(cert: X509Certificate): string {
  const text = cert.toString();
  return text.endsWith('\n') ? text : `${text}\n`;
}

function isIssuer(leaf: X509Certificate, ca: X509Certificate): boolean {
  try {
    return ca.ca && leaf.checkIssued(ca) && leaf.verify(ca.publicKey);
  } catch {
    return false;
  }
}

/** The CA key fits the CA certificate and the CA lasts long enough to sign a full-length serving certificate. */
function canSignWith(ca: X509Certificate, caKey: KeyObject | undefined, policy: CertificatePolicy, now: Date): boolean {
  if (caKey === undefined || !ca.checkPrivateKey(caKey)) return false;
  const remaining = notAfterOf(ca).getTime() - now.getTime();
  return remaining > (policy.validityDays + policy.renewBeforeDays) * DAY_MS;
}

/** Dedupes by fingerprint, drops expired and non-CA certificates, keeps order, caps the length. */
function trimBundle(certs: X509Certificate[], now: Date): X509Certificate[] {
  const seen = new Set<string>();
  const out: X509Certificate[] = [];
  for (const cert of certs) {
    if (!cert.ca || seen.has(cert.fingerprint256) || notAfterOf(cert).getTime() <= now.getTime()) continue;
    seen.add(cert.fingerprint256);
    out.push(cert);
    if (out.length === MAX_BUNDLE) break;
  }
  return out;
}

/** Judges a stored set. `now` is the caller's clock. */
export function assess(set: Partial<CertificateSet>, policy: CertificatePolicy, now: Date): Assessment {
  const storedCas = set.caCerts === undefined ? [] : (parseCertificates(set.caCerts.join('')) ?? []);
  const caCerts = trimBundle(storedCas, now);
  const caKeyObject = set.caKey === undefined ? undefined : parseKey(set.caKey);
  const signer = set.caKey === undefined ? undefined : caCerts.find((ca) => canSignWith(ca, caKeyObject, policy, now));
  const reusableCa = signer !== undefined && set.caKey !== undefined ? { cert: pemOf(signer), key: set.caKey } : undefined;
  const unusable = (reason: string): Assessment => ({
    status: 'unusable',
    reason,
    caCerts,
    ...(reusableCa !== undefined ? { reusableCa } : {}),
  });

  const missing = [
    set.cert === undefined ? SECRET_KEYS.cert : undefined,
    set.key === undefined ? SECRET_KEYS.key : undefined,
    set.caCerts === undefined ? SECRET_KEYS.ca : undefined,
  ].filter((k) => k !== undefined);
  if (missing.length > 0 || set.cert === undefined || set.key === undefined || set.caCerts === undefined) {
    return unusable(`missing ${missing.join(', ')}`);
  }
  const leafCerts = parseCertificates(set.cert);
  const leaf = leafCerts?.[0];
  if (leaf === undefined) return unusable(`${SECRET_KEYS.cert} holds no valid certificate`);
  const key = parseKey(set.key);
  if (key === undefined) return unusable(`${SECRET_KEYS.key} holds no valid private key`);
  if (storedCas.length === 0) return unusable(`${SECRET_KEYS.ca} holds no valid certificate`);
  if (!leaf.checkPrivateKey(key)) return unusable(`${SECRET_KEYS.key} does not match ${SECRET_KEYS.cert}`);
  const issuer = caCerts.find((ca) => isIssuer(leaf, ca));
  if (issuer === undefined) return unusable(`${SECRET_KEYS.cert} is not signed by an unexpired CA in ${SECRET_KEYS.ca}`);
  const sans = new Set(parseSubjectAltNames(leaf.subjectAltName));
  const uncovered = SERVICE_NAMES(policy.service, policy.namespace).filter((name) => !sans.has(`DNS:${name}`));
  if (uncovered.length > 0) return unusable(`${SECRET_KEYS.cert} does not cover ${uncovered.join(', ')}`);
  try {
    createSecureContext({ cert: set.cert, key: set.key });
  } catch {
    return unusable(`${SECRET_KEYS.cert} and ${SECRET_KEYS.key} are rejected by node:tls`);
  }

  const ordered = [issuer, ...caCerts.filter((ca) => ca !== issuer)];
  // The CA key only counts if it is the issuer's.
  const issuerKey = caKeyObject !== undefined && issuer.checkPrivateKey(caKeyObject) ? set.caKey : undefined;
  const notAfter = notAfterOf(leaf);
  const caNotAfter = notAfterOf(issuer);
  const effectiveNotAfter = caNotAfter < notAfter ? caNotAfter : notAfter;
  const parsed: ParsedSet = {
    cert: pemOf(leaf),
    key: set.key,
    caCerts: ordered.map(pemOf),
    ...(issuerKey !== undefined ? { caKey: issuerKey } : {}),
    leaf,
    issuer,
    notBefore: notBeforeOf(leaf),
    notAfter,
    effectiveNotAfter,
    fingerprint: leaf.fingerprint256,
    caFingerprints: ordered.map((ca) => ca.fingerprint256),
  };
  const remaining = effectiveNotAfter.getTime() - now.getTime();
  if (remaining <= 0) {
    return { status: 'renew', set: parsed, reason: `the certificate expired at ${effectiveNotAfter.toISOString()}` };
  }
  if (remaining <= policy.renewBeforeDays * DAY_MS) {
    const which = effectiveNotAfter === caNotAfter && caNotAfter < notAfter ? "its CA's expiry" : 'expiry';
    return {
      status: 'renew',
      set: parsed,
      reason: `the certificate is within ${policy.renewBeforeDays} days of ${which} (${effectiveNotAfter.toISOString()})`,
    };
  }
  return { status: 'valid', set: parsed };
}

/** Whether this set's CA (key known, far enough from expiry) can sign its next serving certificate. */
export function canRenewWithSameCa(set: ParsedSet, policy: CertificatePolicy, now: Date): boolean {
  return canSignWith(set.issuer, set.caKey === undefined ? undefined : parseKey(set.caKey), policy, now);
}

/**
 * Orders two sets by how recent their serving certificates are: later notAfter, then later
 * notBefore, then (a tie-break every replica agrees on) the larger fingerprint. > 0: `a` is newer.
 */
export function compareFreshness(a: ParsedSet, b: ParsedSet): number {
  const byNotAfter = a.notAfter.getTime() - b.notAfter.getTime();
  if (byNotAfter !== 0) return byNotAfter;
  const byNotBefore = a.notBefore.getTime() - b.notBefore.getTime();
  if (byNotBefore !== 0) return byNotBefore;
  return a.fingerprint === b.fingerprint ? 0 : a.fingerprint > b.fingerprint ? 1 : -1;
}

/**
 * Issues a serving certificate: with `reuseCa` when given (a renewal under the same CA, whose
 * bundle is then just that CA), else under a new CA, keeping `previousCas` (unexpired) in the
 * bundle after it so that certificates of the old CA stay trusted while replicas switch.
 */
export async function issueSet(
  policy: CertificatePolicy,
  now: Date,
  plan: { reuseCa?: { cert: string; key: string }; previousCas: X509Certificate[] },
): Promise<ParsedSet> {
  const subject = { service: policy.service, namespace: policy.namespace, issuedAt: now };
  const ca =
    plan.reuseCa ??
    (await issueCa({ ...subject, keyType: policy.keyType, notAfter: new Date(now.getTime() + policy.caValidityDays * DAY_MS) }));
  // Valid `validityDays` from `now`, but never past the CA.
  const wanted = now.getTime() + policy.validityDays * DAY_MS;
  const caCert = new X509Certificate(ca.cert);
  const notAfter = new Date(Math.min(wanted, notAfterOf(caCert).getTime()));
  const leaf = await issueServingCertificate(ca, { ...subject, notAfter });
  const bundle = trimBundle([caCert, ...(plan.reuseCa !== undefined ? [] : plan.previousCas)], now);
  const assessment = assess({ cert: leaf.cert, key: leaf.key, caCerts: bundle.map(pemOf), caKey: ca.key }, policy, now);
  if (assessment.status !== 'valid') {
    // Only a policy whose renewal window covers a whole validity period gets here; options validation prevents it.
    throw new Error(`a newly issued certificate is not usable: ${assessment.reason}`);
  }
  return assessment.set;
}

/** The serving certificate and key as the HTTPS server takes them. */
export function toTlsMaterial(set: ParsedSet): TlsMaterial {
  return {
    cert: set.cert,
    key: set.key,
    notAfter: set.notAfter,
    subjectAltNames: parseSubjectAltNames(set.leaf.subjectAltName),
  };
}

/** A PEM bundle of `caCerts`, base64-encoded, as `clientConfig.caBundle` takes it. */
export function caBundleOf(set: CertificateSet): string {
  return Buffer.from(set.caCerts.join(''), 'utf8').toString('base64');
}

/** The certificates in a base64 `caBundle` that parse (none when it is empty or not a bundle). */
function caBundleCertificates(caBundle: string | undefined): X509Certificate[] {
  if (caBundle === undefined || caBundle === '') return [];
  const pem = Buffer.from(caBundle, 'base64').toString('utf8');
  const blocks = pem.match(CERT_BLOCK) ?? [];
  const out: X509Certificate[] = [];
  for (const block of blocks) {
    try {
      out.push(new X509Certificate(block));
    } catch {
      // Not a certificate: it cannot be one of ours.
    }
  }
  return out;
}

/** SHA-256 fingerprints of the certificates in a base64 `caBundle` (none when it is empty or not a bundle). */
export function caBundleFingerprints(caBundle: string | undefined): Set<string> {
  return new Set(caBundleCertificates(caBundle).map((cert) => cert.fingerprint256));
}

/**
 * The caBundle to write in place of `present` so that it trusts every CA of `set`: those first,
 * then the unexpired CAs `present` already trusts (a replica that has not yet seen `set` may be
 * serving a certificate of one of them), within the bundle's bound.
 */
export function mergedCaBundle(set: CertificateSet, present: string | undefined, now: Date): string {
  const ours = parseCertificates(set.caCerts.join('')) ?? [];
  return Buffer.from(trimBundle([...ours, ...caBundleCertificates(present)], now).map(pemOf).join(''), 'utf8').toString('base64');
}
