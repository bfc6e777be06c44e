// SPDX-License-Identifier: MIT
// The attack solver against the reference's attack cases (attack.json:
// rai_toolbox's gradient_ascent on a linear Fashion-MNIST classifier), then
// each feature beyond the reference: data range, per-sample epsilon, early
// stop, progress, restarts, and uniform ball initialisations.
import * as lp from '../ts';
import {
  AdditivePerturbation, Generator, L2ProjectedOptim, LinfProjectedOptim, SGD, Tensor, backendInfo, gradientAscent, partial,
  randomRestart, uniformLikeL1NBall_, uniformLikeL2NBall_, uniformLikeLinfNBall_,
} from '../ts';
import { attackData, attackFixture, expectAttackCaseMatches, linearLossAndGrad } from './attackModel';

const where = `${backendInfo().backend} (${backendInfo().isa})`;
const { data: fixtureData } = attackFixture;
const N = fixtureData.shape[0];
const D = fixtureData.values.length / N;

const dataTensor = (dtype: 'float32' | 'float64'): Tensor => attackData(attackFixture, dtype);

describe(`attack golden cases on ${where}`, () => {
  for (const c of attackFixture.cases) {
    test(`${c.name} (${c.optimizer}${c.optimizer === 'SGD' ? '' : `[${c.innerOpt}]`}, ${c.dtype})`, () => expectAttackCaseMatches(attackFixture, c));
  }
});

describe(`attack features on ${where}`, () => {
  const base = () => ({
    data: dataTensor('float64'),
    target: fixtureData.labels,
    optimizer: L2ProjectedOptim,
    lr: 0.5,
    epsilon: 2,
    steps: 10,
  });

  test('dataRange: data + delta stays in [lo, hi] after every step, and the Lp bound still holds', () => {
    const seen: number[][] = [];
    const lossAndGrad = linearLossAndGrad(fixtureData.labels, false);
    const checked = (x: Tensor, t: unknown) => {
      seen.push([Math.min(...x.data), Math.max(...x.data)]);
      return lossAndGrad(x, t);
    };
    const r = gradientAscent({ ...base(), lossAndGrad: checked, dataRange: [0, 1] });
    for (const [lo, hi] of seen) {
      expect(lo).toBeGreaterThanOrEqual(0);
      expect(hi).toBeLessThanOrEqual(1);
    }
    const x0 = dataTensor('float64').data;
    for (let i = 0; i < N; i++) {
      let s = 0;
      for (let j = 0; j < D; j++) s += (r.xAdv.data[i * D + j] - x0[i * D + j]) ** 2;
      expect(Math.sqrt(s)).toBeLessThanOrEqual(2 + 1e-9);
    }
    expect(() => gradientAscent({ ...base(), lossAndGrad, dataRange: [1, 0] })).toThrow(RangeError);
  });

  test('dataRange also holds at the start: an init outside the range is clamped before the first evaluation', () => {
    const lossAndGrad = linearLossAndGrad(fixtureData.labels, false);
    const outside = partial(AdditivePerturbation, { init: new Array(N * D).fill(-0.5) }); // below 0 wherever data < 0.5
    for (const [steps, useBest] of [[0, false], [3, true], [3, false]] as const) {
      const seen: number[] = [];
      const checked = (x: Tensor, t: unknown) => {
        seen.push(Math.min(...x.data));
        return lossAndGrad(x, t);
      };
      const r = gradientAscent({ ...base(), steps, useBest, lossAndGrad: checked, perturbationModel: outside, dataRange: [0, 1] });
      expect(seen.length).toBe(steps + 1);
      for (const lo of seen) expect(lo).toBeGreaterThanOrEqual(0);
      expect(Math.min(...r.xAdv.data)).toBeGreaterThanOrEqual(0);
      expect(Math.max(...r.xAdv.data)).toBeLessThanOrEqual(1);
    }
    // Without dataRange the init is used as given.
    const r = gradientAscent({ ...base(), steps: 0, lossAndGrad, perturbationModel: outside });
    expect(Math.min(...r.xAdv.data)).toBeLessThan(0);
  });

  test('per-sample epsilon: each datum stays in its own radius; a wrong length is a RangeError', () => {
    const radii = [0.1, 0.5, 1, 1.5, 2, 2.5, 3, 0];
    const r = gradientAscent({ ...base(), lossAndGrad: linearLossAndGrad(fixtureData.labels, false), epsilon: radii });
    const x0 = dataTensor('float64').data;
    for (let i = 0; i < N; i++) {
      let s = 0;
      for (let j = 0; j < D; j++) s += (r.xAdv.data[i * D + j] - x0[i * D + j]) ** 2;
      expect(Math.sqrt(s)).toBeLessThanOrEqual(radii[i] * (1 + 1e-9) + 1e-12);
      if (radii[i] > 0) expect(Math.sqrt(s)).toBeGreaterThan(radii[i] * 0.99);
    }
    const linf = gradientAscent({ ...base(), optimizer: LinfProjectedOptim, paramNdim: -1, lr: 0.05, lossAndGrad: linearLossAndGrad(fixtureData.labels, false), epsilon: radii });
    for (let i = 0; i < N; i++) {
      for (let j = 0; j < D; j++) expect(Math.abs(linf.xAdv.data[i * D + j] - x0[i * D + j])).toBeLessThanOrEqual(radii[i] + 1e-12);
    }
    expect(() => gradientAscent({ ...base(), lossAndGrad: linearLossAndGrad(fixtureData.labels, false), epsilon: [1, 2] })).toThrow(RangeError);
  });

  test('earlyStop: fewer model calls, no success lost, frozen samples, stepsTaken per sample', () => {
    const full = linearLossAndGrad(fixtureData.labels, false);
    const a = gradientAscent({ ...base(), lossAndGrad: full, steps: 30, epsilon: 4 });
    const early = linearLossAndGrad(fixtureData.labels, false);
    const b = gradientAscent({ ...base(), lossAndGrad: early, steps: 30, epsilon: 4, earlyStop: true });
    expect(early.calls).toBeLessThan(full.calls);
    expect(full.calls).toBe(31);
    for (let i = 0; i < N; i++) if (a.success![i]) expect(b.success![i]).toBe(1);
    expect(b.stepsTaken).toHaveLength(N);
    for (let i = 0; i < N; i++) {
      expect(b.stepsTaken![i]).toBeGreaterThanOrEqual(0);
      expect(b.stepsTaken![i]).toBeLessThanOrEqual(30);
    }
    // A sample that succeeds at once (stepsTaken 0) keeps its clean point.
    const x0 = dataTensor('float64').data;
    for (let i = 0; i < N; i++) {
      if (b.stepsTaken![i] === 0) expect(Array.from(b.xAdv.data.subarray(i * D, (i + 1) * D))).toEqual(Array.from(x0.subarray(i * D, (i + 1) * D)));
    }
  });

  test('onStep reports every step with the mean loss and the success rate', () => {
    const infos: lp.StepInfo[] = [];
    gradientAscent({ ...base(), lossAndGrad: linearLossAndGrad(fixtureData.labels, false), steps: 5, onStep: (i) => infos.push(i) });
    expect(infos.map((i) => i.step)).toEqual([1, 2, 3, 4, 5]);
    for (const i of infos) {
      expect(i.steps).toBe(5);
      expect(Number.isFinite(i.meanLoss)).toBe(true);
      expect(i.successRate).toBeGreaterThanOrEqual(0);
      expect(i.successRate).toBeLessThanOrEqual(1);
    }
    expect(infos[4].meanLoss).toBeGreaterThan(infos[0].meanLoss); // an untargeted attack raises the loss
  });

  test('randomRestart keeps each sample\'s best and never loses one', () => {
    const gen = new Generator(3);
    const pm = partial(AdditivePerturbation, { init: (d: Tensor) => uniformLikeL2NBall_(d, { epsilon: 2, generator: gen }) });
    const runs: Float64Array[] = [];
    const solver = (o: lp.GradientAscentOptions) => {
      const r = gradientAscent(o);
      runs.push(Float64Array.from(r.losses));
      return r;
    };
    const r = randomRestart(solver, 4)({ ...base(), steps: 3, perturbationModel: pm, lossAndGrad: linearLossAndGrad(fixtureData.labels, false) });
    expect(runs).toHaveLength(4);
    for (let i = 0; i < N; i++) expect(r.losses[i]).toBe(Math.max(...runs.map((l) => l[i])));
    expect(runs[0]).not.toEqual(runs[1]); // each restart draws a new init
    expect(() => randomRestart(solver, 0)).toThrow(RangeError);
  });

  test('an optimizer instance needs a perturbation-model instance; bad options are clear errors', () => {
    const lossAndGrad = linearLossAndGrad(fixtureData.labels, false);
    const pm = new AdditivePerturbation(dataTensor('float64'));
    const opt = new SGD(pm.parameters(), { lr: 0.1 });
    expect(() => gradientAscent({ lossAndGrad, data: dataTensor('float64'), target: fixtureData.labels, optimizer: opt, steps: 1 })).toThrow(/perturbation-model instance/);
    expect(gradientAscent({ lossAndGrad, data: dataTensor('float64'), target: fixtureData.labels, optimizer: opt, steps: 1, perturbationModel: pm }).losses).toHaveLength(N);
    expect(() => gradientAscent({ ...base(), lossAndGrad, reduction: 'max' as never })).toThrow(RangeError);
    expect(() => gradientAscent({ ...base(), lossAndGrad, steps: -1 })).toThrow(RangeError);
    expect(() => gradientAscent({ ...base(), lossAndGrad: () => ({ losses: [1], grad: [] }) })).toThrow(/losses for a batch of 8/);
  });
});

describe(`attack argument errors on ${where}`, () => {
  const data = () => dataTensor('float64');
  const base = () => ({ data: data(), target: fixtureData.labels, optimizer: L2ProjectedOptim, lr: 0.5, epsilon: 2, steps: 3 });
  class NotAPerturbation {
    constructor(readonly d: Tensor) {}
  }

  test.each([
    ['steps a string', { steps: '2' }, TypeError, /steps.*"2"/],
    ['steps 1.5', { steps: 1.5 }, TypeError, /steps.*1\.5/],
    ['steps missing', { steps: undefined }, TypeError, /steps.*undefined/],
    ['steps negative', { steps: -1 }, RangeError, /steps.*-1/],
    ['reduction a number', { reduction: 5 }, TypeError, /reduction.*5/],
    ['reduction unknown', { reduction: 'max' }, RangeError, /reduction.*"max"/],
    ['dataRange a string', { dataRange: '0,1' }, TypeError, /dataRange.*"0,1"/],
    ['dataRange of one value', { dataRange: [0] }, RangeError, /dataRange.*\[0\]/],
    ['dataRange with NaN', { dataRange: [NaN, 1] }, RangeError, /dataRange.*NaN/],
    ['perturbationModel making something else', { perturbationModel: NotAPerturbation }, TypeError, /perturbationModel.*NotAPerturbation/],
    ['data a plain array', { data: [1, 2] }, TypeError, /data must be a Tensor.*\[1, 2\]/],
    ['data of no dimensions', { data: new Tensor(new Float64Array(1), []) }, RangeError, /data must be a Tensor of shape \[N, \.\.\.\], got one of shape \[\]/],
  ])('gradientAscent: %s', (_title, bad, Err, message) => {
    const lossAndGrad = linearLossAndGrad(fixtureData.labels, false);
    const options = { ...base(), lossAndGrad, ...bad } as lp.GradientAscentOptions;
    const values = () => (options.data instanceof Tensor ? Array.from(options.data.data) : options.data);
    const before = values();
    expect(() => gradientAscent(options)).toThrow(Err);
    expect(() => gradientAscent(options)).toThrow(message);
    expect(lossAndGrad.calls).toBe(0);
    expect(values()).toEqual(before);
  });

  const good = linearLossAndGrad(fixtureData.labels, false);
  const returning = (change: Record<string, unknown>) => (x: Tensor, t: unknown) => ({ ...good(x, t), ...change });
  test.each([
    ['losses of strings', { losses: Array(N).fill('a') }, TypeError, /lossAndGrad returned losses\[0\] = "a"/],
    ['grad of strings', { grad: Array(N * D).fill('x') }, TypeError, /lossAndGrad returned grad\[0\] = "x"/],
    ['losses a string', { losses: 'abcdefgh' }, TypeError, /losses = "abcdefgh"/],
    ['losses float32 for float64 data', { losses: new Float32Array(N) }, TypeError, /losses = Float32Array.*Float64Array/],
    ['grad an Int32Array', { grad: new Int32Array(N * D) }, TypeError, /grad = Int32Array/],
    ['grad missing', { grad: undefined }, TypeError, /grad = undefined/],
    ['grad too short', { grad: new Float64Array(3) }, RangeError, /grad\) of length 3/],
    ['success of strings', { success: Array(N).fill('1') }, TypeError, /success\[0\] = "1"/],
    ['success not 0/1', { success: new Uint8Array(N).fill(2) }, RangeError, /success\[0\] = 2/],
    ['success a number', { success: 1 }, TypeError, /success = 1/],
  ])('lossAndGrad returning %s: a clear error before any step', (_title, change, Err, message) => {
    const pm = new AdditivePerturbation(data(), { init: new Float64Array(N * D).fill(0.01) });
    const opt = new SGD(pm.parameters(), { lr: 0.1, momentum: 0.9 });
    const before = { delta: Array.from(pm.delta.data), state: JSON.stringify(opt.stateDict()) };
    const run = () => gradientAscent({ data: data(), target: fixtureData.labels, steps: 3, optimizer: opt, perturbationModel: pm, lossAndGrad: returning(change) });
    expect(run).toThrow(Err);
    expect(run).toThrow(message);
    expect({ delta: Array.from(pm.delta.data), state: JSON.stringify(opt.stateDict()) }).toEqual(before);
  });

  test('lossAndGrad may return arrays of numbers, booleans as success, or success null', () => {
    const plain = (x: Tensor, t: unknown) => {
      const r = good(x, t);
      return { losses: Array.from(r.losses), grad: Array.from(r.grad), success: Array.from(r.success, (v) => v === 1) };
    };
    const a = gradientAscent({ ...base(), lossAndGrad: plain });
    const b = gradientAscent({ ...base(), lossAndGrad: good });
    expect(Array.from(a.xAdv.data)).toEqual(Array.from(b.xAdv.data));
    expect(a.success).toEqual(b.success);
    expect(gradientAscent({ ...base(), lossAndGrad: returning({ success: null }) }).success).toBeUndefined();
  });

  test('AdditivePerturbation: options that are not an object, and apply() of something that is not a Tensor', () => {
    for (const bad of [5, 'x', null]) {
      expect(() => new AdditivePerturbation(data(), bad as never)).toThrow(TypeError);
      expect(() => new AdditivePerturbation(data(), bad as never)).toThrow(/AdditivePerturbation: options must be an object/);
    }
    expect(() => new AdditivePerturbation(data(), { delta_ndim: -1 } as never)).toThrow(/unknown option delta_ndim \(-1\)/);
    const pm = new AdditivePerturbation(data(), { init: new Float64Array(N * D).fill(0.5) });
    for (const bad of [5, null, { shape: [N, D], data: new Float64Array(N * D), dtype: 'float64' }]) {
      expect(() => pm.apply(bad as never)).toThrow(TypeError);
      expect(() => pm.apply(bad as never)).toThrow(/apply: data must be a Tensor/);
    }
    expect(pm.delta.data.every((v) => v === 0.5)).toBe(true);
  });

  test('AdditivePerturbation: a delta too large to allocate is a RangeError naming its shape', () => {
    expect(() => new AdditivePerturbation([1e9, 1e9])).toThrow(RangeError);
    expect(() => new AdditivePerturbation([1e9, 1e9], { dtype: 'float64' })).toThrow(
      /AdditivePerturbation: a float64 delta of shape \[1000000000, 1000000000\] \(1000000000000000000 elements\) cannot be allocated/,
    );
  });

  test("gradientAscent: options not an object, and an optimizer's option beside an optimizer instance", () => {
    expect(() => gradientAscent([] as never)).toThrow(/gradientAscent expects an options object, got \[\]/);
    const pm = new AdditivePerturbation(data());
    const opt = new SGD(pm.parameters(), { lr: 0.1 });
    const lossAndGrad = linearLossAndGrad(fixtureData.labels, false);
    const run = () => gradientAscent({ lossAndGrad, data: data(), target: fixtureData.labels, steps: 2, optimizer: opt, perturbationModel: pm, lr: 5 });
    expect(run).toThrow(RangeError);
    expect(run).toThrow(/option lr \(5\) is for the optimizer, but optimizer is already an instance/);
    expect(opt.paramGroups[0].lr).toBe(0.1);
    expect(lossAndGrad.calls).toBe(0);
  });

  test('randomRestart: repeats of the wrong type is a TypeError, out of range a RangeError', () => {
    expect(() => randomRestart(gradientAscent, '2' as never)).toThrow(TypeError);
    expect(() => randomRestart(gradientAscent, '2' as never)).toThrow(/repeats.*"2"/);
    expect(() => randomRestart(gradientAscent, 1.5)).toThrow(TypeError);
    expect(() => randomRestart(gradientAscent, 0)).toThrow(/repeats.*>= 1.*0/);
  });
});

describe('uniform ball initialisations', () => {
  /** Kolmogorov-Smirnov statistic of samples against U(0, 1). */
  function ks(u: number[]): number {
    const s = u.slice().sort((a, b) => a - b);
    return Math.max(...s.map((v, i) => Math.max((i + 1) / s.length - v, v - i / s.length)));
  }

  test.each([
    ['L1', uniformLikeL1NBall_, (row: number[]) => row.reduce((a, v) => a + Math.abs(v), 0)],
    ['L2', uniformLikeL2NBall_, (row: number[]) => Math.hypot(...row)],
    ['Linf', uniformLikeLinfNBall_, (row: number[]) => Math.max(...row.map(Math.abs))],
  ] as const)('%s: uniform in the ball (radius^D is U(0, 1)), and seeds reproduce', (name, init, norm) => {
    const rows = 2000;
    const dim = 3;
    const eps = 1.5;
    const t = new Tensor(new Float64Array(rows * dim), [rows, dim]);
    init(t, { epsilon: eps, paramNdim: name === 'Linf' ? null : -1, generator: new Generator(11) });
    const stat: number[] = [];
    for (let r = 0; r < rows; r++) {
      const row = Array.from(t.data.subarray(r * dim, (r + 1) * dim));
      const rad = norm(row) / eps;
      expect(rad).toBeLessThanOrEqual(1);
      stat.push(name === 'Linf' ? (row[0] / eps + 1) / 2 : rad ** dim);
    }
    // The 0.1% critical value of the KS statistic for n = 2000 is 1.95 / sqrt(n) = 0.0436.
    expect(ks(stat)).toBeLessThan(0.0436);
    const again = new Tensor(new Float64Array(rows * dim), [rows, dim]);
    init(again, { epsilon: eps, paramNdim: name === 'Linf' ? null : -1, generator: new Generator(11) });
    expect(Array.from(again.data)).toEqual(Array.from(t.data));
  });

  test('bad arguments', () => {
    const t = new Tensor(new Float32Array(6), [2, 3]);
    expect(() => uniformLikeL2NBall_(t, { epsilon: 0 })).toThrow(RangeError);
    expect(() => uniformLikeL1NBall_(t, { paramNdim: 3 })).toThrow(RangeError);
    expect(() => uniformLikeLinfNBall_(t, { generator: 5 as never })).toThrow(TypeError);
  });

  test.each([
    ['L1', uniformLikeL1NBall_],
    ['L2', uniformLikeL2NBall_],
    ['Linf', uniformLikeLinfNBall_],
  ] as const)('%s: options that are not an object are a TypeError, an unknown one a RangeError; the tensor is left alone', (_name, init) => {
    const t = new Tensor(Float32Array.from([1, 2, 3, 4, 5, 6]), [2, 3]);
    for (const bad of [5, 'x', null, [1]]) {
      expect(() => init(t, bad as never)).toThrow(TypeError);
      expect(() => init(t, bad as never)).toThrow(/options must be an object/);
    }
    expect(() => init(t, { epsilon: 1, radius: 2 } as never)).toThrow(/unknown option radius \(2\)/);
    expect(Array.from(t.data)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  test.each([
    ['L1', uniformLikeL1NBall_],
    ['L2', uniformLikeL2NBall_],
    ['Linf', uniformLikeLinfNBall_],
  ] as const)('%s: an empty tensor returns at once and draws nothing, even with 2**31 empty rows', (_name, init) => {
    const gen = new Generator(5);
    const started = Date.now();
    init(new Tensor(new Float32Array(0), [2 ** 31, 0]), { generator: gen });
    init(new Tensor(new Float64Array(0), [0, 4]), { generator: gen });
    expect(Date.now() - started).toBeLessThan(1000);
    expect(gen.uniform()).toBe(new Generator(5).uniform());
  });
});

describe('Generator.getState / setState (as torch.Generator.get_state / set_state)', () => {
  test('restoring a state repeats the draws from there; the state is a copy', () => {
    const gen = new Generator(42);
    gen.uniform();
    const state = gen.getState();
    const first = [gen.uniform(), gen.normal(), gen.nextUint32()];
    expect(Array.from(state)).not.toEqual(Array.from(gen.getState()));
    gen.setState(state);
    expect([gen.uniform(), gen.normal(), gen.nextUint32()]).toEqual(first);
    // Into another generator, and from a plain array of the words.
    const other = new Generator(7);
    other.setState(Array.from(state));
    expect([other.uniform(), other.normal(), other.nextUint32()]).toEqual(first);
  });

  test('TopQGradientOptimizer with dq > 0 resumes bit-identically from its state dict and the generator state', () => {
    const make = (gen: Generator) => {
      const t = new Tensor(Float32Array.from({ length: 40 }, (_, i) => Math.sin(i)), [4, 10]);
      return { t, opt: new lp.TopQGradientOptimizer([t], { q: 0.5, dq: 0.3, lr: 0.1, generator: gen }) };
    };
    const grad = (k: number) => Float32Array.from({ length: 40 }, (_, i) => Math.cos(i * 0.7 + k));
    const run = (o: ReturnType<typeof make>, from: number, to: number) => {
      for (let k = from; k < to; k++) {
        o.t.grad = grad(k);
        o.opt.step();
      }
    };
    const straight = make(new Generator(9));
    run(straight, 0, 6);
    const genA = new Generator(9);
    const first = make(genA);
    run(first, 0, 3);
    const saved = { sd: first.opt.stateDict(), gen: genA.getState(), data: first.t.data.slice() };
    const genB = new Generator(123); // another seed: the restored state is what counts
    const resumed = make(genB);
    resumed.t.data.set(saved.data);
    resumed.opt.loadStateDict(saved.sd);
    genB.setState(saved.gen);
    run(resumed, 3, 6);
    expect(Array.from(resumed.t.data)).toEqual(Array.from(straight.t.data));
  });

  test('a bad state is refused, the generator unchanged', () => {
    const gen = new Generator(1);
    const before = gen.getState();
    expect(() => gen.setState('abcd' as never)).toThrow(TypeError);
    expect(() => gen.setState(new Uint32Array(3))).toThrow(/4 words, got 3/);
    expect(() => gen.setState([1, 2, 3, 2 ** 32])).toThrow(/state\[3\].*4294967296/);
    expect(() => gen.setState([1, 2, 3.5, 4])).toThrow(RangeError);
    expect(() => gen.setState([1, 2, '3', 4] as never)).toThrow(TypeError);
    expect(() => gen.setState(new Uint32Array(4))).toThrow(/all-zero/);
    expect(Array.from(gen.getState())).toEqual(Array.from(before));
  });
});
