import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { AdmissionResult } from '../admission/handler.js';

/** Prometheus metrics of the webhook. Labels carry outcomes only, never pod data. */
export interface WebhookMetrics {
  registry: Registry;
  observeAdmission(result: AdmissionResult | 'rejected', seconds: number): void;
}

export function createMetrics(options: { processMetrics: boolean } = { processMetrics: true }): WebhookMetrics {
  const registry = new Registry();
  if (options.processMetrics) collectDefaultMetrics({ register: registry });
  const admissions = new Counter({
    name: 'secrets_init_admissions_total',
    help: 'Admission requests by result: injected, unchanged, skipped (not a pod CREATE), denied, rejected (bad request).',
    labelNames: ['result'],
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'secrets_init_admission_duration_seconds',
    help: 'Time to decide an admission request.',
    labelNames: ['result'],
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  return {
    registry,
    observeAdmission(result, seconds) {
      admissions.inc({ result });
      duration.observe({ result }, seconds);
    },
  };
}
