/**
 * Bounds on what an answer echoes. Messages quote what a pod's author wrote (image
 * references, names, keys), so a crafted pod could otherwise make every answer and log
 * line as large as the pod itself. The API server keeps at most about 4 KiB of warnings.
 */
export const MAX_MESSAGE_CHARS = 4096;
export const MAX_WARNING_CHARS = 512;
export const MAX_WARNINGS_CHARS = 4000;
/** Where each injected container's references come from, in the audit annotation. */
export const MAX_AUDIT_ORIGINS = 20;

/** The text cut to `max` characters, saying how much was left out. */
export function clip(text: string, max: number): string {
  if (text.length <= max) return text;
  return `${text.slice(0, max)}… (${text.length - max} more characters left out)`;
}

/** Each warning clipped, and only as many as fit in MAX_WARNINGS_CHARS; the last line says how many were left out. */
export function boundedWarnings(warnings: readonly string[]): string[] {
  const kept: string[] = [];
  let total = 0;
  for (const warning of warnings) {
    const clipped = clip(warning, MAX_WARNING_CHARS);
    if (total + clipped.length > MAX_WARNINGS_CHARS) break;
    kept.push(clipped);
    total += clipped.length;
  }
  const left = warnings.length - kept.length;
  if (left > 0) kept.push(`${left} more warning${left === 1 ? '' : 's'} left out`);
  return kept;
}

/** At most MAX_AUDIT_ORIGINS entries, then one that says how many more there were. */
export function boundedOrigins(origins: readonly string[]): string[] {
  if (origins.length <= MAX_AUDIT_ORIGINS) return [...origins];
  return [...origins.slice(0, MAX_AUDIT_ORIGINS).map((origin) => clip(origin, 256)), `${origins.length - MAX_AUDIT_ORIGINS} more`];
}
