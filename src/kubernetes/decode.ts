/**
 * Turns API objects, as the client library hands them over, into the data the
 * webhook needs. The input is treated as untrusted: anything that is not the
 * shape the API server sends is reported as a problem, never guessed at.
 *
 * Problem strings may name keys but never contain values.
 */

export type Decoded<T> = { ok: true; value: T } | { ok: false; problem: string };

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function checkKind(body: unknown, kind: string): Decoded<Record<string, unknown>> {
  if (!isRecord(body)) return { ok: false, problem: `expected a ${kind} object` };
  const actual = body['kind'];
  if (actual !== kind) {
    const shown = typeof actual === 'string' ? `kind ${JSON.stringify(actual.slice(0, 64))}` : 'no kind';
    return { ok: false, problem: `expected a ${kind} object, got ${shown}` };
  }
  return { ok: true, value: body };
}

/** A `map[string]string` field; absent or null means empty, as the API server omits empty maps. */
function stringMap(body: Record<string, unknown>, field: string): Decoded<Map<string, string>> {
  const raw = body[field];
  const out = new Map<string, string>();
  if (raw === undefined || raw === null) return { ok: true, value: out };
  if (!isRecord(raw)) return { ok: false, problem: `${field} is not a map` };
  for (const [key, value] of Object.entries(raw)) {
    if (typeof value !== 'string') return { ok: false, problem: `${field}[${JSON.stringify(key)}] is not a string` };
    out.set(key, value);
  }
  return { ok: true, value: out };
}

/** Secret `data`: base64 values, decoded to UTF-8 (invalid sequences become U+FFFD). */
export function decodeSecret(body: unknown): Decoded<ReadonlyMap<string, string>> {
  const secret = checkKind(body, 'Secret');
  if (!secret.ok) return secret;
  const data = stringMap(secret.value, 'data');
  if (!data.ok) return data;
  const out = new Map<string, string>();
  for (const [key, encoded] of data.value) {
    if (encoded.length % 4 !== 0 || !BASE64.test(encoded)) {
      return { ok: false, problem: `data[${JSON.stringify(key)}] is not valid base64` };
    }
    out.set(key, Buffer.from(encoded, 'base64').toString('utf8'));
  }
  return { ok: true, value: out };
}

/** ConfigMap `data` only; `binaryData` is ignored, as the kubelet ignores it for env. */
export function decodeConfigMap(body: unknown): Decoded<ReadonlyMap<string, string>> {
  const configMap = checkKind(body, 'ConfigMap');
  if (!configMap.ok) return configMap;
  return stringMap(configMap.value, 'data');
}

/** The names in `imagePullSecrets`, in order, skipping empty names and duplicates. */
export function decodeServiceAccount(body: unknown): Decoded<string[]> {
  const account = checkKind(body, 'ServiceAccount');
  if (!account.ok) return account;
  const raw = account.value['imagePullSecrets'];
  if (raw === undefined || raw === null) return { ok: true, value: [] };
  if (!Array.isArray(raw)) return { ok: false, problem: 'imagePullSecrets is not a list' };
  const entries: readonly unknown[] = raw;
  const names = new Set<string>();
  for (const [index, entry] of entries.entries()) {
    if (!isRecord(entry)) return { ok: false, problem: `imagePullSecrets[${index}] is not an object` };
    const name = entry['name'];
    if (name === undefined || name === null || name === '') continue;
    if (typeof name !== 'string') return { ok: false, problem: `imagePullSecrets[${index}].name is not a string` };
    names.add(name);
  }
  return { ok: true, value: [...names] };
}
