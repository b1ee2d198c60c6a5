import { pinnedArchitecture } from './platform.js';
import type { Pod } from './pod.js';

export const DEFAULT_SERVICE_ACCOUNT = 'default';

/**
 * What reading a container image's config needs of its pod, read out of the pod once: the
 * architecture it pins, its pull secrets and its ServiceAccount. Image lookups are shared
 * between admissions and go on within their own bounds after an admission has answered, so
 * they hold these few strings, never the pod (the parsed request body).
 */
export interface PodPullFacts {
  /** The CPU architecture the pod pins (platform.ts), if it pins one. */
  architecture?: string;
  /** The names in `spec.imagePullSecrets`, in order, without blanks or duplicates. */
  imagePullSecrets: string[];
  /** `spec.serviceAccountName`, else the deprecated `spec.serviceAccount`, else `default`. */
  serviceAccountName: string;
}

export function podPullFacts(pod: Pod): PodPullFacts {
  const architecture = pinnedArchitecture(pod);
  return {
    ...(architecture !== undefined ? { architecture } : {}),
    imagePullSecrets: podImagePullSecretNames(pod),
    serviceAccountName: podServiceAccountName(pod),
  };
}

/** The names in `spec.imagePullSecrets`, in order, without blanks or duplicates. */
export function podImagePullSecretNames(pod: Pod): string[] {
  const list = pod.spec.imagePullSecrets;
  if (!Array.isArray(list)) return [];
  // A set, not a search of the names so far: a hand-made review may list 100,000 of them.
  const names = new Set<string>();
  for (const item of list as unknown[]) {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) continue;
    const name = (item as Record<string, unknown>)['name'];
    if (typeof name === 'string' && name !== '') names.add(name);
  }
  return [...names];
}

/** `spec.serviceAccountName`, else the deprecated `spec.serviceAccount`, else `default`. */
export function podServiceAccountName(pod: Pod): string {
  for (const field of ['serviceAccountName', 'serviceAccount'] as const) {
    const value = pod.spec[field];
    if (typeof value === 'string' && value !== '') return value;
  }
  return DEFAULT_SERVICE_ACCOUNT;
}
