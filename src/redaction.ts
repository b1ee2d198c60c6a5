/**
 * Removing secrets from text that reaches a message or a log: what a server, a proxy or a
 * library quoted back of the credentials a request carried.
 */

/** Secrets shorter than this are not searched for in messages (too likely to hit ordinary words). */
export const MIN_REDACTED_CHARS = 4;

/**
 * `text` with every one of `secrets` replaced by `[redacted]`, the longest first (a token
 * may contain a shorter secret); those shorter than MIN_REDACTED_CHARS are left.
 */
export function redacted(text: string, secrets: readonly string[]): string {
  let result = text;
  for (const secret of [...secrets].sort((a, b) => b.length - a.length)) {
    if (secret.length >= MIN_REDACTED_CHARS) result = result.split(secret).join('[redacted]');
  }
  return result;
}
