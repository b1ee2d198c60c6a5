import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { ListenAddress, ServerOptions } from '../cli/parse.js';
import type { InjectionSettings } from '../core/pod-mutation.js';
import { buildApp, buildTelemetryApp } from '../http/app.js';
import { readinessFlag } from '../http/health-routes.js';
import { readFile } from 'node:fs/promises';
import type { ImageConfigSource } from '../images/image-config-source.js';
import { registryImageSource } from '../images/registry-source.js';
import { createRegistryClient } from '../registry/client.js';
import { defaultCloudProviders } from '../registry/credentials.js';
import { KubeConfigError, createKubeObjectReader, loadKubeConfig, unconfiguredReader } from '../kubernetes/object-reader.js';
import { createMetrics } from '../telemetry/metrics.js';
import { loadTlsMaterial, TlsMaterialError } from '../tls/material.js';

/** A failure before serving that is the operator's to fix: exit code 2, one line. */
export class StartupError extends Error {
  override readonly name = 'StartupError';
}

export interface RunningServer {
  /** Where the webhook listens, e.g. `https://127.0.0.1:8443`. */
  url: string;
  telemetryUrl?: string;
  /** Turns unready, lets in-flight admissions finish, closes listeners. */
  close(): Promise<void>;
}

export function injectionSettings(options: ServerOptions): InjectionSettings {
  return {
    image: options.image,
    pullPolicy: options.pullPolicy,
    volumeName: options.volumeName,
    volumePath: options.volumePath,
    defaultProvider: options.provider,
  };
}

/** Loads TLS material and Kubernetes access, then listens. Rejects with StartupError on operator mistakes. */
export async function startServer(options: ServerOptions, logger: Logger, env: Readonly<Record<string, string | undefined>>): Promise<RunningServer> {
  let https: { cert: string; key: string } | undefined;
  if (options.tlsCertFile !== undefined && options.tlsPrivateKeyFile !== undefined) {
    try {
      const material = await loadTlsMaterial(options.tlsCertFile, options.tlsPrivateKeyFile);
      https = { cert: material.cert, key: material.key };
      logger.info({ notAfter: material.notAfter.toISOString(), subjectAltNames: material.subjectAltNames }, 'TLS certificate loaded');
    } catch (error) {
      if (error instanceof TlsMaterialError) throw new StartupError(error.message);
      throw error;
    }
  } else {
    logger.warn('no --tls-cert-file/--tls-private-key-file: serving plain HTTP (the API server requires HTTPS)');
  }

  let kubeConfig;
  try {
    kubeConfig = loadKubeConfig(env);
  } catch (error) {
    if (error instanceof KubeConfigError) throw new StartupError(error.message);
    throw error;
  }
  if (kubeConfig === undefined) logger.warn('no Kubernetes API access configured (KUBECONFIG or in-cluster): pods whose env reads Secrets or ConfigMaps will be denied');
  else logger.info({ server: kubeConfig.getCurrentCluster()?.server }, 'Kubernetes API configured');
  const objects = kubeConfig === undefined ? unconfiguredReader() : createKubeObjectReader(kubeConfig, { timeoutMs: options.lookupTimeoutMs });

  const images = await imageSource(options, logger);
  const metrics = createMetrics();
  const readiness = readinessFlag();
  const app = await buildApp({
    logger,
    admission: { settings: injectionSettings(options), objects, images },
    metrics,
    readiness,
    maxRequestBytes: options.maxRequestBytes,
    serveMetrics: options.telemetryListenAddress === undefined,
    ...(https ? { https } : {}),
  });
  const url = await listen(app, options.listenAddress, https ? 'https' : 'http');

  let telemetry: FastifyInstance | undefined;
  let telemetryUrl: string | undefined;
  if (options.telemetryListenAddress !== undefined) {
    telemetry = await buildTelemetryApp({ logger, metrics, readiness });
    try {
      telemetryUrl = await listen(telemetry, options.telemetryListenAddress, 'http');
    } catch (error) {
      await app.close();
      throw error;
    }
  }
  readiness.set(true);
  logger.info({ url, telemetryUrl }, 'secrets-init-webhook is serving');
  return {
    url,
    ...(telemetryUrl ? { telemetryUrl } : {}),
    async close() {
      readiness.set(false);
      await Promise.all([app.close(), telemetry?.close()]);
    },
  };
}

/** Image configs from registries, as the flags configure them. */
async function imageSource(options: ServerOptions, logger: Logger): Promise<ImageConfigSource> {
  let ca: string | undefined;
  if (options.registryCaFile !== undefined) {
    try {
      ca = await readFile(options.registryCaFile, 'utf8');
    } catch (error) {
      throw new StartupError(`cannot read --registry-ca-file ${options.registryCaFile}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
  }
  let client;
  try {
    client = createRegistryClient({ timeoutMs: options.registryTimeoutMs, skipVerify: options.registrySkipVerify, insecureRegistries: options.insecureRegistries, ...(ca !== undefined ? { ca } : {}) });
  } catch (error) {
    throw new StartupError(`--registry-ca-file ${options.registryCaFile ?? ''}: ${(error as Error).message}`);
  }
  const { defaultImagePullSecret: name, defaultImagePullSecretNamespace: namespace } = options;
  if ((name === undefined) !== (namespace === undefined)) {
    logger.warn('--default-image-pull-secret and --default-image-pull-secret-namespace go together; the one given is ignored');
  }
  if (options.registrySkipVerify) logger.warn('--registry-skip-verify: registry TLS certificates are not verified');
  return registryImageSource({
    client,
    dockerConfigJsonKey: options.dockerConfigJsonKey,
    ...(name !== undefined && namespace !== undefined ? { defaultPullSecret: { name, namespace } } : {}),
    cloud: defaultCloudProviders(),
    defaultArchitecture: options.defaultArchitecture,
    tagTtlMs: options.imageCacheTtlMs,
  });
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
