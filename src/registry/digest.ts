import { createHash } from 'node:crypto';
import { RegistryFailure } from './errors.js';

const DIGEST = /^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/;
const ANY_DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

/** A digest this client can verify (sha256 or sha512, lowercase hex). */
export function isVerifiableDigest(value: string): boolean {
  return DIGEST.test(value);
}

/** Throws unless `value` is a digest this client can verify; safe to put in a URL path afterwards. */
export function checkDigest(value: string, what: string): string {
  if (DIGEST.test(value)) return value;
  if (ANY_DIGEST.test(value) && value.length <= 200 && !/^sha(256|512):/.test(value)) {
    throw new RegistryFailure('unsupported', `unsupported digest algorithm in ${what} digest "${value}" (only sha256 and sha512 are verified)`);
  }
  throw new RegistryFailure('invalid', `invalid ${what} digest ${JSON.stringify(value.slice(0, 200))}`);
}

/** The digest of `body` with the algorithm of `like` (sha256 unless `like` is a sha512 digest). */
export function digestOf(body: Uint8Array, like = 'sha256:'): string {
  const algorithm = like.startsWith('sha512:') ? 'sha512' : 'sha256';
  return `${algorithm}:${createHash(algorithm).update(body).digest('hex')}`;
}

/** Throws a digest-mismatch failure unless `body` hashes to `expected` (a checked digest). */
export function verifyDigest(body: Uint8Array, expected: string, what: string): void {
  const actual = digestOf(body, expected);
  if (actual !== expected) {
    throw new RegistryFailure('digest-mismatch', `digest mismatch for ${what}: expected ${expected}, received content with digest ${actual}`);
  }
}
