// SPDX-License-Identifier: MIT
// fma64, the TypeScript fused multiply-add behind the float64 norms (PyTorch
// sums float64 squares as s = fma(x, x, s)), and fma32, its float32 form
// behind the weight decay term (torch fuses it):
// cases whose exact answers are known, and both against exact integer
// arithmetic.
import { fma32, fma64, fmaExact } from '../ts/backend/fma';

describe('fma64: a * b + c with one rounding', () => {
  test('cases with known exact answers, where a * b + c rounds twice', () => {
    // (1 + u)(1 - u) - 1 = -u^2 with u = 2^-52; the product alone rounds to 1.
    expect(fma64(1 + 2 ** -52, 1 - 2 ** -52, -1)).toBe(-(2 ** -104));
    expect((1 + 2 ** -52) * (1 - 2 ** -52) - 1).toBe(0);
    // 0.1 is 3602879701896397 * 2^-55, so 0.1 * 10 - 1 is exactly 2^-54.
    expect(fma64(0.1, 10, -1)).toBe(2 ** -54);
    // The product's low part is exactly half an ulp and c a tiny nudge: only
    // rounding the low parts to odd (not to nearest) keeps the nudge.
    expect(fma64(1 + 2 ** -26, 1 + 2 ** -27, 2 ** -110)).toBe(1 + 2 ** -26 + 2 ** -27 + 2 ** -52);
    expect(fma64(1 + 2 ** -26, 1 + 2 ** -27, -(2 ** -110))).toBe(1 + 2 ** -26 + 2 ** -27);
    // Subnormal results: exact, rounded (a tie goes to even), and underflow.
    expect(fma64(2 ** -537, 2 ** -537, 0)).toBe(2 ** -1074);
    expect(fma64(3 * 2 ** -538, 2 ** -537, 0)).toBe(2 ** -1073);
    expect(fma64(2 ** -1074, 0.5, 0)).toBe(0);
    expect(fma64(2 ** -1074, 0.75, 0)).toBe(2 ** -1074);
    expect(fma64(2 ** -600, 2 ** -600, 0)).toBe(0);
    // Overflow, and a finite product that an infinite c keeps.
    expect(fma64(2 ** 512, 2 ** 512, 0)).toBe(Infinity);
    expect(fma64(2 ** 600, 2 ** 600, -Number.MAX_VALUE)).toBe(Infinity);
    expect(fma64(1e308, 10, -Infinity)).toBe(-Infinity);
    expect(fma64(Infinity, 0, 1)).toBeNaN();
    expect(fma64(2, 3, NaN)).toBeNaN();
    // Signed zeros as IEEE 754 gives them.
    expect(Object.is(fma64(-1, 0, -0), -0)).toBe(true);
    expect(Object.is(fma64(1, 2, -2), 0)).toBe(true);
  });

  test('the fast path equals exact integer arithmetic on random operands of every scale', () => {
    let seed = 7;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    const scaled = () => (random() - 0.5) * 2 ** Math.floor(random() * 60 - 30);
    // Products whose low part sits at or near half an ulp (1 + i/2^26)(1 + j/2^27), with c tiny or not.
    const nearTie = () => 1 + Math.floor(random() * 64) * 2 ** -26;
    for (let i = 0; i < 20000; i++) {
      const structured = random() < 0.3;
      const a = structured ? nearTie() : scaled();
      const b = structured ? 1 + Math.floor(random() * 64) * 2 ** -27 : random() < 0.5 ? a : scaled();
      // Often c nearly cancels a * b: where rounding twice goes wrong.
      const c = structured
        ? (random() - 0.5) * 2 ** -Math.floor(80 + random() * 60)
        : random() < 0.3 ? -(a * b) * (1 + (random() - 0.5) * 2 ** -40) : scaled();
      const fast = fma64(a, b, c);
      const exact = fmaExact(a, b, c);
      if (!Object.is(fast, exact)) throw new Error(`fma64(${a}, ${b}, ${c}) = ${fast}, exactly ${exact}`);
    }
  });
});

/** The float32 nearest to a * b + c (ties to even), by exact integer arithmetic, for finite float32 a, b, c. */
function exactFloat32MulAdd(a: number, b: number, c: number): number {
  const parts = (x: number): [bigint, number] => {
    // A float32 value: x = m * 2^e with m an integer below 2^24.
    if (x === 0) return [0n, 0];
    if (!Number.isFinite(x)) throw new Error(`not finite: ${x}`);
    let e = Math.floor(Math.log2(Math.abs(x))) - 23;
    e = Math.max(e, -149);
    while (!Number.isInteger(x / 2 ** e)) e -= 1; // (log2 can be off by one)
    return [BigInt(x / 2 ** e), e];
  };
  const [ma, ea] = parts(a);
  const [mb, eb] = parts(b);
  const [mc, ec] = parts(c);
  const e0 = Math.min(ea + eb, ec);
  let n = ((ma * mb) << BigInt(ea + eb - e0)) + (mc << BigInt(ec - e0));
  if (n === 0n) return a * b + c; // an exact zero: IEEE's sign
  const negative = n < 0n;
  if (negative) n = -n;
  let e = e0;
  const shift = Math.max(n.toString(2).length - 24, -149 - e);
  if (shift > 0) {
    const s = BigInt(shift);
    const kept = n >> s;
    const rest = n - (kept << s);
    const half = 1n << (s - 1n);
    n = rest > half || (rest === half && (kept & 1n) === 1n) ? kept + 1n : kept;
    e += shift;
  }
  const v = Number(n) * 2 ** e;
  const rounded = v > 3.4028234663852886e38 ? Infinity : v;
  return negative ? -rounded : rounded;
}

describe('fma32: float32 a * b + c with one rounding', () => {
  test('cases where rounding the double sum to float goes wrong', () => {
    // (1 + 2^-12)^2 = 1 + 2^-11 + 2^-24 exactly: halfway between two floats.
    // A tiny c decides the rounding, but a double sum loses it (ties to even).
    const a = 1 + 2 ** -12;
    expect(Math.fround(a * a + 2 ** -80)).toBe(1 + 2 ** -11);
    expect(fma32(a, a, 2 ** -80)).toBe(1 + 2 ** -11 + 2 ** -23);
    expect(fma32(a, a, -(2 ** -80))).toBe(1 + 2 ** -11);
    expect(fma32(a, a, 0)).toBe(1 + 2 ** -11); // the tie itself: to even
    // The weight decay term torch fuses: g + 0.01 * p nearly cancels.
    const p = Math.fround(-0.13833078742027283);
    const g = Math.fround(0.001383310416713357);
    const wd = Math.fround(0.01);
    expect(fma32(wd, p, g)).toBe(exactFloat32MulAdd(wd, p, g));
    expect(fma32(wd, p, g)).not.toBe(Math.fround(g + Math.fround(wd * p)));
    // Specials and signed zeros as the fma instruction gives them.
    expect(fma32(Infinity, 0, 1)).toBeNaN();
    expect(fma32(Infinity, 2, -3)).toBe(Infinity);
    expect(fma32(2, 3, -Infinity)).toBe(-Infinity);
    expect(fma32(NaN, 1, 1)).toBeNaN();
    expect(fma32(2 ** 100, 2 ** 100, 0)).toBe(Infinity);
    expect(Object.is(fma32(-1, 0, -0), -0)).toBe(true);
    expect(Object.is(fma32(1, 2, -2), 0)).toBe(true);
    // Subnormal results, rounded on the subnormals' grid.
    expect(fma32(2 ** -75, 2 ** -75, 0)).toBe(0); // 2^-150: the tie below the smallest goes to 0
    expect(fma32(2 ** -75, 2 ** -75, 2 ** -149)).toBe(2 ** -148); // 1.5 * 2^-149: the tie to even
    expect(fma32(3 * 2 ** -76, 2 ** -75, 0)).toBe(2 ** -149); // 0.75 * 2^-149: to nearest
  });

  test('equals exact integer arithmetic on random float32 operands, cancelling sums included', () => {
    let seed = 11;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    const f = Math.fround;
    const scaled = (spread: number) => f((random() - 0.5) * 2 ** Math.floor((random() - 0.5) * spread));
    for (let i = 0; i < 20000; i++) {
      const spread = random() < 0.1 ? 280 : 40;
      const a = scaled(spread);
      const b = scaled(spread);
      const kind = random();
      // c: unrelated, nearly -a * b (cancellation), or tiny beside it (ties).
      const c = kind < 0.4 ? scaled(spread) : kind < 0.8 ? f(-(a * b) * (1 + (random() - 0.5) * 2 ** -20)) : f(a * b * 2 ** -Math.floor(20 + random() * 40));
      if (!Number.isFinite(a) || !Number.isFinite(b) || !Number.isFinite(c)) continue; // (beyond float32's range)
      const got = fma32(a, b, c);
      const want = exactFloat32MulAdd(a, b, c);
      if (!Object.is(got, want)) throw new Error(`fma32(${a}, ${b}, ${c}) = ${got}, exactly ${want}`);
    }
  });
});
