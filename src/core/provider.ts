/** The cloud secret stores that `secrets-init` resolves; one per process. */
export const PROVIDERS = ['aws', 'google'] as const;
export type Provider = (typeof PROVIDERS)[number];

export function isProvider(value: string): value is Provider {
  return (PROVIDERS as readonly string[]).includes(value);
}
