/**
 * A REAL container registry for tests: Debian's `docker-registry` (CNCF distribution 2.8),
 * started on 127.0.0.1 with a generated config in a temp dir, optionally with htpasswd
 * Basic auth, TLS (test CA), or token auth backed by a small in-process token server that
 * signs RS256 JWTs with an `x5c` chain rooted in the registry's `rootcertbundle`.
 *
 * Images are pushed through the registry HTTP API (blob upload, then manifest PUT).
 *
 * Nothing is skipped: if `docker-registry` (or `htpasswd`) is missing, `startRegistry`
 * throws an error naming the Debian package, so the tests FAIL. CI installs them with
 * `apt-get install -y --no-install-recommends docker-registry apache2-utils`.
 *
 * Every registry must be closed (`await registry.close()`, e.g. in `t.teardown`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes, sign, X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { constants } from 'node:fs';
import { access, mkdtemp, rm, writeFile } from 'node:fs/promises';
import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { delimiter, join } from 'node:path';
import { tmpdir } from 'node:os';
import { gzipSync } from 'node:zlib';
import { makeTestCertificates } from './certs.js';

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface LoggedRequest {
  method: string;
  /** Path and query as logged, e.g. `/v2/app/manifests/v1`. */
  path: string;
  status: number;
}

export interface TokenServer {
  /** `127.0.0.1:PORT` (plain http). */
  host: string;
  realm: string;
  /** Every token request: who asked (`anonymous` or the user name), the scopes, and the answer. */
  requests(): Array<{ user: string; scopes: string[]; status: number }>;
}

export interface TestRegistry {
  /** `127.0.0.1:PORT` */
  host: string;
  /** The CA that signed the registry's certificate (TLS registries only). */
  caPem?: string;
  /** Requests the registry has logged so far (its access log; lines arrive asynchronously). */
  requests(): LoggedRequest[];
  /** Resolves once at least `count` requests are logged (bounded; rejects after `timeoutMs`). */
  waitForRequests(count: number, timeoutMs?: number): Promise<LoggedRequest[]>;
  /**
   * How many requests are logged once no line has arrived for `quietMs` (at most 5 s): the
   * count to slice from, with the lines of requests already answered all in (a loaded
   * machine writes them late).
   */
  settled(quietMs?: number): Promise<number>;
  /** The token server, for token-auth registries. */
  token?: TokenServer;
  close(): Promise<void>;
}

export interface User {
  username: string;
  password: string;
}

export interface StartOptions {
  htpasswd?: User[];
  tls?: boolean;
  /** Token auth: users get pull+push on every repository; anonymous callers get a token with no access. */
  token?: { users: User[]; expiresInSeconds?: number };
}

export interface ImageSpec {
  entrypoint?: string[];
  cmd?: string[];
  architecture?: string;
  os?: string;
  variant?: string;
}

export interface PushOptions {
  mediaType?: 'oci' | 'docker';
  /** Credentials for pushing; defaults to the registry's first user. */
  auth?: User;
}

const START_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 5_000;
const HTTP_TIMEOUT_MS = 10_000;
const TOKEN_SERVICE = 'secrets-init-test-registry';
const TOKEN_ISSUER = 'secrets-init-test-issuer';
const INSTALL_HINT = 'apt-get install -y --no-install-recommends docker-registry apache2-utils';

const MEDIA = {
  oci: {
    manifest: 'application/vnd.oci.image.manifest.v1+json',
    index: 'application/vnd.oci.image.index.v1+json',
    config: 'application/vnd.oci.image.config.v1+json',
    layer: 'application/vnd.oci.image.layer.v1.tar+gzip',
  },
  docker: {
    manifest: 'application/vnd.docker.distribution.manifest.v2+json',
    index: 'application/vnd.docker.distribution.manifest.list.v2+json',
    config: 'application/vnd.docker.container.image.v1+json',
    layer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  },
} as const;

interface Internals {
  protocol: 'http:' | 'https:';
  caPem?: string;
  users: User[];
  /** Authorization per repository, reused across pushes. */
  authorizations: Map<string, string>;
}

const internals = new WeakMap<TestRegistry, Internals>();
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

async function findExecutable(name: string, pkg: string): Promise<string> {
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not here.
    }
  }
  throw new Error(
    `"${name}" is not installed: the registry tests need the Debian package "${pkg}" (CI: ${INSTALL_HINT}). These tests are never skipped.`,
  );
}

/** A bcrypt htpasswd file (the only hash distribution accepts), made by `htpasswd -niB`. */
async function htpasswdFile(users: User[]): Promise<string> {
  const binary = await findExecutable('htpasswd', 'apache2-utils');
  const lines: string[] = [];
  for (const { username, password } of users) {
    const child = spawn(binary, ['-niB', username], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.stdin.end(password);
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    const [code] = (await once(child, 'close')) as [number | null];
    clearTimeout(timer);
    const line = out.split('\n').find((l) => l.startsWith(`${username}:$2`));
    if (code !== 0 || line === undefined) throw new Error(`htpasswd failed (exit ${code}): ${err.trim()}`);
    lines.push(line);
  }
  return `${lines.join('\n')}\n`;
}

/** YAML double-quoted scalars are JSON strings. */
const q = (value: string): string => JSON.stringify(value);

function base64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

interface TokenServerHandle extends TokenServer {
  rootBundle: string;
  close(): Promise<void>;
}

async function startTokenServer(users: User[], expiresInSeconds: number): Promise<TokenServerHandle> {
  const certs = await makeTestCertificates('rsa-pkcs8');
  await certs.cleanup();
  const leafDer = new X509Certificate(certs.certPem).raw.toString('base64');
  const log: Array<{ user: string; scopes: string[]; status: number }> = [];
  const sockets = new Set<Socket>();

  const server = http.createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://token');
    const scopes = url.searchParams.getAll('scope').flatMap((s) => s.split(' ')).filter((s) => s !== '');
    const reply = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    let user = 'anonymous';
    const header = req.headers.authorization;
    if (header !== undefined) {
      const match = /^Basic\s+(\S+)$/i.exec(header);
      const decoded = match?.[1] !== undefined ? Buffer.from(match[1], 'base64').toString('utf8') : '';
      const colon = decoded.indexOf(':');
      const found = users.find((u) => colon > 0 && u.username === decoded.slice(0, colon) && u.password === decoded.slice(colon + 1));
      if (found === undefined) {
        log.push({ user: colon > 0 ? decoded.slice(0, colon) : '?', scopes, status: 401 });
        reply(401, { errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] });
        return;
      }
      user = found.username;
    }
    if (url.pathname !== '/token' || url.searchParams.get('service') !== TOKEN_SERVICE) {
      log.push({ user, scopes, status: 400 });
      reply(400, { errors: [{ code: 'BAD_REQUEST', message: 'unknown service or path' }] });
      return;
    }
    const access = user === 'anonymous' ? [] : scopes.flatMap(grant);
    const now = Math.floor(Date.now() / 1000);
    const headerJson = { typ: 'JWT', alg: 'RS256', x5c: [leafDer] };
    const claims = {
      iss: TOKEN_ISSUER,
      sub: user === 'anonymous' ? '' : user,
      aud: TOKEN_SERVICE,
      exp: now + expiresInSeconds,
      nbf: now - 30,
      iat: now,
      jti: randomBytes(12).toString('hex'),
      access,
    };
    const input = `${base64url(JSON.stringify(headerJson))}.${base64url(JSON.stringify(claims))}`;
    const signature = sign('sha256', Buffer.from(input), certs.keyPem);
    const token = `${input}.${base64url(signature)}`;
    log.push({ user, scopes, status: 200 });
    reply(200, { token, access_token: token, expires_in: expiresInSeconds, issued_at: new Date(now * 1000).toISOString() });
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    host,
    realm: `http://${host}/token`,
    rootBundle: certs.caPem,
    requests: () => log.map((entry) => ({ ...entry, scopes: [...entry.scopes] })),
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** `repository:<name>:<actions>` → the granted entry (users get pull and push). */
function grant(scope: string): Array<{ type: string; name: string; actions: string[] }> {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first < 0 || last <= first) return [];
  const type = scope.slice(0, first);
  const name = scope.slice(first + 1, last);
  const actions = scope
    .slice(last + 1)
    .split(',')
    .filter((a) => a === 'pull' || a === 'push');
  return type === 'repository' ? [{ type, name, actions }] : [];
}

export async function startRegistry(options: StartOptions = {}): Promise<TestRegistry> {
  const binary = await findExecutable('docker-registry', 'docker-registry');
  if (options.htpasswd !== undefined && options.token !== undefined) throw new Error('choose htpasswd or token auth, not both');
  const dir = await mkdtemp(join(tmpdir(), 'secrets-init-registry-'));
  let tokenServer: TokenServerHandle | undefined;
  let child: ChildProcess | undefined;
  try {
    const lines = [
      'version: 0.1',
      'log:',
      '  level: info',
      '  formatter: text',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${q(join(dir, 'data'))}`,
      '  delete:',
      '    enabled: true',
      'http:',
      '  addr: "127.0.0.1:0"',
      `  secret: ${q(randomBytes(16).toString('hex'))}`,
    ];
    let caPem: string | undefined;
    if (options.tls === true) {
      const certs = await makeTestCertificates('rsa-pkcs8');
      await certs.cleanup();
      await writeFile(join(dir, 'cert.pem'), certs.certPem);
      await writeFile(join(dir, 'key.pem'), certs.keyPem, { mode: 0o600 });
      caPem = certs.caPem;
      lines.push('  tls:', `    certificate: ${q(join(dir, 'cert.pem'))}`, `    key: ${q(join(dir, 'key.pem'))}`);
    }
    if (options.htpasswd !== undefined) {
      await writeFile(join(dir, 'htpasswd'), await htpasswdFile(options.htpasswd), { mode: 0o600 });
      lines.push('auth:', '  htpasswd:', '    realm: "secrets-init-test"', `    path: ${q(join(dir, 'htpasswd'))}`);
    }
    if (options.token !== undefined) {
      tokenServer = await startTokenServer(options.token.users, options.token.expiresInSeconds ?? 300);
      await writeFile(join(dir, 'token-root.pem'), tokenServer.rootBundle);
      lines.push(
        'auth:',
        '  token:',
        `    realm: ${q(tokenServer.realm)}`,
        `    service: ${q(TOKEN_SERVICE)}`,
        `    issuer: ${q(TOKEN_ISSUER)}`,
        `    rootcertbundle: ${q(join(dir, 'token-root.pem'))}`,
      );
    }
    await writeFile(join(dir, 'config.yml'), `${lines.join('\n')}\n`);

    const started = spawn(binary, ['serve', join(dir, 'config.yml')], { stdio: ['ignore', 'pipe', 'pipe'], cwd: dir });
    child = started;
    running.add(started);
    const logged: LoggedRequest[] = [];
    let stderr = '';
    let stdoutRest = '';
    started.stdout?.on('data', (chunk: Buffer) => {
      stdoutRest += chunk.toString();
      const parts = stdoutRest.split('\n');
      stdoutRest = parts.pop() ?? '';
      for (const line of parts) {
        const match = /"([A-Z]+) (\S+) HTTP\/[\d.]+" (\d{3}) /.exec(line);
        if (match?.[1] !== undefined && match[2] !== undefined && match[3] !== undefined) {
          logged.push({ method: match[1], path: match[2], status: Number(match[3]) });
        }
      }
    });
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`docker-registry did not report its port within ${START_TIMEOUT_MS} ms:\n${stderr}`)), START_TIMEOUT_MS);
      started.stderr?.on('data', (chunk: Buffer) => {
        if (stderr.length < 100_000) stderr += chunk.toString();
        const match = /listening on 127\.0\.0\.1:(\d+)/.exec(stderr);
        if (match?.[1] !== undefined) {
          clearTimeout(timer);
          resolve(Number(match[1]));
        }
      });
      started.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`docker-registry exited (${code ?? signal}) before listening:\n${stderr}`));
      });
      started.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
    // Keep draining stderr so the process never blocks on a full pipe.
    started.stderr?.resume();

    const host = `127.0.0.1:${port}`;
    const stopTokenServer = tokenServer;
    let closed = false;
    const registry: TestRegistry = {
      host,
      requests: () => logged.map((entry) => ({ ...entry })),
      async waitForRequests(count: number, timeoutMs = 5_000) {
        const until = Date.now() + timeoutMs;
        while (logged.length < count) {
          if (Date.now() > until) throw new Error(`only ${logged.length} of ${count} requests logged within ${timeoutMs} ms`);
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
        return logged.map((entry) => ({ ...entry }));
      },
      async settled(quietMs = 100) {
        const until = Date.now() + 5_000;
        let count = logged.length;
        let since = Date.now();
        while (Date.now() - since < quietMs && Date.now() < until) {
          await new Promise((resolve) => setTimeout(resolve, 10));
          if (logged.length !== count) {
            count = logged.length;
            since = Date.now();
          }
        }
        return count;
      },
      async close() {
        if (closed) return;
        closed = true;
        await stopProcess(started);
        await stopTokenServer?.close();
        await rm(dir, { recursive: true, force: true });
      },
    };
    if (caPem !== undefined) registry.caPem = caPem;
    if (tokenServer !== undefined) {
      const { host: tokenHost, realm, requests } = tokenServer;
      registry.token = { host: tokenHost, realm, requests };
    }
    const users = options.htpasswd ?? options.token?.users ?? [];
    internals.set(registry, {
      protocol: options.tls === true ? 'https:' : 'http:',
      ...(caPem !== undefined ? { caPem } : {}),
      users,
      authorizations: new Map(),
    });
    return registry;
  } catch (err) {
    if (child !== undefined) await stopProcess(child);
    await tokenServer?.close();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

async function stopProcess(child: ChildProcess): Promise<void> {
  running.delete(child);
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}

// ---------------------------------------------------------------------------------------------
// Pushing through the HTTP API.

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

function send(state: Internals, method: string, url: URL, headers: Record<string, string>, body?: Buffer): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const secure = url.protocol === 'https:';
    const options = { method, headers: { ...headers, ...(body !== undefined ? { 'content-length': String(body.length) } : {}) }, agent: false as const };
    const req = secure
      ? https.request(url, { ...options, ...(state.caPem !== undefined ? { ca: state.caPem } : {}) })
      : http.request(url, options);
    const timer = setTimeout(() => req.destroy(new Error(`${method} ${url.href} timed out`)), HTTP_TIMEOUT_MS);
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) });
      });
      res.on('error', reject);
    });
    req.end(body);
  });
}

function basicHeader(user: User): string {
  return `Basic ${Buffer.from(`${user.username}:${user.password}`).toString('base64')}`;
}

/** Obtains an Authorization for pushing to `repo` from a 401 challenge. */
async function authorize(state: Internals, challenge: string, repo: string, user: User | undefined): Promise<string> {
  if (user === undefined) throw new Error(`the registry asks for credentials (${challenge}) and none were given`);
  if (/^Basic\b/i.test(challenge)) return basicHeader(user);
  const params = Object.fromEntries([...challenge.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
  if (!/^Bearer\b/i.test(challenge) || params.realm === undefined) throw new Error(`unsupported challenge ${challenge}`);
  const url = new URL(params.realm);
  if (params.service !== undefined) url.searchParams.set('service', params.service);
  url.searchParams.set('scope', `repository:${repo}:pull,push`);
  const reply = await send(state, 'GET', url, { authorization: basicHeader(user) });
  if (reply.status !== 200) throw new Error(`token request failed: HTTP ${reply.status}`);
  const parsed = JSON.parse(reply.body.toString()) as { token?: string };
  if (typeof parsed.token !== 'string') throw new Error('token response without token');
  return `Bearer ${parsed.token}`;
}

/** Sends a request to the registry, authenticating on 401 (once) and reusing that for the repo. */
async function call(registry: TestRegistry, repo: string, auth: User | undefined, method: string, target: string | URL, headers: Record<string, string>, body?: Buffer): Promise<Reply> {
  const state = internals.get(registry);
  if (state === undefined) throw new Error('not a registry from startRegistry()');
  const url = typeof target === 'string' ? new URL(target, `${state.protocol}//${registry.host}`) : target;
  const user = auth ?? state.users[0];
  const key = `${repo}\n${user?.username ?? ''}`;
  const known = state.authorizations.get(key);
  let reply = await send(state, method, url, known !== undefined ? { ...headers, authorization: known } : headers, body);
  if (reply.status === 401) {
    const challenge = reply.headers['www-authenticate'];
    const authorization = await authorize(state, Array.isArray(challenge) ? (challenge[0] ?? '') : (challenge ?? ''), repo, user);
    state.authorizations.set(key, authorization);
    reply = await send(state, method, url, { ...headers, authorization }, body);
  }
  return reply;
}

function sha256(data: Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

async function pushBlob(registry: TestRegistry, repo: string, auth: User | undefined, data: Buffer): Promise<string> {
  const digest = sha256(data);
  const started = await call(registry, repo, auth, 'POST', `/v2/${repo}/blobs/uploads/`, {});
  const location = started.headers.location;
  if (started.status !== 202 || typeof location !== 'string') throw new Error(`blob upload start failed: HTTP ${started.status} ${started.body.toString()}`);
  const state = internals.get(registry);
  const url = new URL(location, `${state?.protocol ?? 'http:'}//${registry.host}`);
  url.searchParams.set('digest', digest);
  const done = await call(registry, repo, auth, 'PUT', url, { 'content-type': 'application/octet-stream' }, data);
  if (done.status !== 201) throw new Error(`blob upload failed: HTTP ${done.status} ${done.body.toString()}`);
  return digest;
}

async function putManifest(registry: TestRegistry, repo: string, reference: string, mediaType: string, manifest: Buffer, auth: User | undefined): Promise<string> {
  const reply = await call(registry, repo, auth, 'PUT', `/v2/${repo}/manifests/${reference}`, { 'content-type': mediaType }, manifest);
  if (reply.status !== 201) throw new Error(`manifest PUT ${repo}:${reference} failed: HTTP ${reply.status} ${reply.body.toString()}`);
  const digest = sha256(manifest);
  const announced = reply.headers['docker-content-digest'];
  if (announced !== undefined && announced !== digest) throw new Error(`registry announced ${String(announced)} for a manifest of digest ${digest}`);
  return digest;
}

/** An empty tar (two zero blocks), gzipped: the smallest valid layer. */
const EMPTY_TAR = Buffer.alloc(1024);
const EMPTY_LAYER = gzipSync(EMPTY_TAR);

interface PushedManifest {
  manifestDigest: string;
  configDigest: string;
  manifest: Buffer;
}

async function uploadImage(registry: TestRegistry, repo: string, spec: ImageSpec, kind: 'oci' | 'docker', auth: User | undefined): Promise<PushedManifest> {
  const media = MEDIA[kind];
  const imageConfig: Record<string, unknown> = {
    architecture: spec.architecture ?? 'amd64',
    os: spec.os ?? 'linux',
    ...(spec.variant !== undefined ? { variant: spec.variant } : {}),
    created: '2024-01-01T00:00:00Z',
    config: {
      Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      ...(spec.entrypoint !== undefined ? { Entrypoint: spec.entrypoint } : {}),
      ...(spec.cmd !== undefined ? { Cmd: spec.cmd } : {}),
    },
    rootfs: { type: 'layers', diff_ids: [sha256(EMPTY_TAR)] },
    history: [{ created: '2024-01-01T00:00:00Z', created_by: 'secrets-init-webhook test harness' }],
  };
  const configBody = Buffer.from(JSON.stringify(imageConfig));
  const configDigest = await pushBlob(registry, repo, auth, configBody);
  const layerDigest = await pushBlob(registry, repo, auth, EMPTY_LAYER);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: media.manifest,
      config: { mediaType: media.config, size: configBody.length, digest: configDigest },
      layers: [{ mediaType: media.layer, size: EMPTY_LAYER.length, digest: layerDigest }],
    }),
  );
  return { manifestDigest: sha256(manifest), configDigest, manifest };
}

/** Pushes a single-platform image and tags it. */
export async function pushImage(
  registry: TestRegistry,
  repo: string,
  tag: string,
  config: ImageSpec,
  options: PushOptions = {},
): Promise<{ manifestDigest: string; configDigest: string }> {
  const kind = options.mediaType ?? 'oci';
  const pushed = await uploadImage(registry, repo, config, kind, options.auth);
  const manifestDigest = await putManifest(registry, repo, tag, MEDIA[kind].manifest, pushed.manifest, options.auth);
  return { manifestDigest, configDigest: pushed.configDigest };
}

export function platformKey(platform: Platform): string {
  return `${platform.os}/${platform.architecture}${platform.variant !== undefined ? `/${platform.variant}` : ''}`;
}

/** Pushes one image per platform (by digest), then an OCI index / Docker manifest list under `tag`. */
export async function pushIndex(
  registry: TestRegistry,
  repo: string,
  tag: string,
  images: Array<{ config: ImageSpec; platform: Platform; /** Leave `platform` out of the index entry (it is optional). */ unlabelled?: boolean }>,
  options: PushOptions = {},
): Promise<{ indexDigest: string; manifests: Record<string, string> }> {
  const kind = options.mediaType ?? 'oci';
  const media = MEDIA[kind];
  const entries: unknown[] = [];
  const manifests: Record<string, string> = {};
  for (const { config, platform, unlabelled } of images) {
    const spec: ImageSpec = { ...config, os: platform.os, architecture: platform.architecture, ...(platform.variant !== undefined ? { variant: platform.variant } : {}) };
    const pushed = await uploadImage(registry, repo, spec, kind, options.auth);
    const digest = await putManifest(registry, repo, pushed.manifestDigest, media.manifest, pushed.manifest, options.auth);
    manifests[platformKey(platform)] = digest;
    entries.push({
      mediaType: media.manifest,
      size: pushed.manifest.length,
      digest,
      ...(unlabelled === true ? {} : { platform: { architecture: platform.architecture, os: platform.os, ...(platform.variant !== undefined ? { variant: platform.variant } : {}) } }),
    });
  }
  const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: media.index, manifests: entries }));
  const indexDigest = await putManifest(registry, repo, tag, media.index, index, options.auth);
  return { indexDigest, manifests };
}

/** The path of every request flushLog sends (not made by the code under test). */
export const SENTINEL_PATH = /^\/v2\/sentinel-\d+-\d+\/tags\/list$/;

let sentinels = 0;
/**
 * Sends our own request to the registry and waits (bounded) until its log line shows up: every
 * request the webhook finished before now has been logged by then (the access log is written
 * in completion order, asynchronously). Returns the log up to the sentinel.
 */
export async function flushLog(target: TestRegistry): Promise<LoggedRequest[]> {
  sentinels += 1;
  const path = `/v2/sentinel-${process.pid}-${sentinels}/tags/list`;
  await new Promise<void>((resolve, reject) => {
    const onResponse = (res: IncomingMessage): void => {
      res.resume();
      res.on('end', resolve);
    };
    const req =
      target.caPem === undefined
        ? http.request(`http://${target.host}${path}`, { agent: false, timeout: 5_000 }, onResponse)
        : https.request(`https://${target.host}${path}`, { agent: false, timeout: 5_000, ca: target.caPem }, onResponse);
    req.on('timeout', () => req.destroy(new Error('sentinel request timed out')));
    req.on('error', reject);
    req.end();
  });
  const until = Date.now() + 5_000;
  for (;;) {
    const logged = target.requests();
    const at = logged.findIndex((r) => r.path === path);
    if (at >= 0) return logged.slice(0, at);
    if (Date.now() > until) throw new Error(`the registry did not log ${path} within 5 s`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
