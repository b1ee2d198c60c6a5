/**
 * Small, pure value validators shared by the command-line parser.
 *
 * Each parser returns a {@link Parsed} result instead of throwing, so the caller
 * can turn the `reason` into a one-line usage error that names the flag.
 */
import { isIPv4, isIPv6 } from 'node:net';

export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

export function ok<T>(value: T): Parsed<T> {
  return { ok: true, value };
}

export function fail<T = never>(reason: string): Parsed<T> {
  return { ok: false, reason };
}

const TRUE_WORDS = new Set(['true', 't', '1', 'yes']);
const FALSE_WORDS = new Set(['false', 'f', '0', 'no']);

/**
 * Boolean flag / environment values. Case-insensitive: true, t, 1, yes / false, f, 0, no
 * (a superset of Go's strconv.ParseBool, which urfave/cli uses). The empty string is
 * only accepted (as false) when `emptyIsFalse` is set, i.e. for environment variables.
 */
export function parseBool(text: string, emptyIsFalse: boolean): Parsed<boolean> {
  if (text === '' && emptyIsFalse) return ok(false);
  const word = text.toLowerCase();
  if (TRUE_WORDS.has(word)) return ok(true);
  if (FALSE_WORDS.has(word)) return ok(false);
  return fail('must be true or false');
}

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

/** Kubernetes DNS-1123 label: volume names, namespaces. */
export function isDns1123Label(text: string): boolean {
  return text.length <= 63 && DNS1123_LABEL.test(text);
}

/** Kubernetes DNS-1035 label: Service names (must start with a letter). */
export function isDns1035Label(text: string): boolean {
  return text.length <= 63 && DNS1035_LABEL.test(text);
}

/** Kubernetes DNS-1123 subdomain: most object names, e.g. Secrets. */
export function isDns1123Subdomain(text: string): boolean {
  return text.length <= 253 && text.split('.').every((label) => DNS1123_LABEL.test(label));
}

const HOST_LABEL = /^[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?$/;

/**
 * A host name (case-insensitive DNS name) or an IPv4 address. Dotted all-numeric
 * strings must be valid IPv4 addresses. IPv6 addresses are not accepted here.
 */
export function isHostNameOrIPv4(text: string): boolean {
  if (text === '' || text.length > 253) return false;
  if (/^[0-9.]+$/.test(text)) return isIPv4(text);
  return text.split('.').every((label) => label.length <= 63 && HOST_LABEL.test(label));
}

export { isIPv4, isIPv6 };
