// SPDX-License-Identifier: MIT
// stepAsync() records a step's kernel calls and runs them later (native), so
// a step that read an array it had just written, while recording, would go
// wrong there and nowhere else. Random configurations of every optimizer
// class (inner optimizers, chains, per-group options, float64, tensors
// without gradients, paramNdim) each take a few steps with step() and with
// stepAsync() on twin tensors: the parameters, the gradients and the state
// must come out with the same bits.
import * as lp from '../ts';
import { Optimizer, Tensor, backendInfo } from '../ts';
import { expectSameBits } from './helpers';

/** A fixed-seed generator, so a failing configuration can be rerun by its number. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

type Make = (params: Tensor[]) => Optimizer;

/** Configuration `n`: a description, the optimizer (made twice, identically), the tensors' shapes and dtype. */
function configuration(n: number) {
  const rand = rng(1000 + n);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
  const inners: [string, Record<string, unknown>][] = [
    ['SGD', { momentum: pick([0, 0.9]), weightDecay: pick([0, 0.01]) }],
    ['Adam', { amsgrad: rand() < 0.3, weightDecay: pick([0, 0.01]) }],
    ['AdamW', {}],
    ['RMSprop', { centered: rand() < 0.5, momentum: pick([0, 0.5]) }],
    ['Adagrad', {}],
  ];
  const [innerName, innerOptions] = pick(inners);
  const InnerOpt = (lp as unknown as Record<string, unknown>)[innerName];
  const paramNdim = pick([-1, null]);
  const lr = pick([0.01, 0.1]);
  const kinds: [string, () => Record<string, unknown>][] = [
    ['L2ProjectedOptim', () => ({ epsilon: pick([0.5, 2]) })],
    ['L2NormedGradientOptim', () => ({})],
    ['L1NormedGradientOptim', () => ({})],
    ['SignedGradientOptim', () => ({})],
    ['LinfProjectedOptim', () => ({ epsilon: pick([0.1, 1]) })],
    ['L1qNormedGradientOptim', () => ({ q: pick([0.1, 0.5, 0.9]), dq: pick([0, 0.1]), generator: new lp.Generator(7) })],
    ['TopQGradientOptimizer', () => ({ q: pick([0.3, 0.8]), dq: pick([0, 0.2]), generator: new lp.Generator(9) })],
    ['ClampedGradientOptimizer', () => ({ clampMin: -0.3, clampMax: pick([0.3, null]) })],
    ['ClampedParameterOptimizer', () => ({ clampMin: pick([-0.5, null]), clampMax: 0.5 })],
    ['L1FrankWolfe', () => ({ epsilon: 2 })],
    ['L2FrankWolfe', () => ({ epsilon: 2 })],
    ['LinfFrankWolfe', () => ({ epsilon: 2 })],
    ['L1qFrankWolfe', () => ({ epsilon: 2, q: 0.5, generator: new lp.Generator(3) })],
    ['chain', () => ({})],
  ];
  const [kind, extra] = pick(kinds);
  const options = extra(); // drawn once: both optimizers get the same values (a Generator each, same seed)
  const frankWolfe = kind.endsWith('FrankWolfe');
  const dtype = rand() < 0.25 ? 'float64' : 'float32';
  const shapes = Array.from({ length: 1 + Math.floor(rand() * 3) }, () => pick([[3], [17], [4, 5], [8, 33], [2, 3, 40], [64, 600], [300, 7]]));
  const withGrad = shapes.map(() => rand() < 0.85);
  const twoGroups = shapes.length > 1 && rand() < 0.3;
  const make: Make = (params) => {
    const reseeded = Object.fromEntries(
      Object.entries(options).map(([k, v]) => [k, v instanceof lp.Generator ? new lp.Generator(11) : v]),
    );
    const groups = twoGroups ? [{ params: params.slice(0, 1) }, { params: params.slice(1), lr: lr / 2 }] : params;
    if (kind === 'chain') {
      return new lp.ChainedParamTransformingOptimizer(groups as never, {
        chain: [lp.partial(lp.ClampedGradientOptimizer, { clampMin: -0.2, clampMax: 0.2 }), lp.SignedGradientOptim, lp.partial(lp.L2ProjectedOptim, { epsilon: 1 })],
        InnerOpt: InnerOpt as never, lr, paramNdim, ...innerOptions,
      });
    }
    const Cls = (lp as unknown as Record<string, new (p: unknown, o: unknown) => Optimizer>)[kind];
    return new Cls(groups, frankWolfe ? { paramNdim, ...reseeded } : { InnerOpt, lr, paramNdim, ...innerOptions, ...reseeded });
  };
  const name = `#${n} ${kind}${frankWolfe ? '' : `[${innerName}]`} ${dtype} shapes ${JSON.stringify(shapes)} paramNdim ${paramNdim}${twoGroups ? ', two groups' : ''}`;
  const values = shapes.map((s) => {
    const size = s.reduce((a, b) => a * b, 1);
    return {
      data: Array.from({ length: size }, () => rand() - 0.5),
      grad: Array.from({ length: size }, () => (rand() < 0.1 ? 0 : rand() - 0.5)),
    };
  });
  return { name, make, shapes, dtype, withGrad, values, steps: 1 + Math.floor(rand() * 3) };
}

const CONFIGURATIONS = Array.from({ length: 60 }, (_, n) => configuration(n));

describe(`stepAsync() equals step() on random configurations, ${backendInfo().backend} (${backendInfo().isa})`, () => {
  test.each(CONFIGURATIONS.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const Arr = c.dtype === 'float64' ? Float64Array : Float32Array;
    const build = () => c.shapes.map((s, i) => new Tensor(Arr.from(c.values[i].data), s));
    const sync = build();
    const async = build();
    const syncOpt = c.make(sync);
    const asyncOpt = c.make(async);
    for (let k = 0; k < c.steps; k++) {
      sync.forEach((t, i) => { t.grad = c.withGrad[i] ? Arr.from(c.values[i].grad) : null; });
      async.forEach((t, i) => { t.grad = c.withGrad[i] ? Arr.from(c.values[i].grad) : null; });
      syncOpt.step();
      await asyncOpt.stepAsync();
    }
    sync.forEach((t, i) => {
      expectSameBits(async[i].data, t.data, `param ${i}`);
      if (c.withGrad[i]) expectSameBits(async[i].grad!, t.grad!, `grad ${i}`);
    });
    const state = (o: Optimizer) => JSON.stringify(o.stateDict().state, (_k, v) => (ArrayBuffer.isView(v) ? Array.from(v as Float32Array) : v));
    expect(state(asyncOpt)).toBe(state(syncOpt));
  });
});
