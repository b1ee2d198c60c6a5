/**
 * The Kubernetes API calls of the certificate bootstrap, through `@kubernetes/client-node`,
 * each bounded by a timeout that really aborts the request, and each failure turned into a
 * {@link BootstrapError} that names the object (and, for a 403, the RBAC that is missing).
 */
import { AdmissionregistrationV1Api, ApiException, CoreV1Api, Observable } from '@kubernetes/client-node';
import type {
  ConfigurationOptions,
  KubeConfig,
  ObservableMiddleware,
  RequestContext,
  ResponseContext,
  V1MutatingWebhookConfiguration,
  V1Secret,
} from '@kubernetes/client-node';
import { parseStatus } from '../kubernetes/errors.js';
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
  const oneLine = text.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  return oneLine.length > MAX_DETAIL ? `${oneLine.slice(0, MAX_DETAIL)}...` : oneLine;
}

function passThrough<T>(value: T): Observable<T> {
  return new Observable(Promise.resolve(value));
}

function errorName(error: unknown): string | undefined {
  return error instanceof Error ? error.name : undefined;
}

/** `connect ECONNREFUSED 127.0.0.1:1` out of node-fetch's `request to URL failed, reason: ...`. */
function networkReason(error: Error): string {
  const match = /, reason: (.*)$/s.exec(error.message);
  if (match?.[1] !== undefined && match[1] !== '') return clean(match[1]);
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : 'network error';
}

function failure(verb: Verb, object: BootstrapObject, error: unknown, responseStatus: number | undefined): BootstrapError {
  const what = `cannot ${verb} ${describeObject(object)}`;
  if (error instanceof ApiException) {
    const code: unknown = error.code;
    if (typeof code === 'number') {
      const status = parseStatus(error.body);
      const said = status?.message === undefined ? '' : `: ${clean(status.message)}`;
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
  // Nothing was sent: building the request (credentials, TLS material) failed.
  const message = error instanceof Error ? error.message : String(error);
  return new BootstrapError('unreachable', `${what}: Kubernetes client configuration error: ${clean(message)}`);
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
  ): Promise<T> {
    const what = `cannot ${verb} ${describeObject(object)}`;
    if (signal.aborted) throw new BootstrapError('closed', `${what}: certificate bootstrap closed`);
    const controller = new AbortController();
    let responseStatus: number | undefined;
    const middleware: ObservableMiddleware = {
      pre(context: RequestContext): Observable<RequestContext> {
        context.setSignal(controller.signal);
        if (contentType !== undefined) context.setHeaderParam('Content-Type', contentType);
        return passThrough(context);
      },
      post(context: ResponseContext): Observable<ResponseContext> {
        responseStatus = context.httpStatusCode;
        return passThrough(context);
      },
    };
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    const deadline = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        controller.abort();
        reject(new BootstrapError('timeout', `${what}: timed out after ${timeoutMs}ms`));
      }, timeoutMs);
      onAbort = () => {
        controller.abort();
        reject(new BootstrapError('closed', `${what}: certificate bootstrap closed`));
      };
      signal.addEventListener('abort', onAbort, { once: true });
    });
    const pending = new Promise<T>((resolve) => {
      resolve(send({ middleware: [middleware], middlewareMergeStrategy: 'append' }));
    });
    try {
      return await Promise.race([pending, deadline]);
    } catch (error) {
      if (error instanceof BootstrapError) throw error;
      throw failure(verb, object, error, responseStatus);
    } finally {
      clearTimeout(timer);
      if (onAbort !== undefined) signal.removeEventListener('abort', onAbort);
      // After a timeout the aborted call still settles; nobody is waiting for it.
      pending.catch(() => undefined);
      deadline.catch(() => undefined);
    }
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
      return call('create', { kind: 'Secret', namespace, name }, (o) =>
        core.createNamespacedSecret({ namespace, body: secret }, o),
      );
    },
    replaceSecret(namespace, name, secret) {
      return call('update', { kind: 'Secret', namespace, name }, (o) =>
        core.replaceNamespacedSecret({ name, namespace, body: secret }, o),
      );
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
