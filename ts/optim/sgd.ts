// SPDX-License-Identifier: MIT
// SGD: torch.optim.SGD (PyTorch 1.13), with momentum, dampening, Nesterov,
// weight decay and maximize.
import { checkBoolean, checkNumber } from '../errors';
import { StateBuffer } from '../backend/types';
import { Tensor } from '../tensor';
import { InnerKind, InnerSpec } from '../backend/groupStep';
import {
  INTERNAL, InternalOptions, Optimizer, ParamGroup, ParamState, Params, REQUIRED, TensorStepState, neighboursOf, optionsWithDefaults,
  stepsWithKernelsOnly,
} from './optimizer';

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
    // null: PyTorch's None, what a step with momentum 0 leaves (the next step with momentum starts from the gradient).
    Optimizer.checkStateLayout('SGD', p, entry, { nullableBuffers: ['momentumBuffer'] }, where);
  }

  override innerSpec(g: ParamGroup): InnerSpec {
    const o = [g.lr, g.momentum, g.dampening, g.weightDecay, g.nesterov ? 1 : 0, g.maximize ? 1 : 0] as number[];
    return { kind: InnerKind.SGD, options: o };
  }

  override prepareTensor(p: Tensor, g: ParamGroup, s: ParamState): TensorStepState {
    let buf = (s.momentumBuffer as StateBuffer | null | undefined) ?? null;
    const bufferInitialized = buf !== null;
    if (g.momentum !== 0 && !buf) buf = this.backend.allocState(p.dtype, p.numel, neighboursOf(p, s));
    // Like torch, a buffer survives steps taken with momentum 0.
    s.momentumBuffer = buf;
    return { buffers: [g.momentum !== 0 ? buf : null, null, null], s0: bufferInitialized ? 1 : 0, s1: 0 };
  }
}

// Their steps are backend kernel calls only (stepAsync records them).
stepsWithKernelsOnly(SGD);
