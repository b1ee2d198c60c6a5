import { X509Certificate } from 'node:crypto';
import type { SecureContextOptions, TlsOptions } from 'node:tls';
import type { TlsMaterial } from './material.js';

/**
 * TLS 1.3 suites: Node's defaults (all AEAD, all forward secret). They must be listed
 * explicitly: a `ciphers` string without any `TLS_…` entry turns TLS 1.3 off in node:tls.
 */
export const TLS13_CIPHER_SUITES: readonly string[] = [
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'TLS_AES_128_GCM_SHA256',
];

/**
 * TLS 1.2 suites: ECDHE key exchange (forward secrecy) with an AEAD cipher only, i.e. no
 * CBC (Lucky13-style padding oracles), no static RSA key exchange, no finite-field DHE.
 * ECDSA and RSA variants, so both key types work. The API server (Go crypto/tls) offers
 * all of these.
 */
export const TLS12_CIPHERS: readonly string[] = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
];

export const SERVER_CIPHERS = [...TLS13_CIPHER_SUITES, ...TLS12_CIPHERS].join(':');

/**
 * The webhook's HTTPS settings around a certificate and key: TLS 1.2+, ECDHE+AEAD, server
 * cipher order; with client CAs, a client certificate is asked for and verified against
 * them (the routes decide who must present one, so probes without one still connect).
 */
export type ServerTlsOptions = Required<Pick<SecureContextOptions, 'cert' | 'key' | 'minVersion' | 'ciphers'>> &
  Required<Pick<TlsOptions, 'honorCipherOrder'>> &
  Pick<TlsOptions, 'ca' | 'requestCert' | 'rejectUnauthorized'>;

/**
 * Every option the server's secure context needs, for both the first context and each
 * `server.setSecureContext()` after a rotation: setSecureContext rebuilds the context from
 * the options it is given, so anything left out (ciphers, minVersion) would fall back to
 * Node's defaults on the first reload.
 */
export function serverTlsOptions(material: Pick<TlsMaterial, 'cert' | 'key' | 'clientCa'>): ServerTlsOptions {
  const options: ServerTlsOptions = {
    cert: material.cert,
    key: material.key,
    minVersion: 'TLSv1.2',
    ciphers: SERVER_CIPHERS,
    honorCipherOrder: true,
  };
  if (material.clientCa !== undefined) {
    options.ca = material.clientCa;
    options.requestCert = true;
    options.rejectUnauthorized = false;
  }
  return options;
}

/** A short, public description of a certificate for logs (no key material). */
export function describeCertificate(material: TlsMaterial): Record<string, unknown> {
  const description: Record<string, unknown> = {
    notAfter: material.notAfter.toISOString(),
    subjectAltNames: material.subjectAltNames,
  };
  try {
    description['fingerprint256'] = new X509Certificate(material.cert).fingerprint256;
  } catch {
    // Already validated by loadTlsMaterial; a fingerprint is only a convenience.
  }
  return description;
}
