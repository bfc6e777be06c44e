// SPDX-License-Identifier: MIT
// RMSprop: torch.optim.RMSprop (PyTorch 1.13), centered and momentum forms,
// one fused pass per parameter.
import { checkBoolean, checkNumber } from '../errors';
import { Tensor } from '../tensor';
import { InnerKind, InnerSpec } from '../backend/groupStep';
import {
  INTERNAL, InternalOptions, Optimizer, ParamGroup, ParamState, Params, TensorStepState, optionsWithDefaults, stepsWithKernelsOnly,
} from './optimizer';

export interface RMSpropOptions {
  lr?: number;
  alpha?: number;
  eps?: number;
  weightDecay?: number;
  momentum?: number;
  centered?: boolean;
  maximize?: boolean;
}

export class RMSprop extends Optimizer {
  static readonly optionDefaults: Record<string, unknown> = {
    lr: 1e-2,
    alpha: 0.99,
    eps: 1e-8,
    weightDecay: 0,
    momentum: 0,
    centered: false,
    maximize: false,
  };

  constructor(params: Params, options: RMSpropOptions & { [INTERNAL]?: InternalOptions } = {}) {
    super(params, optionsWithDefaults('RMSprop', RMSprop.optionDefaults, options), options[INTERNAL]);
  }

  override checkOptions(g: Record<string, unknown>, where: string): void {
    super.checkOptions(g, where);
    for (const k of ['lr', 'alpha', 'eps', 'weightDecay', 'momentum']) {
      if (k in g) checkNumber(`${k} (${where})`, g[k], { min: 0 });
    }
    if ('centered' in g) checkBoolean(`centered (${where})`, g.centered);
    if ('maximize' in g) checkBoolean(`maximize (${where})`, g.maximize);
  }

  override checkStateEntry(p: Tensor, entry: Record<string, unknown>, where: string): void {
    // momentumBuffer and gradAvg only once a step ran with momentum > 0 or centered (a later one allocates them, zero-filled).
    Optimizer.checkStateLayout('RMSprop', p, entry, {
      counters: ['step'], buffers: ['squareAvg', 'momentumBuffer', 'gradAvg'], required: ['step', 'squareAvg'],
    }, where);
  }

  override innerSpec(g: ParamGroup): InnerSpec {
    const o = [g.lr, g.alpha, g.eps, g.weightDecay, g.momentum, g.centered ? 1 : 0, g.maximize ? 1 : 0] as number[];
    return { kind: InnerKind.RMSprop, options: o };
  }

  override prepareTensor(p: Tensor, g: ParamGroup, s: ParamState): TensorStepState {
    s.step = ((s.step as number | undefined) ?? 0) + 1;
    const squareAvg = this.bufferOf(p, s, 'squareAvg');
    const gradAvg = g.centered ? this.bufferOf(p, s, 'gradAvg') : null;
    const momentumBuffer = (g.momentum as number) > 0 ? this.bufferOf(p, s, 'momentumBuffer') : null;
    return { buffers: [squareAvg, gradAvg, momentumBuffer], s0: 0, s1: 0 };
  }
}

// Their steps are backend kernel calls only (stepAsync records them).
stepsWithKernelsOnly(RMSprop);
