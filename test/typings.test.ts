// SPDX-License-Identifier: MIT
// Calls written the way API.md and code ported from Python write them, which
// lp-optim's type declarations must accept: `tsc -p test/tsconfig.json` (run by
// npm test) fails on this file if a declaration grows stricter than the API.
// Each call is also run, and its result checked.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  Adam, AdditivePerturbation, L2ProjectedOptim, SGD, StepLR, Tensor, gradientAscent, load, partial, randomRestart, save,
  setBackend, getBackend,
} from '../ts';

describe('the declarations accept the API as written', () => {
  test("group options read and written as numbers (g.lr *= 0.5), a typed lossAndGrad target, a shared options object", () => {
    const x = new Tensor([0, 0, 0, 0], [2, 2]);
    x.grad = new Float32Array([1, 0, 0, 1]);
    const opt = new L2ProjectedOptim([x], { epsilon: 1, lr: 0.5 });
    for (const g of opt.paramGroups) g.lr *= 0.5;
    const lr: number = opt.paramGroups[0].lr;
    expect(lr).toBe(0.25);
    const loss: number = opt.step(() => 3.5);
    expect(loss * 2).toBe(7);

    const data = new Tensor(new Float32Array(6), [2, 3]);
    // As a port of a Python script writes it: one options object for both calls, the target typed.
    const options = {
      lossAndGrad: (xb: Tensor, target: number[]) => ({
        losses: new Float32Array(target.length).fill(1),
        grad: new Float32Array(xb.numel).fill(1),
      }),
      data,
      target: [0, 1],
      optimizer: L2ProjectedOptim,
      epsilon: 1,
      lr: 0.5,
      steps: 2,
      reduction: 'sum',
      dataRange: [-1, 1],
    };
    const once = gradientAscent(options);
    const best = randomRestart(gradientAscent, 2)(options);
    expect(once.xAdv.shape).toEqual([2, 3]);
    expect(Array.from(best.losses)).toEqual([1, 1]);
  });

  test('a shape taken from another tensor, a backend name in a variable, betas and partial options from variables', () => {
    const a = new Tensor(new Float32Array(6), [2, 3]);
    const b = new Tensor(new Float32Array(6), a.shape);
    const pert = new AdditivePerturbation(a.shape);
    expect(b.shape).toEqual([2, 3]);
    expect(pert.delta.shape).toEqual([2, 3]);
    const name: string = getBackend();
    setBackend(name);
    expect(getBackend()).toBe(name);
    const adamOptions = { lr: 0.01, betas: [0.9, 0.99] };
    const adam = new Adam([b], adamOptions);
    expect(adam.paramGroups[0].betas).toEqual([0.9, 0.99]);
    interface SgdPreset { lr: number; momentum: number }
    const preset: SgdPreset = { lr: 0.1, momentum: 0.9 };
    const opt = new L2ProjectedOptim([a], { epsilon: 1, InnerOpt: partial(SGD, preset) });
    expect(opt.paramGroups[0].momentum).toBe(0.9);
  });

  test('state dicts: buffers and counters read by name, a loaded checkpoint handed to a scheduler', () => {
    const x = new Tensor([1, 2]);
    x.grad = new Float32Array([1, 1]);
    const opt = new Adam([x], { lr: 0.1 });
    const sched = new StepLR(opt, { stepSize: 1, gamma: 0.5 });
    opt.step();
    sched.step();
    const sd = opt.stateDict();
    const steps: number = sd.state[0].step!;
    expect(steps).toBe(1);
    expect(Array.from(sd.state[0].expAvg!)).toHaveLength(2);
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'lp-typings-')), 'sched.safetensors');
    save(sched.stateDict(), file);
    sched.loadStateDict(load(file));
    expect(sched.stateDict().lastEpoch + 1).toBe(2);
    fs.rmSync(path.dirname(file), { recursive: true });
  });
});
