// SPDX-License-Identifier: MIT
// The rest of the family beyond the golden cases: validation as in the
// reference, the chain's printed form, L1FrankWolfe on multi-dimensional data
// (where the port deliberately differs from the reference), top-q's seeded
// draws, and a user's own transform.
import {
  ChainedParamTransformingOptimizer, ClampedGradientOptimizer, ClampedParameterOptimizer, FrankWolfe, Generator, L1FrankWolfe, L1qFrankWolfe,
  L1NormedGradientOptim, L1qNormedGradientOptim, L2FrankWolfe, L2NormedGradientOptim, LinfFrankWolfe, LinfProjectedOptim, ParamGroup,
  ParamTransformingOptimizer, SGD, SignedGradientOptim, Tensor, TopQGradientOptimizer, backendInfo, partial,
} from '../ts';
import { pythonRound } from '../ts/optim/misc';
import { MaxNormedGradientOptim } from '../examples/maxNormedGradient';
import { expectClose, expectSameBits } from './helpers';

const where = `${backendInfo().backend} (${backendInfo().isa})`;
const t = (data: number[], shape?: number[]) => new Tensor(Float32Array.from(data), shape);

describe(`the optimizer family on ${where}`, () => {
  test("the reference's defaults: paramNdim null for sign and clamps, -1 elsewhere", () => {
    expect(new SignedGradientOptim([t([1])], { lr: 1 }).paramGroups[0].paramNdim).toBeNull();
    expect(new LinfProjectedOptim([t([1])], { lr: 1, epsilon: 1 }).paramGroups[0].paramNdim).toBeNull();
    expect(new ClampedGradientOptimizer([t([1])], { lr: 1, clampMax: 1 }).paramGroups[0]).toMatchObject({ paramNdim: null, clampMin: null, clampMax: 1 });
    expect(new TopQGradientOptimizer([t([1])], { lr: 1, q: 0.5 }).paramGroups[0]).toMatchObject({ paramNdim: -1, q: 0.5, dq: 0 });
    expect(new L2FrankWolfe([t([1])], { epsilon: 2 }).paramGroups[0]).toMatchObject({ lr: 2, lmoScalingFactor: 2, paramNdim: -1 });
  });

  test('validation as in the reference', () => {
    expect(() => new TopQGradientOptimizer([t([1])], { lr: 1, q: 1.5 })).toThrow(/q .*\[0, 1\].*1\.5/);
    expect(() => new TopQGradientOptimizer([t([1])], { lr: 1, q: -0.1 })).toThrow(RangeError);
    expect(() => new TopQGradientOptimizer([t([1])], { lr: 1 })).toThrow(/missing required option q/);
    expect(() => new TopQGradientOptimizer([t([1])], { lr: 1, q: 0.5, dq: 2 })).toThrow(/dq/);
    expect(() => new TopQGradientOptimizer([t([1])], { lr: 1, q: 0.5, generator: 42 })).toThrow(TypeError);
    expect(() => new ClampedGradientOptimizer([t([1])], { lr: 1 })).toThrow(/clampMin or clampMax must be given/);
    expect(() => new ClampedParameterOptimizer([t([1])], { lr: 1, clampMin: 2, clampMax: 1 })).toThrow(/clampMin .* <= clampMax/);
    expect(() => new ClampedParameterOptimizer([t([1])], { lr: 1, clampMin: '0' })).toThrow(TypeError);
    expect(() => new L1FrankWolfe([t([1])], { epsilon: 1, lr: 1.5, useDefaultLrSchedule: false })).toThrow(/lr .*\[0, 1\] when useDefaultLrSchedule is false/);
    expect(() => new FrankWolfe([t([1])], { lr: 1.5, useDefaultLrSchedule: false })).toThrow(RangeError);
    expect(new FrankWolfe([t([1])], { lr: 1.5 }).paramGroups[0].lr).toBe(1.5); // the default schedule allows lr > 1
    expect(() => new L2FrankWolfe([t([1])], { lr: 0.5 })).toThrow(/missing required option epsilon/);
    expect(() => new LinfFrankWolfe([t([1])], { epsilon: 1, InnerOpt: SGD } as never)).toThrow(/inner optimizer is always FrankWolfe/);
    expect(new LinfFrankWolfe([t([1])], { epsilon: 1, InnerOpt: FrankWolfe } as never).innerOpt).toBeInstanceOf(FrankWolfe);
    expect(() => new LinfProjectedOptim([t([1])], { lr: 1, epsilon: -1 })).toThrow(RangeError);
  });

  // rai_toolbox accepts a Frank-Wolfe group's epsilon and never reads it (the step keeps the
  // constructor's radius); its lmo_scaling_factor is what a group's radius is. Checked against
  // the reference: L2FrankWolfe, epsilon 0.5, lr 1 without the schedule, gradients of ones,
  // a second group with lmo_scaling_factor 5 steps [1, 2, 3] to -5 / sqrt(3) = -2.8868 each.
  test("a Frank-Wolfe group's radius is its lmoScalingFactor; a group's epsilon is refused, saying so", () => {
    for (const make of [
      (groups: ParamGroup[]) => new L1FrankWolfe(groups, { epsilon: 0.5 }),
      (groups: ParamGroup[]) => new L2FrankWolfe(groups, { epsilon: 0.5 }),
      (groups: ParamGroup[]) => new LinfFrankWolfe(groups, { epsilon: 0.5 }),
      (groups: ParamGroup[]) => new L1qFrankWolfe(groups, { epsilon: 0.5, q: 0.5 }),
    ]) {
      expect(() => make([{ params: [t([1, 2])] }, { params: [t([3])], epsilon: 5 }])).toThrow(/param group 1: unknown option epsilon \(5\).*lmoScalingFactor: rai_toolbox ignores a group's epsilon/);
      const opt = make([{ params: [t([1, 2])] }]);
      expect(() => opt.addParamGroup({ params: [t([3])], epsilon: 5 })).toThrow(/unknown option epsilon.*rai_toolbox ignores/);
      expect(opt.paramGroups).toHaveLength(1);
    }
    const a = t([1, 2, 3], [1, 3]);
    const b = t([1, 2, 3], [1, 3]);
    const opt = new L2FrankWolfe([{ params: [a] }, { params: [b], lmoScalingFactor: 5 }], { epsilon: 0.5, lr: 1, useDefaultLrSchedule: false });
    a.grad = Float32Array.from([1, 1, 1]);
    b.grad = Float32Array.from([1, 1, 1]);
    opt.step();
    for (const v of a.data) expect(v).toBeCloseTo(-0.5 / Math.sqrt(3), 6);
    for (const v of b.data) expect(v).toBeCloseTo(-5 / Math.sqrt(3), 5);
  });

  test("the chain applies its links left to right and prints like the reference's repr", () => {
    const x = t([0.5, -3, 2, 1], [1, 4]);
    const opt = new ChainedParamTransformingOptimizer([x], {
      chain: [partial(TopQGradientOptimizer, { q: 0.5 }), partial(ClampedGradientOptimizer, { clampMax: 2.8 })],
      InnerOpt: SGD,
      lr: 1,
    });
    x.grad = Float32Array.from([0.5, -3, 4, 1]);
    opt.step();
    // top-q keeps the 2 largest magnitudes (-3, 4), then the clamp caps 4 at 2.8.
    expectClose(x.grad!, [0, -3, 2.8, 0], 1e-7, 0, 'chained gradient');
    expect(opt.paramGroups[0]).toMatchObject({ q: 0.5, clampMax: 2.8, clampMin: null, paramNdim: -1 });
    expect(opt.toString().split('\n')[0]).toBe('ClampedGradientOptimizer ○ TopQGradientOptimizer [SGD](');
    expect(String(new L1qNormedGradientOptim([t([1, 2])], { q: 0.3, lr: 1 })).split('\n')[0]).toBe(
      'L1NormedGradientOptim ○ SignedGradientOptim ○ TopQGradientOptimizer [SGD](',
    );
    expect(() => new ChainedParamTransformingOptimizer([t([1])], { chain: [SGD as never], lr: 1 })).toThrow(/chain\[0\] must be a ParamTransformingOptimizer/);
    expect(() => new ChainedParamTransformingOptimizer([t([1])], { chain: [partial(SGD, {}) as never], lr: 1 })).toThrow(TypeError);
  });

  test("a chain link's options may be set per group and in defaults, as in the reference (values recorded from rai_toolbox)", () => {
    // L1qNormedGradientOptim([{'params': [a], 'q': 0.2}, {'params': [b]}], q=0.6, lr=1.0, param_ndim=None)
    const a = t([0, 0, 0, 0, 0]);
    const b = t([0, 0, 0, 0, 0]);
    const l1q = new L1qNormedGradientOptim([{ params: [a], q: 0.2 }, { params: [b] }], { q: 0.6, lr: 1, paramNdim: null });
    a.grad = Float32Array.from([1, 2, 3, 4, 5]);
    b.grad = Float32Array.from([1, 2, 3, 4, 5]);
    l1q.step();
    expect(Array.from(a.grad)).toEqual([0, 0.25, 0.25, 0.25, 0.25]);
    expect(Array.from(b.grad)).toEqual([0, 0, 0, 0.5, 0.5]);
    expect(l1q.paramGroups.map((g) => g.q)).toEqual([0.2, 0.6]);
    // ChainedParamTransformingOptimizer(partial(ClampedGradientOptimizer, clamp_max=1.0), params=[{'params': [c], 'clamp_max': 0.1}], lr=1.0)
    const c = t([0, 0, 0]);
    const clamped = new ChainedParamTransformingOptimizer([{ params: [c], clampMax: 0.1 }], { chain: [partial(ClampedGradientOptimizer, { clampMax: 1 })], lr: 1 });
    c.grad = Float32Array.from([5, -5, 0.05]);
    clamped.step();
    expectClose(c.grad, [0.1, -5, 0.05], 1e-7, 0, 'per-group clampMax');
    // ... partial(TopQGradientOptimizer, q=0.7), params=[d], lr=1.0, param_ndim=None, defaults={'q': 0.2}: defaults win over the link's own q.
    const d = t([0, 0, 0, 0, 0]);
    d.grad = Float32Array.from([1, 2, 3, 4, 5]);
    const withDefaults = new ChainedParamTransformingOptimizer([d], { chain: [partial(TopQGradientOptimizer, { q: 0.7 })], lr: 1, paramNdim: null, defaults: { q: 0.2 } });
    withDefaults.step();
    expect(Array.from(d.grad)).toEqual([0, 2, 3, 4, 5]);
    // A bad per-group value is still an error naming the option and the group; keys no link knows are still refused.
    expect(() => new L1qNormedGradientOptim([{ params: [t([1, 2])], q: 1.5 }], { q: 0.5, lr: 1 })).toThrow(/q .*param group 0.*1\.5|param group 0.*q.*1\.5/);
    expect(() => new L1qNormedGradientOptim([{ params: [t([1, 2])], qq: 0.5 }], { q: 0.5, lr: 1 })).toThrow(/unknown option qq/);
    expect(() => new L1qNormedGradientOptim([t([1, 2])], { q: 0.5, lr: 1, defaults: { clampMax: 1 } })).toThrow(/defaults\.clampMax/);
  });

  test('L1qNormedGradientOptim refuses a chain option (its links are fixed) and names every option it takes', () => {
    // The reference hands an unknown keyword to InnerOpt, which raises; dropping it silently would step without the caller's links.
    const x = t([1, 2, 3]);
    x.grad = Float32Array.from([1, 1, 1]);
    expect(() => new L1qNormedGradientOptim([x], { q: 0.5, lr: 1, chain: [SignedGradientOptim] } as never)).toThrow(/L1qNormedGradientOptim: unknown option chain/);
    const err = (() => { try { new L1qNormedGradientOptim([x], { q: 0.5, lr: 1, foo: 1 } as never); } catch (e) { return e as Error; } return null; })();
    expect(err).toBeInstanceOf(RangeError);
    const accepted = err!.message.replace(/.*it accepts /, '').split(', ');
    expect(accepted).toEqual(expect.arrayContaining(['q', 'dq', 'divByZeroEps', 'generator', 'lr', 'paramNdim', 'InnerOpt']));
    expect(accepted).not.toContain('chain');
    expect(() => new ChainedParamTransformingOptimizer([x], { chain: [SignedGradientOptim], lr: 1, foo: 1 } as never)).toThrow(/unknown option foo .*accepts .*\bchain\b/);
    expect(Array.from(x.grad)).toEqual([1, 1, 1]);
  });

  test('L1FrankWolfe flattens each datum (the reference does not): a hand-computed 2x2x3 case', () => {
    const x = new Tensor(new Float64Array(12), [2, 2, 3]);
    const opt = new L1FrankWolfe([x], { epsilon: 3, lr: 0.5, useDefaultLrSchedule: false });
    // Datum 0's largest magnitude is -7 at flat index 4; datum 1's is 6 at flat index 0 of its 6.
    x.grad = Float64Array.from([1, 2, -3, 0, -7, 5, 6, 0, 0, -1, 2, -5.5]);
    opt.step();
    expect(Array.from(x.grad!)).toEqual([0, 0, -0, 0, -1, 0, 1, 0, 0, -0, 0, -0]);
    // p = (1 - 0.5) * 0 - (0.5 * 3) * lmo
    expect(Array.from(x.data)).toEqual([0, 0, 0, 0, 1.5, 0, -1.5, 0, 0, 0, 0, 0]);
  });

  test("top-q's random q (dq > 0) comes from the generator: the same seed gives the same steps", () => {
    const run = (seed: number) => {
      const x = new Tensor(Float32Array.from({ length: 40 }, (_, i) => i), [2, 20]);
      const opt = new TopQGradientOptimizer([x], { lr: 1, q: 0.5, dq: 0.4, generator: new Generator(seed) });
      const kept: number[] = [];
      for (let k = 0; k < 5; k++) {
        x.grad = Float32Array.from({ length: 40 }, (_, i) => Math.sin(i + k));
        opt.step();
        kept.push(x.grad.filter((v) => v !== 0).length);
      }
      return kept;
    };
    expect(run(7)).toEqual(run(7));
    expect(run(7)).not.toEqual(run(8));
    for (const n of run(7)) expect(n % 2).toBe(0); // both rows keep the same count: one q per parameter per step
  });

  test("L1qNormedGradientOptim's one-kernel transform gives the bits of its three links run one after the other", () => {
    // The links by hand in a plain chain take the unfused path: top-q, sign, L1 normalisation.
    const byLinks = (params: Tensor[], o: { q: number; dq: number; divByZeroEps: number; seed: number }) =>
      new ChainedParamTransformingOptimizer(params, {
        chain: [partial(TopQGradientOptimizer, { q: o.q, dq: o.dq, generator: new Generator(o.seed) }), SignedGradientOptim, partial(L1NormedGradientOptim, { divByZeroEps: o.divByZeroEps })],
        lr: 0.1, momentum: 0.5,
      });
    const fused = (params: Tensor[], o: { q: number; dq: number; divByZeroEps: number; seed: number }) =>
      new L1qNormedGradientOptim(params, { q: o.q, dq: o.dq, generator: new Generator(o.seed), divByZeroEps: o.divByZeroEps, lr: 0.1, momentum: 0.5 });
    const cases: [string, number[], 'float32' | 'float64', number | null, { q: number; dq: number; divByZeroEps: number; seed: number }][] = [
      ['rows of 40000 (the bracketed selection)', [3, 200, 200], 'float32', -1, { q: 0.9, dq: 0, divByZeroEps: 1e-30, seed: 1 }],
      ['rows of 40000, q drawn each step', [2, 40000], 'float64', -1, { q: 0.7, dq: 0.2, divByZeroEps: 1e-30, seed: 2 }],
      ['small rows, some all zero, divByZeroEps 0 (0 / 0)', [6, 5], 'float32', -1, { q: 0.5, dq: 0, divByZeroEps: 0, seed: 3 }],
      ['one row (paramNdim null), a divByZeroEps above the count', [7, 9], 'float32', null, { q: 0.3, dq: 0.1, divByZeroEps: 1000, seed: 4 }],
    ];
    for (const [what, shape, dtype, paramNdim, o] of cases) {
      const n = shape.reduce((a, b) => a * b, 1);
      const array = (f: (i: number) => number) => {
        const x = dtype === 'float64' ? new Float64Array(n) : new Float32Array(n);
        for (let i = 0; i < n; i++) x[i] = f(i);
        return x;
      };
      const make = () => new Tensor(array((i) => Math.sin(i * 0.37)), shape);
      const a = make();
      const b = make();
      const oa = fused([a], o);
      const ob = byLinks([b], o);
      oa.paramGroups[0].paramNdim = paramNdim;
      ob.paramGroups[0].paramNdim = paramNdim;
      for (let step = 0; step < 3; step++) {
        // Every third entry repeats (ties), the second row's first ten entries are 0 and NaN enters at step 2.
        const grad = array((i) => (i % 3 === 0 ? 0.25 : Math.cos(i * 1.3 + step)));
        const cols = n / shape[0];
        grad.fill(0, cols, cols + Math.min(10, cols));
        if (step === 2) grad[1] = NaN;
        a.grad = grad.slice();
        b.grad = grad.slice();
        oa.step();
        ob.step();
        expectSameBits(a.grad!, b.grad!, `${what}: grad at step ${step}`);
        expectSameBits(a.data, b.data, `${what}: param at step ${step}`);
      }
    }
  });

  test('L1qNormedGradientOptim runs its links one by one when one of them was replaced on the instance', () => {
    const a = t([3, -1, 2, 0.5]);
    const opt = new L1qNormedGradientOptim([a], { q: 0.5, lr: 1, paramNdim: null });
    // No sign: top-q then L1 normalisation of the kept values.
    (opt.chain[1] as unknown as { preStepTransform: () => void }).preStepTransform = () => undefined;
    a.grad = Float32Array.from([3, -1, 2, 0.5]);
    opt.step();
    expect(Array.from(a.grad)).toEqual([0.6000000238418579, 0, 0.4000000059604645, 0]);
  });

  test("Python's round for top-q's count: halves to even", () => {
    expect([0.5, 1.5, 2.5, 3.5, 2.4999, 2.5001].map(pythonRound)).toEqual([0, 2, 2, 4, 2, 3]);
  });

  test('a custom transform written in TypeScript (examples/maxNormedGradient.ts) gets rows per paramNdim', () => {
    const x = t([0, 0, 0, 0, 0, 0], [2, 3]);
    const opt = new MaxNormedGradientOptim([x], { lr: 1 });
    x.grad = Float32Array.from([1, -4, 2, 0.5, 0.25, -0.125]);
    opt.step();
    expectClose(x.grad!, [0.25, -1, 0.5, 1, 0.5, -0.25], 1e-7, 0, 'grad divided by each row\'s max');
    expectClose(x.data, [-0.25, 1, -0.5, -1, -0.5, 0.25], 1e-7, 0, 'SGD step');
    const whole = new MaxNormedGradientOptim([t([0, 0, 0, 0], [2, 2])], { lr: 1, paramNdim: null });
    const seen: number[][] = [];
    class Spy extends ParamTransformingOptimizer {
      protected override preStepTransform(param: Tensor): void {
        seen.push([...param.shape]);
      }
    }
    const y = new Tensor(new Float32Array(24), [2, 3, 4]);
    const spy = new Spy([y], { lr: 1, paramNdim: 1 });
    y.grad = new Float32Array(24);
    spy.step();
    expect(seen).toEqual([[6, 4]]);
    expect(whole.paramGroups[0].paramNdim).toBeNull();
  });

  test("a subclass declares its own group options through defaults, as the reference's how-to does", () => {
    // rai_toolbox's custom-optimizer how-to: defaults.setdefault('clamp_min', clamp_min), then super().__init__(..., defaults=defaults).
    class ClampedGrad extends ParamTransformingOptimizer {
      constructor(params: ConstructorParameters<typeof ParamTransformingOptimizer>[0], options: Record<string, unknown> = {}) {
        const { clampMin = null, clampMax = null, defaults = {}, ...rest } = options;
        super(params, { ...rest, defaults: { clampMin, clampMax, ...(defaults as object) } });
      }
      protected override preStepTransform(param: Tensor, group: ParamGroup): void {
        const g = param.grad!;
        for (let i = 0; i < g.length; i++) {
          if (group.clampMin !== null) g[i] = Math.max(g[i], group.clampMin);
          if (group.clampMax !== null) g[i] = Math.min(g[i], group.clampMax);
        }
      }
    }
    const x = t([1, 1, 1]);
    const y = t([1, 1]);
    x.grad = Float32Array.from([-3, 0.5, 3]);
    y.grad = Float32Array.from([-3, 3]);
    const opt = new ClampedGrad([{ params: [x] }, { params: [y], clampMax: 0.25 }], { clampMin: -1, clampMax: 1, lr: 1 });
    expect(opt.paramGroups.map((g) => [g.clampMin, g.clampMax])).toEqual([[-1, 1], [-1, 0.25]]);
    opt.step();
    expect(Array.from(x.grad!)).toEqual([-1, 0.5, 1]);
    expect(Array.from(y.grad!)).toEqual([-1, 0.25]);
    expect(Array.from(x.data)).toEqual([2, 0.5, 0]);
    // A live edit of the subclass's option applies at the next step; a misspelt one is still refused.
    opt.paramGroups[0].clampMin = -0.5;
    x.grad = Float32Array.from([-3, 0.5, 3]);
    opt.step();
    expect(Array.from(x.grad!)).toEqual([-0.5, 0.5, 1]);
    opt.paramGroups[0].clampMni = 1;
    expect(() => opt.step()).toThrow(/param group 0: unknown option clampMni/);
    delete opt.paramGroups[0].clampMni;
    // The defaults win over the constructor's value (setdefault), and a state dict round-trips.
    const z = t([0, 0]);
    expect(new ClampedGrad([z], { clampMin: -1, lr: 1, defaults: { clampMin: -2 } }).paramGroups[0].clampMin).toBe(-2);
    const sd = opt.stateDict();
    expect(sd.paramGroups[1].clampMax).toBe(0.25);
    opt.loadStateDict(sd);
    // lp-optim's own classes still refuse a key no part of them reads.
    expect(() => new L2NormedGradientOptim([z], { lr: 1, defaults: { clampMin: 1 } })).toThrow(/unknown option defaults\.clampMin/);
  });

  test('a transform that replaces the gradient array instead of writing into it is an error', () => {
    class Replacing extends L2NormedGradientOptim {
      protected override preStepTransform(param: Tensor, group: ParamGroup): void {
        void group;
        param.grad = new Float32Array(param.grad!.length);
      }
    }
    const x = t([1, 2]);
    const opt = new Replacing([x], { lr: 1 });
    x.grad = Float32Array.from([1, 1]);
    expect(() => opt.step()).toThrow(/did not modify the gradient in place/);
  });
});
