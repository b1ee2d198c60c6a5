/**
 * Values every admission shares (our init container and volume): deep-frozen, so no
 * admission can change them, and serialised to JSON once rather than once per patch.
 */
const texts = new WeakMap<object, string>();

/** `value`, deep-frozen, with its JSON text remembered for `sharedJson`. */
export function sharedValue<T extends object>(value: T): T {
  deepFreeze(value);
  texts.set(value, JSON.stringify(value));
  return value;
}

/** The JSON text of a value made by `sharedValue`; undefined for any other value. */
export function sharedJson(value: unknown): string | undefined {
  return typeof value === 'object' && value !== null ? texts.get(value) : undefined;
}

function deepFreeze(value: unknown): void {
  if (typeof value !== 'object' || value === null) return;
  for (const inner of Object.values(value)) deepFreeze(inner);
  Object.freeze(value);
}
