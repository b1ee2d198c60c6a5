import { RegistryFailure } from './errors.js';
import type { Platform } from './types.js';

export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const DOCKER_MANIFEST_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';

/** The `Accept` header for manifest requests: every manifest and index type this client reads. */
export const MANIFEST_ACCEPT = [OCI_INDEX, OCI_MANIFEST, DOCKER_MANIFEST_LIST, DOCKER_MANIFEST].join(', ');

const INDEX_TYPES: ReadonlySet<string> = new Set([OCI_INDEX, DOCKER_MANIFEST_LIST]);
const MANIFEST_TYPES: ReadonlySet<string> = new Set([OCI_MANIFEST, DOCKER_MANIFEST]);
const CONFIG_TYPES: ReadonlySet<string> = new Set([OCI_CONFIG, DOCKER_CONFIG]);

/**
 * Bounds on an image's ENTRYPOINT and CMD together. Configs are cached for the life of the
 * process, so without them a registry could fill the webhook's memory with a few configs
 * whose Cmd is megabytes long. Real ones are a few hundred characters.
 */
export const MAX_COMMAND_CHARS = 64 * 1024;
export const MAX_COMMAND_WORDS = 4096;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform;
  annotations?: Record<string, string>;
}

export type Manifest =
  | { kind: 'index'; mediaType: string; manifests: Descriptor[] }
  | { kind: 'image'; mediaType: string; config: Descriptor };

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseJson(body: Buffer, what: string): JsonObject {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch (err) {
    // Not the parser's message: it quotes the body, and a registry may echo the credentials it was sent.
    const at = /at position (\d+)/.exec((err as Error).message)?.[1];
    throw new RegistryFailure('invalid', `the ${what} is not valid JSON${at === undefined ? '' : ` (at character ${at})`}`);
  }
  if (!isObject(value)) throw new RegistryFailure('invalid', `the ${what} is not a JSON object`);
  return value;
}

function bareMediaType(contentType: string | undefined): string | undefined {
  const bare = contentType?.split(';')[0]?.trim().toLowerCase();
  return bare === '' ? undefined : bare;
}

function parseDescriptor(value: unknown, what: string): Descriptor {
  if (!isObject(value)) throw new RegistryFailure('invalid', `${what} is not an object`);
  const { mediaType, digest, size, platform, annotations } = value;
  if (typeof mediaType !== 'string' || typeof digest !== 'string' || typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    throw new RegistryFailure('invalid', `${what} lacks a valid mediaType, digest or size`);
  }
  const descriptor: Descriptor = { mediaType, digest, size };
  if (isObject(platform)) {
    const { os, architecture, variant } = platform;
    if (typeof os === 'string' && typeof architecture === 'string') {
      descriptor.platform = typeof variant === 'string' && variant !== '' ? { os, architecture, variant } : { os, architecture };
    }
  }
  if (isObject(annotations)) {
    const kept: Record<string, string> = {};
    for (const [key, text] of Object.entries(annotations)) if (typeof text === 'string') kept[key] = text;
    descriptor.annotations = kept;
  }
  return descriptor;
}

/** Parses a manifest or index body; its type comes from `mediaType` in the body, else the Content-Type. */
export function parseManifest(body: Buffer, contentType: string | undefined): Manifest {
  const json = parseJson(body, 'manifest');
  if (json.schemaVersion === 1) {
    throw new RegistryFailure('unsupported', 'the manifest is Docker schema 1, which is not supported (push the image again with a current client)');
  }
  if (json.schemaVersion !== 2) throw new RegistryFailure('invalid', 'the manifest has no schemaVersion 2');
  const declared = typeof json.mediaType === 'string' ? json.mediaType : bareMediaType(contentType);
  let kind: 'index' | 'image';
  if (declared !== undefined && INDEX_TYPES.has(declared)) kind = 'index';
  else if (declared !== undefined && MANIFEST_TYPES.has(declared)) kind = 'image';
  else if (Array.isArray(json.manifests)) kind = 'index';
  else if (isObject(json.config)) kind = 'image';
  else throw new RegistryFailure('unsupported', `unsupported manifest media type ${JSON.stringify((declared ?? 'none').slice(0, 100))}`);
  const mediaType = declared ?? (kind === 'index' ? OCI_INDEX : OCI_MANIFEST);

  if (kind === 'index') {
    if (!Array.isArray(json.manifests)) throw new RegistryFailure('invalid', 'the index has no manifests list');
    const manifests = json.manifests.map((entry, i) => parseDescriptor(entry, `index entry ${i}`));
    return { kind, mediaType, manifests };
  }
  const config = parseDescriptor(json.config, 'the manifest config');
  if (!CONFIG_TYPES.has(config.mediaType)) {
    throw new RegistryFailure('unsupported', `not a container image: config media type ${JSON.stringify(config.mediaType.slice(0, 100))}`);
  }
  return { kind, mediaType, config };
}

/** ENTRYPOINT and CMD from an image config blob (`config.Entrypoint`, `config.Cmd`; null or absent → []). */
export function parseImageConfig(body: Buffer): { entrypoint: string[]; cmd: string[] } {
  const json = parseJson(body, 'image config');
  const config = json.config ?? null;
  if (config === null) return { entrypoint: [], cmd: [] };
  if (!isObject(config)) throw new RegistryFailure('invalid', 'the image config has an invalid "config" section');
  const entrypoint = stringList(config.Entrypoint, 'Entrypoint');
  const cmd = stringList(config.Cmd, 'Cmd');
  const words = entrypoint.length + cmd.length;
  if (words > MAX_COMMAND_WORDS) {
    throw new RegistryFailure('invalid', `the image config's Entrypoint and Cmd hold ${words} words, more than the ${MAX_COMMAND_WORDS} accepted`);
  }
  const chars = [...entrypoint, ...cmd].reduce((sum, word) => sum + word.length, 0);
  if (chars > MAX_COMMAND_CHARS) {
    throw new RegistryFailure('invalid', `the image config's Entrypoint and Cmd hold ${chars} characters, more than the ${MAX_COMMAND_CHARS} accepted`);
  }
  return { entrypoint, cmd };
}

function stringList(value: unknown, field: string): string[] {
  if (value === undefined || value === null) return [];
  if (Array.isArray(value) && value.every((item): item is string => typeof item === 'string')) return [...value];
  throw new RegistryFailure('invalid', `the image config's ${field} is not a list of strings`);
}

export function formatPlatform(platform: Platform): string {
  return `${platform.os}/${platform.architecture}${platform.variant !== undefined ? `/${platform.variant}` : ''}`;
}

/** arm64 images without a variant are v8. */
function normalisedVariant(platform: Platform): string | undefined {
  if (platform.variant !== undefined && platform.variant !== '') return platform.variant;
  return platform.architecture === 'arm64' ? 'v8' : undefined;
}

function isAttestation(descriptor: Descriptor): boolean {
  return descriptor.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest';
}

/**
 * How well `candidate` fits `platform`, lower is better; undefined when it does not: same os and
 * architecture; the variant must match when both sides have one (arm64 defaults to v8); an exact
 * variant beats a missing one.
 */
export function platformRank(candidate: Platform, platform: Platform): number | undefined {
  if (candidate.os !== platform.os || candidate.architecture !== platform.architecture) return undefined;
  const wantVariant = normalisedVariant(platform);
  const variant = normalisedVariant(candidate);
  if (variant === wantVariant) return 0;
  if (variant === undefined) return 1;
  if (wantVariant === undefined) return 2;
  return undefined;
}

/**
 * The image manifests of an index that name no platform (`platform` is optional in an index
 * entry): containerd takes such an entry when its config's os and architecture fit.
 */
export function unlabelledEntries(manifests: readonly Descriptor[]): Descriptor[] {
  return manifests.filter((descriptor) => descriptor.platform === undefined && !isAttestation(descriptor) && MANIFEST_TYPES.has(descriptor.mediaType)).slice(0, MAX_UNLABELLED_ENTRIES);
}

/**
 * Most unlabelled entries looked into (two requests each): real indexes have one or two, and a
 * registry serving thousands must not make one admission send thousands of requests.
 */
const MAX_UNLABELLED_ENTRIES = 4;

/** The platform an image config names (`os`, `architecture`, `variant`), if it names one. */
export function configPlatform(body: Buffer): Platform | undefined {
  const { os, architecture, variant } = parseJson(body, 'image config');
  if (typeof os !== 'string' || typeof architecture !== 'string') return undefined;
  return typeof variant === 'string' && variant !== '' ? { os, architecture, variant } : { os, architecture };
}

/**
 * Picks the index entry for `platform` (see platformRank). Throws a `platform` failure listing
 * the available platforms when no entry that names its platform fits.
 */
export function selectPlatform(manifests: readonly Descriptor[], platform: Platform): Descriptor {
  let best: { descriptor: Descriptor; rank: number } | undefined;
  for (const descriptor of manifests) {
    const candidate = descriptor.platform;
    if (candidate === undefined || isAttestation(descriptor) || !MANIFEST_TYPES.has(descriptor.mediaType)) continue;
    const rank = platformRank(candidate, platform);
    if (rank === undefined) continue;
    if (best === undefined || rank < best.rank) best = { descriptor, rank };
  }
  if (best !== undefined) return best.descriptor;
  const available = [
    ...new Set(
      manifests
        .filter((d) => !isAttestation(d))
        .map((d) => (d.platform !== undefined ? formatPlatform(d.platform) : 'unknown') + (MANIFEST_TYPES.has(d.mediaType) ? '' : ` (${d.mediaType})`)),
    ),
  ];
  throw new RegistryFailure(
    'platform',
    `no image for platform ${formatPlatform(platform)} in the index; available: ${available.length > 0 ? available.join(', ') : 'none'}`,
  );
}
