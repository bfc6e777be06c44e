// SPDX-License-Identifier: MIT
// rai_toolbox.optim.misc: clamping the gradient or the parameter, and keeping
// only the largest gradient entries of each datum (top-q sparsification).
import { checkNumber, show } from '../errors';
import { Generator, defaultGenerator } from '../random';
import { Tensor } from '../tensor';
import { ParamGroup, REQUIRED, stepsWithKernelsOnly } from './optimizer';
import { ParamTransformingOptimizer } from './paramTransforming';
import { rowsAndCols } from './rows';

/** clampMin / clampMax: numbers or null, not both null, clampMin <= clampMax. */
abstract class ClampedOptim extends ParamTransformingOptimizer {
  static override readonly optionDefaults: Record<string, unknown> = {
    ...ParamTransformingOptimizer.optionDefaults,
    paramNdim: null,
    clampMin: null,
    clampMax: null,
  };

  override checkOptions(g: Record<string, unknown>, where: string): void {
    super.checkOptions(g, where);
    for (const k of ['clampMin', 'clampMax']) {
      if (k in g && g[k] !== null) checkNumber(`${k} (${where})`, g[k], { finite: false });
    }
    if ('clampMin' in g && 'clampMax' in g) {
      if (g.clampMin === null && g.clampMax === null) throw new RangeError(`${this.constructor.name} (${where}): clampMin or clampMax must be given (both are null)`);
      if (g.clampMin !== null && g.clampMax !== null && (g.clampMin as number) > (g.clampMax as number)) {
        throw new RangeError(`clampMin (${where}) must be <= clampMax, got clampMin ${show(g.clampMin)} and clampMax ${show(g.clampMax)}`);
      }
    }
  }

  protected clamp(x: Float32Array | Float64Array, g: ParamGroup): void {
    const lo = g.clampMin as number | null;
    const hi = g.clampMax as number | null;
    this.backend.clampInPlace(x, lo ?? 0, lo !== null, hi ?? 0, hi !== null);
  }
}

/** Clamps each gradient element to [clampMin, clampMax] before the inner step. */
export class ClampedGradientOptimizer extends ClampedOptim {
  protected override preStepTransform(param: Tensor, group: ParamGroup): void {
    this.clamp(param.grad!, group);
  }
}

/** Clamps each parameter element to [clampMin, clampMax] after the inner step. */
export class ClampedParameterOptimizer extends ClampedOptim {
  protected override postStepTransform(param: Tensor, group: ParamGroup): void {
    this.clamp(param.data, group);
  }
}

/** Python's round(): halves go to the even integer (round(0.5) = 0, round(2.5) = 2). */
export function pythonRound(x: number): number {
  const f = Math.floor(x);
  const diff = x - f;
  if (diff > 0.5) return f + 1;
  if (diff < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/**
 * Keeps, in each datum's gradient, the round((1 - q) * D) entries of largest
 * magnitude and zeroes the rest. With dq > 0, q is drawn each time from
 * U[max(0, q - dq), min(1, q + dq)] with the `generator` option.
 */
export class TopQGradientOptimizer extends ParamTransformingOptimizer {
  static override readonly optionDefaults: Record<string, unknown> = { ...ParamTransformingOptimizer.optionDefaults, q: REQUIRED, dq: 0 };
  static override readonly instanceOptionDefaults: Record<string, unknown> = { generator: defaultGenerator };

  static override checkInstanceOptions(o: Record<string, unknown>): void {
    if (!(o.generator instanceof Generator)) throw new TypeError(`generator must be an lp-optim Generator, got ${show(o.generator)}`);
  }

  override checkOptions(g: Record<string, unknown>, where: string): void {
    super.checkOptions(g, where);
    for (const k of ['q', 'dq']) {
      if (k in g) {
        checkNumber(`${k} (${where})`, g[k], { min: 0 });
        if ((g[k] as number) > 1) throw new RangeError(`${k} (${where}) must be in [0, 1], got ${g[k]}`);
      }
    }
  }

  protected override preStepTransform(param: Tensor, group: ParamGroup): void {
    const [rows, cols] = rowsAndCols(param.shape);
    this.backend.topQRows(param.grad!, rows, cols, this.keepFor(group, cols));
  }

  /**
   * @internal How many entries of a row of `cols` stay this step: with dq,
   * q is drawn from the generator (one draw per tensor and step).
   */
  keepFor(group: ParamGroup, cols: number): number {
    let q = group.q as number;
    const dq = group.dq as number;
    if (dq > 0) {
      const low = Math.max(0, q - dq);
      const high = Math.min(1, q + dq);
      if (low < q || high > q) q = (high - low) * (this.instanceOptions.generator as Generator).uniform() + low;
    }
    return pythonRound((1 - q) * cols);
  }
}

// Their steps are backend kernel calls only (stepAsync records them).
stepsWithKernelsOnly(ClampedOptim, ClampedGradientOptimizer, ClampedParameterOptimizer, TopQGradientOptimizer);
