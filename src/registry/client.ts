import { formatImageReference, type ImageReference } from '../core/image-reference.js';
import { Authenticator, type CallAuth } from './auth.js';
import { BodyBudget, formatBytes } from './body-budget.js';
import { checkDigest, digestOf, isVerifiableDigest, verifyDigest } from './digest.js';
import { namesHost, parseRegistryPattern, patternMatches } from './allowed-registries.js';
import { RegistryError, RegistryFailure, statusFailure } from './errors.js';
import { MANIFEST_ACCEPT, configPlatform, parseImageConfig, parseManifest, platformRank, selectPlatform, unlabelledEntries, type Descriptor } from './manifest.js';
import { createTransport, type HttpResponse } from './transport.js';
import type { ImageConfigResult, Platform, RegistryClientOptions, RegistryCredential } from './types.js';
import { redacted } from '../redaction.js';

export type { ImageConfigResult, Platform, RegistryClientOptions, RegistryCredential } from './types.js';
export { RegistryError, type RegistryErrorKind } from './errors.js';

export interface RegistryClient {
  /** Digest the tag currently points to (HEAD manifest, Docker-Content-Digest; fall back to GET + digest of the body). A digest reference is returned as-is. */
  resolveTag(image: ImageReference, credentials: readonly RegistryCredential[]): Promise<string>;
  /**
   * Config of the image at `digest` for `platform`: manifest (Docker schema 2 or OCI), or
   * index/manifest list → the entry for the platform → manifest → config blob. Verifies the
   * digest of every manifest and blob it downloads.
   */
  imageConfig(image: ImageReference, digest: string, platform: Platform, credentials: readonly RegistryCredential[]): Promise<ImageConfigResult>;
}

/**
 * Real manifests, indexes and configs are a few KiB (an index of every platform with its
 * attestations, or a config with a hundred layers of history, stays far below 1 MiB). A
 * bigger cap only helps hostile registries: parsing a body may take about 14 times its size
 * of heap, and fewer stalled bodies would fill the budget below.
 */
export const DEFAULT_MAX_BYTES = 1024 * 1024;
/**
 * Registry answers being read may hold this much memory at once, all lookups together. The
 * Deployment gives V8 a 256 MiB heap, of which request bodies may take half.
 */
export const DEFAULT_MAX_BYTES_IN_FLIGHT = 64 * 1024 * 1024;
const DOCKER_HUB = 'docker.io';
const DOCKER_HUB_API = 'registry-1.docker.io';
const PATH = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
const TAG = /^\w[\w.-]{0,127}$/;
/** The cause of a failure as a message shows it, after redaction. */
const MAX_CAUSE_CHARS = 600;

interface Call extends CallAuth {
  readonly base: URL;
}

export function createRegistryClient(options: RegistryClientOptions): RegistryClient {
  const { timeoutMs } = options;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new RangeError(`registry timeout must be a positive number of milliseconds, not ${timeoutMs}`);
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  if (!Number.isSafeInteger(maxBytes) || maxBytes <= 0) throw new RangeError(`registry body limit must be a positive integer, not ${maxBytes}`);
  const maxBytesInFlight = options.maxBytesInFlight ?? Math.max(DEFAULT_MAX_BYTES_IN_FLIGHT, maxBytes);
  if (!Number.isSafeInteger(maxBytesInFlight) || maxBytesInFlight < maxBytes) {
    throw new RangeError(`registry body budget must be an integer of at least the body limit (${formatBytes(maxBytes)}), not ${maxBytesInFlight}`);
  }
  const insecureHosts = new Set(options.insecureRegistries.map((host) => host.trim().toLowerCase()).filter((host) => host !== ''));
  const isInsecureHost = (host: string): boolean => insecureHosts.has(host.toLowerCase());
  const allowed = options.allowedRegistries?.map((text) => {
    const pattern = parseRegistryPattern(text);
    if (pattern === undefined) throw new RangeError(`invalid registry pattern ${JSON.stringify(text)}: expected host[:port], "*" within a label or as the port`);
    return pattern;
  });
  const namedByOperator = (url: URL): boolean =>
    isInsecureHost(url.host) || isInsecureHost(url.hostname) || (allowed ?? []).some((pattern) => namesHost(pattern) && patternMatches(pattern, url.host));
  const transport = createTransport({
    skipVerify: options.skipVerify,
    insecureHosts,
    namedByOperator,
    budget: new BodyBudget(maxBytesInFlight),
    ...(options.ca !== undefined ? { ca: options.ca } : {}),
    ...(options.observeRequest !== undefined ? { observe: options.observeRequest } : {}),
  });
  const auth = new Authenticator({ transport, timeoutMs, maxBytes, isInsecureHost });

  /** Runs one client call: sets up its state and turns every failure into a RegistryError. */
  async function run<T>(image: ImageReference, credentials: readonly RegistryCredential[], body: (call: Call) => Promise<T>): Promise<T> {
    const label = safeLabel(image);
    const registry = printable(image.domain).slice(0, 300);
    const sent = new Set<string>();
    try {
      if (allowed !== undefined && !allowed.some((pattern) => patternMatches(pattern, image.domain))) {
        throw new RegistryFailure('refused', 'the registry is not in --allowed-registries');
      }
      const host = apiHost(image.domain);
      const base = registryBase(host, isInsecureHost(image.domain) || isInsecureHost(host));
      if (!PATH.test(image.path)) throw new RegistryFailure('invalid', `invalid repository path ${JSON.stringify(image.path.slice(0, 200))}`);
      return await body({ host: base.host, base, path: image.path, credentials, deadline: Date.now() + timeoutMs, sent, insecure: base.protocol === 'http:' });
    } catch (err) {
      if (err instanceof RegistryError) throw err;
      const failure =
        err instanceof RegistryFailure ? err : new RegistryFailure('http', `unexpected error: ${err instanceof Error ? err.message : String(err)}`);
      // Redacted before it is cut short, so that no part of a secret survives at the cut.
      throw new RegistryError(label, registry, failure.kind, clipped(redacted(failure.message, secretsOf(credentials, sent, false)), MAX_CAUSE_CHARS), failure.status);
    }
  }

  async function get(call: Call, method: 'GET' | 'HEAD', kind: 'manifests' | 'blobs', reference: string, what: string): Promise<HttpResponse> {
    const url = new URL(`/v2/${call.path}/${kind}/${reference}`, call.base);
    const headers: Record<string, string> = kind === 'manifests' ? { accept: MANIFEST_ACCEPT } : {};
    const response = await auth.send(call, (authorization) =>
      transport.request({
        method,
        url,
        headers,
        ...(authorization !== undefined ? { authorization } : {}),
        maxBytes,
        timeoutMs,
        deadline: call.deadline,
        what,
      }),
    );
    if (response.status >= 200 && response.status < 300) return response;
    throw statusFailure(response.status, what, responseDetail(response, secretsOf(call.credentials, call.sent ?? new Set(), true)));
  }

  /** GETs a manifest by digest, checks its digest and parses it. */
  async function manifestAt(call: Call, digest: string, declaredSize?: number): Promise<ReturnType<typeof parseManifest>> {
    checkSize(declaredSize, 'manifest', maxBytes);
    const response = await get(call, 'GET', 'manifests', digest, 'manifest');
    verifyDigest(response.body, digest, `manifest ${digest}`);
    return parseManifest(response.body, headerText(response.headers['content-type']));
  }

  return {
    resolveTag(image, credentials) {
      return run(image, credentials, async (call) => {
        if (image.digest !== undefined) return checkDigest(image.digest, 'image');
        const tag = image.tag ?? 'latest';
        if (!TAG.test(tag)) throw new RegistryFailure('invalid', `invalid tag ${JSON.stringify(tag.slice(0, 200))}`);
        let announced: string | undefined;
        try {
          const head = await get(call, 'HEAD', 'manifests', tag, 'manifest');
          announced = headerText(head.headers['docker-content-digest']);
        } catch (err) {
          // A registry that does not do HEAD (405 and the like): GET below decides.
          if (!(err instanceof RegistryFailure && err.kind === 'http')) throw err;
        }
        if (announced !== undefined && isVerifiableDigest(announced)) return announced;
        // No usable Docker-Content-Digest: download the manifest and hash it.
        const response = await get(call, 'GET', 'manifests', tag, 'manifest');
        const again = headerText(response.headers['docker-content-digest']);
        if (again !== undefined && isVerifiableDigest(again)) {
          verifyDigest(response.body, again, `manifest of tag ${tag}`);
          return again;
        }
        return digestOf(response.body);
      });
    },

    imageConfig(image, digest, platform, credentials) {
      return run(image, credentials, async (call) => {
        const top = checkDigest(digest, 'manifest');
        let manifest = await manifestAt(call, top);
        if (manifest.kind === 'index') {
          let entry: Descriptor;
          try {
            entry = selectPlatform(manifest.manifests, platform);
          } catch (err) {
            // Entries that name no platform come last, and fit when their config's platform does (as for containerd).
            const config = err instanceof RegistryFailure && err.kind === 'platform' ? await unlabelledConfig(call, manifest.manifests, platform) : undefined;
            if (config === undefined) throw err;
            return { manifestDigest: top, ...config };
          }
          manifest = await manifestAt(call, checkDigest(entry.digest, 'platform manifest'), entry.size);
          if (manifest.kind !== 'image') throw new RegistryFailure('unsupported', `the index entry for ${entry.digest} is itself an index`);
        }
        const config = parseImageConfig(await configBlob(call, manifest.config));
        return { manifestDigest: top, ...config };
      });
    },
  };

  /** ENTRYPOINT and CMD of the first index entry without a platform whose config names one that fits `platform`. */
  async function unlabelledConfig(call: Call, manifests: readonly Descriptor[], platform: Platform): Promise<{ entrypoint: string[]; cmd: string[] } | undefined> {
    for (const entry of unlabelledEntries(manifests)) {
      const manifest = await manifestAt(call, checkDigest(entry.digest, 'platform manifest'), entry.size);
      if (manifest.kind !== 'image') continue;
      const body = await configBlob(call, manifest.config);
      const named = configPlatform(body);
      if (named !== undefined && platformRank(named, platform) !== undefined) return parseImageConfig(body);
    }
    return undefined;
  }

  /** The config blob `descriptor` names, its digest checked. */
  async function configBlob(call: Call, descriptor: Descriptor): Promise<Buffer> {
    const digest = checkDigest(descriptor.digest, 'config');
    checkSize(descriptor.size, 'config blob', maxBytes);
    const response = await get(call, 'GET', 'blobs', digest, 'config blob');
    verifyDigest(response.body, digest, `config blob ${digest}`);
    return response.body;
  }
}

/** The host to contact for a registry domain: Docker Hub's API lives at `registry-1.docker.io`. */
export function apiHost(domain: string): string {
  return domain === DOCKER_HUB ? DOCKER_HUB_API : domain;
}

function registryBase(host: string, insecure: boolean): URL {
  let base: URL;
  try {
    base = new URL(`${insecure ? 'http' : 'https'}://${host}/`);
  } catch {
    throw new RegistryFailure('invalid', `invalid registry host ${JSON.stringify(host.slice(0, 200))}`);
  }
  if (base.username !== '' || base.password !== '' || base.pathname !== '/' || base.search !== '' || base.hash !== '') {
    throw new RegistryFailure('invalid', `invalid registry host ${JSON.stringify(host.slice(0, 200))}`);
  }
  return base;
}

function checkSize(size: number | undefined, what: string, maxBytes: number): void {
  if (size !== undefined && size > maxBytes) {
    throw new RegistryFailure('too-large', `the ${what} is larger than the limit of ${maxBytes} bytes (declared size ${size})`);
  }
}

function headerText(value: string | string[] | undefined): string | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  return text === undefined ? undefined : text.trim();
}

/**
 * The registry's own error message (`{"errors":[{"code","message"}]}`), printable, with
 * every secret of the call redacted (some registries quote the token or the user name);
 * plus Retry-After.
 */
function responseDetail(response: HttpResponse, secrets: readonly string[]): string | undefined {
  const parts: string[] = [];
  try {
    const parsed: unknown = JSON.parse(response.body.toString('utf8'));
    const errors = typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>).errors : undefined;
    const first: unknown = Array.isArray(errors) ? errors[0] : undefined;
    if (typeof first === 'object' && first !== null) {
      const { message, code } = first as Record<string, unknown>;
      const text = typeof message === 'string' && message !== '' ? message : typeof code === 'string' ? code : undefined;
      // Redacted as the registry wrote it: made printable first, a secret with a non-ASCII character would no longer match.
      if (text !== undefined) parts.push(printable(redacted(text, secrets)));
    }
  } catch {
    // Not a registry error document.
  }
  const retryAfter = headerText(response.headers['retry-after']);
  if (retryAfter !== undefined && /^\d{1,6}$/.test(retryAfter)) parts.push(`retry after ${retryAfter} s`);
  return parts.length > 0 ? parts.join('; ') : undefined;
}

/** Control and non-ASCII characters replaced; bounded (the final cut comes later). Redact before, not after. */
function printable(text: string): string {
  return ascii(text.slice(0, 4096));
}

function ascii(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, '?');
}

function clipped(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/** The image for messages, even when a caller built an odd ImageReference by hand. */
function safeLabel(image: ImageReference): string {
  return printable(formatImageReference(image));
}

/**
 * What no message may show (redacted() takes the longest first and skips short ones):
 * passwords, Basic values and every Authorization the call sent, with and without its
 * scheme; and user names, in text a server wrote (in our own text a credential's id may
 * rightly carry a name that is also a user name). Each also as printable() shows it (`?` for
 * a non-ASCII character), should a message have made a secret printable before redaction.
 */
function secretsOf(credentials: readonly RegistryCredential[], sent: ReadonlySet<string>, withUsernames: boolean): string[] {
  const secrets = new Set<string>();
  for (const { username, password } of credentials) {
    secrets.add(Buffer.from(`${username}:${password}`, 'utf8').toString('base64'));
    secrets.add(password);
    if (withUsernames) secrets.add(username);
  }
  for (const authorization of sent) {
    secrets.add(authorization);
    secrets.add(authorization.replace(/^(?:Bearer|Basic)\s+/i, ''));
  }
  for (const secret of [...secrets]) secrets.add(ascii(secret));
  return [...secrets];
}

