import { createPrivateKey } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generate } from 'selfsigned';
import { generateCertificates, writeCertificates, type GeneratedCertificates } from '../../src/tls/generate.js';

export type TestKeyFormat = 'rsa-pkcs1' | 'rsa-pkcs8' | 'ec-pkcs8';

export interface TestCertificates {
  dir: string;
  caFile: string;
  certFile: string;
  keyFile: string;
  caPem: string;
  certPem: string;
  keyPem: string;
  cleanup(): Promise<void>;
}

/** Service/namespace of the test certificates (SANs also include localhost, 127.0.0.1 and ::1). */
export const TEST_SERVICE = 'secrets-init-webhook';
export const TEST_NAMESPACE = 'default';

// RSA key generation takes a few hundred ms: generate one CA+leaf per key type per process.
const cache = new Map<'rsa' | 'ec', Promise<GeneratedCertificates>>();

function generatedFor(keyType: 'rsa' | 'ec'): Promise<GeneratedCertificates> {
  let pending = cache.get(keyType);
  if (pending === undefined) {
    pending = generateCertificates({
      service: TEST_SERVICE,
      namespace: TEST_NAMESPACE,
      hosts: ['localhost', '127.0.0.1', '::1'],
      days: 1,
      keyType,
    });
    pending.catch(() => cache.delete(keyType));
    cache.set(keyType, pending);
  }
  return pending;
}

/**
 * A new CA and a serving certificate signed by it, made by the project's own generator: SANs
 * `service`, `service.namespace`, `service.namespace.svc`, `service.namespace.svc.cluster.local`,
 * localhost, 127.0.0.1 and ::1. Not cached: every call is a different CA (so a client trusting
 * one CA rejects the certificates of another). ECDSA P-256 by default, which takes ~20 ms.
 */
export function makeLoopbackCertificates(
  options: { service?: string; namespace?: string; keyType?: 'rsa' | 'ec' } = {},
): Promise<GeneratedCertificates> {
  return generateCertificates({
    service: options.service ?? TEST_SERVICE,
    namespace: options.namespace ?? TEST_NAMESPACE,
    hosts: ['localhost', '127.0.0.1', '::1'],
    days: 1,
    keyType: options.keyType ?? 'ec',
  });
}

/**
 * Makes a fresh temp dir with ca.pem/cert.pem/key.pem for 127.0.0.1 + localhost (+ ::1).
 * keyFormat: 'rsa-pkcs1' (BEGIN RSA PRIVATE KEY) | 'rsa-pkcs8' | 'ec-pkcs8' (BEGIN PRIVATE KEY, P-256).
 * Certificates are cached per key type within the process; each call gets its own directory.
 */
export async function makeTestCertificates(keyFormat: TestKeyFormat = 'rsa-pkcs8'): Promise<TestCertificates> {
  const generated = await generatedFor(keyFormat === 'ec-pkcs8' ? 'ec' : 'rsa');
  const keyPem = createPrivateKey(generated.key)
    .export({ type: keyFormat === 'rsa-pkcs1' ? 'pkcs1' : 'pkcs8', format: 'pem' })
    .toString();
  const dir = await mkdtemp(join(tmpdir(), 'secrets-init-webhook-certs-'));
  try {
    const files = await writeCertificates(dir, { ...generated, key: keyPem });
    return {
      dir,
      ...files,
      caPem: await readFile(files.caFile, 'utf8'),
      certPem: await readFile(files.certFile, 'utf8'),
      keyPem: await readFile(files.keyFile, 'utf8'),
      cleanup: () => rm(dir, { recursive: true, force: true }),
    };
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

/**
 * A client certificate (ECDSA P-256, extKeyUsage clientAuth) for `commonName`, signed by
 * the CA of `ca` (e.g. one from makeLoopbackCertificates), as an API server would present
 * it to a webhook.
 */
export async function makeClientCertificate(ca: Pick<GeneratedCertificates, 'caCert' | 'caKey'>, commonName: string): Promise<{ cert: string; key: string }> {
  const now = Date.now();
  const client = await generate([{ name: 'commonName', value: commonName }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate: new Date(now - 60_000),
    notAfterDate: new Date(now + 24 * 3600_000),
    ca: { key: ca.caKey, cert: ca.caCert },
    extensions: [
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, critical: true },
      { name: 'extKeyUsage', clientAuth: true },
    ],
  });
  return { cert: client.cert, key: client.private };
}
