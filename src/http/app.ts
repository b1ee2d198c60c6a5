import { STATUS_CODES } from 'node:http';
import Fastify, { LogController } from 'fastify';
import type { FastifyError, FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { AdmissionDependencies } from '../admission/handler.js';
import type { WebhookMetrics } from '../telemetry/metrics.js';
import { admissionRoutes } from './admission-routes.js';
import { healthRoutes, metricsRoute } from './health-routes.js';
import type { Readiness } from './health-routes.js';

export interface AppOptions {
  logger: Logger;
  admission: AdmissionDependencies;
  metrics: WebhookMetrics;
  readiness: Readiness;
  maxRequestBytes: number;
  /** Serve /metrics here (no separate telemetry listener). */
  serveMetrics: boolean;
  /** TLS material; plain HTTP when absent. */
  https?: { cert: string; key: string };
}

/** The webhook's HTTP(S) application: POST /pods, GET /healthz, GET /readyz, GET /metrics. */
export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const base = {
    loggerInstance: options.logger,
    bodyLimit: options.maxRequestBytes,
    // Admissions are logged once each by the route, with their outcome.
    logController: new LogController({ disableRequestLogging: true }),
    // Kubernetes sends up to ~3 MiB; a slow client must not hold a connection forever.
    connectionTimeout: 30_000,
    requestTimeout: 30_000,
    return503OnClosing: true,
  };
  // One instance type for both transports: routes do not care which one carries them.
  const app = (options.https
    ? Fastify({ ...base, https: { cert: options.https.cert, key: options.https.key, minVersion: 'TLSv1.2' } })
    : Fastify(base)) as unknown as FastifyInstance;

  // Admission reviews are JSON; any other content type is a 415, not a confusing schema error.
  app.removeContentTypeParser('text/plain');
  app.setSchemaErrorFormatter((errors, dataVar) => {
    const first = errors[0];
    const where = `${dataVar}${first?.instancePath ?? ''}`;
    const allowed = first?.params && 'allowedValues' in first.params ? ` (${(first.params.allowedValues as unknown[]).join(', ')})` : '';
    return new Error(`invalid AdmissionReview: ${where} ${first?.message ?? 'is invalid'}${allowed}`);
  });
  app.setErrorHandler((error: FastifyError, req, reply) => {
    const status = error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
    if (req.url === '/pods' || req.url.startsWith('/pods?')) options.metrics.observeAdmission('rejected', 0);
    if (status >= 500) req.log.error({ err: error }, 'request failed');
    else req.log.warn({ status, reason: error.message, url: req.url }, 'bad request');
    const message = status >= 500 ? 'internal error' : error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' ? `unsupported content-type "${req.headers['content-type'] ?? ''}": send the AdmissionReview as application/json` : error.message;
    void reply.status(status).send({ statusCode: status, error: STATUS_CODES[status] ?? 'Error', message });
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.status(404).send({ statusCode: 404, error: 'Not Found', message: `no route for ${req.method} ${req.url.split('?')[0] ?? ''}; the webhook serves POST /pods` });
  });

  await app.register(admissionRoutes, { admission: options.admission, metrics: options.metrics });
  await app.register(healthRoutes, { readiness: options.readiness });
  if (options.serveMetrics) await app.register(metricsRoute, { metrics: options.metrics });
  return app;
}

/** The separate plain-HTTP telemetry listener (--telemetry-listen-address): /metrics, /healthz, /readyz. */
export async function buildTelemetryApp(options: Pick<AppOptions, 'logger' | 'metrics' | 'readiness'>): Promise<FastifyInstance> {
  const app = Fastify({ loggerInstance: options.logger, logController: new LogController({ disableRequestLogging: true }) }) as unknown as FastifyInstance;
  await app.register(metricsRoute, { metrics: options.metrics });
  await app.register(healthRoutes, { readiness: options.readiness });
  return app;
}
