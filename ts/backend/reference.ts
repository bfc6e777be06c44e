// SPDX-License-Identifier: MIT
// Plain TypeScript versions of the kernels, computing exactly what the C++
// kernels compute, in the same order and with the same roundings (float32
// results are rounded with Math.fround after every operation). They are the
// test oracle: both backends must match them bit for bit.
import { FloatArray } from '../types';
import { fma32, fma64 } from './fma';
import { GroupKernels, GroupTensor, sequentialGroupStep } from './groupStep';
import { AdagradKernelOptions, AdamKernelOptions, RmspropKernelOptions, SgdKernelOptions } from './types';

/** Lanes of the fixed-order reduction; see native/kernels/kernels.h. */
export const REDUCTION_LANES = 16;

/** Rounds a double to the array's element type. */
const identity = (x: number) => x;

export function rounderFor(a: FloatArray): (x: number) => number {
  return a instanceof Float32Array ? Math.fround : identity;
}

/**
 * The L2 norm of x[start, start + n), rounded to the array's type. float32:
 * squares are summed in 16 interleaved lanes of float32 (as PyTorch's
 * vectorised norm sums in lanes; it is what makes the seed's float32 example
 * print 0.800000011920929), then the lanes are added pairwise. float64:
 * PyTorch's own order, one fused multiply-add per element.
 */
// Scratch lanes, reused: the reference also runs small steps, where allocation would dominate.
const LANES_F32 = new Float32Array(REDUCTION_LANES);
const LANES_F64 = new Float64Array(REDUCTION_LANES);

/** The scratch lanes of x's type, zeroed. */
function lanesFor(x: FloatArray): FloatArray {
  const lanes = x instanceof Float32Array ? LANES_F32 : LANES_F64;
  for (let i = 0; i < REDUCTION_LANES; i++) lanes[i] = 0; // (a fill() call costs more than a short row's norm)
  return lanes;
}

export function rowNormL2(x: FloatArray, start: number, n: number): number {
  if (x instanceof Float64Array) {
    // float64: PyTorch's order, s = fma(x, x, s) element by element (see rowSumSquares in kernels-inl.h).
    let s = 0;
    for (let j = start; j < start + n; j++) s = fma64(x[j], x[j], s);
    return Math.sqrt(s);
  }
  const used = n < REDUCTION_LANES ? n : REDUCTION_LANES;
  let lanes: FloatArray;
  if (n <= REDUCTION_LANES) {
    // One square a lane (the seed's rows), nothing zeroed first: lanes n..
    // would hold +0, which changes no bit of a sum of squares (>= 0 or NaN),
    // so the tree skips them.
    lanes = LANES_F32;
    for (let j = 0; j < n; j++) lanes[j] = x[start + j] * x[start + j];
  } else {
    lanes = lanesFor(x);
    for (let j = 0; j < n; j++) {
      const v = x[start + j];
      lanes[j % REDUCTION_LANES] += Math.fround(v * v);
    }
  }
  for (let h = REDUCTION_LANES / 2; h >= 1; h >>= 1) {
    for (let i = 0; i < h && i + h < used; i++) lanes[i] += lanes[i + h];
  }
  return Math.fround(Math.sqrt(lanes[0]));
}

export function rowNormsL2(x: FloatArray, rows: number, cols: number, out: FloatArray): void {
  // Rows of no elements have norm 0 (checked first: a shape such as [2**31, 0] has that many of them).
  if (cols === 0) {
    out.fill(0, 0, rows);
    return;
  }
  for (let i = 0; i < rows; i++) out[i] = rowNormL2(x, i * cols, cols);
}

export function normalizeRowsL2(g: FloatArray, rows: number, cols: number, divByZeroEps: number): void {
  const r = rounderFor(g);
  const eps = r(divByZeroEps);
  const byReciprocal = g instanceof Float32Array;
  if (cols === 0) return;
  for (let i = 0; i < rows; i++) {
    const n = rowNormL2(g, i * cols, cols);
    const d = n < eps ? eps : n; // a NaN norm stays NaN, as torch.clamp keeps it
    // The kernels' rule (rowNormalizer in kernels-inl.h): float32 times the
    // reciprocal rounded once where d and 1 / d are normal; float64, and
    // float32 elsewhere, divided.
    if (byReciprocal && d >= 2 ** -126 && d <= 2 ** 126) {
      const m = r(1 / d);
      for (let j = i * cols; j < (i + 1) * cols; j++) g[j] = g[j] * m;
    } else {
      for (let j = i * cols; j < (i + 1) * cols; j++) g[j] = g[j] / d;
    }
  }
}

export function renormRowsL2(p: FloatArray, rows: number, cols: number, maxNorm: number): void {
  const r = rounderFor(p);
  const m = r(maxNorm);
  const tiny = r(1e-7);
  if (cols === 0) return;
  for (let i = 0; i < rows; i++) {
    const n = rowNormL2(p, i * cols, cols);
    if (!(n > m)) continue;
    const f = r(m / r(n + tiny));
    for (let j = i * cols; j < (i + 1) * cols; j++) p[j] = p[j] * f;
  }
}

export function renormRowsL2PerRow(p: FloatArray, rows: number, cols: number, maxNorms: Float64Array): void {
  if (cols === 0) return;
  for (let i = 0; i < rows; i++) renormRowsL2(p.subarray(i * cols, (i + 1) * cols), 1, cols, maxNorms[i]);
}

export function scaleBias(g: FloatArray, scale: number, applyScale: boolean, bias: number, applyBias: boolean): void {
  const r = rounderFor(g);
  const s = r(scale);
  const b = r(bias);
  for (let i = 0; i < g.length; i++) {
    let v = g[i];
    if (applyScale) v = r(v * s);
    if (applyBias) v = r(v + b);
    g[i] = v;
  }
}

/**
 * a * b + c rounded once in p's type, for the weight decay term, which torch
 * adds as grad.add(param, alpha=weight_decay) with one rounding, and which
 * cancels against the gradient where decay balances it (then Adam, RMSprop
 * and Adagrad divide by a root of the same size, and a second rounding would
 * show): the kernels' mulAdd (native/kernels/exact_fma.h).
 */
function mulAddFor(p: FloatArray): (a: number, b: number, c: number) => number {
  return p instanceof Float32Array ? fma32 : fma64;
}

export function sgdStep(p: FloatArray, g: FloatArray, buf: FloatArray | null, o: SgdKernelOptions, bufferInitialized: boolean): void {
  const r = rounderFor(p);
  const fma = mulAddFor(p);
  const wd = r(o.weightDecay);
  const m = r(o.momentum);
  const oneMinusDampening = r(1 - o.dampening);
  const negLr = r(-o.lr);
  for (let i = 0; i < p.length; i++) {
    let d = o.maximize ? -g[i] : g[i];
    if (o.weightDecay !== 0) d = fma(wd, p[i], d);
    if (o.momentum !== 0 && buf) {
      if (!bufferInitialized) buf[i] = d;
      else buf[i] = r(r(buf[i] * m) + r(oneMinusDampening * d));
      d = o.nesterov ? r(d + r(m * buf[i])) : buf[i];
    }
    p[i] = r(p[i] + r(negLr * d));
  }
}

/** torch.maximum: NaN if either is NaN. */
function maxPropagatingNaN(a: number, b: number): number {
  return a < b || Number.isNaN(b) ? b : a;
}

export function adamStep(
  p: FloatArray, g: FloatArray, m: FloatArray, v: FloatArray, vmax: FloatArray | null, o: AdamKernelOptions,
): void {
  const r = rounderFor(p);
  const fma = mulAddFor(p);
  const decayFactor = r(1 - o.lr * o.weightDecay);
  const wd = r(o.weightDecay);
  const b1 = r(o.beta1);
  const b2 = r(o.beta2);
  const c1 = r(1 - o.beta1);
  const c2 = r(1 - o.beta2);
  const bc2 = r(o.biasCorrection2Sqrt);
  const eps = r(o.eps);
  const negStep = r(-o.stepSize);
  for (let i = 0; i < p.length; i++) {
    let d = o.maximize ? -g[i] : g[i];
    if (o.weightDecay !== 0) {
      if (o.decoupledWeightDecay) p[i] = r(p[i] * decayFactor);
      else d = fma(wd, p[i], d);
    }
    m[i] = r(r(m[i] * b1) + r(c1 * d));
    v[i] = r(r(v[i] * b2) + r(r(c2 * d) * d));
    let vh = v[i];
    if (o.amsgrad && vmax) vh = vmax[i] = maxPropagatingNaN(vmax[i], v[i]);
    const denom = r(r(r(Math.sqrt(vh)) / bc2) + eps);
    p[i] = r(p[i] + r(r(negStep * m[i]) / denom));
  }
}

export function rmspropStep(
  p: FloatArray, g: FloatArray, sq: FloatArray, ga: FloatArray | null, buf: FloatArray | null, o: RmspropKernelOptions,
): void {
  const r = rounderFor(p);
  const fma = mulAddFor(p);
  const wd = r(o.weightDecay);
  const alpha = r(o.alpha);
  const c = r(1 - o.alpha);
  const eps = r(o.eps);
  const mom = r(o.momentum);
  const negLr = r(-o.lr);
  for (let i = 0; i < p.length; i++) {
    let d = o.maximize ? -g[i] : g[i];
    if (o.weightDecay !== 0) d = fma(wd, p[i], d);
    sq[i] = r(r(sq[i] * alpha) + r(r(c * d) * d));
    let avg: number;
    if (o.centered && ga) {
      ga[i] = r(r(ga[i] * alpha) + r(c * d));
      avg = r(Math.sqrt(r(sq[i] + r(-ga[i] * ga[i]))));
    } else {
      avg = r(Math.sqrt(sq[i]));
    }
    avg = r(avg + eps);
    if (o.momentum > 0 && buf) {
      buf[i] = r(r(buf[i] * mom) + r(d / avg));
      p[i] = r(p[i] + r(negLr * buf[i]));
    } else {
      p[i] = r(p[i] + r(r(negLr * d) / avg));
    }
  }
}

export function adagradStep(p: FloatArray, g: FloatArray, sum: FloatArray, o: AdagradKernelOptions): void {
  const r = rounderFor(p);
  const fma = mulAddFor(p);
  const wd = r(o.weightDecay);
  const eps = r(o.eps);
  const negClr = r(-o.clr);
  for (let i = 0; i < p.length; i++) {
    let d = o.maximize ? -g[i] : g[i];
    if (o.weightDecay !== 0) d = fma(wd, p[i], d);
    sum[i] = r(sum[i] + r(d * d));
    const std = r(r(Math.sqrt(sum[i])) + eps);
    p[i] = r(p[i] + r(r(negClr * d) / std));
  }
}

/** The L1 norm of x[start, start + n), in 16 lanes of the array's type like rowNormL2. */
export function rowNormL1(x: FloatArray, start: number, n: number): number {
  const lanes = lanesFor(x);
  for (let j = 0; j < n; j++) lanes[j % REDUCTION_LANES] += Math.abs(x[start + j]);
  for (let h = REDUCTION_LANES / 2; h >= 1; h >>= 1) {
    for (let i = 0; i < h; i++) lanes[i] += lanes[i + h];
  }
  return lanes[0];
}

export function normalizeRowsL1(g: FloatArray, rows: number, cols: number, divByZeroEps: number): void {
  const eps = rounderFor(g)(divByZeroEps);
  if (cols === 0) return;
  for (let i = 0; i < rows; i++) {
    const n = rowNormL1(g, i * cols, cols);
    const d = n < eps ? eps : n;
    for (let j = i * cols; j < (i + 1) * cols; j++) g[j] = g[j] / d;
  }
}

export function signInPlace(g: FloatArray): void {
  for (let i = 0; i < g.length; i++) g[i] = (g[i] > 0 ? 1 : 0) - (g[i] < 0 ? 1 : 0);
}

export function clampInPlace(x: FloatArray, lo: number, hasLo: boolean, hi: number, hasHi: boolean): void {
  const r = rounderFor(x);
  const l = r(lo);
  const h = r(hi);
  for (let i = 0; i < x.length; i++) {
    let v = x[i];
    if (hasLo && v < l) v = l;
    if (hasHi && v > h) v = h;
    x[i] = v;
  }
}

/** |a| ranks above |b|: larger magnitude first, NaN largest (as torch.topk), then the lower index. */
export function magnitudeOrder(g: FloatArray, start: number): (a: number, b: number) => number {
  return (a, b) => {
    const x = Math.abs(g[start + a]);
    const y = Math.abs(g[start + b]);
    if (x !== y) {
      if (Number.isNaN(x)) return Number.isNaN(y) ? a - b : -1;
      if (Number.isNaN(y)) return 1;
      return y - x;
    }
    return a - b;
  };
}

export function topQRows(g: FloatArray, rows: number, cols: number, keep: number): void {
  if (keep >= cols) return;
  for (let i = 0; i < rows; i++) {
    const start = i * cols;
    const order = Array.from({ length: cols }, (_, j) => j).sort(magnitudeOrder(g, start));
    for (let k = keep; k < cols; k++) g[start + order[k]] = 0;
  }
}

/** The three kernels in turn (the native and WebAssembly kernels count the nonzero signs instead of summing them). */
export function topQSignL1Rows(g: FloatArray, rows: number, cols: number, keep: number, divByZeroEps: number): void {
  topQRows(g, rows, cols, keep);
  signInPlace(g);
  normalizeRowsL1(g, rows, cols, divByZeroEps);
}

export function l1LmoRows(g: FloatArray, rows: number, cols: number): void {
  if (cols === 0) return;
  for (let i = 0; i < rows; i++) {
    const start = i * cols;
    let best = 0;
    const better = magnitudeOrder(g, start);
    for (let j = 1; j < cols; j++) if (better(j, best) < 0) best = j;
    const v = g[start + best];
    const sign = (v > 0 ? 1 : 0) - (v < 0 ? 1 : 0);
    // torch zeroes with grad.mul_(0): NaN stays NaN and a negative entry becomes -0.
    for (let j = start; j < start + cols; j++) g[j] = g[j] * 0;
    g[start + best] = sign;
  }
}

export function frankWolfeStep(p: FloatArray, g: FloatArray, alpha: number, lmoScale: number): void {
  const r = rounderFor(p);
  const keep = r(1 - alpha);
  const w = r(-(alpha * lmoScale));
  for (let i = 0; i < p.length; i++) p[i] = r(r(p[i] * keep) + r(w * g[i]));
}

/** The reference kernels behind the backend interface (state buffers read in place). */
export const referenceKernels: GroupKernels = {
  normalizeRowsL2,
  signInPlace,
  clampInPlace,
  scaleBias,
  renormRowsL2,
  renormRowsL2PerRow,
  sgdStep: (p, g, buf, o, init) => sgdStep(p, g, buf && buf.live(), o, init),
  adamStep: (p, g, m, v, vmax, o) => adamStep(p, g, m.live(), v.live(), vmax && vmax.live(), o),
  rmspropStep: (p, g, sq, ga, buf, o) => rmspropStep(p, g, sq.live(), ga && ga.live(), buf && buf.live(), o),
  adagradStep: (p, g, sum, o) => adagradStep(p, g, sum.live(), o),
  frankWolfeStep,
};

/** The group step in plain TypeScript: the oracle of the fused kernels, and the path of small steps. */
export function groupStep(spec: Float64Array, tensors: GroupTensor[]): void {
  sequentialGroupStep(referenceKernels, spec, tensors);
}
