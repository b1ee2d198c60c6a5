/**
 * Finds the Kubernetes API credentials to use, like kubectl / client-go do,
 * but without client-node's `loadFromDefault` last resort of an
 * unauthenticated `http://localhost:8080`: no configuration means `undefined`.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { isIPv6 } from 'node:net';
import { delimiter, join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import type { Cluster, Context, User } from '@kubernetes/client-node';

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface LoadKubeConfigOptions {
  /** An explicit kubeconfig file (e.g. from a `--kubeconfig` flag); wins over `KUBECONFIG`. Must exist. */
  kubeconfigPath?: string;
  /** Where the in-cluster service account files (`token`, `ca.crt`, `namespace`) are. */
  serviceAccountDir?: string;
}

/** Configuration exists but cannot be used (missing file, unparsable YAML, no current context...). */
export class KubeConfigError extends Error {
  override readonly name = 'KubeConfigError';
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** js-yaml errors quote the offending line, which may hold a token: keep only the reason and position. */
function loadErrorDetail(error: unknown): string {
  if (typeof error !== 'object' || error === null) return String(error);
  const { reason, mark, message } = error as { reason?: unknown; mark?: unknown; message?: unknown };
  if (typeof reason === 'string') {
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
  return config;
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

function fromFiles(list: string, explicit: boolean): KubeConfig {
  const paths = explicit ? [list] : list.split(delimiter).filter((p) => p !== '');
  // Like kubectl, entries of KUBECONFIG that do not exist are skipped; an explicit file must exist.
  const existing = paths.filter(isFile);
  if (existing.length === 0 || (explicit && existing.length !== paths.length)) {
    const what = explicit ? 'kubeconfig file' : 'KUBECONFIG';
    throw new KubeConfigError(`${what} ${list}: no such file`);
  }
  return checkUsable(merge(existing.map(loadFile)), existing.join(delimiter));
}

/** client-go's rest.InClusterConfig: the service's env vars plus the mounted service account token. */
function inCluster(env: Readonly<Record<string, string | undefined>>, dir: string): KubeConfig | undefined {
  const host = nonEmpty(env['KUBERNETES_SERVICE_HOST']);
  const port = nonEmpty(env['KUBERNETES_SERVICE_PORT']);
  const tokenFile = join(dir, 'token');
  if (host === undefined || port === undefined || !isFile(tokenFile)) return undefined;
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
  const context: Context = { name, cluster: name, user: name };
  config.loadFromOptions({ clusters: [cluster], users: [user], contexts: [context], currentContext: name });
  return config;
}

/**
 * In order: an explicit path or `KUBECONFIG` (a path list) if set; else the
 * in-cluster service account if running in a pod; else `$HOME/.kube/config`
 * if it exists; else `undefined`.
 *
 * Throws `KubeConfigError` when configuration is present but unusable, rather
 * than quietly falling through to the next source.
 */
export function loadKubeConfig(
  env: Readonly<Record<string, string | undefined>>,
  options: LoadKubeConfigOptions = {},
): KubeConfig | undefined {
  const explicitPath = nonEmpty(options.kubeconfigPath);
  if (explicitPath !== undefined) return fromFiles(explicitPath, true);
  const kubeconfigEnv = nonEmpty(env['KUBECONFIG']);
  if (kubeconfigEnv !== undefined) return fromFiles(kubeconfigEnv, false);

  const cluster = inCluster(env, options.serviceAccountDir ?? SERVICE_ACCOUNT_DIR);
  if (cluster !== undefined) return cluster;

  const home = nonEmpty(env['HOME']) ?? nonEmpty(env['USERPROFILE']);
  if (home !== undefined) {
    const path = join(home, '.kube', 'config');
    if (isFile(path)) return checkUsable(loadFile(path), path);
  }
  return undefined;
}
