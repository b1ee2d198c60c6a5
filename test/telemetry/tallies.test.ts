import t from 'tap';
import fc from 'fast-check';
import assert from 'node:assert/strict';
import { Counter, Histogram, Registry } from 'prom-client';
import { TalliedCounter, TalliedHistogram } from '../../src/telemetry/tallies.js';

const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const RESULTS = ['injected', 'unchanged', 'denied', 'a "quoted"\\ value\nwith a newline'] as const;

// Values on and around every bound, zero, tiny and huge ones.
const valueArb = fc.oneof(
  fc.constantFrom(...BUCKETS, 0, 1e-9, 1e6),
  fc.constantFrom(...BUCKETS).map((bound) => bound * (1 + Number.EPSILON)),
  fc.double({ min: 0, max: 20, noNaN: true }),
);
const observationArb = fc.record({ result: fc.constantFrom(...RESULTS), dryRun: fc.boolean(), value: valueArb });

/** prom-client's own metrics and ours, fed the same observations, each in its own registry. */
function pair() {
  const theirs = new Registry();
  const ours = new Registry();
  const config = { name: 'x_admissions_total', help: 'Admissions.', labelNames: ['result', 'dry_run'] as const };
  const histogramConfig = { name: 'x_duration_seconds', help: 'Durations "quoted" \\ and\nmore.', labelNames: ['result'] as const, buckets: BUCKETS };
  const counters = { theirs: new Counter({ ...config, labelNames: [...config.labelNames], registers: [theirs] }), ours: new TalliedCounter(config).registerWith(ours) };
  const histograms = { theirs: new Histogram({ ...histogramConfig, labelNames: [...histogramConfig.labelNames], registers: [theirs] }), ours: new TalliedHistogram(histogramConfig).registerWith(ours) };
  const observe = ({ result, dryRun, value }: { result: string; dryRun: boolean; value: number }) => {
    counters.theirs.labels({ result, dry_run: String(dryRun) }).inc();
    counters.ours.labels({ result, dry_run: String(dryRun) }).inc();
    histograms.theirs.labels({ result }).observe(value);
    histograms.ours.labels({ result }).observe(value);
  };
  return { theirs, ours, observe };
}

t.test("the exposition text and JSON are prom-client's for the same observations", async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(observationArb, { maxLength: 40 }), fc.array(observationArb, { maxLength: 10 }), async (first, second) => {
      const { theirs, ours, observe } = pair();
      first.forEach(observe);
      assert.equal(await ours.metrics(), await theirs.metrics());
      // As JSON carries them (prom-client also sets `exemplar: undefined` on sums and counts).
      const json = async (registry: Registry) => JSON.parse(JSON.stringify(await registry.getMetricsAsJSON())) as unknown;
      assert.deepEqual(await json(ours), await json(theirs));
      theirs.resetMetrics();
      ours.resetMetrics();
      assert.equal(await ours.metrics(), await theirs.metrics(), 'after a reset');
      second.forEach(observe);
      assert.equal(await ours.metrics(), await theirs.metrics(), 'observed again after the reset');
    }),
    { numRuns: 200 },
  );
});

t.test('a child is shown from its first observation, in that order', async (t) => {
  const registry = new Registry();
  const counter = new TalliedCounter({ name: 'c_total', help: 'h', labelNames: ['result'] }).registerWith(registry);
  const a = counter.labels({ result: 'a' });
  const b = counter.labels({ result: 'b' });
  t.equal(await registry.metrics(), '# HELP c_total h\n# TYPE c_total counter\n', 'children made but never observed are not shown');
  b.inc();
  a.inc();
  a.inc();
  t.equal(await registry.metrics(), '# HELP c_total h\n# TYPE c_total counter\nc_total{result="b"} 1\nc_total{result="a"} 2\n');
  t.equal(counter.labels({ result: 'a' }), a, 'the same child for the same labels');
});

t.test("a child can be shown at 0 before its first observation, as prom-client's inc(labels, 0) does", async (t) => {
  const theirs = new Registry();
  const ours = new Registry();
  const config = { name: 'c_total', help: 'h', labelNames: ['result'] as const };
  const prom = new Counter({ ...config, labelNames: [...config.labelNames], registers: [theirs] });
  const tallied = new TalliedCounter(config).registerWith(ours);
  for (const result of ['denied', 'rejected']) {
    prom.inc({ result }, 0);
    tallied.initialize({ result });
  }
  tallied.initialize({ result: 'denied' });
  t.equal(await ours.metrics(), await theirs.metrics(), 'shown at 0, once each, in that order');
  t.equal(await ours.metrics(), '# HELP c_total h\n# TYPE c_total counter\nc_total{result="denied"} 0\nc_total{result="rejected"} 0\n');
  for (const counter of [prom.labels({ result: 'rejected' }), tallied.labels({ result: 'rejected' })]) counter.inc();
  t.equal(await ours.metrics(), await theirs.metrics(), 'then counted where it stands, not shown twice');
  theirs.resetMetrics();
  ours.resetMetrics();
  t.equal(await ours.metrics(), await theirs.metrics(), 'a reset forgets it as it forgets observations');
});

t.test('a value that is not a finite number is not observed, and does not throw', async (t) => {
  const registry = new Registry();
  const histogram = new TalliedHistogram({ name: 'h_seconds', help: 'h', labelNames: ['result'], buckets: [1] }).registerWith(registry);
  const child = histogram.labels({ result: 'x' });
  for (const value of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) child.observe(value);
  child.observe(2);
  const text = await registry.metrics();
  t.match(text, 'h_seconds_bucket{le="1",result="x"} 0\nh_seconds_bucket{le="+Inf",result="x"} 1\nh_seconds_sum{result="x"} 2\nh_seconds_count{result="x"} 1');
});

t.test('labels must be exactly the declared ones; buckets distinct and finite', async (t) => {
  const counter = new TalliedCounter({ name: 'c_total', help: 'h', labelNames: ['result', 'dry_run'] });
  t.throws(() => counter.labels({ result: 'a' } as unknown as Record<'result' | 'dry_run', string>), /labels must be exactly result, dry_run, not result/);
  t.throws(() => counter.labels({ result: 'a', dry_run: 'false', pod: 'p' } as unknown as Record<'result' | 'dry_run', string>), /not result, dry_run, pod/);
  t.throws(() => new TalliedHistogram({ name: 'h', help: 'h', labelNames: ['r'], buckets: [1, 1] }), /distinct finite/);
  t.throws(() => new TalliedHistogram({ name: 'h', help: 'h', labelNames: ['r'], buckets: [1, Number.POSITIVE_INFINITY] }), /distinct finite/);
});
