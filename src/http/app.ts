import { STATUS_CODES } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import Fastify, { LogController } from 'fastify';
import type { FastifyError, FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { AdmissionDependencies } from '../admission/handler.js';
import type { WebhookMetrics } from '../telemetry/metrics.js';
import { describeCertificate, serverTlsOptions } from '../tls/server-tls.js';
import type { TlsSource } from '../tls/source.js';
import { admissionRoutes } from './admission-routes.js';
import type { CallerTimeouts } from './caller-timeouts.js';
import { CALLER_TIMEOUTS, httpServerTimeouts, httpsServerTimeouts } from './caller-timeouts.js';
import { healthRoutes, metricsRoute } from './health-routes.js';
import type { Readiness } from './health-routes.js';
import { limitConnections } from './connection-limit.js';
import { parseJsonWithin } from './json-body.js';
import { RequestMemory, RequestMemoryFull, defaultRequestMemoryCapacity } from './request-memory.js';

export interface AppOptions {
  logger: Logger;
  admission: AdmissionDependencies;
  metrics: WebhookMetrics;
  readiness: Readiness;
  maxRequestBytes: number;
  /** Serve /metrics here (no separate telemetry listener). */
  serveMetrics: boolean;
  /**
   * Where the serving certificate comes from; plain HTTP when absent. The server starts with
   * `tls.current()` and swaps its secure context on every change: new handshakes get the new
   * certificate, connections already open keep theirs, nothing is restarted.
   */
  tls?: TlsSource;
  /** True once shutdown began: every response then carries `Connection: close`, so keep-alive clients reconnect elsewhere. */
  draining?: () => boolean;
  /** How long a caller may take (default CALLER_TIMEOUTS; tests shorten them). */
  callerTimeouts?: CallerTimeouts;
  /** What request bodies may hold at once (default: half of V8's heap limit; tests make it small). */
  requestMemory?: RequestMemory;
  /** --max-connections; unbounded when absent. */
  maxConnections?: number;
}

/** The webhook's HTTP(S) application: POST /pods, GET /healthz, GET /readyz, GET /metrics. */
export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const timeouts = options.callerTimeouts ?? CALLER_TIMEOUTS;
  const base = {
    loggerInstance: options.logger,
    bodyLimit: options.maxRequestBytes,
    // Admissions are logged once each by the route, with their outcome.
    logController: new LogController({ disableRequestLogging: true }),
    // Kubernetes sends up to ~3 MiB; a slow client must not hold a connection forever
    // (caller-timeouts.ts: bounds node:tls and node:http enforce, no timer per connection).
    // Fastify sets the server's requestTimeout from this after making it (0 would turn it
    // off), so it repeats the value the server was made with.
    requestTimeout: timeouts.requestMs,
    keepAliveTimeout: timeouts.keepAliveMs,
    return503OnClosing: true,
    // close() ends idle keep-alive connections at once; busy ones end after their response.
    forceCloseConnections: 'idle' as const,
  };
  const tls = options.tls;
  // One instance type for both transports: routes do not care which one carries them.
  const app = (tls
    ? Fastify({ ...base, https: { ...serverTlsOptions(tls.current()), ...httpsServerTimeouts(timeouts) } })
    : Fastify({ ...base, http: httpServerTimeouts(timeouts) })) as unknown as FastifyInstance;
  if (tls) {
    const server = app.server as unknown as HttpsServer;
    const unsubscribe = tls.onChange((material) => {
      try {
        server.setSecureContext(serverTlsOptions(material));
        options.logger.info(describeCertificate(material), 'serving the new TLS certificate to new connections');
      } catch (error) {
        options.logger.error({ err: error }, 'cannot use the new TLS certificate; still serving the previous one');
      }
    });
    app.addHook('onClose', async () => unsubscribe());
  }
  if (options.maxConnections !== undefined) limitConnections(app.server, { max: options.maxConnections, listener: 'webhook', metrics: options.metrics, logger: options.logger });
  const draining = options.draining;
  if (draining) {
    // A callback hook: an async one would cost a promise per response.
    app.addHook('onSend', (_req, reply, payload, done) => {
      if (draining()) void reply.header('connection', 'close');
      done(null, payload);
    });
  }

  // Admission reviews are JSON; any other content type is a 415, not a confusing schema error.
  app.removeContentTypeParser('text/plain');
  parseJsonWithin(app, options.requestMemory ?? new RequestMemory(defaultRequestMemoryCapacity()), { bodyLimit: options.maxRequestBytes, flushMs: timeouts.requestMs });
  app.setSchemaErrorFormatter((errors, dataVar) => {
    const first = errors[0];
    const where = `${dataVar}${first?.instancePath ?? ''}`;
    const allowed = first?.params && 'allowedValues' in first.params ? ` (${(first.params.allowedValues as unknown[]).join(', ')})` : '';
    return new Error(`invalid AdmissionReview: ${where} ${first?.message ?? 'is invalid'}${allowed}`);
  });
  app.setErrorHandler((error: FastifyError, req, reply) => {
    const refused = error instanceof RequestMemoryFull;
    const status = refused ? error.statusCode : error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
    // Timed from the request's start (its body's arrival included), as Fastify measures it.
    if (req.url === '/pods' || req.url.startsWith('/pods?')) options.metrics.observeAdmission('rejected', reply.elapsedTime / 1000, false);
    if (refused) req.log.warn({ status, reason: error.message, url: req.url }, 'request refused');
    else if (status >= 500) req.log.error({ err: error }, 'request failed');
    else req.log.warn({ status, reason: error.message, url: req.url }, 'bad request');
    const message = refused ? error.message : status >= 500 ? 'internal error' : clientErrorMessage(error, req.headers['content-type'], options.maxRequestBytes);
    void reply.status(status).send({ statusCode: status, error: STATUS_CODES[status] ?? 'Error', message });
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.status(404).send({ statusCode: 404, error: 'Not Found', message: `no route for ${req.method} ${req.url.split('?')[0] ?? ''}; the webhook serves POST /pods` });
  });

  // With client CAs in the TLS material (--client-ca-file), admissions need a verified client certificate.
  const clientCertificates = tls?.current().clientCa !== undefined;
  await app.register(admissionRoutes, { admission: options.admission, metrics: options.metrics, clientCertificates });
  await app.register(healthRoutes, { readiness: options.readiness });
  if (options.serveMetrics) await app.register(metricsRoute, { metrics: options.metrics });
  return app;
}

/** The separate plain-HTTP telemetry listener (--telemetry-listen-address): /metrics, /healthz, /readyz. */
export async function buildTelemetryApp(options: Pick<AppOptions, 'logger' | 'metrics' | 'readiness' | 'callerTimeouts' | 'maxConnections'>): Promise<FastifyInstance> {
  const timeouts = options.callerTimeouts ?? CALLER_TIMEOUTS;
  const app = Fastify({
    loggerInstance: options.logger,
    logController: new LogController({ disableRequestLogging: true }),
    requestTimeout: timeouts.requestMs,
    keepAliveTimeout: timeouts.keepAliveMs,
    http: httpServerTimeouts(timeouts),
  }) as unknown as FastifyInstance;
  if (options.maxConnections !== undefined) limitConnections(app.server, { max: options.maxConnections, listener: 'telemetry', metrics: options.metrics, logger: options.logger });
  // Only GETs are served here: no request body is ever read (nor held while it arrives).
  app.removeAllContentTypeParsers();
  await app.register(metricsRoute, { metrics: options.metrics });
  await app.register(healthRoutes, { readiness: options.readiness });
  return app;
}

/** What a 4xx answer says: Fastify's message, or ours where it would not tell the caller what to do. */
function clientErrorMessage(error: FastifyError, contentType: string | undefined, maxRequestBytes: number): string {
  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return `unsupported content-type "${contentType ?? ''}": send the AdmissionReview as application/json`;
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return `request body over ${maxRequestBytes} bytes (--max-request-bytes)`;
    default:
      return error.message;
  }
}
