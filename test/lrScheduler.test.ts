// SPDX-License-Identifier: MIT
// Learning-rate schedules: lr per epoch against PyTorch's closed forms, on a
// plain optimizer and on L2ProjectedOptim (whose groups the inner optimizer
// shares), and their state dicts.
import { Adam, CosineAnnealingLR, ExponentialLR, L2ProjectedOptim, LRScheduler, LambdaLR, Optimizer, SGD, StepLR, Tensor } from '../ts';

const param = () => new Tensor(new Float32Array([1, 2, 3, 4]), [2, 2]);

/** What a rejected call must leave alone: the scheduler's state and the optimizer's groups. */
function snapshot(opt: Optimizer, sched?: LRScheduler): string {
  return JSON.stringify({ sched: sched?.stateDict(), groups: opt.paramGroups.map(({ params, ...options }) => ({ ...options, params: params.length })) });
}

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

  test('bad options are refused: options not an object, an unknown option (named, with its value)', () => {
    const opt = new SGD([param()], { lr: 1 });
    const before = snapshot(opt);
    for (const bad of [5, 'x', null, [1]]) {
      expect(() => new StepLR(opt, bad as never)).toThrow(TypeError);
      expect(() => new StepLR(opt, bad as never)).toThrow(/StepLR: options must be an object/);
      expect(() => new LambdaLR(opt, bad as never)).toThrow(/LambdaLR: options must be an object/);
    }
    expect(() => new CosineAnnealingLR(opt, { TMax: 2, eta_min: 0.5 } as never)).toThrow(/unknown option eta_min \(0\.5\)/);
    // The optimizer is checked first, whatever the options.
    expect(() => new LambdaLR({} as never, { lrLambda: [() => 1, () => 1] })).toThrow(/optimizer must be/);
    expect(snapshot(opt)).toBe(before);
  });
});

describe('loadStateDict checks every field before changing anything', () => {
  const make = () => {
    const opt = new SGD([{ params: [param()] }, { params: [param()], lr: 0.5 }], { lr: 1 });
    const sched = new StepLR(opt, { stepSize: 2, gamma: 0.5 });
    sched.step();
    return { opt, sched };
  };

  test.each([
    ['baseLrs of the wrong length', { baseLrs: [1, 2, 3] }, RangeError, /baseLrs.*\[1, 2, 3\]/],
    ['baseLrs holding a string', { baseLrs: [1, 'a'] }, TypeError, /baseLrs\[1\].*"a"/],
    ['baseLrs holding NaN', { baseLrs: [1, NaN] }, RangeError, /baseLrs\[1\].*NaN/],
    ['baseLrs negative', { baseLrs: [1, -1] }, RangeError, /baseLrs\[1\].*-1/],
    ['baseLrs not an array', { baseLrs: 1 }, TypeError, /baseLrs.*1/],
    ['lastLr of the wrong length', { lastLr: [1] }, RangeError, /lastLr.*\[1\]/],
    ['lastLr holding null', { lastLr: [1, null] }, TypeError, /lastLr\[1\].*null/],
    ['lastEpoch 1.5', { lastEpoch: 1.5 }, TypeError, /lastEpoch.*1\.5/],
    ['lastEpoch NaN', { lastEpoch: NaN }, TypeError, /lastEpoch.*NaN/],
    ['lastEpoch -2', { lastEpoch: -2 }, RangeError, /lastEpoch.*-2/],
    ['stepCount "2"', { stepCount: '2' }, TypeError, /stepCount.*"2"/],
    ['stepSize 0', { stepSize: 0 }, RangeError, /stepSize.*0/],
    ['gamma NaN', { gamma: NaN }, RangeError, /gamma.*NaN/],
    ['gamma Infinity', { gamma: Infinity }, RangeError, /gamma.*Infinity/],
    ['a good field with a bad one', { lastEpoch: 7, gamma: NaN }, RangeError, /gamma/],
    ['an unknown key', { TMax: 3 }, RangeError, /StepLR state has no key TMax \(3\)/],
    ['an array', [1, 2], TypeError, /expects a state dict object/],
    // Keys that Object.prototype has: unknown keys like any other (not V8's errors, not new fields).
    ['a key __proto__', JSON.parse('{"__proto__":{}}'), RangeError, /StepLR state has no key __proto__/],
    ['a key constructor', { constructor: 'evil' }, RangeError, /StepLR state has no key constructor/],
    ['a key toString', { toString: 5 }, RangeError, /StepLR state has no key toString/],
    ['a key hasOwnProperty', { hasOwnProperty: 1 }, RangeError, /StepLR state has no key hasOwnProperty/],
    ['a key isPrototypeOf', { isPrototypeOf: [1] }, RangeError, /StepLR state has no key isPrototypeOf/],
    // Beyond 2^53 - 1 an epoch count stops counting (x + 1 === x).
    ['lastEpoch 2^53', { lastEpoch: 2 ** 53 }, RangeError, /lastEpoch must be at most 2\^53 - 1, got 9007199254740992/],
    ['stepCount 1e300', { stepCount: 1e300 }, RangeError, /stepCount must be at most 2\^53 - 1/],
    ['the state of another kind of scheduler', Object.defineProperty({ gamma: 0.5 }, 'scheduler', { value: 'ExponentialLR' }), RangeError, /scheduler state is from a "ExponentialLR" scheduler; this one is "StepLR"/],
  ])('%s', (_title, state, Err, message) => {
    const { opt, sched } = make();
    const before = snapshot(opt, sched);
    expect(() => sched.loadStateDict(state as never)).toThrow(Err);
    expect(() => sched.loadStateDict(state as never)).toThrow(message);
    expect(snapshot(opt, sched)).toBe(before);
    // ...and the schedule goes on as if nothing had been tried.
    const twin = make();
    sched.step();
    twin.sched.step();
    expect(sched.getLastLr()).toEqual(twin.sched.getLastLr());
  });

  test('stateDict() names the class (non-enumerable, as an optimizer state dict does), and another class refuses it', () => {
    const { opt, sched } = make();
    const state = sched.stateDict();
    expect(state.scheduler).toBe('StepLR');
    expect(Object.keys(state)).not.toContain('scheduler');
    const other = new ExponentialLR(opt, { gamma: 0.9 });
    const before = snapshot(opt, other);
    expect(() => other.loadStateDict(state)).toThrow(/scheduler state is from a "StepLR" scheduler; this one is "ExponentialLR"/);
    expect(snapshot(opt, other)).toBe(before);
    // A state written by hand says no class: it is checked on its keys alone, as before.
    const byHand = { ...state }; // (a spread copies enumerable keys only)
    expect(byHand.scheduler).toBeUndefined();
    make().sched.loadStateDict(byHand);
    expect(() => new StepLR(opt, { stepSize: 1e300 })).toThrow(/stepSize must be at most 2\^53 - 1/);
  });

  test("each scheduler's own fields, as its constructor checks them", () => {
    const opt = new SGD([param()], { lr: 1 });
    const cosine = new CosineAnnealingLR(opt, { TMax: 4 });
    const before = snapshot(opt, cosine);
    expect(() => cosine.loadStateDict({ TMax: 0 })).toThrow(RangeError);
    expect(() => cosine.loadStateDict({ TMax: 2.5 })).toThrow(/TMax.*2\.5/);
    expect(() => cosine.loadStateDict({ etaMin: -1 })).toThrow(/etaMin.*-1/);
    expect(snapshot(opt, cosine)).toBe(before);
    const exp = new ExponentialLR(new SGD([param()], { lr: 1 }), { gamma: 0.9 });
    expect(() => exp.loadStateDict({ gamma: '0.9' })).toThrow(TypeError);
    // A state the scheduler saved always loads back, also with an lr that overflowed to Infinity.
    const big = new ExponentialLR(new SGD([param()], { lr: 1 }), { gamma: 1e300 });
    big.step();
    big.step();
    expect(big.getLastLr()).toEqual([Infinity]);
    const state = big.stateDict();
    big.loadStateDict(state);
    expect(big.stateDict()).toEqual(state);
  });
});

describe('a failing lrLambda changes nothing', () => {
  test.each([
    ['NaN', () => NaN, RangeError, /lrLambda\(2\).*NaN/],
    ['a string', () => 'x', TypeError, /lrLambda\(2\).*"x"/],
    ['a throw', () => { throw new Error('model diverged'); }, Error, /model diverged/],
  ])('step() with a factor that is %s', (_title, bad, Err, message) => {
    const opt = new SGD([param()], { lr: 1 });
    let broken = false;
    const sched = new LambdaLR(opt, { lrLambda: (e) => (broken && e === 2 ? (bad as () => number)() : 0.5 ** e) });
    sched.step();
    const before = snapshot(opt, sched);
    broken = true;
    expect(() => sched.step()).toThrow(Err);
    expect(() => sched.step()).toThrow(message);
    expect(snapshot(opt, sched)).toBe(before);
    expect(sched.lastEpoch).toBe(1);
    broken = false;
    sched.step();
    expect(sched.getLastLr()).toEqual([0.25]);
  });

  test('a constructor whose first step fails leaves the optimizer as it was (no initialLr)', () => {
    const opt = new SGD([{ params: [param()] }, { params: [param()], lr: 0.5 }], { lr: 1 });
    const before = snapshot(opt);
    expect(() => new LambdaLR(opt, { lrLambda: () => 'x' as never })).toThrow(/lrLambda\(0\).*"x"/);
    expect(() => new LambdaLR(opt, { lrLambda: [() => 1, () => NaN] })).toThrow(/param group 1.*NaN/);
    expect(snapshot(opt)).toBe(before);
    expect(opt.paramGroups[0].initialLr).toBeUndefined();
    // The same optimizer can then be scheduled, from its own lrs.
    const sched = new LambdaLR(opt, { lrLambda: () => 0.1 });
    expect(sched.getLastLr()).toEqual([0.1, 0.05]);
    expect(opt.paramGroups.map((g) => g.initialLr)).toEqual([1, 0.5]);
  });

  test('a group added after the scheduler was made keeps its lr (as torch zips base lrs with groups)', () => {
    const opt = new SGD([param()], { lr: 1 });
    const sched = new LambdaLR(opt, { lrLambda: (e) => 0.5 ** e });
    opt.addParamGroup({ params: [param()], lr: 0.3 });
    sched.step();
    expect(opt.paramGroups.map((g) => g.lr)).toEqual([0.5, 0.3]);
  });
});


test('a scheduler does not change the groups under a running stepAsync()', async () => {
  const x = new Tensor(new Float32Array(64).fill(1), [8, 8]);
  x.grad = new Float32Array(64).fill(1);
  const opt = new L2ProjectedOptim([x], { epsilon: 1, lr: 0.1 });
  const sched = new StepLR(opt, { stepSize: 1, gamma: 0.5 });
  const running = opt.stepAsync();
  const before = snapshot(opt, sched);
  expect(() => sched.step()).toThrow(/stepAsync\(\) of its optimizer is running/);
  expect(() => new LambdaLR(opt, { lrLambda: () => 2 })).toThrow(/is running/);
  expect(snapshot(opt, sched)).toBe(before);
  await running;
  sched.step();
  expect(sched.getLastLr()).toEqual([0.05]);
});
