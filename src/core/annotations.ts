/** Every pod annotation the webhook reads or writes starts with this. */
export const ANNOTATION_PREFIX = 'secrets-init/';

/** Pod annotations the webhook reads or writes. */
export const ANNOTATION_INJECT = 'secrets-init/inject';
export const ANNOTATION_PROVIDER = 'secrets-init/provider';
export const ANNOTATION_STATUS = 'secrets-init/status';
export const ANNOTATION_EXIT_EARLY = 'secrets-init/exit-early';
export const ANNOTATION_GOOGLE_PROJECT = 'secrets-init/google-project';
export const ANNOTATION_LOG_FORMAT = 'secrets-init/log-format';
export const ANNOTATION_WRAP_EXEC = 'secrets-init/wrap-exec';

/** Whether the pod opts out (secrets-init/inject: "false", any case): left alone, nothing of it read. */
export function optsOut(annotations: Readonly<Record<string, string>>): boolean {
  return (annotations[ANNOTATION_INJECT] ?? '').toLowerCase() === 'false';
}

/** A `"true"`/`"false"` annotation (any case); undefined when absent, a problem when it is something else. */
export function booleanAnnotation(annotations: Readonly<Record<string, string>>, name: string): boolean | undefined | { problem: string } {
  const value = annotations[name];
  if (value === undefined) return undefined;
  const lower = value.toLowerCase();
  if (lower === 'true') return true;
  if (lower === 'false') return false;
  return { problem: `annotation ${name} must be "true" or "false", not ${JSON.stringify(value)}` };
}
