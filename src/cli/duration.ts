/**
 * Go `time.ParseDuration` syntax: an optional sign, then one or more decimal
 * numbers (optionally fractional) each followed by a unit: ns, us (or µs), ms,
 * s, m, h. Examples: `500ms`, `2s`, `1m30s`, `1.5s`, `-3h`. The bare string `0`
 * is also accepted, as in Go.
 */
import { fail, ok, type Parsed } from './values.js';

const NANOS_PER_UNIT: Readonly<Record<string, number>> = {
  ns: 1,
  us: 1e3,
  '\u00b5s': 1e3, // micro sign
  '\u03bcs': 1e3, // Greek small letter mu
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

const COMPONENT = /^(\d*)(?:\.(\d*))?([a-z\u00b5\u03bc]*)/;

/** Parse a Go duration string into milliseconds (may be fractional or negative). */
export function parseDurationMs(text: string): Parsed<number> {
  const example = 'use a Go duration such as 500ms, 1.5s or 1m';
  let rest = text;
  let sign = 1;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    if (rest.startsWith('-')) sign = -1;
    rest = rest.slice(1);
  }
  if (rest === '0') return ok(0);
  if (rest === '') return fail(`not a duration; ${example}`);
  let nanos = 0;
  while (rest !== '') {
    const match = COMPONENT.exec(rest);
    const whole = match?.[1] ?? '';
    const frac = match?.[2] ?? '';
    const unit = match?.[3] ?? '';
    if (match === null || (whole === '' && frac === '')) {
      return fail(`not a duration; ${example}`);
    }
    if (unit === '') return fail(`missing unit; ${example}`);
    const perUnit = NANOS_PER_UNIT[unit];
    if (perUnit === undefined) return fail(`unknown unit "${unit}"; ${example}`);
    nanos += Number(`${whole === '' ? '0' : whole}.${frac === '' ? '0' : frac}`) * perUnit;
    rest = rest.slice(match[0].length);
  }
  if (!Number.isFinite(nanos)) return fail('duration is too large');
  return ok((sign * nanos) / 1e6);
}
