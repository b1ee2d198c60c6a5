import type { FastifyPluginAsync } from 'fastify';
import { performance } from 'node:perf_hooks';
import type { TLSSocket } from 'node:tls';
import type { AdmissionDependencies, CallerTimeout } from '../admission/handler.js';
import { decideAdmission } from '../admission/handler.js';
import type { AdmissionReview } from '../admission/review.js';
import { admissionReviewSchema, reviewInconsistency, reviewResponseJson } from '../admission/review.js';
import type { WebhookMetrics } from '../telemetry/metrics.js';
import { parseDurationMs } from '../cli/duration.js';

export interface AdmissionRoutesOptions {
  admission: AdmissionDependencies;
  metrics: WebhookMetrics;
  /** --client-ca-file: only callers with a client certificate signed by one of its CAs may POST /pods. */
  clientCertificates?: boolean;
}

/** POST /pods: the mutating webhook endpoint. */
export const admissionRoutes: FastifyPluginAsync<AdmissionRoutesOptions> = async (app, { admission, metrics, clientCertificates }) => {
  if (clientCertificates === true) {
    // Probes and /metrics stay open; admissions need the API server's client certificate.
    app.addHook('onRequest', async (req) => {
      const socket = req.raw.socket as Partial<TLSSocket>;
      // node:tls also reports `authorized` for a TLS 1.3 session resumed from a handshake that
      // had no client certificate (it takes the resumption for PSK authentication): only a
      // verified certificate the connection actually holds counts.
      if (socket.authorized === true && socket.getPeerX509Certificate?.() !== undefined) return;
      const error = socket.authorized === true ? undefined : (socket.authorizationError as (Error & { code?: string }) | string | undefined);
      const reason = error === undefined ? 'none presented' : typeof error === 'string' ? error : (error.code ?? error.message);
      throw Object.assign(new Error(`a client certificate signed by a CA of --client-ca-file is required (${reason})`), { statusCode: 401 });
    });
  }
  app.post<{ Body: AdmissionReview }>('/pods', { schema: { body: admissionReviewSchema } }, async (req, reply) => {
    const started = performance.now();
    const review = req.body;
    const inconsistency = reviewInconsistency(review.request);
    if (inconsistency !== undefined) throw Object.assign(new Error(inconsistency), { statusCode: 400 });
    const decision = await decideAdmission(review.request, admission, req.log, callerTimeoutOf(req.query));
    const seconds = (performance.now() - started) / 1000;
    metrics.observeAdmission(decision.result, seconds, review.request.dryRun === true);
    const fields = {
      uid: review.request.uid,
      namespace: review.request.namespace,
      pod: decision.pod,
      operation: review.request.operation,
      dryRun: review.request.dryRun === true,
      result: decision.result,
      containers: decision.containers,
      durationMs: Math.round(seconds * 1e5) / 100,
    };
    // One line per admission: info, but a denial, which operators must see, at warn.
    if (decision.result === 'denied') req.log.warn({ ...fields, reason: decision.response.status?.message }, 'admission denied');
    else req.log.info(fields, decision.result === 'skipped' ? 'admission skipped' : 'admission decided');
    return reply.type('application/json; charset=utf-8').send(reviewResponseJson(review.apiVersion, decision.response));
  });
};

let lastTimeoutText = '';
let lastTimeout: CallerTimeout | undefined;

/**
 * The API server's `?timeout=` (a Go duration, `10s`), or undefined when absent or not a
 * positive duration (then --admission-timeout alone applies). The last one parsed is kept:
 * the API server sends the same text on nearly every call.
 */
function callerTimeoutOf(query: unknown): CallerTimeout | undefined {
  const text = typeof query === 'object' && query !== null ? (query as Record<string, unknown>)['timeout'] : undefined;
  if (typeof text !== 'string') return undefined;
  if (text !== lastTimeoutText) {
    const parsed = parseDurationMs(text);
    lastTimeoutText = text;
    lastTimeout = parsed.ok && parsed.value > 0 ? { ms: parsed.value, text: text.slice(0, 32) } : undefined;
  }
  return lastTimeout;
}
