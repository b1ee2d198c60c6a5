import type { ImageConfig } from '../core/original-command.js';
import type { Pod } from '../core/pod.js';

/** What an image lookup may use: the pod (pull secrets, node selector) and its namespace. */
export interface ImageLookup { image: string; container: string; namespace: string; pod: Pod }

/** A failure to learn an image's config; the message names the image and the cause. */
export class ImageConfigError extends Error {
  override readonly name = 'ImageConfigError';
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

/** Used until registry lookups exist: every lookup fails with advice to set `command`. */
export function noRegistryAccess(): ImageConfigSource {
  return {
    async configOf({ image, container }) {
      throw new ImageConfigError(
        `cannot learn the ENTRYPOINT/CMD of image "${image}" for container "${container}": registry lookups are not enabled; set "command" on the container`,
      );
    },
  };
}
