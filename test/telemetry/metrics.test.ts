/**
 * The labels of the webhook's metrics carry what was observed: dry runs apart from real
 * admissions, each registry status code as itself, dropped connections per listener.
 */
import t from 'tap';
import { createMetrics } from '../../src/telemetry/metrics.js';

const PREFIX = 'secrets_init_webhook_';

t.test('admissions are counted by result and dry run', async (t) => {
  const metrics = createMetrics({ processMetrics: false });
  metrics.observeAdmission('injected', 0.01, false);
  metrics.observeAdmission('injected', 0.01, true);
  metrics.observeAdmission('injected', 0.01, true);
  metrics.observeAdmission('denied', 0.01, true);
  const text = await metrics.registry.metrics();
  t.match(text, `${PREFIX}admissions_total{result="injected",dry_run="false"} 1\n`);
  t.match(text, `${PREFIX}admissions_total{result="injected",dry_run="true"} 2\n`);
  t.match(text, `${PREFIX}admissions_total{result="denied",dry_run="true"} 1\n`);
  t.match(text, `${PREFIX}admission_duration_seconds_count{result="injected"} 3\n`);
});

t.test('registry requests are counted by kind and status code, or error', async (t) => {
  const metrics = createMetrics({ processMetrics: false });
  metrics.observeRegistryRequest('manifest', 200);
  metrics.observeRegistryRequest('manifest', 401);
  metrics.observeRegistryRequest('token', 'error');
  metrics.observeRegistryRequest('blob', 200);
  const text = await metrics.registry.metrics();
  t.match(text, `${PREFIX}registry_requests_total{kind="manifest",code="200"} 1\n`);
  t.match(text, `${PREFIX}registry_requests_total{kind="manifest",code="401"} 1\n`);
  t.match(text, `${PREFIX}registry_requests_total{kind="token",code="error"} 1\n`);
  t.match(text, `${PREFIX}registry_requests_total{kind="blob",code="200"} 1\n`);
});

t.test('the certificate expiry is exported in seconds', async (t) => {
  const metrics = createMetrics({ processMetrics: false });
  metrics.setCertificateExpiry(new Date('2030-01-02T03:04:05Z'));
  t.match(await metrics.registry.metrics(), `${PREFIX}tls_certificate_expiry_timestamp_seconds 1893553445\n`);
});
