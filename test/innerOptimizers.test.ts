// SPDX-License-Identifier: MIT
// The inner optimizers on their own and inside L2ProjectedOptim: PyTorch's
// defaults, resuming from a state dict equals never stopping (for every
// optimizer), zeroGrad and addParamGroup after steps.
import { Adagrad, Adam, AdamW, L2ProjectedOptim, Optimizer, RMSprop, SGD, Tensor, partial } from '../ts';

type Make = (params: Tensor[]) => Optimizer;

const OPTIMIZERS: [string, Make][] = [
  ['SGD momentum nesterov', (p) => new SGD(p, { lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 0.01 })],
  ['Adam amsgrad', (p) => new Adam(p, { lr: 0.01, amsgrad: true, weightDecay: 0.1 })],
  ['AdamW', (p) => new AdamW(p, { lr: 0.01, betas: [0.8, 0.99] })],
  ['RMSprop centered momentum', (p) => new RMSprop(p, { lr: 0.01, centered: true, momentum: 0.5 })],
  ['Adagrad', (p) => new Adagrad(p, { lr: 0.1, lrDecay: 0.01, initialAccumulatorValue: 0.1 })],
  ['L2ProjectedOptim[Adam]', (p) => new L2ProjectedOptim(p, { InnerOpt: Adam, lr: 0.05, epsilon: 2 })],
  ['L2ProjectedOptim[RMSprop]', (p) => new L2ProjectedOptim(p, { InnerOpt: partial(RMSprop, { momentum: 0.9 }), lr: 0.01, epsilon: 1, paramNdim: null })],
  ['L2ProjectedOptim[Adagrad]', (p) => new L2ProjectedOptim(p, { InnerOpt: Adagrad, lr: 0.1, epsilon: 1.5 })],
];

function makeParams(): Tensor[] {
  return [
    new Tensor(Float32Array.from({ length: 12 }, (_, i) => Math.sin(i) * 2), [3, 4]),
    new Tensor(Float64Array.from({ length: 5 }, (_, i) => Math.cos(i)), [5]),
  ];
}

function gradsAt(k: number, params: Tensor[]) {
  return params.map((p) => {
    const g = p.dtype === 'float64' ? new Float64Array(p.numel) : new Float32Array(p.numel);
    for (let i = 0; i < g.length; i++) g[i] = Math.sin(3 * i + k) + 0.1 * k;
    return g;
  });
}

describe('inner optimizers', () => {
  test("PyTorch's defaults", () => {
    const t = () => [new Tensor([1])];
    expect(new Adam(t()).defaults).toEqual({ lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, amsgrad: false, maximize: false });
    expect(new AdamW(t()).defaults).toMatchObject({ lr: 1e-3, weightDecay: 1e-2 });
    expect(new RMSprop(t()).defaults).toEqual({ lr: 1e-2, alpha: 0.99, eps: 1e-8, weightDecay: 0, momentum: 0, centered: false, maximize: false });
    expect(new Adagrad(t()).defaults).toEqual({ lr: 1e-2, lrDecay: 0, weightDecay: 0, initialAccumulatorValue: 0, eps: 1e-10, maximize: false });
    expect(() => new SGD(t())).toThrow(/missing required option lr/);
  });

  test('Adam on its own matches a hand-computed first step', () => {
    const x = new Tensor(new Float64Array([1, -1]));
    const opt = new Adam([x], { lr: 0.1 });
    x.grad = new Float64Array([0.5, -2]);
    opt.step();
    // First step: m/(1-b1) = g, sqrt(v/(1-b2)) = |g|, so p -= lr * g / (|g| + eps).
    expect(x.data[0]).toBeCloseTo(1 - 0.1 * (0.5 / (0.5 + 1e-8)), 12);
    expect(x.data[1]).toBeCloseTo(-1 + 0.1 * (2 / (2 + 1e-8)), 12);
    expect(opt.state.get(x)).toMatchObject({ step: 1 });
  });

  // torch adds the weight decay term as grad.add(param, alpha=weight_decay):
  // one rounding (an fma) on the CPUs it runs on. Where decay balances the
  // gradient the sum cancels, and a second rounding shows far past float
  // rounding once Adam, RMSprop or Adagrad divide by a square root of the
  // same size (rounded twice, Adam's step lands at -0.24027764797210693).
  // The expected values are torch 1.13's own, to the bit; each case runs as
  // a one-element tensor (stepped in TypeScript) and as 16 (the backend's
  // kernels: vectors and a tail).
  const decayCases: [string, (x: Tensor) => Optimizer, number][] = [
    ['Adam', (x) => new Adam([x], { lr: 0.5, weightDecay: 0.01 }), -0.24066683650016785],
    ['RMSprop', (x) => new RMSprop([x], { lr: 0.01, weightDecay: 0.01 }), -0.14083965122699738],
    ['Adagrad', (x) => new Adagrad([x], { lr: 0.1, weightDecay: 0.01 }), -0.23459027707576752],
  ];
  for (const copies of [1, 19]) {
    test.each(decayCases)(`%s: a gradient its weight decay cancels gives torch's step (${copies} elements)`, (_name, make, want) => {
      const x = new Tensor(new Float32Array(copies).fill(-0.13833078742027283));
      const opt = make(x);
      x.grad = new Float32Array(copies).fill(0.001383310416713357);
      opt.step();
      for (const v of x.data) expect(v).toBe(Math.fround(want));
    });
  }

  test.each(OPTIMIZERS)('%s: resuming from a state dict equals never stopping', (_name, make) => {
    const a = makeParams();
    const optA = make(a);
    for (let k = 0; k < 6; k++) {
      gradsAt(k, a).forEach((g, i) => { a[i].grad = g; });
      optA.step();
    }
    const b = makeParams();
    const optB = make(b);
    for (let k = 0; k < 3; k++) {
      gradsAt(k, b).forEach((g, i) => { b[i].grad = g; });
      optB.step();
    }
    const sd = optB.stateDict();
    const c = makeParams();
    c.forEach((p, i) => p.data.set(b[i].data));
    const optC = make(c);
    optC.loadStateDict(sd);
    expect(optC.stateDict()).toEqual(sd);
    for (let k = 3; k < 6; k++) {
      gradsAt(k, c).forEach((g, i) => { c[i].grad = g; });
      optC.step();
    }
    c.forEach((p, i) => expect(Array.from(p.data)).toEqual(Array.from(a[i].data)));
  });

  test('addParamGroup after steps: the new parameters start with fresh state', () => {
    const [x] = makeParams();
    const opt = new L2ProjectedOptim([x], { InnerOpt: Adam, lr: 0.01, epsilon: 5 });
    x.grad = gradsAt(0, [x])[0];
    opt.step();
    opt.step();
    const y = new Tensor(new Float32Array([1, 2, 3]));
    opt.addParamGroup({ params: [y], lr: 0.1 });
    y.grad = new Float32Array([1, 0, 0]);
    opt.step();
    expect(opt.state.get(x)!.step).toBe(3);
    expect(opt.state.get(y)!.step).toBe(1);
    // A fresh Adam's first step moves by lr exactly (up to eps).
    expect(y.data[0]).toBeCloseTo(0.9, 6);
  });

  test("another optimizer's state dict is refused, naming both, and changes nothing", () => {
    const a = makeParams();
    const adam = new L2ProjectedOptim(a, { InnerOpt: Adam, lr: 0.01, epsilon: 1 });
    const sgd = new L2ProjectedOptim(makeParams(), { lr: 0.01, epsilon: 1 });
    gradsAt(0, a).forEach((g, i) => { a[i].grad = g; });
    adam.step();
    const before = sgd.stateDict();
    expect(adam.stateDict().optimizer).toBe('L2ProjectedOptim[Adam]');
    expect(() => sgd.loadStateDict(adam.stateDict())).toThrow(/from a "L2ProjectedOptim\[Adam\]" optimizer; this one is "L2ProjectedOptim\[SGD\]"/);
    // Without the class name (a hand-made dict), Adam's options are still not SGD's.
    const plain = { ...adam.stateDict() };
    expect(() => sgd.loadStateDict(plain)).toThrow(/option betas/);
    expect(sgd.stateDict()).toEqual(before);
    expect(() => new Adam(makeParams()).loadStateDict(new AdamW(makeParams()).stateDict())).toThrow(/"AdamW" optimizer; this one is "Adam"/);
  });

  test('option errors name the option and the value', () => {
    const t = () => [new Tensor([1])];
    expect(() => new Adam(t(), { betas: [0.9, 1] })).toThrow(/betas\[1\].*\[0, 1\).*1/);
    expect(() => new Adam(t(), { betas: 0.9 as never })).toThrow(TypeError);
    expect(() => new Adam(t(), { eps: -1 })).toThrow(RangeError);
    expect(() => new RMSprop(t(), { alpha: -0.1 })).toThrow(/alpha.*-0\.1/);
    expect(() => new Adagrad(t(), { initialAccumulatorValue: -1 })).toThrow(/initialAccumulatorValue/);
    expect(() => new Adagrad(t(), { lrDecay: 'x' as never })).toThrow(TypeError);
    expect(() => new AdamW(t(), { momentum: 0.9 } as never)).toThrow(/AdamW: unknown option momentum/);
  });
});
