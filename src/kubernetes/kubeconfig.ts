/**
 * The client-node KubeConfig of the source config-source.ts finds, like kubectl / client-go,
 * but without client-node's `loadFromDefault` last resort of an
 * unauthenticated `http://localhost:8080`: no configuration means `undefined`.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIPv6 } from 'node:net';
import { dirname, isAbsolute, join, resolve, sep } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import type { Cluster, Context, User } from '@kubernetes/client-node';
import { parse as parseYaml } from 'yaml';
import { KubeConfigError, findKubeConfigSource, isFile, nonEmpty, serviceAccountNamespace } from './config-source.js';
import type { KubeConfigSource, LoadKubeConfigOptions } from './config-source.js';

export { KubeConfigError, SERVICE_ACCOUNT_DIR, findKubeConfigSource } from './config-source.js';
export type { KubeConfigSource, LoadKubeConfigOptions } from './config-source.js';

/**
 * js-yaml's reasons that quote the text, as their words without the quote: a password or
 * token that YAML reads as an alias (`*…`) or a tag (`!…`) would otherwise be shown.
 */
const QUOTING_REASONS: ReadonlyArray<readonly [RegExp, string]> = [
  [/^(unidentified alias|undeclared tag handle) "[\s\S]*$/, '$1'],
  [/^unknown tag !<[\s\S]*$/, 'unknown tag'],
  [/^cannot resolve a node with !<[\s\S]*$/, 'cannot resolve a node with its explicit tag'],
  [/^unacceptable node kind for !<[\s\S]*$/, 'unacceptable node kind for its tag'],
  [/^(tag name cannot contain such characters|tag name is malformed|tag prefix is malformed): [\s\S]*$/, '$1'],
  [/^there is a previously declared suffix for "[\s\S]*$/, 'there is a previously declared suffix for a tag handle'],
];

function unquotedReason(reason: string): string {
  for (const [pattern, replacement] of QUOTING_REASONS) if (pattern.test(reason)) return reason.replace(pattern, replacement);
  return reason;
}

/** js-yaml errors quote the offending line, which may hold a token: keep only the reason (without what it quotes) and position. */
function loadErrorDetail(error: unknown): string {
  if (typeof error !== 'object' || error === null) return String(error);
  const { reason: quoted, mark, message } = error as { reason?: unknown; mark?: unknown; message?: unknown };
  if (typeof quoted === 'string') {
    const reason = unquotedReason(quoted);
    const { line, column } = (typeof mark === 'object' && mark !== null ? mark : {}) as {
      line?: unknown;
      column?: unknown;
    };
    return typeof line === 'number' && typeof column === 'number'
      ? `invalid YAML: ${reason} (line ${line + 1}, column ${column + 1})`
      : `invalid YAML: ${reason}`;
  }
  if (error instanceof TypeError) return 'not a kubeconfig document';
  return typeof message === 'string' ? message : String(error);
}

function loadFile(path: string): KubeConfig {
  const config = new KubeConfig();
  try {
    config.loadFromFile(path);
  } catch (error) {
    throw new KubeConfigError(`cannot load kubeconfig ${path}: ${loadErrorDetail(error)}`);
  }
  withTokenFiles(config, path);
  // client-go runs an exec plugin's relative command that holds a path separator from the kubeconfig's directory.
  for (const user of config.getUsers()) {
    const exec = user.exec as { command?: unknown } | null | undefined;
    if (typeof exec?.command === 'string' && exec.command.includes(sep) && !isAbsolute(exec.command)) exec.command = resolve(dirname(path), exec.command);
  }
  return config;
}

/** Our auth provider for a user's `tokenFile`: client-node's own `tokenFile` provider neither trims nor falls back. */
const TOKEN_FILE_PROVIDER = 'secrets-init-token-file';
/** client-go reads a `tokenFile` again at most this long after its last read. */
const TOKEN_FILE_REFRESH_MS = 60_000;

/**
 * client-go's `tokenFile` of a kubeconfig user (a rotated, bound token, e.g. a projected one),
 * which client-node ignores (it knows only a `token-file` key, read once): the token is read
 * from the file (relative to the kubeconfig), trimmed, and read again a minute after its last
 * read, as client-go does; it wins over `token`, which is sent only while the file cannot be
 * read. Users with an exec plugin or an auth provider are left as they are.
 */
function withTokenFiles(config: KubeConfig, path: string): void {
  const text = readFileSync(path, 'utf8');
  if (!text.includes('tokenFile')) return;
  let raw: unknown;
  try {
    // logLevel: no process warning, which would quote a key (and a key may be a mapping holding a token).
    raw = parseYaml(text, { logLevel: 'error' });
  } catch {
    return;
  }
  const entries = typeof raw === 'object' && raw !== null ? (raw as { users?: unknown }).users : undefined;
  if (!Array.isArray(entries)) return;
  const tokenFiles = new Map<string, string>();
  for (const entry of entries as unknown[]) {
    const { name, user } = (typeof entry === 'object' && entry !== null ? entry : {}) as { name?: unknown; user?: unknown };
    const tokenFile = typeof user === 'object' && user !== null ? (user as { tokenFile?: unknown }).tokenFile : undefined;
    if (typeof name === 'string' && typeof tokenFile === 'string' && tokenFile !== '' && !tokenFiles.has(name)) {
      tokenFiles.set(name, resolve(dirname(path), tokenFile));
    }
  }
  if (tokenFiles.size === 0) return;
  const users = config.getUsers().map((user): User => {
    const file = tokenFiles.get(user.name);
    if (file === undefined || user.exec || user.authProvider) return user;
    const { token, ...rest } = user;
    return { ...rest, authProvider: { name: TOKEN_FILE_PROVIDER, config: { path: file, ...(token ? { token } : {}) } } };
  });
  config.loadFromOptions({ clusters: config.getClusters(), users, contexts: config.getContexts(), currentContext: config.getCurrentContext() });
}

/** client-node's interface for added authenticators (not exported by its index). */
type Authenticator = Parameters<KubeConfig['addAuthenticator']>[0];

/** Sends the token of a user's `tokenFile` (see withTokenFiles). */
class TokenFileAuth implements Authenticator {
  private readonly read = new Map<string, { token: string; at: number }>();

  isAuthProvider(user: User): boolean {
    return (user.authProvider as { name?: unknown } | undefined)?.name === TOKEN_FILE_PROVIDER;
  }

  applyAuthentication(user: User, opts: Parameters<Authenticator['applyAuthentication']>[1]): Promise<void> {
    const { path, token: fallback } = (user.authProvider as { config: { path: string; token?: string } }).config;
    let last = this.read.get(path);
    const now = performance.now();
    if (last === undefined || now - last.at >= TOKEN_FILE_REFRESH_MS) {
      try {
        const token = readFileSync(path, 'utf8').trim();
        if (token === '') throw new Error(`the token file ${path} is empty`);
        last = { token, at: now };
        this.read.set(path, last);
      } catch (error) {
        // As client-go: the last token read, else the user's own token.
        if (last === undefined && fallback === undefined) return Promise.reject(error);
      }
    }
    opts.headers = { ...opts.headers, Authorization: `Bearer ${last?.token ?? fallback ?? ''}` };
    return Promise.resolve();
  }
}

/** kubectl's merge of a `KUBECONFIG` list: the first file to define a name (or the current context) wins. */
function merge(configs: KubeConfig[]): KubeConfig {
  const [first, ...rest] = configs;
  if (first === undefined || rest.length === 0) return first ?? new KubeConfig();
  const clusters: Cluster[] = [];
  const users: User[] = [];
  const contexts: Context[] = [];
  let currentContext: string | undefined;
  const addNew = <T extends { name: string }>(into: T[], items: T[]): void => {
    for (const item of items) if (!into.some((existing) => existing.name === item.name)) into.push(item);
  };
  for (const config of configs) {
    addNew(clusters, config.getClusters());
    addNew(users, config.getUsers());
    addNew(contexts, config.getContexts());
    currentContext ??= nonEmpty(config.getCurrentContext());
  }
  const merged = new KubeConfig();
  merged.loadFromOptions({ clusters, users, contexts, currentContext });
  return merged;
}

function checkUsable(config: KubeConfig, source: string): KubeConfig {
  const contextName = nonEmpty(config.getCurrentContext());
  if (contextName === undefined) throw new KubeConfigError(`kubeconfig ${source}: no current-context set`);
  const context = config.getContextObject(contextName);
  if (context === null) throw new KubeConfigError(`kubeconfig ${source}: current-context "${contextName}" is not defined`);
  const cluster = config.getCurrentCluster();
  if (cluster === null) {
    throw new KubeConfigError(`kubeconfig ${source}: context "${contextName}" refers to unknown cluster "${context.cluster}"`);
  }
  if (nonEmpty(cluster.server) === undefined) {
    throw new KubeConfigError(`kubeconfig ${source}: cluster "${cluster.name}" has no server`);
  }
  checkCertificateAuthority(cluster, `kubeconfig ${source}: cluster "${cluster.name}"`);
  return config;
}

/**
 * A CA that does not parse would be ignored by node:tls and show up later as an untrusted
 * API server certificate on every read: refuse it at start instead.
 */
function checkCertificateAuthority(cluster: Cluster, where: string): void {
  let pem: string | undefined;
  let what = 'certificate-authority-data';
  if (nonEmpty(cluster.caData) !== undefined) {
    pem = Buffer.from(cluster.caData ?? '', 'base64').toString('utf8');
  } else if (nonEmpty(cluster.caFile) !== undefined) {
    what = `certificate-authority ${cluster.caFile ?? ''}`;
    try {
      pem = readFileSync(cluster.caFile ?? '', 'utf8');
    } catch (error) {
      throw new KubeConfigError(`${where}: cannot read ${what}: ${(error as NodeJS.ErrnoException).code ?? 'unreadable'}`);
    }
  }
  if (pem === undefined) return;
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  const parses = (block: string): boolean => {
    try {
      new X509Certificate(block);
      return true;
    } catch {
      return false;
    }
  };
  if (blocks.length === 0 || !blocks.every(parses)) throw new KubeConfigError(`${where}: ${what} holds no valid PEM certificate`);
}

/** client-go's rest.InClusterConfig: the service's env vars plus the mounted service account token. */
function inCluster({ host, port, dir, podNamespace }: Extract<KubeConfigSource, { kind: 'in-cluster' }>): KubeConfig {
  const tokenFile = join(dir, 'token');
  const caFile = join(dir, 'ca.crt');
  const name = 'in-cluster';
  const config = new KubeConfig();
  const cluster: Cluster = {
    name,
    server: `https://${isIPv6(host) ? `[${host}]` : host}:${port}`,
    skipTLSVerify: false,
    ...(isFile(caFile) ? { caFile } : {}),
  };
  checkCertificateAuthority(cluster, `in-cluster service account ${dir}`);
  // The tokenFile provider re-reads the (rotated, bound) token every minute.
  const user: User = { name, authProvider: { name: 'tokenFile', config: { tokenFile } } };
  // As kubectl in a pod: POD_NAMESPACE if set, else the namespace of the pod's service account.
  const namespace = podNamespace ?? serviceAccountNamespace(dir);
  const context: Context = { name, cluster: name, user: name, ...(namespace !== undefined ? { namespace } : {}) };
  config.loadFromOptions({ clusters: [cluster], users: [user], contexts: [context], currentContext: name });
  return config;
}

/** The KubeConfig of a source found by findKubeConfigSource, checked usable. */
export function kubeConfigOf(source: KubeConfigSource, context?: string): KubeConfig {
  if (source.kind === 'in-cluster') {
    if (context !== undefined) throw new KubeConfigError(`--context ${context}: the in-cluster service account has no contexts; give a kubeconfig`);
    return inCluster(source);
  }
  const config = merge(source.paths.map(loadFile));
  config.addAuthenticator(new TokenFileAuth());
  if (context !== undefined) {
    if (config.getContextObject(context) === null) throw new KubeConfigError(`kubeconfig ${source.shown}: context "${context}" is not defined`);
    config.setCurrentContext(context);
  }
  return checkUsable(config, source.shown);
}

/**
 * The KubeConfig of findKubeConfigSource's source, or `undefined` when there is none.
 * Throws `KubeConfigError` when configuration is present but unusable, rather than quietly
 * falling through to the next source.
 */
export function loadKubeConfig(env: Readonly<Record<string, string | undefined>>, options: LoadKubeConfigOptions = {}): KubeConfig | undefined {
  const source = findKubeConfigSource(env, options);
  return source === undefined ? undefined : kubeConfigOf(source);
}
