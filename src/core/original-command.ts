import type { Container } from './pod.js';

/** The parts of an image's config that decide what a container runs. */
export interface ImageConfig { entrypoint: string[]; cmd: string[] }

/** Kubernetes treats an empty list like an absent one. */
function given(list: string[] | undefined): list is string[] {
  return list !== undefined && list.length > 0;
}

export function needsImageConfig(container: Container): boolean {
  return !given(container.command);
}

/**
 * What the container would run without injection, by Kubernetes' rules:
 * command+args; command alone; image ENTRYPOINT + args (CMD ignored); ENTRYPOINT + CMD.
 */
export function originalCommand(container: Container, image: ImageConfig | undefined): string[] | undefined {
  if (given(container.command)) return [...container.command, ...(container.args ?? [])];
  if (image === undefined) return undefined;
  return [...image.entrypoint, ...(given(container.args) ? container.args : image.cmd)];
}
