/**
 * Reads Secrets, ConfigMaps and ServiceAccounts through `@kubernetes/client-node`,
 * one HTTP GET per call, each bounded by a timeout that really aborts the request.
 */
import { CoreV1Api } from '@kubernetes/client-node';
import type { ConfigurationOptions, KubeConfig } from '@kubernetes/client-node';
import { boundedCall } from './bounded-call.js';
import { createAgentPool } from './agent-pool.js';
import { decodeConfigMap, decodeSecret, decodeServiceAccount } from './decode.js';
import type { Decoded } from './decode.js';
import { badResponse, isNotFound, timeoutError, toLookupError } from './errors.js';
import type { DataObjectRef, KubeObjectReader, ObjectLookup, ObjectRef, ReadOptions, ServiceAccountLookup } from './lookup.js';
import { LookupError } from './lookup.js';

export interface KubeReaderOptions {
  /** Per lookup, covering credentials, connect, response and body. */
  timeoutMs: number;
}

type Fetched = { found: true; body: unknown; status: number | undefined } | { found: false };

/**
 * Object names are single URL path segments. A name the API server could never
 * store (empty, `.`, `..`, containing `/` or `%`) cannot exist, so it is not
 * found, and asking for it could address a different URL (`..` is normalised
 * away by the URL parser).
 */
function isPossibleName(name: string): boolean {
  return name !== '' && name !== '.' && name !== '..' && !name.includes('/') && !name.includes('%');
}

/**
 * The object as the API server sent it. Parsed here because `JSON.parse` keeps every
 * key as an own property (`__proto__` and `constructor` included), where the client's
 * deserialiser drops some. A body that is not JSON is a bad response (never quoted: it
 * may hold Secret data).
 */
function parsedBody(ref: ObjectRef, text: string | undefined, status: number | undefined): unknown {
  try {
    return JSON.parse(text ?? '') as unknown;
  } catch {
    throw badResponse(ref, 'body is not valid JSON', status);
  }
}

export function createKubeObjectReader(kubeConfig: KubeConfig, options: KubeReaderOptions): KubeObjectReader {
  const { timeoutMs } = options;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    throw new RangeError(`timeoutMs must be a positive number of milliseconds, got ${timeoutMs}`);
  }
  const api = kubeConfig.makeApiClient(CoreV1Api);
  const agents = createAgentPool();

  /** One GET with the timeout; 404 NotFound is `found: false`; every other failure a LookupError. */
  async function fetchObject(
    ref: ObjectRef,
    send: (callOptions: ConfigurationOptions) => Promise<unknown>,
    options: ReadOptions | undefined,
  ): Promise<Fetched> {
    if (!isPossibleName(ref.namespace) || !isPossibleName(ref.name)) return { found: false };

    const signal = options?.signal;
    const result = await boundedCall(send, { timeoutMs, keepBody: true, agents, retry: true, ...(signal !== undefined ? { signal } : {}) });
    if (!result.ok && result.reason === 'aborted') throw new LookupError(ref, 'timeout', "abandoned: the admission's deadline passed");
    if (result.ok) return { found: true, body: parsedBody(ref, result.body, result.status), status: result.status };
    if (result.reason !== 'failed') throw timeoutError(ref, timeoutMs);
    if (isNotFound(result.error)) return { found: false };
    throw toLookupError(ref, result.error, { responseStatus: result.status, credentials: result.credentials });
  }

  function unwrap<T>(ref: ObjectRef, fetched: { body: unknown; status: number | undefined }, decoded: Decoded<T>): T {
    if (!decoded.ok) throw badResponse(ref, decoded.problem, fetched.status);
    return decoded.value;
  }

  return {
    async read(ref: DataObjectRef, options?: ReadOptions): Promise<ObjectLookup> {
      const { kind, namespace, name } = ref;
      if (kind === 'Secret') {
        const fetched = await fetchObject(ref, (o) => api.readNamespacedSecret({ name, namespace }, o), options);
        if (!fetched.found) return { found: false };
        return { found: true, data: unwrap(ref, fetched, decodeSecret(fetched.body)) };
      }
      if (kind === 'ConfigMap') {
        const fetched = await fetchObject(ref, (o) => api.readNamespacedConfigMap({ name, namespace }, o), options);
        if (!fetched.found) return { found: false };
        return { found: true, data: unwrap(ref, fetched, decodeConfigMap(fetched.body)) };
      }
      const unsupported: never = kind;
      throw new TypeError(`read() accepts Secret and ConfigMap references, not ${String(unsupported)}`);
    },

    async readServiceAccount(namespace: string, name: string, options?: ReadOptions): Promise<ServiceAccountLookup> {
      const ref: ObjectRef = { kind: 'ServiceAccount', namespace, name };
      const fetched = await fetchObject(ref, (o) => api.readNamespacedServiceAccount({ name, namespace }, o), options);
      if (!fetched.found) return { found: false };
      return { found: true, imagePullSecrets: unwrap(ref, fetched, decodeServiceAccount(fetched.body)) };
    },
  };
}
