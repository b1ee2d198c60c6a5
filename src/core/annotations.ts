/** Pod annotations the webhook reads or writes. */
export const ANNOTATION_INJECT = 'secrets-init/inject';
export const ANNOTATION_PROVIDER = 'secrets-init/provider';
export const ANNOTATION_STATUS = 'secrets-init/status';
