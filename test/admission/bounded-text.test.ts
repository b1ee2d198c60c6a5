import t from 'tap';
import { MAX_AUDIT_ORIGINS, MAX_WARNINGS_CHARS, MAX_WARNING_CHARS, boundedOrigins, boundedWarnings, clip } from '../../src/admission/bounded-text.js';

t.test('clip says how much it left out', async (t) => {
  t.equal(clip('short', 10), 'short');
  t.equal(clip('0123456789abc', 10), '0123456789… (3 more characters left out)');
});

t.test('warnings: each clipped, the total bounded, the rest counted', async (t) => {
  t.strictSame(boundedWarnings(['a', 'b']), ['a', 'b']);
  const many = Array.from({ length: 1000 }, (_, i) => `warning ${i} ${'x'.repeat(100)}`);
  const kept = boundedWarnings(many);
  const shown = kept.slice(0, -1);
  t.ok(shown.reduce((sum, w) => sum + w.length, 0) <= MAX_WARNINGS_CHARS);
  t.strictSame(shown, many.slice(0, shown.length), 'the first ones, in order');
  t.equal(kept.at(-1), `${1000 - shown.length} more warnings left out`);
  const long = boundedWarnings(['y'.repeat(10_000)]);
  t.equal(long.length, 1);
  t.ok(long[0]!.length < MAX_WARNING_CHARS + 60);
});

t.test('audit origins: the first ones, then how many more', async (t) => {
  const origins = Array.from({ length: 50 }, (_, i) => `Secret s[k${i}]`);
  const kept = boundedOrigins(origins);
  t.equal(kept.length, MAX_AUDIT_ORIGINS + 1);
  t.equal(kept.at(-1), '30 more');
  t.strictSame(boundedOrigins(origins.slice(0, 3)), origins.slice(0, 3));
});
