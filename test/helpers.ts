// SPDX-License-Identifier: MIT
// Shared test helpers: golden-case loading and building, tolerant and
// bit-exact comparisons, and the backend under test.
import * as fs from 'fs';
import * as path from 'path';
import * as lp from '../ts';
import { FloatArray } from '../ts/types';

export const GOLDEN_DIR = path.join(__dirname, 'fixtures', 'golden');

export interface GoldenCase {
  name: string;
  optimizer: string;
  inner: string;
  chain?: { optimizer: string; kwargs: Record<string, unknown> }[];
  dtype: 'float32' | 'float64';
  kwargs: Record<string, unknown>;
  groups: { params: number[]; options: Record<string, unknown> }[] | null;
  params: { shape: number[]; data: number[] }[];
  steps: { grads: (number[] | null)[]; expect: { params: number[][]; grads: (number[] | null)[] } }[];
}

/** Cases in the golden format that this project recorded from the reference itself (each file's generator beside it). */
export const REFERENCE_DIR = path.join(__dirname, 'fixtures', 'reference');

export function loadGolden(file: string, dir = GOLDEN_DIR): GoldenCase[] {
  return (JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as { cases: GoldenCase[] }).cases;
}

/** snake_case -> camelCase, as the API names the reference's options. */
export function camel(key: string): string {
  return key.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** A case's options with camelCase names, those inside `defaults` (an options object itself) too. */
export function camelKeys(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(o).map(([k, v]) => [camel(k), k === 'defaults' && v !== null && typeof v === 'object' ? camelKeys(v as Record<string, unknown>) : v]),
  );
}

export function typed(dtype: 'float32' | 'float64', data: number[]): FloatArray {
  return dtype === 'float64' ? Float64Array.from(data) : Float32Array.from(data);
}

/** The classes a golden case may name; absent ones are not implemented yet. */
export const CLASSES: Record<string, unknown> = { ...lp };

/** Relative tolerance per the golden README: 1e-5 float32 (1e-4 with adaptive inner optimizers), 1e-10 float64. */
export function tolerance(c: GoldenCase): { rtol: number; atol: number } {
  if (c.dtype === 'float64') return { rtol: 1e-10, atol: 1e-12 };
  const adaptive = ['Adam', 'AdamW', 'RMSprop', 'Adagrad'].includes(c.inner);
  return adaptive ? { rtol: 1e-4, atol: 1e-5 } : { rtol: 1e-5, atol: 1e-6 };
}

/**
 * Indices where |a - e| > atol + rtol * |e| (NaN must match NaN), plus, with
 * `slack`, slack.factor * |slack.of[i]| (see GoldenRunOptions.operandSlack).
 */
export function mismatches(
  actual: ArrayLike<number>, expected: ArrayLike<number>, rtol: number, atol: number,
  slack?: { factor: number; of: ArrayLike<number> },
): number[] {
  const bad: number[] = [];
  if (actual.length !== expected.length) return [-1];
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    const allowed = atol + rtol * Math.abs(e) + (slack ? slack.factor * Math.abs(slack.of[i]) : 0);
    if (Number.isNaN(e) ? !Number.isNaN(a) : !(Math.abs(a - e) <= allowed)) bad.push(i);
  }
  return bad;
}

export function expectClose(
  actual: ArrayLike<number>, expected: ArrayLike<number>, rtol: number, atol: number, what = '',
  slack?: { factor: number; of: ArrayLike<number> },
): void {
  const bad = mismatches(actual, expected, rtol, atol, slack);
  if (bad.length) {
    const i = bad[0];
    const extra = slack ? `, plus ${slack.factor} x |${slack.of[i]}|` : '';
    throw new Error(
      `${what}: ${bad.length} of ${expected.length} elements differ; first at ${i}: got ${actual[i]}, expected ${expected[i]} (rtol ${rtol}, atol ${atol}${extra})`,
    );
  }
}

/**
 * A typed array whose element i is f(i), filled by a plain loop: TypedArray.from
 * with a map function takes about four times as long, which shows on the
 * arrays of a million elements that the thread and block tests step.
 */
export function filled<A extends Float32Array | Float64Array>(Ctor: new (length: number) => A, length: number, f: (i: number) => number): A {
  const a = new Ctor(length);
  for (let i = 0; i < length; i++) a[i] = f(i);
  return a;
}

/** Bit-for-bit equality (NaN payloads aside, -0 and +0 distinguished). */
export function expectSameBits(actual: ArrayLike<number>, expected: ArrayLike<number>, what = ''): void {
  expect(actual.length).toBe(expected.length);
  // No global (Object.is, Number.isNaN) inside the loop: in jest's sandbox a
  // global lookup per element made a million-element comparison take 100 ms.
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    const same = a === e ? a !== 0 || 1 / a === 1 / e : a !== a && e !== e; // -0 vs +0; NaN vs NaN
    if (!same) throw new Error(`${what}: element ${i} differs: got ${a}, expected ${e}`);
  }
}

/** How a golden case is run: its arrays ordinary ones (default) or from allocArray (freed as they are replaced). */
export interface GoldenRunOptions {
  allocArrays?: boolean;
  /**
   * Allows parameters this many times the magnitude of their value before the
   * step beyond the tolerance (the differential run's float32 cases: 2^-23,
   * an ulp). PyTorch rounds `p + (-lr) * d` once (add with alpha is an fma in
   * its CPU kernels), lp-optim twice (README, Known differences): the results
   * differ by up to an ulp of the operands, which the relative tolerance
   * covers unless the step nearly cancels the parameter (46.55 stepped to
   * -0.0327 in one random case). The golden cases need none (their largest
   * parameter, about 12, keeps that ulp under the absolute tolerance).
   */
  operandSlack?: number;
}

/** `data` as an array of the dtype: an ordinary one, or one from allocArray. */
function caseArray(dtype: 'float32' | 'float64', data: number[], o: GoldenRunOptions): FloatArray {
  if (!o.allocArrays) return typed(dtype, data);
  const a = lp.allocArray(data.length, dtype);
  a.set(data);
  return a;
}

/** Builds the case's optimizer over fresh tensors. */
export function buildGolden(c: GoldenCase, o: GoldenRunOptions = {}): { opt: lp.Optimizer; params: lp.Tensor[] } {
  const params = c.params.map((p) => new lp.Tensor(caseArray(c.dtype, p.data, o), p.shape));
  const paramsArg = c.groups
    ? c.groups.map((g) => ({ params: g.params.map((i) => params[i]), ...camelKeys(g.options) }))
    : params;
  const Cls = CLASSES[c.optimizer] as new (p: unknown, o: unknown) => lp.Optimizer;
  // (The Frank-Wolfe optimizers' inner optimizer is always FrankWolfe; naming it is allowed.)
  const options: Record<string, unknown> = { InnerOpt: CLASSES[c.inner], ...camelKeys(c.kwargs) };
  if (c.chain) {
    options.chain = c.chain.map((l) => lp.partial(CLASSES[l.optimizer] as lp.OptimizerClass, camelKeys(l.kwargs)));
  }
  return { opt: new Cls(paramsArg, options), params };
}

/** Runs every step of a case, comparing parameters and transformed gradients after each. */
export function runGolden(c: GoldenCase, o: GoldenRunOptions = {}): void {
  const { rtol, atol } = tolerance(c);
  const { opt, params } = buildGolden(c, o);
  // The expected parameters before each step (for operandSlack).
  let before = c.params.map((p) => p.data);
  c.steps.forEach((s, k) => {
    params.forEach((p, i) => {
      const previous = p.grad;
      p.grad = s.grads[i] === null ? null : caseArray(c.dtype, s.grads[i]!, o);
      if (o.allocArrays && previous) lp.freeArray(previous);
    });
    opt.step();
    params.forEach((p, i) => {
      const slack = o.operandSlack ? { factor: o.operandSlack, of: before[i] } : undefined;
      expectClose(p.data, s.expect.params[i], rtol, atol, `${c.name} step ${k} param ${i}`, slack);
      const eg = s.expect.grads[i];
      if (eg === null) expect(p.grad).toBeNull();
      else expectClose(p.grad!, eg, rtol, atol, `${c.name} step ${k} grad ${i}`);
    });
    before = s.expect.params;
  });
  if (o.allocArrays) {
    for (const p of params) {
      lp.freeArray(p.data);
      if (p.grad) lp.freeArray(p.grad);
    }
  }
}

/** Why a case cannot run yet, or null when every class it names exists. */
export function pendingReason(c: GoldenCase): string | null {
  const names = [c.optimizer, c.inner, ...(c.chain ?? []).map((l) => l.optimizer)];
  const missing = names.filter((n) => !(n in CLASSES));
  return missing.length ? `${missing.join(', ')} not implemented yet` : null;
}

/** What fn throws (undefined if it returns): for tests that inspect the error object itself. */
export function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return undefined;
}
