/**
 * Which registry hosts the operator allows (--allowed-registries) or names as plain-http
 * ones (--insecure-registries). Patterns are `host[:port]`; `*` matches any run of
 * characters within one host label (`*.dkr.ecr.*.amazonaws.com`) or any port
 * (`127.0.0.1:*`); a pattern without a port matches the host on its default port only.
 * Matching is linear in the lengths (see labelMatches): patterns are the operator's,
 * hosts come from pods.
 */
import { labelMatches } from './credentials-docker-config.js';

export interface RegistryPattern {
  readonly text: string;
  readonly host: string;
  /** `*`, a port number, or undefined (the default port only). */
  readonly port: string | undefined;
}

const PATTERN = /^(\[[0-9a-f:.]+\]|[a-z0-9*](?:[a-z0-9*.-]*[a-z0-9*])?)(?::(\*|[0-9]{1,5}))?$/;

export function parseRegistryPattern(text: string): RegistryPattern | undefined {
  const match = PATTERN.exec(text.trim().toLowerCase());
  if (match === null) return undefined;
  const host = match[1] ?? '';
  if (host.startsWith('[') && host.includes('*')) return undefined;
  if (host.split('.').some((label) => label === '')) return undefined;
  return { text: text.trim(), host, port: match[2] };
}

/** Splits `host[:port]` (an image's registry, or a URL's host) into lowercase host and port. */
function split(hostPort: string): { host: string; port: string | undefined } {
  const lower = hostPort.toLowerCase();
  const match = /^(\[[^\]]*\]|[^:]*)(?::([0-9]+))?$/.exec(lower);
  return { host: match?.[1] ?? lower, port: match?.[2] };
}

export function patternMatches(pattern: RegistryPattern, hostPort: string): boolean {
  const { host, port } = split(hostPort);
  if (pattern.port === undefined ? port !== undefined : pattern.port !== '*' && pattern.port !== port) return false;
  if (pattern.host.startsWith('[') || host.startsWith('[')) return pattern.host === host;
  const wanted = pattern.host.split('.');
  const labels = host.split('.');
  return wanted.length === labels.length && wanted.every((label, i) => labelMatches(label, labels[i] ?? ''));
}

/** A pattern that names one host (no `*` in its host part): the operator meant that very host. */
export function namesHost(pattern: RegistryPattern): boolean {
  return !pattern.host.includes('*');
}
