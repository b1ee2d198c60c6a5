/**
 * Byte sizes: a plain non-negative integer number of bytes, or an integer with
 * one of the suffixes `Ki` (1024), `Mi` (1024²), `K` (1000), `M` (1000²).
 */
import { fail, ok, type Parsed } from './values.js';

const MULTIPLIERS: Readonly<Record<string, number>> = {
  '': 1,
  Ki: 1024,
  Mi: 1024 * 1024,
  K: 1000,
  M: 1000 * 1000,
};

const SIZE = /^(\d+)(Ki|Mi|K|M)?$/;

export function parseByteSize(text: string): Parsed<number> {
  const match = SIZE.exec(text);
  if (match === null) {
    return fail('not a size; use a whole number of bytes, optionally with a suffix Ki, Mi, K or M, e.g. 5Mi');
  }
  const bytes = Number(match[1]) * (MULTIPLIERS[match[2] ?? ''] ?? 1);
  return ok(bytes);
}
