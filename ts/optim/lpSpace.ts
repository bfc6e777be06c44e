// SPDX-License-Identifier: MIT
// The Lp-space optimizers of rai_toolbox.optim.lp_space: normalise each
// datum's gradient by its norm, and (for the projected ones) project each
// datum back into an epsilon-ball after the inner step.
import { checkNumber, show } from '../errors';
import { GroupTransform, Projection, Transform, clampRows, groupTransform } from '../backend/groupStep';
import { Tensor } from '../tensor';
import { ParamGroup, REQUIRED, stepsWithKernelsOnly } from './optimizer';
import { ParamTransformingOptimizer } from './paramTransforming';
import { batchShape, rowsAndCols } from './rows';

/** float32's smallest normal number: the reference's default divByZeroEps, also for float64. */
export const FLOAT32_TINY = 1.1754943508222875e-38;

/** The base of the norm-normalising optimizers: owns divByZeroEps (rai_toolbox's _LpNormOptimizer). */
export abstract class LpNormedGradientOptim extends ParamTransformingOptimizer {
  static override readonly instanceOptionDefaults: Record<string, unknown> = { divByZeroEps: FLOAT32_TINY };

  static override checkInstanceOptions(o: Record<string, unknown>): void {
    checkNumber('divByZeroEps', o.divByZeroEps, { min: 0 });
  }

  /** The lower bound of the norm that gradients are divided by. */
  get divByZeroEps(): number {
    return this.instanceOptions.divByZeroEps as number;
  }
}

/** g_row /= max(||g_row||_1, divByZeroEps) for each datum. */
export class L1NormedGradientOptim extends LpNormedGradientOptim {
  protected override preStepTransform(param: Tensor, group: ParamGroup): void {
    void group;
    const [rows, cols] = rowsAndCols(param.shape);
    this.backend.normalizeRowsL1(param.grad!, rows, cols, this.divByZeroEps);
  }
}

/** g_row /= max(||g_row||_2, divByZeroEps) for each datum. */
export class L2NormedGradientOptim extends LpNormedGradientOptim {
  protected override preStepTransform(param: Tensor, group: ParamGroup): void {
    void group;
    const [rows, cols] = rowsAndCols(param.shape);
    this.backend.normalizeRowsL2(param.grad!, rows, cols, this.divByZeroEps);
  }

  protected override builtinTransform(g: ParamGroup): GroupTransform | null {
    if (!this.transformsAreThoseOf(L2NormedGradientOptim, ParamTransformingOptimizer)) return null;
    return groupTransform(Transform.L2Normalize, Projection.None, this.divByZeroEps, g.gradScale as number, g.gradBias as number);
  }
}

/**
 * L2NormedGradientOptim, then each datum is projected into the L2 ball of
 * radius epsilon (PyTorch's renorm with maxnorm = epsilon).
 */
export class L2ProjectedOptim extends L2NormedGradientOptim {
  static override readonly optionDefaults: Record<string, unknown> = {
    ...ParamTransformingOptimizer.optionDefaults,
    epsilon: REQUIRED,
  };

  override checkOptions(g: Record<string, unknown>, where: string): void {
    super.checkOptions(g, where);
    if ('epsilon' in g) checkRadius(g.epsilon, where);
  }

  override checkParamsAgainstOptions(group: ParamGroup, where: string): void {
    super.checkParamsAgainstOptions(group, where);
    checkRadiusPerDatum(group, where);
  }

  protected override postStepTransform(param: Tensor, group: ParamGroup): void {
    const [rows, cols] = rowsAndCols(param.shape);
    const eps = group.epsilon as number | number[];
    if (Array.isArray(eps)) this.backend.renormRowsL2PerRow(param.data, rows, cols, Float64Array.from(eps));
    else this.backend.renormRowsL2(param.data, rows, cols, eps);
  }

  protected override builtinTransform(g: ParamGroup): GroupTransform | null {
    if (!this.transformsAreThoseOf(L2NormedGradientOptim, L2ProjectedOptim)) return null;
    const { maxNorm, maxNorms } = radiiOf(g);
    return groupTransform(Transform.L2Normalize, Projection.L2Renorm, this.divByZeroEps, g.gradScale as number, g.gradBias as number, maxNorm, maxNorms);
  }
}

/** A group's epsilon as a fused step's radii: one for every row (maxNorm), or one per datum (maxNorms). */
function radiiOf(g: ParamGroup): Pick<GroupTransform, 'maxNorm' | 'maxNorms'> {
  const eps = g.epsilon as number | number[];
  return Array.isArray(eps) ? { maxNorm: 0, maxNorms: Float64Array.from(eps) } : { maxNorm: eps, maxNorms: null };
}

/**
 * epsilon: a radius >= 0, or (per-sample epsilon) an array with one radius
 * per datum under paramNdim. Infinity is allowed, as in the reference: no
 * projection (the unconstrained ball).
 */
function checkRadius(eps: unknown, where: string): void {
  if (Array.isArray(eps)) eps.forEach((e, i) => checkNumber(`epsilon[${i}] (${where})`, e, { min: 0, finite: false }));
  else if (ArrayBuffer.isView(eps)) throw new TypeError(`epsilon (${where}) must be a number or an array of numbers, got ${show(eps)} (use Array.from)`);
  else checkNumber(`epsilon (${where})`, eps, { min: 0, finite: false });
}

/** A per-sample epsilon must have one radius per datum of every parameter of the group. */
function checkRadiusPerDatum(group: ParamGroup, where: string): void {
  const eps = group.epsilon;
  if (!Array.isArray(eps)) return;
  for (const p of group.params) {
    const rows = batchShape(p.shape, group.paramNdim as number | null)[0];
    if (rows !== eps.length) {
      throw new RangeError(
        `epsilon (${where}) has ${eps.length} radii, but a parameter of shape [${p.shape.join(', ')}] has ${rows} data under paramNdim=${group.paramNdim}`,
      );
    }
  }
}

/** The gradient's elementwise sign (1, -1, or 0); paramNdim defaults to null (elementwise anyway). */
export class SignedGradientOptim extends ParamTransformingOptimizer {
  static override readonly optionDefaults: Record<string, unknown> = { ...ParamTransformingOptimizer.optionDefaults, paramNdim: null };

  protected override preStepTransform(param: Tensor, group: ParamGroup): void {
    void group;
    this.backend.signInPlace(param.grad!);
  }

  protected override builtinTransform(g: ParamGroup): GroupTransform | null {
    if (!this.transformsAreThoseOf(SignedGradientOptim, ParamTransformingOptimizer)) return null;
    return groupTransform(Transform.Sign, Projection.None, 0, g.gradScale as number, g.gradBias as number);
  }
}

/** SignedGradientOptim, then each parameter is clamped to [-epsilon, epsilon] (L-inf PGD). */
export class LinfProjectedOptim extends SignedGradientOptim {
  static override readonly optionDefaults: Record<string, unknown> = { ...SignedGradientOptim.optionDefaults, epsilon: REQUIRED };

  override checkOptions(g: Record<string, unknown>, where: string): void {
    super.checkOptions(g, where);
    if ('epsilon' in g) checkRadius(g.epsilon, where);
  }

  override checkParamsAgainstOptions(group: ParamGroup, where: string): void {
    super.checkParamsAgainstOptions(group, where);
    checkRadiusPerDatum(group, where);
  }

  protected override postStepTransform(param: Tensor, group: ParamGroup): void {
    const [rows, cols] = rowsAndCols(param.shape);
    const { maxNorm, maxNorms } = radiiOf(group);
    clampRows(this.backend, param.data, rows, cols, maxNorms, maxNorm);
  }

  protected override builtinTransform(g: ParamGroup): GroupTransform | null {
    if (!this.transformsAreThoseOf(SignedGradientOptim, LinfProjectedOptim)) return null;
    const { maxNorm, maxNorms } = radiiOf(g);
    return groupTransform(Transform.Sign, Projection.LinfClamp, 0, g.gradScale as number, g.gradBias as number, maxNorm, maxNorms);
  }
}

// Their steps are backend kernel calls only (stepAsync records them).
stepsWithKernelsOnly(LpNormedGradientOptim, L1NormedGradientOptim, L2NormedGradientOptim, L2ProjectedOptim, SignedGradientOptim, LinfProjectedOptim);
