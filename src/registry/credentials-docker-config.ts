/**
 * Docker config content as it appears in image pull Secrets, and which of its
 * entries apply to an image.
 *
 * Two formats:
 * - `kubernetes.io/dockerconfigjson` (key `.dockerconfigjson`): `{"auths": {"<key>": {...}}}`
 * - `kubernetes.io/dockercfg` (key `.dockercfg`, legacy): `{"<key>": {...}}`
 *
 * An entry holds `auth` (base64 of `user:password`) and/or `username` + `password`.
 * Keys are what people type into `docker login` or a Secret by hand:
 * `registry.example.com`, `registry.example.com:5000`, `https://index.docker.io/v1/`,
 * `*.example.com`, `registry.example.com/team`.
 *
 * Matching follows the kubelet's documented rules (same number of host labels, each
 * label matched with `*` globs; a port in the key must equal the image's port; a path in
 * the key must be a prefix of the repository path), with two deliberate choices:
 * the path prefix is matched by whole segments (`team` does not match `team-b/app`), and
 * a bare API-version path (`/v1/`, `/v2/`) in a key means "the whole registry".
 */

export interface DockerConfigEntry {
  /** The entry's key, as written in the config (not secret; safe to log). */
  pattern: string;
  username: string;
  password: string;
}

export type DockerConfigFormat = 'dockerconfigjson' | 'dockercfg';

/**
 * Content that cannot be parsed at all. The message never quotes the content
 * (`JSON.parse` errors do, so they are not passed on).
 */
export class DockerConfigError extends Error {
  override readonly name = 'DockerConfigError';
  readonly format: DockerConfigFormat;

  constructor(format: DockerConfigFormat, problem: string) {
    super(`invalid ${format} content: ${problem}`);
    this.format = format;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}(?:==)?|[A-Za-z0-9+/]{3}=?)?$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * `user:password` out of an `auth` field; undefined when it is not strict base64 of UTF-8 with a
 * colon. Line breaks are ignored, as Go's decoder (the kubelet's) ignores them: base64(1) wraps
 * its output every 76 characters, and long passwords (a Google key) make long values.
 */
function decodeAuth(auth: string): { username: string; password: string } | undefined {
  const compact = auth.replace(/[\r\n]/g, '').trim();
  if (compact === '' || !BASE64.test(compact)) return undefined;
  let text: string;
  try {
    text = utf8.decode(Buffer.from(compact, 'base64'));
  } catch {
    return undefined;
  }
  const colon = text.indexOf(':');
  if (colon < 0) return undefined;
  return { username: text.slice(0, colon), password: text.slice(colon + 1) };
}

function usable(username: string, password: string): boolean {
  return username !== '' && password !== '';
}

/** One entry's credentials: a decodable `auth` wins, else `username`/`password`; undefined when neither is usable. */
function entryCredentials(value: unknown): { username: string; password: string } | undefined {
  if (!isRecord(value)) return undefined;
  const auth = value['auth'];
  if (typeof auth === 'string') {
    const decoded = decodeAuth(auth);
    if (decoded !== undefined && usable(decoded.username, decoded.password)) return decoded;
  }
  const username = value['username'];
  const password = value['password'];
  if (typeof username === 'string' && typeof password === 'string' && usable(username, password)) {
    return { username, password };
  }
  return undefined;
}

/**
 * The usable entries of docker config content, in document order. Entries without
 * usable credentials (no `auth`/`username`+`password`, undecodable `auth`, empty user or
 * password, `identitytoken` only) are left out. Throws `DockerConfigError` when the
 * content is not a JSON object (or `auths` is present but not an object).
 */
export function parseDockerConfig(content: string, format: DockerConfigFormat): DockerConfigEntry[] {
  let document: unknown;
  try {
    document = JSON.parse(content);
  } catch {
    throw new DockerConfigError(format, 'not valid JSON');
  }
  if (!isRecord(document)) throw new DockerConfigError(format, 'not a JSON object');
  let auths: Record<string, unknown>;
  if (format === 'dockerconfigjson') {
    const value = document['auths'];
    if (value === undefined || value === null) return [];
    if (!isRecord(value)) throw new DockerConfigError(format, '"auths" is not an object');
    auths = value;
  } else {
    auths = document;
  }
  const entries: DockerConfigEntry[] = [];
  for (const [pattern, value] of Object.entries(auths)) {
    if (pattern.trim() === '') continue;
    const credentials = entryCredentials(value);
    if (credentials !== undefined) entries.push({ pattern, ...credentials });
  }
  return entries;
}

// ---------------------------------------------------------------------------
// Matching

/** Hostnames that all mean Docker Hub. */
const DOCKER_HUB_HOSTS = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);
const DOCKER_HUB = 'docker.io';
/** A key path that names the registry API version rather than a repository prefix. */
const API_VERSION_PATH = /^v[12]$/;

interface HostPort {
  host: string;
  port?: string;
}

interface ParsedKey {
  labels: string[];
  port?: string;
  /** Repository path segments the key is limited to; empty for the whole registry. */
  path: string[];
  /** Normalised `host[:port][/path]`, for ordering. */
  normalised: string;
  wildcards: number;
}

/** `host`, `host:port`, `[v6]`, `[v6]:port`; undefined for anything else. Hosts are lower-cased. */
function splitHostPort(text: string): HostPort | undefined {
  if (text === '') return undefined;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0) return undefined;
    const host = text.slice(0, close + 1).toLowerCase();
    const rest = text.slice(close + 1);
    if (rest === '') return { host };
    if (!/^:\d+$/.test(rest)) return undefined;
    return { host, port: rest.slice(1) };
  }
  const colon = text.lastIndexOf(':');
  if (colon < 0) return { host: text.toLowerCase() };
  const port = text.slice(colon + 1);
  if (!/^\d+$/.test(port) || colon === 0) return undefined;
  return { host: text.slice(0, colon).toLowerCase(), port };
}

function canonicalHost(host: string): string {
  return DOCKER_HUB_HOSTS.has(host) ? DOCKER_HUB : host;
}

function pathSegments(path: string): string[] {
  return path.split('/').filter((segment) => segment !== '');
}

function parseKey(pattern: string): ParsedKey | undefined {
  let text = pattern.trim();
  const scheme = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.exec(text);
  if (scheme !== null) text = text.slice(scheme[0].length);
  // Query strings and fragments are not part of a registry key.
  text = text.replace(/[?#].*$/s, '');
  const slash = text.indexOf('/');
  const hostPart = slash < 0 ? text : text.slice(0, slash);
  let path = pathSegments(slash < 0 ? '' : text.slice(slash + 1));
  const hostPort = splitHostPort(hostPart);
  if (hostPort === undefined) return undefined;
  const host = canonicalHost(hostPort.host);
  const labels = host.startsWith('[') ? [host] : host.split('.');
  if (labels.some((label) => label === '')) return undefined;
  if (path.length === 1 && API_VERSION_PATH.test(path[0] ?? '')) path = [];
  const hostText = hostPort.port === undefined ? host : `${host}:${hostPort.port}`;
  const parsed: ParsedKey = {
    labels,
    path,
    normalised: path.length === 0 ? hostText : `${hostText}/${path.join('/')}`,
    wildcards: labels.filter((label) => label.includes('*')).length,
  };
  if (hostPort.port !== undefined) parsed.port = hostPort.port;
  return parsed;
}

/**
 * One host label against one key label; `*` matches any run of characters within the
 * label. Keys come from pull secrets a pod's author writes, so no regular expression is
 * built from them: the pieces between the `*`s are found left to right, each at its
 * first place (enough for `*`-only globs), and each search is linear (see indexFrom), so
 * the whole match takes time linear in the lengths of the key and the label.
 */
export function labelMatches(keyLabel: string, label: string): boolean {
  if (!keyLabel.includes('*')) return keyLabel === label;
  const pieces = keyLabel.split('*');
  const first = pieces[0] ?? '';
  const last = pieces[pieces.length - 1] ?? '';
  if (first.length + last.length > label.length || !label.startsWith(first) || !label.endsWith(last)) return false;
  let at = first.length;
  const end = label.length - last.length;
  for (const piece of pieces.slice(1, -1)) {
    if (piece === '') continue;
    const found = indexFrom(label, piece, at, end);
    if (found < 0) return false;
    at = found + piece.length;
  }
  return true;
}

/**
 * The first index of `needle` in `text[from, end)`, or -1; Knuth-Morris-Pratt, so time
 * is linear in the length of the needle plus the text searched, whatever they hold.
 */
function indexFrom(text: string, needle: string, from: number, end: number): number {
  const fallback = new Array<number>(needle.length).fill(0);
  for (let i = 1, k = 0; i < needle.length; i++) {
    while (k > 0 && needle[i] !== needle[k]) k = fallback[k - 1] ?? 0;
    if (needle[i] === needle[k]) k++;
    fallback[i] = k;
  }
  for (let i = from, k = 0; i < end; i++) {
    while (k > 0 && text[i] !== needle[k]) k = fallback[k - 1] ?? 0;
    if (text[i] === needle[k]) k++;
    if (k === needle.length) return i - needle.length + 1;
  }
  return -1;
}

function keyMatches(key: ParsedKey, target: HostPort, repository: string[]): boolean {
  const host = canonicalHost(target.host);
  const labels = host.startsWith('[') ? [host] : host.split('.');
  if (labels.length !== key.labels.length) return false;
  for (let i = 0; i < labels.length; i++) {
    if (!labelMatches(key.labels[i] ?? '', labels[i] ?? '')) return false;
  }
  if (key.port !== undefined && key.port !== target.port) return false;
  if (key.path.length > repository.length) return false;
  return key.path.every((segment, i) => segment === repository[i]);
}

/**
 * The entries whose key applies to an image in `domain` (`host[:port]`, as in
 * `ImageReference.domain`) at `repositoryPath` (e.g. `library/nginx`).
 *
 * Rules: the scheme and an API-version path (`/v1/`, `/v2/`) in a key are ignored;
 * `docker.io`, `index.docker.io` and `registry-1.docker.io` are the same registry;
 * hosts compare case-insensitively and label by label, `*` globbing within one label
 * (`*.example.com` matches `a.example.com`, not `a.b.example.com` nor `example.com`);
 * a key's port must equal the image's port, a key without a port matches any port;
 * a key's path must be a whole-segment prefix of the repository path.
 *
 * Every match is returned, most specific first: more repository path segments first,
 * then the longer normalised key (`host[:port][/path]`, scheme and API-version path
 * dropped), then fewer wildcard labels, then document order. Keys that cannot be
 * parsed match nothing.
 */
export function matchingEntries(
  entries: readonly DockerConfigEntry[],
  domain: string,
  repositoryPath: string,
): DockerConfigEntry[] {
  const target = splitHostPort(domain.trim());
  if (target === undefined) return [];
  const repository = pathSegments(repositoryPath);
  const matches: Array<{ entry: DockerConfigEntry; key: ParsedKey; index: number }> = [];
  entries.forEach((entry, index) => {
    const key = parseKey(entry.pattern);
    if (key !== undefined && keyMatches(key, target, repository)) matches.push({ entry, key, index });
  });
  matches.sort(
    (a, b) =>
      b.key.path.length - a.key.path.length ||
      b.key.normalised.length - a.key.normalised.length ||
      a.key.wildcards - b.key.wildcards ||
      a.index - b.index,
  );
  return matches.map((match) => match.entry);
}
