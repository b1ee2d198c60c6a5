/**
 * manifests/components/monitoring: a Prometheus Operator ServiceMonitor for the webhook's
 * /metrics and a PrometheusRule with its alerts, built with the base and the overlays the way
 * a user's overlay includes them.
 *
 * - The ServiceMonitor selects exactly the webhook's Service, and its one endpoint is the
 *   Service port that leads to the plain-HTTP telemetry listener of the container args.
 * - Every alert expression parses with Prometheus's PromQL grammar (no error node), and
 *   every series it reads is one the built webhook really exposes (scraped from a running
 *   `node dist/main.js server` at the ServiceMonitor's path), Prometheus's `up`, or a
 *   kube-state-metrics series listed here; label matchers use labels and values the series
 *   have, and the webhook's series are read through the ServiceMonitor's job.
 * - The alerts (names, severities, `for`) are the documented ones.
 */
import type { V1Deployment, V1NetworkPolicy, V1Service } from '@kubernetes/client-node';
import t from 'tap';
import type { Test } from 'tap';
import { startWebhook } from '../helpers/webhook-process.js';
import type { WebhookMetrics } from '../../src/telemetry/metrics.js';
import { checkObjects, serverOptions, webhookContainer } from './fixtures/checks.js';
import { APP_NAME, NAMESPACE, build, buildOverlay, find, kinds, selects } from './fixtures/kustomize.js';
import type { KubeObject, LabelSelector } from './fixtures/kustomize.js';
import { monitoringProblems } from './fixtures/monitoring.js';
import { analyse, templateProblems } from './fixtures/promql.js';
import type { LabelValues, Vocabulary } from './fixtures/promql.js';

const COMPONENT = 'components/monitoring';
const MONITORING_API = 'monitoring.coreos.com/v1';

interface Endpoint {
  port?: string;
  targetPort?: string | number;
  path?: string;
  scheme?: string;
  interval?: string;
  scrapeTimeout?: string;
}
interface ServiceMonitor extends KubeObject {
  spec: { jobLabel?: string; selector: LabelSelector; namespaceSelector?: { any?: boolean; matchNames?: string[] }; endpoints: Endpoint[] };
}
interface Rule {
  alert?: string;
  record?: string;
  expr: string | number;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface PrometheusRule extends KubeObject {
  spec: { groups: Array<{ name: string; rules?: Rule[] }> };
}

/** [alert, severity, for], in file order. */
const ALERTS: ReadonlyArray<readonly [string, string, string]> = [
  ['SecretsInitWebhookNoReadyReplica', 'critical', '2m'],
  ['SecretsInitWebhookDown', 'critical', '5m'],
  ['SecretsInitWebhookAdmissionErrors', 'warning', '10m'],
  ['SecretsInitWebhookDenialSpike', 'warning', '5m'],
  ['SecretsInitWebhookSlowAdmissions', 'warning', '10m'],
  ['SecretsInitWebhookApiLookupFailures', 'warning', '10m'],
  ['SecretsInitWebhookRegistryFailures', 'warning', '15m'],
  ['SecretsInitWebhookImageConfigLookupFailures', 'warning', '15m'],
  ['SecretsInitWebhookCertificateExpiring', 'warning', '15m'],
  ['SecretsInitWebhookCertificateExpiring', 'critical', '5m'],
  ['SecretsInitWebhookCertificateReloadFailed', 'warning', '5m'],
  ['SecretsInitWebhookConnectionsDropped', 'warning', '2m'],
];

// ---- the series the alerts may read, and their labels ---------------------------------------

/** kube-state-metrics series the alerts read (README, "Monitoring"), with their own labels. */
const KUBE_STATE_METRICS: Readonly<Record<string, readonly string[]>> = {
  kube_deployment_status_replicas_available: ['namespace', 'deployment'],
};

/** The labels Prometheus Operator gives the targets of a ServiceMonitor (job from jobLabel). */
const TARGET_LABELS = ['job', 'namespace', 'service', 'pod', 'container', 'endpoint', 'instance'] as const;

const ANY: LabelValues = { values: [], open: /^.*$/s };

/** Every value of a label whose values are a union type: tsc (npm run typecheck) refuses a missing or extra one. */
function exactly<T extends string>(values: Record<T, true>): LabelValues {
  return { values: Object.keys(values) };
}

const ADMISSION_RESULT = exactly<Parameters<WebhookMetrics['observeAdmission']>[0]>({ injected: true, unchanged: true, skipped: true, denied: true, rejected: true });
const LOOKUP_KIND = exactly<Parameters<WebhookMetrics['observeObjectLookup']>[0]>({ Secret: true, ConfigMap: true, ServiceAccount: true });
const LOOKUP_RESULT = exactly<Parameters<WebhookMetrics['observeObjectLookup']>[1]>({ found: true, not_found: true, forbidden: true, timeout: true, error: true });
const IMAGE_RESULT = exactly<Parameters<WebhookMetrics['observeImageConfigLookup']>[0]>({ cache_hit: true, coalesced: true, fetched: true, error: true });
const REGISTRY_KIND = exactly<Parameters<WebhookMetrics['observeRegistryRequest']>[0]>({ manifest: true, blob: true, token: true });
const TLS_RELOAD_RESULT = exactly<Parameters<WebhookMetrics['observeTlsReload']>[0]>({ success: true, failure: true });
const DRY_RUN = exactly<'true' | 'false'>({ true: true, false: true });
const LISTENER = exactly<Parameters<WebhookMetrics['observeDroppedConnection']>[0]>({ webhook: true, telemetry: true });
/** An HTTP status (representative values for regexes such as 5..) or `error` (no response). */
const HTTP_CODE: LabelValues = { values: ['200', '301', '307', '401', '403', '404', '429', '500', '502', '503', '504', 'error'], open: /^([1-5][0-9][0-9]|error)$/ };
const LE: LabelValues = { values: ['0.001', '0.0025', '0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '5', '10', '+Inf'], open: /^(\+Inf|[0-9]+(\.[0-9]+)?)$/ };

/** The webhook's metric families (src/telemetry/metrics.ts) and their labels; histograms as histograms. */
const WEBHOOK_FAMILIES: Readonly<Record<string, { histogram?: true; labels: Readonly<Record<string, LabelValues>> }>> = {
  secrets_init_webhook_admissions_total: { labels: { result: ADMISSION_RESULT, dry_run: DRY_RUN } },
  secrets_init_webhook_admission_duration_seconds: { histogram: true, labels: { result: ADMISSION_RESULT } },
  secrets_init_webhook_object_lookups_total: { labels: { kind: LOOKUP_KIND, result: LOOKUP_RESULT } },
  secrets_init_webhook_object_lookup_duration_seconds: { histogram: true, labels: { kind: LOOKUP_KIND } },
  secrets_init_webhook_image_config_lookups_total: { labels: { result: IMAGE_RESULT } },
  secrets_init_webhook_registry_requests_total: { labels: { kind: REGISTRY_KIND, code: HTTP_CODE } },
  secrets_init_webhook_tls_certificate_expiry_timestamp_seconds: { labels: {} },
  secrets_init_webhook_tls_reloads_total: { labels: { result: TLS_RELOAD_RESULT } },
  secrets_init_webhook_build_info: { labels: { version: ANY, revision: ANY, node_version: ANY } },
  secrets_init_webhook_open_connections: { labels: { listener: LISTENER } },
  secrets_init_webhook_connections_dropped_total: { labels: { listener: LISTENER } },
};

/** Series name -> labels (with the target labels), for the webhook's families, `up` and kube-state-metrics. */
function vocabulary(job: string): Vocabulary {
  const target: Record<string, LabelValues> = Object.fromEntries(TARGET_LABELS.map((label) => [label, label === 'job' ? { values: [job] } : ANY]));
  const series = new Map<string, Record<string, LabelValues>>();
  const webhook = new Set<string>();
  for (const [family, { histogram, labels }] of Object.entries(WEBHOOK_FAMILIES)) {
    const names = histogram === true ? [`${family}_bucket`, `${family}_sum`, `${family}_count`] : [family];
    for (const name of names) {
      series.set(name, { ...target, ...labels, ...(name.endsWith('_bucket') ? { le: LE } : {}) });
      webhook.add(name);
    }
  }
  series.set('up', target);
  // Scraped from kube-state-metrics (its own job): any job, and its own labels.
  for (const [name, labels] of Object.entries(KUBE_STATE_METRICS)) series.set(name, { ...target, job: ANY, ...Object.fromEntries(labels.map((l) => [l, ANY])) });
  return {
    labels: (name) => series.get(name),
    required: (name): Record<string, string> => (webhook.has(name) || name === 'up' ? { job } : name.startsWith('kube_deployment_') ? { deployment: APP_NAME } : {}),
  };
}

// ---- helpers ----------------------------------------------------------------------------------

function isMonitoring(object: KubeObject): boolean {
  return object.apiVersion === MONITORING_API;
}

function byKey(objects: readonly KubeObject[]): KubeObject[] {
  const key = (o: KubeObject) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
  return [...objects].sort((a, b) => key(a).localeCompare(key(b)));
}

/** A Prometheus duration (1d2h, 5m, 30s, 500ms) in milliseconds; NaN if it is not one. */
function promDurationMs(text: string): number {
  const match = /^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$/.exec(text);
  if (match === null || text === '') return Number.NaN;
  const units = [365 * 86_400_000, 7 * 86_400_000, 86_400_000, 3_600_000, 60_000, 1000, 1];
  return units.reduce((total, unit, i) => total + Number(match[i + 1] ?? 0) * unit, 0);
}

function rulesOf(objects: readonly KubeObject[]): Rule[] {
  const rule = find<PrometheusRule>(objects, 'PrometheusRule', APP_NAME);
  return rule.spec.groups.flatMap((g) => g.rules ?? []);
}

interface ScrapeTarget {
  job: string;
  endpoint: Endpoint;
}

/**
 * The Service(s) the ServiceMonitor selects and the port its endpoint scrapes, checked
 * against the Service, the container ports and the parsed container args.
 */
function checkScrapeTarget(t: Test, objects: readonly KubeObject[]): ScrapeTarget | undefined {
  const monitor = find<ServiceMonitor>(objects, 'ServiceMonitor', APP_NAME);
  const deployment = find<KubeObject & V1Deployment>(objects, 'Deployment', APP_NAME);
  const selector = monitor.spec.namespaceSelector;
  const namespaces = selector?.any === true ? undefined : (selector?.matchNames ?? [monitor.metadata.namespace ?? '']);
  t.same(namespaces, [NAMESPACE], "the ServiceMonitor looks in the webhook's namespace only");
  const services = objects.filter((o) => o.kind === 'Service' && (namespaces === undefined || namespaces.includes(o.metadata.namespace ?? '')) && selects(monitor.spec.selector, o.metadata.labels ?? {}));
  t.same(services.map((s) => s.metadata.name), [APP_NAME], 'the ServiceMonitor selects exactly the webhook Service');
  const service = services[0] as (KubeObject & V1Service) | undefined;
  if (service === undefined) return undefined;
  const podLabels = deployment.spec?.template.metadata?.labels ?? {};
  t.ok(selects({ matchLabels: service.spec?.selector ?? {} }, podLabels), "the Service's endpoints are the webhook pods");

  t.equal(monitor.spec.endpoints.length, 1, 'one scrape endpoint');
  const endpoint = monitor.spec.endpoints[0];
  if (endpoint === undefined) return undefined;
  t.equal(endpoint.port, 'metrics', 'the Service port named "metrics"');
  t.equal(endpoint.targetPort, undefined, 'named by Service port, not by targetPort');
  const ports = (service.spec?.ports ?? []).filter((p) => p.name === endpoint.port);
  t.equal(ports.length, 1, `the Service has exactly one port named ${endpoint.port ?? '(none)'}`);
  const port = ports[0];
  const container = webhookContainer(deployment);
  const target = port?.targetPort ?? port?.port;
  const containerPort = typeof target === 'number' ? target : container.ports?.find((p) => p.name === target)?.containerPort;
  t.ok(containerPort !== undefined, `the Service port's targetPort (${String(target)}) is a port of the webhook container`);
  const server = serverOptions(t, container.args ?? []);
  t.equal(containerPort, server?.telemetryListenAddress?.port, 'which is the --telemetry-listen-address listener');
  t.not(containerPort, server?.listenAddress.port, 'not the admission (TLS) listener');
  t.equal((endpoint.scheme ?? 'http').toLowerCase(), 'http', 'scraped over plain HTTP, as the telemetry listener serves');
  t.equal(endpoint.path ?? '/metrics', '/metrics', 'at /metrics');
  const interval = promDurationMs(endpoint.interval ?? '1m');
  const timeout = promDurationMs(endpoint.scrapeTimeout ?? '10s');
  t.ok(timeout > 0 && timeout <= interval, `scrapeTimeout ${endpoint.scrapeTimeout ?? '(default)'} within interval ${endpoint.interval ?? '(default)'} (the operator refuses a longer one)`);

  const jobLabel = monitor.spec.jobLabel;
  const job = jobLabel === undefined ? service.metadata.name : (service.metadata.labels?.[jobLabel] ?? service.metadata.name);
  t.ok(jobLabel === undefined || service.metadata.labels?.[jobLabel] !== undefined, `the Service has the jobLabel ${jobLabel ?? ''}`);
  t.equal(job, APP_NAME, `the targets' job is ${APP_NAME}`);
  return { job, endpoint };
}

/** Series names in a Prometheus text exposition: sample names, and each family's names (histograms and summaries with their suffixes). */
function exposedSeries(text: string): { families: Map<string, string>; names: Set<string>; orphans: string[] } {
  const families = new Map<string, string>();
  const samples = new Set<string>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (\w+)$/.exec(line);
    if (type !== null) families.set(type[1] as string, type[2] as string);
    else if (line !== '' && !line.startsWith('#')) {
      const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/.exec(line);
      if (sample === null) throw new Error(`not an exposition line: ${line}`);
      samples.add(sample[1] as string);
    }
  }
  const names = new Set<string>();
  for (const [family, type] of families) {
    names.add(family);
    if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(`${family}${suffix}`);
    if (type === 'summary') for (const suffix of ['_sum', '_count']) names.add(`${family}${suffix}`);
  }
  const orphans = [...samples].filter((name) => !names.has(name));
  return { families, names, orphans };
}

// ---- tests ------------------------------------------------------------------------------------

t.test('the component builds with the base and the overlays, and adds only a ServiceMonitor and a PrometheusRule', async (t) => {
  for (const resource of ['base', 'overlays/cert-manager', 'overlays/self-signed']) {
    await t.test(resource, async (t) => {
      const objects = await buildOverlay(t, { resources: [resource], components: [COMPONENT] });
      const plain = await build(resource);
      checkObjects(t, objects);
      t.same(kinds(objects), [...kinds(plain), `PrometheusRule/${APP_NAME}`, `ServiceMonitor/${APP_NAME}`].sort(), 'the build plus a ServiceMonitor and a PrometheusRule');
      t.same(byKey(objects.filter((o) => !isMonitoring(o))), byKey(plain), 'nothing else changes');
      for (const object of objects.filter(isMonitoring)) t.equal(object.metadata.namespace, NAMESPACE, `${object.kind} in ${NAMESPACE}`);
      checkScrapeTarget(t, objects);
    });
  }
});

t.test('with components/network-policy, the monitoring namespace may reach the scraped port', async (t) => {
  const objects = await buildOverlay(t, { resources: ['overlays/cert-manager'], components: ['components/network-policy', COMPONENT] });
  checkObjects(t, objects);
  const target = checkScrapeTarget(t, objects);
  const service = find<KubeObject & V1Service>(objects, 'Service', APP_NAME);
  const port = service.spec?.ports?.find((p) => p.name === target?.endpoint.port);
  const container = webhookContainer(find<KubeObject & V1Deployment>(objects, 'Deployment', APP_NAME));
  const containerPort = container.ports?.find((p) => p.name === port?.targetPort || p.containerPort === port?.targetPort);
  const policy = find<KubeObject & V1NetworkPolicy>(objects, 'NetworkPolicy', 'secrets-init-webhook-from-monitoring');
  const allowed = (policy.spec?.ingress ?? []).flatMap((rule) => rule.ports ?? []);
  t.ok(
    allowed.some((p) => (p.protocol ?? 'TCP') === 'TCP' && (p.port === containerPort?.containerPort || p.port === containerPort?.name)),
    `secrets-init-webhook-from-monitoring allows TCP ${String(containerPort?.containerPort)} (the port the ServiceMonitor scrapes)`,
  );
});

t.test('the alerts: names, severities, for, summary and description', async (t) => {
  const objects = await buildOverlay(t, { resources: ['base'], components: [COMPONENT] });
  const rule = find<PrometheusRule>(objects, 'PrometheusRule', APP_NAME);
  t.same(rule.spec.groups.map((g) => g.name), ['secrets-init-webhook'], 'one rule group');
  const rules = rulesOf(objects);
  t.same(rules.filter((r) => r.record !== undefined).map((r) => r.record), [], 'alerts only, no recording rules');
  t.same(rules.map((r) => [r.alert, r.labels?.['severity'], r.for]), ALERTS, 'the alerts, their severities and for');
  for (const r of rules) {
    const name = `${r.alert ?? '(no name)'} (${r.labels?.['severity'] ?? '?'})`;
    t.same(Object.keys(r.labels ?? {}), ['severity'], `${name}: a severity label only`);
    t.ok(['warning', 'critical'].includes(r.labels?.['severity'] ?? ''), `${name}: severity warning or critical`);
    t.same(Object.keys(r.annotations ?? {}).sort(), ['description', 'summary'], `${name}: summary and description annotations`);
    t.ok((r.annotations?.['summary'] ?? '').trim().length > 10 && (r.annotations?.['description'] ?? '').trim().length > 40, `${name}: they say something`);
    const forMs = promDurationMs(r.for ?? '');
    t.ok(forMs > 0, `${name}: a for duration (${r.for ?? 'none'})`);
    if (r.labels?.['severity'] === 'critical') t.ok(forMs <= 5 * 60_000, `${name}: critical alerts fire within 5 minutes`);
    t.notMatch(String(r.expr), /\bnamespace\s*(=|!=|=~|!~)\s*["'`]/, `${name}: the namespace is not hard-coded (an overlay may change it)`);
  }
  const pairs = rules.map((r) => `${r.alert ?? ''}/${r.labels?.['severity'] ?? ''}`);
  t.same(pairs.filter((p, i) => pairs.indexOf(p) !== i), [], 'no alert twice with the same severity');
});

t.test("the commands an alert's annotations give name the webhook's namespace", async (t) => {
  // Run from an operator's shell, whose context namespace is rarely the webhook's: a kubectl or
  // cmctl command for a namespaced object without -n finds nothing.
  const objects = await buildOverlay(t, { resources: ['base'], components: [COMPONENT] });
  let commands = 0;
  for (const r of rulesOf(objects)) {
    for (const [key, text] of Object.entries(r.annotations ?? {})) {
      for (const match of text.matchAll(/\b(?:kubectl|cmctl)\s[^;,()]*/g)) {
        commands++;
        t.match(match[0], /\s(-n|--namespace)[\s=]+\{\{ \$labels\.namespace \}\}/, `${r.alert ?? ''} (${r.labels?.['severity'] ?? ''}) ${key}: "${match[0].trim()}" names the namespace`);
      }
    }
  }
  t.ok(commands >= 3, `${commands} commands checked`);
});

t.test('every alert expression is valid PromQL over series the webhook exports, up, or kube-state-metrics', async (t) => {
  const objects = await buildOverlay(t, { resources: ['overlays/cert-manager'], components: [COMPONENT] });
  const target = checkScrapeTarget(t, objects);
  if (target === undefined) return;

  // The real list: scrape the built webhook the way Prometheus will (scheme and path of the ServiceMonitor).
  const webhook = await startWebhook(['server', '--listen-address=127.0.0.1:0', '--telemetry-listen-address=127.0.0.1:0'], {}, { t });
  t.ok(webhook.telemetryUrl, 'the webhook has a separate telemetry listener');
  const base = new URL(webhook.telemetryUrl ?? webhook.url);
  t.equal(base.protocol, `${(target.endpoint.scheme ?? 'http').toLowerCase()}:`, "the telemetry listener speaks the ServiceMonitor's scheme");
  const response = await fetch(new URL(target.endpoint.path ?? '/metrics', base), { signal: AbortSignal.timeout(10_000) });
  t.equal(response.status, 200, `GET ${target.endpoint.path ?? '/metrics'} answers 200`);
  t.match(response.headers.get('content-type') ?? '', /^text\/plain/, 'in the Prometheus text format');
  const { families, names, orphans } = exposedSeries(await response.text());
  await webhook.stop();
  t.same(orphans, [], 'every sample belongs to a declared metric family (the exposition is read right)');
  t.same(
    Object.keys(WEBHOOK_FAMILIES).filter((family) => !families.has(family) || (families.get(family) === 'histogram') !== (WEBHOOK_FAMILIES[family]?.histogram === true)),
    [],
    'every family of the label vocabulary is exported, histograms as histograms',
  );
  t.ok([...families.keys()].some((f) => f.startsWith('process_')) && [...families.keys()].some((f) => f.startsWith('nodejs_')), "and prom-client's process and Node.js metrics");

  const known = new Set([...names, 'up', ...Object.keys(KUBE_STATE_METRICS)]);
  const words = vocabulary(target.job);
  const used = new Set<string>();
  for (const r of rulesOf(objects)) {
    const name = `${r.alert ?? r.record ?? '(no name)'} (${r.labels?.['severity'] ?? '?'})`;
    t.type(r.expr, 'string', `${name}: expr is a string`);
    const analysis = analyse(String(r.expr), words);
    t.same(analysis.problems, [], `${name}: parses as PromQL with no error node, and its selectors, ranges and histograms are sound`);
    t.same(analysis.series.filter((s) => !known.has(s)), [], `${name}: reads only exported series, up and the listed kube-state-metrics series`);
    t.ok(analysis.series.length > 0, `${name}: reads at least one series`);
    for (const series of analysis.series) used.add(series);
    t.ok(analysis.resultLabels !== undefined, `${name}: the labels of its result are known (${[...(analysis.resultLabels ?? [])].sort().join(', ') || 'none'})`);
    for (const [key, template] of Object.entries(r.annotations ?? {})) {
      t.same(templateProblems(template, analysis.resultLabels), [], `${name}: the ${key} template uses $value and labels the alert has`);
    }
  }
  t.same(
    [...used].filter((s) => !names.has(s)).sort(),
    ['kube_deployment_status_replicas_available', 'up'],
    'apart from the webhook\'s own series, the alerts read up and kube_deployment_status_replicas_available (listed in the README)',
  );
});

t.test('the checks catch broken rules (they can fail)', async (t) => {
  const job = APP_NAME;
  const words = vocabulary(job);
  const bad: Array<[string, RegExp]> = [
    [`rate(secrets_init_webhook_admissions_total{job="${job}"}[5m]`, /syntax error/],
    [`secrets_init_webhook_admissions_total{job="${job}" > 0`, /syntax error/],
    [`sum(rate(secrets_init_webhook_admissions_total{job="${job}", result="errors"}[5m]))`, /result is never "errors"/],
    [`sum(rate(secrets_init_webhook_object_lookups_total{job="${job}", result=~"timeout|eror"}[5m]))`, /alternative "eror" matches no value/],
    [`sum(rate(secrets_init_webhook_admissions_total{job="${job}", reason="x"}[5m]))`, /has no label reason/],
    [`sum(rate(secrets_init_webhook_admission_total{job="${job}"}[5m]))`, /no label vocabulary for secrets_init_webhook_admission_total/],
    [`rate(secrets_init_webhook_admissions_total{job="${job}"})`, /needs a range vector/],
    [`secrets_init_webhook_admissions_total{job="${job}"}[5m] > 0`, /outside a range function/],
    [`sum(secrets_init_webhook_admissions_total{job="${job}"}[5m])`, /outside a range function/],
    [`histogram_quantile(0.99, sum by (namespace) (rate(secrets_init_webhook_admission_duration_seconds_bucket{job="${job}"}[5m])))`, /drops le/],
    [`histogram_quantile(99, sum by (le) (rate(secrets_init_webhook_admission_duration_seconds_bucket{job="${job}"}[5m])))`, /quantile must be a number from 0 to 1/],
    [`histogram_quantile(0.99, sum by (le) (rate(secrets_init_webhook_admission_duration_seconds_count{job="${job}"}[5m])))`, /_bucket series only/],
    ['up == 0', /needs job="secrets-init-webhook"/],
    [`up{job="other"} == 0`, /job is never "other"/],
    ['{__name__="up"}', /without a metric name/],
    ['kube_deployment_status_replicas_available < 1', /needs deployment="secrets-init-webhook"/],
  ];
  for (const [expr, expected] of bad) {
    const problems = analyse(expr, words).problems;
    t.ok(problems.some((p) => expected.test(p)), `${expr}: reported (${problems.join('; ') || 'nothing'})`);
  }
  const good = `sum by (namespace) (rate(secrets_init_webhook_admissions_total{job="${job}", result=~"denied|rejected"}[5m])) > 0`;
  t.same(analyse(good, words).problems, [], 'a sound expression passes');
  t.same([...(analyse(good, words).resultLabels ?? [])], ['namespace'], 'its result has the label namespace');
  t.match(templateProblems('{{ $labels.kind }} failed', analyse(good, words).resultLabels).join(), /no label kind/, 'a template label the result does not have is reported');
  t.match(templateProblems('{{ $value | humanise }}', undefined).join(), /only \$value/, 'an unknown template function is reported');
  t.match(templateProblems('{{ $value ', undefined).join(), /unbalanced/, 'an unclosed template action is reported');

  const objects = await buildOverlay(t, { resources: ['base'], components: [COMPONENT] });
  const monitor = structuredClone(find(objects, 'ServiceMonitor', APP_NAME)) as KubeObject & { spec: Record<string, unknown> & { endpoints: Array<Record<string, unknown>> } };
  t.same(monitoringProblems(monitor), [], 'the ServiceMonitor as built passes');
  const endpoint = monitor.spec.endpoints[0] ?? {};
  endpoint['prot'] = 'metrics';
  endpoint['interval'] = '30 seconds';
  endpoint['scheme'] = 'tcp';
  delete monitor.spec['selector'];
  const problems = monitoringProblems(monitor).join('\n');
  for (const expected of [/endpoints\[0\]\.prot is not a field/, /interval: "30 seconds" is not a duration/, /scheme must be one of/, /spec\.selector is required/]) {
    t.match(problems, expected, `a broken ServiceMonitor is reported: ${String(expected)}`);
  }
  const rule = structuredClone(find(objects, 'PrometheusRule', APP_NAME)) as KubeObject & { spec: { groups: Array<{ name: string; rules: Array<Record<string, unknown>> }> } };
  t.same(monitoringProblems(rule), [], 'the PrometheusRule as built passes');
  const first = rule.spec.groups[0]?.rules[0] ?? {};
  first['record'] = 'x';
  first['fore'] = '5m';
  delete first['expr'];
  rule.spec.groups.push({ name: rule.spec.groups[0]?.name ?? '', rules: [] });
  const ruleProblems = monitoringProblems(rule).join('\n');
  for (const expected of [/exactly one of alert and record/, /fore is not a field/, /expr is required/, /a second group named/]) {
    t.match(ruleProblems, expected, `a broken PrometheusRule is reported: ${String(expected)}`);
  }
});
