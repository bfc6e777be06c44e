// SPDX-License-Identifier: MIT
// Plain TypeScript versions of the kernels, computing exactly what the C++
// kernels compute, in the same order and with the same roundings (float32
// results are rounded with Math.fround after every operation). They are the
// test oracle: both backends must match them bit for bit.
import { FloatArray } from '../types';
import { SgdKernelOptions } from './types';

/** Lanes of the fixed-order reduction; see native/kernels/kernels.h. */
export const REDUCTION_LANES = 16;

/** Rounds a double to the array's element type. */
export function rounderFor(a: FloatArray): (x: number) => number {
  return a instanceof Float32Array ? Math.fround : (x: number) => x;
}

/**
 * The L2 norm of x[start, start + n), rounded to the array's type: squares
 * are summed in 16 interleaved lanes of the array's own type (as PyTorch's
 * vectorised norm does; it is what makes the seed's float32 example print
 * 0.800000011920929), then the lanes are added pairwise.
 */
export function rowNormL2(x: FloatArray, start: number, n: number): number {
  const r = rounderFor(x);
  const lanes = x instanceof Float32Array ? new Float32Array(REDUCTION_LANES) : new Float64Array(REDUCTION_LANES);
  for (let j = 0; j < n; j++) {
    const v = x[start + j];
    lanes[j % REDUCTION_LANES] += r(v * v);
  }
  for (let h = REDUCTION_LANES / 2; h >= 1; h >>= 1) {
    for (let i = 0; i < h; i++) lanes[i] += lanes[i + h];
  }
  return r(Math.sqrt(lanes[0]));
}

export function rowNormsL2(x: FloatArray, rows: number, cols: number, out: FloatArray): void {
  for (let i = 0; i < rows; i++) out[i] = rowNormL2(x, i * cols, cols);
}

export function normalizeRowsL2(g: FloatArray, rows: number, cols: number, divByZeroEps: number): void {
  const r = rounderFor(g);
  const eps = r(divByZeroEps);
  for (let i = 0; i < rows; i++) {
    const n = rowNormL2(g, i * cols, cols);
    const d = n < eps ? eps : n; // a NaN norm stays NaN, as torch.clamp keeps it
    for (let j = i * cols; j < (i + 1) * cols; j++) g[j] = g[j] / d;
  }
}

export function renormRowsL2(p: FloatArray, rows: number, cols: number, maxNorm: number): void {
  const r = rounderFor(p);
  const m = r(maxNorm);
  const tiny = r(1e-7);
  for (let i = 0; i < rows; i++) {
    const n = rowNormL2(p, i * cols, cols);
    if (!(n > m)) continue;
    const f = r(m / r(n + tiny));
    for (let j = i * cols; j < (i + 1) * cols; j++) p[j] = p[j] * f;
  }
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

export function sgdStep(p: FloatArray, g: FloatArray, buf: FloatArray | null, o: SgdKernelOptions, bufferInitialized: boolean): void {
  const r = rounderFor(p);
  const wd = r(o.weightDecay);
  const m = r(o.momentum);
  const oneMinusDampening = r(1 - o.dampening);
  const negLr = r(-o.lr);
  for (let i = 0; i < p.length; i++) {
    let d = o.maximize ? -g[i] : g[i];
    if (o.weightDecay !== 0) d = r(d + r(wd * p[i]));
    if (o.momentum !== 0 && buf) {
      if (!bufferInitialized) buf[i] = d;
      else buf[i] = r(r(buf[i] * m) + r(oneMinusDampening * d));
      d = o.nesterov ? r(d + r(m * buf[i])) : buf[i];
    }
    p[i] = r(p[i] + r(negLr * d));
  }
}
