/**
 * Kubernetes resource quantities (`500m`, `2`, `1Gi`, `1.5e3`), read exactly, so that two
 * spellings of one amount compare equal (`1Gi` and `1024Mi`, `0.5` and `500m`).
 */

/** An amount as `mantissa × 10^pow10 × 2^pow2`. */
export interface Quantity {
  readonly mantissa: bigint;
  readonly pow10: number;
  readonly pow2: number;
}

const QUANTITY = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d{1,3})|(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E))?$/;
const BINARY: Readonly<Record<string, number>> = { Ki: 10, Mi: 20, Gi: 30, Ti: 40, Pi: 50, Ei: 60 };
/** `n` and `u` too: the API server writes amounts finer than `1m` with them (0.0015 is `1500u`). */
const DECIMAL: Readonly<Record<string, number>> = { n: -9, u: -6, m: -3, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };
/** Longer texts are no quantity anyone writes; refusing them bounds the arithmetic. */
const MAX_LENGTH = 64;

/**
 * A quantity as Kubernetes writes it (a string; a number where YAML or JSON gave one);
 * undefined for anything else.
 */
export function parseQuantity(value: unknown): Quantity | undefined {
  const text = typeof value === 'number' ? String(value) : value;
  if (typeof text !== 'string' || text.length > MAX_LENGTH) return undefined;
  const match = QUANTITY.exec(text);
  if (match === null) return undefined;
  const [, sign = '', whole = '', fraction = '', exponent, suffix] = match;
  if (whole === '' && fraction === '') return undefined;
  const digits = BigInt(whole + fraction);
  const mantissa = sign === '-' ? -digits : digits;
  let pow10 = -fraction.length;
  let pow2 = 0;
  if (exponent !== undefined) pow10 += Number(exponent);
  else if (suffix !== undefined) {
    if (suffix in BINARY) pow2 = BINARY[suffix] ?? 0;
    else pow10 += DECIMAL[suffix] ?? 0;
  }
  return { mantissa, pow10, pow2 };
}

export function isPositive(quantity: Quantity): boolean {
  return quantity.mantissa > 0n;
}

export function sameQuantity(a: Quantity, b: Quantity): boolean {
  // The same unit (`100m` and `500m`): the digits decide.
  if (a.pow10 === b.pow10 && a.pow2 === b.pow2) return a.mantissa === b.mantissa;
  // Amounts far apart (`1` and `250m`) differ whatever the rounding of floating point.
  const x = approximately(a);
  const y = approximately(b);
  if (Number.isFinite(x) && Number.isFinite(y) && Math.abs(x - y) > 1e-9 * Math.max(Math.abs(x), Math.abs(y))) return false;
  const pow10 = Math.min(a.pow10, b.pow10);
  const pow2 = Math.min(a.pow2, b.pow2);
  return scaled(a, pow10, pow2) === scaled(b, pow10, pow2);
}

/** The quantity as a whole multiple of `10^pow10 × 2^pow2` (both no larger than its own). */
function scaled(quantity: Quantity, pow10: number, pow2: number): bigint {
  return quantity.mantissa * 10n ** BigInt(quantity.pow10 - pow10) * 2n ** BigInt(quantity.pow2 - pow2);
}

function approximately(quantity: Quantity): number {
  return Number(quantity.mantissa) * 10 ** quantity.pow10 * 2 ** quantity.pow2;
}
