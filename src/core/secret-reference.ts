import type { Provider } from './provider.js';

/**
 * Which provider resolves a value, by the rules the `secrets-init` runtime applies to
 * each environment variable; undefined when the value is not a cloud secret reference.
 * Only prefixes count: text that merely contains a reference further in is plain.
 */
export function referenceProvider(value: string): Provider | undefined {
  const kind = referenceStart(value);
  if (kind === 'ssm') return value.includes(SSM_PARAMETER) ? 'aws' : undefined;
  return kind;
}

/** What an SSM parameter reference contains besides its prefix. */
export const SSM_PARAMETER = ':parameter/';

/**
 * Which reference a value is by its start: its provider, or `ssm` for the start of an SSM
 * reference, which is one when the value also contains `:parameter/`. `start` needs only
 * the value's first characters (LONGEST_REFERENCE_START of them decide).
 */
export function referenceStart(start: string): Provider | 'ssm' | undefined {
  // Most values are plain: one prefix test decides them.
  if (!start.startsWith('arn:aws') && !start.startsWith('gcp:')) return undefined;
  if (AWS_SECRETS_MANAGER.test(start)) return 'aws';
  if (AWS_SSM.test(start)) return 'ssm';
  if (start.startsWith('gcp:secretmanager:')) return 'google';
  return undefined;
}

const AWS_SECRETS_MANAGER = /^arn:aws(?:-cn)?:secretsmanager:/;
const AWS_SSM = /^arn:aws(?:-cn)?:ssm:/;

/** Every reference starts with one of these. */
const REFERENCE_STARTS = ['arn:aws:secretsmanager:', 'arn:aws-cn:secretsmanager:', 'arn:aws:ssm:', 'arn:aws-cn:ssm:', 'gcp:secretmanager:'] as const;
export const LONGEST_REFERENCE_START = Math.max(...REFERENCE_STARTS.map((start) => start.length));

/** Whether a value that starts with `text` (and goes on with anything) can be a reference. */
export function mayStartReference(text: string): boolean {
  return REFERENCE_STARTS.some((start) => start.startsWith(text) || text.startsWith(start));
}
