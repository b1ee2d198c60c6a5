/**
 * A small, faithful stand-in for kube-apiserver, for tests.
 *
 * Serves the core/v1 GET endpoints the webhook uses (Secrets, ConfigMaps,
 * ServiceAccounts) over plain HTTP on 127.0.0.1, with the same JSON shapes,
 * status codes and `Status` error bodies a real API server sends. It also
 * checks the bearer token like a real server would (401 otherwise), and can
 * be told to forbid objects (403), fail the next N requests, or answer slowly.
 *
 * Every test that starts one must `await stub.close()` (e.g. in `t.teardown`).
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The plural resource names used in API paths. */
export type StubResource = 'secrets' | 'configmaps' | 'serviceaccounts';
/** Either the plural resource name or the object kind. */
export type StubKind = StubResource | 'Secret' | 'ConfigMap' | 'ServiceAccount';

export interface StubRequest {
  method: string;
  /** Path and query string as received, e.g. `/api/v1/namespaces/ns/secrets/x`. */
  path: string;
  authorization?: string;
}

export interface StubRawResponse {
  status: number;
  body: string;
  contentType?: string;
}

export interface StubApiServer {
  /** `http://127.0.0.1:PORT` */
  readonly url: string;
  /** A kubeconfig file pointing at `url` with a bearer-token user; deleted by `close()`. */
  readonly kubeconfigPath: string;
  /**
   * The bearer token the server accepts (the one written into `kubeconfigPath`).
   * Set it to something else to make requests from that kubeconfig get 401.
   */
  token: string;
  /** Delay before every response, in ms (for timeout tests). Pending delays are cancelled by `close()`. */
  delayMs: number;
  /** Every request received, in order. */
  readonly requests: StubRequest[];
  /** Client connections currently open (a client that aborts a request closes its connection). */
  readonly openConnections: number;
  /** Values are stored base64-encoded, as the API server returns them. Replaces an existing object. */
  addSecret(namespace: string, name: string, data: Record<string, string | Uint8Array>, type?: string): void;
  /** `binaryData` values are stored base64-encoded. Replaces an existing object. */
  addConfigMap(
    namespace: string,
    name: string,
    data: Record<string, string>,
    binaryData?: Record<string, string | Uint8Array>,
  ): void;
  addServiceAccount(namespace: string, name: string, imagePullSecrets?: string[]): void;
  remove(kind: StubKind, namespace: string, name: string): void;
  /** 403 Forbidden for GETs of that object, or of every object of that resource in the namespace when `name` is omitted. */
  forbid(kind: StubKind, namespace: string, name?: string): void;
  /** The next `times` (default 1) requests, whatever their path, get `status` with a matching `Status` body. */
  failWith(status: number, times?: number): void;
  /** Serve exactly this response for GETs of this exact path (no query string), overriding everything but delays. */
  respondRaw(path: string, response: StubRawResponse): void;
  /** Stops the server, destroys open sockets, cancels pending delays and deletes the kubeconfig. Idempotent. */
  close(): Promise<void>;
}

/** The identity the stub names in Forbidden messages (the webhook's service account in the Helm chart). */
export const STUB_USER = 'system:serviceaccount:secrets-init:secrets-init-webhook';

const RESOURCE_KIND: Record<StubResource, string> = {
  secrets: 'Secret',
  configmaps: 'ConfigMap',
  serviceaccounts: 'ServiceAccount',
};

const STATUS_REASON: Record<number, { reason: string; message: string }> = {
  400: { reason: 'BadRequest', message: 'the server rejected our request for an unknown reason' },
  401: { reason: 'Unauthorized', message: 'Unauthorized' },
  403: { reason: 'Forbidden', message: 'forbidden' },
  404: { reason: 'NotFound', message: 'the server could not find the requested resource' },
  405: { reason: 'MethodNotAllowed', message: 'the server does not allow this method on the requested resource' },
  409: { reason: 'Conflict', message: 'the server reported a conflict' },
  410: { reason: 'Expired', message: 'the resource has expired' },
  429: { reason: 'TooManyRequests', message: 'Too many requests, please try again later.' },
  500: { reason: 'InternalError', message: 'Internal error occurred: stub apiserver failure' },
  503: { reason: 'ServiceUnavailable', message: 'the server is currently unable to handle the request' },
  504: { reason: 'Timeout', message: 'the server was unable to return a response in the time allotted' },
};

const OBJECT_PATH = /^\/api\/v1\/namespaces\/([^/]+)\/(secrets|configmaps|serviceaccounts)\/([^/]+)$/;

interface StoredObject {
  body: Record<string, unknown>;
}

interface StatusDetails {
  name?: string;
  kind?: string;
}

function toResource(kind: StubKind): StubResource {
  switch (kind) {
    case 'Secret':
    case 'secrets':
      return 'secrets';
    case 'ConfigMap':
    case 'configmaps':
      return 'configmaps';
    case 'ServiceAccount':
    case 'serviceaccounts':
      return 'serviceaccounts';
  }
}

function objectKey(resource: StubResource, namespace: string, name: string): string {
  return `${resource}\u0000${namespace}\u0000${name}`;
}

function base64(value: string | Uint8Array): string {
  return (typeof value === 'string' ? Buffer.from(value, 'utf8') : Buffer.from(value)).toString('base64');
}

function base64Map(values: Record<string, string | Uint8Array>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(values)) out[key] = base64(value);
  return out;
}

/** RFC 3339 with second precision, as the API server formats timestamps. */
function timestamp(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function statusBody(code: number, message: string, reason: string, details?: StatusDetails): Record<string, unknown> {
  const body: Record<string, unknown> = {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
  };
  if (details !== undefined) body['details'] = details;
  body['code'] = code;
  return body;
}

function genericStatus(code: number): Record<string, unknown> {
  const known = STATUS_REASON[code];
  return statusBody(code, known?.message ?? `stub apiserver failure (HTTP ${code})`, known?.reason ?? 'Unknown', {});
}

export async function startStubApiServer(): Promise<StubApiServer> {
  const objects = new Map<string, StoredObject>();
  const forbidden = new Set<string>(); // objectKey with name, or with '' for a whole namespace
  const rawResponses = new Map<string, StubRawResponse>();
  const failures: number[] = [];
  const sockets = new Set<Socket>();
  const pendingDelays = new Set<NodeJS.Timeout>();
  const requests: StubRequest[] = [];
  let resourceVersion = 1000;
  let closed = false;

  const send = (res: ServerResponse, status: number, body: string, contentType: string, extraHeaders?: Record<string, string>): void => {
    if (res.destroyed || res.writableEnded) return;
    res.writeHead(status, {
      'Content-Type': contentType,
      'Content-Length': Buffer.byteLength(body),
      'Cache-Control': 'no-cache, private',
      ...extraHeaders,
    });
    res.end(body);
  };
  const sendJson = (res: ServerResponse, status: number, body: unknown, extraHeaders?: Record<string, string>): void => {
    send(res, status, JSON.stringify(body), 'application/json', extraHeaders);
  };

  const respond = (req: IncomingMessage, res: ServerResponse): void => {
    const failure = failures.shift();
    if (failure !== undefined) {
      const headers: Record<string, string> = failure === 429 || failure === 503 ? { 'Retry-After': '1' } : {};
      sendJson(res, failure, genericStatus(failure), headers);
      return;
    }

    if (req.headers.authorization !== `Bearer ${stub.token}`) {
      sendJson(res, 401, statusBody(401, 'Unauthorized', 'Unauthorized'));
      return;
    }

    const url = new URL(req.url ?? '/', 'http://stub.invalid');
    const raw = rawResponses.get(url.pathname);
    if (raw !== undefined && req.method === 'GET') {
      send(res, raw.status, raw.body, raw.contentType ?? 'application/json');
      return;
    }

    const match = OBJECT_PATH.exec(url.pathname);
    if (match === null) {
      sendJson(res, 404, genericStatus(404));
      return;
    }
    const [, rawNamespace = '', rawResource = '', rawName = ''] = match;
    let namespace: string;
    let name: string;
    try {
      namespace = decodeURIComponent(rawNamespace);
      name = decodeURIComponent(rawName);
    } catch {
      sendJson(res, 400, genericStatus(400));
      return;
    }
    const resource = toResource(rawResource as StubResource);

    if (req.method !== 'GET') {
      sendJson(res, 405, genericStatus(405));
      return;
    }

    if (forbidden.has(objectKey(resource, namespace, name)) || forbidden.has(objectKey(resource, namespace, ''))) {
      const message =
        `${resource} "${name}" is forbidden: User "${STUB_USER}" cannot get resource "${resource}" ` +
        `in API group "" in the namespace "${namespace}"`;
      sendJson(res, 403, statusBody(403, message, 'Forbidden', { name, kind: resource }));
      return;
    }

    const stored = objects.get(objectKey(resource, namespace, name));
    if (stored === undefined) {
      sendJson(res, 404, statusBody(404, `${resource} "${name}" not found`, 'NotFound', { name, kind: resource }));
      return;
    }
    sendJson(res, 200, stored.body);
  };

  const server = createServer((req, res) => {
    requests.push({
      method: req.method ?? '',
      path: req.url ?? '',
      ...(req.headers.authorization !== undefined ? { authorization: req.headers.authorization } : {}),
    });
    // Drain any request body; GETs have none.
    req.resume();
    if (stub.delayMs <= 0) {
      respond(req, res);
      return;
    }
    const timer = setTimeout(() => {
      pendingDelays.delete(timer);
      respond(req, res);
    }, stub.delayMs);
    timer.unref();
    pendingDelays.add(timer);
    // The client gave up (e.g. its timeout fired): no point answering later.
    res.on('close', () => {
      clearTimeout(timer);
      pendingDelays.delete(timer);
    });
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;

  const dir = await mkdtemp(join(tmpdir(), 'stub-apiserver-'));
  const kubeconfigPath = join(dir, 'kubeconfig');
  const token = `stub-token-${randomUUID()}`;
  // JSON is valid YAML. client-node refuses plain-http servers unless TLS verification is skipped.
  const kubeconfig = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'stub', cluster: { server: url, 'insecure-skip-tls-verify': true } }],
    users: [{ name: 'stub-user', user: { token } }],
    contexts: [{ name: 'stub', context: { cluster: 'stub', user: 'stub-user', namespace: 'default' } }],
    'current-context': 'stub',
  };
  await writeFile(kubeconfigPath, JSON.stringify(kubeconfig, null, 2), { mode: 0o600 });

  const metadata = (namespace: string, name: string): Record<string, unknown> => ({
    name,
    namespace,
    uid: randomUUID(),
    resourceVersion: String(++resourceVersion),
    creationTimestamp: timestamp(),
  });

  const stub: StubApiServer = {
    url,
    kubeconfigPath,
    token,
    delayMs: 0,
    requests,
    get openConnections() {
      return sockets.size;
    },
    addSecret(namespace, name, data, type = 'Opaque') {
      const body: Record<string, unknown> = { kind: 'Secret', apiVersion: 'v1', metadata: metadata(namespace, name) };
      // The API server omits an empty `data` map.
      if (Object.keys(data).length > 0) body['data'] = base64Map(data);
      body['type'] = type;
      objects.set(objectKey('secrets', namespace, name), { body });
    },
    addConfigMap(namespace, name, data, binaryData) {
      const body: Record<string, unknown> = { kind: 'ConfigMap', apiVersion: 'v1', metadata: metadata(namespace, name) };
      if (Object.keys(data).length > 0) body['data'] = { ...data };
      if (binaryData !== undefined && Object.keys(binaryData).length > 0) body['binaryData'] = base64Map(binaryData);
      objects.set(objectKey('configmaps', namespace, name), { body });
    },
    addServiceAccount(namespace, name, imagePullSecrets = []) {
      const body: Record<string, unknown> = {
        kind: 'ServiceAccount',
        apiVersion: 'v1',
        metadata: metadata(namespace, name),
      };
      if (imagePullSecrets.length > 0) body['imagePullSecrets'] = imagePullSecrets.map((n) => ({ name: n }));
      objects.set(objectKey('serviceaccounts', namespace, name), { body });
    },
    remove(kind, namespace, name) {
      objects.delete(objectKey(toResource(kind), namespace, name));
    },
    forbid(kind, namespace, name) {
      forbidden.add(objectKey(toResource(kind), namespace, name ?? ''));
    },
    failWith(status, times = 1) {
      if (!Number.isInteger(status) || status < 400 || status > 599) {
        throw new RangeError(`failWith: status must be an HTTP error code (400-599), got ${status}`);
      }
      if (!Number.isInteger(times) || times < 1 || times > 10_000) {
        throw new RangeError(`failWith: times must be an integer in 1..10000, got ${times}`);
      }
      for (let i = 0; i < times; i++) failures.push(status);
    },
    respondRaw(path, response) {
      rawResponses.set(path, { ...response });
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const timer of pendingDelays) clearTimeout(timer);
      pendingDelays.clear();
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      sockets.clear();
      await stopped;
      await rm(dir, { recursive: true, force: true });
    },
  };
  return stub;
}
