// SPDX-License-Identifier: MIT
// fma64, the TypeScript fused multiply-add behind the float64 norms (PyTorch
// sums float64 squares as s = fma(x, x, s)): cases whose exact answers are
// known, and its fast path against an exact integer computation.
import { fma64, fmaExact } from '../ts/backend/fma';

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
