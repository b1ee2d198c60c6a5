import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { ListenAddress, ServerOptions } from '../cli/parse.js';
import type { InjectionSettings } from '../core/settings.js';
import { buildInitContainer } from '../core/init-container.js';
import { createObjectFactsCache } from '../admission/object-facts-cache.js';
import { buildApp, buildTelemetryApp } from '../http/app.js';
import { readinessFlag } from '../http/health-routes.js';
import { RequestMemory, bodyLimitBeyondCapacity, defaultRequestMemoryCapacity } from '../http/request-memory.js';
import type { Socket } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import type { ImageConfigSource } from '../images/image-config-source.js';
import { RegistrySetupError, configuredImageSource } from '../images/configured-source.js';
import type { KubeConfig } from '@kubernetes/client-node';
import { join } from 'node:path';
import { KubeConfigError, SERVICE_ACCOUNT_DIR, findKubeConfigSource, serviceAccountNamespace, shownServer } from '../kubernetes/config-source.js';
import type { KubeObjectReader } from '../kubernetes/lookup.js';
import { unconfiguredReader } from '../kubernetes/unconfigured.js';
import { createMetrics } from '../telemetry/metrics.js';
import { buildInfo } from '../build-info.js';
import type { WebhookMetrics } from '../telemetry/metrics.js';
import { instrumentedReader } from '../telemetry/instrumented-reader.js';
import { watchTlsFiles } from '../tls/file-source.js';
import { describeCertificate } from '../tls/server-tls.js';
import { TlsMaterialError } from '../tls/material.js';
import type { TlsSource } from '../tls/source.js';

/** A failure before serving that is the operator's to fix: exit code 2, one line. */
export class StartupError extends Error {
  override readonly name = 'StartupError';
  /** 2 for the operator's mistakes (flags, files), 1 for failures of what it depends on. */
  constructor(message: string, readonly exitCode: 1 | 2 = 2) {
    super(message);
  }
}

export interface RunningServer {
  /** Where the webhook listens, e.g. `https://127.0.0.1:8443`. */
  url: string;
  telemetryUrl?: string;
  /**
   * Graceful stop, as on SIGTERM: /readyz turns 503 at once while both listeners keep
   * accepting and serving (every response says `Connection: close`) for `shutdownDrainMs`, so
   * the Service endpoints drop the pod; then the listeners close, idle keep-alive connections
   * are closed, and in-flight requests get `shutdownTimeoutMs` to finish before the connections
   * still open are cut. Resolves `true` when everything finished in time. Idempotent.
   */
  shutdown(): Promise<boolean>;
  /** The same without the drain: unready, stop accepting, let in-flight requests finish (bounded). */
  close(): Promise<void>;
}

export function injectionSettings(options: ServerOptions): InjectionSettings {
  return {
    image: options.image,
    pullPolicy: options.pullPolicy,
    initContainerUser: options.initContainerUser,
    volumeName: options.volumeName,
    volumePath: options.volumePath,
    runtime: options.runtime,
    supervisors: options.supervisors,
    limits: options.limits,
  };
}

/**
 * Where the serving certificate comes from. Every source (the watched files of
 * --tls-cert-file/--tls-private-key-file, or a self-managed certificate) is a TlsSource;
 * the server only ever uses that interface. Undefined: plain HTTP.
 */
async function openTlsSource(options: ServerOptions, logger: Logger, kubeConfig: KubeConfig | undefined): Promise<TlsSource | undefined> {
  if (options.selfBootstrap !== undefined) return bootstrapTls(options.selfBootstrap, logger, kubeConfig);
  const { tlsCertFile: certFile, tlsPrivateKeyFile: keyFile } = options;
  if (certFile === undefined || keyFile === undefined) {
    logger.warn('no --tls-cert-file/--tls-private-key-file: serving plain HTTP (the API server requires HTTPS)');
    return undefined;
  }
  try {
    const clientCaFile = options.clientCaFile;
    const source = await watchTlsFiles(certFile, keyFile, { logger, ...(clientCaFile !== undefined ? { clientCaFile } : {}) });
    logger.info({ certFile, keyFile, clientCaFile, ...describeCertificate(source.current()) }, 'TLS certificate loaded');
    return source;
  } catch (error) {
    if (error instanceof TlsMaterialError) throw new StartupError(error.message);
    throw error;
  }
}

/** --self-bootstrap: the certificate comes from (and is renewed into) the shared Secret. */
async function bootstrapTls(bootstrap: NonNullable<ServerOptions['selfBootstrap']>, logger: Logger, kubeConfig: KubeConfig | undefined): Promise<TlsSource> {
  if (kubeConfig === undefined) throw new StartupError('--self-bootstrap needs Kubernetes API access (run in a cluster, or set KUBECONFIG)');
  const namespace = bootstrap.namespace ?? serviceAccountNamespace(SERVICE_ACCOUNT_DIR);
  if (namespace === undefined) {
    throw new StartupError(`--self-bootstrap: cannot tell the webhook's namespace (no ${join(SERVICE_ACCOUNT_DIR, 'namespace')}); set --bootstrap-namespace`);
  }
  // Loaded only here: certificate generation (selfsigned) is not needed otherwise.
  const { BootstrapError, bootstrapCertificates } = await import('../bootstrap/index.js');
  try {
    const source = await bootstrapCertificates({
      kubeConfig,
      namespace,
      service: bootstrap.service,
      secretName: bootstrap.secret,
      webhookConfigurationName: bootstrap.webhookConfiguration,
      logger,
    });
    logger.info({ secret: `${namespace}/${bootstrap.secret}`, webhookConfiguration: bootstrap.webhookConfiguration, ...describeCertificate(source.current()) }, 'TLS certificate bootstrapped');
    return source;
  } catch (error) {
    if (error instanceof BootstrapError) throw new StartupError(`--self-bootstrap: ${error.message}`, 1);
    throw error;
  }
}

/**
 * The API access configured, if any. The Kubernetes client (~70 MiB resident, ~0.3 s to load)
 * is imported only when there is one: without it, the server never reads the API.
 */
async function kubernetesAccess(env: Readonly<Record<string, string | undefined>>): Promise<KubeConfig | undefined> {
  try {
    const source = findKubeConfigSource(env);
    if (source === undefined) return undefined;
    const { kubeConfigOf } = await import('../kubernetes/kubeconfig.js');
    return kubeConfigOf(source);
  } catch (error) {
    if (error instanceof KubeConfigError) throw new StartupError(error.message);
    throw error;
  }
}

/** Loads TLS material and Kubernetes access, then listens. Rejects with StartupError on operator mistakes. */
export async function startServer(options: ServerOptions, logger: Logger, env: Readonly<Record<string, string | undefined>>): Promise<RunningServer> {
  const kubeConfig = await kubernetesAccess(env);
  const tls = await openTlsSource(options, logger, kubeConfig);
  try {
    return await serve(options, logger, kubeConfig, tls, env);
  } catch (error) {
    await tls?.close();
    throw error;
  }
}

async function serve(
  options: ServerOptions,
  logger: Logger,
  kubeConfig: KubeConfig | undefined,
  tls: TlsSource | undefined,
  env: Readonly<Record<string, string | undefined>>,
): Promise<RunningServer> {
  const requestMemory = new RequestMemory(defaultRequestMemoryCapacity());
  const beyond = bodyLimitBeyondCapacity(options.maxRequestBytes, requestMemory.capacity);
  if (beyond !== undefined) throw new StartupError(beyond);
  if (kubeConfig === undefined) logger.warn('no Kubernetes API access configured (KUBECONFIG or in-cluster): pods whose env reads Secrets or ConfigMaps will be denied');
  else logger.info({ server: shownServer(kubeConfig.getCurrentCluster()?.server) }, 'Kubernetes API configured');
  const metrics = createMetrics({ processMetrics: true, build: buildInfo(env) });
  let reader: KubeObjectReader = unconfiguredReader();
  if (kubeConfig !== undefined) {
    const { createKubeObjectReader } = await import('../kubernetes/api-reader.js');
    reader = createKubeObjectReader(kubeConfig, { timeoutMs: options.lookupTimeoutMs });
  }
  const objects = instrumentedReader(reader, metrics);

  const images = await imageSource(options, logger, metrics);
  const settings = injectionSettings(options);
  // Built once, here: what could be wrong with it fails at start, not at the first admission.
  buildInitContainer(settings);
  if (tls !== undefined) {
    metrics.setCertificateExpiry(tls.current().notAfter);
    tls.onChange((material) => {
      metrics.setCertificateExpiry(material.notAfter);
      metrics.observeTlsReload('success');
    });
    tls.onRejected?.(() => metrics.observeTlsReload('failure'));
  }
  const readiness = readinessFlag();
  let draining = false;
  const app = await buildApp({
    logger,
    admission: { settings, objects, images, maxConcurrentReads: options.maxConcurrentReads, admissionTimeoutMs: options.admissionTimeoutMs, objectFacts: createObjectFactsCache(options.objectCacheTtlMs) },
    metrics,
    readiness,
    maxRequestBytes: options.maxRequestBytes,
    requestMemory,
    maxConnections: options.maxConnections,
    serveMetrics: options.telemetryListenAddress === undefined,
    draining: () => draining,
    ...(tls ? { tls } : {}),
  });
  const appSockets = trackSockets(app);
  const url = await listen(app, options.listenAddress, tls ? 'https' : 'http');

  let telemetry: FastifyInstance | undefined;
  let telemetryUrl: string | undefined;
  let telemetrySockets: Set<Socket> | undefined;
  if (options.telemetryListenAddress !== undefined) {
    telemetry = await buildTelemetryApp({ logger, metrics, readiness, maxConnections: options.maxConnections });
    telemetrySockets = trackSockets(telemetry);
    try {
      telemetryUrl = await listen(telemetry, options.telemetryListenAddress, 'http');
    } catch (error) {
      await app.close();
      throw error;
    }
  }
  readiness.set(true);
  logger.info({ url, telemetryUrl }, 'secrets-init-webhook is serving');

  let stopping: Promise<boolean> | undefined;
  const stop = (drainMs: number): Promise<boolean> => {
    stopping ??= (async () => {
      draining = true;
      readiness.set(false);
      if (drainMs > 0) {
        logger.info({ drainMs }, 'draining: /readyz answers 503 so the pod leaves the Service endpoints; still serving');
        await delay(drainMs);
      }
      const timeoutMs = options.shutdownTimeoutMs;
      logger.info({ timeoutMs, openConnections: appSockets.size }, 'closing the listener; waiting for in-flight requests');
      const closing = Promise.all([app.close(), telemetry?.close()]).then(
        () => true,
        (error: unknown) => {
          logger.error({ err: error }, 'error while closing the listeners');
          return true;
        },
      );
      let timer: NodeJS.Timeout | undefined;
      const expired = new Promise<false>((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMs);
      });
      const finished = await Promise.race([closing, expired]);
      clearTimeout(timer);
      if (!finished) {
        const open = appSockets.size + (telemetrySockets?.size ?? 0);
        logger.warn({ timeoutMs, openConnections: open }, 'requests still in flight after --shutdown-timeout; closing their connections');
        for (const socket of [...appSockets, ...(telemetrySockets ?? [])]) socket.destroy();
        await Promise.race([closing, delay(1_000)]);
      }
      await tls?.close();
      return finished;
    })();
    return stopping;
  };
  return {
    url,
    ...(telemetryUrl ? { telemetryUrl } : {}),
    shutdown: () => stop(options.shutdownDrainMs),
    async close() {
      await stop(0);
    },
  };
}

/** Every TCP connection of the app's server (including ones still in the TLS handshake), to cut them when the shutdown bound expires. */
function trackSockets(app: FastifyInstance): Set<Socket> {
  const sockets = new Set<Socket>();
  app.server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  return sockets;
}

/** Image configs from registries, as the flags configure them. */
async function imageSource(options: ServerOptions, logger: Logger, metrics: WebhookMetrics): Promise<ImageConfigSource> {
  try {
    return await configuredImageSource(options, {
      warn: (message) => logger.warn(message),
      observeRequest: (kind, status) => metrics.observeRegistryRequest(kind, status),
      observeLookup: (result) => metrics.observeImageConfigLookup(result),
      tagTtlMs: options.imageCacheTtlMs,
    });
  } catch (error) {
    if (error instanceof RegistrySetupError) throw new StartupError(error.message);
    throw error;
  }
}

async function listen(app: FastifyInstance, address: ListenAddress, scheme: 'http' | 'https'): Promise<string> {
  const hosts = address.host === '' ? ['::', '0.0.0.0'] : [address.host];
  for (const [i, host] of hosts.entries()) {
    try {
      await app.listen({ host, port: address.port, listenTextResolver: (url) => `listening on ${url}` });
      const bound = app.server.address();
      const port = typeof bound === 'object' && bound !== null ? bound.port : address.port;
      const shown = host.includes(':') ? `[${host}]` : host;
      return `${scheme}://${shown}:${port}`;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      // ':PORT' means every interface: fall back to IPv4 where the machine has no IPv6.
      if (i < hosts.length - 1 && (code === 'EAFNOSUPPORT' || code === 'EADDRNOTAVAIL')) continue;
      throw new StartupError(`cannot listen on ${host}:${address.port}: ${(error as Error).message}`);
    }
  }
  throw new StartupError(`cannot listen on port ${address.port}`);
}
