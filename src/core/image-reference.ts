/**
 * A container image reference, parsed by the distribution grammar:
 * `[domain[:port]/]path[:tag][@algorithm:hex]`. Registry ports and digests are
 * never mistaken for tags.
 */
export interface ImageReference {
  /** Registry host as the kubelet would contact it, e.g. `docker.io`, `registry:5000`. */
  domain: string;
  /** Repository path within the registry, e.g. `library/nginx`. */
  path: string;
  tag?: string;
  digest?: string;
}

export class ImageReferenceError extends Error {
  override readonly name = 'ImageReferenceError';
}

export const DEFAULT_DOMAIN = 'docker.io';

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/;
const DOMAIN = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?$/;

/** A reference as an error message quotes it: a pod's author writes it, so it is cut short. */
function shown(text: string): string {
  const max = 160;
  return text.length > max ? `"${text.slice(0, max)}…" (${text.length} characters)` : `"${text}"`;
}

export function parseImageReference(reference: string): ImageReference {
  if (reference.length === 0 || reference.length > 4096 || reference.trim() !== reference) {
    throw new ImageReferenceError(`invalid image reference ${shown(reference)}`);
  }
  let rest = reference;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw new ImageReferenceError(`invalid digest in image reference ${shown(reference)}`);
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.indexOf(':', lastSlash + 1);
  if (colon >= 0) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw new ImageReferenceError(`invalid tag in image reference ${shown(reference)}`);
  }
  const parts = rest.split('/');
  let domain = DEFAULT_DOMAIN;
  const first = parts[0] ?? '';
  if (parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase())) {
    domain = first;
    parts.shift();
    if (!DOMAIN.test(domain)) throw new ImageReferenceError(`invalid registry ${shown(domain)} in image reference ${shown(reference)}`);
  }
  if (parts.length === 0 || parts.some((part) => !COMPONENT.test(part))) {
    throw new ImageReferenceError(`invalid repository in image reference ${shown(reference)}`);
  }
  if (domain === 'index.docker.io') domain = DEFAULT_DOMAIN;
  if (domain === DEFAULT_DOMAIN && parts.length === 1) parts.unshift('library');
  const parsed: ImageReference = { domain, path: parts.join('/') };
  if (tag !== undefined) parsed.tag = tag;
  if (digest !== undefined) parsed.digest = digest;
  return parsed;
}

/** The canonical string, e.g. `docker.io/library/nginx:latest`. */
export function formatImageReference(image: ImageReference): string {
  return `${image.domain}/${image.path}${image.tag !== undefined ? `:${image.tag}` : ''}${image.digest !== undefined ? `@${image.digest}` : ''}`;
}
