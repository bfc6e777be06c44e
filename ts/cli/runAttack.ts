// SPDX-License-Identifier: MIT
// The attack loop of `lp-optim attack`: clean predictions, then per eps and per batch gradientAscent (with random restarts), then adversarial predictions.
import type * as tfjs from '@tensorflow/tfjs';
import { AdditivePerturbation } from '../attack/perturbation';
import { GradientAscentOptions, GradientAscentResult, Solver, gradientAscent, randomRestart } from '../attack/gradientAscent';
import { uniformLikeL1NBall_, uniformLikeL2NBall_, uniformLikeLinfNBall_, BallInitOptions } from '../attack/init';
import { tfjsLossAndGrad } from '../attack/tfjs';
import { L2ProjectedOptim, LinfProjectedOptim } from '../optim/lpSpace';
import { OptimizerClass } from '../optim/optimizer';
import { partial } from '../optim/partial';
import { Generator } from '../random';
import { Tensor } from '../tensor';
import { L1_STEP_Q, L1qProjectedOptim } from './l1Projected';
import { AttackConfig, NormName } from './options';
import { ImageSet } from './npy';
import { ProgressReporter } from './progress';
import { Tf, predictClasses } from './tfModel';

/** One sample's outcome at one eps. */
export interface SampleResult {
  index: number;
  label: number;
  /** The class a targeted attack aims for: (label + 1) % classes. */
  target?: number;
  cleanPrediction: number;
  adversarialPrediction: number;
  /** Softmax cross-entropy at the adversarial point, against the label (against the target when targeted). */
  loss: number;
  /** Untargeted: the adversarial prediction differs from the label; targeted: it is the target. */
  success: boolean;
}

/** The outcome of the attack at one eps. */
export interface EpsilonResult {
  eps: number;
  norm: NormName;
  /** The step size used. */
  lr: number;
  cleanAccuracy: number;
  /** Share of samples classified correctly both clean and after the attack. */
  robustAccuracy: number;
  /** Share of samples where the attack succeeded. */
  successRate: number;
  meanLoss: number;
  seconds: number;
  samples: SampleResult[];
}

export interface CleanResult {
  predictions: Int32Array;
  accuracy: number;
  seconds: number;
}

/** The optimizer of each norm and its options at radius eps (see --help). */
function optimizerFor(norm: NormName, eps: number, lr: number): { optimizer: OptimizerClass; options: Record<string, unknown> } {
  switch (norm) {
    case 'l2':
      return { optimizer: L2ProjectedOptim, options: { epsilon: eps, lr } };
    case 'linf':
      // paramNdim null (the class's default): an elementwise clamp to [-eps, eps].
      return { optimizer: LinfProjectedOptim, options: { epsilon: eps, lr } };
    case 'l1':
      // Sparse sign steps on the top 10% of the gradient, then a projection onto the L1 ball. Not L1FrankWolfe:
      // each of its steps moves towards one element, which the data-range clamp soon blocks. On the Fashion-MNIST
      // model (200 samples, eps 10, 10 steps) its perturbations reached a mean L1 of 0.5 and 171 samples stayed
      // correct; these steps use the whole budget and leave 54.
      return { optimizer: L1qProjectedOptim as unknown as OptimizerClass, options: { epsilon: eps, lr, q: L1_STEP_Q } };
  }
}

const BALL_INIT: Record<NormName, (t: Tensor, options: BallInitOptions) => void> = {
  l1: uniformLikeL1NBall_,
  l2: uniformLikeL2NBall_,
  linf: uniformLikeLinfNBall_,
};

/**
 * A random start in the eps-ball of the norm (one ball per sample, elementwise
 * for linf), then pulled into the data range: clamping moves each element
 * towards 0, so the start stays in the ball.
 */
function randomStart(norm: NormName, eps: number, generator: Generator, batch: Tensor, dataRange: [number, number]) {
  return (delta: Tensor) => {
    BALL_INIT[norm](delta, { epsilon: eps, generator });
    const [lo, hi] = dataRange;
    const d = delta.data;
    const x = batch.data;
    for (let i = 0; i < d.length; i++) d[i] = Math.min(hi - x[i], Math.max(lo - x[i], d[i]));
  };
}

/** Predicts every image in batches: the clean accuracy. */
export function evaluateClean(tf: Tf, model: tfjs.LayersModel, images: ImageSet, labels: Int32Array, batchSize: number): CleanResult {
  const started = performance.now();
  const n = images.shape[0];
  const sampleShape = images.shape.slice(1);
  const predictions = new Int32Array(n);
  for (let start = 0; start < n; start += batchSize) {
    const count = Math.min(batchSize, n - start);
    predictions.set(predictClasses(tf, model, images.values, sampleShape, start, count), start);
  }
  let correct = 0;
  for (let i = 0; i < n; i++) if (predictions[i] === labels[i]) correct++;
  return { predictions, accuracy: correct / n, seconds: (performance.now() - started) / 1000 };
}

/** Optimizer steps the whole run takes (the progress total): every restart of every batch at every eps. */
export function totalUnits(config: AttackConfig, samples: number): number {
  return config.epsilons.length * Math.ceil(samples / config.batchSize) * config.restarts * config.steps;
}

/** Runs the attack at every eps of the configuration, one batch at a time. */
export function runAttack(
  tf: Tf,
  model: tfjs.LayersModel,
  config: AttackConfig,
  images: ImageSet,
  labels: Int32Array,
  classes: number,
  clean: CleanResult,
  progress: ProgressReporter,
): EpsilonResult[] {
  const n = images.shape[0];
  const sampleShape = images.shape.slice(1);
  const sampleSize = images.values.length / n;
  const batches = Math.ceil(n / config.batchSize);
  const targets = config.targeted ? labels.map((label) => (label + 1) % classes) : labels;
  const lossAndGrad = tfjsLossAndGrad(tf, model, { targeted: config.targeted });
  const results: EpsilonResult[] = [];
  let unitsDone = 0;

  config.epsilons.forEach((eps, epsIndex) => {
    const started = performance.now();
    const lr = config.lr ?? (2.5 * eps) / config.steps;
    const { optimizer, options: optimizerOptions } = optimizerFor(config.norm, eps, lr);
    // One generator per eps: its random starts do not depend on the other values in --eps.
    const generator = new Generator(config.seed);
    const samples: SampleResult[] = [];
    let robust = 0;

    for (let batchIndex = 0; batchIndex < batches; batchIndex++) {
      const start = batchIndex * config.batchSize;
      const count = Math.min(config.batchSize, n - start);
      const batch = new Tensor(images.values.slice(start * sampleSize, (start + count) * sampleSize), [count, ...sampleShape]);
      const state = { eps, epsIndex, epsCount: config.epsilons.length, batchIndex, batches };

      // Each solver run (one per restart) reports its steps; early stopping may end a run before `steps`.
      let runStart = unitsDone;
      const trackedSolver: Solver = (options) => {
        runStart = unitsDone;
        const result = gradientAscent(options);
        unitsDone = runStart + config.steps;
        progress.update({ ...state, unitsDone });
        return result;
      };
      const solver = config.restarts > 1 ? randomRestart(trackedSolver, config.restarts) : trackedSolver;
      const attackOptions: GradientAscentOptions = {
        lossAndGrad,
        data: batch,
        target: targets.subarray(start, start + count),
        optimizer,
        steps: config.steps,
        targeted: config.targeted,
        dataRange: config.dataRange,
        earlyStop: config.earlyStop,
        onStep: (info) => progress.update({ ...state, unitsDone: runStart + info.step }),
        ...optimizerOptions,
      };
      if (config.restarts > 1) {
        attackOptions.perturbationModel = partial(AdditivePerturbation, { init: randomStart(config.norm, eps, generator, batch, config.dataRange) });
      }
      const result: GradientAscentResult = solver(attackOptions);

      const adversarial = predictClasses(tf, model, result.xAdv.data as Float32Array, sampleShape, 0, count);
      for (let i = 0; i < count; i++) {
        const index = start + i;
        const label = labels[index];
        const success = config.targeted ? adversarial[i] === targets[index] : adversarial[i] !== label;
        if (clean.predictions[index] === label && adversarial[i] === label) robust++;
        samples.push({
          index,
          label,
          ...(config.targeted ? { target: targets[index] } : {}),
          cleanPrediction: clean.predictions[index],
          adversarialPrediction: adversarial[i],
          loss: result.losses[i],
          success,
        });
      }
      progress.batchDone({ ...state, unitsDone, samplesDone: start + count, samples: n, robustSoFar: robust });
    }

    results.push({
      eps,
      norm: config.norm,
      lr,
      cleanAccuracy: clean.accuracy,
      robustAccuracy: robust / n,
      successRate: samples.filter((s) => s.success).length / n,
      meanLoss: samples.reduce((sum, s) => sum + s.loss, 0) / n,
      seconds: (performance.now() - started) / 1000,
      samples,
    });
  });
  return results;
}
