/**
 * A small node:http server that speaks just enough of the registry API (/v2/) to serve one
 * image (`test/app:v1`, an OCI manifest and its config blob) and to misbehave on demand:
 * slow answers, 5xx, 429, garbage JSON, a body whose digest is not the requested one, huge
 * bodies, bodies that stop half way, 404, 401 forever. Blob requests can be redirected to a second "storage" server
 * (another origin). It can require Basic credentials, or Bearer tokens of its own token
 * endpoint like Docker Hub (with anonymous tokens over a pull limit, or kept away from a
 * private repository). Plain http on 127.0.0.1; counts every request.
 *
 * `fault` and `target` may be changed between requests. Close it with `await close()`.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type Fault =
  | { kind: 'none' }
  /** Waits `delayMs` before answering normally. */
  | { kind: 'slow'; delayMs: number }
  /** Answers `status` with a registry error document (and Retry-After when given). */
  | { kind: 'status'; status: number; retryAfter?: number }
  /** The body is not JSON; its digest is announced (and referenced) correctly, so only parsing fails. */
  | { kind: 'garbage' }
  /** The body differs from the content of the digest that was asked for. */
  | { kind: 'wrong-digest' }
  /** A 200 body of `bytes` bytes, with Content-Length unless `chunked`. */
  | { kind: 'huge'; bytes: number; chunked?: boolean }
  /**
   * A 200 body that sends `bytes` bytes and then stops: the answer stays open (`hold`) or its
   * connection is cut (`cut`). Chunked, unless `declared` gives a Content-Length.
   */
  | { kind: 'stall'; bytes: number; then: 'hold' | 'cut'; declared?: number }
  /** 404 MANIFEST_UNKNOWN / BLOB_UNKNOWN. */
  | { kind: 'not-found' }
  /** 401 with a Basic challenge, whatever the credentials. */
  | { kind: 'unauthorized' };

/** Which requests the fault applies to: manifests, blobs, or every /v2/ request. */
export type FaultTarget = 'manifest' | 'blob' | 'all';

export interface FaultyRequest {
  method: string;
  path: string;
  status: number;
  /** Whether an Authorization header came with the request. */
  authorized: boolean;
  /** Which of the fake's Bearer tokens came with it (bearerAuth only). */
  token?: 'anonymous' | 'user' | 'other';
}

export interface FaultyRegistryOptions {
  fault?: Fault;
  target?: FaultTarget;
  entrypoint?: string[];
  cmd?: string[];
  /** Require these Basic credentials (else 401 with a Basic challenge). */
  basicAuth?: { username: string; password: string };
  /**
   * Require Bearer tokens from the fake's token endpoint (`/token`, same server), like Docker
   * Hub: Basic `username:password` there earns a user token, no credentials an anonymous one,
   * other credentials a 401. Manifest and blob requests with the anonymous token are answered
   * `anonymousStatus` when given (429: an anonymous pull limit; 404: a private repository
   * hidden from strangers). `others` are accounts of the registry too (their token server
   * login succeeds), whose tokens are answered like the anonymous one: accounts without access
   * to the repository, or over their own pull limit.
   */
  bearerAuth?: { username: string; password: string; anonymousStatus?: 429 | 404; others?: Array<{ username: string; password: string }> };
  /** Answer blob GETs with a 307 to a second server (another origin), like registries that use object storage. */
  redirectBlobs?: boolean;
  /** Send manifests without a Docker-Content-Digest header. */
  noDigestHeader?: boolean;
  /** Answer HEAD requests with 405 Method Not Allowed. */
  headNotAllowed?: boolean;
  /** Wait this long before answering the token endpoint (bearerAuth only). */
  tokenDelayMs?: number;
}

export interface FaultyRegistry {
  /** `127.0.0.1:PORT` */
  readonly host: string;
  readonly repo: string;
  readonly tag: string;
  fault: Fault;
  target: FaultTarget;
  /** How long the token endpoint waits before answering (bearerAuth only); may be changed between requests. */
  tokenDelayMs: number;
  /** Digest of the manifest as currently served for the tag (depends on the fault). */
  manifestDigest(): string;
  requests(): FaultyRequest[];
  /** Requests received by the storage server (redirected blobs). */
  storageRequests(): FaultyRequest[];
  close(): Promise<void>;
}

const REPO = 'test/app';
const TAG = 'v1';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const GARBAGE = Buffer.from('<html>this is {not json at all</html>');
const LAYER_DIGEST = `sha256:${'1'.repeat(64)}`;
const ANONYMOUS_TOKEN = 'faulty-anonymous-token';
const USER_TOKEN = 'faulty-user-token';
const OTHER_TOKEN = 'faulty-other-account-token';

function sha256(data: Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

interface Content {
  manifest: Buffer;
  manifestDigest: string;
  config: Buffer;
  configDigest: string;
}

interface Listening {
  server: http.Server;
  host: string;
  sockets: Set<Socket>;
}

async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<Listening> {
  const server = http.createServer(handler);
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, host: `127.0.0.1:${(server.address() as AddressInfo).port}`, sockets };
}

export async function startFaultyRegistry(options: FaultyRegistryOptions = {}): Promise<FaultyRegistry> {
  const log: FaultyRequest[] = [];
  const storageLog: FaultyRequest[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const imageConfig = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: {
        ...(options.entrypoint !== undefined ? { Entrypoint: options.entrypoint } : {}),
        ...(options.cmd !== undefined ? { Cmd: options.cmd } : { Cmd: ['faulty'] }),
      },
      rootfs: { type: 'layers', diff_ids: [] },
    }),
  );

  const state = {
    fault: options.fault ?? ({ kind: 'none' } as Fault),
    target: options.target ?? ('all' as FaultTarget),
    tokenDelayMs: options.tokenDelayMs ?? 0,
  };

  const applies = (kind: 'base' | 'manifest' | 'blob'): boolean => state.target === 'all' || state.target === kind;

  /** The image as served now: a garbage config/manifest still has a consistent digest chain. */
  const content = (): Content => {
    const config = state.fault.kind === 'garbage' && applies('blob') ? GARBAGE : imageConfig;
    const configDigest = sha256(config);
    const manifest =
      state.fault.kind === 'garbage' && applies('manifest')
        ? GARBAGE
        : Buffer.from(
            JSON.stringify({
              schemaVersion: 2,
              mediaType: OCI_MANIFEST,
              config: { mediaType: OCI_CONFIG, size: config.length, digest: configDigest },
              layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', size: 32, digest: LAYER_DIGEST }],
            }),
          );
    return { manifest, manifestDigest: sha256(manifest), config, configDigest };
  };

  const errorBody = (code: string, message: string): string => JSON.stringify({ errors: [{ code, message, detail: {} }] });

  const storage = await listen((req, res) => {
    const url = new URL(req.url ?? '/', 'http://storage');
    const current = content();
    const found = url.pathname === `/storage/${current.configDigest}`;
    storageLog.push({ method: req.method ?? '', path: url.pathname, status: found ? 200 : 404, authorized: req.headers.authorization !== undefined });
    res.writeHead(found ? 200 : 404, { 'content-type': 'application/octet-stream' });
    res.end(found ? current.config : undefined);
  });

  const main = await listen((req, res) => {
    const method = req.method ?? 'GET';
    const url = new URL(req.url ?? '/', 'http://registry');
    const path = url.pathname;
    const authorization = req.headers.authorization;
    const token =
      authorization === `Bearer ${ANONYMOUS_TOKEN}` ? 'anonymous' : authorization === `Bearer ${USER_TOKEN}` ? 'user' : authorization === `Bearer ${OTHER_TOKEN}` ? 'other' : undefined;
    const entry: FaultyRequest = { method, path, status: 0, authorized: authorization !== undefined, ...(token !== undefined ? { token } : {}) };
    log.push(entry);
    const reply = (status: number, headers: Record<string, string | number>, body?: Buffer | string): void => {
      entry.status = status;
      res.writeHead(status, { 'docker-distribution-api-version': 'registry/2.0', ...headers });
      res.end(method === 'HEAD' ? undefined : body);
    };
    const notFound = (code: string, message: string): void =>
      reply(404, { 'content-type': 'application/json' }, errorBody(code, message));

    const manifestMatch = new RegExp(`^/v2/${REPO}/manifests/([^/]+)$`).exec(path);
    const blobMatch = new RegExp(`^/v2/${REPO}/blobs/([^/]+)$`).exec(path);
    const kind: 'base' | 'manifest' | 'blob' | undefined =
      path === '/v2/' ? 'base' : manifestMatch !== null ? 'manifest' : blobMatch !== null ? 'blob' : undefined;

    const serve = (): void => {
      const bearer = options.bearerAuth;
      if (bearer !== undefined && path === '/token') {
        const basic = (account: { username: string; password: string }): string => `Basic ${Buffer.from(`${account.username}:${account.password}`).toString('base64')}`;
        const user = basic(bearer);
        const other = (bearer.others ?? []).some((account) => basic(account) === authorization);
        if (authorization !== undefined && authorization !== user && !other) {
          reply(401, { 'content-type': 'application/json' }, errorBody('UNAUTHORIZED', 'incorrect username or password'));
          return;
        }
        reply(200, { 'content-type': 'application/json' }, JSON.stringify({ token: authorization === user ? USER_TOKEN : other ? OTHER_TOKEN : ANONYMOUS_TOKEN, expires_in: 300 }));
        return;
      }
      if (bearer !== undefined) {
        if (token === undefined) {
          const challenge = `Bearer realm="http://${req.headers.host ?? ''}/token",service="faulty"`;
          reply(401, { 'content-type': 'application/json', 'www-authenticate': challenge }, errorBody('UNAUTHORIZED', 'authentication required'));
          return;
        }
        if ((token === 'anonymous' || token === 'other') && bearer.anonymousStatus !== undefined && (kind === 'manifest' || kind === 'blob')) {
          if (bearer.anonymousStatus === 429) {
            reply(429, { 'content-type': 'application/json' }, errorBody('TOOMANYREQUESTS', 'You have reached your unauthenticated pull rate limit'));
          } else {
            notFound('NAME_UNKNOWN', 'repository name not known to registry');
          }
          return;
        }
      }
      if (options.basicAuth !== undefined) {
        const expected = `Basic ${Buffer.from(`${options.basicAuth.username}:${options.basicAuth.password}`).toString('base64')}`;
        if (req.headers.authorization !== expected) {
          reply(401, { 'content-type': 'application/json', 'www-authenticate': 'Basic realm="faulty"' }, errorBody('UNAUTHORIZED', 'authentication required'));
          return;
        }
      }
      const fault = state.fault;
      if (options.headNotAllowed === true && method === 'HEAD') {
        reply(405, { allow: 'GET' });
        return;
      }
      if (kind === undefined) {
        notFound('NAME_UNKNOWN', 'repository name not known to registry');
        return;
      }
      if (applies(kind)) {
        switch (fault.kind) {
          case 'status': {
            const code = fault.status === 429 ? 'TOOMANYREQUESTS' : fault.status >= 500 ? 'UNAVAILABLE' : 'UNKNOWN';
            reply(
              fault.status,
              { 'content-type': 'application/json', ...(fault.retryAfter !== undefined ? { 'retry-after': fault.retryAfter } : {}) },
              errorBody(code, `injected HTTP ${fault.status}`),
            );
            return;
          }
          case 'not-found':
            if (kind === 'blob') notFound('BLOB_UNKNOWN', 'blob unknown to registry');
            else notFound('MANIFEST_UNKNOWN', 'manifest unknown');
            return;
          case 'unauthorized':
            reply(401, { 'content-type': 'application/json', 'www-authenticate': 'Basic realm="faulty"' }, errorBody('UNAUTHORIZED', 'authentication required'));
            return;
          case 'huge':
            if (kind !== 'base') {
              sendHuge(res, entry, method, fault.bytes, fault.chunked === true);
              return;
            }
            break;
          case 'stall':
            if (kind !== 'base') {
              entry.status = 200;
              res.writeHead(200, { 'content-type': OCI_MANIFEST, ...(fault.declared !== undefined ? { 'content-length': fault.declared } : {}) });
              if (method === 'HEAD') {
                res.end();
                return;
              }
              res.write(Buffer.alloc(fault.bytes, 0x20), () => {
                if (fault.then === 'cut') res.destroy();
              });
              return;
            }
            break;
          default:
            break;
        }
      }
      const current = content();
      const wrong = state.fault.kind === 'wrong-digest' && kind !== 'base' && applies(kind);
      if (kind === 'base') {
        reply(200, { 'content-type': 'application/json' }, '{}');
      } else if (kind === 'manifest') {
        const reference = manifestMatch?.[1] ?? '';
        if (reference !== TAG && reference !== current.manifestDigest) {
          notFound('MANIFEST_UNKNOWN', 'manifest unknown');
          return;
        }
        // wrong-digest: announce the real digest but send other bytes (still valid JSON).
        const body = wrong ? Buffer.concat([current.manifest, Buffer.from('\n')]) : current.manifest;
        reply(
          200,
          {
            'content-type': OCI_MANIFEST,
            ...(options.noDigestHeader === true ? {} : { 'docker-content-digest': current.manifestDigest }),
            'content-length': body.length,
          },
          body,
        );
      } else {
        const digest = blobMatch?.[1] ?? '';
        if (digest !== current.configDigest) {
          notFound('BLOB_UNKNOWN', 'blob unknown to registry');
          return;
        }
        if (options.redirectBlobs === true && method === 'GET') {
          reply(307, { location: `http://${storage.host}/storage/${digest}` });
          return;
        }
        const body = wrong ? Buffer.from(current.config.toString().replace('"amd64"', '"arm64"')) : current.config;
        reply(200, { 'content-type': 'application/octet-stream', 'docker-content-digest': digest, 'content-length': body.length }, body);
      }
    };

    const delayMs =
      state.fault.kind === 'slow' && kind !== undefined && applies(kind) ? state.fault.delayMs : path === '/token' && state.tokenDelayMs > 0 ? state.tokenDelayMs : 0;
    if (delayMs > 0) {
      const timer = setTimeout(() => {
        timers.delete(timer);
        if (!res.destroyed) serve();
      }, delayMs);
      timers.add(timer);
    } else {
      serve();
    }
  });

  return {
    host: main.host,
    repo: REPO,
    tag: TAG,
    get fault() {
      return state.fault;
    },
    set fault(value: Fault) {
      state.fault = value;
    },
    get target() {
      return state.target;
    },
    set target(value: FaultTarget) {
      state.target = value;
    },
    get tokenDelayMs() {
      return state.tokenDelayMs;
    },
    set tokenDelayMs(value: number) {
      state.tokenDelayMs = value;
    },
    manifestDigest: () => content().manifestDigest,
    requests: () => log.map((r) => ({ ...r })),
    storageRequests: () => storageLog.map((r) => ({ ...r })),
    async close() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      for (const { server, sockets } of [main, storage]) {
        for (const socket of sockets) socket.destroy();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
    },
  };
}

/** Streams `bytes` bytes of a JSON-looking body, honouring backpressure; stops when the client goes away. */
function sendHuge(res: ServerResponse, entry: FaultyRequest, method: string, bytes: number, chunked: boolean): void {
  entry.status = 200;
  res.writeHead(200, { 'content-type': OCI_MANIFEST, ...(chunked ? {} : { 'content-length': bytes }) });
  if (method === 'HEAD') {
    res.end();
    return;
  }
  const chunk = Buffer.alloc(64 * 1024, 0x20);
  let sent = 0;
  const pump = (): void => {
    while (sent < bytes && !res.destroyed) {
      const size = Math.min(chunk.length, bytes - sent);
      sent += size;
      if (!res.write(chunk.subarray(0, size))) {
        res.once('drain', pump);
        return;
      }
    }
    if (!res.destroyed) res.end();
  };
  pump();
}
