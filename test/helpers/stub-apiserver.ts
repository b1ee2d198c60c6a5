/**
 * A small, faithful stand-in for kube-apiserver, for tests.
 *
 * Serves, over HTTPS on 127.0.0.1, with the same JSON shapes, status codes and `Status`
 * error bodies a real API server sends:
 * - core/v1 Secrets, ConfigMaps and ServiceAccounts: GET, and writes (POST to the collection,
 *   PUT and PATCH of an object);
 * - admissionregistration.k8s.io/v1 MutatingWebhookConfigurations (cluster-scoped): GET, POST,
 *   PUT, PATCH.
 * Writes follow the API server's rules: one resourceVersion counter for all objects, incremented
 * on every write; a PUT whose `metadata.resourceVersion` is set and stale is a 409 Conflict; a
 * POST of an existing name is a 409 AlreadyExists; PATCH takes `application/json-patch+json`
 * (a failed `test` op is a 422 Invalid, as the API server answers) and
 * `application/merge-patch+json`. Secrets of type `kubernetes.io/tls` must hold `tls.crt` and
 * `tls.key`; MutatingWebhookConfigurations get the API server's defaults.
 *
 * It checks the bearer token like a real server would (401 otherwise), and can be told to
 * forbid objects (403), fail the next N requests, answer slowly, answer the next write with
 * a 409 (for race tests), or expire the continue tokens of lists (410 Expired).
 *
 * Like a real API server it serves a certificate signed by its own CA: each stub makes a new CA
 * (with the project's certificate generator, see `makeLoopbackCertificates`) and a serving
 * certificate for 127.0.0.1, localhost, ::1 and the `kubernetes.default.svc` names. Its kubeconfig
 * trusts that CA through `certificate-authority-data`, without `insecure-skip-tls-verify`, so
 * clients go through their real certificate verification. A raw client must trust `caPem`.
 *
 * Every test that starts one must `await stub.close()` (e.g. in `t.teardown`).
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import jsonpatch from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';
import { makeLoopbackCertificates } from './certs.js';

/** The plural resource names used in API paths. */
export type StubResource = 'secrets' | 'configmaps' | 'serviceaccounts' | 'mutatingwebhookconfigurations' | 'pods' | 'namespaces';
/** Either the plural resource name or the object kind. */
export type StubKind = StubResource | 'Secret' | 'ConfigMap' | 'ServiceAccount' | 'MutatingWebhookConfiguration' | 'Pod' | 'Namespace';
/** The RBAC verbs the stub serves. */
export type StubVerb = 'get' | 'list' | 'create' | 'update' | 'patch';

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

export interface StubConflictOptions {
  /** Only a write of this resource takes the injected conflict (default: the next write of any resource). */
  resource?: StubKind;
  /**
   * Runs when the conflicting write arrives, before the 409 is sent: e.g. store the object the
   * "other replica" wrote, so that what the client reads next is consistent with the conflict.
   */
  beforeReply?: () => void;
}

export interface StubApiServer {
  /** `https://127.0.0.1:PORT` */
  readonly url: string;
  /**
   * PEM of the CA that signed the serving certificate (a new CA per stub): what a client must
   * trust to reach `url`, e.g. `https.request(url, { ca: stub.caPem })` or an in-cluster `ca.crt`.
   * The serving certificate's SANs: 127.0.0.1, localhost, ::1, `kubernetes`, `kubernetes.default`,
   * `kubernetes.default.svc` and `kubernetes.default.svc.cluster.local`.
   */
  readonly caPem: string;
  /**
   * A kubeconfig file pointing at `url`, trusting `caPem` through `certificate-authority-data`
   * (no `insecure-skip-tls-verify`), with a bearer-token user; deleted by `close()`.
   */
  readonly kubeconfigPath: string;
  /**
   * The bearer token the server accepts (the one written into `kubeconfigPath`).
   * Set it to something else to make requests from that kubeconfig get 401.
   */
  token: string;
  /** Delay before every response, in ms (for timeout tests). Pending delays are cancelled by `close()`. */
  delayMs: number;
  /** Every HTTP request received, in order (a client that rejects the certificate sends none). */
  readonly requests: StubRequest[];
  /**
   * Client TCP connections currently open, counted from accept, before the TLS handshake
   * (a client that aborts a request closes its connection).
   */
  readonly openConnections: number;
  /** Client TCP connections accepted so far (a client that reuses connections makes few). */
  readonly connectionsAccepted: number;
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
  /** Stores a Pod (metadata.name required; creationTimestamp kept when given). Listed by GET …/pods with limit/continue. */
  addPod(namespace: string, pod: Record<string, unknown>): void;
  /** Stores a Namespace with these labels (kubernetes.io/metadata.name added, as the API server does). */
  addNamespace(name: string, labels?: Record<string, string>): void;
  /**
   * Stores a MutatingWebhookConfiguration with these webhooks (given as the API takes them; the
   * API server's defaults are filled in). Replaces an existing object.
   */
  addMutatingWebhookConfiguration(name: string, webhooks: Array<Record<string, unknown>>): void;
  /**
   * A deep copy of the stored object, as a GET would return it, or `undefined`. For the
   * cluster-scoped MutatingWebhookConfiguration the namespace is ignored (pass `''`).
   */
  getObject(kind: StubKind, namespace: string, name: string): Record<string, unknown> | undefined;
  /** For the cluster-scoped MutatingWebhookConfiguration the namespace is ignored (pass `''`). */
  remove(kind: StubKind, namespace: string, name: string): void;
  /**
   * 403 Forbidden, like RBAC without the permission. With `name`: the `get`/`update`/`patch` of that
   * object (a `create` never carries a name for RBAC). Without `name`: every object of that resource
   * in the namespace (`''` for cluster-scoped resources), `create` included. `verbs` limits it to
   * those verbs (default: all of them).
   */
  forbid(kind: StubKind, namespace: string, name?: string, verbs?: StubVerb[]): void;
  /**
   * The next `times` (default 1) requests, whatever their path, get `status` with a matching `Status` body,
   * and `Retry-After: 1` for 429 and 503, as the API server sends them (`retryAfter` sets it, `null` leaves it out).
   */
  failWith(status: number, times?: number, retryAfter?: number | null): void;
  /**
   * The next `times` (default 1) requests are received and their connection closed without an answer, as when
   * the server closes an idle keep-alive connection just as a request goes out on it.
   */
  resetNext(times?: number): void;
  /**
   * The next write (POST, PUT or PATCH, of `options.resource` if given) that passes authentication
   * and authorization is not applied and gets a 409: AlreadyExists for a POST, Conflict otherwise.
   * Calls queue up: each injects one conflict.
   */
  conflictOnNextWrite(options?: StubConflictOptions): void;
  /**
   * Runs `run` when the next write (of `resource` if given) arrives, just before it is applied,
   * which then proceeds against whatever `run` left: e.g. another writer's change landing between
   * a client's read and its write. Queues up with `conflictOnNextWrite`, in call order.
   */
  beforeNextWrite(options: { resource?: StubKind; run: () => void }): void;
  /**
   * Every `continue` token given so far expires, as when etcd compacts past the revision of a
   * list that is read too slowly (about 5 minutes): a list request that brings one gets 410
   * Expired, with the API server's message and, in the Status's `metadata.continue`, a token
   * for the inconsistent remainder. A list started afresh (no `continue`) gets valid tokens.
   */
  expireContinueTokens(): void;
  /**
   * Runs `run` when the next GET of this exact path (no query string) arrives, before it is
   * answered: e.g. expire the continue tokens while a client is between two pages. Calls queue
   * up, one per GET.
   */
  beforeNextGet(path: string, run: () => void): void;
  /** Serve exactly this response for GETs of this exact path (no query string), overriding everything but delays. */
  respondRaw(path: string, response: StubRawResponse): void;
  /** Stops the server, destroys open sockets, cancels pending delays and deletes the kubeconfig. Idempotent. */
  close(): Promise<void>;
}

/** The identity the stub names in Forbidden messages (the webhook's service account in the Helm chart). */
export const STUB_USER = 'system:serviceaccount:secrets-init:secrets-init-webhook';

interface ResourceInfo {
  kind: string;
  apiVersion: string;
  /** API group, '' for core. */
  group: string;
  namespaced: boolean;
}

const RESOURCES: Record<StubResource, ResourceInfo> = {
  secrets: { kind: 'Secret', apiVersion: 'v1', group: '', namespaced: true },
  configmaps: { kind: 'ConfigMap', apiVersion: 'v1', group: '', namespaced: true },
  serviceaccounts: { kind: 'ServiceAccount', apiVersion: 'v1', group: '', namespaced: true },
  mutatingwebhookconfigurations: {
    kind: 'MutatingWebhookConfiguration',
    apiVersion: 'admissionregistration.k8s.io/v1',
    group: 'admissionregistration.k8s.io',
    namespaced: false,
  },
  pods: { kind: 'Pod', apiVersion: 'v1', group: '', namespaced: true },
  namespaces: { kind: 'Namespace', apiVersion: 'v1', group: '', namespaced: false },
};

const STATUS_REASON: Record<number, { reason: string; message: string }> = {
  400: { reason: 'BadRequest', message: 'the server rejected our request for an unknown reason' },
  401: { reason: 'Unauthorized', message: 'Unauthorized' },
  403: { reason: 'Forbidden', message: 'forbidden' },
  404: { reason: 'NotFound', message: 'the server could not find the requested resource' },
  405: { reason: 'MethodNotAllowed', message: 'the server does not allow this method on the requested resource' },
  409: { reason: 'Conflict', message: 'the server reported a conflict' },
  410: { reason: 'Expired', message: 'the resource has expired' },
  422: { reason: 'Invalid', message: 'the server rejected our request due to an error in our request' },
  429: { reason: 'TooManyRequests', message: 'Too many requests, please try again later.' },
  500: { reason: 'InternalError', message: 'Internal error occurred: stub apiserver failure' },
  503: { reason: 'ServiceUnavailable', message: 'the server is currently unable to handle the request' },
  504: { reason: 'Timeout', message: 'the server was unable to return a response in the time allotted' },
};

const CORE_OBJECT_PATH = /^\/api\/v1\/namespaces\/([^/]+)\/(secrets|configmaps|serviceaccounts|pods)\/([^/]+)$/;
const CORE_COLLECTION_PATH = /^\/api\/v1\/namespaces\/([^/]+)\/(secrets|configmaps|serviceaccounts|pods)$/;
const NAMESPACE_PATH = /^\/api\/v1\/(namespaces)(?:\/([^/]+))?$/;
/** Resources whose collections answer GET with a paginated list (limit/continue). */
const LISTED: ReadonlySet<StubResource> = new Set(['pods', 'namespaces']);
const CLUSTER_OBJECT_PATH = /^\/apis\/admissionregistration\.k8s\.io\/v1\/(mutatingwebhookconfigurations)\/([^/]+)$/;
const CLUSTER_COLLECTION_PATH = /^\/apis\/admissionregistration\.k8s\.io\/v1\/(mutatingwebhookconfigurations)$/;

/** [namespace, resource, name] of an API path; namespace '' for cluster-scoped, name '' for a collection. */
function routeOf(pathname: string): [string, string, string] | undefined {
  const object = CORE_OBJECT_PATH.exec(pathname);
  if (object !== null) return [object[1] ?? '', object[2] ?? '', object[3] ?? ''];
  const collection = CORE_COLLECTION_PATH.exec(pathname);
  if (collection !== null) return [collection[1] ?? '', collection[2] ?? '', ''];
  const clusterObject = CLUSTER_OBJECT_PATH.exec(pathname);
  if (clusterObject !== null) return ['', clusterObject[1] ?? '', clusterObject[2] ?? ''];
  const namespaces = NAMESPACE_PATH.exec(pathname);
  if (namespaces !== null) return ['', namespaces[1] ?? '', namespaces[2] ?? ''];
  const clusterCollection = CLUSTER_COLLECTION_PATH.exec(pathname);
  if (clusterCollection !== null) return ['', clusterCollection[1] ?? '', ''];
  return undefined;
}

const JSON_PATCH = 'application/json-patch+json';
const MERGE_PATCH = 'application/merge-patch+json';
/** Metadata fields the server owns: whatever a client sends for them is replaced. */
const SERVER_METADATA = ['uid', 'resourceVersion', 'creationTimestamp', 'generation', 'selfLink', 'managedFields'];
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

type Json = Record<string, unknown>;

interface StoredObject {
  body: Json;
}

interface StatusCause {
  reason?: string;
  message?: string;
  field?: string;
}

interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  causes?: StatusCause[];
}

/** A request that ends in an error Status. */
class StatusResponse extends Error {
  constructor(
    readonly code: number,
    readonly body: Json,
  ) {
    super(String(body['message']));
  }
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
    case 'MutatingWebhookConfiguration':
    case 'mutatingwebhookconfigurations':
      return 'mutatingwebhookconfigurations';
    case 'Pod':
    case 'pods':
      return 'pods';
    case 'Namespace':
    case 'namespaces':
      return 'namespaces';
  }
}

function objectKey(resource: StubResource, namespace: string, name: string): string {
  return `${resource}\u0000${RESOURCES[resource].namespaced ? namespace : ''}\u0000${name}`;
}

/** `secrets`, `mutatingwebhookconfigurations.admissionregistration.k8s.io`: how messages name a resource. */
function qualified(resource: StubResource): string {
  const { group } = RESOURCES[resource];
  return group === '' ? resource : `${resource}.${group}`;
}

function base64(value: string | Uint8Array): string {
  return (typeof value === 'string' ? Buffer.from(value, 'utf8') : Buffer.from(value)).toString('base64');
}

function base64Map(values: Record<string, string | Uint8Array>): Record<string, string> {
  // fromEntries defines own properties: a key such as `__proto__` stays a key.
  return Object.fromEntries(Object.entries(values).map(([key, value]) => [key, base64(value)]));
}

/** Where Go's base64 decoder would stop, as in its `illegal base64 data at input byte N`; undefined when valid. */
function invalidBase64At(value: string): number | undefined {
  if (BASE64.test(value) && value.length % 4 === 0) return undefined;
  const bad = /[^A-Za-z0-9+/=]/.exec(value);
  return bad !== null ? bad.index : value.length - (value.length % 4);
}

function isRecord(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** RFC 3339 with second precision, as the API server formats timestamps. */
function timestamp(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function statusBody(code: number, message: string, reason: string, details?: StatusDetails): Json {
  const body: Json = {
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

function genericStatus(code: number): Json {
  const known = STATUS_REASON[code];
  return statusBody(code, known?.message ?? `stub apiserver failure (HTTP ${code})`, known?.reason ?? 'Unknown', {});
}

/** StatusDetails as the API server fills them for a resource: name, group (omitted for core), kind = the resource. */
function resourceDetails(resource: StubResource, name: string): StatusDetails {
  const details: StatusDetails = {};
  if (name !== '') details.name = name;
  const { group } = RESOURCES[resource];
  if (group !== '') details.group = group;
  details.kind = resource;
  return details;
}

function badRequest(message: string): StatusResponse {
  return new StatusResponse(400, statusBody(400, message, 'BadRequest'));
}

function notFound(resource: StubResource, name: string): StatusResponse {
  return new StatusResponse(
    404,
    statusBody(404, `${qualified(resource)} "${name}" not found`, 'NotFound', resourceDetails(resource, name)),
  );
}

function alreadyExists(resource: StubResource, name: string): StatusResponse {
  return new StatusResponse(
    409,
    statusBody(409, `${qualified(resource)} "${name}" already exists`, 'AlreadyExists', resourceDetails(resource, name)),
  );
}

function conflict(resource: StubResource, name: string): StatusResponse {
  const message =
    `Operation cannot be fulfilled on ${qualified(resource)} "${name}": ` +
    'the object has been modified; please apply your changes to the latest version and try again';
  return new StatusResponse(409, statusBody(409, message, 'Conflict', resourceDetails(resource, name)));
}

/** 422 Invalid, as field validation reports it: `Kind "name" is invalid: field: problem` (several in brackets). */
function invalid(resource: StubResource, name: string, causes: Array<Required<StatusCause>>): StatusResponse {
  const { kind, group } = RESOURCES[resource];
  const parts = causes.map((c) => `${c.field}: ${c.message}`);
  const list = parts.length === 1 ? (parts[0] ?? '') : `[${parts.join(', ')}]`;
  const details: StatusDetails = {};
  if (name !== '') details.name = name;
  if (group !== '') details.group = group;
  details.kind = kind;
  details.causes = causes;
  return new StatusResponse(422, statusBody(422, `${kind} "${name}" is invalid: ${list}`, 'Invalid', details));
}

/** Go's json decoding of a `[]byte` field failed. */
function undecodable(resource: StubResource, problem: string): StatusResponse {
  const { kind } = RESOURCES[resource];
  return badRequest(`${kind} in version "v1" cannot be handled as a ${kind}: ${problem}`);
}

function forbiddenStatus(resource: StubResource, verb: StubVerb, namespace: string, name: string): Json {
  const { group, namespaced } = RESOURCES[resource];
  const scope = namespaced ? `in the namespace "${namespace}"` : 'at the cluster scope';
  const subject = name === '' ? qualified(resource) : `${qualified(resource)} "${name}"`;
  const message = `${subject} is forbidden: User "${STUB_USER}" cannot ${verb} resource "${resource}" in API group "${group}" ${scope}`;
  return statusBody(403, message, 'Forbidden', resourceDetails(resource, name));
}

/** The API server's message when a list's continue token is older than etcd's compaction. */
const CONTINUE_EXPIRED =
  'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue ' +
  'parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided ' +
  'token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was ' +
  'returned and now may show up in the list.';

/** 410 Expired for a continue token too old, with a token for the inconsistent remainder in the Status's metadata. */
function continueExpired(inconsistent: string): StatusResponse {
  const body = statusBody(410, CONTINUE_EXPIRED, 'Expired');
  body['metadata'] = { continue: inconsistent };
  return new StatusResponse(410, body);
}

/** RFC 7386 JSON merge patch. */
function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isRecord(patch)) return structuredClone(patch);
  const result: Json = isRecord(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value);
  }
  return result;
}

/** The API server's defaults for admissionregistration.k8s.io/v1 MutatingWebhook fields. */
function defaultWebhook(webhook: Json): Json {
  const out: Json = structuredClone(webhook);
  const clientConfig = out['clientConfig'];
  if (isRecord(clientConfig) && isRecord(clientConfig['service']) && clientConfig['service']['port'] === undefined) {
    clientConfig['service']['port'] = 443;
  }
  if (Array.isArray(out['rules'])) {
    for (const rule of out['rules'] as unknown[]) {
      if (isRecord(rule) && rule['scope'] === undefined) rule['scope'] = '*';
    }
  }
  out['failurePolicy'] ??= 'Fail';
  out['matchPolicy'] ??= 'Equivalent';
  out['namespaceSelector'] ??= {};
  out['objectSelector'] ??= {};
  out['reinvocationPolicy'] ??= 'Never';
  out['timeoutSeconds'] ??= 10;
  return out;
}

export async function startStubApiServer(): Promise<StubApiServer> {
  const objects = new Map<string, StoredObject>();
  /** objectKey with a name, or with '' for a whole namespace/cluster, to the verbs forbidden there (null: all). */
  const forbidden = new Map<string, Set<StubVerb> | null>();
  const rawResponses = new Map<string, StubRawResponse>();
  const failures: Array<{ status: number; retryAfter: number | null | undefined }> = [];
  let resets = 0;
  /** Queued interceptions of writes: an injected 409 (`conflict`), or a hook that runs first. */
  const interceptions: Array<{ resource?: StubResource; run?: () => void; conflict: boolean }> = [];
  const sockets = new Set<Socket>();
  const pendingDelays = new Set<NodeJS.Timeout>();
  const requests: StubRequest[] = [];
  let resourceVersion = 1000;
  /** Continue tokens carry the generation they were given in; older ones have expired. */
  let tokenGeneration = 0;
  const beforeGets: Array<{ path: string; run: () => void }> = [];
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

  const isForbidden = (resource: StubResource, verb: StubVerb, namespace: string, name: string): boolean => {
    const matches = (key: string): boolean => {
      if (!forbidden.has(key)) return false;
      const verbs = forbidden.get(key);
      return verbs === null || verbs === undefined || verbs.has(verb);
    };
    // RBAC never sees a name on create, so only a resource-wide rule can deny it.
    if (verb !== 'create' && matches(objectKey(resource, namespace, name))) return true;
    return matches(objectKey(resource, namespace, ''));
  };

  const nextMetadata = (namespace: string, name: string, resource: StubResource): Json => {
    const metadata: Json = { name };
    if (RESOURCES[resource].namespaced) metadata['namespace'] = namespace;
    metadata['uid'] = randomUUID();
    metadata['resourceVersion'] = String(++resourceVersion);
    if (resource === 'mutatingwebhookconfigurations') metadata['generation'] = 1;
    metadata['creationTimestamp'] = timestamp();
    return metadata;
  };

  /** Checks a written object and turns it into what the server stores (stringData folded in, defaults applied). */
  const admit = (resource: StubResource, name: string, object: Json, previous: Json | undefined): Json => {
    const out: Json = structuredClone(object);
    if (resource === 'secrets') {
      const data = out['data'] ?? {};
      if (!isRecord(data)) throw undecodable(resource, 'data: expected a map');
      for (const value of Object.values(data)) {
        if (typeof value !== 'string') throw undecodable(resource, 'data: expected a base64 string');
        const at = invalidBase64At(value);
        if (at !== undefined) throw undecodable(resource, `illegal base64 data at input byte ${at}`);
      }
      const merged: Json = { ...data };
      const stringData = out['stringData'];
      if (isRecord(stringData)) {
        for (const [key, value] of Object.entries(stringData)) merged[key] = base64(String(value));
      }
      delete out['stringData'];
      if (Object.keys(merged).length > 0) out['data'] = merged;
      else delete out['data'];
      out['type'] ??= 'Opaque';
      if (previous !== undefined && previous['type'] !== out['type']) {
        throw invalid(resource, name, [
          { reason: 'FieldValueInvalid', message: `Invalid value: ${JSON.stringify(out['type'])}: field is immutable`, field: 'type' },
        ]);
      }
      if (out['type'] === 'kubernetes.io/tls') {
        const missing = ['tls.crt', 'tls.key'].filter((key) => !(key in merged));
        if (missing.length > 0) {
          throw invalid(
            resource,
            name,
            missing.map((key) => ({ reason: 'FieldValueRequired', message: 'Required value', field: `data[${key}]` })),
          );
        }
      }
    }
    if (resource === 'mutatingwebhookconfigurations') {
      const webhooks = out['webhooks'] ?? [];
      if (!Array.isArray(webhooks)) throw undecodable(resource, 'webhooks: expected a list');
      const causes: Array<Required<StatusCause>> = [];
      const names = new Set<string>();
      const defaulted = (webhooks as unknown[]).map((webhook, i) => {
        if (!isRecord(webhook)) throw undecodable(resource, `webhooks[${i}]: expected an object`);
        const field = `webhooks[${i}]`;
        const webhookName = webhook['name'];
        if (typeof webhookName !== 'string' || webhookName === '') {
          causes.push({ reason: 'FieldValueRequired', message: 'Required value', field: `${field}.name` });
        } else if (names.has(webhookName)) {
          causes.push({ reason: 'FieldValueDuplicate', message: `Duplicate value: ${JSON.stringify(webhookName)}`, field: `${field}.name` });
        } else {
          names.add(webhookName);
        }
        const clientConfig = webhook['clientConfig'];
        if (!isRecord(clientConfig) || (clientConfig['url'] === undefined) === (clientConfig['service'] === undefined)) {
          causes.push({ reason: 'FieldValueRequired', message: 'Required value: exactly one of url or service is required', field: `${field}.clientConfig` });
        } else if (clientConfig['caBundle'] !== undefined) {
          const caBundle = clientConfig['caBundle'];
          if (typeof caBundle !== 'string') throw undecodable(resource, 'caBundle: expected a base64 string');
          const at = invalidBase64At(caBundle);
          if (at !== undefined) throw undecodable(resource, `illegal base64 data at input byte ${at}`);
        }
        if (webhook['sideEffects'] === undefined) {
          causes.push({ reason: 'FieldValueRequired', message: 'Required value', field: `${field}.sideEffects` });
        }
        if (!Array.isArray(webhook['admissionReviewVersions']) || webhook['admissionReviewVersions'].length === 0) {
          causes.push({ reason: 'FieldValueRequired', message: 'Required value', field: `${field}.admissionReviewVersions` });
        }
        return defaultWebhook(webhook);
      });
      if (causes.length > 0) throw invalid(resource, name, causes);
      if (defaulted.length > 0) out['webhooks'] = defaulted;
      else delete out['webhooks'];
    }
    return out;
  };

  /** Stores `object` (already admitted) with server-owned metadata, bumping the resourceVersion. */
  const store = (resource: StubResource, namespace: string, name: string, object: Json, previous: Json | undefined): Json => {
    const { kind, apiVersion } = RESOURCES[resource];
    const given = isRecord(object['metadata']) ? object['metadata'] : {};
    const metadata = nextMetadata(namespace, name, resource);
    if (previous !== undefined) {
      const old = previous['metadata'] as Json;
      metadata['uid'] = old['uid'];
      metadata['creationTimestamp'] = old['creationTimestamp'];
      if (resource === 'mutatingwebhookconfigurations') {
        const changed = JSON.stringify(previous['webhooks'] ?? []) !== JSON.stringify(object['webhooks'] ?? []);
        metadata['generation'] = Number(old['generation'] ?? 1) + (changed ? 1 : 0);
      }
    }
    for (const [key, value] of Object.entries(given)) {
      if (!SERVER_METADATA.includes(key) && key !== 'name' && key !== 'namespace') metadata[key] = value;
    }
    const body: Json = { kind, apiVersion, metadata };
    for (const [key, value] of Object.entries(object)) {
      if (key !== 'kind' && key !== 'apiVersion' && key !== 'metadata' && key !== 'status') body[key] = value;
    }
    objects.set(objectKey(resource, namespace, name), { body });
    return body;
  };

  const parseBody = (resource: StubResource, raw: string): Json => {
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (error) {
      throw badRequest(`error decoding body: ${error instanceof Error ? error.message : String(error)}`);
    }
    if (!isRecord(value)) throw undecodable(resource, 'expected a JSON object');
    const { kind } = RESOURCES[resource];
    if (value['kind'] !== undefined && value['kind'] !== kind) {
      throw badRequest(`the kind in the data (${String(value['kind'])}) does not match the expected kind (${kind})`);
    }
    return value;
  };

  /** Applies the first queued interception for a write of `resource`: true when it is an injected conflict. */
  const intercept = (resource: StubResource): boolean => {
    const index = interceptions.findIndex((c) => c.resource === undefined || c.resource === resource);
    if (index < 0) return false;
    const [taken] = interceptions.splice(index, 1);
    taken?.run?.();
    return taken?.conflict ?? false;
  };

  const create = (resource: StubResource, namespace: string, raw: string): { status: number; body: Json } => {
    const object = parseBody(resource, raw);
    const metadata = isRecord(object['metadata']) ? object['metadata'] : {};
    const name = typeof metadata['name'] === 'string' ? metadata['name'] : '';
    if (RESOURCES[resource].namespaced && metadata['namespace'] !== undefined && metadata['namespace'] !== namespace) {
      throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
    }
    if (intercept(resource)) throw alreadyExists(resource, name);
    if (name === '') {
      throw invalid(resource, '', [
        { reason: 'FieldValueRequired', message: 'Required value: name or generateName is required', field: 'metadata.name' },
      ]);
    }
    if (metadata['resourceVersion'] !== undefined && metadata['resourceVersion'] !== '') {
      throw new StatusResponse(
        500,
        statusBody(500, 'Internal error occurred: resourceVersion should not be set on objects to be created', 'InternalError', {
          causes: [{ message: 'resourceVersion should not be set on objects to be created' }],
        }),
      );
    }
    if (objects.has(objectKey(resource, namespace, name))) throw alreadyExists(resource, name);
    return { status: 201, body: store(resource, namespace, name, admit(resource, name, object, undefined), undefined) };
  };

  const update = (resource: StubResource, namespace: string, name: string, raw: string): { status: number; body: Json } => {
    const object = parseBody(resource, raw);
    const metadata = isRecord(object['metadata']) ? object['metadata'] : {};
    if (metadata['name'] !== name) {
      throw badRequest(`the name of the object (${String(metadata['name'] ?? '')}) does not match the name on the URL (${name})`);
    }
    if (RESOURCES[resource].namespaced && metadata['namespace'] !== undefined && metadata['namespace'] !== namespace) {
      throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
    }
    if (intercept(resource)) throw conflict(resource, name);
    const stored = objects.get(objectKey(resource, namespace, name));
    if (stored === undefined) throw notFound(resource, name);
    const given = metadata['resourceVersion'];
    // An empty resourceVersion is an unconditional update, which these resources allow.
    if (given !== undefined && given !== '' && given !== (stored.body['metadata'] as Json)['resourceVersion']) {
      throw conflict(resource, name);
    }
    return { status: 200, body: store(resource, namespace, name, admit(resource, name, object, stored.body), stored.body) };
  };

  const patch = (
    resource: StubResource,
    namespace: string,
    name: string,
    raw: string,
    contentType: string,
  ): { status: number; body: Json } => {
    if (contentType !== JSON_PATCH && contentType !== MERGE_PATCH) {
      throw new StatusResponse(
        415,
        statusBody(
          415,
          `the body of the request was in an unknown format - accepted media types include: ${JSON_PATCH}, ${MERGE_PATCH}`,
          'UnsupportedMediaType',
        ),
      );
    }
    let document: unknown;
    try {
      document = JSON.parse(raw);
    } catch (error) {
      throw badRequest(`error decoding patch: ${error instanceof Error ? error.message : String(error)}`);
    }
    if (intercept(resource)) throw conflict(resource, name);
    const stored = objects.get(objectKey(resource, namespace, name));
    if (stored === undefined) throw notFound(resource, name);
    let patched: unknown;
    if (contentType === JSON_PATCH) {
      if (!Array.isArray(document)) throw badRequest('json: cannot unmarshal object into Go value of type jsonpatch.Patch');
      const invalidOp = jsonpatch.validate(document as Operation[]);
      if (invalidOp !== undefined) throw badRequest(invalidOp.message.split('\n')[0] ?? 'invalid patch');
      try {
        patched = jsonpatch.applyPatch(structuredClone(stored.body), document as Operation[], true, true).newDocument;
      } catch {
        // The API server reports any failure to apply a JSON patch (a failed `test` included) like this.
        throw new StatusResponse(422, genericStatus(422));
      }
    } else {
      if (!isRecord(document)) throw badRequest('error decoding patch: expected a JSON object');
      patched = mergePatch(stored.body, document);
    }
    if (!isRecord(patched)) throw badRequest('the patched object is not an object');
    const metadata = isRecord(patched['metadata']) ? patched['metadata'] : {};
    if (metadata['name'] !== name) {
      throw badRequest(`the name of the object (${String(metadata['name'] ?? '')}) does not match the name on the URL (${name})`);
    }
    // A resourceVersion in the patched object is a precondition, as in an update.
    const given = metadata['resourceVersion'];
    if (given !== undefined && given !== '' && given !== (stored.body['metadata'] as Json)['resourceVersion']) {
      throw conflict(resource, name);
    }
    return { status: 200, body: store(resource, namespace, name, admit(resource, name, patched, stored.body), stored.body) };
  };

  /** A continue token (opaque to clients): the offset, the list's resourceVersion and the token generation. */
  const continueToken = (offset: number): string => Buffer.from(`${offset}:${resourceVersion}:${tokenGeneration}`).toString('base64');

  /**
   * One page of a list, in name order, as the API server pages it: `limit` items, and a
   * `continue` token (see continueToken) while more remain; a token from before
   * `expireContinueTokens` is a 410 Expired, as the API server answers one older than etcd's compaction.
   */
  const list = (resource: StubResource, namespace: string, query: URLSearchParams): Json => {
    const prefix = `${resource}\u0000${RESOURCES[resource].namespaced ? namespace : ''}\u0000`;
    const all = [...objects.entries()].filter(([key]) => key.startsWith(prefix)).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, stored]) => stored.body);
    let offset = 0;
    const token = query.get('continue');
    if (token !== null && token !== '') {
      const decoded = /^(\d+):(\d+):(\d+)$/.exec(Buffer.from(token, 'base64').toString('utf8'));
      if (decoded === null) throw badRequest('continue key is not valid: illegal base64 data');
      offset = Number(decoded[1]);
      if (Number(decoded[3]) < tokenGeneration) throw continueExpired(continueToken(offset));
    }
    const limitText = query.get('limit');
    const limit = limitText === null || limitText === '' ? Infinity : Number(limitText);
    const page = all.slice(offset, offset + (limit > 0 ? limit : Infinity));
    const metadata: Json = { resourceVersion: String(resourceVersion) };
    const next = offset + page.length;
    if (next < all.length) {
      metadata['continue'] = continueToken(next);
      metadata['remainingItemCount'] = all.length - next;
    }
    return { kind: `${RESOURCES[resource].kind}List`, apiVersion: 'v1', metadata, items: page };
  };

  const respond = (req: IncomingMessage, res: ServerResponse, requestBody: string): void => {
    const failure = failures.shift();
    if (failure !== undefined) {
      const retryAfter = failure.retryAfter !== undefined ? failure.retryAfter : failure.status === 429 || failure.status === 503 ? 1 : null;
      const headers: Record<string, string> = retryAfter !== null ? { 'Retry-After': String(retryAfter) } : {};
      sendJson(res, failure.status, genericStatus(failure.status), headers);
      return;
    }

    if (req.headers.authorization !== `Bearer ${stub.token}`) {
      sendJson(res, 401, statusBody(401, 'Unauthorized', 'Unauthorized'));
      return;
    }

    const url = new URL(req.url ?? '/', 'http://stub.invalid');
    if (req.method === 'GET') {
      const hook = beforeGets.findIndex((b) => b.path === url.pathname);
      if (hook >= 0) beforeGets.splice(hook, 1)[0]?.run();
    }
    const raw = rawResponses.get(url.pathname);
    if (raw !== undefined && req.method === 'GET') {
      send(res, raw.status, raw.body, raw.contentType ?? 'application/json');
      return;
    }

    const target = routeOf(url.pathname);
    if (target === undefined) {
      sendJson(res, 404, genericStatus(404));
      return;
    }
    let namespace: string;
    let name: string;
    try {
      namespace = decodeURIComponent(target[0]);
      name = decodeURIComponent(target[2]);
    } catch {
      sendJson(res, 400, genericStatus(400));
      return;
    }
    const resource = toResource(target[1] as StubResource);
    const isCollection = target[2] === '';

    let verb: StubVerb;
    if (isCollection) {
      if (req.method === 'GET') {
        if (!LISTED.has(resource)) {
          // Lists of other resources are not served.
          sendJson(res, 404, genericStatus(404));
          return;
        }
        if (isForbidden(resource, 'list', namespace, '')) {
          sendJson(res, 403, forbiddenStatus(resource, 'list', namespace, ''));
          return;
        }
        try {
          sendJson(res, 200, list(resource, namespace, url.searchParams));
        } catch (error) {
          if (!(error instanceof StatusResponse)) throw error;
          sendJson(res, error.code, error.body);
        }
        return;
      }
      if (req.method !== 'POST') {
        sendJson(res, 405, genericStatus(405));
        return;
      }
      verb = 'create';
    } else if (req.method === 'GET') {
      verb = 'get';
    } else if (req.method === 'PUT') {
      verb = 'update';
    } else if (req.method === 'PATCH') {
      verb = 'patch';
    } else {
      sendJson(res, 405, genericStatus(405));
      return;
    }

    if (isForbidden(resource, verb, namespace, name)) {
      sendJson(res, 403, forbiddenStatus(resource, verb, namespace, name));
      return;
    }

    try {
      let result: { status: number; body: Json };
      if (verb === 'get') {
        const stored = objects.get(objectKey(resource, namespace, name));
        if (stored === undefined) throw notFound(resource, name);
        result = { status: 200, body: stored.body };
      } else if (verb === 'create') {
        result = create(resource, namespace, requestBody);
      } else if (verb === 'update') {
        result = update(resource, namespace, name, requestBody);
      } else {
        const contentType = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
        result = patch(resource, namespace, name, requestBody, contentType);
      }
      sendJson(res, result.status, result.body);
    } catch (error) {
      if (error instanceof StatusResponse) {
        sendJson(res, error.code, error.body);
        return;
      }
      const message = error instanceof Error ? error.message : String(error);
      sendJson(res, 500, statusBody(500, `Internal error occurred: ${message}`, 'InternalError', { causes: [{ message }] }));
    }
  };

  // Like kube-apiserver's serving certificate: the in-cluster service names plus loopback.
  const certificates = await makeLoopbackCertificates({ service: 'kubernetes', namespace: 'default' });
  const server = createServer({ cert: certificates.cert, key: certificates.key }, (req, res) => {
    requests.push({
      method: req.method ?? '',
      path: req.url ?? '',
      ...(req.headers.authorization !== undefined ? { authorization: req.headers.authorization } : {}),
    });
    if (resets > 0) {
      resets--;
      req.socket.destroy();
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      if (stub.delayMs <= 0) {
        respond(req, res, body);
        return;
      }
      const timer = setTimeout(() => {
        pendingDelays.delete(timer);
        respond(req, res, body);
      }, stub.delayMs);
      timer.unref();
      pendingDelays.add(timer);
      // The client gave up (e.g. its timeout fired): no point answering later.
      res.on('close', () => {
        clearTimeout(timer);
        pendingDelays.delete(timer);
      });
    });
  });
  let accepted = 0;
  server.on('connection', (socket: Socket) => {
    accepted++;
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
  const url = `https://127.0.0.1:${port}`;

  const dir = await mkdtemp(join(tmpdir(), 'stub-apiserver-'));
  const kubeconfigPath = join(dir, 'kubeconfig');
  const token = `stub-token-${randomUUID()}`;
  // JSON is valid YAML. The CA is inline, as kubeadm and kind write it: nothing else to clean up.
  const kubeconfig = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'stub', cluster: { server: url, 'certificate-authority-data': base64(certificates.caCert) } }],
    users: [{ name: 'stub-user', user: { token } }],
    contexts: [{ name: 'stub', context: { cluster: 'stub', user: 'stub-user', namespace: 'default' } }],
    'current-context': 'stub',
  };
  await writeFile(kubeconfigPath, JSON.stringify(kubeconfig, null, 2), { mode: 0o600 });

  const stub: StubApiServer = {
    url,
    caPem: certificates.caCert,
    kubeconfigPath,
    token,
    delayMs: 0,
    requests,
    get openConnections() {
      return sockets.size;
    },
    get connectionsAccepted() {
      return accepted;
    },
    addSecret(namespace, name, data, type = 'Opaque') {
      const body: Json = { kind: 'Secret', apiVersion: 'v1', metadata: nextMetadata(namespace, name, 'secrets') };
      // The API server omits an empty `data` map.
      if (Object.keys(data).length > 0) body['data'] = base64Map(data);
      body['type'] = type;
      objects.set(objectKey('secrets', namespace, name), { body });
    },
    addConfigMap(namespace, name, data, binaryData) {
      const body: Json = { kind: 'ConfigMap', apiVersion: 'v1', metadata: nextMetadata(namespace, name, 'configmaps') };
      if (Object.keys(data).length > 0) body['data'] = { ...data };
      if (binaryData !== undefined && Object.keys(binaryData).length > 0) body['binaryData'] = base64Map(binaryData);
      objects.set(objectKey('configmaps', namespace, name), { body });
    },
    addServiceAccount(namespace, name, imagePullSecrets = []) {
      const body: Json = {
        kind: 'ServiceAccount',
        apiVersion: 'v1',
        metadata: nextMetadata(namespace, name, 'serviceaccounts'),
      };
      if (imagePullSecrets.length > 0) body['imagePullSecrets'] = imagePullSecrets.map((n) => ({ name: n }));
      objects.set(objectKey('serviceaccounts', namespace, name), { body });
    },
    addPod(namespace, pod) {
      const given = isRecord(pod['metadata']) ? pod['metadata'] : {};
      const name = String(given['name'] ?? '');
      const metadata: Json = { ...structuredClone(given), ...nextMetadata(namespace, name, 'pods') };
      if (typeof given['creationTimestamp'] === 'string') metadata['creationTimestamp'] = given['creationTimestamp'];
      const body: Json = { ...structuredClone(pod), kind: 'Pod', apiVersion: 'v1', metadata };
      objects.set(objectKey('pods', namespace, name), { body });
    },
    addNamespace(name, labels = {}) {
      const body: Json = {
        kind: 'Namespace',
        apiVersion: 'v1',
        metadata: { ...nextMetadata('', name, 'namespaces'), labels: { ...labels, 'kubernetes.io/metadata.name': name } },
        spec: { finalizers: ['kubernetes'] },
        status: { phase: 'Active' },
      };
      objects.set(objectKey('namespaces', '', name), { body });
    },
    addMutatingWebhookConfiguration(name, webhooks) {
      const resource = 'mutatingwebhookconfigurations';
      const body: Json = {
        kind: RESOURCES[resource].kind,
        apiVersion: RESOURCES[resource].apiVersion,
        metadata: nextMetadata('', name, resource),
      };
      if (webhooks.length > 0) body['webhooks'] = webhooks.map(defaultWebhook);
      objects.set(objectKey(resource, '', name), { body });
    },
    getObject(kind, namespace, name) {
      const stored = objects.get(objectKey(toResource(kind), namespace, name));
      return stored === undefined ? undefined : structuredClone(stored.body);
    },
    remove(kind, namespace, name) {
      objects.delete(objectKey(toResource(kind), namespace, name));
    },
    forbid(kind, namespace, name, verbs) {
      const key = objectKey(toResource(kind), namespace, name ?? '');
      if (verbs === undefined) {
        forbidden.set(key, null);
        return;
      }
      const existing = forbidden.get(key);
      if (existing === null) return; // already everything
      const set = existing ?? new Set<StubVerb>();
      for (const verb of verbs) set.add(verb);
      forbidden.set(key, set);
    },
    failWith(status, times = 1, retryAfter) {
      if (!Number.isInteger(status) || status < 400 || status > 599) {
        throw new RangeError(`failWith: status must be an HTTP error code (400-599), got ${status}`);
      }
      if (!Number.isInteger(times) || times < 1 || times > 10_000) {
        throw new RangeError(`failWith: times must be an integer in 1..10000, got ${times}`);
      }
      for (let i = 0; i < times; i++) failures.push({ status, retryAfter });
    },
    resetNext(times = 1) {
      resets += times;
    },
    conflictOnNextWrite(options = {}) {
      interceptions.push({
        ...(options.resource !== undefined ? { resource: toResource(options.resource) } : {}),
        ...(options.beforeReply !== undefined ? { run: options.beforeReply } : {}),
        conflict: true,
      });
    },
    beforeNextWrite(options) {
      interceptions.push({
        ...(options.resource !== undefined ? { resource: toResource(options.resource) } : {}),
        run: options.run,
        conflict: false,
      });
    },
    expireContinueTokens() {
      tokenGeneration++;
    },
    beforeNextGet(path, run) {
      beforeGets.push({ path, run });
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
