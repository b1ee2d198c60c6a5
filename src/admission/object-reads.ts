import pLimit from 'p-limit';
import type { ObjectUse } from '../core/env-sources.js';
import { objectKey } from '../core/env-sources.js';
import type { ObjectFacts } from '../core/object-facts.js';
import { deriveObjectFacts } from '../core/object-facts.js';
import type { KubeObjectReader } from '../kubernetes/object-reader.js';
import { LookupError } from '../kubernetes/object-reader.js';

/** Every failed lookup, each message naming its object and cause. */
export class ObjectLookupFailure extends Error {
  constructor(readonly messages: string[]) {
    super(messages.join('; '));
  }
}

/** The keys that the pod's envFrom take from objects would define more variables than the pod may. */
export class VariableBudgetExceeded extends Error {}

/**
 * Reads the referenced objects, once each and at most `concurrency` at a time (one pod
 * must not spend the API server's budget for the webhook at once), and keeps only
 * derived facts: the values are dropped as soon as each object arrives, and of an object
 * read only for some keys, only those keys are kept. The keys kept for envFrom count
 * against `maxVariables`: past it the reads stop and VariableBudgetExceeded is thrown, so
 * a pod cannot make one admission hold more than that many keys.
 */
export async function resolveObjectFacts(
  uses: readonly ObjectUse[],
  namespace: string,
  reader: KubeObjectReader,
  limits: { concurrency: number; maxVariables: number },
): Promise<Map<string, ObjectFacts>> {
  if (uses.length === 0) return new Map();
  const limit = pLimit(limits.concurrency);
  let left = limits.maxVariables;
  const settled = await Promise.allSettled(
    uses.map(({ object, keys }) => limit(async () => {
      if (left < 0) throw new VariableBudgetExceeded();
      const lookup = await reader.read({ kind: object.kind, namespace, name: object.name });
      if (!lookup.found) return [objectKey(object), deriveObjectFacts(undefined)] as const;
      if (keys === 'all') {
        left -= lookup.data.size;
        // The reads still queued see it at their start and do not run.
        if (left < 0) throw new VariableBudgetExceeded();
        return [objectKey(object), deriveObjectFacts(lookup.data)] as const;
      }
      const kept = new Map<string, string>();
      for (const key of keys) {
        const value = lookup.data.get(key);
        if (value !== undefined) kept.set(key, value);
      }
      return [objectKey(object), deriveObjectFacts(kept)] as const;
    })),
  );
  if (settled.some((outcome) => outcome.status === 'rejected' && outcome.reason instanceof VariableBudgetExceeded)) throw new VariableBudgetExceeded();
  const facts = new Map<string, ObjectFacts>();
  const failures: string[] = [];
  settled.forEach((outcome, i) => {
    if (outcome.status === 'fulfilled') facts.set(outcome.value[0], outcome.value[1]);
    // Only a LookupError's message is known to hold no object data.
    else if (outcome.reason instanceof LookupError) failures.push(outcome.reason.message);
    else failures.push(`cannot read ${uses[i]?.object.kind ?? 'object'} ${namespace}/${uses[i]?.object.name ?? ''}: internal error`);
  });
  if (failures.length > 0) throw new ObjectLookupFailure(failures);
  return facts;
}
