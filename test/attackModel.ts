// SPDX-License-Identifier: MIT
// The linear softmax classifier of test/fixtures/golden/attack.json (784 -> 10,
// trained on Fashion-MNIST) as a lossAndGrad for the attack tests: per-sample
// cross-entropy and the gradient of its sum, written out by hand. For float32
// data it follows the reference: logits in float64, the loss in float32.
import * as fs from 'fs';
import * as path from 'path';
import * as lp from '../ts';
import { AdditivePerturbation, Tensor, gradientAscent, partial } from '../ts';
import { GOLDEN_DIR, mismatches } from './helpers';

export interface AttackFixture {
  model: { W: number[]; b: number[]; classes: number; inputShape: number[] };
  data: { shape: number[]; values: number[]; labels: number[] };
  cases: AttackCase[];
}

export interface AttackCase {
  name: string;
  dtype: 'float32' | 'float64';
  optimizer: string;
  innerOpt: string;
  options: Record<string, unknown>;
  steps: number;
  targeted: boolean;
  useBest: boolean;
  target: number[];
  deltaNdim: number | null;
  reduction: 'sum' | 'mean';
  init: number[] | null;
  expected: { xAdv: number[]; losses: number[] };
  fooledFraction: number;
}

export const attackFixture = JSON.parse(fs.readFileSync(path.join(GOLDEN_DIR, 'attack.json'), 'utf8')) as AttackFixture;

/** Logits of each sample of x (in float64). */
export function logitsOf(x: ArrayLike<number>, n: number): Float64Array {
  const { W, b, classes } = attackFixture.model;
  const d = x.length / n;
  const out = new Float64Array(n * classes);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < classes; k++) {
      let z = b[k];
      for (let j = 0; j < d; j++) z += W[k * d + j] * x[i * d + j];
      out[i * classes + k] = z;
    }
  }
  return out;
}

export function predictions(x: ArrayLike<number>, n: number): number[] {
  const { classes } = attackFixture.model;
  const logits = logitsOf(x, n);
  return Array.from({ length: n }, (_, i) => {
    let best = 0;
    for (let k = 1; k < classes; k++) if (logits[i * classes + k] > logits[i * classes + best]) best = k;
    return best;
  });
}

/**
 * lossAndGrad(x, target): cross-entropy per sample against `target` and
 * d(sum)/dx; success = the prediction differs from `trueLabels` (untargeted)
 * or equals the target (targeted). Counts its calls.
 */
export function linearLossAndGrad(trueLabels: number[], targeted: boolean) {
  const { W, classes } = attackFixture.model;
  const fn = (x: Tensor, target: unknown) => {
    fn.calls += 1;
    const t = target as number[];
    const n = x.shape[0];
    const d = x.numel / n;
    const f32 = x.dtype === 'float32';
    const round = f32 ? Math.fround : (v: number) => v;
    const logits = logitsOf(x.data, n);
    const losses = f32 ? new Float32Array(n) : new Float64Array(n);
    const grad = f32 ? new Float32Array(x.numel) : new Float64Array(x.numel);
    const gradRow = new Float64Array(d);
    const success = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const z = Array.from(logits.subarray(i * classes, (i + 1) * classes), round);
      // As torch's log_softmax: (z - max) - log(sum(exp(z - max))). (max +
      // log(sum) first, then minus z, rounds a loss near 0, a target all but
      // reached, to exactly 0 a step or more before torch's does, and useBest
      // then keeps another step.)
      const max = Math.max(...z);
      const logSum = Math.log(z.reduce((a, v) => a + Math.exp(v - max), 0));
      const logProb = (k: number) => z[k] - max - logSum;
      losses[i] = round(-logProb(t[i]));
      gradRow.fill(0);
      let pred = 0;
      for (let k = 0; k < classes; k++) {
        if (z[k] > z[pred]) pred = k;
        const coef = round(Math.exp(logProb(k)) - (k === t[i] ? 1 : 0));
        for (let j = 0; j < d; j++) gradRow[j] += coef * W[k * d + j];
      }
      grad.set(gradRow, i * d);
      success[i] = targeted ? (pred === t[i] ? 1 : 0) : pred !== trueLabels[i] ? 1 : 0;
    }
    return { losses, grad, success };
  };
  fn.calls = 0;
  return fn;
}

/** The fixture's images as a tensor of this dtype. */
export function attackData(fixture: AttackFixture, dtype: 'float32' | 'float64'): Tensor {
  const values = dtype === 'float64' ? Float64Array.from(fixture.data.values) : Float32Array.from(fixture.data.values);
  return new Tensor(values, [...fixture.data.shape]);
}

/**
 * Runs an attack case (attack.json's format) through gradientAscent on the
 * fixture's images and this file's model, and expects the reference's
 * results: xAdv and the losses within the case's tolerances (in L-inf a few
 * elements apart: sign() turns a rounding difference near zero into a whole
 * step), and the same share of images fooled. `float64Rtol` replaces the
 * float64 cases' relative tolerance (1e-9).
 */
export function expectAttackCaseMatches(fixture: AttackFixture, c: AttackCase, o: { float64Rtol?: number } = {}): void {
  const classes = lp as unknown as Record<string, lp.OptimizerClass>;
  const options: Record<string, unknown> = { ...c.options };
  if (c.optimizer !== 'SGD') options.InnerOpt = classes[c.innerOpt];
  const pmodelOptions: Record<string, unknown> = { deltaNdim: c.deltaNdim };
  if (c.init) pmodelOptions.init = c.init;
  const result = gradientAscent({
    lossAndGrad: linearLossAndGrad(fixture.data.labels, c.targeted),
    data: attackData(fixture, c.dtype),
    target: c.target,
    optimizer: classes[c.optimizer],
    steps: c.steps,
    perturbationModel: partial(AdditivePerturbation, pmodelOptions),
    targeted: c.targeted,
    useBest: c.useBest,
    reduction: c.reduction,
    ...options,
  });
  const [rtol, atol] = c.dtype === 'float64' ? [o.float64Rtol ?? 1e-9, 1e-9] : [1e-4, 1e-5];
  const linf = c.optimizer === 'LinfProjectedOptim';
  expect(result.xAdv.shape).toEqual(fixture.data.shape);
  expect(result.xAdv.dtype).toBe(c.dtype);
  expect(mismatches(result.xAdv.data, c.expected.xAdv, rtol, atol).length).toBeLessThanOrEqual(linf ? 8 : 0);
  expect(mismatches(result.losses, c.expected.losses, linf ? 1e-3 : rtol, atol)).toEqual([]);
  const n = fixture.data.shape[0];
  const fooled = predictions(result.xAdv.data, n).filter((p, i) => p !== fixture.data.labels[i]).length / n;
  expect(fooled).toBeCloseTo(c.fooledFraction, 10);
}
