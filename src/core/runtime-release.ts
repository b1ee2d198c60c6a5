import { parseImageReference } from './image-reference.js';

/** What the secrets-init runtime can do, by the release that brought it (reference-behaviour.md §1). */
export type RuntimeFeature = 'copy' | 'log-format' | 'exit-early' | 'google-project' | 'interactive';

type Release = readonly [number, number, number];

const INTRODUCED: Readonly<Record<RuntimeFeature, Release>> = {
  copy: [0, 4, 0],
  'log-format': [0, 4, 5],
  'exit-early': [0, 4, 8],
  'google-project': [0, 4, 8],
  interactive: [0, 5, 1],
};

/** The release a feature came with, as people write it: `0.4.8`. */
export function introducedIn(feature: RuntimeFeature): string {
  return INTRODUCED[feature].join('.');
}

/**
 * Whether the secrets-init image `image` (the --image flag) has `feature`. The tag
 * decides: `0.4.5`, `v0.5.1`, `0.5.3-alpine`; a tag that is no version (`latest`, a
 * branch) or a digest alone counts as current, so it has every feature. Throws
 * ImageReferenceError for a malformed image.
 */
export function imageSupports(image: string, feature: RuntimeFeature): boolean {
  const release = releaseOf(image);
  return release === undefined || compareReleases(release, INTRODUCED[feature]) >= 0;
}

/** The configured image is the same on every admission: its release is parsed once. */
let lastRelease: { image: string; release: Release | undefined } | undefined;

function releaseOf(image: string): Release | undefined {
  if (lastRelease?.image !== image) lastRelease = { image, release: parseRelease(image) };
  return lastRelease.release;
}

function parseRelease(image: string): Release | undefined {
  const tag = parseImageReference(image).tag;
  const match = tag === undefined ? null : /^v?(\d+)\.(\d+)(?:\.(\d+))?(?:[-+].*)?$/.exec(tag);
  if (!match) return undefined;
  return [Number(match[1]), Number(match[2]), Number(match[3] ?? 0)];
}

function compareReleases(a: Release, b: Release): number {
  for (let i = 0; i < 3; i++) {
    const diff = a[i]! - b[i]!;
    if (diff !== 0) return diff;
  }
  return 0;
}
