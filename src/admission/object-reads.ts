import pLimit from 'p-limit';
import type { EnvObject } from '../core/env-sources.js';
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

/**
 * Reads the referenced objects, once each and at most `concurrency` at a time (one pod
 * must not spend the API server's budget for the webhook at once), and keeps only
 * derived facts: the values are dropped as soon as each object arrives.
 */
export async function resolveObjectFacts(
  objects: readonly EnvObject[],
  namespace: string,
  reader: KubeObjectReader,
  concurrency: number,
): Promise<Map<string, ObjectFacts>> {
  if (objects.length === 0) return new Map();
  const limit = pLimit(concurrency);
  const settled = await Promise.allSettled(
    objects.map((object) => limit(async () => {
      const lookup = await reader.read({ kind: object.kind, namespace, name: object.name });
      return [objectKey(object), deriveObjectFacts(lookup.found ? lookup.data : undefined)] as const;
    })),
  );
  const facts = new Map<string, ObjectFacts>();
  const failures: string[] = [];
  settled.forEach((outcome, i) => {
    if (outcome.status === 'fulfilled') facts.set(outcome.value[0], outcome.value[1]);
    // Only a LookupError's message is known to hold no object data.
    else if (outcome.reason instanceof LookupError) failures.push(outcome.reason.message);
    else failures.push(`cannot read ${objects[i]?.kind ?? 'object'} ${namespace}/${objects[i]?.name ?? ''}: internal error`);
  });
  if (failures.length > 0) throw new ObjectLookupFailure(failures);
  return facts;
}
