import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { AdmissionResult } from '../admission/handler.js';
import { TalliedCounter, TalliedHistogram } from './tallies.js';

export type ObjectLookupKind = 'Secret' | 'ConfigMap' | 'ServiceAccount';
export type ObjectLookupResult = 'found' | 'not_found' | 'forbidden' | 'timeout' | 'error';
export type ImageConfigLookupResult = 'cache_hit' | 'coalesced' | 'fetched' | 'error';
export type RegistryRequestKind = 'manifest' | 'blob' | 'token';
/** webhook: POST /pods (and the probes) over HTTPS; telemetry: the plain-HTTP --telemetry-listen-address. */
export type ConnectionListener = 'webhook' | 'telemetry';

/**
 * Prometheus metrics of the webhook. Labels carry outcomes and kinds from fixed sets,
 * never pod data (no pod, namespace, image or secret names), so their number is bounded.
 */
export interface WebhookMetrics {
  registry: Registry;
  observeAdmission(result: AdmissionResult | 'rejected', seconds: number, dryRun: boolean): void;
  observeObjectLookup(kind: ObjectLookupKind, result: ObjectLookupResult, seconds: number): void;
  observeImageConfigLookup(result: ImageConfigLookupResult): void;
  /** `code`: the HTTP status, or `error` when no response came. */
  observeRegistryRequest(kind: RegistryRequestKind, code: number | 'error'): void;
  setCertificateExpiry(notAfter: Date): void;
  observeTlsReload(result: 'success' | 'failure'): void;
  /** Exports `count()` as the listener's open connections at each scrape. */
  watchConnections(listener: ConnectionListener, count: () => Promise<number>): void;
  observeDroppedConnection(listener: ConnectionListener): void;
}

export interface MetricsOptions {
  processMetrics: boolean;
  /** For secrets_init_webhook_build_info. */
  build?: { version: string; revision?: string };
}

const PREFIX = 'secrets_init_webhook_';
/** 1 ms to 10 s. */
const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;

export function createMetrics(options: MetricsOptions = { processMetrics: true }): WebhookMetrics {
  const registry = new Registry();
  if (options.processMetrics) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  // Observed on every admission: tallied in place (see tallies.ts), exported as prom-client's own.
  const admissions = new TalliedCounter({
    name: `${PREFIX}admissions_total`,
    help: 'Admission requests by result (injected, unchanged, skipped: not a pod CREATE, denied, rejected: a bad request) and dry run.',
    labelNames: ['result', 'dry_run'],
  }).registerWith(registry);
  // Exported at 0 from the start: a series born at its first observation loses that one (and
  // every one before the first scrape) to rate(), e.g. the first burst of denials after a restart.
  for (const result of ['injected', 'unchanged', 'skipped', 'denied'] as const) {
    for (const dryRun of ['false', 'true']) admissions.initialize({ result, dry_run: dryRun });
  }
  admissions.initialize({ result: 'rejected', dry_run: 'false' });
  const admissionDuration = new TalliedHistogram({
    name: `${PREFIX}admission_duration_seconds`,
    help: 'Time to decide an admission request, by result.',
    labelNames: ['result'],
    buckets: DURATION_BUCKETS,
  }).registerWith(registry);
  const lookups = new Counter({
    name: `${PREFIX}object_lookups_total`,
    help: 'Reads of Secrets, ConfigMaps and ServiceAccounts from the API server, by kind and result.',
    labelNames: ['kind', 'result'],
    registers,
  });
  const lookupDuration = new Histogram({
    name: `${PREFIX}object_lookup_duration_seconds`,
    help: 'Time of one read from the API server, by kind.',
    labelNames: ['kind'],
    buckets: [...DURATION_BUCKETS],
    registers,
  });
  const imageLookups = new Counter({
    name: `${PREFIX}image_config_lookups_total`,
    help: 'Image config lookups for containers without command: cache_hit, coalesced (joined a lookup in flight), fetched, error.',
    labelNames: ['result'],
    registers,
  });
  const registryRequests = new Counter({
    name: `${PREFIX}registry_requests_total`,
    help: 'HTTP requests to registries and their token servers, by kind (manifest, blob, token) and status code (error: no response).',
    labelNames: ['kind', 'code'],
    registers,
  });
  const expiry = new Gauge({
    name: `${PREFIX}tls_certificate_expiry_timestamp_seconds`,
    help: 'When the serving certificate in use expires (Unix time).',
    registers,
  });
  const reloads = new Counter({
    name: `${PREFIX}tls_reloads_total`,
    help: 'Serving certificate changes: success (in use for new connections), failure (refused, the previous one kept).',
    labelNames: ['result'],
    registers,
  });
  const connectionCounts = new Map<ConnectionListener, () => Promise<number>>();
  new Gauge({
    name: `${PREFIX}open_connections`,
    help: 'Connections open now, by listener (webhook: the HTTPS listener of POST /pods; telemetry: the plain-HTTP metrics listener).',
    labelNames: ['listener'],
    registers,
    async collect() {
      for (const [listener, count] of connectionCounts) this.set({ listener }, await count());
    },
  });
  const droppedConnections = new Counter({
    name: `${PREFIX}connections_dropped_total`,
    help: 'Connections closed as soon as they were accepted because --max-connections were open, by listener.',
    labelNames: ['listener'],
    registers,
  });
  const build = new Gauge({
    name: `${PREFIX}build_info`,
    help: 'The running build: version, revision and Node.js version; always 1.',
    labelNames: ['version', 'revision', 'node_version'],
    registers,
  });
  build.set({ version: options.build?.version ?? 'unknown', revision: options.build?.revision ?? 'unknown', node_version: process.version }, 1);
  // Each admission observes both: the children are looked up once per label set, not per admission.
  const admissionChildren = new Map<string, { count: { inc(): void }; duration: { observe(value: number): void } }>();
  const admissionChild = (result: AdmissionResult | 'rejected', dryRun: boolean) => {
    const key = `${result}/${dryRun}`;
    let child = admissionChildren.get(key);
    if (child === undefined) {
      child = { count: admissions.labels({ result, dry_run: String(dryRun) }), duration: admissionDuration.labels({ result }) };
      admissionChildren.set(key, child);
    }
    return child;
  };
  return {
    registry,
    observeAdmission(result, seconds, dryRun) {
      const child = admissionChild(result, dryRun);
      child.count.inc();
      child.duration.observe(seconds);
    },
    observeObjectLookup(kind, result, seconds) {
      lookups.inc({ kind, result });
      lookupDuration.observe({ kind }, seconds);
    },
    observeImageConfigLookup(result) {
      imageLookups.inc({ result });
    },
    observeRegistryRequest(kind, code) {
      registryRequests.inc({ kind, code: String(code) });
    },
    setCertificateExpiry(notAfter) {
      expiry.set(notAfter.getTime() / 1000);
    },
    observeTlsReload(result) {
      reloads.inc({ result });
    },
    watchConnections(listener, count) {
      connectionCounts.set(listener, count);
      // Exported from the start (at 0), so an alert on its increase has a series to watch.
      droppedConnections.inc({ listener }, 0);
    },
    observeDroppedConnection(listener) {
      droppedConnections.inc({ listener });
    },
  };
}
