import type { KubeObjectReader, ReadOptions } from '../kubernetes/lookup.js';
import { LookupError } from '../kubernetes/lookup.js';
import type { ObjectLookupKind, ObjectLookupResult, WebhookMetrics } from './metrics.js';

/** The reader, counting and timing every read by kind and result (never by object name). */
export function instrumentedReader(reader: KubeObjectReader, metrics: WebhookMetrics): KubeObjectReader {
  async function observed<T extends { found: boolean }>(kind: ObjectLookupKind, read: () => Promise<T>): Promise<T> {
    const started = process.hrtime.bigint();
    const seconds = () => Number(process.hrtime.bigint() - started) / 1e9;
    try {
      const result = await read();
      metrics.observeObjectLookup(kind, result.found ? 'found' : 'not_found', seconds());
      return result;
    } catch (error) {
      metrics.observeObjectLookup(kind, failure(error), seconds());
      throw error;
    }
  }
  return {
    read: (ref, options?: ReadOptions) => observed(ref.kind, () => reader.read(ref, options)),
    readServiceAccount: (namespace, name, options?: ReadOptions) => observed('ServiceAccount', () => reader.readServiceAccount(namespace, name, options)),
  };
}

function failure(error: unknown): ObjectLookupResult {
  if (!(error instanceof LookupError)) return 'error';
  if (error.cause === 'forbidden' || error.cause === 'unauthorized') return 'forbidden';
  if (error.cause === 'timeout') return 'timeout';
  return 'error';
}
