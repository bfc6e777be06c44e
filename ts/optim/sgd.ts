// SPDX-License-Identifier: MIT
// SGD: torch.optim.SGD (PyTorch 1.13), with momentum, dampening, Nesterov,
// weight decay and maximize.
import { checkBoolean, checkNumber } from '../errors';
import { StateBuffer } from '../backend/types';
import { Tensor } from '../tensor';
import { FloatArray } from '../types';
import { INTERNAL, InternalOptions, Optimizer, ParamGroup, ParamState, Params, REQUIRED, optionsWithDefaults } from './optimizer';

export interface SGDOptions {
  lr?: number;
  momentum?: number;
  dampening?: number;
  weightDecay?: number;
  nesterov?: boolean;
  maximize?: boolean;
}

export class SGD extends Optimizer {
  static readonly optionDefaults: Record<string, unknown> = {
    lr: REQUIRED,
    momentum: 0,
    dampening: 0,
    weightDecay: 0,
    nesterov: false,
    maximize: false,
  };

  constructor(params: Params, options: SGDOptions & { [INTERNAL]?: InternalOptions } = {}) {
    super(params, optionsWithDefaults('SGD', SGD.optionDefaults, options), options[INTERNAL]);
  }

  override checkOptions(g: Record<string, unknown>, where: string): void {
    super.checkOptions(g, where);
    if ('lr' in g) checkNumber(`lr (${where})`, g.lr, { min: 0 });
    if ('momentum' in g) checkNumber(`momentum (${where})`, g.momentum, { min: 0 });
    if ('dampening' in g) checkNumber(`dampening (${where})`, g.dampening);
    if ('weightDecay' in g) checkNumber(`weightDecay (${where})`, g.weightDecay, { min: 0 });
    if ('nesterov' in g) checkBoolean(`nesterov (${where})`, g.nesterov);
    if ('maximize' in g) checkBoolean(`maximize (${where})`, g.maximize);
    if (g.nesterov === true && (!((g.momentum as number) > 0) || g.dampening !== 0)) {
      throw new RangeError(`nesterov (${where}) requires momentum > 0 and dampening 0, got momentum ${g.momentum} and dampening ${g.dampening}`);
    }
  }

  override checkStateEntry(p: Tensor, entry: Record<string, unknown>, where: string): void {
    Optimizer.checkStateKeys('SGD', entry, ['momentumBuffer'], where);
  }

  protected override updateParam(p: Tensor, grad: FloatArray, g: ParamGroup, s: ParamState): void {
    const o = {
      lr: g.lr as number,
      momentum: g.momentum as number,
      dampening: g.dampening as number,
      weightDecay: g.weightDecay as number,
      nesterov: g.nesterov as boolean,
      maximize: g.maximize as boolean,
    };
    let buf = (s.momentumBuffer as StateBuffer | null | undefined) ?? null;
    const bufferInitialized = buf !== null;
    if (o.momentum !== 0 && !buf) buf = this.backend.allocState(p.dtype, p.numel);
    this.backend.sgdStep(p.data, grad, o.momentum !== 0 ? buf : null, o, bufferInitialized);
    // Like torch, a buffer survives steps taken with momentum 0.
    s.momentumBuffer = buf;
  }
}
