import { createHmac, randomBytes } from 'node:crypto';
import { parseChallenges, type Challenge } from './challenge.js';
import { RegistryFailure } from './errors.js';
import type { HttpResponse, Transport } from './transport.js';
import type { RegistryCredential } from './types.js';
import { settleWithin } from './time-limit.js';

/** Token responses are small; this caps them whatever the manifest limit. */
const TOKEN_BODY_LIMIT = 1024 * 1024;
const DEFAULT_TOKEN_LIFETIME_S = 60;
const MAX_TOKEN_CACHE = 512;
const MAX_HOST_MEMORY = 256;
const TOKEN_VALUE = /^[\x21-\x7e]{1,16384}$/;

/** Per-call state: whom we talk to, with which credentials, until when. */
export interface CallAuth {
  /** Host actually contacted (`registry-1.docker.io` for docker.io), with port. */
  readonly host: string;
  /** Repository path, e.g. `library/nginx`. */
  readonly path: string;
  readonly credentials: readonly RegistryCredential[];
  readonly deadline: number;
  /** The Authorization that worked so far in this call (sent first on the next request). */
  authorization?: string;
  /** Every Authorization value this call sent: what its messages must never echo. */
  readonly sent?: Set<string>;
  /** The registry is reached over plain http (--insecure-registries): only then may its token realm be plain http too. */
  readonly insecure?: boolean;
}

interface CachedToken {
  token: string;
  expiresAt: number;
  /** HMAC of the credential under a per-process key: a cached token is reused only for the same secret. */
  verifier: string;
}

interface AcceptedBasic {
  id: string;
  verifier: string;
}

type Candidate = { kind: 'credential'; credential: RegistryCredential } | { kind: 'anonymous' };

type TokenOutcome = { token: string } | { rejected: number; note?: string };

export interface AuthenticatorOptions {
  transport: Transport;
  timeoutMs: number;
  maxBytes: number;
  isInsecureHost(host: string): boolean;
}

/**
 * Registry authentication: anonymous first; on 401 the `WWW-Authenticate` challenge decides.
 * Basic: each credential in order until one is accepted. Bearer: a token from the realm for
 * `repository:<path>:pull`, fetched with each credential in turn and then anonymously; tokens
 * are cached until `expires_in` keyed by (registry, realm, service, scope, credential id).
 * Secrets are never used as keys nor put in messages.
 */
export class Authenticator {
  private readonly tokens = new Map<string, CachedToken>();
  private readonly pending = new Map<string, Promise<TokenOutcome>>();
  /** Last challenge seen per registry host (no secrets): lets later calls send a cached token at once. */
  private readonly challenges = new Map<string, Challenge>();
  private readonly acceptedBasic = new Map<string, AcceptedBasic>();
  private readonly hmacKey = randomBytes(32);

  constructor(private readonly options: AuthenticatorOptions) {}

  /** Sends `send` with the call's current Authorization, negotiating on 401 (and on 403 when other credentials remain). */
  async send(call: CallAuth, sendRaw: (authorization: string | undefined) => Promise<HttpResponse>): Promise<HttpResponse> {
    const send = (authorization: string | undefined): Promise<HttpResponse> => {
      if (authorization !== undefined) call.sent?.add(authorization);
      return sendRaw(authorization);
    };
    if (call.authorization === undefined) call.authorization = this.preemptive(call);
    const first = call.authorization;
    const response = await send(first);
    if (response.crossOrigin) return response;
    // A credential sent up front (accepted by an earlier call, for another repository of the
    // host or before the account reached its pull limit) answered as a stranger is: the
    // others are tried as after a challenge, and its answer stands if none does better.
    const upFront = first !== undefined && (response.status === 404 || response.status === 429) && call.credentials.length > 1;
    if (!upFront && response.status !== 401 && response.status !== 403) return response;
    if (response.status === 403 && first === undefined && call.credentials.length === 0) return response;

    const challenge = pickChallenge(parseChallenges(response.headers['www-authenticate'])) ?? this.challenges.get(call.host);
    if (challenge === undefined) {
      if (response.status === 403 || upFront) return response;
      throw new RegistryFailure('unauthorized', 'unauthorized (HTTP 401) and the registry sent no Basic or Bearer challenge', 401);
    }
    remember(this.challenges, call.host, challenge, MAX_HOST_MEMORY);

    const tried: Attempt[] = [];
    let anonymousTried = first === undefined && challenge.scheme === 'basic';
    let lastStatus = response.status;
    const candidates: Candidate[] = call.credentials.map((credential) => ({ kind: 'credential', credential }));
    if (challenge.scheme === 'bearer') candidates.push({ kind: 'anonymous' });
    const record = (candidate: Candidate, note?: string): void => {
      if (candidate.kind === 'anonymous') anonymousTried = true;
      else tried.push(note !== undefined ? { id: candidate.credential.id, note } : { id: candidate.credential.id });
    };

    for (const [index, candidate] of candidates.entries()) {
      let authorization: string | undefined;
      if (challenge.scheme === 'basic') {
        if (candidate.kind !== 'credential') continue;
        authorization = basic(candidate.credential);
        if (authorization === first) {
          // Sent up front and refused already.
          record(candidate);
          continue;
        }
      } else {
        let outcome = await this.token(call, challenge, candidate);
        if (upFront && !('rejected' in outcome) && `Bearer ${outcome.token}` === first) {
          // The token sent up front, answered 404 or 429: not kept, lest later calls send it first again.
          this.forgetToken(call, challenge, candidate);
          continue;
        }
        if (!('rejected' in outcome) && `Bearer ${outcome.token}` === first) {
          // The cached token sent up front was refused (revoked or expired early): fetch a fresh one.
          this.forgetToken(call, challenge, candidate);
          outcome = await this.token(call, challenge, candidate);
        }
        if ('rejected' in outcome) {
          record(candidate, outcome.note);
          lastStatus = outcome.rejected;
          continue;
        }
        authorization = `Bearer ${outcome.token}`;
      }
      const retried = await send(authorization);
      if (!retried.crossOrigin && (retried.status === 401 || retried.status === 403)) {
        record(candidate);
        lastStatus = retried.status;
        if (challenge.scheme === 'bearer') this.forgetToken(call, challenge, candidate);
        continue;
      }
      if (
        !retried.crossOrigin &&
        (retried.status === 404 || retried.status === 429) &&
        candidate.kind === 'credential' &&
        candidates.slice(index + 1).some((later) => later.kind === 'credential')
      ) {
        // An account may be answered as a stranger is: a private repository it is not shown
        // (404), or its own pull limit (429). The kubelet then pulls with the next credential.
        // Its token is not kept either, lest later calls send it up front and stop there.
        if (challenge.scheme === 'bearer') this.forgetToken(call, challenge, candidate);
        continue;
      }
      call.authorization = authorization;
      if (challenge.scheme === 'basic' && candidate.kind === 'credential') {
        remember(this.acceptedBasic, call.host, { id: candidate.credential.id, verifier: this.verifier(candidate.credential) }, MAX_HOST_MEMORY);
      }
      return retried;
    }

    if (upFront) return response;
    const denied = lastStatus === 403;
    throw new RegistryFailure(
      denied ? 'denied' : 'unauthorized',
      `${denied ? 'access denied' : 'unauthorized'} (HTTP ${lastStatus}) ${describeAttempts(tried, anonymousTried)}`,
      lastStatus,
    );
  }

  /**
   * An Authorization to send before any challenge: a cached token or an accepted Basic
   * credential for this host. A cached anonymous token is sent only by calls without
   * credentials: a registry may answer it with 429 (an anonymous pull limit) or 404 (a
   * private repository hidden from strangers) rather than 401, and then the call's own
   * credentials would never be tried. Such a call starts without Authorization instead, and
   * the registry's 401 leads to its credentials.
   */
  private preemptive(call: CallAuth): string | undefined {
    const challenge = this.challenges.get(call.host);
    if (challenge === undefined) return undefined;
    if (challenge.scheme === 'basic') {
      const accepted = this.acceptedBasic.get(call.host);
      if (accepted === undefined) return undefined;
      const credential = call.credentials.find((c) => c.id === accepted.id && this.verifier(c) === accepted.verifier);
      return credential !== undefined ? basic(credential) : undefined;
    }
    const candidates: Candidate[] =
      call.credentials.length > 0 ? call.credentials.map((credential): Candidate => ({ kind: 'credential', credential })) : [{ kind: 'anonymous' }];
    for (const candidate of candidates) {
      const cached = this.cachedToken(this.tokenKey(call, challenge, candidate), this.verifierOf(candidate));
      if (cached !== undefined) return `Bearer ${cached}`;
    }
    return undefined;
  }

  private async token(call: CallAuth, challenge: Challenge, candidate: Candidate): Promise<TokenOutcome> {
    const key = this.tokenKey(call, challenge, candidate);
    const verifier = this.verifierOf(candidate);
    const cached = this.cachedToken(key, verifier);
    if (cached !== undefined) return { token: cached };
    const pendingKey = `${key}\n${verifier}`;
    let pending = this.pending.get(pendingKey);
    if (pending === undefined) {
      if (Date.now() >= call.deadline) throw new RegistryFailure('timeout', `timed out after ${this.options.timeoutMs} ms before fetching a token for ${call.host}`);
      // Other calls may join this fetch: it is bound by a timeout of its own, not by the
      // deadline of the call that happened to start it.
      pending = this.fetchToken(call, challenge, candidate, key, verifier, Date.now() + this.options.timeoutMs).finally(() => this.pending.delete(pendingKey));
      this.pending.set(pendingKey, pending);
    }
    // Shared with other calls: this call waits for it until its own deadline, while the fetch goes on for the others.
    const timeoutMs = this.options.timeoutMs;
    return settleWithin(pending, call.deadline - Date.now(), () => new RegistryFailure('timeout', `timed out after ${timeoutMs} ms waiting for a token for ${call.host}`));
  }

  private async fetchToken(call: CallAuth, challenge: Challenge, candidate: Candidate, key: string, verifier: string, deadline: number): Promise<TokenOutcome> {
    const realmText = challenge.params.realm;
    let realm: URL;
    try {
      if (realmText === undefined) throw new Error('no realm');
      realm = new URL(realmText);
      if (realm.protocol !== 'https:' && realm.protocol !== 'http:') throw new Error('bad protocol');
    } catch {
      throw new RegistryFailure('invalid', `the registry's Bearer challenge has no valid realm URL`);
    }
    if (realm.username !== '' || realm.password !== '') {
      throw new RegistryFailure('invalid', `the registry's Bearer realm URL must not contain user information`);
    }
    if (realm.protocol === 'http:' && call.insecure !== true) {
      throw new RegistryFailure('refused', `the registry's token realm ${realm.host} is plain http, which only registries in --insecure-registries may use`);
    }
    if (
      candidate.kind === 'credential' &&
      realm.protocol === 'http:' &&
      !this.options.isInsecureHost(realm.host) &&
      !this.options.isInsecureHost(realm.hostname)
    ) {
      // Credentials go over plain http only to hosts the operator listed as insecure.
      return { rejected: 401, note: 'not sent: plain-http token realm' };
    }
    const url = new URL(realm.href);
    if (challenge.params.service !== undefined) url.searchParams.set('service', challenge.params.service);
    url.searchParams.set('scope', scopeFor(call.path));
    const response = await this.options.transport.request({
      method: 'GET',
      url,
      ...(candidate.kind === 'credential' ? { authorization: basic(candidate.credential) } : {}),
      headers: { accept: 'application/json' },
      maxBytes: Math.min(this.options.maxBytes, TOKEN_BODY_LIMIT),
      timeoutMs: this.options.timeoutMs,
      deadline,
      what: 'token',
    });
    if (response.status === 401 || response.status === 403) return { rejected: response.status };
    if (response.status < 200 || response.status >= 300) {
      const kind = response.status === 429 ? 'rate-limited' : response.status >= 500 ? 'server' : 'http';
      throw new RegistryFailure(kind, `token server ${realm.host} answered HTTP ${response.status}`, response.status);
    }
    const parsed = parseTokenResponse(response.body);
    if (parsed === undefined) throw new RegistryFailure('invalid', `token server ${realm.host} sent an invalid token response`);
    const lifetimeMs = parsed.expiresIn * 1000;
    const expiresAt = Date.now() + lifetimeMs - Math.min(lifetimeMs / 10, 30_000);
    this.tokens.set(key, { token: parsed.token, expiresAt, verifier });
    this.prune();
    return { token: parsed.token };
  }

  private cachedToken(key: string, verifier: string): string | undefined {
    const cached = this.tokens.get(key);
    if (cached === undefined) return undefined;
    if (cached.expiresAt <= Date.now()) {
      this.tokens.delete(key);
      return undefined;
    }
    return cached.verifier === verifier ? cached.token : undefined;
  }

  private forgetToken(call: CallAuth, challenge: Challenge, candidate: Candidate): void {
    this.tokens.delete(this.tokenKey(call, challenge, candidate));
  }

  private tokenKey(call: CallAuth, challenge: Challenge, candidate: Candidate): string {
    const who = candidate.kind === 'credential' ? `credential:${candidate.credential.id}` : 'anonymous';
    return [call.host, challenge.params.realm ?? '', challenge.params.service ?? '', scopeFor(call.path), who].join('\n');
  }

  private verifierOf(candidate: Candidate): string {
    return candidate.kind === 'credential' ? this.verifier(candidate.credential) : 'anonymous';
  }

  private verifier(credential: RegistryCredential): string {
    return createHmac('sha256', this.hmacKey).update(credential.username).update('\0').update(credential.password).digest('base64');
  }

  private prune(): void {
    if (this.tokens.size <= MAX_TOKEN_CACHE) return;
    const now = Date.now();
    for (const [key, entry] of this.tokens) if (entry.expiresAt <= now) this.tokens.delete(key);
    for (const key of this.tokens.keys()) {
      if (this.tokens.size <= MAX_TOKEN_CACHE) break;
      this.tokens.delete(key);
    }
  }
}

export function scopeFor(path: string): string {
  return `repository:${path}:pull`;
}

function basic(credential: RegistryCredential): string {
  return `Basic ${Buffer.from(`${credential.username}:${credential.password}`, 'utf8').toString('base64')}`;
}

function pickChallenge(challenges: Challenge[]): Challenge | undefined {
  return challenges.find((c) => c.scheme === 'bearer') ?? challenges.find((c) => c.scheme === 'basic');
}

function remember<V>(map: Map<string, V>, key: string, value: V, max: number): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > max) {
    const oldest = map.keys().next();
    if (oldest.done !== true) map.delete(oldest.value);
  }
}

interface Attempt {
  id: string;
  note?: string;
}

/** "with credentials A, B and anonymously" / "anonymously (no pull credentials)" / "with credentials A (note)". */
function describeAttempts(attempts: readonly Attempt[], anonymous: boolean): string {
  const seen = new Set<string>();
  const labels: string[] = [];
  for (const attempt of attempts) {
    if (seen.has(attempt.id)) continue;
    seen.add(attempt.id);
    labels.push(attempt.note !== undefined ? `${attempt.id} (${attempt.note})` : attempt.id);
  }
  if (labels.length === 0) return anonymous ? 'anonymously (no pull credentials)' : 'with no credentials';
  if (anonymous) return `with credentials ${labels.join(', ')} and anonymously`;
  const last = labels.pop() ?? '';
  return `with credentials ${labels.length > 0 ? `${labels.join(', ')} and ` : ''}${last}`;
}

function parseTokenResponse(body: Buffer): { token: string; expiresIn: number } | undefined {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const record = value as Record<string, unknown>;
  const token = typeof record.token === 'string' && record.token !== '' ? record.token : record.access_token;
  if (typeof token !== 'string' || !TOKEN_VALUE.test(token)) return undefined;
  const expiresIn =
    typeof record.expires_in === 'number' && Number.isFinite(record.expires_in) && record.expires_in > 0
      ? Math.min(record.expires_in, 24 * 3600)
      : DEFAULT_TOKEN_LIFETIME_S;
  return { token, expiresIn };
}
