// SPDX-License-Identifier: MIT
// Learning-rate schedules: lr per epoch against PyTorch's closed forms, on a
// plain optimizer and on L2ProjectedOptim (whose groups the inner optimizer
// shares), and their state dicts.
import { Adam, CosineAnnealingLR, ExponentialLR, L2ProjectedOptim, LambdaLR, SGD, StepLR, Tensor } from '../ts';

const param = () => new Tensor(new Float32Array([1, 2, 3, 4]), [2, 2]);

function epochs(n: number, sched: { step(): void; getLastLr(): number[] }): number[][] {
  const out = [sched.getLastLr()];
  for (let e = 1; e < n; e++) {
    sched.step();
    out.push(sched.getLastLr());
  }
  return out;
}

describe('learning-rate schedules', () => {
  test('StepLR: lr = base * gamma^floor(epoch / stepSize)', () => {
    const opt = new SGD([{ params: [param()], lr: 0.1 }, { params: [param()], lr: 1 }], { lr: 0.1 });
    const lrs = epochs(12, new StepLR(opt, { stepSize: 3, gamma: 0.5 }));
    lrs.forEach((pair, e) => {
      expect(pair[0]).toBeCloseTo(0.1 * 0.5 ** Math.floor(e / 3), 14);
      expect(pair[1]).toBeCloseTo(1 * 0.5 ** Math.floor(e / 3), 14);
    });
    expect(opt.paramGroups[1].lr).toBe(lrs[11][1]);
  });

  test('ExponentialLR: lr = base * gamma^epoch', () => {
    const opt = new Adam([param()], { lr: 0.01 });
    epochs(10, new ExponentialLR(opt, { gamma: 0.9 })).forEach(([lr], e) => expect(lr).toBeCloseTo(0.01 * 0.9 ** e, 15));
  });

  test('CosineAnnealingLR follows etaMin + (base - etaMin)(1 + cos(pi e / TMax)) / 2, also past TMax', () => {
    const x = param();
    const opt = new L2ProjectedOptim([x], { InnerOpt: Adam, lr: 0.1, epsilon: 1 });
    const sched = new CosineAnnealingLR(opt, { TMax: 10, etaMin: 0.001 });
    epochs(25, sched).forEach(([lr], e) => {
      expect(lr).toBeCloseTo(0.001 + ((0.1 - 0.001) * (1 + Math.cos((Math.PI * e) / 10))) / 2, 12);
    });
    // The shared groups: the inner optimizer steps with the scheduled lr.
    expect(opt.innerOpt.paramGroups[0].lr).toBe(sched.getLastLr()[0]);
  });

  test('LambdaLR: one function per group', () => {
    const opt = new SGD([{ params: [param()] }, { params: [param()], lr: 2 }], { lr: 1 });
    const sched = new LambdaLR(opt, { lrLambda: [(e) => 1 / (e + 1), (e) => 0.5 ** e] });
    epochs(6, sched).forEach(([a, b], e) => {
      expect(a).toBeCloseTo(1 / (e + 1), 15);
      expect(b).toBeCloseTo(2 * 0.5 ** e, 15);
    });
    expect(() => new LambdaLR(opt, { lrLambda: [(e) => e] })).toThrow(/expected 2 lrLambda/);
    expect(() => new LambdaLR(opt, { lrLambda: 3 as never })).toThrow(TypeError);
  });

  test('a scheduler resumed from its state dict continues the same schedule', () => {
    const make = () => {
      const opt = new SGD([param()], { lr: 0.5 });
      return { opt, sched: new CosineAnnealingLR(opt, { TMax: 7 }) };
    };
    const a = make();
    const full = epochs(15, a.sched);
    const b = make();
    epochs(5, b.sched);
    const state = b.sched.stateDict();
    expect(state).toMatchObject({ lastEpoch: 4, TMax: 7, etaMin: 0 });
    const c = make();
    c.opt.loadStateDict(b.opt.stateDict());
    c.sched.loadStateDict(state);
    const rest: number[][] = [];
    for (let e = 5; e < 15; e++) {
      c.sched.step();
      rest.push(c.sched.getLastLr());
    }
    expect(rest).toEqual(full.slice(5));
    expect(() => c.sched.loadStateDict({ TMax: 'x' })).toThrow(TypeError);
    expect(() => c.sched.loadStateDict({ bogus: 1 })).toThrow(RangeError);
  });

  test('bad options are refused', () => {
    const opt = new SGD([param()], { lr: 1 });
    expect(() => new StepLR(opt, { stepSize: 0 })).toThrow(RangeError);
    expect(() => new StepLR(opt, { stepSize: 1.5 })).toThrow(TypeError);
    expect(() => new ExponentialLR(opt, { gamma: 'x' as never })).toThrow(TypeError);
    expect(() => new CosineAnnealingLR(opt, { TMax: 10, etaMin: -1 })).toThrow(RangeError);
    expect(() => new StepLR({} as never, { stepSize: 1 })).toThrow(TypeError);
    expect(() => new StepLR(opt, { stepSize: 1, gammma: 0.1 } as never)).toThrow(/unknown option gammma/);
  });
});
