// SPDX-License-Identifier: MIT
// fma64(a, b, c): a * b + c rounded once, as IEEE 754's fusedMultiplyAdd (and
// C's fma) give it. JavaScript has no Math.fma; the float64 norms follow
// PyTorch's order, s = fma(x, x, s) (see rowSumSquares in
// native/kernels/kernels-inl.h), and the TypeScript kernels must give the
// C++ kernels' bits.
//
// The fast path is the classic error-free one: the product's rounding error
// by Dekker's splitting, the sum's by Knuth's TwoSum, and the two low parts
// added with rounding to odd before the final rounding to nearest, which
// makes that final rounding the correct one (Boldo and Melquiond, "Emulation
// of FMA and correctly rounded sums: proved algorithms using rounding to
// odd", IEEE Trans. Computers 57(4), 2008). It needs every intermediate to be
// a normal number; outside that range an exact BigInt computation answers.

// The bits of one double, for rounding to odd and for decomposing.
const F64 = new Float64Array(1);
const U32 = new Uint32Array(F64.buffer);
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const LOW = LITTLE_ENDIAN ? 0 : 1;
const HIGH = 1 - LOW;

/** 2^27 + 1: splits a double into two halves of 26 bits whose products are exact. */
const SPLITTER = 134217729;
/** The fast path's operands stay within these magnitudes (see fma64). */
const SMALL = 2 ** -480;
const LARGE = 2 ** 480;
const SUM_LARGE = 2 ** 1000;
const SUM_SMALL = 2 ** -900;

/** a * b - RN(a * b), exactly (Dekker), for operands in the fast path's range. */
function productError(a: number, b: number, p: number): number {
  let t = SPLITTER * a;
  const ah = t - (t - a);
  const al = a - ah;
  t = SPLITTER * b;
  const bh = t - (t - b);
  const bl = b - bh;
  return ah * bh - p + ah * bl + al * bh + al * bl;
}

/**
 * x + y rounded to odd: exact when representable, else whichever of the two
 * doubles around the exact sum has an odd last bit.
 */
function addRoundToOdd(x: number, y: number): number {
  const s = x + y;
  const bb = s - x;
  const e = x - (s - bb) + (y - bb);
  if (e === 0) return s;
  F64[0] = s;
  if (U32[LOW] & 1) return s;
  // An even s: step one double toward the exact sum (that neighbour is odd).
  // s is not 0 here (a sum that rounds to 0 is exact), and an even low word
  // never carries when incremented.
  if (e > 0 === s > 0) U32[LOW] += 1;
  else if (U32[LOW] === 0) {
    U32[LOW] = 0xffffffff;
    U32[HIGH] -= 1;
  } else U32[LOW] -= 1;
  return F64[0];
}

/** x = m * 2^e exactly, for a finite x. */
function decompose(x: number): [bigint, number] {
  F64[0] = x;
  const hi = U32[HIGH];
  const biased = (hi >>> 20) & 0x7ff;
  let m = (BigInt(hi & 0xfffff) << 32n) | BigInt(U32[LOW]);
  let e = -1074;
  if (biased !== 0) {
    m |= 1n << 52n;
    e = biased - 1075;
  }
  return [hi >>> 31 ? -m : m, e];
}

/** The double nearest to n * 2^e (ties to even), n !== 0. */
function roundToDouble(n: bigint, e: number): number {
  const negative = n < 0n;
  let q = negative ? -n : n;
  const bits = q.toString(2).length;
  // 53 significant bits, and no bit below 2^-1074 (the subnormals' spacing).
  const shift = Math.max(bits - 53, -1074 - e);
  if (shift > 0) {
    const s = BigInt(shift);
    const kept = q >> s;
    const rest = q - (kept << s);
    const half = 1n << (s - 1n);
    q = rest > half || (rest === half && (kept & 1n) === 1n) ? kept + 1n : kept;
    e += shift;
  }
  // q < 2^54 converts exactly; 2^e is exact for e >= -1074, and the product
  // is exact (it lies on the grid chosen above) or overflows to Infinity.
  const v = Number(q) * 2 ** e;
  return negative ? -v : v;
}

/** @internal a * b + c rounded once, by exact integer arithmetic (finite a, b, c); exported for the tests. */
export function fmaExact(a: number, b: number, c: number): number {
  const [ma, ea] = decompose(a);
  const [mb, eb] = decompose(b);
  const [mc, ec] = decompose(c);
  const ep = ea + eb;
  const e = Math.min(ep, ec);
  const n = ((ma * mb) << BigInt(ep - e)) + (mc << BigInt(ec - e));
  // An exact zero: a * b is then exactly -c, so plain arithmetic gives IEEE's sign of zero.
  if (n === 0n) return a * b + c;
  return roundToDouble(n, e);
}

/** a * b + c with a single rounding (IEEE 754 fusedMultiplyAdd on doubles). */
export function fma64(a: number, b: number, c: number): number {
  if (!Number.isFinite(a) || !Number.isFinite(b)) return a * b + c; // Inf and NaN as IEEE says
  if (!Number.isFinite(c)) return c; // a finite product cannot change an Inf or a NaN
  if (a === 0 || b === 0) return a * b + c; // an exact product: one rounding
  const aa = Math.abs(a);
  const ab = Math.abs(b);
  if (aa < SMALL || aa > LARGE || ab < SMALL || ab > LARGE || Math.abs(c) > SUM_LARGE) return fmaExact(a, b, c);
  const p = a * b;
  const pl = productError(a, b, p);
  // TwoSum(c, p): sh + sl === c + p exactly.
  const sh = c + p;
  const bb = sh - c;
  const sl = c - (sh - bb) + (p - bb);
  if (Math.abs(sh) < SUM_SMALL) return fmaExact(a, b, c); // cancellation towards the subnormals
  return sh + addRoundToOdd(pl, sl);
}

/**
 * float32 a * b + c rounded once, for float32 values a, b, c (IEEE 754
 * fusedMultiplyAdd in binary32): the product is exact in a double, the sum
 * rounded to odd there rounds to the right float (native/kernels/exact_fma.h,
 * fmaFloatByDouble, the same algorithm). PyTorch adds its weight decay term
 * with one rounding on CPUs with an fma instruction.
 */
export function fma32(a: number, b: number, c: number): number {
  const p = a * b; // two 24-bit significands: exact
  if (!Number.isFinite(p) || !Number.isFinite(c)) return Math.fround(p + c);
  return Math.fround(addRoundToOdd(p, c));
}
