import t from 'tap';
import fc from 'fast-check';
import assert from 'node:assert/strict';
import { isPositive, parseQuantity, sameQuantity } from '../../src/core/quantity.js';

t.test('spellings of one amount are the same quantity; others are not', async (t) => {
  const same: Array<[string | number, string | number]> = [
    ['1Gi', '1024Mi'],
    ['1Mi', '1024Ki'],
    ['0.5', '500m'],
    ['.5', '500m'],
    ['2', '2000m'],
    ['2', 2],
    [0.5, '500m'],
    ['1k', '1000'],
    ['1e3', '1k'],
    ['1E3', '1000'],
    ['1.5Ki', '1536'],
    ['1M', '1000k'],
    ['1G', '1e9'],
    ['1E', '1e18'],
    ['1500u', '1.5m'],
    ['1500000n', '1500u'],
    ['1n', '1e-9'],
    ['1000000u', '1'],
    ['+1', '1'],
    ['1.', '1'],
    ['0', '0m'],
    ['10m', '0.01'],
    ['50Mi', '52428800'],
    [1e21, '1e21'],
  ];
  for (const [a, b] of same) {
    const qa = parseQuantity(a);
    const qb = parseQuantity(b);
    t.ok(qa !== undefined && qb !== undefined && sameQuantity(qa, qb), `${a} = ${b}`);
  }
  for (const [a, b] of [['1u', '1n'], ['1u', '1m'], ['1Gi', '1G'], ['1', '1001m'], ['1k', '1Ki'], ['50Mi', '50M'], ['1', '-1'], ['10Mi', '50Mi']] as const) {
    t.notOk(sameQuantity(parseQuantity(a)!, parseQuantity(b)!), `${a} != ${b}`);
  }
});

t.test('what is not a quantity is undefined; zero and negative amounts are not positive', async (t) => {
  for (const bad of ['', '.', 'x', '1x', '1 Gi', '1Gi2', '1e', '1e3Ki', '--1', 'Gi', '1.2.3', 'NaN', NaN, Infinity, null, undefined, true, {}, ['1'], '1'.repeat(65)]) {
    t.equal(parseQuantity(bad), undefined, JSON.stringify(bad) ?? String(bad));
  }
  t.ok(isPositive(parseQuantity('1m')!));
  t.notOk(isPositive(parseQuantity('0')!));
  t.notOk(isPositive(parseQuantity('0.000')!));
  t.notOk(isPositive(parseQuantity('-1Gi')!));
});

/**
 * An amount in thousandths of a unit, and ways to write it that Kubernetes accepts: the
 * model is the integer, independent of how the code reads the text.
 */
const SPELLINGS: Array<(milli: bigint) => string | undefined> = [
  (milli) => `${milli}m`,
  (milli) => (milli % 1000n === 0n ? `${milli / 1000n}` : undefined),
  (milli) => `${milli / 1000n}.${(milli % 1000n).toString().padStart(3, '0')}`,
  (milli) => `${milli}e-3`,
  (milli) => (milli % 1_000_000n === 0n ? `${milli / 1_000_000n}k` : undefined),
  (milli) => (milli % 1_000_000_000n === 0n ? `${milli / 1_000_000_000n}M` : undefined),
  (milli) => (milli % 1_024_000n === 0n ? `${milli / 1_024_000n}Ki` : undefined),
  (milli) => (milli % 1_048_576_000n === 0n ? `${milli / 1_048_576_000n}Mi` : undefined),
];
const amountArb = fc.oneof(
  fc.bigInt({ min: 0n, max: 10n ** 12n }),
  // Multiples that the suffixes can write.
  fc.bigInt({ min: 0n, max: 4096n }).map((n) => n * 1_024_000n),
  fc.bigInt({ min: 0n, max: 64n }).map((n) => n * 1_048_576_000n),
  fc.bigInt({ min: 0n, max: 1000n }).map((n) => n * 1_000_000n),
);
const spellingsOf = (milli: bigint) => SPELLINGS.map((spell) => spell(milli)).filter((text): text is string => text !== undefined);
const spelledArb = amountArb.chain((milli) => fc.constantFrom(...spellingsOf(milli)).map((text) => ({ milli, text })));

t.test('two spellings are the same quantity exactly when they write the same amount', async () => {
  fc.assert(
    fc.property(spelledArb, spelledArb, (a, b) => {
      const qa = parseQuantity(a.text);
      const qb = parseQuantity(b.text);
      assert.ok(qa !== undefined && qb !== undefined, `${a.text} and ${b.text} parse`);
      assert.equal(sameQuantity(qa, qb), a.milli === b.milli, `${a.text} vs ${b.text}`);
      assert.equal(isPositive(qa), a.milli > 0n, `${a.text} positive`);
    }),
    { numRuns: 2000 },
  );
});

t.test('every spelling of one amount is the same quantity', async () => {
  fc.assert(
    fc.property(amountArb, (milli) => {
      const [first, ...others] = spellingsOf(milli).map((text) => ({ text, quantity: parseQuantity(text) }));
      for (const other of others) assert.ok(sameQuantity(first!.quantity!, other.quantity!), `${first!.text} = ${other.text}`);
    }),
    { numRuns: 1000 },
  );
});
