// SPDX-License-Identifier: MIT
// The attack solver of rai_toolbox.perturbations: gradientAscent (projected
// gradient ascent on a batch, with the reference's useBest bookkeeping) and
// randomRestart; beyond the reference, a data range enforced inside the
// loop, early stopping on samples already fooled, and a progress callback.
import { checkInteger, show } from '../errors';
import { Optimizer, OptimizerClass, isOptimizerClass } from '../optim/optimizer';
import { Partial, isPartial } from '../optim/partial';
import { Tensor } from '../tensor';
import { FloatArray } from '../types';
import { AdditivePerturbation, PerturbationModel } from './perturbation';

/**
 * What a model gives the solver at a batch x: per-sample losses, d(sum of
 * losses)/dx, and optionally per-sample success. losses and grad are typed
 * arrays of x's dtype (or arrays of numbers); success holds 0/1 or booleans.
 */
export interface LossAndGradResult {
  losses: ArrayLike<number>;
  grad: ArrayLike<number>;
  success?: ArrayLike<number | boolean> | null;
}

// `target` is whatever the caller passed as gradientAscent's target (typed `any` so a
// lossAndGrad may declare it as number[], Int32Array...).
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type LossAndGrad = (x: Tensor, target: any) => LossAndGradResult;

export interface StepInfo {
  /** 1-based step number. */
  step: number;
  steps: number;
  /** Mean of the criterion's losses at the points of this step. */
  meanLoss: number;
  /** Share of samples that have succeeded so far (when lossAndGrad reports success), else null. */
  successRate: number | null;
}

type PerturbationClass = new (data: Tensor, options?: Record<string, unknown>) => PerturbationModel;

export interface GradientAscentOptions {
  lossAndGrad: LossAndGrad;
  data: Tensor;
  target: unknown;
  optimizer: OptimizerClass | Partial | Optimizer;
  steps: number;
  /** A class (made anew for each run), partial(Class, options), or an instance (its delta carries over). */
  perturbationModel?: PerturbationClass | Partial | PerturbationModel;
  targeted?: boolean;
  useBest?: boolean;
  /** 'sum' or 'mean' (any other string is refused when called: typed wide so a shared options object can carry it). */
  reduction?: 'sum' | 'mean' | (string & {});
  /** [lo, hi]: after every step, data + delta is clamped into the range (after the optimizer's own projection). */
  dataRange?: readonly [number, number] | readonly number[] | null;
  earlyStop?: boolean;
  onStep?: (info: StepInfo) => void;
  /** Anything else is an option of the optimizer. */
  [optimizerOption: string]: unknown;
}

export interface GradientAscentResult {
  xAdv: Tensor;
  /** The criterion's losses at the returned points (not negated). */
  losses: FloatArray;
  /** Per sample, 1 when the returned point succeeded (when lossAndGrad reports success). */
  success?: Uint8Array;
  /** Per sample, the optimizer steps taken before the returned point (with earlyStop). */
  stepsTaken?: Int32Array;
}

function isPerturbationModel(x: unknown): x is PerturbationModel {
  return typeof x === 'object' && x !== null && typeof (x as PerturbationModel).parameters === 'function' && typeof (x as PerturbationModel).apply === 'function';
}

/**
 * losses or grad as lossAndGrad returned them: a typed array of x's dtype or
 * an array of numbers, of the given length (NaN is let through, as a NaN
 * gradient is by the optimizers: see README, "NaN and Inf").
 */
function checkReturned(field: string, value: unknown, x: Tensor, length: number, wrongLength: (got: number) => string): ArrayLike<number> {
  const Typed = x.dtype === 'float64' ? Float64Array : Float32Array;
  if (!(value instanceof Typed) && !Array.isArray(value)) {
    throw new TypeError(`lossAndGrad returned ${field} = ${show(value)}; it must be a ${Typed.name} (x is ${x.dtype}) or an array of numbers`);
  }
  if (value.length !== length) throw new RangeError(wrongLength(value.length));
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      if (typeof value[i] !== 'number') throw new TypeError(`lossAndGrad returned ${field}[${i}] = ${show(value[i])}; it must be a number`);
    }
  }
  return value;
}

/** success as lossAndGrad returned it (null or absent: none): one 0/1 or boolean flag per sample. */
function checkSuccess(value: unknown, n: number): Uint8Array | null {
  if (value === undefined || value === null) return null;
  if (!Array.isArray(value) && !(ArrayBuffer.isView(value) && !(value instanceof DataView))) {
    throw new TypeError(`lossAndGrad returned success = ${show(value)}; it must be an array or typed array of 0/1 flags`);
  }
  const flags = value as ArrayLike<unknown>;
  if (flags.length !== n) throw new RangeError(`lossAndGrad returned ${flags.length} success flags for a batch of ${n}`);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const v = flags[i];
    if (typeof v !== 'boolean' && typeof v !== 'number') throw new TypeError(`lossAndGrad returned success[${i}] = ${show(v)}; it must be 0, 1, true or false`);
    if (v !== true && v !== false && v !== 0 && v !== 1) throw new RangeError(`lossAndGrad returned success[${i}] = ${show(v)}; it must be 0, 1, true or false`);
    out[i] = v ? 1 : 0;
  }
  return out;
}

/** Calls lossAndGrad and checks what it returns, before anything uses it. */
function evaluate(lossAndGrad: LossAndGrad, data: Tensor, x: Tensor, target: unknown, n: number): { losses: Float64Array; grad: ArrayLike<number>; success: Uint8Array | null } {
  if (!(x instanceof Tensor)) throw new TypeError(`perturbationModel.apply(data) must return a Tensor, got ${show(x)}`);
  if (x.numel !== data.numel) throw new RangeError(`perturbationModel.apply(data) returned ${x.numel} elements, the data has ${data.numel}`);
  const r = lossAndGrad(x, target);
  if (typeof r !== 'object' || r === null) throw new TypeError(`lossAndGrad must return { losses, grad, success? }, got ${show(r)}`);
  const losses = checkReturned('losses', r.losses, x, n, (got) => `lossAndGrad returned ${got} losses for a batch of ${n}`);
  const grad = checkReturned('grad', r.grad, x, x.numel, (got) => `lossAndGrad returned a gradient (grad) of length ${got}, x has ${x.numel} elements`);
  return { losses: Float64Array.from(losses), grad, success: checkSuccess(r.success, n) };
}

/**
 * Projected gradient ascent (descent when targeted) on a perturbation of
 * `data`, as rai_toolbox.perturbations.gradient_ascent. See SPEC.md, "Attacks".
 */
export function gradientAscent(options: GradientAscentOptions): GradientAscentResult {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) throw new TypeError(`gradientAscent expects an options object, got ${show(options)}`);
  const {
    lossAndGrad, data, target, optimizer, steps, perturbationModel = AdditivePerturbation, targeted = false, useBest = false,
    reduction = 'sum', dataRange = null, earlyStop = false, onStep, ...optimizerOptions
  } = options;
  if (typeof lossAndGrad !== 'function') throw new TypeError(`lossAndGrad must be a function, got ${show(lossAndGrad)}`);
  if (!(data instanceof Tensor)) throw new TypeError(`data must be a Tensor of shape [N, ...], got ${show(data)}`);
  if (data.ndim < 1) throw new RangeError(`data must be a Tensor of shape [N, ...], got one of shape []`);
  checkInteger('steps', steps, 0);
  for (const [k, v] of Object.entries({ targeted, useBest, earlyStop })) {
    if (typeof v !== 'boolean') throw new TypeError(`${k} must be a boolean, got ${show(v)}`);
  }
  if (reduction !== 'sum' && reduction !== 'mean') {
    const Err = typeof reduction === 'string' ? RangeError : TypeError;
    throw new Err(`reduction must be 'sum' or 'mean', got ${show(reduction)}`);
  }
  if (onStep !== undefined && typeof onStep !== 'function') throw new TypeError(`onStep must be a function, got ${show(onStep)}`);
  if (dataRange !== null) {
    if (!Array.isArray(dataRange) || !dataRange.every((v) => typeof v === 'number')) throw new TypeError(`dataRange must be [lo, hi], got ${show(dataRange)}`);
    // NaN bounds would let every value through unclamped.
    if (dataRange.length !== 2 || dataRange.some(Number.isNaN)) throw new RangeError(`dataRange must be [lo, hi], got ${show(dataRange)}`);
    if (dataRange[0] > dataRange[1]) throw new RangeError(`dataRange must have lo <= hi, got ${show(dataRange)}`);
  }

  // The perturbation model: a class or partial is made for this run; an instance is used as it is.
  let pmodel: PerturbationModel;
  const pmodelIsInstance = isPerturbationModel(perturbationModel);
  if (typeof perturbationModel === 'function') pmodel = new perturbationModel(data);
  else if (isPartial(perturbationModel)) pmodel = new (perturbationModel.cls as unknown as PerturbationClass)(data, { ...perturbationModel.options });
  else if (pmodelIsInstance) pmodel = perturbationModel as PerturbationModel;
  else throw new TypeError(`perturbationModel must be a class, a partial or an instance with parameters() and apply(), got ${show(perturbationModel)}`);
  if (!isPerturbationModel(pmodel)) throw new TypeError(`perturbationModel must make an object with parameters() and apply(), got ${show(pmodel)}`);

  let optim: Optimizer;
  if (isOptimizerClass(optimizer)) optim = new optimizer(pmodel.parameters(), optimizerOptions);
  else if (isPartial(optimizer) && isOptimizerClass(optimizer.cls)) optim = new optimizer.cls(pmodel.parameters(), { ...optimizer.options, ...optimizerOptions });
  else if (optimizer instanceof Optimizer) {
    if (!pmodelIsInstance) throw new TypeError('an optimizer instance can only be given together with a perturbation-model instance (as in the reference)');
    // Refused as beside an InnerOpt instance (a RangeError): they would be silently ignored.
    const [extra] = Object.keys(optimizerOptions);
    if (extra !== undefined) {
      throw new RangeError(`gradientAscent: option ${extra} (${show(optimizerOptions[extra])}) is for the optimizer, but optimizer is already an instance; set it on that instance`);
    }
    optim = optimizer;
  } else {
    throw new TypeError(`optimizer must be an optimizer class, a partial or an instance, got ${show(optimizer)}`);
  }

  // An optimizer made here is disposed of when the attack ends: its state
  // (on WebAssembly, in the module's memory) is otherwise freed only after
  // it is collected, between tasks, and a synchronous loop over batches
  // grew that memory by the state of every attack until the loop ended.
  const madeHere = optim !== optimizer;
  try {
    const [delta] = pmodel.parameters();
    if (!(delta instanceof Tensor)) throw new TypeError('the perturbation model must have one Tensor parameter (delta)');
    const n = data.shape[0];
    const perSample = delta.numel === data.numel;
    const broadcast = !perSample;
    if (dataRange && broadcast) throw new RangeError('dataRange needs one perturbation per sample (deltaNdim null); a broadcast perturbation cannot keep every sample in range');
    if (earlyStop && broadcast) throw new RangeError('earlyStop needs one perturbation per sample (deltaNdim null)');
    const sampleSize = n === 0 ? 0 : data.numel / n;
    const sign = targeted ? 1 : -1;
    const scale = reduction === 'mean' ? 1 / n : 1;

    // useBest keeps, per sample, the lowest sign * loss and the point that produced it.
    let bestScore: Float64Array | null = null;
    let bestLoss: Float64Array | null = null;
    let bestX: FloatArray | null = null;
    let bestSuccess: Uint8Array | null = null;
    const keepBest = (x: Tensor, losses: Float64Array, success: Uint8Array | null) => {
      if (!bestScore) {
        bestScore = losses.map((l) => sign * l);
        bestLoss = losses.slice();
        bestX = x.data.slice();
        bestSuccess = success ? success.slice() : null;
        return;
      }
      for (let i = 0; i < n; i++) {
        const score = sign * losses[i];
        if (score < bestScore[i]) {
          bestScore[i] = score;
          bestLoss![i] = losses[i];
          bestX!.set(x.data.subarray(i * sampleSize, (i + 1) * sampleSize), i * sampleSize);
          if (bestSuccess && success) bestSuccess[i] = success[i];
        }
      }
    };

    // dataRange: data + delta clamped into [lo, hi] by moving delta, at the start
    // (an init or a random start may reach outside) and after every step.
    const clampIntoRange = () => {
      if (!dataRange) return;
      const [lo, hi] = dataRange;
      const d = delta.data;
      const x0 = data.data;
      for (let i = 0; i < d.length; i++) {
        const v = x0[i] + d[i];
        if (v < lo) d[i] = lo - x0[i];
        else if (v > hi) d[i] = hi - x0[i];
      }
    };
    clampIntoRange();

    const done = new Uint8Array(n); // earlyStop: samples that have succeeded and are frozen
    const stepsTaken = new Int32Array(n).fill(steps);
    let finalEval: { x: Tensor; losses: Float64Array; success: Uint8Array | null } | null = null;
    for (let k = 0; k < steps; k++) {
      const x = pmodel.apply(data);
      const { losses, grad, success } = evaluate(lossAndGrad, data, x, target, n);
      if (earlyStop) {
        if (!success) throw new TypeError('earlyStop needs lossAndGrad to return success flags');
        for (let i = 0; i < n; i++) {
          if (success[i] && !done[i]) {
            done[i] = 1;
            stepsTaken[i] = k;
          }
        }
        if (done.every((v) => v === 1)) {
          // Every sample has succeeded at x: nothing more to compute.
          finalEval = { x, losses, success };
          break;
        }
      }
      const g = delta.dtype === 'float64' ? new Float64Array(delta.numel) : new Float32Array(delta.numel);
      // sign * grad * scale, as grad * factor: sign is +-1, so both round the same product once.
      const factor = sign * scale;
      if (broadcast) {
        for (let i = 0; i < grad.length; i++) g[i % g.length] += grad[i] * factor;
      } else {
        // 0 + v, as the += into zeros of the broadcast loop (a -0 becomes +0).
        for (let i = 0; i < grad.length; i++) g[i] = 0 + grad[i] * factor;
      }
      if (earlyStop) for (let i = 0; i < n; i++) if (done[i]) g.fill(0, i * sampleSize, (i + 1) * sampleSize);
      const frozen = earlyStop ? delta.data.slice() : null;
      delta.grad = g;
      optim.step();
      if (frozen) {
        for (let i = 0; i < n; i++) if (done[i]) delta.data.set(frozen.subarray(i * sampleSize, (i + 1) * sampleSize), i * sampleSize);
      }
      clampIntoRange();
      if (useBest) keepBest(x, losses, success);
      if (onStep) {
        const meanLoss = losses.reduce((a, b) => a + b, 0) / Math.max(n, 1);
        const rate = earlyStop ? done.reduce((a, b) => a + b, 0) / Math.max(n, 1) : success ? success.reduce((a, b) => a + b, 0) / Math.max(n, 1) : null;
        onStep({ step: k + 1, steps, meanLoss, successRate: rate });
      }
    }
    optim.zeroGrad();
    if (!finalEval) {
      const x = pmodel.apply(data);
      const { losses, success } = evaluate(lossAndGrad, data, x, target, n);
      finalEval = { x, losses, success };
    }
    let { x: xAdv, losses, success } = finalEval;
    if (useBest) {
      keepBest(xAdv, losses, success);
      xAdv = new Tensor(bestX!, [...data.shape]);
      losses = bestLoss!;
      success = bestSuccess;
    }
    const result: GradientAscentResult = {
      xAdv,
      losses: data.dtype === 'float64' ? Float64Array.from(losses) : Float32Array.from(losses),
    };
    if (success) result.success = success;
    if (earlyStop) result.stepsTaken = stepsTaken;
    return result;
  } finally {
    if (madeHere) optim.dispose();
  }
}

export type Solver = (options: GradientAscentOptions) => GradientAscentResult;

/**
 * Runs the solver `repeats` times with the same options and keeps, per
 * sample, the returned point with the highest loss (lowest when targeted).
 */
export function randomRestart(solver: Solver, repeats: number): Solver {
  if (typeof solver !== 'function') throw new TypeError(`randomRestart: solver must be a function, got ${show(solver)}`);
  checkInteger('randomRestart: repeats', repeats, 1);
  return (options) => {
    const targeted = options?.targeted ?? false;
    let best: GradientAscentResult | null = null;
    for (let r = 0; r < repeats; r++) {
      const res = solver(options);
      if (!best) {
        best = { ...res, xAdv: new Tensor(res.xAdv.data.slice(), [...res.xAdv.shape]), losses: res.losses.slice() };
        continue;
      }
      const n = best.losses.length;
      const size = n === 0 ? 0 : best.xAdv.numel / n;
      for (let i = 0; i < n; i++) {
        const better = targeted ? res.losses[i] < best.losses[i] : res.losses[i] > best.losses[i];
        if (!better) continue;
        best.losses[i] = res.losses[i];
        best.xAdv.data.set(res.xAdv.data.subarray(i * size, (i + 1) * size), i * size);
        if (best.success && res.success) best.success[i] = res.success[i];
        if (best.stepsTaken && res.stepsTaken) best.stepsTaken[i] = res.stepsTaken[i];
      }
    }
    return best!;
  };
}
