/**
 * Which registry credentials to try when reading an image's config, gathered the
 * way the kubelet would authenticate the pull, plus the webhook's own cloud identity.
 *
 * Order: the pod's `spec.imagePullSecrets`, its ServiceAccount's `imagePullSecrets`,
 * the configured default pull secret, then cloud providers whose registries match.
 * Within one Secret, entries are ordered most specific key first. A credential that
 * appears twice (same username and password) is kept once, at its first place.
 * Anonymous access is not in the list: the registry client tries it last by itself.
 */
import { LookupError, describeRef } from '../kubernetes/lookup.js';
import type { DataObjectRef, KubeObjectReader, ObjectLookup } from '../kubernetes/lookup.js';
import type { ImageReference } from '../core/image-reference.js';
import type { PodPullFacts } from '../core/pull-facts.js';
import { DockerConfigError, matchingEntries, parseDockerConfig } from './credentials-docker-config.js';
import type { DockerConfigEntry, DockerConfigFormat } from './credentials-docker-config.js';
import { CloudCredentialError, cleanDetail } from './credentials-cloud.js';
import type { CloudCredentialProvider, RegistryCredential } from './types.js';

export { DockerConfigError, matchingEntries, parseDockerConfig } from './credentials-docker-config.js';
export type { DockerConfigEntry, DockerConfigFormat } from './credentials-docker-config.js';
export {
  CloudCredentialError,
  DEFAULT_METADATA_HOST,
  ECR_PROVIDER_NAME,
  ECR_USERNAME,
  GOOGLE_PROVIDER_NAME,
  GOOGLE_USERNAME,
  defaultCloudProviders,
  ecrCredentialProvider,
  googleCredentialProvider,
  isGoogleRegistry,
  parseEcrRegistry,
} from './credentials-cloud.js';
export type {
  EcrCredentialProviderOptions,
  EcrRegistry,
  GoogleCredentialProviderOptions,
  TokenCacheOptions,
} from './credentials-cloud.js';

export type { CloudCredentialProvider, RegistryCredential } from './types.js';

export interface CredentialSources {
  reader: KubeObjectReader;
  /** The Secret key holding dockerconfigjson content; usually `.dockerconfigjson`. */
  dockerConfigJsonKey: string;
  /** Tried after the pod's and the ServiceAccount's pull secrets. */
  defaultPullSecret?: { namespace: string; name: string };
  cloud: readonly CloudCredentialProvider[];
}

export interface CollectedCredentials {
  credentials: RegistryCredential[];
  /**
   * Sources that could not be used (a Secret or ServiceAccount that could not be read
   * for a reason other than not-found, unusable Secret content, a cloud provider
   * failure). Each names its object or provider and never holds credential data. For
   * the caller to add to its error if the registry then refuses.
   */
  problems: string[];
}

export const DEFAULT_DOCKER_CONFIG_JSON_KEY = '.dockerconfigjson';
export const DOCKERCFG_KEY = '.dockercfg';
/** Bound on Secrets read per image (pod + ServiceAccount + default), to bound work per admission. */
export const MAX_PULL_SECRETS = 50;

interface SecretOutcome {
  entries: DockerConfigEntry[];
  problems: string[];
}

function unexpected(error: unknown): string {
  return `unexpected error (${error instanceof Error ? error.name : typeof error})`;
}

function lookupProblem(what: string, error: unknown): string {
  return error instanceof LookupError ? error.message : `cannot read ${what}: ${unexpected(error)}`;
}

function parseSecretKey(ref: DataObjectRef, key: string, content: string, format: DockerConfigFormat): SecretOutcome {
  try {
    return { entries: parseDockerConfig(content, format), problems: [] };
  } catch (error) {
    const detail = error instanceof DockerConfigError ? error.message : unexpected(error);
    return { entries: [], problems: [`${describeRef(ref)}: key "${key}" holds ${detail}`] };
  }
}

/** A Secret's docker config entries; never rejects. */
async function readPullSecret(reader: KubeObjectReader, ref: DataObjectRef, jsonKey: string): Promise<SecretOutcome> {
  let lookup: ObjectLookup;
  try {
    lookup = await reader.read(ref);
  } catch (error) {
    return { entries: [], problems: [lookupProblem(describeRef(ref), error)] };
  }
  // A missing pull secret is skipped, as the kubelet does.
  if (!lookup.found) return { entries: [], problems: [] };
  const outcome: SecretOutcome = { entries: [], problems: [] };
  const sources: Array<[string, DockerConfigFormat]> =
    jsonKey === DOCKERCFG_KEY
      ? [[DOCKERCFG_KEY, 'dockercfg']]
      : [
          [jsonKey, 'dockerconfigjson'],
          [DOCKERCFG_KEY, 'dockercfg'],
        ];
  let present = 0;
  for (const [key, format] of sources) {
    const content = lookup.data.get(key);
    if (content === undefined) continue;
    present++;
    const parsed = parseSecretKey(ref, key, content, format);
    outcome.entries.push(...parsed.entries);
    outcome.problems.push(...parsed.problems);
  }
  if (present === 0) {
    const keys = sources.map(([key]) => `"${key}"`).join(' or ');
    outcome.problems.push(`${describeRef(ref)} has no ${keys} key; it is not an image pull secret`);
  }
  return outcome;
}

/** The ServiceAccount's pull secret names; never rejects. */
async function serviceAccountSecrets(
  reader: KubeObjectReader,
  namespace: string,
  name: string,
): Promise<{ names: string[]; problems: string[] }> {
  try {
    const lookup = await reader.readServiceAccount(namespace, name);
    return { names: lookup.found ? lookup.imagePullSecrets : [], problems: [] };
  } catch (error) {
    return { names: [], problems: [lookupProblem(`ServiceAccount ${namespace}/${name}`, error)] };
  }
}

/** One cloud provider's credential; never rejects. */
async function cloudCredential(
  provider: CloudCredentialProvider,
  domain: string,
): Promise<{ credential?: RegistryCredential; problem?: string }> {
  try {
    const credential = await provider.credential(domain);
    return credential === undefined ? {} : { credential: { ...credential } };
  } catch (error) {
    if (error instanceof CloudCredentialError) return { problem: error.message };
    const detail = error instanceof Error ? cleanDetail(error.message) : unexpected(error);
    return { problem: `${provider.name}: ${detail}` };
  }
}

function providerMatches(provider: CloudCredentialProvider, domain: string): boolean {
  try {
    return provider.matches(domain);
  } catch {
    return false;
  }
}

/**
 * Credentials to try for `image` of `pod` in `namespace`, in order: the pod's
 * `spec.imagePullSecrets`, its ServiceAccount's (`spec.serviceAccountName`, default
 * `default`) `imagePullSecrets`, the default pull secret, then the matching cloud
 * providers. Each Secret is read once, at most `MAX_PULL_SECRETS` of them. Missing
 * Secrets / ServiceAccount are skipped;
 * other read failures, unusable Secret content and cloud failures go to `problems`.
 * Never rejects.
 */
export async function collectCredentials(
  pod: Pick<PodPullFacts, 'imagePullSecrets' | 'serviceAccountName'>,
  namespace: string,
  image: ImageReference,
  sources: CredentialSources,
): Promise<CollectedCredentials> {
  const { reader } = sources;
  const jsonKey = sources.dockerConfigJsonKey === '' ? DEFAULT_DOCKER_CONFIG_JSON_KEY : sources.dockerConfigJsonKey;
  const secretReads = new Map<string, { ref: DataObjectRef; outcome: Promise<SecretOutcome> }>();
  const order: string[] = [];
  let skipped = 0;
  let firstSkipped: string | undefined;
  const want = (secretNamespace: string, name: string): void => {
    const ref: DataObjectRef = { kind: 'Secret', namespace: secretNamespace, name };
    const key = describeRef(ref);
    if (secretReads.has(key)) return;
    if (secretReads.size >= MAX_PULL_SECRETS) {
      skipped++;
      firstSkipped ??= key;
      return;
    }
    secretReads.set(key, { ref, outcome: readPullSecret(reader, ref, jsonKey) });
    order.push(key);
  };

  // Start the cloud lookups and the ServiceAccount read while the pod's Secrets are read.
  const cloud = sources.cloud
    .filter((provider) => providerMatches(provider, image.domain))
    .map((provider) => cloudCredential(provider, image.domain));
  const serviceAccount = serviceAccountSecrets(reader, namespace, pod.serviceAccountName);

  // The pod's names are distinct: the first MAX_PULL_SECRETS are read, and the others only
  // counted (a hand-made review may list 100,000, and each image lookup gets here).
  const podNames = pod.imagePullSecrets;
  for (let i = 0; i < Math.min(podNames.length, MAX_PULL_SECRETS); i++) want(namespace, podNames[i] ?? '');
  if (podNames.length > MAX_PULL_SECRETS) {
    skipped += podNames.length - MAX_PULL_SECRETS;
    firstSkipped = describeRef({ kind: 'Secret', namespace, name: podNames[MAX_PULL_SECRETS] ?? '' });
  }
  const account = await serviceAccount;
  for (const name of account.names) want(namespace, name);
  if (sources.defaultPullSecret !== undefined && sources.defaultPullSecret.name !== '') {
    want(sources.defaultPullSecret.namespace, sources.defaultPullSecret.name);
  }

  const credentials: RegistryCredential[] = [];
  const problems: string[] = [...account.problems];
  if (skipped > 0) problems.push(`more than ${MAX_PULL_SECRETS} image pull secrets; ${skipped} not read (first: ${firstSkipped ?? ''})`);
  const seen = new Set<string>();
  const add = (credential: RegistryCredential): void => {
    const identity = JSON.stringify([credential.username, credential.password]);
    if (seen.has(identity)) return;
    seen.add(identity);
    credentials.push(credential);
  };

  for (const key of order) {
    const read = secretReads.get(key);
    if (read === undefined) continue;
    const outcome = await read.outcome;
    problems.push(...outcome.problems);
    for (const entry of matchingEntries(outcome.entries, image.domain, image.path)) {
      add({ id: key, username: entry.username, password: entry.password });
    }
  }
  for (const result of await Promise.all(cloud)) {
    if (result.problem !== undefined) problems.push(result.problem);
    if (result.credential !== undefined) add(result.credential);
  }
  return { credentials, problems };
}
