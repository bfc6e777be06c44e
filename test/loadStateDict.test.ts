// SPDX-License-Identifier: MIT
// loadStateDict as users meet it: a state dict is mapped onto the parameters
// as torch.optim.Optimizer.load_state_dict maps it (the saved groups' indices,
// in order, name this optimizer's parameters in order), and a malformed one
// (bad indices, bad step counts, buffers of the wrong type, dtype or length,
// non-canonical state keys, unknown or missing keys) is refused with a
// TypeError or RangeError naming the field, changing nothing: parameters,
// state and groups stay as they were, and the next steps give what they give
// without the refused call. What stateDict() and load() produce still loads.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  Adagrad, Adam, AdamW, ChainedParamTransformingOptimizer, ClampedGradientOptimizer, Generator, L1qNormedGradientOptim,
  L2FrankWolfe, L2ProjectedOptim, LinfProjectedOptim, Optimizer, RMSprop, SGD, StateDict, Tensor, TopQGradientOptimizer,
  backendInfo, load, partial, save,
} from '../ts';
import { expectSameBits, thrown } from './helpers';

const where = `${backendInfo().backend} (${backendInfo().isa})`;

interface Built {
  opt: Optimizer;
  params: Tensor[];
}

/** A deterministic gradient for parameter `i` at step `k`. */
function gradFor(p: Tensor, i: number, k: number): Float32Array | Float64Array {
  const g = p.dtype === 'float64' ? new Float64Array(p.numel) : new Float32Array(p.numel);
  for (let j = 0; j < g.length; j++) g[j] = Math.sin(1.3 * k + 0.7 * j + 2.1 * i) * (1 + 0.25 * j);
  return g;
}

/** Steps k = from .. to-1, every parameter with its gradient. */
function train({ opt, params }: Built, from: number, to: number): void {
  for (let k = from; k < to; k++) {
    params.forEach((p, i) => {
      p.grad = gradFor(p, i, k);
    });
    opt.step();
  }
}

/** Two groups: [a (float32, 2x3)] and [b (float64, 4)], the second with its own options. */
function twoTensors(): Tensor[] {
  return [new Tensor(Float32Array.of(0.1, -0.2, 0.3, 0.4, -0.5, 0.6), [2, 3]), new Tensor(Float64Array.of(0.25, -1.5, 2.75, 1))];
}

const MAKERS: Record<string, () => Built> = {
  'L2ProjectedOptim[Adam]': () => {
    const [a, b] = twoTensors();
    return { opt: new L2ProjectedOptim([{ params: [a] }, { params: [b], lr: 0.05, epsilon: 2 }], { InnerOpt: Adam, lr: 0.1, epsilon: 1 }), params: [a, b] };
  },
  'SGD (momentum)': () => {
    const [a, b] = twoTensors();
    return { opt: new SGD([{ params: [a] }, { params: [b], lr: 0.05 }], { lr: 0.1, momentum: 0.9 }), params: [a, b] };
  },
  Adam: () => {
    const [a, b] = twoTensors();
    return { opt: new Adam([{ params: [a] }, { params: [b], amsgrad: true }], { lr: 0.01 }), params: [a, b] };
  },
  RMSprop: () => {
    const [a, b] = twoTensors();
    return { opt: new RMSprop([{ params: [a] }, { params: [b] }], { lr: 0.01, momentum: 0.5, centered: true }), params: [a, b] };
  },
  Adagrad: () => {
    const [a, b] = twoTensors();
    return { opt: new Adagrad([{ params: [a] }, { params: [b] }], { lr: 0.1, initialAccumulatorValue: 0.1 }), params: [a, b] };
  },
  L2FrankWolfe: () => {
    const [a, b] = twoTensors();
    return { opt: new L2FrankWolfe([{ params: [a] }, { params: [b] }], { epsilon: 1 }), params: [a, b] };
  },
  'L1qNormedGradientOptim[Adam]': () => {
    const [a, b] = twoTensors();
    return { opt: new L1qNormedGradientOptim([{ params: [a] }, { params: [b] }], { q: 0.5, InnerOpt: Adam, lr: 0.1 }), params: [a, b] };
  },
  'TopQGradientOptimizer[SGD]': () => {
    const [a, b] = twoTensors();
    return { opt: new TopQGradientOptimizer([{ params: [a] }, { params: [b] }], { q: 0.5, lr: 0.1, momentum: 0.5 }), params: [a, b] };
  },
};

/** A deep copy of a state dict (buffers and option arrays copied, the optimizer tag kept). */
function copyDict(sd: StateDict): StateDict {
  const state: StateDict['state'] = {};
  for (const [k, e] of Object.entries(sd.state)) {
    state[k as unknown as number] = Object.fromEntries(Object.entries(e).map(([kk, v]) => [kk, ArrayBuffer.isView(v) ? v.slice() : v]));
  }
  const paramGroups = sd.paramGroups.map((g) => Object.fromEntries(Object.entries(g).map(([k, v]) => [k, Array.isArray(v) ? v.slice() : v]))) as StateDict['paramGroups'];
  const copy = { state, paramGroups };
  Object.defineProperty(copy, 'optimizer', { value: sd.optimizer, enumerable: false });
  return copy;
}

/** Everything a refused call must leave as it was. */
function snapshot({ opt, params }: Built) {
  return {
    data: params.map((p) => Array.from(p.data)),
    grads: params.map((p) => (p.grad ? Array.from(p.grad) : null)),
    stateDict: opt.stateDict(),
    groups: opt.paramGroups.map((g) => ({ ...g, params: g.params.map((p) => params.indexOf(p)) })),
  };
}

/**
 * Trains two identical optimizers, offers one a bad dict (made by `mutate`
 * from its own state dict) and checks: the error's class and message, nothing
 * changed, and the next steps give bit for bit what the other one's give.
 */
function expectRefused(
  kind: string,
  mutate: (sd: StateDict) => unknown,
  Err: typeof TypeError | typeof RangeError,
  message: RegExp,
): void {
  const subject = MAKERS[kind]();
  const twin = MAKERS[kind]();
  train(subject, 0, 2);
  train(twin, 0, 2);
  const bad = mutate(copyDict(subject.opt.stateDict()));
  const before = snapshot(subject);
  const err = thrown(() => subject.opt.loadStateDict(bad as StateDict));
  expect(err).toBeInstanceOf(Err);
  expect((err as Error).message).toMatch(message);
  expect(snapshot(subject)).toEqual(before);
  train(subject, 2, 4);
  train(twin, 2, 4);
  subject.params.forEach((p, i) => expectSameBits(p.data, twin.params[i].data, `${kind} param ${i} after the refused load`));
  expect(subject.opt.stateDict()).toEqual(twin.opt.stateDict());
}

/** Loads `sd` (or the trained one's own dict) into a fresh copy, continues both: bit-identical. */
function expectResumesIdentically(kind: string, transform: (sd: StateDict) => StateDict = (sd) => sd): void {
  const original = MAKERS[kind]();
  train(original, 0, 3);
  const sd = original.opt.stateDict();
  const resumed = MAKERS[kind]();
  original.params.forEach((p, i) => resumed.params[i].data.set(p.data));
  resumed.opt.loadStateDict(transform(copyDict(sd)));
  expect(resumed.opt.stateDict()).toEqual(sd);
  train(original, 3, 6);
  train(resumed, 3, 6);
  original.params.forEach((p, i) => expectSameBits(resumed.params[i].data, p.data, `${kind} param ${i}`));
}

type Mutation = [string, string, (sd: StateDict) => unknown, typeof TypeError | typeof RangeError, RegExp];

const setGroupParams = (i: number, ids: unknown[]) => (sd: StateDict) => {
  (sd.paramGroups[i] as { params: unknown }).params = ids;
  return sd;
};
const setState = (i: number, key: string, value: unknown) => (sd: StateDict) => {
  (sd.state[i] as Record<string, unknown>)[key] = value;
  return sd;
};
const renameState = (from: number, to: string) => (sd: StateDict) => {
  const state = sd.state as Record<string, unknown>;
  state[to] = state[from];
  delete state[from];
  return sd;
};
const deleteState = (i: number, key: string) => (sd: StateDict) => {
  delete (sd.state[i] as Record<string, unknown>)[key];
  return sd;
};
const deleteOption = (i: number, key: string) => (sd: StateDict) => {
  delete (sd.paramGroups[i] as Record<string, unknown>)[key];
  return sd;
};

/** A Float32Array that claims another length. */
class LyingFloat32Array extends Float32Array {
  override get length(): number {
    return 6;
  }
}

describe(`loadStateDict refuses a malformed state dict, changing nothing, on ${where}`, () => {
  test.each<Mutation>([
    // Param indices in the groups.
    ['a param index that is a string', 'L2ProjectedOptim[Adam]', setGroupParams(0, ['x']), TypeError, /paramGroups\[0\]\.params\[0\].*"x"/],
    ['a param index that is not an integer', 'L2ProjectedOptim[Adam]', setGroupParams(0, [0.5]), RangeError, /paramGroups\[0\]\.params\[0\].*non-negative integer.*0\.5/],
    ['a negative param index', 'L2ProjectedOptim[Adam]', setGroupParams(0, [-1]), RangeError, /paramGroups\[0\]\.params\[0\].*non-negative integer.*-1/],
    ['a hole in a params list', 'L2ProjectedOptim[Adam]', setGroupParams(1, new Array(1)), TypeError, /paramGroups\[1\]\.params\[0\] must be a parameter index.*undefined/],
    ['a hole in paramGroups', 'L2ProjectedOptim[Adam]', (sd) => ({ ...sd, paramGroups: Object.assign([sd.paramGroups[0]], { length: 2 }) }), TypeError, /paramGroups\[1\] must be an object.*undefined/],
    ['a param index NaN', 'L2ProjectedOptim[Adam]', setGroupParams(0, [NaN]), RangeError, /paramGroups\[0\]\.params\[0\].*NaN/],
    ['a param index listed twice', 'L2ProjectedOptim[Adam]', setGroupParams(1, [0]), RangeError, /paramGroups\[1\]\.params\[0\] is 0, which paramGroups\[0\]\.params\[0\] already is/],
    ['a state entry no group lists (params [99])', 'L2ProjectedOptim[Adam]', setGroupParams(0, [99]), RangeError, /state\[0\] is for parameter index 0, which no param group lists \(they list 99, 1\)/],
    ['state entries mapped onto a parameter of another dtype', 'L2ProjectedOptim[Adam]', (sd) => setGroupParams(1, [0])(setGroupParams(0, [1])(sd)), TypeError, /state\[0\]\.expAvg must be a float64 array/],
    // State keys: canonical indices only.
    ['state key ""', 'L2ProjectedOptim[Adam]', (sd) => { (sd.state as Record<string, unknown>)[''] = {}; return sd; }, RangeError, /state key "" is not a parameter index/],
    ['state key "1e0"', 'L2ProjectedOptim[Adam]', renameState(1, '1e0'), RangeError, /state key "1e0" is not a parameter index/],
    ['state key " 1"', 'L2ProjectedOptim[Adam]', renameState(1, ' 1'), RangeError, /state key " 1" is not a parameter index/],
    ['state key "01"', 'L2ProjectedOptim[Adam]', renameState(1, '01'), RangeError, /state key "01" is not a parameter index/],
    // Top-level keys.
    ['an unknown top-level key', 'L2ProjectedOptim[Adam]', (sd) => ({ ...sd, extra: 1 }), RangeError, /unknown key "extra"/],
    ['an optimizer tag that is not a string', 'L2ProjectedOptim[Adam]', (sd) => ({ ...sd, optimizer: 5 }), TypeError, /state dict: optimizer must be a string, got 5/],
    // Group options: checked as the constructor checks them, and none missing.
    ['a group without its epsilon', 'L2ProjectedOptim[Adam]', deleteOption(1, 'epsilon'), TypeError, /paramGroups\[1\]\.epsilon is missing/],
    ['a group without its lr', 'SGD (momentum)', deleteOption(1, 'lr'), TypeError, /paramGroups\[1\]\.lr is missing/],
    ['a group without its momentum (an option with a default)', 'SGD (momentum)', deleteOption(0, 'momentum'), TypeError, /paramGroups\[0\]\.momentum is missing/],
    ['a group with a bad epsilon', 'L2ProjectedOptim[Adam]', (sd) => { sd.paramGroups[1].epsilon = -1; return sd; }, RangeError, /epsilon \(state dict paramGroups\[1\]\).*-1/],
    ['a scheduler\'s initialLr that is a string', 'SGD (momentum)', (sd) => { sd.paramGroups[0].initialLr = '0.1'; return sd; }, TypeError, /initialLr \(state dict paramGroups\[0\]\).*"0\.1"/],
    ['a scheduler\'s initialLr that is negative', 'SGD (momentum)', (sd) => { sd.paramGroups[1].initialLr = -1; return sd; }, RangeError, /initialLr \(state dict paramGroups\[1\]\).*-1/],
    // Step counts.
    ['step -1', 'Adam', setState(0, 'step', -1), RangeError, /state\[0\]\.step must be a non-negative integer.*-1/],
    ['step 1.5', 'Adam', setState(0, 'step', 1.5), RangeError, /state\[0\]\.step must be a non-negative integer.*1\.5/],
    ['step NaN', 'Adam', setState(0, 'step', NaN), RangeError, /state\[0\]\.step .*NaN/],
    ['step Infinity', 'Adam', setState(0, 'step', Infinity), RangeError, /state\[0\]\.step .*Infinity/],
    ['step 2^53', 'Adam', setState(0, 'step', 2 ** 53), RangeError, /state\[0\]\.step .*9007199254740992/],
    ['step a typed array', 'Adam', setState(0, 'step', new Float32Array(6)), TypeError, /state\[0\]\.step must be a number.*Float32Array\(length 6\)/],
    ['step a string', 'Adam', setState(0, 'step', '2'), TypeError, /state\[0\]\.step must be a number.*"2"/],
    ['Adagrad step -1', 'Adagrad', setState(1, 'step', -1), RangeError, /state\[1\]\.step .*-1/],
    ['RMSprop step 0.5', 'RMSprop', setState(0, 'step', 0.5), RangeError, /state\[0\]\.step .*0\.5/],
    ['FrankWolfe step NaN (L2FrankWolfe)', 'L2FrankWolfe', setState(0, 'step', NaN), RangeError, /state\[0\]\.step .*NaN/],
    // Buffers: the parameter's dtype (TypeError, as for a gradient) and length (RangeError).
    ['expAvg a number', 'Adam', setState(0, 'expAvg', 5), TypeError, /state\[0\]\.expAvg must be a float32 array \(Float32Array\) of length 6.*got 5/],
    ['expAvg null', 'Adam', setState(0, 'expAvg', null), TypeError, /state\[0\]\.expAvg must be a float32 array.*got null/],
    ['expAvg of the other dtype', 'Adam', setState(0, 'expAvg', new Float64Array(6)), TypeError, /state\[0\]\.expAvg must be a float32 array.*Float64Array\(length 6\)/],
    ['expAvg an Int32Array', 'Adam', setState(0, 'expAvg', new Int32Array(6)), TypeError, /state\[0\]\.expAvg .*Int32Array/],
    ['expAvg a plain array', 'Adam', setState(0, 'expAvg', [0, 0, 0, 0, 0, 0]), TypeError, /state\[0\]\.expAvg .*Array\(length 6\)|state\[0\]\.expAvg .*\[0, 0/],
    ['expAvgSq too short', 'Adam', setState(1, 'expAvgSq', new Float64Array(3)), RangeError, /state\[1\]\.expAvgSq must be a float64 array \(Float64Array\) of length 4 \(parameter shape \[4\]\), got Float64Array\(length 3\)/],
    ['maxExpAvgSq a number', 'Adam', setState(1, 'maxExpAvgSq', 0), TypeError, /state\[1\]\.maxExpAvgSq .*got 0/],
    ['a subclass lying about its length', 'Adam', setState(0, 'expAvg', new LyingFloat32Array(2)), RangeError, /state\[0\]\.expAvg .*got Float32Array\(length 2\)/],
    ['a Proxy of a Float32Array', 'Adam', setState(0, 'expAvg', new Proxy(new Float32Array(6), {})), TypeError, /state\[0\]\.expAvg must be a float32 array/],
    ['SGD momentumBuffer a number', 'SGD (momentum)', setState(0, 'momentumBuffer', 5), TypeError, /state\[0\]\.momentumBuffer must be a float32 array .* or null, got 5/],
    ['SGD momentumBuffer of the other dtype', 'SGD (momentum)', setState(1, 'momentumBuffer', new Float32Array(4)), TypeError, /state\[1\]\.momentumBuffer must be a float64 array/],
    ['RMSprop squareAvg a number', 'RMSprop', setState(0, 'squareAvg', 1), TypeError, /state\[0\]\.squareAvg .*got 1/],
    ['RMSprop gradAvg too long', 'RMSprop', setState(0, 'gradAvg', new Float32Array(7)), RangeError, /state\[0\]\.gradAvg .*length 7/],
    ['Adagrad sum a number', 'Adagrad', setState(0, 'sum', 0.1), TypeError, /state\[0\]\.sum .*got 0\.1/],
    ['a wrapped Adam: expAvg a number', 'L1qNormedGradientOptim[Adam]', setState(1, 'expAvg', 5), TypeError, /state\[1\]\.expAvg .*got 5/],
    ['a wrapped SGD: momentumBuffer of another length', 'TopQGradientOptimizer[SGD]', setState(0, 'momentumBuffer', new Float32Array(5)), RangeError, /state\[0\]\.momentumBuffer .*length 5/],
    // Keys a step writes together.
    ['Adam moments without their step', 'Adam', deleteState(0, 'step'), RangeError, /state\[0\] has .* but no step/],
    ['Adam step without expAvg', 'Adam', deleteState(1, 'expAvg'), RangeError, /state\[1\] has .* but no expAvg/],
    ['Adagrad sum without its step', 'Adagrad', deleteState(0, 'step'), RangeError, /state\[0\] has sum but no step/],
    ['Adagrad step without its sum', 'Adagrad', deleteState(1, 'sum'), RangeError, /state\[1\] has step but no sum/],
    ['RMSprop squareAvg without its step', 'RMSprop', deleteState(0, 'step'), RangeError, /state\[0\] has .* but no step/],
    ['an unknown state key', 'Adam', setState(0, 'momentumBuffer', new Float32Array(6)), RangeError, /state\[0\]: Adam state has no key momentumBuffer/],
  ])('%s (%s)', (_title, kind, mutate, Err, message) => {
    expectRefused(kind, mutate, Err, message);
  });
});

describe(`loadStateDict maps state through the saved param indices, as PyTorch does, on ${where}`, () => {
  /** Two float32 parameters of one shape in two groups: state put on the wrong one would load, silently. */
  function twin(): Built {
    const x = new Tensor(Float32Array.of(1, -2, 3, 0.5));
    const y = new Tensor(Float32Array.of(-1, 0.25, 2, -3));
    return { opt: new SGD([{ params: [x] }, { params: [y], lr: 0.05 }], { lr: 0.1, momentum: 0.9 }), params: [x, y] };
  }

  function resume(transform: (sd: StateDict) => unknown): void {
    const original = twin();
    train(original, 0, 3);
    const sd = original.opt.stateDict();
    const resumed = twin();
    original.params.forEach((p, i) => resumed.params[i].data.set(p.data));
    resumed.opt.loadStateDict(transform(copyDict(sd)) as StateDict);
    expect(resumed.opt.stateDict()).toEqual(sd);
    train(original, 3, 6);
    train(resumed, 3, 6);
    original.params.forEach((p, i) => expectSameBits(resumed.params[i].data, p.data, `param ${i}`));
  }

  test('indices listed in another order: each entry goes to the parameter its index names', () => {
    // The same dict with the indices swapped: saved index 1 is now group 0's parameter.
    resume((sd) => ({
      state: { 0: sd.state[1], 1: sd.state[0] },
      paramGroups: [{ ...sd.paramGroups[0], params: [1] }, { ...sd.paramGroups[1], params: [0] }],
    }));
  });

  test('any unique non-negative indices (PyTorch ids): [7] and [3]', () => {
    resume((sd) => ({
      state: { 7: sd.state[0], 3: sd.state[1] },
      paramGroups: [{ ...sd.paramGroups[0], params: [7] }, { ...sd.paramGroups[1], params: [3] }],
    }));
  });
});

describe(`what stateDict() and load() produce still loads, on ${where}`, () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lp-optim-loadStateDict-'));
  });
  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test.each(Object.keys(MAKERS))('%s: stateDict() -> loadStateDict, and through save/load, resume bit-identically', (kind) => {
    expectResumesIdentically(kind);
    const file = path.join(dir, `${kind.replace(/[^A-Za-z0-9]/g, '_')}.safetensors`);
    expectResumesIdentically(kind, (sd) => {
      save(sd, file);
      return load(file);
    });
  });

  test.each<[string, () => Built]>([
    ['SGD with momentum 0 (null momentum buffers, as PyTorch\'s None)', () => {
      const [a, b] = twoTensors();
      return { opt: new SGD([a, b], { lr: 0.1 }), params: [a, b] };
    }],
    ['Adam after amsgrad was switched on (no maxExpAvgSq yet)', () => {
      const [a, b] = twoTensors();
      return { opt: new Adam([a, b], { lr: 0.01 }), params: [a, b] };
    }],
    ['Adagrad before any step (step 0)', () => {
      const [a, b] = twoTensors();
      return { opt: new Adagrad([a, b], { lr: 0.1 }), params: [a, b] };
    }],
    ['ChainedParamTransformingOptimizer[RMSprop]', () => {
      const [a, b] = twoTensors();
      const chain = [partial(TopQGradientOptimizer, { q: 0.3, generator: new Generator(1) }), partial(ClampedGradientOptimizer, { clampMax: 0.5 })];
      return { opt: new ChainedParamTransformingOptimizer([a, b], { chain, InnerOpt: RMSprop, lr: 0.01 }), params: [a, b] };
    }],
    ['LinfProjectedOptim[AdamW] with a per-sample epsilon', () => {
      const [a, b] = twoTensors();
      return { opt: new LinfProjectedOptim([{ params: [a], epsilon: [0.5, 1], paramNdim: -1 }, { params: [b], paramNdim: null }], { InnerOpt: AdamW, epsilon: 1, lr: 0.1 }), params: [a, b] };
    }],
  ])('%s', (_title, make) => {
    const original = make();
    const steps = _title.startsWith('Adagrad') ? 0 : 2;
    train(original, 0, steps);
    if (_title.startsWith('Adam after')) for (const g of original.opt.paramGroups) g.amsgrad = true;
    const sd = original.opt.stateDict();
    const resumed = make();
    original.params.forEach((p, i) => resumed.params[i].data.set(p.data));
    resumed.opt.loadStateDict(copyDict(sd));
    expect(resumed.opt.stateDict()).toEqual(sd);
    train(original, steps, steps + 3);
    train(resumed, steps, steps + 3);
    original.params.forEach((p, i) => expectSameBits(resumed.params[i].data, p.data, `param ${i}`));
  });

  test('SGD: a null momentum buffer loaded where momentum is on starts from the gradient, as a first step', () => {
    const fresh = MAKERS['SGD (momentum)']();
    const loaded = MAKERS['SGD (momentum)']();
    train(loaded, 0, 2);
    fresh.params.forEach((p, i) => p.data.set(loaded.params[i].data));
    const sd = loaded.opt.stateDict();
    loaded.opt.loadStateDict({ ...sd, state: { 0: { momentumBuffer: null }, 1: { momentumBuffer: null } } });
    train(fresh, 2, 4);
    train(loaded, 2, 4);
    fresh.params.forEach((p, i) => expectSameBits(loaded.params[i].data, p.data, `param ${i}`));
  });
});

describe(`an optimizer whose groups a wrapper shares checks the wrapper's options in its own loadStateDict, on ${where}`, () => {
  /** A wrapper over an optimizer it shares groups with, and that optimizer (the one given the dict). */
  interface Shared {
    built: Built;
    target: Optimizer;
  }
  const SHARED: Record<string, () => Shared> = {
    'an SGD instance given as InnerOpt': () => {
      const [a, b] = twoTensors();
      const inner = new SGD([{ params: [a] }, { params: [b] }], { lr: 0.1, momentum: 0.5 });
      return { built: { opt: new L2ProjectedOptim(null, { InnerOpt: inner, epsilon: 1 }), params: [a, b] }, target: inner };
    },
    "L2ProjectedOptim's own Adam (innerOpt)": () => {
      const built = MAKERS['L2ProjectedOptim[Adam]']();
      return { built, target: (built.opt as L2ProjectedOptim).innerOpt };
    },
    "L1qNormedGradientOptim's Adam (innerOpt)": () => {
      const built = MAKERS['L1qNormedGradientOptim[Adam]']();
      return { built, target: (built.opt as L1qNormedGradientOptim).innerOpt };
    },
    'an SGD instance a chain refused (dq -1), then given to L2ProjectedOptim': () => {
      const [a, b] = twoTensors();
      const inner = new SGD([{ params: [a] }, { params: [b] }], { lr: 0.1, momentum: 0.5 });
      expect(() => new L1qNormedGradientOptim(null, { q: 0.5, dq: -1, InnerOpt: inner })).toThrow(RangeError);
      return { built: { opt: new L2ProjectedOptim(null, { InnerOpt: inner, epsilon: 1 }), params: [a, b] }, target: inner };
    },
    "a chain's first link": () => {
      const [a, b] = twoTensors();
      const opt = new ChainedParamTransformingOptimizer([{ params: [a] }, { params: [b] }], { chain: [TopQGradientOptimizer, L2ProjectedOptim], defaults: { q: 0.5, epsilon: 1 }, lr: 0.1 });
      return { built: { opt, params: [a, b] }, target: opt.chain[0] };
    },
  };
  const setOption = (key: string, value: unknown) => (sd: StateDict) => {
    sd.paramGroups[1][key] = value;
    return sd;
  };
  test.each<[string, string, (sd: StateDict) => StateDict, typeof TypeError | typeof RangeError, RegExp]>([
    ['gradScale a string', 'an SGD instance given as InnerOpt', setOption('gradScale', 'g'), TypeError, /gradScale \(state dict paramGroups\[1\]\).*"g"/],
    ['epsilon -1', 'an SGD instance given as InnerOpt', setOption('epsilon', -1), RangeError, /epsilon \(state dict paramGroups\[1\]\).*-1/],
    ['paramNdim 3 for a 1-d parameter', 'an SGD instance given as InnerOpt', setOption('paramNdim', 3), RangeError, /paramNdim/],
    ['epsilon -1', 'an SGD instance a chain refused (dq -1), then given to L2ProjectedOptim', setOption('epsilon', -1), RangeError, /epsilon \(state dict paramGroups\[1\]\).*-1/],
    ['epsilon -1', "L2ProjectedOptim's own Adam (innerOpt)", setOption('epsilon', -1), RangeError, /epsilon \(state dict paramGroups\[1\]\).*-1/],
    ['q 2', "L1qNormedGradientOptim's Adam (innerOpt)", setOption('q', 2), RangeError, /\bq\b.*2/],
    ["the other link's epsilon NaN", "a chain's first link", setOption('epsilon', NaN), RangeError, /epsilon.*NaN/],
  ])('%s, loaded through %s: refused, nothing changed', (_title, kind, mutate, Err, message) => {
    const subject = SHARED[kind]();
    const twin = SHARED[kind]();
    train(subject.built, 0, 2);
    train(twin.built, 0, 2);
    const bad = mutate(copyDict(subject.target.stateDict()));
    const before = snapshot(subject.built);
    const err = thrown(() => subject.target.loadStateDict(bad));
    expect(err).toBeInstanceOf(Err);
    expect((err as Error).message).toMatch(message);
    expect(snapshot(subject.built)).toEqual(before);
    train(subject.built, 2, 4);
    train(twin.built, 2, 4);
    subject.built.params.forEach((p, i) => expectSameBits(p.data, twin.built.params[i].data, `${kind} param ${i} after the refused load`));
  });
  test.each(Object.keys(SHARED))('its own state dict, valid, still loads through %s and the run resumes bit for bit', (kind) => {
    const original = SHARED[kind]();
    train(original.built, 0, 3);
    const sd = original.target.stateDict();
    const resumed = SHARED[kind]();
    original.built.params.forEach((p, i) => resumed.built.params[i].data.set(p.data));
    resumed.target.loadStateDict(copyDict(sd));
    expect(resumed.built.opt.stateDict()).toEqual(original.built.opt.stateDict());
    train(original.built, 3, 5);
    train(resumed.built, 3, 5);
    original.built.params.forEach((p, i) => expectSameBits(resumed.built.params[i].data, p.data, `${kind} param ${i}`));
  });
});
