// SPDX-License-Identifier: MIT
// Adagrad: torch.optim.Adagrad (PyTorch 1.13), one fused pass per parameter.
// As in torch, every parameter's state (step 0, sum = initialAccumulatorValue)
// exists from construction; parameters added later get theirs at first use.
import { checkBoolean, checkNumber } from '../errors';
import { StateBuffer } from '../backend/types';
import { Tensor } from '../tensor';
import { InnerKind, InnerSpec } from '../backend/groupStep';
import {
  INTERNAL, InternalOptions, Optimizer, ParamGroup, ParamState, Params, TensorStepState, neighboursOf, optionsWithDefaults,
  stepsWithKernelsOnly,
} from './optimizer';

export interface AdagradOptions {
  lr?: number;
  lrDecay?: number;
  weightDecay?: number;
  initialAccumulatorValue?: number;
  eps?: number;
  maximize?: boolean;
}

export class Adagrad extends Optimizer {
  static readonly optionDefaults: Record<string, unknown> = {
    lr: 1e-2,
    lrDecay: 0,
    weightDecay: 0,
    initialAccumulatorValue: 0,
    eps: 1e-10,
    maximize: false,
  };

  constructor(params: Params, options: AdagradOptions & { [INTERNAL]?: InternalOptions } = {}) {
    super(params, optionsWithDefaults('Adagrad', Adagrad.optionDefaults, options), options[INTERNAL]);
    for (const g of this.paramGroups) for (const p of g.params) this.initState(p, this.stateOf(p));
  }

  private initState(p: Tensor, s: ParamState): void {
    if (s.sum) return;
    const sum = this.backend.allocState(p.dtype, p.numel, neighboursOf(p, s));
    // As torch 1.13, which fills every sum in its constructor: the value
    // given to the constructor, not a group's own (that stays in the group
    // and its state dict, and is not read).
    const init = this.defaults.initialAccumulatorValue as number;
    if (init !== 0) sum.write((p.dtype === 'float64' ? new Float64Array(p.numel) : new Float32Array(p.numel)).fill(init));
    s.sum = sum;
    s.step = 0;
  }

  override checkOptions(g: Record<string, unknown>, where: string): void {
    super.checkOptions(g, where);
    for (const k of ['lr', 'lrDecay', 'weightDecay', 'initialAccumulatorValue', 'eps']) {
      if (k in g) checkNumber(`${k} (${where})`, g[k], { min: 0 });
    }
    if ('maximize' in g) checkBoolean(`maximize (${where})`, g.maximize);
  }

  override checkStateEntry(p: Tensor, entry: Record<string, unknown>, where: string): void {
    // A sum without a step would step from NaN; a step without a sum would be reset to 0.
    Optimizer.checkStateLayout('Adagrad', p, entry, { counters: ['step'], buffers: ['sum'], required: ['step', 'sum'] }, where);
  }

  override innerSpec(g: ParamGroup): InnerSpec {
    return { kind: InnerKind.Adagrad, options: [g.weightDecay as number, g.eps as number, g.maximize ? 1 : 0] };
  }

  override prepareTensor(p: Tensor, g: ParamGroup, s: ParamState): TensorStepState {
    this.initState(p, s);
    const step = (s.step as number) + 1;
    s.step = step;
    const clr = (g.lr as number) / (1 + (step - 1) * (g.lrDecay as number));
    return { buffers: [s.sum as StateBuffer, null, null], s0: clr, s1: 0 };
  }
}

// Their steps are backend kernel calls only (stepAsync records them).
stepsWithKernelsOnly(Adagrad);
