// SPDX-License-Identifier: MIT
// The optimizer of `lp-optim attack --norm l1`: rai_toolbox's sparse L1 step (L1qNormedGradientOptim) followed by a projection of each sample onto the L1 ball.
import { L1qNormedGradientOptim, L1qNormedOptions } from '../optim/chained';
import { ParamGroup, Params } from '../optim/optimizer';
import { rowsAndCols } from '../optim/rows';
import { Tensor } from '../tensor';
import { FloatArray } from '../types';

/** The share of gradient elements an L1 step keeps (those of largest magnitude): the top 10%. */
export const L1_STEP_Q = 0.9;

/**
 * Projects `row` in place onto the L1 ball of radius `epsilon` (the closest
 * point in Euclidean distance): soft-thresholding by the theta that makes the
 * L1 norm epsilon, found by sorting the magnitudes (Duchi, Shalev-Shwartz,
 * Singer and Chandra, ICML 2008). Rows already inside are left as they are.
 */
export function projectOntoL1Ball(row: FloatArray, epsilon: number): void {
  let norm = 0;
  for (let i = 0; i < row.length; i++) norm += Math.abs(row[i]);
  if (norm <= epsilon) return;
  const magnitudes = Float64Array.from(row, Math.abs).sort().reverse();
  // theta = (sum of the k largest magnitudes - epsilon) / k for the largest k whose k-th magnitude exceeds it.
  let prefixSum = 0;
  let theta = 0;
  for (let k = 1; k <= magnitudes.length; k++) {
    prefixSum += magnitudes[k - 1];
    const candidate = (prefixSum - epsilon) / k;
    if (magnitudes[k - 1] > candidate) theta = candidate;
    else break;
  }
  for (let i = 0; i < row.length; i++) {
    const shrunk = Math.abs(row[i]) - theta;
    row[i] = shrunk > 0 ? Math.sign(row[i]) * shrunk : 0;
  }
}

export interface L1qProjectedOptions extends L1qNormedOptions {
  /** The radius of each sample's L1 ball. */
  epsilon: number;
}

/**
 * L1qNormedGradientOptim (keep the top-q gradient elements, take their sign,
 * normalise to L1 norm 1, then the SGD step of size lr), then each sample's
 * parameter row is projected onto the L1 ball of radius epsilon: projected
 * gradient ascent for L1 budgets, which the library has no class for.
 */
export class L1qProjectedOptim extends L1qNormedGradientOptim {
  readonly epsilon: number;

  constructor(params: Params | null, options: L1qProjectedOptions) {
    const { epsilon, ...l1qOptions } = options;
    super(params, l1qOptions);
    if (!(typeof epsilon === 'number' && Number.isFinite(epsilon) && epsilon >= 0)) {
      throw new RangeError(`L1qProjectedOptim: epsilon must be a finite number >= 0, got ${String(epsilon)}`);
    }
    this.epsilon = epsilon;
  }

  protected override postStepTransform(param: Tensor, group: ParamGroup): void {
    super.postStepTransform(param, group);
    const [rows, cols] = rowsAndCols(param.shape);
    for (let r = 0; r < rows; r++) projectOntoL1Ball(param.data.subarray(r * cols, (r + 1) * cols), this.epsilon);
  }
}
