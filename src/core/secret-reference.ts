import type { Provider } from './provider.js';

/**
 * Which provider resolves a value, by the rules the `secrets-init` runtime applies to
 * each environment variable; undefined when the value is not a cloud secret reference.
 * Only prefixes count: text that merely contains a reference further in is plain.
 */
export function referenceProvider(value: string): Provider | undefined {
  // Most values are plain: one prefix test decides them.
  if (!value.startsWith('arn:aws') && !value.startsWith('gcp:')) return undefined;
  if (AWS_SECRETS_MANAGER.test(value)) return 'aws';
  if (AWS_SSM.test(value) && value.includes(':parameter/')) return 'aws';
  if (value.startsWith('gcp:secretmanager:')) return 'google';
  return undefined;
}

const AWS_SECRETS_MANAGER = /^arn:aws(?:-cn)?:secretsmanager:/;
const AWS_SSM = /^arn:aws(?:-cn)?:ssm:/;
