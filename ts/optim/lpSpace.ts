// SPDX-License-Identifier: MIT
// The Lp-space optimizers of rai_toolbox.optim.lp_space: normalise each
// datum's gradient by its norm, and (for the projected ones) project each
// datum back into an epsilon-ball after the inner step.
import { checkNumber } from '../errors';
import { Tensor } from '../tensor';
import { ParamGroup, REQUIRED } from './optimizer';
import { ParamTransformingOptimizer } from './paramTransforming';
import { rowsAndCols } from './rows';

/** float32's smallest normal number: the reference's default divByZeroEps, also for float64. */
export const FLOAT32_TINY = 1.1754943508222875e-38;

/** g_row /= max(||g_row||_2, divByZeroEps) for each datum. */
export class L2NormedGradientOptim extends ParamTransformingOptimizer {
  static override readonly instanceOptionDefaults: Record<string, unknown> = { divByZeroEps: FLOAT32_TINY };

  static override checkInstanceOptions(o: Record<string, unknown>): void {
    checkNumber('divByZeroEps', o.divByZeroEps, { min: 0 });
  }

  /** The lower bound of the norm that gradients are divided by. */
  get divByZeroEps(): number {
    return this.instanceOptions.divByZeroEps as number;
  }

  protected override preStepTransform(param: Tensor): void {
    const [rows, cols] = rowsAndCols(param);
    this.backend.normalizeRowsL2(param.grad!, rows, cols, this.divByZeroEps);
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
    if ('epsilon' in g) checkNumber(`epsilon (${where})`, g.epsilon, { min: 0 });
  }

  protected override postStepTransform(param: Tensor, group: ParamGroup): void {
    const [rows, cols] = rowsAndCols(param);
    this.backend.renormRowsL2(param.data, rows, cols, group.epsilon as number);
  }
}
