import { ImageReferenceError, parseImageReference } from '../core/image-reference.js';
import type { ImageReference } from '../core/image-reference.js';
import type { RegistryClient } from '../registry/client.js';
import { RegistryError } from '../registry/client.js';
import type { CloudCredentialProvider, CollectedCredentials, RegistryCredential } from '../registry/credentials.js';
import { collectCredentials } from '../registry/credentials.js';
import { ImageConfigCache } from './cache.js';
import type { Fetched } from './cache.js';
import type { ServedFrom } from '../cache/async-cache.js';
import type { ImageConfigSource, ImageLookup } from './image-config-source.js';
import type { PodPullFacts } from '../core/pull-facts.js';
import { ImageConfigError, avoidLookup } from './image-config-source.js';

export interface RegistrySourceOptions {
  client: RegistryClient;
  dockerConfigJsonKey: string;
  defaultPullSecret?: { namespace: string; name: string };
  cloud: readonly CloudCredentialProvider[];
  /** Architecture for pods that do not pin `kubernetes.io/arch`. */
  defaultArchitecture: string;
  /** How long a tag → digest resolution is reused. */
  tagTtlMs: number;
  /** Bound on cached tags and on cached configs. */
  maxEntries?: number;
  /** How long a failure that does not depend on credentials is remembered. */
  failureTtlMs?: number;
  /** Told how each lookup was answered: from the cache, by joining one in flight, fetched, or failed. */
  observe?: (result: 'cache_hit' | 'coalesced' | 'fetched' | 'error') => void;
}

/**
 * Failures not remembered: those that other pull secrets could turn into a success, and
 * 'overloaded', which tells of the webhook's own load at that moment, not of the image.
 */
const NOT_REMEMBERED = new Set(['unauthorized', 'denied', 'not-found', 'overloaded']);

/**
 * Image configs read from registries: cached by digest (tags with a TTL), concurrent
 * lookups of one image coalesced, credentials gathered only when the registry must be
 * asked. Every failure is an ImageConfigError naming the image, the registry, the cause
 * and how to avoid the lookup.
 */
export function registryImageSource(options: RegistrySourceOptions): ImageConfigSource & { cache: ImageConfigCache } {
  const cache = new ImageConfigCache({
    tagTtlMs: options.tagTtlMs,
    maxEntries: options.maxEntries ?? 1000,
    failureTtlMs: options.failureTtlMs ?? 5000,
    cacheFailure: (error) => !(error instanceof RegistryError && NOT_REMEMBERED.has(error.kind)),
  });
  return {
    cache,
    async configOf(lookup: ImageLookup) {
      let image: ImageReference;
      try {
        image = parseImageReference(lookup.image);
      } catch (error) {
        if (error instanceof ImageReferenceError) throw new ImageConfigError(`container "${lookup.container}": ${error.message}`, 'pod');
        throw error;
      }
      const architecture = lookup.pod.architecture ?? options.defaultArchitecture;
      const platform = { os: 'linux', architecture };
      let collected: Promise<CollectedCredentials> | undefined;
      const credentials = () =>
        (collected ??= collectCredentials(lookup.pod, lookup.namespace, image, {
          reader: lookup.objects,
          dockerConfigJsonKey: options.dockerConfigJsonKey,
          cloud: options.cloud,
          ...(options.defaultPullSecret ? { defaultPullSecret: options.defaultPullSecret } : {}),
        }));
      let served: 'cache_hit' | 'coalesced' | 'fetched' = 'fetched';
      const howServed = (how: ServedFrom) => {
        served = how === 'hit' ? 'cache_hit' : how === 'coalesced' ? 'coalesced' : 'fetched';
      };
      // Who may be given what these credentials read (see ImageConfigCache): names only.
      const scope = accessScope(lookup);
      /** What the registry answered, read with the scope's credentials (anonymously when it has none for this registry). */
      const withCredentials = async <T>(read: (credentials: readonly RegistryCredential[]) => Promise<T>): Promise<Fetched<T>> => {
        const { credentials: found, problems } = await credentials();
        try {
          return { value: await read(found), anonymous: found.length === 0 };
        } catch (error) {
          if (error instanceof RegistryError && problems.length > 0) credentialProblems.set(error, problems);
          throw error;
        }
      };
      try {
        const config = await cache.resolve(
          { registry: image.domain, repository: image.path, ...(image.tag !== undefined ? { tag: image.tag } : {}), ...(image.digest !== undefined ? { digest: image.digest } : {}), platform: `linux/${architecture}` },
          scope,
          () => withCredentials((found) => options.client.resolveTag(image.tag === undefined ? { ...image, tag: 'latest' } : image, found)),
          (digest) => withCredentials((found) => options.client.imageConfig(image, digest, platform, found)),
          howServed,
        );
        options.observe?.(served);
        // The cached config itself (frozen): a copy for each container of a pod that names one
        // image thousands of times would take as much heap as thousands of configs.
        return { entrypoint: config.entrypoint, cmd: config.cmd };
      } catch (error) {
        options.observe?.('error');
        if (!(error instanceof RegistryError)) throw error;
        // The failure may be of a lookup another admission started (and shared, or cached): the
        // problems of the credentials it read come with it.
        const problems = credentialProblems.get(error) ?? [];
        const notes = problems.length > 0 ? ` (credentials not usable: ${problems.join('; ')})` : '';
        // A host the webhook may not contact is the pod's choice, not a failed dependency.
        throw new ImageConfigError(`container "${lookup.container}": ${error.message}${notes}; ${avoidLookup(lookup.container)}`, error.kind === 'refused' ? 'pod' : 'dependency');
      }
    },
  };
}

/**
 * What was wrong with the credentials a failed lookup read (a pull secret it could not read or
 * use), for the message of every admission given that failure: those that joined the lookup
 * or were answered by its cached failure did not read the credentials themselves.
 */
const credentialProblems = new WeakMap<RegistryError, readonly string[]>();

/** The scope of the pod facts an admission's lookups share, made once for them all. */
const scopes = new WeakMap<PodPullFacts, { namespace: string; scope: string }>();

/**
 * The access scope of a lookup: its namespace, the pod's pull secret names and its
 * ServiceAccount. Written once for each pod's facts: every image of a pod is looked up with the
 * same facts, and a hand-made review may list 100,000 pull secret names.
 */
function accessScope(lookup: ImageLookup): string {
  const known = scopes.get(lookup.pod);
  if (known?.namespace === lookup.namespace) return known.scope;
  const scope = JSON.stringify([lookup.namespace, lookup.pod.imagePullSecrets, lookup.pod.serviceAccountName]);
  scopes.set(lookup.pod, { namespace: lookup.namespace, scope });
  return scope;
}
