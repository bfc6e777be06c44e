// SPDX-License-Identifier: MIT
// The fused group step: one backend call per param group that, row by row,
// normalises the gradient, applies gradScale/gradBias, runs the inner
// optimizer's update and projects the parameter, while the row is in cache.
// Its description is a flat Float64Array, the same for the native addon, the
// WebAssembly module and the TypeScript reference (native/kernels/kernels.h).
import { FloatArray } from '../types';
import { KernelBackend, StateBuffer } from './types';

export enum Transform {
  None = 0,
  L2Normalize = 1,
  /** The gradient's sign (SignedGradientOptim). */
  Sign = 2,
}

export enum Projection {
  None = 0,
  L2Renorm = 1,
  /** Each parameter row clamped to [-maxNorm, maxNorm] (LinfProjectedOptim; never after L2Normalize). */
  LinfClamp = 2,
}

export enum InnerKind {
  SGD = 0,
  Adam = 1,
  RMSprop = 2,
  Adagrad = 3,
  FrankWolfe = 4,
}

/** Offsets in the group spec. */
export const SPEC = {
  transform: 0,
  project: 1,
  inner: 2,
  divByZeroEps: 3,
  gradScale: 4,
  applyScale: 5,
  gradBias: 6,
  applyBias: 7,
  maxNorm: 8,
  /** The inner optimizer's options start here (see InnerSpec.options). */
  innerOptions: 9,
} as const;

/** Doubles per tensor in the tensor spec: rows, cols, s0, s1. */
export const TENSOR_SPEC_WIDTH = 4;

/** How an inner optimizer runs inside a group step. */
export interface InnerSpec {
  kind: InnerKind;
  /**
   * In order: SGD lr, momentum, dampening, weightDecay, nesterov, maximize |
   * Adam lr, beta1, beta2, eps, weightDecay, decoupledWeightDecay, amsgrad, maximize |
   * RMSprop lr, alpha, eps, weightDecay, momentum, centered, maximize |
   * Adagrad weightDecay, eps, maximize | FrankWolfe lmoScalingFactor (booleans as 0/1).
   */
  options: number[];
}

/** One tensor of a group step: its arrays and per-tensor scalars. */
export interface GroupTensor {
  p: FloatArray;
  g: FloatArray;
  rows: number;
  cols: number;
  /** The inner optimizer's state, in its kernel's order (null where not needed). */
  buffers: [StateBuffer | null, StateBuffer | null, StateBuffer | null];
  /** SGD: bufferInitialized (0/1); Adam: stepSize; Adagrad: clr; FrankWolfe: alpha. */
  s0: number;
  /** Adam: biasCorrection2Sqrt. */
  s1: number;
  /** Per-row radii (per-sample epsilon), or null for the group's maxNorm. */
  maxNorms: Float64Array | null;
}

export interface GroupTransform {
  transform: Transform;
  project: Projection;
  divByZeroEps: number;
  gradScale: number;
  gradBias: number;
  maxNorm: number;
  /** Per-datum radii (per-sample epsilon), given to every tensor of the group; null for maxNorm. */
  maxNorms: Float64Array | null;
}

/**
 * A group transform, its fields given in order (built field by field: with
 * object spreads, building it took a fifth of the seed example's step).
 */
export function groupTransform(
  transform: Transform, project: Projection, divByZeroEps: number, gradScale: number, gradBias: number,
  maxNorm = 0, maxNorms: Float64Array | null = null,
): GroupTransform {
  return { transform, project, divByZeroEps, gradScale, gradBias, maxNorm, maxNorms };
}

export const NO_TRANSFORM: GroupTransform = groupTransform(Transform.None, Projection.None, 0, 1, 0);

/**
 * The flat group spec, written into `reuse` when it has the right length (a
 * typed-array allocation costs more than a small step itself).
 */
export function groupSpec(t: GroupTransform, inner: InnerSpec, reuse?: Float64Array): Float64Array {
  const length = SPEC.innerOptions + inner.options.length;
  const spec = reuse && reuse.length === length ? reuse : new Float64Array(length);
  spec[SPEC.transform] = t.transform;
  spec[SPEC.project] = t.project;
  spec[SPEC.inner] = inner.kind;
  spec[SPEC.divByZeroEps] = t.divByZeroEps;
  spec[SPEC.gradScale] = t.gradScale;
  spec[SPEC.applyScale] = t.gradScale !== 1 ? 1 : 0;
  spec[SPEC.gradBias] = t.gradBias;
  spec[SPEC.applyBias] = t.gradBias !== 0 ? 1 : 0;
  spec[SPEC.maxNorm] = t.maxNorm;
  // (A loop: TypedArray.prototype.set from a plain array costs more than a small step's kernels.)
  for (let i = 0; i < inner.options.length; i++) spec[SPEC.innerOptions + i] = inner.options[i];
  return spec;
}

/** Each row of p (rows x cols) clamped to [-radius, radius]: its own radius, or maxNorm for all. */
export function clampRows(k: Pick<KernelBackend, 'clampInPlace'>, p: FloatArray, rows: number, cols: number, maxNorms: Float64Array | null, maxNorm: number): void {
  if (!maxNorms) {
    k.clampInPlace(p, -maxNorm, true, maxNorm, true);
    return;
  }
  for (let r = 0; r < rows; r++) k.clampInPlace(p.subarray(r * cols, (r + 1) * cols), -maxNorms[r], true, maxNorms[r], true);
}

/** The flat per-tensor spec, written into `reuse` when it has the right length (as groupSpec). */
export function tensorSpec(tensors: GroupTensor[], reuse?: Float64Array): Float64Array {
  const length = tensors.length * TENSOR_SPEC_WIDTH;
  const out = reuse && reuse.length === length ? reuse : new Float64Array(length);
  let k = 0;
  for (const t of tensors) {
    out[k++] = t.rows;
    out[k++] = t.cols;
    out[k++] = t.s0;
    out[k++] = t.s1;
  }
  return out;
}

/** The kernels a group step is made of. */
export type GroupKernels = Pick<
  KernelBackend,
  | 'normalizeRowsL2' | 'signInPlace' | 'scaleBias' | 'sgdStep' | 'adamStep' | 'rmspropStep' | 'adagradStep' | 'frankWolfeStep'
  | 'renormRowsL2' | 'renormRowsL2PerRow' | 'clampInPlace'
>;

/** A spec's 0/1 as a boolean. */
const flag = (x: number) => x !== 0;

/**
 * A group step as the sequence of kernels it fuses, one pass each: normalise,
 * scale and bias, the inner update, project. With the TypeScript reference
 * kernels it is the oracle (and the path of small steps); with a backend's
 * kernels it is the unfused path the fused kernels are tested against.
 */
export function sequentialGroupStep(k: GroupKernels, spec: Float64Array, tensors: GroupTensor[]): void {
  const o = (i: number) => spec[SPEC.innerOptions + i];
  for (const t of tensors) {
    // Nothing to compute (and a shape such as [2**31, 0] would have the row loops spin).
    if (t.rows === 0 || t.cols === 0) continue;
    const [b0, b1, b2] = t.buffers;
    if (spec[SPEC.transform] === Transform.L2Normalize) k.normalizeRowsL2(t.g, t.rows, t.cols, spec[SPEC.divByZeroEps]);
    if (spec[SPEC.transform] === Transform.Sign) k.signInPlace(t.g);
    if (spec[SPEC.applyScale] || spec[SPEC.applyBias]) {
      k.scaleBias(t.g, spec[SPEC.gradScale], flag(spec[SPEC.applyScale]), spec[SPEC.gradBias], flag(spec[SPEC.applyBias]));
    }
    switch (spec[SPEC.inner]) {
      case InnerKind.SGD:
        k.sgdStep(t.p, t.g, b0, { lr: o(0), momentum: o(1), dampening: o(2), weightDecay: o(3), nesterov: flag(o(4)), maximize: flag(o(5)) }, flag(t.s0));
        break;
      case InnerKind.Adam:
        k.adamStep(t.p, t.g, b0!, b1!, b2, {
          lr: o(0), beta1: o(1), beta2: o(2), eps: o(3), weightDecay: o(4), decoupledWeightDecay: flag(o(5)),
          amsgrad: flag(o(6)), maximize: flag(o(7)), stepSize: t.s0, biasCorrection2Sqrt: t.s1,
        });
        break;
      case InnerKind.RMSprop:
        k.rmspropStep(t.p, t.g, b0!, b1, b2, { lr: o(0), alpha: o(1), eps: o(2), weightDecay: o(3), momentum: o(4), centered: flag(o(5)), maximize: flag(o(6)) });
        break;
      case InnerKind.Adagrad:
        k.adagradStep(t.p, t.g, b0!, { clr: t.s0, weightDecay: o(0), eps: o(1), maximize: flag(o(2)) });
        break;
      case InnerKind.FrankWolfe:
        k.frankWolfeStep(t.p, t.g, t.s0, o(0));
        break;
      default:
        throw new RangeError(`group step: unknown inner optimizer kind ${spec[SPEC.inner]}`);
    }
    if (spec[SPEC.project] === Projection.L2Renorm) {
      if (t.maxNorms) k.renormRowsL2PerRow(t.p, t.rows, t.cols, t.maxNorms);
      else k.renormRowsL2(t.p, t.rows, t.cols, spec[SPEC.maxNorm]);
    }
    if (spec[SPEC.project] === Projection.LinfClamp) clampRows(k, t.p, t.rows, t.cols, t.maxNorms, spec[SPEC.maxNorm]);
  }
}

