// SPDX-License-Identifier: MIT
// rai_toolbox.optim.frank_wolfe: the Frank-Wolfe update as an inner optimizer,
// and the L1, L2, L-inf and L1q Frank-Wolfe optimizers that pair it with the
// linear minimisation oracle (LMO) of their ball.
import { checkBoolean, checkNumber, show } from '../errors';
import { InnerKind, InnerSpec } from '../backend/groupStep';
import { Generator } from '../random';
import { Tensor } from '../tensor';
import { L1qNormedGradientOptim } from './chained';
import { FLOAT32_TINY, L2NormedGradientOptim, SignedGradientOptim } from './lpSpace';
import {
  INTERNAL, checkOptionsObject, InternalOptions, Optimizer, ParamGroup, ParamState, Params, REQUIRED, TensorStepState, optionsWithDefaults, stepsWithKernelsOnly,
} from './optimizer';
import { ParamTransformingOptimizer } from './paramTransforming';
import { rowsAndCols } from './rows';

export interface FrankWolfeOptions {
  lr?: number;
  lmoScalingFactor?: number;
  useDefaultLrSchedule?: boolean;
  divByZeroEps?: number;
}

/**
 * p = (1 - alpha) p + alpha * lmoScalingFactor * (-g), with alpha = lr / max(divByZeroEps, lr + t)
 * (t = 0, 1, ... per parameter) by default, or alpha = lr (then lr must be in [0, 1]).
 */
export class FrankWolfe extends Optimizer {
  static readonly optionDefaults: Record<string, unknown> = { lr: 2, lmoScalingFactor: 1 };
  static readonly instanceOptionDefaults: Record<string, unknown> = { useDefaultLrSchedule: true, divByZeroEps: FLOAT32_TINY };
  readonly useDefaultLrSchedule: boolean;
  readonly divByZeroEps: number;

  constructor(params: Params, options: FrankWolfeOptions & { [INTERNAL]?: InternalOptions } = {}) {
    checkOptionsObject('FrankWolfe', options);
    const { useDefaultLrSchedule = true, divByZeroEps = FLOAT32_TINY, ...rest } = options;
    checkBoolean('useDefaultLrSchedule', useDefaultLrSchedule);
    checkNumber('divByZeroEps', divByZeroEps, { min: 0 });
    super(params, optionsWithDefaults('FrankWolfe', FrankWolfe.optionDefaults, rest), options[INTERNAL]);
    this.useDefaultLrSchedule = useDefaultLrSchedule;
    this.divByZeroEps = divByZeroEps;
    // The groups were checked before the schedule was known: check lr's range again.
    this.paramGroups.forEach((g, i) => this.checkOptions(g, `param group ${i}`));
  }

  override checkOptions(g: Record<string, unknown>, where: string): void {
    super.checkOptions(g, where);
    if ('lr' in g) {
      checkNumber(`lr (${where})`, g.lr, { min: 0 });
      if (this.useDefaultLrSchedule === false && (g.lr as number) > 1) {
        throw new RangeError(`lr (${where}) must be in [0, 1] when useDefaultLrSchedule is false, got ${show(g.lr)}`);
      }
      // The first step's lr / max(divByZeroEps, lr + 0) would be 0 / 0 (the reference raises ZeroDivisionError).
      if (this.useDefaultLrSchedule === true && g.lr === 0 && this.divByZeroEps === 0) {
        throw new RangeError(`lr (${where}) must be > 0 when divByZeroEps is 0 and useDefaultLrSchedule is true (the first step would divide 0 by 0), got 0`);
      }
    }
    if ('lmoScalingFactor' in g) checkNumber(`lmoScalingFactor (${where})`, g.lmoScalingFactor);
  }

  override checkStateEntry(p: Tensor, entry: Record<string, unknown>, where: string): void {
    Optimizer.checkStateLayout('FrankWolfe', p, entry, { counters: ['step'] }, where);
  }

  override innerSpec(g: ParamGroup): InnerSpec {
    return { kind: InnerKind.FrankWolfe, options: [g.lmoScalingFactor as number] };
  }

  override prepareTensor(p: Tensor, g: ParamGroup, s: ParamState): TensorStepState {
    const step = (s.step as number | undefined) ?? 0;
    const lr = g.lr as number;
    const alpha = this.useDefaultLrSchedule ? lr / Math.max(this.divByZeroEps, lr + step) : lr;
    s.step = step + 1;
    return { buffers: [null, null, null], s0: alpha, s1: 0 };
  }
}

export interface FrankWolfeFamilyOptions {
  /** The radius of the ball (FrankWolfe's lmoScalingFactor). */
  epsilon?: number;
  lr?: number;
  useDefaultLrSchedule?: boolean;
  paramNdim?: number | null;
  divByZeroEps?: number;
}

const FAMILY_KEYS = ['epsilon', 'lr', 'useDefaultLrSchedule', 'paramNdim', 'divByZeroEps', 'InnerOpt'];

/** The options of a Frank-Wolfe optimizer, turned into its transforming base's options. */
function frankWolfeOptions(cls: string, options: FrankWolfeFamilyOptions, extraKeys: string[] = []): Record<string, unknown> {
  checkOptionsObject(cls, options);
  for (const k of Object.keys(options)) {
    if (!FAMILY_KEYS.includes(k) && !extraKeys.includes(k)) {
      throw new RangeError(`${cls}: unknown option ${k}; it accepts ${[...FAMILY_KEYS, ...extraKeys].join(', ')}`);
    }
  }
  const { epsilon = REQUIRED, lr = 2, useDefaultLrSchedule = true, paramNdim = -1, InnerOpt, ...rest } = options as FrankWolfeFamilyOptions & { InnerOpt?: unknown };
  // The inner optimizer is always FrankWolfe; naming it (as generic code porting from Python may) is allowed.
  if (InnerOpt !== undefined && InnerOpt !== FrankWolfe) {
    throw new RangeError(`${cls}: the inner optimizer is always FrankWolfe, got InnerOpt ${show(InnerOpt)}`);
  }
  if (epsilon === REQUIRED) throw new TypeError(`${cls}: missing required option epsilon`);
  checkNumber('epsilon', epsilon);
  return { ...rest, InnerOpt: FrankWolfe, lmoScalingFactor: epsilon, lr, useDefaultLrSchedule, paramNdim };
}

/**
 * Why a Frank-Wolfe optimizer refuses a group's `epsilon`: rai_toolbox's
 * docstrings say the radius can be set per group, but its constructors turn
 * `epsilon` into the inner FrankWolfe's `lmo_scaling_factor` once, and a
 * group's own `epsilon` is never read (the step keeps the constructor's). A
 * group takes its own radius through `lmoScalingFactor`, which the reference
 * does read; taking `epsilon` would either differ from the reference's
 * results or silently ignore it.
 */
function frankWolfeOptionHint(key: string): string {
  return key === 'epsilon'
    ? ' (a group sets its own radius with lmoScalingFactor: rai_toolbox ignores a group\'s epsilon and steps with the constructor\'s)'
    : '';
}

/**
 * The L1 ball's LMO: in each datum's gradient, the sign of the entry of
 * largest magnitude, all else 0. Unlike the reference, each datum is
 * flattened first, so data of two or more dimensions work (the reference
 * takes its argmax over dimension 1 only and fails or picks wrong entries).
 */
export class L1FrankWolfe extends ParamTransformingOptimizer {
  constructor(params: Params | null, options: FrankWolfeFamilyOptions = {}) {
    super(params, frankWolfeOptions('L1FrankWolfe', options));
  }

  override unknownOptionHint(key: string): string {
    return frankWolfeOptionHint(key);
  }

  protected override preStepTransform(param: Tensor, group: ParamGroup): void {
    void group;
    const [rows, cols] = rowsAndCols(param.shape);
    this.backend.l1LmoRows(param.grad!, rows, cols);
  }
}

/** The L2 ball's LMO: each datum's gradient normalised by its L2 norm. */
export class L2FrankWolfe extends L2NormedGradientOptim {
  constructor(params: Params | null, options: FrankWolfeFamilyOptions = {}) {
    super(params, frankWolfeOptions('L2FrankWolfe', options));
  }

  override unknownOptionHint(key: string): string {
    return frankWolfeOptionHint(key);
  }
}

/** The L-inf ball's LMO: the gradient's sign. */
export class LinfFrankWolfe extends SignedGradientOptim {
  constructor(params: Params | null, options: FrankWolfeFamilyOptions = {}) {
    super(params, frankWolfeOptions('LinfFrankWolfe', options));
  }

  override unknownOptionHint(key: string): string {
    return frankWolfeOptionHint(key);
  }
}

/** The L1q LMO: top-q sparsification, sign and L1 normalisation of each datum's gradient. */
export class L1qFrankWolfe extends L1qNormedGradientOptim {
  constructor(params: Params | null, options: FrankWolfeFamilyOptions & { q?: number; dq?: number; generator?: Generator } = {}) {
    super(params, frankWolfeOptions('L1qFrankWolfe', options, ['q', 'dq', 'generator']));
  }

  override unknownOptionHint(key: string): string {
    return frankWolfeOptionHint(key);
  }
}

// Their steps are backend kernel calls only (stepAsync records them).
stepsWithKernelsOnly(FrankWolfe, L1FrankWolfe, L2FrankWolfe, LinfFrankWolfe, L1qFrankWolfe);
