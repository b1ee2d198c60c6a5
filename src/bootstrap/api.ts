/**
 * The Kubernetes API calls of the certificate bootstrap, through `@kubernetes/client-node`,
 * each bounded by a timeout that really aborts the request, and each failure turned into a
 * {@link BootstrapError} that names the object (and, for a 403, the RBAC that is missing).
 */
import { AdmissionregistrationV1Api, ApiException, CoreV1Api } from '@kubernetes/client-node';
import type { ConfigurationOptions, KubeConfig, V1MutatingWebhookConfiguration, V1Secret } from '@kubernetes/client-node';
import { boundedCall, networkReason, oneLine } from '../kubernetes/bounded-call.js';
import { redacted } from '../redaction.js';
import { configurationProblem, parseStatus } from '../kubernetes/errors.js';
import { BootstrapError, describeObject, rbacFor } from './errors.js';
import type { BootstrapObject } from './errors.js';

export interface JsonPatchOperation {
  op: 'add' | 'replace' | 'test';
  path: string;
  value: unknown;
}

export type Read<T> = { found: true; object: T } | { found: false };

export interface BootstrapApi {
  readSecret(namespace: string, name: string): Promise<Read<V1Secret>>;
  createSecret(namespace: string, secret: V1Secret): Promise<V1Secret>;
  /** PUT; `secret.metadata.resourceVersion` makes it conditional (409 Conflict when stale). */
  replaceSecret(namespace: string, name: string, secret: V1Secret): Promise<V1Secret>;
  readWebhookConfiguration(name: string): Promise<Read<V1MutatingWebhookConfiguration>>;
  /** `application/json-patch+json`. */
  patchWebhookConfiguration(name: string, patch: JsonPatchOperation[]): Promise<V1MutatingWebhookConfiguration>;
}

export interface BootstrapApiOptions {
  /** Per call, covering credentials, connect, response and body. */
  timeoutMs: number;
  /** Aborts every call in flight, and fails later ones, once aborted (when the bootstrap is closed). */
  signal: AbortSignal;
}

type Verb = 'get' | 'create' | 'update' | 'patch';

const MAX_DETAIL = 300;

function clean(text: string): string {
  return oneLine(text, MAX_DETAIL);
}

function errorName(error: unknown): string | undefined {
  return error instanceof Error ? error.name : undefined;
}


/** A PEM private key, from its first line on: a server quoting one may cut it anywhere, or escape its line breaks. */
const PRIVATE_KEY_PEM = /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*$/;

/**
 * What a Secret sent in a write holds, as sent (base64) and as text: what an API server (or an
 * admission webhook's denial) quoting the request must not put into a message.
 */
function secretTexts(secret: V1Secret): string[] {
  return Object.values(secret.data ?? {}).flatMap((value) => [value, Buffer.from(value, 'base64').toString('utf8')]);
}

/**
 * The server's own message, without what the request carried (the webhook's token, the
 * Secret's data, any private key), redacted before it is cut short.
 */
function serverMessage(message: string, secrets: readonly string[]): string {
  return clean(redacted(message, secrets).replace(PRIVATE_KEY_PEM, '[redacted]'));
}

function failure(verb: Verb, object: BootstrapObject, error: unknown, responseStatus: number | undefined, secrets: readonly string[]): BootstrapError {
  const what = `cannot ${verb} ${describeObject(object)}`;
  if (error instanceof ApiException) {
    const code: unknown = error.code;
    if (typeof code === 'number') {
      const status = parseStatus(error.body);
      const said = status?.message === undefined ? '' : `: ${serverMessage(status.message, secrets)}`;
      switch (true) {
        case code === 401:
          return new BootstrapError('unauthorized', `${what}: unauthorized (HTTP 401)${said}`, code);
        case code === 403:
          return new BootstrapError(
            'forbidden',
            `${what}: forbidden (HTTP 403)${said}. Certificate bootstrap needs ${rbacFor(object)}`,
            code,
          );
        case code === 404 && status?.reason === 'NotFound':
          return new BootstrapError('not-found', `${what}: not found (HTTP 404)${said}`, code);
        case code === 404:
          return new BootstrapError(
            'bad-response',
            `${what}: HTTP 404 without a Kubernetes NotFound Status (is the API server URL right?)`,
            code,
          );
        case code === 409 && status?.reason === 'AlreadyExists':
          return new BootstrapError('already-exists', `${what}: already exists (HTTP 409)${said}`, code);
        case code === 409:
          return new BootstrapError('conflict', `${what}: conflict (HTTP 409)${said}`, code);
        case code === 422:
          return new BootstrapError('invalid', `${what}: rejected as invalid (HTTP 422)${said}`, code);
        case code === 429:
          return new BootstrapError('server-error', `${what}: API server is throttling requests (HTTP 429)${said}`, code);
        case code >= 500:
          return new BootstrapError('server-error', `${what}: API server error (HTTP ${code})${said}`, code);
        default:
          return new BootstrapError('bad-response', `${what}: unexpected response (HTTP ${code})${said}`, code);
      }
    }
  }
  const name = errorName(error);
  if (name === 'FetchError' && error instanceof Error) {
    const type = (error as { type?: unknown }).type;
    if (type === 'system') return new BootstrapError('unreachable', `${what}: API server unreachable (${networkReason(error)})`);
    return new BootstrapError('bad-response', `${what}: the response could not be read`, responseStatus);
  }
  if (name === 'AbortError') return new BootstrapError('unreachable', `${what}: request aborted`);
  if (responseStatus !== undefined) {
    // Not the error's own message: a JSON SyntaxError quotes the body, which may be a Secret.
    return new BootstrapError('bad-response', `${what}: the response body could not be decoded (HTTP ${responseStatus})`, responseStatus);
  }
  // Nothing was sent: building the request (credentials, TLS material) failed; the client's message may quote the token.
  return new BootstrapError('unreachable', `${what}: Kubernetes client configuration error: ${clean(configurationProblem(error))}`);
}

export function createBootstrapApi(kubeConfig: KubeConfig, options: BootstrapApiOptions): BootstrapApi {
  const { timeoutMs, signal } = options;
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const admission = kubeConfig.makeApiClient(AdmissionregistrationV1Api);

  async function call<T>(
    verb: Verb,
    object: BootstrapObject,
    send: (callOptions: ConfigurationOptions) => Promise<T>,
    contentType?: string,
    sent: readonly string[] = [],
  ): Promise<T> {
    const what = `cannot ${verb} ${describeObject(object)}`;
    if (signal.aborted) throw new BootstrapError('closed', `${what}: certificate bootstrap closed`);
    // A read is sent once more when the API server asks for that (429, or a 5xx with
    // Retry-After: API Priority and Fairness shedding load), as the object reads are.
    const result = await boundedCall(send, { timeoutMs, signal, retry: verb === 'get', ...(contentType !== undefined ? { contentType } : {}) });
    if (result.ok) return result.value;
    if (result.reason !== 'failed') {
      throw result.reason === 'timeout'
        ? new BootstrapError('timeout', `${what}: timed out after ${timeoutMs}ms`)
        : new BootstrapError('closed', `${what}: certificate bootstrap closed`);
    }
    if (result.error instanceof BootstrapError) throw result.error;
    throw failure(verb, object, result.error, result.status, [...result.credentials, ...sent]);
  }

  async function read<T>(verbObject: BootstrapObject, send: (o: ConfigurationOptions) => Promise<T>): Promise<Read<T>> {
    try {
      return { found: true, object: await call('get', verbObject, send) };
    } catch (error) {
      // Only a 404 from the API server itself (a NotFound Status) means the object is missing.
      if (error instanceof BootstrapError && error.cause === 'not-found') {
        return { found: false };
      }
      throw error;
    }
  }

  return {
    readSecret(namespace, name) {
      return read({ kind: 'Secret', namespace, name }, (o) => core.readNamespacedSecret({ name, namespace }, o));
    },
    createSecret(namespace, secret) {
      const name = secret.metadata?.name ?? '';
      return call('create', { kind: 'Secret', namespace, name }, (o) => core.createNamespacedSecret({ namespace, body: secret }, o), undefined, secretTexts(secret));
    },
    replaceSecret(namespace, name, secret) {
      return call('update', { kind: 'Secret', namespace, name }, (o) => core.replaceNamespacedSecret({ name, namespace, body: secret }, o), undefined, secretTexts(secret));
    },
    readWebhookConfiguration(name) {
      return read({ kind: 'MutatingWebhookConfiguration', name }, (o) =>
        admission.readMutatingWebhookConfiguration({ name }, o),
      );
    },
    patchWebhookConfiguration(name, patch) {
      return call(
        'patch',
        { kind: 'MutatingWebhookConfiguration', name },
        (o) => admission.patchMutatingWebhookConfiguration({ name, body: patch }, o),
        'application/json-patch+json',
      );
    },
  };
}
