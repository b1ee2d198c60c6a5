import type { Container } from './pod.js';

/** The parts of an image's config that decide what a container runs. */
export interface ImageConfig { entrypoint: string[]; cmd: string[] }

/** Kubernetes treats an empty list like an absent one. */
export function given(list: readonly string[] | undefined): list is string[] {
  return list !== undefined && list.length > 0;
}

export function needsImageConfig(container: Container): boolean {
  return !given(container.command);
}

/**
 * A word from an image's config, written so that the kubelet, which expands `$(NAME)`
 * and turns `$$` into `$` in `command`/`args` (never in an image's config), passes it
 * on unchanged: every `$` doubled.
 */
export function escapeForKubelet(word: string): string {
  return word.replaceAll('$', () => '$$');
}

/**
 * An image's ENTRYPOINT as container runtimes read it: exactly `[""]` (a Dockerfile's
 * `ENTRYPOINT [""]`, which resets the base image's) is none at all for containerd and
 * Docker, not an empty program name.
 */
function imageEntrypoint(image: ImageConfig): readonly string[] {
  return image.entrypoint.length === 1 && image.entrypoint[0] === '' ? [] : image.entrypoint;
}

/**
 * What the container would run without injection, by Kubernetes' rules
 * (command+args; command alone; image ENTRYPOINT + args, CMD ignored; ENTRYPOINT + CMD),
 * written for the container's `args`: the container's own words as they stand (the
 * kubelet expands them, as it always did), the image's escaped so that they stay as
 * the image would have run them. A container's own `command: [""]` is kept: the kubelet
 * passes it on as it is.
 */
export function originalCommand(container: Container, image: ImageConfig | undefined): string[] | undefined {
  if (given(container.command)) return [...container.command, ...(container.args ?? [])];
  if (image === undefined) return undefined;
  const entrypoint = imageEntrypoint(image).map(escapeForKubelet);
  return [...entrypoint, ...(given(container.args) ? container.args : image.cmd.map(escapeForKubelet))];
}

/**
 * What `originalCommand` copies of the image's config into the container's args, weighed as
 * its characters plus IMAGE_WORD_WEIGHT for each word (an empty word still takes a place in
 * the args and the patch); 0 for a container with its own `command`. Counting stops once
 * past `max`.
 */
export function imageWordsWeight(container: Container, image: ImageConfig, max: number): number {
  if (given(container.command)) return 0;
  const weight = wordsWeight(imageEntrypoint(image), 0, max);
  return given(container.args) ? weight : wordsWeight(image.cmd, weight, max);
}

export const IMAGE_WORD_WEIGHT = 4;

function wordsWeight(words: readonly string[], weight: number, max: number): number {
  for (let i = 0; i < words.length && weight <= max; i++) weight += (words[i]?.length ?? 0) + IMAGE_WORD_WEIGHT;
  return weight;
}
