// SPDX-License-Identifier: MIT
// RMSprop: torch.optim.RMSprop (PyTorch 1.13), centered and momentum forms,
// one fused pass per parameter.
import { checkBoolean, checkNumber } from '../errors';
import { Tensor } from '../tensor';
import { FloatArray } from '../types';
import { INTERNAL, InternalOptions, Optimizer, ParamGroup, ParamState, Params, optionsWithDefaults } from './optimizer';

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
    Optimizer.checkStateKeys('RMSprop', entry, ['step', 'squareAvg', 'momentumBuffer', 'gradAvg'], where);
  }

  protected override updateParam(p: Tensor, grad: FloatArray, g: ParamGroup, s: ParamState): void {
    s.step = ((s.step as number | undefined) ?? 0) + 1;
    const momentum = g.momentum as number;
    const centered = g.centered as boolean;
    this.backend.rmspropStep(
      p.data, grad, this.bufferOf(p, s, 'squareAvg'),
      centered ? this.bufferOf(p, s, 'gradAvg') : null,
      momentum > 0 ? this.bufferOf(p, s, 'momentumBuffer') : null,
      {
        lr: g.lr as number,
        alpha: g.alpha as number,
        eps: g.eps as number,
        weightDecay: g.weightDecay as number,
        momentum,
        centered,
        maximize: g.maximize as boolean,
      },
    );
  }
}
