// SPDX-License-Identifier: MIT
// allocArray / freeArray: tensors over arrays in the backend's own memory
// step to the same bits as over ordinary arrays on every path (small steps,
// fused steps, one kernel per operation, custom transforms), stay valid as
// the memory grows, and once freed are refused by every step, nothing changed.
import {
  Adam, FloatArray, L1qNormedGradientOptim, L2ProjectedOptim, LinfProjectedOptim, Optimizer, ParamTransformingOptimizer, SGD,
  Generator, Tensor, TopQGradientOptimizer, allocArray, backendInfo, freeArray, setBackend, uniformLikeL1NBall_, uniformLikeL2NBall_,
  uniformLikeLinfNBall_,
} from '../ts';
import { availableBackends } from '../ts/backend/loader';
import { SMALL_STEP_ELEMENTS, setFusedSteps } from '../ts/optim/optimizer';
import { expectSameBits, filled, loadGolden, runGolden } from './helpers';
import * as path from 'path';
import { NativeAddon } from '../ts/backend/native';
import { StateBuffer } from '../ts/backend/types';

// Bound once: in jest's sandbox each global lookup (Math) in a loop over a
// million elements costs tens of milliseconds.
const { sin, cos } = Math;

const info = backendInfo();
const where = `${info.backend} (${info.isa})`;

type Make = (params: Tensor[]) => Optimizer;

const CONFIGS: [string, Make][] = [
  ['L2ProjectedOptim[SGD momentum]', (p) => new L2ProjectedOptim(p, { lr: 0.3, momentum: 0.9, epsilon: 2 })],
  ['L2ProjectedOptim[Adam] per-sample epsilon', (p) => new L2ProjectedOptim(p, { InnerOpt: Adam, lr: 0.05, epsilon: [1, 0.5, 2, 0.25], paramNdim: -1 })],
  ['L2ProjectedOptim gradScale/gradBias', (p) => new L2ProjectedOptim(p, { lr: 0.1, epsilon: 1, gradScale: 0.5, gradBias: 0.01 })],
  ['LinfProjectedOptim (sign, clamp)', (p) => new LinfProjectedOptim(p, { lr: 0.05, epsilon: 0.3 })],
  ['TopQGradientOptimizer', (p) => new TopQGradientOptimizer(p, { lr: 0.1, q: 0.5 })],
  ['L1qNormedGradientOptim', (p) => new L1qNormedGradientOptim(p, { lr: 0.1, q: 0.7 })],
  ['SGD', (p) => new SGD(p, { lr: 0.1, momentum: 0.5 })],
];

/** The address of an array's first element modulo `unit` (64: within a cache line; 4096: within a page); -1 where unknown. */
function offsetWithin(a: FloatArray, unit: number): number {
  // WebAssembly's arrays are views of the module's memory, which starts on a page.
  if (info.backend === 'wasm') return a.byteOffset % unit;
  if (!(a.buffer instanceof ArrayBuffer) && Object.prototype.toString.call(a.buffer) !== '[object ArrayBuffer]') return -1;
  const addon = require('node-gyp-build')(path.join(__dirname, '..')) as NativeAddon;
  return (a.byteOffset + unit - addon.alignedByteOffset(a.buffer as ArrayBuffer, unit)) % unit;
}
const lineOffsetOf = (a: FloatArray) => offsetWithin(a, 64);
const pageOffsetOf = (a: FloatArray) => offsetWithin(a, 4096);

/** How far apart two page offsets are, going round the page. */
function pageGap(a: number, b: number): number {
  const d = Math.abs(a - b) % 4096;
  return Math.min(d, 4096 - d);
}

/** The live array of a parameter's state buffer `key`. */
function liveState(opt: Optimizer, t: Tensor, key: string): FloatArray {
  return (opt.state.get(t)![key] as StateBuffer).live();
}

/** Copies `src` into a new array: from allocArray, or an ordinary one. */
function arrayLike(src: FloatArray, allocated: boolean): FloatArray {
  const a = allocated ? allocArray(src.length, src instanceof Float64Array ? 'float64' : 'float32') : src.slice();
  a.set(src);
  return a;
}

/** A batch of 4 samples: `cols` per sample (small or large enough for the kernels), in float32 or float64. */
function batch(cols: number, float64: boolean): FloatArray {
  const n = 4 * cols;
  return float64 ? filled(Float64Array, n, (i) => sin(i * 0.37)) : filled(Float32Array, n, (i) => sin(i * 0.37));
}

function gradient(step: number, like: FloatArray): FloatArray {
  const g = like.slice();
  for (let i = 0; i < g.length; i++) g[i] = cos(i * 0.11 + step) * (i % 7 === 0 ? 0 : 1);
  return g;
}

/** Runs three steps with parameters and gradients in allocArray arrays or ordinary ones; returns the final values. */
function run(make: Make, cols: number, float64: boolean, allocated: { data: boolean; grad: boolean }): FloatArray[] {
  const data = arrayLike(batch(cols, float64), allocated.data);
  const t = new Tensor(data, [4, cols]);
  const opt = make([t]);
  const grads: FloatArray[] = [];
  for (let step = 0; step < 3; step++) {
    const g = arrayLike(gradient(step, data), allocated.grad);
    t.grad = g;
    grads.push(g);
    opt.step();
  }
  const out = [t.data.slice(), t.grad!.slice()];
  if (allocated.data) freeArray(data);
  if (allocated.grad) for (const g of grads) freeArray(g);
  return out;
}

describe(`allocArray and freeArray on ${where}`, () => {
  afterEach(() => setFusedSteps(true));

  // First in this file: jest gives each test file a fresh backend, and this
  // must run before anything has called allocArray.
  test('optimizers stepped before the first allocArray call keep their state (WebAssembly moves to shared memory then)', () => {
    const make = () => {
      const t = new Tensor(batch(4 * SMALL_STEP_ELEMENTS, false), [4, 4 * SMALL_STEP_ELEMENTS]);
      return { t, opt: new L2ProjectedOptim([t], { InnerOpt: Adam, lr: 0.05, epsilon: 1 }) };
    };
    const before = make();
    const twin = make();
    for (let step = 0; step < 3; step++) {
      twin.t.grad = gradient(step, twin.t.data);
      twin.opt.step();
      if (step < 2) {
        before.t.grad = gradient(step, before.t.data);
        before.opt.step();
      }
    }
    expect(backendInfo().binary).not.toMatch(/_shared\.wasm$/);
    const a = allocArray(8);
    if (info.backend === 'wasm') expect(backendInfo().binary).toMatch(/_shared\.wasm$/);
    before.t.grad = gradient(2, before.t.data);
    before.opt.step();
    expectSameBits(before.t.data, twin.t.data, 'params');
    expect(JSON.stringify(before.opt.stateDict())).toBe(JSON.stringify(twin.opt.stateDict()));
    // Moved state keeps its cache-line start (see the next test).
    if (info.backend === 'wasm') for (const k of ['expAvg', 'expAvgSq']) expect(lineOffsetOf(liveState(before.opt, before.t, k))).toBe(0);
    freeArray(a);
  });

  test("optimizer state starts at its parameter's offset within a cache line, so the kernels' vectors align on both", () => {
    // Natively at the parameter's own offset (the sweep aligns on the parameter); in WebAssembly,
    // where the arrays a step works on (allocArray's, the staging area) start on a line, on a line.
    // (Natively a SharedArrayBuffer's address is not known to the addon: its state starts on a line.)
    const expected = (data: FloatArray) => (info.backend === 'native' ? Math.max(lineOffsetOf(data), 0) : 0);
    const backing = new ArrayBuffer(8 * 1200 + 64);
    const params: [string, () => FloatArray][] = [
      ['an allocArray array', () => allocArray(1000)],
      ['an ordinary array', () => new Float32Array(1000)],
      ['a view 4 bytes into a buffer', () => new Float32Array(backing, 4, 1000)],
      ['a view 36 bytes into a buffer', () => new Float32Array(backing, 36, 1000)],
      ['a float64 view 24 bytes into a buffer', () => new Float64Array(backing, 24, 1000)],
      ['a view of a SharedArrayBuffer', () => new Float32Array(new SharedArrayBuffer(4004), 4, 1000)],
    ];
    for (const [what, make] of params) {
      const data = make();
      data.fill(0.5);
      const momentum = new Tensor(data.slice(), [10, 100]);
      const adam = new Tensor(data, [10, 100]);
      const sgd = new L2ProjectedOptim([momentum], { lr: 0.1, momentum: 0.9, epsilon: 1 });
      const amsgrad = new L2ProjectedOptim([adam], { InnerOpt: Adam, amsgrad: true, lr: 0.1, epsilon: 1 });
      for (const [t, opt] of [[momentum, sgd], [adam, amsgrad]] as const) {
        t.grad = t.data.map((_, i) => sin(i));
        opt.step();
      }
      const placed = (t: Tensor, opt: Optimizer, keys: string[]) => {
        for (const k of keys) expect([what, k, lineOffsetOf(liveState(opt, t, k))]).toEqual([what, k, expected(t.data)]);
      };
      placed(adam, amsgrad, ['expAvg', 'expAvgSq', 'maxExpAvgSq']);
      // (The momentum tensor's data is a copy: an ordinary array, at its own offset.)
      placed(momentum, sgd, ['momentumBuffer']);
      // loadStateDict allocates its buffers the same way.
      const resumed = new L2ProjectedOptim([adam], { InnerOpt: Adam, amsgrad: true, lr: 0.1, epsilon: 1 });
      resumed.loadStateDict(amsgrad.stateDict());
      placed(adam, resumed, ['expAvg', 'expAvgSq', 'maxExpAvgSq']);
      if (what === 'an allocArray array') freeArray(data);
    }
  });

  test('large arrays a step streams together start apart within a page: allocArray\'s in turn, state away from its parameter, gradient and other state', () => {
    // (Arrays at one page offset meet in the same L1 sets at every element: see placement.ts.)
    const n = 20000; // 80 KB: large enough to be spread
    for (const allocated of [true, false]) {
      // (In WebAssembly ordinary arrays are staged: their page offsets are the staging area's.)
      if (!allocated && info.backend === 'wasm') continue;
      const data = allocated ? allocArray(n) : new Float32Array(n);
      const grad = allocated ? allocArray(n) : new Float32Array(n);
      if (allocated) expect(pageGap(pageOffsetOf(data), pageOffsetOf(grad))).toBe(2048);
      const t = new Tensor(data, [4, n / 4]);
      t.grad = grad.fill(0.25);
      const opt = new L2ProjectedOptim([t], { InnerOpt: Adam, amsgrad: true, lr: 0.1, epsilon: 1 });
      opt.step();
      const [p, g] = [pageOffsetOf(data), pageOffsetOf(grad)];
      const [m, v, vmax] = ['expAvg', 'expAvgSq', 'maxExpAvgSq'].map((k) => pageOffsetOf(liveState(opt, t, k)));
      // The farthest free offset from k taken ones is at least 2048 / k away (less half a line).
      for (const [what, at, others, least] of [['expAvg', m, [p, g], 992], ['expAvgSq', v, [p, g, m], 650], ['maxExpAvgSq', vmax, [p, g, m, v], 480]] as const) {
        for (const o of others) expect([allocated, what, pageGap(at, o) >= least]).toEqual([allocated, what, true]);
      }
      // Still on the parameter's offset within a line.
      expect(lineOffsetOf(liveState(opt, t, 'expAvg'))).toBe(info.backend === 'native' ? lineOffsetOf(data) : 0);
      if (allocated) {
        freeArray(data);
        freeArray(grad);
      }
    }
  });

  test('allocArray gives a zero-filled array of the length and dtype asked for', () => {
    const a = allocArray(1000);
    const b = allocArray(3, 'float64');
    expect(a).toBeInstanceOf(Float32Array);
    expect(a.length).toBe(1000);
    expect(a.every((v) => v === 0)).toBe(true);
    expect(b).toBeInstanceOf(Float64Array);
    expect(Array.from(b)).toEqual([0, 0, 0]);
    expect(allocArray(0).length).toBe(0);
    freeArray(a);
    freeArray(b);
  });

  test('bad arguments are refused with a clear error', () => {
    expect(() => allocArray(-1)).toThrow(RangeError);
    expect(() => allocArray(2.5)).toThrow(/length must be an integer/);
    expect(() => allocArray('8' as unknown as number)).toThrow(TypeError);
    expect(() => allocArray(8, 'int8' as 'float32')).toThrow(/dtype must be 'float32' or 'float64'/);
    expect(() => allocArray(2 ** 40)).toThrow(RangeError);
    expect(() => freeArray([1, 2] as unknown as Float32Array)).toThrow(TypeError);
    expect(() => freeArray(new Float32Array(4))).toThrow(/takes an array that allocArray\(\) returned/);
    const a = allocArray(16);
    expect(() => freeArray(a.subarray(4))).toThrow(/not a view of one/);
    freeArray(a);
    expect(() => freeArray(a)).toThrow(/already been freed/);
  });

  for (const [name, make] of CONFIGS) {
    // 3 (a batch of 12 elements): small steps (TypeScript); 4 * SMALL_STEP_ELEMENTS + 3: one
    // block of the kernels; 20011: several blocks of the WebAssembly step.
    for (const cols of [3, 4 * SMALL_STEP_ELEMENTS + 3, 20011]) {
      for (const float64 of [false, true]) {
        const what = `${name}, ${cols} per sample, ${float64 ? 'float64' : 'float32'}`;
        test(`${what}: the same bits in allocArray arrays as in ordinary ones`, () => {
          const expected = run(make, cols, float64, { data: false, grad: false });
          for (const allocated of [{ data: true, grad: true }, { data: true, grad: false }, { data: false, grad: true }]) {
            const got = run(make, cols, float64, allocated);
            expectSameBits(got[0], expected[0], `${what} params (${JSON.stringify(allocated)})`);
            expectSameBits(got[1], expected[1], `${what} grads (${JSON.stringify(allocated)})`);
          }
        });
      }
    }
  }

  test('one kernel per operation (the unfused path) gives the same bits in allocArray arrays', () => {
    const make: Make = (p) => new L2ProjectedOptim(p, { InnerOpt: Adam, lr: 0.05, epsilon: 1 });
    const cols = 4 * SMALL_STEP_ELEMENTS;
    const fused = run(make, cols, false, { data: false, grad: false });
    setFusedSteps(false);
    const unfused = run(make, cols, false, { data: true, grad: true });
    expectSameBits(unfused[0], fused[0], 'params');
    expectSameBits(unfused[1], fused[1], 'grads');
  });

  test('a custom transform sees the allocArray memory of the tensor as rows and writes it in place', () => {
    class HalveRows extends ParamTransformingOptimizer {
      protected override preStepTransform(param: Tensor): void {
        const g = param.grad!;
        for (let i = 0; i < g.length; i++) g[i] = g[i] / 2 + param.shape[0];
      }
    }
    const data = allocArray(4096);
    data.fill(1);
    const t = new Tensor(data, [2, 2048]);
    t.grad = allocArray(4096);
    t.grad.fill(2);
    new HalveRows([t], { lr: 0.5, paramNdim: 1 }).step();
    // Rows: shape [2, 2048], so each gradient entry becomes 2 / 2 + 2 = 3, and p = 1 - 0.5 * 3.
    expect(t.grad.every((v) => v === 3)).toBe(true);
    expect(data.every((v) => v === -0.5)).toBe(true);
    freeArray(data);
    freeArray(t.grad);
  });

  test('arrays stay valid, and are stepped in place, after the memory grows', () => {
    const data = allocArray(4096);
    data.fill(0.5);
    const grad = allocArray(4096);
    grad.fill(1);
    const t = new Tensor(data, [4, 1024]);
    t.grad = grad;
    const opt = new L2ProjectedOptim([t], { lr: 0.1, epsilon: 100 });
    opt.step();
    const afterOne = data[0];
    // 64 MiB more than the module started with: the memory has to grow.
    const big = allocArray(16 << 20);
    big[big.length - 1] = 7;
    expect(data.length).toBe(4096);
    expect(data[0]).toBe(afterOne);
    expect(grad[5]).toBeCloseTo(1 / 32, 7);
    grad.fill(1);
    opt.step();
    expect(data[0]).toBeCloseTo(afterOne - 0.1 / 32, 6);
    expect(big[big.length - 1]).toBe(7);
    for (const a of [big, data, grad]) freeArray(a);
  });

  test('a freed gradient or parameter is refused by the next step, and nothing changes', () => {
    const keep = new Tensor(Float32Array.from({ length: 4096 }, (_, i) => i / 4096), [4, 1024]);
    keep.grad = Float32Array.from({ length: 4096 }, () => 1);
    const data = allocArray(4096);
    data.fill(0.25);
    const t = new Tensor(data, [4, 1024]);
    t.grad = allocArray(4096);
    t.grad.fill(1);
    const opt = new L2ProjectedOptim([keep, t], { InnerOpt: Adam, lr: 0.1, epsilon: 100 });
    opt.step();
    const before = { keep: keep.data.slice(), keepGrad: keep.grad.slice(), data: data.slice(), state: JSON.stringify(opt.stateDict()) };
    freeArray(t.grad);
    expect(() => opt.step()).toThrow(/params\[1\]\.grad .*freeArray\(\)/);
    expectSameBits(keep.data, before.keep, 'untouched tensor');
    expectSameBits(keep.grad, before.keepGrad, 'untouched gradient');
    expect(JSON.stringify(opt.stateDict())).toBe(before.state);
    // A view of a freed array is refused the same way.
    const viewed = allocArray(4096);
    t.grad = viewed.subarray(0, 4096);
    freeArray(viewed);
    expect(() => opt.step()).toThrow(/params\[1\]\.grad/);
    t.grad = allocArray(4096);
    freeArray(data);
    expect(() => opt.step()).toThrow(/params\[1\]\.data .*freeArray\(\)/);
    expectSameBits(keep.data, before.keep, 'untouched tensor');
    expect(JSON.stringify(opt.stateDict())).toBe(before.state);
    freeArray(t.grad);
  });

  test('a freed array is refused also after allocArray has given its memory to a new array, which stays untouched', () => {
    for (const n of [4, 1000]) {
      for (const freed of ['data', 'grad'] as const) {
        const data = allocArray(n);
        data.fill(0.5);
        const grad = allocArray(n);
        grad.fill(1);
        const t = new Tensor(data, [n]);
        t.grad = grad.subarray(0, n); // a view: tied to its array when the tensor takes it
        const opt = new L2ProjectedOptim([t], { lr: 0.1, epsilon: 1, paramNdim: null });
        opt.step();
        const state = JSON.stringify(opt.stateDict());
        // Freed, then allocated again: WebAssembly's malloc hands the same memory to an array of the same size.
        freeArray(freed === 'data' ? data : grad);
        const other = allocArray(n);
        other.fill(7);
        expect(() => opt.step()).toThrow(new RegExp(`params\\[0\\]\\.${freed} .*freeArray\\(\\)`));
        expect(Array.from(other)).toEqual(new Array(n).fill(7));
        expect(JSON.stringify(opt.stateDict())).toBe(state);
        freeArray(other);
        freeArray(freed === 'data' ? grad : data);
      }
    }
  });

  test('zeroGrad({ setToNone: false }) and the ball initialisations refuse a freed array rather than write into its memory', () => {
    const p = new Tensor(new Float32Array([1, 2, 3, 4]));
    const g = allocArray(4);
    g.fill(1);
    p.grad = g;
    const opt = new SGD([p], { lr: 0.1 });
    freeArray(g);
    const other = allocArray(4); // may take g's memory (WebAssembly)
    other.fill(7);
    expect(() => opt.zeroGrad({ setToNone: false })).toThrow(/param group 0, params\[0\]\.grad .*freeArray\(\)/);
    expect(Array.from(other)).toEqual([7, 7, 7, 7]);
    opt.zeroGrad(); // setToNone: nothing is written, so nothing to refuse
    expect(p.grad).toBeNull();
    const d = allocArray(3);
    const t = new Tensor(d);
    freeArray(d);
    const another = allocArray(3);
    another.fill(5);
    for (const init of [uniformLikeL1NBall_, uniformLikeL2NBall_, uniformLikeLinfNBall_]) {
      expect(() => init(t, { generator: new Generator(0) })).toThrow(/the tensor's data .*freeArray\(\)/);
    }
    expect(Array.from(another)).toEqual([5, 5, 5]);
    // An empty array once freed is refused by a step as well, on either backend.
    const empty = allocArray(0);
    const e = new Tensor(empty, [3, 0]);
    e.grad = new Float32Array(0);
    const emptyOpt = new SGD([e], { lr: 0.1 });
    freeArray(empty);
    expect(() => emptyOpt.step()).toThrow(/params\[0\]\.data .*freeArray\(\)/);
    freeArray(other);
    freeArray(another);
  });

  test('a gradient that shares memory with its parameter is refused at assignment', () => {
    for (const allocated of [false, true]) {
      const a = allocated ? allocArray(16) : new Float32Array(16);
      a.fill(1);
      const t = new Tensor(a.subarray(0, 8), [2, 4]);
      expect(() => (t.grad = a.subarray(0, 8))).toThrow(/grad must not share memory with the tensor's data/);
      expect(() => (t.grad = a.subarray(7, 15))).toThrow(RangeError);
      expect(t.grad).toBeNull();
      // The rest of the same buffer is memory of its own.
      t.grad = a.subarray(8, 16);
      new L2ProjectedOptim([t], { lr: 0.1, epsilon: 1 }).step();
      expect(t.grad[0]).toBeCloseTo(0.5, 6);
      if (allocated) freeArray(a);
    }
  });

  test('golden cases give the reference results in allocArray arrays too', () => {
    for (const c of loadGolden('l2proj.json')) runGolden(c, { allocArrays: true });
  });

  const others = availableBackends().filter((b) => b !== info.backend);
  const crossTest = others.length ? test : test.skip;
  const crossReason = others.length ? '' : ` (skipped: only the ${info.backend} backend loads on this machine)`;
  crossTest(`arrays allocated on ${info.backend} are stepped by an optimizer of the other backend, with the same bits${crossReason}`, () => {
    const make: Make = (p) => new L2ProjectedOptim(p, { InnerOpt: Adam, lr: 0.05, epsilon: 1 });
    const cols = 4 * SMALL_STEP_ELEMENTS;
    const expected = run(make, cols, false, { data: false, grad: false });
    const data = arrayLike(batch(cols, false), true);
    const t = new Tensor(data, [4, cols]);
    setBackend(others[0]);
    try {
      const opt = make([t]);
      for (let step = 0; step < 3; step++) {
        t.grad = gradient(step, data);
        opt.step();
      }
    } finally {
      setBackend(info.backend);
    }
    expectSameBits(data, expected[0], 'params');
    freeArray(data);
  });
});
