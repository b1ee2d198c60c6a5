/**
 * Registry credentials from the webhook's OWN cloud identity (not the pod's):
 *
 * - ECR: `ecr:GetAuthorizationToken` through `@aws-sdk/client-ecr`, whose default
 *   credential chain covers env credentials, IRSA (web identity token file), EKS Pod
 *   Identity and instance roles. Username `AWS`.
 * - Google (GCR / Artifact Registry): an access token from the GCE/GKE metadata server
 *   (Workload Identity on GKE). Username `oauth2accesstoken`.
 *
 * Tokens are cached until their expiry minus a margin; concurrent requests for the same
 * token share one fetch; a failed fetch is remembered for a short back-off so a missing
 * identity does not cost a network timeout on every admission.
 *
 * Providers reject with `CloudCredentialError` (message safe to show, never a token);
 * `collectCredentials` turns that into a `problems` entry.
 */
import { request as httpRequest } from 'node:http';
import type { ECRClient, ECRClientConfig, GetAuthorizationTokenCommandOutput } from '@aws-sdk/client-ecr';
import type { CloudCredentialProvider, RegistryCredential } from './types.js';
import { settleWithin } from './time-limit.js';
import { redacted } from '../redaction.js';

/** A cloud credential could not be obtained. The message names the provider and never holds a token. */
export class CloudCredentialError extends Error {
  override readonly name = 'CloudCredentialError';
  readonly provider: string;

  constructor(provider: string, detail: string) {
    super(`${provider}: ${detail}`);
    this.provider = provider;
  }
}

const MAX_DETAIL = 300;

/** One line, bounded, for messages built from other libraries' errors. */
export function cleanDetail(text: string): string {
  const oneLine = text.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  return oneLine.length > MAX_DETAIL ? `${oneLine.slice(0, MAX_DETAIL)}...` : oneLine;
}

/** Options shared by both providers. */
export interface TokenCacheOptions {
  /** Stop using a token this long before it expires (halved for tokens that live less than twice this). Default 5 min. */
  refreshMarginMs?: number;
  /** After a failed fetch, fail fast with the same error for this long before trying again. Default 15 s. */
  failureBackoffMs?: number;
  /** The clock, in ms since the epoch (tests advance it). Default `Date.now`. */
  now?: () => number;
}

interface FetchedToken {
  credential: RegistryCredential;
  /** ms since the epoch */
  expiresAt: number;
}

type CacheEntry =
  | { kind: 'token'; credential: RegistryCredential; validUntil: number }
  | { kind: 'failure'; error: CloudCredentialError; retryAt: number };

const MAX_CACHE_ENTRIES = 64;

/** Tokens by key (e.g. an AWS region), with coalescing of concurrent fetches and a failure back-off. */
class TokenCache {
  private readonly entries = new Map<string, CacheEntry>();
  private readonly inflight = new Map<string, Promise<RegistryCredential>>();
  private readonly marginMs: number;
  private readonly backoffMs: number;
  private readonly now: () => number;
  private readonly provider: string;

  constructor(provider: string, options: TokenCacheOptions) {
    this.provider = provider;
    this.marginMs = Math.max(0, options.refreshMarginMs ?? 5 * 60_000);
    this.backoffMs = Math.max(0, options.failureBackoffMs ?? 15_000);
    this.now = options.now ?? Date.now;
  }

  get(key: string, fetch: () => Promise<FetchedToken>): Promise<RegistryCredential> {
    const now = this.now();
    const entry = this.entries.get(key);
    if (entry?.kind === 'token' && now < entry.validUntil) return Promise.resolve({ ...entry.credential });
    if (entry?.kind === 'failure' && now < entry.retryAt) return Promise.reject(entry.error);
    const pending = this.inflight.get(key);
    if (pending !== undefined) return pending.then((credential) => ({ ...credential }));
    const started = fetch().then(
      (token) => {
        const fetchedAt = this.now();
        const lifetime = token.expiresAt - fetchedAt;
        const validUntil = token.expiresAt - Math.min(this.marginMs, Math.max(0, lifetime) / 2);
        this.store(key, { kind: 'token', credential: token.credential, validUntil });
        return { ...token.credential };
      },
      (error: unknown) => {
        const failure =
          error instanceof CloudCredentialError ? error : new CloudCredentialError(this.provider, `unexpected failure (${error instanceof Error ? error.name : typeof error})`);
        this.store(key, { kind: 'failure', error: failure, retryAt: this.now() + this.backoffMs });
        throw failure;
      },
    );
    const tracked = started.finally(() => this.inflight.delete(key));
    this.inflight.set(key, tracked);
    return tracked;
  }

  private store(key: string, entry: CacheEntry): void {
    this.entries.delete(key);
    this.entries.set(key, entry);
    while (this.entries.size > MAX_CACHE_ENTRIES) {
      const oldest = this.entries.keys().next();
      if (oldest.done === true) break;
      this.entries.delete(oldest.value);
    }
  }
}

// ---------------------------------------------------------------------------
// ECR

export const ECR_PROVIDER_NAME = 'ECR';
export const ECR_USERNAME = 'AWS';

export interface EcrRegistry {
  account: string;
  region: string;
  fips: boolean;
}

/** The region part is an AWS region's shape (`eu-west-1`, `us-gov-west-1`, `cn-north-1`): the pod names it, and each region is a client. */
const ECR_DOMAIN = /^(\d{12})\.dkr\.ecr(-fips)?\.([a-z]{2}(?:-[a-z]+){1,3}-\d{1,2})\.amazonaws\.com(?:\.cn)?$/;
/** ECR clients kept at once (one per region and FIPS choice); the oldest is dropped beyond. */
const MAX_ECR_CLIENTS = 32;

/** `123456789012.dkr.ecr.eu-west-1.amazonaws.com` (also `.amazonaws.com.cn`, `dkr.ecr-fips`); undefined otherwise (a port never matches). */
export function parseEcrRegistry(domain: string): EcrRegistry | undefined {
  const match = ECR_DOMAIN.exec(domain.trim().toLowerCase());
  if (match === null) return undefined;
  const [, account = '', fips, region = ''] = match;
  return { account, region, fips: fips !== undefined };
}

export interface EcrCredentialProviderOptions extends TokenCacheOptions {
  /** Override the ECR API endpoint (e.g. `http://127.0.0.1:PORT` for a test fake, or a VPC endpoint). */
  endpoint?: string;
  /** AWS credentials; default: the SDK's default chain (env, IRSA web identity, EKS Pod Identity, instance role). */
  credentials?: ECRClientConfig['credentials'];
  /** Bound on one token fetch, credential resolution included. Default 10 s. */
  timeoutMs?: number;
  /** SDK attempts per fetch (retries on throttling / 5xx / network errors). Default 2. */
  maxAttempts?: number;
}

function decodeEcrToken(token: string): { username: string; password: string } | undefined {
  const text = Buffer.from(token, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon <= 0 || colon === text.length - 1) return undefined;
  return { username: text.slice(0, colon), password: text.slice(colon + 1) };
}

/**
 * What a request to AWS carried that no message may show, should an endpoint (or a proxy)
 * quote it: the identity's secret key and session token (the chain keeps the identity it
 * resolved for the request, so this asks nothing again).
 */
async function awsSecrets(client: ECRClient): Promise<string[]> {
  try {
    const identity = await client.config.credentials();
    return [identity.secretAccessKey, identity.sessionToken ?? ''].filter((secret) => secret.length >= 8);
  } catch {
    return [];
  }
}

/** `text` without `secrets` and without any SigV4 signature (a signed request can be sent again for minutes). */
function withoutAwsSecrets(text: string, secrets: readonly string[]): string {
  return redacted(text.replace(/\bSignature=[0-9a-fA-F]+/g, 'Signature=[redacted]'), secrets);
}

function awsErrorDetail(error: unknown, secrets: readonly string[]): string {
  if (!(error instanceof Error)) return 'unknown error';
  const status = (error as { $metadata?: { httpStatusCode?: unknown } }).$metadata?.httpStatusCode;
  const statusText = typeof status === 'number' ? ` (HTTP ${status})` : '';
  const hint =
    error.name === 'CredentialsProviderError'
      ? ' (no AWS identity: configure IRSA or EKS Pod Identity for the webhook ServiceAccount)'
      : '';
  // Redacted before it is cut short, so that no part of a secret survives at the cut.
  return `${error.name}${statusText}: ${cleanDetail(withoutAwsSecrets(error.message, secrets))}${hint}`;
}

/** ECR authorization tokens for the webhook's AWS identity, one per region, cached until expiry minus a margin. */
export function ecrCredentialProvider(options: EcrCredentialProviderOptions = {}): CloudCredentialProvider {
  const cache = new TokenCache(ECR_PROVIDER_NAME, options);
  const timeoutMs = options.timeoutMs ?? 10_000;
  const maxAttempts = options.maxAttempts ?? 2;
  const clients = new Map<string, ECRClient>();

  const client = async (registry: EcrRegistry): Promise<ECRClient> => {
    const key = `${registry.region}|${registry.fips}`;
    const existing = clients.get(key);
    if (existing !== undefined) return existing;
    const sdk = await import('@aws-sdk/client-ecr');
    const config: ECRClientConfig = {
      region: registry.region,
      useFipsEndpoint: registry.fips,
      maxAttempts,
      requestHandler: { connectionTimeout: timeoutMs, requestTimeout: timeoutMs, throwOnRequestTimeout: true },
    };
    if (options.endpoint !== undefined) config.endpoint = options.endpoint;
    if (options.credentials !== undefined) config.credentials = options.credentials;
    const created = new sdk.ECRClient(config);
    clients.set(key, created);
    if (clients.size > MAX_ECR_CLIENTS) {
      const [oldest] = clients.entries();
      if (oldest !== undefined) {
        clients.delete(oldest[0]);
        oldest[1].destroy();
      }
    }
    return created;
  };

  const fetchToken = async (registry: EcrRegistry): Promise<FetchedToken> => {
    const where = `region ${registry.region}${registry.fips ? ' (FIPS)' : ''}`;
    const controller = new AbortController();
    const call = async (): Promise<FetchedToken> => {
      const sdk = await import('@aws-sdk/client-ecr');
      const ecr = await client(registry);
      let output: GetAuthorizationTokenCommandOutput;
      try {
        output = await ecr.send(new sdk.GetAuthorizationTokenCommand({}), { abortSignal: controller.signal });
      } catch (error) {
        // No identity: nothing was sent (and resolving it again could take as long again).
        const secrets = error instanceof Error && error.name === 'CredentialsProviderError' ? [] : await awsSecrets(ecr);
        throw new CloudCredentialError(ECR_PROVIDER_NAME, `GetAuthorizationToken failed for ${where}: ${awsErrorDetail(error, secrets)}`);
      }
      for (const { authorizationToken, expiresAt } of output.authorizationData ?? []) {
        if (typeof authorizationToken !== 'string') continue;
        const decoded = decodeEcrToken(authorizationToken);
        if (decoded === undefined) continue;
        const expiry = expiresAt instanceof Date ? expiresAt.getTime() : Number.NaN;
        return {
          credential: { id: ECR_PROVIDER_NAME, username: decoded.username, password: decoded.password },
          // No (valid) expiry: ECR tokens live 12 hours; assume 1 to be safe.
          expiresAt: Number.isFinite(expiry) ? expiry : (options.now ?? Date.now)() + 60 * 60_000,
        };
      }
      throw new CloudCredentialError(
        ECR_PROVIDER_NAME,
        `GetAuthorizationToken for ${where} returned no usable authorization token`,
      );
    };
    return settleWithin(call(), timeoutMs, () => {
      controller.abort();
      return new CloudCredentialError(ECR_PROVIDER_NAME, `GetAuthorizationToken for ${where} timed out after ${timeoutMs}ms`);
    });
  };

  return {
    name: ECR_PROVIDER_NAME,
    matches: (domain) => parseEcrRegistry(domain) !== undefined,
    async credential(domain) {
      const registry = parseEcrRegistry(domain);
      if (registry === undefined) return undefined;
      return cache.get(`${registry.region}|${registry.fips}`, () => fetchToken(registry));
    },
  };
}

// ---------------------------------------------------------------------------
// Google

export const GOOGLE_PROVIDER_NAME = 'Google workload identity';
export const GOOGLE_USERNAME = 'oauth2accesstoken';
export const DEFAULT_METADATA_HOST = 'metadata.google.internal';
const TOKEN_PATH = '/computeMetadata/v1/instance/service-accounts/default/token';
const MAX_TOKEN_RESPONSE = 64 * 1024;

/** `gcr.io`, `<x>.gcr.io`, `<location>-docker.pkg.dev` (no port). */
export function isGoogleRegistry(domain: string): boolean {
  const host = domain.trim().toLowerCase();
  return host === 'gcr.io' || /^[a-z0-9-]+\.gcr\.io$/.test(host) || /^[a-z0-9]+(?:-[a-z0-9]+)*-docker\.pkg\.dev$/.test(host);
}

export interface GoogleCredentialProviderOptions extends TokenCacheOptions {
  /** Metadata server `host[:port]`; default `GCE_METADATA_HOST`, then `GCE_METADATA_IP`, then `metadata.google.internal`. */
  metadataHost?: string;
  /** Where `GCE_METADATA_HOST` / `GCE_METADATA_IP` are read from. Default `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Bound on one token request. Default 3 s. */
  timeoutMs?: number;
}

function metadataHost(options: GoogleCredentialProviderOptions): string {
  const env = options.env ?? process.env;
  for (const candidate of [options.metadataHost, env['GCE_METADATA_HOST'], env['GCE_METADATA_IP']]) {
    if (candidate !== undefined && candidate.trim() !== '') return candidate.trim();
  }
  return DEFAULT_METADATA_HOST;
}

interface MetadataResponse {
  status: number;
  flavor: string | undefined;
  body: string;
}

function getMetadata(url: URL, signal: AbortSignal): Promise<MetadataResponse> {
  return new Promise<MetadataResponse>((resolve, reject) => {
    const req = httpRequest(url, { method: 'GET', headers: { 'Metadata-Flavor': 'Google' }, signal }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_TOKEN_RESPONSE) {
          res.destroy(new Error(`response larger than ${MAX_TOKEN_RESPONSE} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      res.on('error', reject);
      res.on('end', () => {
        const flavor = res.headers['metadata-flavor'];
        resolve({
          status: res.statusCode ?? 0,
          flavor: typeof flavor === 'string' ? flavor : undefined,
          body: Buffer.concat(chunks).toString('utf8'),
        });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

function networkDetail(error: unknown): string {
  if (!(error instanceof Error)) return 'unknown error';
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && !error.message.includes(code) ? `${code}: ${cleanDetail(error.message)}` : cleanDetail(error.message);
}

/** Access tokens for the webhook's Google service account, from the metadata server. */
export function googleCredentialProvider(options: GoogleCredentialProviderOptions = {}): CloudCredentialProvider {
  const cache = new TokenCache(GOOGLE_PROVIDER_NAME, options);
  const timeoutMs = options.timeoutMs ?? 3_000;
  const host = metadataHost(options);

  const fetchToken = async (): Promise<FetchedToken> => {
    let url: URL;
    try {
      url = new URL(`http://${host}${TOKEN_PATH}`);
    } catch {
      throw new CloudCredentialError(GOOGLE_PROVIDER_NAME, `invalid metadata server host "${cleanDetail(host)}"`);
    }
    const where = `metadata server ${url.host}`;
    const controller = new AbortController();
    let response: MetadataResponse;
    try {
      response = await settleWithin(getMetadata(url, controller.signal), timeoutMs, () => {
        controller.abort();
        return new CloudCredentialError(GOOGLE_PROVIDER_NAME, `${where} did not answer within ${timeoutMs}ms`);
      });
    } catch (error) {
      if (error instanceof CloudCredentialError) throw error;
      throw new CloudCredentialError(GOOGLE_PROVIDER_NAME, `${where} unreachable (${networkDetail(error)})`);
    }
    if (response.status !== 200) {
      const hint = response.status === 404 ? ' (no service account attached to the node / Workload Identity not enabled?)' : '';
      throw new CloudCredentialError(GOOGLE_PROVIDER_NAME, `${where} answered HTTP ${response.status}${hint}`);
    }
    if (response.flavor?.toLowerCase() !== 'google') {
      throw new CloudCredentialError(GOOGLE_PROVIDER_NAME, `${where} answered without "Metadata-Flavor: Google"; not a metadata server`);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(response.body);
    } catch {
      // Not the parse error's message: it would quote the body, which holds the token.
      throw new CloudCredentialError(GOOGLE_PROVIDER_NAME, `${where} returned a token response that is not JSON`);
    }
    const record = typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : {};
    const token = record['access_token'];
    const expiresIn = record['expires_in'];
    if (typeof token !== 'string' || token === '' || typeof expiresIn !== 'number' || !Number.isFinite(expiresIn)) {
      throw new CloudCredentialError(GOOGLE_PROVIDER_NAME, `${where} returned a token response without access_token/expires_in`);
    }
    return {
      credential: { id: GOOGLE_PROVIDER_NAME, username: GOOGLE_USERNAME, password: token },
      expiresAt: (options.now ?? Date.now)() + expiresIn * 1000,
    };
  };

  return {
    name: GOOGLE_PROVIDER_NAME,
    matches: isGoogleRegistry,
    async credential(domain) {
      if (!isGoogleRegistry(domain)) return undefined;
      return cache.get('default', fetchToken);
    },
  };
}

/** ECR and Google, with defaults: what the webhook uses unless configured otherwise. */
export function defaultCloudProviders(): CloudCredentialProvider[] {
  return [ecrCredentialProvider(), googleCredentialProvider()];
}
