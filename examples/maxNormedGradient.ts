// SPDX-License-Identifier: MIT
// A custom transform, as users write them: the reference's documentation
// example of subclassing ParamTransformingOptimizer, a gradient divided by
// its largest magnitude per datum (so each datum's gradient lies in [-1, 1]).
// `param` arrives seen as rows per paramNdim ([N, ...]); write into
// param.grad in place (assigning a new array to param.grad is an error).
import { ParamGroup, ParamTransformingOptimizer, Tensor } from 'lp-optim';

export class MaxNormedGradientOptim extends ParamTransformingOptimizer {
  protected override preStepTransform(param: Tensor, group: ParamGroup): void {
    void group;
    const g = param.grad!;
    const rows = param.shape[0];
    const cols = rows === 0 ? 0 : g.length / rows;
    for (let r = 0; r < rows; r++) {
      let max = 0;
      for (let j = r * cols; j < (r + 1) * cols; j++) max = Math.max(max, Math.abs(g[j]));
      if (max > 0) for (let j = r * cols; j < (r + 1) * cols; j++) g[j] /= max;
    }
  }
}
