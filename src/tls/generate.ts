/**
 * The one issuer of the webhook's CAs and serving certificates (`issueCa`,
 * `issueServingCertificate`), used by the `certs` command (`generateCertificates`) and by the
 * --self-bootstrap (src/bootstrap/certificates.ts), plus writing a generated set to files.
 */
import { createPrivateKey, randomBytes } from 'node:crypto';
import { mkdir, open, rename, stat, unlink } from 'node:fs/promises';
import { isIP } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { generate } from 'selfsigned';

/** PEM-encoded CA and serving certificate/key (keys are PKCS#8). */
export interface GeneratedCertificates {
  caCert: string;
  caKey: string;
  cert: string;
  key: string;
}

export interface CertificateRequest {
  /** Service name (a DNS label). */
  service: string;
  /** Namespace of the service (a DNS label). */
  namespace: string;
  /** Extra SANs: IP addresses become IP SANs, anything else a DNS SAN. */
  hosts: string[];
  /** Validity in days from now (> 0). */
  days: number;
  /** Key algorithm: RSA 2048 (default) or ECDSA P-256. */
  keyType?: 'rsa' | 'ec';
}

/** A PEM certificate and its PKCS#8 PEM private key, each ending with a newline. */
export interface IssuedCertificate {
  cert: string;
  key: string;
}

/** What `issueCa` and `issueServingCertificate` need: whose certificate it is and when it is valid. */
export interface IssueRequest {
  /** Service name: the subjects are `service.namespace.svc` (and `… CA <random id>` for a CA). */
  service: string;
  namespace: string;
  /** Start of validity; notBefore is backdated a little from it (see CLOCK_SKEW_MS). */
  issuedAt: Date;
  notAfter: Date;
}

type SelfsignedOptions = NonNullable<Parameters<typeof generate>[1]>;
type Extension = NonNullable<SelfsignedOptions['extensions']>[number];
type AltName = Extract<Extension, { name: 'subjectAltName' }>['altNames'][number];

const DAY_MS = 24 * 60 * 60 * 1000;
/** Backdate notBefore a little so that a slightly slow API server clock still accepts a fresh certificate. */
const CLOCK_SKEW_MS = 5 * 60 * 1000;
const MAX_DAYS = 100 * 365;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/**
 * Generates a CA and a serving certificate for `service.namespace.svc` signed by it.
 * Serving certificate SANs: `service`, `service.namespace`, `service.namespace.svc`,
 * `service.namespace.svc.cluster.local`, then each extra host (duplicates dropped).
 */
export async function generateCertificates(req: CertificateRequest): Promise<GeneratedCertificates> {
  const { service, namespace } = req;
  if (!DNS_LABEL.test(service)) throw new RangeError(`invalid service name ${JSON.stringify(service)}: must be a DNS label`);
  if (!DNS_LABEL.test(namespace)) throw new RangeError(`invalid namespace ${JSON.stringify(namespace)}: must be a DNS label`);
  if (typeof req.days !== 'number' || !Number.isFinite(req.days) || req.days <= 0 || req.days > MAX_DAYS) {
    throw new RangeError(`invalid certificate validity ${String(req.days)} days: must be > 0 and <= ${MAX_DAYS}`);
  }
  const keyType = req.keyType ?? 'rsa';
  if (keyType !== 'rsa' && keyType !== 'ec') {
    throw new RangeError(`invalid key type ${JSON.stringify(keyType)}: must be "rsa" or "ec"`);
  }
  // Checked before any key is generated.
  const altNames = subjectAltNames(service, namespace, req.hosts);

  const now = Date.now();
  const request: IssueRequest = {
    service,
    namespace,
    issuedAt: new Date(now),
    notAfter: new Date(now + Math.round(req.days * DAY_MS)),
  };
  const ca = await issueCa({ ...request, keyType });
  const leaf = await issueLeaf(ca, request, altNames);
  return { caCert: ca.cert, caKey: ca.key, cert: leaf.cert, key: leaf.key };
}

/**
 * A new CA for the Service: subject `service.namespace.svc CA <random id>` (O=secrets-init-webhook),
 * SHA-256, basicConstraints CA with pathlen 0 and keyUsage keyCertSign+cRLSign (both critical);
 * key RSA 2048 or ECDSA P-256.
 */
export async function issueCa(request: IssueRequest & { keyType: 'rsa' | 'ec' }): Promise<IssuedCertificate> {
  // A random id makes each CA's name unique. Without it, an old and a new CA (e.g. both in a
  // caBundle during rotation) would share a name, and OpenSSL, which finds issuers by name, could
  // try the wrong one and fail with a signature error.
  const caId = randomBytes(4).toString('hex');
  const ca = await generate(
    [
      { name: 'commonName', value: `${request.service}.${request.namespace}.svc CA ${caId}` },
      { name: 'organizationName', value: 'secrets-init-webhook' },
    ],
    {
      ...keyOptions(request.keyType),
      ...validityOf(request),
      algorithm: 'sha256',
      extensions: [
        // pathlen 0: this CA can only sign end-entity certificates.
        { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
        { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
      ],
    },
  );
  return { cert: pemLine(ca.cert), key: pemLine(ca.private) };
}

/**
 * A serving certificate for `service.namespace.svc`, signed by `ca`, with a key of the CA key's
 * type. SANs: `service`, `service.namespace`, `service.namespace.svc`,
 * `service.namespace.svc.cluster.local`, then each of `hosts` (IP or DNS; duplicates dropped).
 * The caller chooses notAfter (e.g. not past the CA's).
 */
export async function issueServingCertificate(
  ca: IssuedCertificate,
  request: IssueRequest & { hosts?: readonly string[] },
): Promise<IssuedCertificate> {
  return issueLeaf(ca, request, subjectAltNames(request.service, request.namespace, request.hosts ?? []));
}

async function issueLeaf(ca: IssuedCertificate, request: IssueRequest, altNames: AltName[]): Promise<IssuedCertificate> {
  // selfsigned imports the CA key with the leaf's key type: keep them the same.
  const keyType = createPrivateKey(ca.key).asymmetricKeyType === 'ec' ? 'ec' : 'rsa';
  const leafKeyUsage: Extension =
    keyType === 'rsa'
      ? { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true }
      : // RFC 5480: keyEncipherment is meaningless for EC keys.
        { name: 'keyUsage', digitalSignature: true, critical: true };

  const leaf = await generate([{ name: 'commonName', value: `${request.service}.${request.namespace}.svc` }], {
    ...keyOptions(keyType),
    ...validityOf(request),
    algorithm: 'sha256',
    ca: { key: ca.key, cert: ca.cert },
    extensions: [
      { name: 'basicConstraints', cA: false, critical: true },
      leafKeyUsage,
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames },
    ],
  });
  return { cert: pemLine(leaf.cert), key: pemLine(leaf.private) };
}

function keyOptions(keyType: 'rsa' | 'ec'): SelfsignedOptions {
  return keyType === 'ec' ? { keyType: 'ec', curve: 'P-256' } : { keyType: 'rsa', keySize: 2048 };
}

function validityOf(request: IssueRequest): Pick<SelfsignedOptions, 'notBeforeDate' | 'notAfterDate'> {
  return { notBeforeDate: new Date(request.issuedAt.getTime() - CLOCK_SKEW_MS), notAfterDate: request.notAfter };
}

/** selfsigned's certificate PEM lacks a final newline, which breaks simple concatenation into bundles/chains. */
function pemLine(pem: string): string {
  return pem.endsWith('\n') ? pem : `${pem}\n`;
}

function subjectAltNames(service: string, namespace: string, hosts: readonly string[]): AltName[] {
  if (!Array.isArray(hosts)) throw new TypeError('hosts must be an array of host names or IP addresses');
  const seen = new Set<string>();
  const result: AltName[] = [];
  const add = (key: string, alt: AltName): void => {
    if (seen.has(key)) return;
    seen.add(key);
    result.push(alt);
  };
  for (const name of [
    service,
    `${service}.${namespace}`,
    `${service}.${namespace}.svc`,
    `${service}.${namespace}.svc.cluster.local`,
  ]) {
    add(`dns:${name}`, { type: 2, value: name });
  }
  for (const raw of hosts) {
    const host = typeof raw === 'string' ? raw.trim() : '';
    const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
    if (isIP(bare) !== 0) {
      add(`ip:${canonicalIp(bare)}`, { type: 7, ip: bare });
    } else if (isDnsName(host)) {
      const name = host.toLowerCase().replace(/\.$/, '');
      add(`dns:${name}`, { type: 2, value: name });
    } else {
      throw new RangeError(`invalid host ${JSON.stringify(raw)}: must be a DNS name or an IP address`);
    }
  }
  return result;
}

/** DNS name of letters, digits and hyphens, optionally with a leading `*.` wildcard label and a trailing dot. */
function isDnsName(host: string): boolean {
  const name = host.toLowerCase().replace(/\.$/, '');
  if (name.length === 0 || name.length > 253) return false;
  const labels = name.split('.');
  return labels.every((label, i) => (i === 0 && label === '*' && labels.length > 1) || DNS_LABEL.test(label));
}

function canonicalIp(ip: string): string {
  return ip.includes(':') ? new URL(`http://[${ip}]/`).hostname : ip;
}

/**
 * Writes `ca.pem`, `cert.pem` and `key.pem` (mode 0600) into `dir`, creating it if needed.
 * Each file is written to a temporary file and renamed into place, so readers never see a
 * partial file and an existing key.pem with looser permissions is replaced, not reused.
 * The CA private key is not written.
 */
export async function writeCertificates(
  dir: string,
  certs: GeneratedCertificates,
): Promise<{ caFile: string; certFile: string; keyFile: string }> {
  const absDir = resolve(dir);
  await makeDirectory(absDir);
  const caFile = join(absDir, 'ca.pem');
  const certFile = join(absDir, 'cert.pem');
  const keyFile = join(absDir, 'key.pem');
  await writeFileAtomic(caFile, certs.caCert, 0o644);
  await writeFileAtomic(certFile, certs.cert, 0o644);
  await writeFileAtomic(keyFile, certs.key, 0o600);
  return { caFile, certFile, keyFile };
}

/**
 * `dir` and its missing parents, one mkdir each, with an error that names the path and what
 * is wrong with it. (Node 20's `mkdir(…, { recursive: true })` loops forever on a directory
 * the kernel refuses with ENOENT, as under /proc.)
 */
async function makeDirectory(dir: string): Promise<void> {
  const missing: string[] = [];
  for (let path = dir; ; path = dirname(path)) {
    let info;
    try {
      info = await stat(path);
    } catch (error) {
      if (errorCode(error) !== 'ENOENT' || dirname(path) === path) throw new Error(`cannot use ${path} as the output folder: ${describeError(error)}`);
      missing.push(path);
      continue;
    }
    if (!info.isDirectory()) throw new Error(`cannot use ${dir} as the output folder: ${path} is not a directory`);
    break;
  }
  for (const path of missing.reverse()) {
    try {
      await mkdir(path);
    } catch (error) {
      if (errorCode(error) === 'EEXIST' && (await stat(path).catch(() => undefined))?.isDirectory() === true) continue;
      throw new Error(`cannot create the output folder ${path}: ${describeError(error)}`);
    }
  }
}

function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** A file system error as its code and text (`EACCES: permission denied`), without the path Node repeats. */
function describeError(error: unknown): string {
  const code = errorCode(error);
  const message = error instanceof Error ? error.message : String(error);
  return code !== undefined ? message.replace(/,\s*\w+\s+'[^']*'.*$/s, '') : message;
}

async function writeFileAtomic(file: string, content: string, mode: number): Promise<void> {
  const tmp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    const handle = await open(tmp, 'wx', mode);
    try {
      await handle.writeFile(content, 'utf8');
      // The umask may have removed bits; set exactly what we want.
      await handle.chmod(mode);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, file);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}

/** base64 of the CA certificate PEM, as `MutatingWebhookConfiguration.webhooks[].clientConfig.caBundle` expects. */
export function caBundle(certs: GeneratedCertificates): string {
  return Buffer.from(certs.caCert, 'utf8').toString('base64');
}
