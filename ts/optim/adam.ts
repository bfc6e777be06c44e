// SPDX-License-Identifier: MIT
// Adam and AdamW: torch.optim.Adam / AdamW (PyTorch 1.13), one fused pass per
// parameter. The bias corrections are computed here, once per step, in double.
import { checkBoolean, checkNumber, show } from '../errors';
import { Tensor } from '../tensor';
import { InnerKind, InnerSpec } from '../backend/groupStep';
import {
  INTERNAL, InternalOptions, Optimizer, ParamGroup, ParamState, Params, TensorStepState, optionsWithDefaults, stepsWithKernelsOnly,
} from './optimizer';

export interface AdamOptions {
  lr?: number;
  betas?: readonly [number, number] | readonly number[];
  eps?: number;
  weightDecay?: number;
  amsgrad?: boolean;
  maximize?: boolean;
}

export class Adam extends Optimizer {
  static readonly optionDefaults: Record<string, unknown> = {
    lr: 1e-3,
    betas: [0.9, 0.999],
    eps: 1e-8,
    weightDecay: 0,
    amsgrad: false,
    maximize: false,
  };
  /** AdamW decays the parameter itself instead of adding weightDecay * p to the gradient. */
  protected readonly decoupledWeightDecay: boolean = false;

  constructor(params: Params, options: AdamOptions & { [INTERNAL]?: InternalOptions } = {}) {
    const cls = new.target as typeof Adam;
    super(params, optionsWithDefaults(cls.name, cls.optionDefaults, options), options[INTERNAL]);
  }

  override checkOptions(g: Record<string, unknown>, where: string): void {
    super.checkOptions(g, where);
    if ('lr' in g) checkNumber(`lr (${where})`, g.lr, { min: 0 });
    if ('eps' in g) checkNumber(`eps (${where})`, g.eps, { min: 0 });
    if ('weightDecay' in g) checkNumber(`weightDecay (${where})`, g.weightDecay, { min: 0 });
    if ('amsgrad' in g) checkBoolean(`amsgrad (${where})`, g.amsgrad);
    if ('maximize' in g) checkBoolean(`maximize (${where})`, g.maximize);
    if ('betas' in g) {
      const b = g.betas;
      if (!Array.isArray(b) || b.length !== 2) throw new TypeError(`betas (${where}) must be an array of two numbers, got ${show(b)}`);
      b.forEach((beta, i) => {
        checkNumber(`betas[${i}] (${where})`, beta, { min: 0 });
        if (beta >= 1) throw new RangeError(`betas[${i}] (${where}) must be in [0, 1), got ${beta}`);
      });
    }
  }

  override checkStateEntry(p: Tensor, entry: Record<string, unknown>, where: string): void {
    // maxExpAvgSq only once a step ran with amsgrad (a later one allocates it, zero-filled).
    Optimizer.checkStateLayout(this.constructor.name, p, entry, {
      counters: ['step'], buffers: ['expAvg', 'expAvgSq', 'maxExpAvgSq'], required: ['step', 'expAvg', 'expAvgSq'],
    }, where);
  }

  override innerSpec(g: ParamGroup): InnerSpec {
    const [beta1, beta2] = g.betas as [number, number];
    const flags = [this.decoupledWeightDecay, g.amsgrad, g.maximize].map((b) => (b ? 1 : 0));
    return { kind: InnerKind.Adam, options: [g.lr as number, beta1, beta2, g.eps as number, g.weightDecay as number, ...flags] };
  }

  override prepareTensor(p: Tensor, g: ParamGroup, s: ParamState): TensorStepState {
    const [beta1, beta2] = g.betas as [number, number];
    const step = ((s.step as number | undefined) ?? 0) + 1;
    s.step = step;
    const m = this.bufferOf(p, s, 'expAvg');
    const v = this.bufferOf(p, s, 'expAvgSq');
    const vmax = g.amsgrad ? this.bufferOf(p, s, 'maxExpAvgSq') : null;
    // The bias corrections, once per step, in double (as torch computes them in Python).
    return { buffers: [m, v, vmax], s0: (g.lr as number) / (1 - beta1 ** step), s1: Math.sqrt(1 - beta2 ** step) };
  }
}

/** torch.optim.AdamW: Adam with decoupled weight decay (default 1e-2). */
export class AdamW extends Adam {
  static override readonly optionDefaults: Record<string, unknown> = { ...Adam.optionDefaults, weightDecay: 1e-2 };
  protected override readonly decoupledWeightDecay: boolean = true;
}

// Their steps are backend kernel calls only (stepAsync records them).
stepsWithKernelsOnly(Adam, AdamW);
