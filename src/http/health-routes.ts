import type { FastifyPluginAsync } from 'fastify';
import type { WebhookMetrics } from '../telemetry/metrics.js';

/** Whether the webhook should receive traffic: TLS loaded, listening, not shutting down. */
export interface Readiness { ready(): boolean }

export function readinessFlag(): Readiness & { set(value: boolean): void } {
  let ready = false;
  return { ready: () => ready, set: (value) => { ready = value; } };
}

export const healthRoutes: FastifyPluginAsync<{ readiness: Readiness }> = async (app, { readiness }) => {
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    if (readiness.ready()) return { status: 'ready' };
    return reply.status(503).send({ status: 'not ready' });
  });
};

export const metricsRoute: FastifyPluginAsync<{ metrics: WebhookMetrics }> = async (app, { metrics }) => {
  app.get('/metrics', async (_req, reply) => {
    const body = await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).send(body);
  });
};
