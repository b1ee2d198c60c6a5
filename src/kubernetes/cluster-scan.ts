/**
 * What `audit` reads from a cluster beyond Secrets and ConfigMaps: namespaces with their
 * labels, pods in pages (limit/continue), and the webhook's MutatingWebhookConfiguration.
 * Bodies are parsed here as the API server sent them; every failure is a LookupError
 * naming what was read.
 */
import { AdmissionregistrationV1Api, CoreV1Api } from '@kubernetes/client-node';
import type { ConfigurationOptions, KubeConfig } from '@kubernetes/client-node';
import { createAgentPool } from './agent-pool.js';
import { boundedCall } from './bounded-call.js';
import { badResponse, isExpired, isNotFound, timeoutError, toLookupError } from './errors.js';
import { LookupError } from './lookup.js';
import type { ObjectRef } from './lookup.js';

/**
 * How many times a list whose `continue` token expired is started again. `audit` reads each
 * pod's Secrets between two pages, so the pages of a large namespace can take longer than
 * the API server keeps a list consistent (about 5 minutes).
 */
export const MAX_LIST_RESTARTS = 3;

export interface NamespaceFacts {
  name: string;
  labels: Record<string, string>;
}

/** What of the webhook configuration tells why a pod was not injected. */
export interface WebhookFacts {
  name: string;
  creationTimestamp?: string;
  /** Each webhook's selectors, as written (the API server defaults them to {}). */
  webhooks: Array<{ name: string; namespaceSelector: unknown; objectSelector: unknown }>;
}

export interface ClusterScanner {
  /** Every namespace (paginated; restarted as `pods` when its continue token expires). */
  namespaces(pageSize: number): Promise<NamespaceFacts[]>;
  /** One namespace; undefined when it does not exist. */
  namespace(name: string): Promise<NamespaceFacts | undefined>;
  /**
   * The pods of a namespace, one non-empty page at a time. When the list's continue token expires it is
   * started again (at most MAX_LIST_RESTARTS times), without the pods already given.
   */
  pods(namespace: string, pageSize: number): AsyncGenerator<Array<Record<string, unknown>>>;
  /** undefined when it does not exist. */
  webhookConfiguration(name: string): Promise<WebhookFacts | undefined>;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** An item's identity across restarts of a list: its uid, else its namespace and name. */
function identity(item: Record<string, unknown>): string {
  const metadata = isRecord(item['metadata']) ? item['metadata'] : {};
  const uid = metadata['uid'];
  if (typeof uid === 'string' && uid !== '') return `uid ${uid}`;
  return `name ${JSON.stringify([metadata['namespace'] ?? '', metadata['name'] ?? ''])}`;
}

/** A list's continue token expired (410 Expired): the list must be started again. */
class ContinueExpired extends Error {}

function labelsOf(metadata: unknown): Record<string, string> {
  const labels = isRecord(metadata) && isRecord(metadata['labels']) ? metadata['labels'] : {};
  return Object.fromEntries(Object.entries(labels).filter((entry): entry is [string, string] => typeof entry[1] === 'string'));
}

export function createClusterScanner(kubeConfig: KubeConfig, timeoutMs: number): ClusterScanner {
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const admission = kubeConfig.makeApiClient(AdmissionregistrationV1Api);
  const agents = createAgentPool();

  /**
   * One call; its parsed JSON body, or undefined on a NotFound. A list `continued` throws
   * ContinueExpired when its token has expired.
   */
  async function call(ref: ObjectRef, send: (o: ConfigurationOptions) => Promise<unknown>, continued = false): Promise<Record<string, unknown> | undefined> {
    const result = await boundedCall(send, { timeoutMs, keepBody: true, agents, retry: true });
    if (!result.ok && result.reason !== 'failed') throw timeoutError(ref, timeoutMs);
    if (!result.ok) {
      if (isNotFound(result.error)) return undefined;
      if (continued && isExpired(result.error)) throw new ContinueExpired();
      throw toLookupError(ref, result.error, { responseStatus: result.status, credentials: result.credentials });
    }
    let body: unknown;
    try {
      body = JSON.parse(result.body ?? '');
    } catch {
      throw badResponse(ref, 'body is not valid JSON', result.status);
    }
    if (!isRecord(body)) throw badResponse(ref, 'not a JSON object', result.status);
    return body;
  }

  /**
   * Every page of a list: items of each page, following `continue` until the server gives
   * none. When the token expires the list starts again from the beginning, and what it gives
   * again (by uid, else namespace and name) is left out, and a page left empty is not given;
   * after MAX_LIST_RESTARTS restarts an expired token fails the list.
   */
  async function* pages(ref: ObjectRef, send: (cont: string | undefined, o: ConfigurationOptions) => Promise<unknown>): AsyncGenerator<Array<Record<string, unknown>>> {
    let cont: string | undefined;
    let restarts = 0;
    const given = new Set<string>();
    // A server that keeps answering with a continue token must not keep us forever.
    for (let page = 0; page < 100_000; page++) {
      let body: Record<string, unknown> | undefined;
      try {
        body = await call(ref, (o) => send(cont, o), cont !== undefined);
      } catch (error) {
        if (!(error instanceof ContinueExpired)) throw error;
        if (restarts === MAX_LIST_RESTARTS) {
          throw new LookupError(
            ref,
            'bad-response',
            `the list expired before its last page (HTTP 410 Expired: its continue token is too old) ${MAX_LIST_RESTARTS + 1} times, though started again ${MAX_LIST_RESTARTS} times; the API server keeps a list for about 5 minutes`,
            410,
          );
        }
        restarts++;
        cont = undefined;
        continue;
      }
      if (body === undefined) throw badResponse(ref, 'the list is not found (HTTP 404)');
      const items = body['items'];
      if (!Array.isArray(items)) throw badResponse(ref, 'a list without items');
      const fresh = items.filter(isRecord).filter((item) => {
        const id = identity(item);
        if (given.has(id)) return false;
        given.add(id);
        return true;
      });
      if (fresh.length > 0) yield fresh;
      const metadata = isRecord(body['metadata']) ? body['metadata'] : {};
      const next = metadata['continue'];
      if (typeof next !== 'string' || next === '') return;
      cont = next;
    }
    throw badResponse(ref, 'more than 100,000 pages');
  }

  const namespaceFacts = (object: Record<string, unknown>): NamespaceFacts => {
    const metadata = isRecord(object['metadata']) ? object['metadata'] : {};
    return { name: String(metadata['name'] ?? ''), labels: labelsOf(metadata) };
  };

  return {
    async namespaces(pageSize) {
      const all: NamespaceFacts[] = [];
      const ref: ObjectRef = { kind: 'Namespace', namespace: '', name: '*' };
      for await (const items of pages(ref, (cont, o) => core.listNamespace({ limit: pageSize, ...(cont !== undefined ? { _continue: cont } : {}) }, o))) {
        all.push(...items.map(namespaceFacts));
      }
      return all;
    },
    async namespace(name) {
      const body = await call({ kind: 'Namespace', namespace: '', name }, (o) => core.readNamespace({ name }, o));
      return body === undefined ? undefined : namespaceFacts(body);
    },
    pods(namespace, pageSize) {
      const ref: ObjectRef = { kind: 'Pod', namespace, name: '*' };
      return pages(ref, (cont, o) => core.listNamespacedPod({ namespace, limit: pageSize, ...(cont !== undefined ? { _continue: cont } : {}) }, o));
    },
    async webhookConfiguration(name) {
      const body = await call({ kind: 'MutatingWebhookConfiguration', namespace: '', name }, (o) => admission.readMutatingWebhookConfiguration({ name }, o));
      if (body === undefined) return undefined;
      const metadata = isRecord(body['metadata']) ? body['metadata'] : {};
      const facts: WebhookFacts = {
        name,
        webhooks: (Array.isArray(body['webhooks']) ? body['webhooks'] : []).filter(isRecord).map((webhook) => ({
          name: String(webhook['name'] ?? ''),
          namespaceSelector: webhook['namespaceSelector'] ?? {},
          objectSelector: webhook['objectSelector'] ?? {},
        })),
      };
      if (typeof metadata['creationTimestamp'] === 'string') facts.creationTimestamp = metadata['creationTimestamp'];
      return facts;
    },
  };
}
