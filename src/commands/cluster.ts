/**
 * The cluster the offline commands read, when one is configured: found as the server finds
 * it (--kubeconfig, else KUBECONFIG, the in-cluster service account or ~/.kube/config),
 * with --context chosen. The Kubernetes client is loaded only then.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import type { KubeAccessOptions } from '../cli/parse.js';
import { KubeConfigError, findKubeConfigSource, shownServer } from '../kubernetes/config-source.js';
import type { KubeObjectReader, LookupFailureCause } from '../kubernetes/lookup.js';

export interface Cluster {
  kubeConfig: KubeConfig;
  /** The API server's URL, for messages (without a password it may carry). */
  server: string;
  /** The context's namespace, if it names one. */
  namespace?: string;
  reader: KubeObjectReader;
}

/** A kubeconfig that cannot be used, or a --context it does not define: exit 2. */
export class ClusterAccessError extends Error {
  override readonly name = 'ClusterAccessError';
}

/** Read failures that say the cluster cannot be used at all, rather than that one object is missing or forbidden. */
export const CLUSTER_FAILURES: ReadonlySet<LookupFailureCause> = new Set(['unreachable', 'timeout', 'unauthorized', 'bad-response', 'not-configured']);

/** Per API call of the offline commands (they have no admission deadline to keep). */
export const OFFLINE_CALL_TIMEOUT_MS = 15_000;

/**
 * The configured cluster, or undefined. A ClusterAccessError's message does not name the
 * command: the caller's report does.
 */
export async function openCluster(kube: KubeAccessOptions, env: Readonly<Record<string, string | undefined>>): Promise<Cluster | undefined> {
  try {
    const source = findKubeConfigSource(env, kube.kubeconfig !== undefined ? { kubeconfigPath: kube.kubeconfig } : {});
    if (source === undefined) {
      if (kube.context !== undefined) throw new ClusterAccessError(`--context ${kube.context}: no kubeconfig found (give --kubeconfig or set KUBECONFIG)`);
      return undefined;
    }
    const { kubeConfigOf } = await import('../kubernetes/kubeconfig.js');
    const { createKubeObjectReader } = await import('../kubernetes/api-reader.js');
    const kubeConfig = kubeConfigOf(source, kube.context);
    const context = kubeConfig.getContextObject(kubeConfig.getCurrentContext());
    const cluster: Cluster = {
      kubeConfig,
      server: shownServer(kubeConfig.getCurrentCluster()?.server),
      reader: createKubeObjectReader(kubeConfig, { timeoutMs: OFFLINE_CALL_TIMEOUT_MS }),
    };
    if (context?.namespace !== undefined && context.namespace !== '') cluster.namespace = context.namespace;
    return cluster;
  } catch (error) {
    if (error instanceof KubeConfigError) throw new ClusterAccessError(error.message);
    throw error;
  }
}
