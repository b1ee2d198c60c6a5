import type { Provider } from './provider.js';
import { referenceProvider } from './secret-reference.js';

/**
 * What injection needs to know of a referenced Secret or ConfigMap: whether it
 * exists, its keys, and which of them hold a cloud secret reference. Values are
 * dropped here: these facts are safe to keep, log or cache.
 */
export type ObjectFacts =
  | { exists: false }
  | { exists: true; keys: ReadonlyMap<string, Provider | undefined> };

export function deriveObjectFacts(data: ReadonlyMap<string, string> | undefined): ObjectFacts {
  if (data === undefined) return { exists: false };
  const keys = new Map<string, Provider | undefined>();
  for (const [key, value] of data) keys.set(key, referenceProvider(value));
  return { exists: true, keys };
}
