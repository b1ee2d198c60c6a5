import type { ImageConfig } from '../core/original-command.js';
import type { PodPullFacts } from '../core/pull-facts.js';
import type { KubeObjectReader } from '../kubernetes/lookup.js';

/**
 * What an image lookup may use: what it needs of the pod (its pinned architecture, pull
 * secrets and ServiceAccount: never the pod itself, see PodPullFacts), its namespace, and a
 * reader for pull secrets and the ServiceAccount that no one admission's deadline aborts
 * (lookups of one image and scope are shared by the admissions asking at once).
 */
export interface ImageLookup { image: string; container: string; namespace: string; pod: PodPullFacts; objects: KubeObjectReader }

/**
 * A failure to learn an image's config; the message names the image and the cause.
 * `cause`: 'pod' when the pod itself is wrong (an invalid image reference), which its
 * author must fix; 'dependency' when a registry or credential source failed.
 */
export class ImageConfigError extends Error {
  override readonly name = 'ImageConfigError';
  constructor(message: string, readonly fault: 'pod' | 'dependency' = 'dependency') {
    super(message);
  }
}

/** Learns the ENTRYPOINT and CMD of container images. Rejects only with ImageConfigError. */
export interface ImageConfigSource {
  configOf(lookup: ImageLookup): Promise<ImageConfig>;
}

/** A fixed table of image configs, for tests and offline use. */
export function staticImageConfigs(configs: Readonly<Record<string, ImageConfig>>): ImageConfigSource {
  return {
    async configOf({ image }) {
      const config = configs[image];
      if (config === undefined) throw new ImageConfigError(`image "${image}" is not known`);
      return config;
    },
  };
}

/** What a user can do to avoid a registry lookup for a container. */
export function avoidLookup(container: string): string {
  return `set "command" on container "${container}", or the pod annotation secrets-init/command.${container}, to avoid the registry lookup`;
}
