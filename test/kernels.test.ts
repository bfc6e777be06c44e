// SPDX-License-Identifier: MIT
// Every kernel of the backend under test against the plain TypeScript oracle
// (ts/backend/reference.ts), bit for bit, on lengths around every SIMD width
// (1, W-1, W, W+1, 3W+3 for W = 2..16) and on the values that decide a sign
// or a clamp: zeros, -0, NaN, Inf, huge and tiny numbers. Then the two
// backends against each other.
import { availableBackends, backendByName, currentBackend } from '../ts/backend/loader';
import * as ref from '../ts/backend/reference';
import { GroupTensor, InnerKind, NO_TRANSFORM, Projection, Transform, groupSpec, sequentialGroupStep } from '../ts/backend/groupStep';
import { AdagradKernelOptions, AdamKernelOptions, KernelBackend, RmspropKernelOptions, SgdKernelOptions } from '../ts/backend/types';
import { Generator } from '../ts/random';
import { FloatArray } from '../ts/types';
import { expectSameBits } from './helpers';

const backend = currentBackend();
const LENGTHS = [0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 51, 64, 100, 1000];
const DTYPES = ['float32', 'float64'] as const;

/** A seeded uniform source (the library's own Generator) so failures reproduce. */
function rng(seed: number): () => number {
  const g = new Generator(seed);
  return () => g.uniform();
}

function randomArray(dtype: 'float32' | 'float64', n: number, seed: number, special = false): FloatArray {
  const r = rng(seed);
  const a = dtype === 'float64' ? new Float64Array(n) : new Float32Array(n);
  const specials = [0, -0, 1e-30, -1e-30, 1e30, -3e30, 1e-45, 5e-324];
  for (let i = 0; i < n; i++) {
    a[i] = special && r() < 0.2 ? specials[Math.floor(r() * specials.length)] : (r() - 0.5) * 8;
  }
  return a;
}

function shapesFor(n: number): [number, number][] {
  return [[1, n], [n, 1], [3, n], [0, n]];
}

function compareKernels(name: string, b: KernelBackend): void {
  describe(`${name}: kernels equal the TypeScript oracle bit for bit`, () => {
    for (const dtype of DTYPES) {
      test(`rowNormsL2, normalizeRowsL2, renormRowsL2 (${dtype})`, () => {
        let seed = 1;
        for (const n of LENGTHS) {
          for (const [rows, cols] of shapesFor(n)) {
            for (const special of [false, true]) {
              const x = randomArray(dtype, rows * cols, seed++, special);
              const outB = dtype === 'float64' ? new Float64Array(rows) : new Float32Array(rows);
              const outR = outB.slice();
              b.rowNormsL2(x, rows, cols, outB);
              ref.rowNormsL2(x, rows, cols, outR);
              expectSameBits(outB, outR, `rowNormsL2 ${rows}x${cols}`);
              for (const eps of [10, 1.1754943508222875e-38, 0, 1e-3]) {
                const gB = x.slice();
                const gR = x.slice();
                b.normalizeRowsL2(gB, rows, cols, eps);
                ref.normalizeRowsL2(gR, rows, cols, eps);
                expectSameBits(gB, gR, `normalizeRowsL2 ${rows}x${cols} eps ${eps}`);
              }
              for (const maxNorm of [0, 0.5, 3, 1e6]) {
                const pB = x.slice();
                const pR = x.slice();
                b.renormRowsL2(pB, rows, cols, maxNorm);
                ref.renormRowsL2(pR, rows, cols, maxNorm);
                expectSameBits(pB, pR, `renormRowsL2 ${rows}x${cols} maxNorm ${maxNorm}`);
              }
            }
          }
        }
      });

      if (dtype === 'float64') {
        test('float64 norms where only an exact fma gives the reference bits', () => {
          // A float64 row's sum of squares is s = fma(x, x, s), element after
          // element. Where fma is emulated (WebAssembly), its low parts are
          // added rounded to odd; rows [y, x, z] with x = m * 2^-26, m odd and
          // m^2 above 2^53, put x^2's low half at exactly half an ulp, and
          // the tiny y^2 before it decides the rounding: rounding to nearest
          // there, or stepping the wrong way, gives another last bit, which z
          // carries on into a norm that is not x (in a plain JavaScript model
          // of the algorithm, either mistake changes 5 of the 8 norms).
          const rowsOf = (count: number) => {
            const x = new Float64Array(count * 3);
            for (let r = 0; r < count; r++) {
              const scale = 2 ** [0, -200, 200, 37][r % 4];
              x[3 * r] = 2 ** -(53 + (r % 8)) * scale;
              x[3 * r + 1] = (94906267 + 2 * r) * 2 ** -26 * scale;
              x[3 * r + 2] = (0.1 + 0.05 * r) * scale;
            }
            return x;
          };
          for (const rows of [8, 7, 4, 3, 2, 1]) {
            const x = rowsOf(rows);
            const outB = new Float64Array(rows);
            const outR = new Float64Array(rows);
            b.rowNormsL2(x, rows, 3, outB);
            ref.rowNormsL2(x, rows, 3, outR);
            expectSameBits(outB, outR, `rowNormsL2 ${rows}x3 at fma's hard cases`);
          }
        });
      }

      test(`rows of zeros and NaN/Inf rows (${dtype})`, () => {
        const cols = 19;
        const x = randomArray(dtype, 4 * cols, 99);
        x.fill(0, 0, cols); // row 0: all zero -> divByZeroEps clamp
        x[cols + 3] = NaN; // row 1: NaN norm
        x[2 * cols + 5] = Infinity; // row 2: Inf norm
        const gB = x.slice();
        const gR = x.slice();
        b.normalizeRowsL2(gB, 4, cols, 1.1754943508222875e-38);
        ref.normalizeRowsL2(gR, 4, cols, 1.1754943508222875e-38);
        expectSameBits(gB, gR, 'normalizeRowsL2 special rows');
        expect(Array.from(gB.subarray(0, cols)).every((v) => v === 0)).toBe(true);
        expect(gB.subarray(cols, 2 * cols).every((v) => Number.isNaN(v))).toBe(true);
        const pB = x.slice();
        const pR = x.slice();
        b.renormRowsL2(pB, 4, cols, 1);
        ref.renormRowsL2(pR, 4, cols, 1);
        expectSameBits(pB, pR, 'renormRowsL2 special rows');
        // A NaN row is left as it was (its norm is not > epsilon), as torch.renorm does.
        expectSameBits(pB.subarray(cols, 2 * cols), x.subarray(cols, 2 * cols), 'NaN row untouched');
      });

      test(`scaleBias (${dtype})`, () => {
        let seed = 500;
        for (const n of LENGTHS) {
          for (const [s, applyS, bias, applyB] of [[0.5, true, 0, false], [1, false, -0.25, true], [3, true, 1e-3, true], [-2, true, 0, true]] as const) {
            const g = randomArray(dtype, n, seed++, true);
            const gB = g.slice();
            const gR = g.slice();
            b.scaleBias(gB, s, applyS, bias, applyB);
            ref.scaleBias(gR, s, applyS, bias, applyB);
            expectSameBits(gB, gR, `scaleBias n=${n}`);
          }
        }
      });

      test(`sgdStep, every option combination over three steps (${dtype})`, () => {
        let seed = 900;
        const combos: SgdKernelOptions[] = [];
        for (const momentum of [0, 0.9])
          for (const dampening of [0, 0.3])
            for (const weightDecay of [0, 0.01])
              for (const nesterov of [false, true])
                for (const maximize of [false, true]) {
                  if (nesterov && (momentum === 0 || dampening !== 0)) continue;
                  combos.push({ lr: 0.1, momentum, dampening, weightDecay, nesterov, maximize });
                }
        for (const n of [0, 1, 7, 8, 9, 17, 33, 100]) {
          for (const o of combos) {
            const pB = randomArray(dtype, n, seed++);
            const pR = pB.slice();
            const bufB = o.momentum ? b.allocState(dtype, n) : null;
            const bufR = o.momentum ? (dtype === 'float64' ? new Float64Array(n) : new Float32Array(n)) : null;
            for (let step = 0; step < 3; step++) {
              const g = randomArray(dtype, n, seed++, true);
              b.sgdStep(pB, g, bufB, o, step > 0);
              ref.sgdStep(pR, g, bufR, o, step > 0);
              expectSameBits(pB, pR, `sgdStep n=${n} ${JSON.stringify(o)} step ${step}`);
              if (bufB) expectSameBits(bufB.read(), bufR!, `momentum buffer n=${n} step ${step}`);
            }
          }
        }
      });

      // The weight decay term is torch's add(alpha): one rounding, also where
      // the sum is a tie for a double sum rounded to float (float32 in
      // WebAssembly, which has no fma) or cancels (float64). The momentum
      // buffer's first step holds the term itself; 19 elements take the
      // vectors and the tail.
      test(`sgdStep adds the weight decay term with one rounding (${dtype})`, () => {
        const n = 19;
        const [a, g, want] = dtype === 'float32'
          ? [1 + 2 ** -12, 2 ** -80, 1 + 2 ** -11 + 2 ** -23] // rounded twice: 1 + 2^-11
          : [1 + 2 ** -30, -1, 2 ** -29 + 2 ** -60]; // rounded twice: 2^-29
        const make = (v: number) => (dtype === 'float64' ? new Float64Array(n) : new Float32Array(n)).fill(v);
        const p = make(a);
        const buf = b.allocState(dtype, n);
        b.sgdStep(p, make(g), buf, { lr: 1, momentum: 0.5, dampening: 0, weightDecay: a, nesterov: false, maximize: false }, false);
        expectSameBits(buf.read(), make(want), 'momentum buffer = g + weightDecay * p');
      });

      test(`adamStep, rmspropStep, adagradStep, every option combination over three steps (${dtype})`, () => {
        let seed = 7000;
        const zeros = (n: number) => (dtype === 'float64' ? new Float64Array(n) : new Float32Array(n));
        for (const n of [0, 1, 7, 8, 9, 17, 33, 100]) {
          for (const maximize of [false, true]) {
            for (const weightDecay of [0, 0.01]) {
              for (const [decoupled, amsgrad] of [[false, false], [false, true], [true, false], [true, true]]) {
                const pB = randomArray(dtype, n, seed++);
                const pR = pB.slice();
                const [mB, vB, xB] = [b.allocState(dtype, n), b.allocState(dtype, n), b.allocState(dtype, n)];
                const [mR, vR, xR] = [zeros(n), zeros(n), zeros(n)];
                for (let t = 1; t <= 3; t++) {
                  const o: AdamKernelOptions = {
                    lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay, decoupledWeightDecay: decoupled, amsgrad, maximize,
                    stepSize: 0.01 / (1 - 0.9 ** t), biasCorrection2Sqrt: Math.sqrt(1 - 0.999 ** t),
                  };
                  const g = randomArray(dtype, n, seed++, true);
                  b.adamStep(pB, g, mB, vB, amsgrad ? xB : null, o);
                  ref.adamStep(pR, g, mR, vR, amsgrad ? xR : null, o);
                  expectSameBits(pB, pR, `adamStep n=${n} ${JSON.stringify(o)}`);
                  expectSameBits(mB.read(), mR, 'expAvg');
                  expectSameBits(vB.read(), vR, 'expAvgSq');
                  if (amsgrad) expectSameBits(xB.read(), xR, 'maxExpAvgSq');
                }
              }
              for (const [centered, momentum] of [[false, 0], [true, 0], [false, 0.9], [true, 0.9]] as const) {
                const pB = randomArray(dtype, n, seed++);
                const pR = pB.slice();
                const [sB, aB, mB] = [b.allocState(dtype, n), b.allocState(dtype, n), b.allocState(dtype, n)];
                const [sR, aR, mR] = [zeros(n), zeros(n), zeros(n)];
                const o: RmspropKernelOptions = { lr: 0.01, alpha: 0.99, eps: 1e-8, weightDecay, momentum, centered, maximize };
                for (let t = 1; t <= 3; t++) {
                  const g = randomArray(dtype, n, seed++, true);
                  b.rmspropStep(pB, g, sB, centered ? aB : null, momentum ? mB : null, o);
                  ref.rmspropStep(pR, g, sR, centered ? aR : null, momentum ? mR : null, o);
                  expectSameBits(pB, pR, `rmspropStep n=${n} ${JSON.stringify(o)}`);
                  expectSameBits(sB.read(), sR, 'squareAvg');
                  if (centered) expectSameBits(aB.read(), aR, 'gradAvg');
                  if (momentum) expectSameBits(mB.read(), mR, 'momentumBuffer');
                }
              }
              const pB = randomArray(dtype, n, seed++);
              const pR = pB.slice();
              const sumB = b.allocState(dtype, n);
              const sumR = zeros(n);
              for (let t = 1; t <= 3; t++) {
                const o: AdagradKernelOptions = { clr: 0.01 / (1 + (t - 1) * 0.1), weightDecay, eps: 1e-10, maximize };
                const g = randomArray(dtype, n, seed++, true);
                b.adagradStep(pB, g, sumB, o);
                ref.adagradStep(pR, g, sumR, o);
                expectSameBits(pB, pR, `adagradStep n=${n} ${JSON.stringify(o)}`);
                expectSameBits(sumB.read(), sumR, 'sum');
              }
            }
          }
        }
      });

      test(`family kernels: L1 normalise, sign, clamp, top-q, L1 LMO, Frank-Wolfe (${dtype})`, () => {
        let seed = 12000;
        for (const n of LENGTHS) {
          for (const [rows, cols] of shapesFor(n)) {
            const x = randomArray(dtype, rows * cols, seed++, true);
            if (x.length > 2) x[1] = NaN;
            const same = (what: string, kernel: (a: FloatArray) => void, oracle: (a: FloatArray) => void) => {
              const a = x.slice();
              const o = x.slice();
              kernel(a);
              oracle(o);
              expectSameBits(a, o, `${what} ${rows}x${cols}`);
            };
            same('normalizeRowsL1', (a) => b.normalizeRowsL1(a, rows, cols, 1e-30), (a) => ref.normalizeRowsL1(a, rows, cols, 1e-30));
            same('signInPlace', (a) => b.signInPlace(a), (a) => ref.signInPlace(a));
            same('clampInPlace', (a) => b.clampInPlace(a, -0.5, true, 1.25, true), (a) => ref.clampInPlace(a, -0.5, true, 1.25, true));
            same('clampInPlace (max only)', (a) => b.clampInPlace(a, 0, false, 0, true), (a) => ref.clampInPlace(a, 0, false, 0, true));
            same('clampInPlace (min only)', (a) => b.clampInPlace(a, -0, true, 0, false), (a) => ref.clampInPlace(a, -0, true, 0, false));
            for (const keep of [0, 1, Math.floor(cols / 2), cols]) {
              same(`topQRows keep ${keep}`, (a) => b.topQRows(a, rows, cols, keep), (a) => ref.topQRows(a, rows, cols, keep));
              // divByZeroEps 0: a row left all zero divides 0 by 0 (NaN), as normalizeRowsL1 does.
              for (const eps of [0, 1.1754943508222875e-38, 2 * cols + 1]) {
                same(`topQSignL1Rows keep ${keep} eps ${eps}`, (a) => b.topQSignL1Rows(a, rows, cols, keep, eps), (a) => ref.topQSignL1Rows(a, rows, cols, keep, eps));
              }
            }
            same('l1LmoRows', (a) => b.l1LmoRows(a, rows, cols), (a) => ref.l1LmoRows(a, rows, cols));
            const g = randomArray(dtype, rows * cols, seed++, true);
            same('frankWolfeStep', (a) => b.frankWolfeStep(a, g, 2 / 3, 1.5), (a) => ref.frankWolfeStep(a, g, 2 / 3, 1.5));
          }
        }
        // Ties: equal magnitudes keep the lower index first; sign of zero and NaN is +0.
        const tie = dtype === 'float64' ? Float64Array.from([1, -2, 2, -1, 2]) : Float32Array.from([1, -2, 2, -1, 2]);
        b.topQRows(tie, 1, 5, 2);
        expect(Array.from(tie)).toEqual([0, -2, 2, 0, 0]);
        const signs = dtype === 'float64' ? Float64Array.from([0, -0, NaN, -3, 2]) : Float32Array.from([0, -0, NaN, -3, 2]);
        b.signInPlace(signs);
        expectSameBits(signs, [0, 0, 0, -1, 1], 'sign of 0, -0, NaN');
      });

      // Rows of 32768 entries and more first try a bracket read off a sample
      // (selection.cc): rows it reads right (ties at the threshold, a
      // threshold of 0 among +0 and -0, NaN and infinities above it), a row
      // whose sampled places mislead it (the radix select then runs), one of
      // four magnitudes (not tried), and rows whose sample puts both ends of
      // the bracket on one key (mostly zeros, one magnitude or NaN: one
      // counting pass settles them; or wrongly, and the radix select runs).
      // Each row is sorted once.
      // topQRows of `row` (one row) at each keep against the row sorted once by
      // the oracle's ranking; with `fused`, topQSignL1Rows over the same cut too.
      const expectTopQAsSorted = (row: FloatArray, keeps: number[], what: string, fused: boolean) => {
        const cols = row.length;
        const order = Array.from({ length: cols }, (_, j) => j).sort(ref.magnitudeOrder(row, 0));
        for (const keep of keeps) {
          const want = row.slice();
          for (let k = keep; k < cols; k++) want[order[k]] = 0;
          const got = row.slice();
          b.topQRows(got, 1, cols, keep);
          expectSameBits(got, want, `topQRows ${what}, keep ${keep} of ${cols}`);
          if (!fused) continue;
          const signs = row.slice();
          b.topQSignL1Rows(signs, 1, cols, keep, 1e-30);
          ref.signInPlace(want);
          ref.normalizeRowsL1(want, 1, cols, 1e-30);
          expectSameBits(signs, want, `topQSignL1Rows ${what}, keep ${keep} of ${cols}`);
        }
      };

      // Shorter rows take the radix select, which a first digit holding only
      // zeros ends early (selection.cc); beside magnitudes under 2^-125 it
      // must not.
      test(`topQRows on sparse rows (${dtype})`, () => {
        const cols = 3072;
        const r = rng(4242);
        const tiny = dtype === 'float64' ? 2 ** -1030 : 2 ** -135;
        for (const [what, share, withTiny] of [['95% zeros', 0.95, false], ['99.9% zeros', 0.999, false], ['95% zeros and tiny magnitudes', 0.95, true]] as const) {
          const row = dtype === 'float64' ? new Float64Array(cols) : new Float32Array(cols);
          for (let j = 0; j < cols; j++) {
            row[j] = r() < share ? (r() < 0.5 ? -0 : 0) : withTiny && r() < 0.5 ? tiny * (1 + r()) : r() - 0.5;
          }
          expectTopQAsSorted(row, [1, 30, 150, 307, 1536, 3071], what, false);
        }
      });

      // Rows of few magnitudes, where a probe of 32 evenly spaced entries
      // guesses a tied threshold and one counting pass checks it
      // (selection.cc, tiedKeyTopQRow); and probes that mislead: the probed
      // places hold one magnitude the rest of the row lacks.
      test(`topQRows on rows of few magnitudes (${dtype})`, () => {
        const cols = 3072;
        const r = rng(5150);
        const sign = () => (r() < 0.5 ? -1 : 1);
        const normal = () => Math.sqrt(-2 * Math.log(r() + 1e-12)) * Math.cos(6.283185307179586 * r());
        const probed = (j: number) => Math.floor((Math.ceil((j * 32) / cols) * cols) / 32) === j;
        const rows: [string, (j: number) => number][] = [
          ['signs', () => sign()],
          ['signs and 25% zeros', () => (r() < 0.25 ? 0 : sign())],
          ['two magnitudes', () => sign() * (1 + Math.floor(r() * 2))],
          ['four magnitudes', () => sign() * (1 + Math.floor(r() * 4))],
          ['probed places above the rest', (j) => (probed(j) ? sign() * 100 : normal())],
          ['probed places below the rest', (j) => (probed(j) ? sign() * 1e-3 : normal())],
        ];
        for (const [what, value] of rows) {
          const row = dtype === 'float64' ? new Float64Array(cols) : new Float32Array(cols);
          for (let j = 0; j < cols; j++) row[j] = value(j);
          expectTopQAsSorted(row, [1, 96, 307, 768, 1536, 2304, 3071], what, true);
        }
      });

      test(`topQRows on long rows (${dtype})`, () => {
        const cols = 40000;
        const r = rng(777);
        const normal = () => Math.sqrt(-2 * Math.log(r() + 1e-12)) * Math.cos(6.283185307179586 * r());
        const rows: [string, (j: number) => number][] = [
          ['normal', () => normal()],
          ['about 500 magnitudes', () => Math.round(normal() * 64) / 64],
          ['30% zeros of either sign', () => (r() < 0.3 ? (r() < 0.5 ? -0 : 0) : normal())],
          ['1% NaN and 1% infinities', () => { const u = r(); return u < 0.01 ? NaN : u < 0.02 ? -Infinity : normal(); }],
          ['sampled places tiny', (j) => (Math.floor((Math.ceil((j * 2048) / cols) * cols) / 2048) === j ? 1e-6 : 1) * normal()],
          ['four magnitudes', () => (1 + Math.floor(r() * 4)) * (r() < 0.5 ? -1 : 1)],
          ['95% zeros of either sign', () => (r() < 0.95 ? (r() < 0.5 ? -0 : 0) : normal())],
          ['90% of one magnitude', () => (r() < 0.9 ? (r() < 0.5 ? -1 : 1) : normal() / 8)],
          ['70% NaN and 20% infinities', () => { const u = r(); return u < 0.7 ? NaN : u < 0.9 ? (r() < 0.5 ? -Infinity : Infinity) : normal(); }],
          ['sampled places one magnitude', (j) => (Math.floor((Math.ceil((j * 2048) / cols) * cols) / 2048) === j ? (j % 2 ? -1.5 : 1.5) : normal())],
        ];
        for (const [what, value] of rows) {
          const row = dtype === 'float64' ? new Float64Array(cols) : new Float32Array(cols);
          for (let j = 0; j < cols; j++) row[j] = value(j);
          expectTopQAsSorted(row, [1, 400, 4000, 20000, 28400, 39999], what, true);
        }
      });
    }
  });
}

compareKernels(`${backend.info.backend} (${backend.info.isa})`, backend);

describe(`group steps on ${backend.info.backend} (${backend.info.isa})`, () => {
  const sgd = (lr: number) => groupSpec({ ...NO_TRANSFORM, transform: Transform.L2Normalize, project: Projection.L2Renorm, divByZeroEps: 1e-20, maxNorm: 1 }, { kind: InnerKind.SGD, options: [lr, 0, 0, 0, 0, 0] });
  const tensor = (p: Float32Array, g: Float32Array, rows: number, cols: number): GroupTensor => ({ p, g, rows, cols, buffers: [null, null, null], s0: 0, s1: 0, maxNorms: null });

  test('a malformed tensor late in a group is refused before any tensor is written', () => {
    const p0 = randomArray('float32', 3 * 70000, 7, true) as Float32Array;
    const g0 = randomArray('float32', 3 * 70000, 8, true) as Float32Array;
    const p1 = new Float32Array(10).fill(1);
    const g1 = new Float32Array(9).fill(1); // one short of rows * cols
    const before = [p0.slice(), g0.slice(), p1.slice(), g1.slice()];
    expect(() => backend.groupStep(sgd(0.1), [tensor(p0, g0, 3, 70000), tensor(p1, g1, 2, 5)])).toThrow(/tensor 1/);
    [p0, g0, p1, g1].forEach((a, i) => expectSameBits(a, before[i], `array ${i}`));
  });

  test('a group step equals the TypeScript reference, bit for bit, on rows longer than a staging block', () => {
    const p = randomArray('float32', 2 * 70001, 9) as Float32Array;
    const g = randomArray('float32', 2 * 70001, 10) as Float32Array;
    const [pr, gr, initial] = [p.slice(), g.slice(), p.slice()];
    backend.groupStep(sgd(0.25), [tensor(p, g, 2, 70001)]);
    sequentialGroupStep(ref.referenceKernels, sgd(0.25), [tensor(pr, gr, 2, 70001)]);
    expectSameBits(p, pr, 'p');
    expectSameBits(g, gr, 'g');
    expect(p.some((v, i) => v !== initial[i])).toBe(true);
  });
});

describe(`L2 normalisation's rounding on ${backend.info.backend} (${backend.info.isa})`, () => {
  // The rule itself, written out rather than read from the oracle: float32 rows are
  // multiplied by fround(1 / d) where d and 1 / d are normal numbers (the divider
  // bound the fused step), every other row divided; float64 rows always divided
  // (PyTorch's own quotients, as its norms: see README, Backends).
  const normalized = (row: Float32Array | Float64Array, eps: number) => {
    const g = row.slice();
    backend.normalizeRowsL2(g, 1, g.length, eps);
    return g;
  };
  const norm32 = (row: Float32Array) => ref.rowNormL2(row, 0, row.length);

  test('float32: times the reciprocal rounded once, within one ulp of the quotient; the fused step writes the same', () => {
    const row = randomArray('float32', 1000, 31) as Float32Array;
    const d = norm32(row);
    const m = Math.fround(1 / d);
    const g = normalized(row, 1e-20);
    let differ = 0;
    for (let i = 0; i < row.length; i++) {
      expect(g[i]).toBe(Math.fround(row[i] * m));
      const q = Math.fround(row[i] / d);
      if (g[i] !== q) differ++;
      expect(Math.abs(g[i] - q)).toBeLessThanOrEqual(Math.abs(q) * 2 ** -23);
    }
    // (Otherwise this row would not tell the two roundings apart.)
    expect(differ).toBeGreaterThan(0);
    const p = new Float32Array(row.length);
    const fused = row.slice();
    backend.groupStep(groupSpec({ ...NO_TRANSFORM, transform: Transform.L2Normalize, divByZeroEps: 1e-20 }, { kind: InnerKind.SGD, options: [1, 0, 0, 0, 0, 0] }),
      [{ p, g: fused, rows: 1, cols: row.length, buffers: [null, null, null], s0: 0, s1: 0, maxNorms: null }]);
    expectSameBits(fused, g, 'fused step gradient');
  });

  test('float32: divided where the divisor or its reciprocal is not normal (a subnormal or a huge divByZeroEps)', () => {
    const tiny = Float32Array.from({ length: 37 }, (_, i) => (i % 5 === 0 ? 0 : (i % 3 ? 1 : -1) * 2 ** -149 * (1 + (i % 7))));
    const eps = 2 ** -140; // above the row's norm: the divisor, subnormal
    const gTiny = normalized(tiny, eps);
    tiny.forEach((v, i) => expect(gTiny[i]).toBe(Math.fround(v / Math.fround(eps))));
    // (A float32 norm above 2^64 has overflowed to Inf: a divisor above 2^126 is a divByZeroEps.)
    const row = randomArray('float32', 37, 33) as Float32Array;
    const hugeEps = Math.fround(2 ** 127 * 1.5);
    const gHuge = normalized(row, hugeEps);
    row.forEach((v, i) => expect(gHuge[i]).toBe(Math.fround(v / hugeEps)));
    expect(gHuge.some((v, i) => v !== Math.fround(row[i] * Math.fround(1 / hugeEps)))).toBe(true);
  });

  test('float64: divided, as PyTorch does', () => {
    const row = randomArray('float64', 1000, 32) as Float64Array;
    const d = ref.rowNormL2(row, 0, row.length);
    const g = normalized(row, 1e-300);
    row.forEach((v, i) => expect(g[i]).toBe(v / d));
  });
});

describe('the backends agree with each other', () => {
  const names = availableBackends();
  test('both backends load on this machine', () => {
    // CI builds the addon; the WebAssembly files are committed.
    expect(names).toEqual(['native', 'wasm']);
  });
  test('normalize, renorm and SGD give identical bits on native and wasm', () => {
    const [a, b] = names.map(backendByName);
    for (const dtype of DTYPES) {
      const x = randomArray(dtype, 7 * 37, 4242, true);
      const xa = x.slice();
      const xb = x.slice();
      a.normalizeRowsL2(xa, 7, 37, 1e-20);
      b.normalizeRowsL2(xb, 7, 37, 1e-20);
      expectSameBits(xa, xb, 'normalize');
      a.renormRowsL2(xa, 7, 37, 0.5);
      b.renormRowsL2(xb, 7, 37, 0.5);
      expectSameBits(xa, xb, 'renorm');
    }
  });
});
