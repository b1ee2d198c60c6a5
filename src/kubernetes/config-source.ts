/**
 * Where the Kubernetes API credentials would come from, decided the way kubectl / client-go
 * decide it, without loading the Kubernetes client (which costs ~70 MiB and ~0.3 s): a server
 * with no API access configured never loads it.
 */
import { readFileSync, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';

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

export type KubeConfigSource =
  /** kubeconfig files: an explicit path (must exist) or the existing entries of a `KUBECONFIG` list or `$HOME/.kube/config`. */
  | { kind: 'files'; paths: string[]; shown: string }
  /** client-go's rest.InClusterConfig: the service's env vars plus the mounted service account token. */
  | { kind: 'in-cluster'; host: string; port: string; dir: string; podNamespace?: string };

/**
 * The API server's URL as logs and messages show it: without the user information a
 * kubeconfig's `server` may carry (`https://user:password@host`), which holds a password.
 */
export function shownServer(server: string | undefined): string {
  if (server === undefined || server === '') return '(unknown server)';
  return server.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/?#]*@/i, '$1');
}

/** The `namespace` file of a mounted service account, if it names one. */
export function serviceAccountNamespace(dir: string): string | undefined {
  try {
    const namespace = readFileSync(join(dir, 'namespace'), 'utf8').trim();
    return namespace === '' ? undefined : namespace;
  } catch {
    return undefined;
  }
}

export function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}

export function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function files(list: string, explicit: boolean): KubeConfigSource {
  const paths = explicit ? [list] : list.split(delimiter).filter((p) => p !== '');
  // Like kubectl, entries of KUBECONFIG that do not exist are skipped; an explicit file must exist.
  const existing = paths.filter(isFile);
  if (existing.length === 0 || (explicit && existing.length !== paths.length)) {
    const what = explicit ? 'kubeconfig file' : 'KUBECONFIG';
    throw new KubeConfigError(`${what} ${list}: no such file`);
  }
  return { kind: 'files', paths: existing, shown: existing.join(delimiter) };
}

/**
 * In order: an explicit path or `KUBECONFIG` (a path list) if set; else the in-cluster
 * service account if running in a pod; else `$HOME/.kube/config` if it exists; else
 * `undefined` (no unauthenticated `http://localhost:8080` last resort, unlike client-node's
 * `loadFromDefault`). Throws `KubeConfigError` when a named file is missing.
 */
export function findKubeConfigSource(env: Readonly<Record<string, string | undefined>>, options: LoadKubeConfigOptions = {}): KubeConfigSource | undefined {
  const explicitPath = nonEmpty(options.kubeconfigPath);
  if (explicitPath !== undefined) return files(explicitPath, true);
  const kubeconfigEnv = nonEmpty(env['KUBECONFIG']);
  if (kubeconfigEnv !== undefined) return files(kubeconfigEnv, false);

  const host = nonEmpty(env['KUBERNETES_SERVICE_HOST']);
  const port = nonEmpty(env['KUBERNETES_SERVICE_PORT']);
  const dir = options.serviceAccountDir ?? SERVICE_ACCOUNT_DIR;
  if (host !== undefined && port !== undefined && isFile(join(dir, 'token'))) {
    // client-go's in-cluster namespace: POD_NAMESPACE (the downward API) before the service account's file.
    const podNamespace = nonEmpty(env['POD_NAMESPACE']);
    return { kind: 'in-cluster', host, port, dir, ...(podNamespace !== undefined ? { podNamespace } : {}) };
  }

  const home = nonEmpty(env['HOME']) ?? nonEmpty(env['USERPROFILE']);
  if (home !== undefined) {
    const path = join(home, '.kube', 'config');
    if (isFile(path)) return { kind: 'files', paths: [path], shown: path };
  }
  return undefined;
}
