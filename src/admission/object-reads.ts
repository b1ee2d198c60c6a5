import pLimit from 'p-limit';
import type { EnvObject, ObjectUse } from '../core/env-sources.js';
import type { Provider } from '../core/provider.js';
import { objectKey } from '../core/env-sources.js';
import type { ObjectFacts } from '../core/object-facts.js';
import { deriveObjectFacts } from '../core/object-facts.js';
import type { KubeObjectReader } from '../kubernetes/lookup.js';
import { LookupError } from '../kubernetes/lookup.js';

/** Every failed lookup, each message naming its object and cause. */
export class ObjectLookupFailure extends Error {
  constructor(readonly messages: string[]) {
    super(messages.join('; '));
  }
}

/** The keys that the pod's envFrom take from objects would define more variables than the pod may. */
export class VariableBudgetExceeded extends Error {}

/**
 * The facts of the referenced objects, each object asked for once and at most
 * `concurrency` at a time (one pod must not spend the API server's budget for the webhook
 * at once). `load` gives an object's facts (values already dropped). Of an object used
 * only for some keys, only those keys are kept for this admission. The keys of envFrom
 * objects count against `maxVariables`: past it no more objects are asked for and
 * VariableBudgetExceeded is thrown, so a pod cannot make one admission hold more than
 * that many keys. Once `signal` is aborted (the admission's deadline passed) the loads still
 * queued do not run, and it rejects with the signal's reason: the loads under way end as
 * the deadline makes them end, and nothing more is read for a pod already answered.
 */
export async function resolveObjectFacts(
  uses: readonly ObjectUse[],
  namespace: string,
  load: (object: EnvObject) => Promise<ObjectFacts>,
  limits: { concurrency: number; maxVariables: number },
  signal?: AbortSignal,
): Promise<Map<string, ObjectFacts>> {
  if (uses.length === 0) return new Map();
  signal?.throwIfAborted();
  const limit = pLimit(limits.concurrency);
  let left = limits.maxVariables;
  const settled = await Promise.allSettled(
    uses.map(({ object, keys }) => limit(async () => {
      // A load that ends at the deadline frees its slot at once: the queued must not start then.
      signal?.throwIfAborted();
      if (left < 0) throw new VariableBudgetExceeded();
      const facts = await load(object);
      if (!facts.exists) return [objectKey(object), facts] as const;
      if (keys === 'all') {
        left -= facts.keys.size;
        // The loads still queued see it at their start and do not run.
        if (left < 0) throw new VariableBudgetExceeded();
        return [objectKey(object), facts] as const;
      }
      const kept = new Map<string, Provider | undefined>();
      for (const key of keys) if (facts.keys.has(key)) kept.set(key, facts.keys.get(key));
      return [objectKey(object), { exists: true, keys: kept }] as const;
    })),
  );
  signal?.throwIfAborted();
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

/** An object's facts, read through `reader`; its values are dropped here. */
export async function readObjectFacts(reader: KubeObjectReader, namespace: string, object: EnvObject): Promise<ObjectFacts> {
  const lookup = await reader.read({ kind: object.kind, namespace, name: object.name });
  return deriveObjectFacts(lookup.found ? lookup.data : undefined);
}
