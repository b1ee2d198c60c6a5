import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createSecureContext } from 'node:tls';

/** A validated certificate (chain) and private key, ready for an HTTPS server. */
export interface TlsMaterial {
  /** The certificate file's PEM text (server certificate first, then any intermediates). */
  cert: string;
  /** The private key file's PEM text. */
  key: string;
  /** Expiry of the server (first) certificate. */
  notAfter: Date;
  /** Subject alternative names of the server certificate, e.g. `DNS:svc.ns.svc`, `IP:127.0.0.1`, `IP:::1`. */
  subjectAltNames: string[];
  /** PEM bundle of the CAs whose client certificates are accepted (--client-ca-file), when clients must present one. */
  clientCa?: string;
}

/** Problem with the TLS certificate or key files. The message is one line, names the file, and never contains key material. */
export class TlsMaterialError extends Error {
  override name = 'TlsMaterialError';
}

const CERT_BLOCK = /-----BEGIN CERTIFICATE-----\r?\n[\s\S]*?-----END CERTIFICATE-----/g;
const PRIVATE_KEY_HEADER = /-----BEGIN (?:RSA |EC |ENCRYPTED |DSA )?PRIVATE KEY-----/;
const ENCRYPTED_KEY = /-----BEGIN ENCRYPTED PRIVATE KEY-----|^Proc-Type:\s*4,\s*ENCRYPTED/m;

/**
 * Reads a PEM certificate (chain allowed, server certificate first) and a PEM private key
 * (RSA PKCS#1, PKCS#8 RSA/ECDSA, SEC1 ECDSA) and checks that they are readable, parseable,
 * belong together, and are accepted by node:tls. Throws {@link TlsMaterialError}.
 */
export async function loadTlsMaterial(certFile: string, keyFile: string, clientCaFile?: string): Promise<TlsMaterial> {
  return tlsMaterialFrom({ certFile, keyFile, clientCaFile }, await readTlsFiles(certFile, keyFile, clientCaFile));
}

/** The texts of a certificate file, a key file and (when given) a client CA file, as read now. */
export interface TlsFileTexts {
  cert: string;
  key: string;
  clientCa: string | undefined;
}

/** Reads the files of a pair (and the client CA file); rejects with {@link TlsMaterialError} naming what cannot be read. */
export async function readTlsFiles(certFile: string, keyFile: string, clientCaFile?: string): Promise<TlsFileTexts> {
  const [cert, key, clientCa] = await Promise.all([
    readText(certFile, 'TLS certificate file'),
    readText(keyFile, 'TLS private key file'),
    clientCaFile === undefined ? undefined : readText(clientCaFile, 'client CA file'),
  ]);
  return { cert, key, clientCa };
}

/**
 * The material in texts already read from the files named (the names are for messages):
 * a watcher validates exactly the bytes it compared, not a second read that may have caught a
 * rewrite half-way. Throws {@link TlsMaterialError} when the pair is unusable.
 */
export function tlsMaterialFrom(files: { certFile: string; keyFile: string; clientCaFile?: string | undefined }, texts: TlsFileTexts): TlsMaterial {
  const { certFile, keyFile, clientCaFile } = files;
  const { cert: certText, key: keyText, clientCa } = texts;
  if (clientCaFile !== undefined && clientCa !== undefined) {
    parseCertificates(clientCaFile, clientCa, 'client CA file');
    try {
      createSecureContext({ ca: clientCa });
    } catch (err) {
      throw new TlsMaterialError(`client CA file ${clientCaFile} was rejected by node:tls: ${safeReason(err)}`);
    }
  }

  const chain = parseCertificates(certFile, certText);
  const key = parsePrivateKey(keyFile, keyText);

  const leaf = chain[0];
  if (leaf === undefined) {
    // parseCertificates guarantees at least one certificate; keep the type checker honest.
    throw new TlsMaterialError(`TLS certificate file ${certFile} contains no PEM certificate`);
  }
  if (!leaf.checkPrivateKey(key)) {
    const matchIndex = chain.findIndex((c) => c.checkPrivateKey(key));
    if (matchIndex > 0) {
      throw new TlsMaterialError(
        `TLS private key file ${keyFile} matches certificate #${matchIndex + 1} in ${certFile}, ` +
          'but the server certificate must come first in the certificate file',
      );
    }
    throw new TlsMaterialError(
      `TLS private key file ${keyFile} (${describeKey(key)}) does not match the certificate in ${certFile} ` +
        `(${describeKey(leaf.publicKey)} public key)`,
    );
  }

  try {
    createSecureContext({ cert: certText, key: keyText });
  } catch (err) {
    throw new TlsMaterialError(
      `TLS certificate file ${certFile} and key file ${keyFile} were rejected by node:tls: ${safeReason(err)}`,
    );
  }

  const notAfter = new Date(leaf.validTo);
  if (Number.isNaN(notAfter.getTime())) {
    throw new TlsMaterialError(`TLS certificate file ${certFile}: cannot parse the certificate's expiry date`);
  }

  const material: TlsMaterial = {
    cert: certText,
    key: keyText,
    notAfter,
    subjectAltNames: parseSubjectAltNames(leaf.subjectAltName),
  };
  if (clientCa !== undefined) material.clientCa = clientCa;
  return material;
}

async function readText(file: string, what: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw new TlsMaterialError(`cannot read ${what} ${file}: ${describeReadError(err)}`);
  }
}

function describeReadError(err: unknown): string {
  const code = errorCode(err);
  switch (code) {
    case 'ENOENT':
      return 'no such file';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'is a directory';
    case 'ENOTDIR':
      return 'a parent path is not a directory';
    case 'ELOOP':
      return 'too many levels of symbolic links';
    case undefined:
      return err instanceof Error ? oneLine(err.message) : 'unknown error';
    default:
      return code;
  }
}

function parseCertificates(certFile: string, text: string, what = 'TLS certificate file'): X509Certificate[] {
  const blocks = text.match(CERT_BLOCK) ?? [];
  if (blocks.length === 0) {
    if (PRIVATE_KEY_HEADER.test(text)) {
      throw new TlsMaterialError(
        `${what} ${certFile} contains a private key but no certificate (are the certificate and key files swapped?)`,
      );
    }
    throw new TlsMaterialError(
      `${what} ${certFile} contains no complete PEM certificate (missing or truncated CERTIFICATE block)`,
    );
  }
  return blocks.map((block, i) => {
    try {
      return new X509Certificate(block);
    } catch {
      const which = blocks.length > 1 ? `certificate #${i + 1}` : 'the certificate';
      throw new TlsMaterialError(
        `${what} ${certFile}: ${which} is not a valid X.509 certificate (corrupt or truncated PEM)`,
      );
    }
  });
}

function parsePrivateKey(keyFile: string, text: string): KeyObject {
  if (ENCRYPTED_KEY.test(text)) {
    throw new TlsMaterialError(
      `TLS private key file ${keyFile} contains an encrypted private key; passphrase-protected keys are not supported`,
    );
  }
  if (!PRIVATE_KEY_HEADER.test(text)) {
    if (text.includes('-----BEGIN CERTIFICATE-----')) {
      throw new TlsMaterialError(
        `TLS private key file ${keyFile} contains a certificate but no private key (are the certificate and key files swapped?)`,
      );
    }
    throw new TlsMaterialError(
      `TLS private key file ${keyFile} contains no PEM private key (expected a PKCS#1, PKCS#8 or SEC1 PRIVATE KEY block)`,
    );
  }
  try {
    return createPrivateKey({ key: text, format: 'pem' });
  } catch {
    // The underlying error is deliberately not included: it adds nothing useful and we never
    // want to risk echoing parts of a key.
    throw new TlsMaterialError(
      `TLS private key file ${keyFile} does not contain a valid private key (corrupt or truncated PEM)`,
    );
  }
}

function describeKey(key: KeyObject): string {
  const details = key.asymmetricKeyDetails;
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return details?.modulusLength !== undefined ? `RSA ${details.modulusLength}` : 'RSA';
    case 'ec':
      return details?.namedCurve !== undefined ? `EC ${curveName(details.namedCurve)}` : 'EC';
    case undefined:
      return 'unknown key type';
    default:
      return key.asymmetricKeyType.toUpperCase();
  }
}

function curveName(openSslName: string): string {
  switch (openSslName) {
    case 'prime256v1':
      return 'P-256';
    case 'secp384r1':
      return 'P-384';
    case 'secp521r1':
      return 'P-521';
    default:
      return openSslName;
  }
}

/**
 * Parses node's `X509Certificate.subjectAltName` text (`DNS:a, IP Address:1.2.3.4, ...`; values
 * needing escapes are JSON strings) into `TYPE:value` entries, with `IP Address` shortened to `IP`
 * and IPv6 addresses in their compressed form.
 */
export function parseSubjectAltNames(text: string | undefined): string[] {
  if (text === undefined || text === '') return [];
  const result: string[] = [];
  let pos = 0;
  while (pos < text.length) {
    const colon = text.indexOf(':', pos);
    if (colon < 0) break;
    const type = text.slice(pos, colon).trim();
    let value: string;
    let next: number;
    if (text[colon + 1] === '"') {
      const end = findJsonStringEnd(text, colon + 1);
      const raw = text.slice(colon + 1, end + 1);
      value = parseJsonString(raw);
      next = text.indexOf(', ', end + 1);
    } else {
      next = text.indexOf(', ', colon + 1);
      value = text.slice(colon + 1, next < 0 ? text.length : next);
    }
    result.push(type === 'IP Address' ? `IP:${normalizeIp(value)}` : `${type}:${value}`);
    if (next < 0) break;
    pos = next + 2;
  }
  return result;
}

function findJsonStringEnd(text: string, openQuote: number): number {
  for (let i = openQuote + 1; i < text.length; i++) {
    const ch = text[i];
    if (ch === '\\') i++;
    else if (ch === '"') return i;
  }
  return text.length - 1;
}

function parseJsonString(raw: string): string {
  try {
    const parsed: unknown = JSON.parse(raw);
    return typeof parsed === 'string' ? parsed : raw;
  } catch {
    return raw;
  }
}

function normalizeIp(value: string): string {
  if (!value.includes(':')) return value;
  try {
    // The URL parser prints IPv6 addresses in canonical compressed lower-case form.
    return new URL(`http://[${value}]/`).hostname.slice(1, -1);
  } catch {
    return value.toLowerCase();
  }
}

function errorCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const code = (err as { code: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}

function oneLine(s: string): string {
  return s.replace(/\s+/g, ' ').trim();
}

/** OpenSSL's reason for rejecting the pair, made safe for a one-line message. */
function safeReason(err: unknown): string {
  const message = err instanceof Error ? oneLine(err.message) : '';
  // OpenSSL messages look like "error:0A00018F:SSL routines::ee key too small"; keep the reason.
  const reason = message.replace(/^error:[0-9A-Fa-f]+:[^:]*::?/, '');
  if (reason === '' || reason.includes('-----') || reason.length > 200) {
    return errorCode(err) ?? 'unknown error';
  }
  return reason;
}
