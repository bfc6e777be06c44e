// SPDX-License-Identifier: MIT
// The fast paths give the same bits as the slow ones: fused group steps equal
// one kernel per operation, small steps (plain TypeScript) equal the backend,
// any number of threads equals one; stepAsync equals step and locks its
// tensors while it runs. (Speed itself is measured by `npm run bench`.)
import {
  Adagrad, Adam, AdamW, ChainedParamTransformingOptimizer, ClampedGradientOptimizer, ClampedParameterOptimizer, FrankWolfe, Generator,
  L1FrankWolfe, L1NormedGradientOptim, L1qNormedGradientOptim, L2FrankWolfe, L2NormedGradientOptim, L2ProjectedOptim, LinfFrankWolfe,
  LinfProjectedOptim, Optimizer, RMSprop, SGD, SignedGradientOptim, Tensor, allocArray, backendInfo, freeArray, getNumThreads, partial, setNumThreads,
} from '../ts';
import { SMALL_STEP_ELEMENTS, setFusedSteps } from '../ts/optim/optimizer';
import { expectSameBits, filled } from './helpers';

// Bound once: in jest's sandbox each global lookup (Math) in a loop over a
// million elements costs tens of milliseconds.
const { sin, cos } = Math;

const where = `${backendInfo().backend} (${backendInfo().isa})`;

type Make = (params: Tensor[]) => Optimizer;

const CONFIGS: [string, Make][] = [
  ['SGD', (p) => new SGD(p, { lr: 0.1, momentum: 0.9, dampening: 0.1, weightDecay: 0.01 })],
  ['Adam', (p) => new Adam(p, { lr: 0.01, amsgrad: true, maximize: true })],
  ['L2ProjectedOptim[SGD nesterov]', (p) => new L2ProjectedOptim(p, { lr: 0.3, momentum: 0.9, nesterov: true, epsilon: 2, gradScale: 0.5, gradBias: 0.01 })],
  ['L2ProjectedOptim[Adam]', (p) => new L2ProjectedOptim(p, { InnerOpt: Adam, lr: 0.05, epsilon: 1.5, weightDecay: 0.1 })],
  ['L2ProjectedOptim[AdamW]', (p) => new L2ProjectedOptim(p, { InnerOpt: AdamW, lr: 0.05, epsilon: 3, paramNdim: null })],
  ['L2ProjectedOptim[RMSprop]', (p) => new L2ProjectedOptim(p, { InnerOpt: partial(RMSprop, { centered: true, momentum: 0.5 }), lr: 0.01, epsilon: 1, paramNdim: 0 })],
  ['L2ProjectedOptim[Adagrad]', (p) => new L2ProjectedOptim(p, { InnerOpt: Adagrad, lr: 0.1, epsilon: 0.7, paramNdim: 1 })],
  ['L2NormedGradientOptim[Adam]', (p) => new L2NormedGradientOptim(p, { InnerOpt: Adam, lr: 0.01, gradBias: -0.001 })],
  ['L2FrankWolfe', (p) => new L2FrankWolfe(p, { epsilon: 1.5 })],
  ['L2FrankWolfe, a fixed lr, paramNdim null', (p) => new L2FrankWolfe(p, { epsilon: 3, lr: 0.2, useDefaultLrSchedule: false, paramNdim: null })],
  ['LinfFrankWolfe', (p) => new LinfFrankWolfe(p, { epsilon: 0.25, lr: 1.5 })],
  ['FrankWolfe', (p) => new FrankWolfe(p, { lr: 0.7, lmoScalingFactor: 2 })],
  ['LinfProjectedOptim[SGD momentum], gradScale and gradBias', (p) => new LinfProjectedOptim(p, { lr: 0.05, momentum: 0.9, epsilon: 0.3, gradScale: 0.5, gradBias: 0.01 })],
  ['LinfProjectedOptim[Adam], paramNdim -1', (p) => new LinfProjectedOptim(p, { InnerOpt: Adam, lr: 0.01, epsilon: 0.2, paramNdim: -1 })],
  ['SignedGradientOptim[RMSprop]', (p) => new SignedGradientOptim(p, { InnerOpt: RMSprop, lr: 0.01 })],
];

/** Parameters of several shapes and both dtypes, one without a gradient at odd steps. */
function makeParams(scale: number): Tensor[] {
  const n = Math.max(SMALL_STEP_ELEMENTS, 600) * scale;
  return [
    new Tensor(filled(Float32Array, 4 * n, (i) => sin(i * 0.37) * 2), [4, 2, n / 2]),
    new Tensor(filled(Float32Array, 3 * 17, (i) => cos(i)), [3, 17]),
    new Tensor(filled(Float64Array, 2 * n + 3, (i) => sin(i * 0.11)), [2 * n + 3]),
  ];
}

function run(make: Make, steps: number, scale = 1): Tensor[] {
  const params = makeParams(scale);
  // Float32 and float64 tensors in one group would need one optimizer per dtype in torch too: split them.
  const opt32 = make(params.slice(0, 2));
  const opt64 = make(params.slice(2));
  for (let k = 0; k < steps; k++) {
    params.forEach((p, i) => {
      if (i === 1 && k % 2 === 1) {
        p.grad = null;
        return;
      }
      const g = p.dtype === 'float64' ? new Float64Array(p.numel) : new Float32Array(p.numel);
      for (let j = 0; j < g.length; j++) g[j] = sin(j * 0.7 + k) * (j % 5) + (j % 13 === 0 ? 0 : 0.01 * k);
      p.grad = g;
    });
    opt32.step();
    opt64.step();
  }
  return params;
}

/**
 * Runs `run` with the fused steps, then with one kernel per operation, and
 * expects the same bits in every parameter and gradient; returns the fused
 * run's tensors.
 */
function expectFusedMatchesUnfused(run: () => Tensor[], what = ''): Tensor[] {
  const fused = run();
  setFusedSteps(false);
  try {
    const unfused = run();
    fused.forEach((p, i) => {
      expectSameBits(p.data, unfused[i].data, `param ${i}${what}`);
      if (p.grad) expectSameBits(p.grad, unfused[i].grad!, `grad ${i}${what}`);
    });
  } finally {
    setFusedSteps(true);
  }
  return fused;
}

/** Float32 arrays from allocArray for one test, `offset` elements into their allocation; freeAll() frees them. */
function allocArrays() {
  const allocated: Float32Array[] = [];
  return {
    array(length: number, value: (i: number) => number, offset = 0): Float32Array {
      const base = allocArray(length + offset) as Float32Array;
      allocated.push(base);
      const a = base.subarray(offset);
      for (let i = 0; i < length; i++) a[i] = value(i);
      return a;
    },
    freeAll(): void {
      for (const a of allocated) freeArray(a);
    },
  };
}

describe(`fused group steps on ${where}`, () => {
  afterEach(() => setFusedSteps(true));

  test.each(CONFIGS)('%s: fused equals one kernel per operation, bit for bit', (_name, make) => {
    expectFusedMatchesUnfused(() => run(make, 4));
  });

  // Groups larger than a block of the WebAssembly backend's staged step (64K
  // elements): rows that split into several blocks with a partial last one,
  // rows longer than a block, per-row radii and state buffers at each
  // block's offset. The same bits as one kernel per operation on every backend.
  const LARGE: [string, Make][] = [
    ['L2ProjectedOptim[SGD momentum]', (p) => new L2ProjectedOptim(p, { lr: 0.2, momentum: 0.9, epsilon: 3 })],
    ['L2ProjectedOptim[Adam], per-row radii', (p) => new L2ProjectedOptim(p, { InnerOpt: Adam, lr: 0.05, epsilon: Array.from({ length: 3 }, (_, i) => 0.5 + i) })],
    ['L2NormedGradientOptim[RMSprop]', (p) => new L2NormedGradientOptim(p, { InnerOpt: partial(RMSprop, { centered: true }), lr: 0.01 })],
    ['L2FrankWolfe', (p) => new L2FrankWolfe(p, { epsilon: 0.5, lr: 1 })],
    ['LinfProjectedOptim[SGD], per-row radii', (p) => new LinfProjectedOptim(p, { lr: 0.02, epsilon: [0.01, 0.05, 1], paramNdim: -1 })],
    // Elementwise, rows longer than a block: staged in pieces of rows on WebAssembly, cut across threads natively.
    ['LinfProjectedOptim[Adam]', (p) => new LinfProjectedOptim(p, { InnerOpt: Adam, lr: 0.02, epsilon: 0.05, paramNdim: -1 })],
    ['SGD momentum', (p) => new SGD(p, { lr: 0.02, momentum: 0.9 })],
  ];
  test.each(LARGE)('%s over blocks of a large group: fused equals one kernel per operation', (_name, make) => {
    const runLarge = () => {
      const shapes = [[3, 100, 700], [3, 70001]];
      const params = shapes.map((s, k) => new Tensor(filled(Float32Array, s.reduce((a, b) => a * b), (i) => sin(i * 0.013 + k) * 0.05), s));
      const opt = make(params);
      for (let step = 0; step < 3; step++) {
        for (const p of params) p.grad = filled(Float32Array, p.numel, (i) => cos(i * 0.7 + step) * ((i % 7) - 3));
        opt.step();
      }
      return params;
    };
    const fused = expectFusedMatchesUnfused(runLarge);
    for (const p of fused) expect(p.grad).not.toBeNull();
    // And the steps did move the parameters (two untouched copies would also be equal).
    expect(fused[1].data[5]).not.toBe(Math.fround(sin(5 * 0.013 + 1) * 0.05));
  });

  // Rows of 64K elements or more take the pipelined sweep (each row's update
  // also sums the next row's gradient, and rescales the previous row). Over
  // ordinary arrays the WebAssembly backend stages such rows one per call, so
  // only arrays from allocArray (stepped in place, the whole group in one
  // call) reach that path there. Each row's sweep starts at its p's first
  // vector-aligned element and the next row's sum at its g's: with p one
  // element past a boundary and rows of 65538, the rows start at different
  // offsets, and on simd128 the next row's sum has a whole block left when the
  // sweep's last piece ends (native ISAs get these cases in ctest).
  test.each(LARGE.slice(0, 2))('%s over long rows in allocArray arrays: fused equals one kernel per operation', (_name, make) => {
    const rows = 3; // (the per-row radii above are three)
    const cols = 65538;
    const arrays = allocArrays();
    const runLong = () => {
      const p = new Tensor(arrays.array(rows * cols, (i) => sin(i * 0.011) * 0.03, 1), [rows, cols]);
      const opt = make([p]);
      for (let step = 0; step < 3; step++) {
        p.grad = arrays.array(rows * cols, (i) => cos(i * 0.5 + step) * ((i % 5) - 2));
        opt.step();
      }
      return [p];
    };
    try {
      const [fused] = expectFusedMatchesUnfused(runLong);
      expect(fused.grad).not.toBeNull();
      // The steps moved every row.
      for (let r = 0; r < rows; r++) expect(fused.data[r * cols + 7]).not.toBe(Math.fround(sin((r * cols + 7) * 0.011) * 0.03));
    } finally {
      arrays.freeAll();
    }
  });

  // Ordinary arrays are only 16-byte aligned, so a gradient may sit half an
  // AVX2 vector off its parameter, where the native sweeps store it through
  // realigned vectors: p and g in one buffer, g 0, 16, 32 and 48 bytes past
  // p's offset within a 64-byte line; rows that start their vectors at 0, at
  // p's first aligned element, and pipelined ones; L2 and L-inf steps; both dtypes.
  test.each(['float32', 'float64'] as const)('a gradient at each 16-byte offset from its parameter (%s): fused equals one kernel per operation', (dtype) => {
    const Arr = dtype === 'float64' ? Float64Array : Float32Array;
    const shapes = [[3, 300], [3, 1031], [3, 65536 + 40]]; // (three rows: the per-row radii of LARGE[1])
    for (const [rows, cols] of shapes) {
      for (const shift of [0, 16, 32, 48]) {
        for (const [name, make] of [...LARGE.slice(0, 3), ...LARGE.slice(4, 6)]) {
          const runShifted = () => {
            const n = rows * cols;
            // p, then each step's gradient, in slots of whole 64-byte lines; a gradient `shift` bytes into its slot.
            const slot = Math.ceil((n * Arr.BYTES_PER_ELEMENT) / 64) * 64;
            const buffer = new ArrayBuffer(3 * slot + 64);
            const p = new Tensor(new Arr(buffer, 0, n).map((_, i) => sin(i * 0.011) * 0.03), [rows, cols]);
            const opt = make([p]);
            for (let step = 0; step < 2; step++) {
              const g = new Arr(buffer, (1 + step) * slot + shift, n);
              for (let i = 0; i < n; i++) g[i] = cos(i * 0.5 + step) * ((i % 5) - 2);
              p.grad = g;
              opt.step();
            }
            return [p];
          };
          const [fused] = expectFusedMatchesUnfused(runShifted, ` (${name}, ${rows}x${cols}, g ${shift} bytes on)`);
          // The steps moved the parameter, and its gradient was normalised (a
          // row's norm is 1) or replaced by its sign.
          expect(fused.data[8]).not.toBe(new Arr([sin(8 * 0.011) * 0.03])[0]);
          const row = fused.grad!.subarray(0, cols);
          if (name.startsWith('Linf')) expect(row.every((v) => v === 1 || v === -1 || v === 0)).toBe(true);
          else expect(Math.hypot(...row)).toBeCloseTo(1, 5);
        }
      }
    }
  });

  // A tensor in allocArray arrays takes one call on WebAssembly, except that
  // per-row radii are staged 8192 rows at a time: more rows than that, with a
  // radius per row, give the bits of one kernel per operation.
  test('per-row radii over more rows than one call takes, in allocArray arrays', () => {
    const rows = 20000;
    const cols = 3;
    const radii = Array.from({ length: rows }, (_, r) => 0.2 + (r % 97) * 0.01);
    const arrays = allocArrays();
    const runRows = () => {
      const p = new Tensor(arrays.array(rows * cols, (i) => sin(i * 0.37) * 0.5), [rows, cols]);
      const opt = new L2ProjectedOptim([p], { lr: 0.3, momentum: 0.5, epsilon: radii });
      for (let step = 0; step < 2; step++) {
        p.grad = arrays.array(rows * cols, (i) => cos(i * 0.9 + step));
        opt.step();
      }
      return [p];
    };
    try {
      const [fused] = expectFusedMatchesUnfused(runRows);
      expect(fused.grad).not.toBeNull();
      // Rows past the first 8192 were projected to their own radius.
      for (const r of [8191, 8192, 19999]) {
        const norm = Math.hypot(...fused.data.subarray(r * cols, (r + 1) * cols));
        expect(norm).toBeLessThanOrEqual(radii[r] * (1 + 1e-6));
      }
    } finally {
      arrays.freeAll();
    }
  });

  // One-element rows (1-D parameters under paramNdim -1) take a vector path
  // in the fused kernels: the same bits on the values where it could differ.
  test.each(['float32', 'float64'] as const)('one-element rows (%s): fused equals one kernel per operation, special values included', (dtype) => {
    const special = [0, -0, NaN, Infinity, -Infinity, 1e-45, -5e-324, 3e38, -1e300, 1, -1, 0.5, 1.5, -2.25];
    const make = (k: number) => {
      const values = Array.from({ length: 1000 }, (_, i) => (i % 3 === 0 ? special[(i / 3 + k) % special.length] : sin(i * 0.3 + k) * 3));
      return dtype === 'float64' ? Float64Array.from(values) : Float32Array.from(values);
    };
    const runUnit = (options: Record<string, unknown>) => {
      const x = new Tensor(make(0), [1000]);
      const opt = new L2ProjectedOptim([x], { lr: 0.7, epsilon: 1.2, momentum: 0.5, ...options });
      for (let step = 1; step <= 3; step++) {
        x.grad = make(step);
        opt.step();
      }
      return x;
    };
    for (const options of [{}, { gradScale: 0.5, gradBias: -0.25 }, { gradScale: 2 }, { gradBias: 0.125 }]) {
      const [fused] = expectFusedMatchesUnfused(() => [runUnit(options)], ` with ${JSON.stringify(options)}`);
      expect(fused.grad).not.toBeNull();
      // The projection bound each finite element to [-1.2, 1.2] (rounded to the dtype).
      expect(fused.data.every((v) => Number.isNaN(v) || Math.abs(v) <= 1.2 + 1e-6)).toBe(true);
    }
  });

  test('a small step runs in plain TypeScript and gives the same bits as the backend', () => {
    const small = () => {
      const x = new Tensor(new Float32Array([-1, 1, 0.5, 3]), [2, 2]);
      const opt = new L2ProjectedOptim([x], { InnerOpt: Adam, lr: 0.5, epsilon: 0.8 });
      for (let k = 0; k < 3; k++) {
        x.grad = new Float32Array([2, 2 - k, -1, 0.25 * k]);
        opt.step();
      }
      return x;
    };
    const js = small();
    setFusedSteps(false); // one backend kernel per operation
    const backend = small();
    expectSameBits(js.data, backend.data, 'small step');
  });

  test('a group mixing float32 and float64 parameters steps each as a group of its own', () => {
    // As a torch group may; the WebAssembly module's group step takes one dtype at a time.
    const make = () => [
      new Tensor(filled(Float32Array, 3 * 300, (i) => sin(i * 0.3) * 2), [3, 300]),
      new Tensor(filled(Float64Array, 2 * 400, (i) => cos(i * 0.7)), [2, 400]),
      new Tensor(filled(Float32Array, 7, (i) => i - 3), [7]),
    ];
    const setGrads = (k: number, ts: Tensor[]) => ts.forEach((t) => {
      const values = Array.from({ length: t.numel }, (_, i) => sin(3 * i + k) + 0.1 * k);
      t.grad = t.dtype === 'float64' ? Float64Array.from(values) : Float32Array.from(values);
    });
    const options = { InnerOpt: Adam, lr: 0.05, epsilon: 1.5 };
    const mixed = make();
    const mixedOpt = new L2ProjectedOptim(mixed, options);
    const alone = make();
    const aloneOpts = alone.map((t) => new L2ProjectedOptim([t], options));
    for (let k = 0; k < 3; k++) {
      setGrads(k, mixed);
      setGrads(k, alone);
      mixedOpt.step();
      aloneOpts.forEach((o) => o.step());
    }
    mixed.forEach((t, i) => expectSameBits(t.data, alone[i].data, `parameter ${i} (${t.dtype})`));
  });

  test.each([40, 300])('a group of %i tensors: fused equals one kernel per operation', (count) => {
    // The native backend passes up to 256 tensors' arrays to the addon as
    // call arguments and larger groups as one Array: both ways give the bits.
    const runMany = () => {
      const params = Array.from({ length: count }, (_, t) => new Tensor(filled(Float32Array, 2 * 9, (i) => sin(i + t) * 0.4), [2, 9]));
      const opt = new L2ProjectedOptim(params, { lr: 0.3, momentum: 0.5, epsilon: 0.6 });
      for (let k = 0; k < 2; k++) {
        params.forEach((p, t) => (p.grad = filled(Float32Array, p.numel, (i) => cos(i * 0.9 + t + k))));
        opt.step();
      }
      return params;
    };
    const fused = expectFusedMatchesUnfused(runMany);
    expect(fused[count - 1].data[0]).not.toBe(Math.fround(sin(count - 1) * 0.4));
  });

  test('LinfProjectedOptim also clamps a parameter without a gradient, as the reference does (its post-step transform runs on every parameter)', () => {
    const values = (i: number) => ((i % 5) - 2) * 0.5; // -1 .. 1
    const a = new Tensor(filled(Float32Array, 4096, (i) => values(i)), [4, 1024]);
    const b = new Tensor(filled(Float32Array, 4096, (i) => values(i + 1)), [4, 1024]);
    a.grad = filled(Float32Array, 4096, (i) => sin(i));
    new LinfProjectedOptim([a, b], { lr: 0.1, epsilon: 0.3 }).step();
    const clamp = (v: number) => Math.fround(Math.min(0.3, Math.max(-0.3, v)));
    expect(Array.from(b.data)).toEqual(Array.from({ length: 4096 }, (_, i) => clamp(values(i + 1))));
    expect(b.grad).toBeNull();
    expect(Math.max(...a.data.map(Math.abs))).toBe(Math.fround(0.3));
  });

  // (SGD and LinfProjectedOptim with paramNdim null have tensors of one long row, cut inside it across threads.
  // The last four's transforms are kernels of their own, cut across threads too: top-q, the L1 LMO, L2 and L1
  // normalisation and renorm by rows; sign, clamp and gradScale/gradBias by elements.)
  test.each([
    CONFIGS[0], CONFIGS[3], CONFIGS[8], CONFIGS[12], CONFIGS[13],
    ['L1qNormedGradientOptim[Adam] (kernels of their own)', (p: Tensor[]) => new L1qNormedGradientOptim(p, { InnerOpt: Adam, lr: 0.01, q: 0.5 })],
    ['L1FrankWolfe (kernels of their own)', (p: Tensor[]) => new L1FrankWolfe(p, { epsilon: 2 })],
    ['ClampedParameterOptimizer[SGD], gradScale and gradBias (kernels of their own)', (p: Tensor[]) =>
      new ClampedParameterOptimizer(p, { lr: 0.1, clampMin: -0.8, clampMax: 0.8, gradScale: 0.5, gradBias: 0.01 })],
    ['a chain: L2NormedGradientOptim, then L2ProjectedOptim (kernels of their own)', (p: Tensor[]) =>
      new ChainedParamTransformingOptimizer(p, { chain: [L2NormedGradientOptim, partial(L2ProjectedOptim, { epsilon: 2 })], lr: 0.1 })],
  ] as [string, Make][])('%s: any number of threads gives the bits of one thread', (_name, make) => {
    const before = getNumThreads();
    try {
      setNumThreads(1);
      const one = run(make, 2, 200); // groups above the 256K-element threshold
      setNumThreads(4);
      const four = run(make, 2, 200);
      one.forEach((p, i) => expectSameBits(p.data, four[i].data, `param ${i}`));
      one.forEach((p, i) => p.grad && expectSameBits(p.grad, four[i].grad!, `grad ${i}`));
    } finally {
      setNumThreads(before);
    }
  });

  test('setNumThreads checks its argument', () => {
    expect(() => setNumThreads(0)).toThrow(RangeError);
    expect(() => setNumThreads(1.5)).toThrow(TypeError);
    expect(() => setNumThreads('2' as never)).toThrow(TypeError);
    expect(getNumThreads()).toBeGreaterThanOrEqual(1);
  });
});

describe(`stepAsync on ${where}`, () => {
  const big = () => new Tensor(filled(Float32Array, 64 * 4096, (i) => sin(i)), [64, 4096]);
  const grad = (n: number) => filled(Float32Array, n, (i) => cos(i * 0.3));

  const ASYNC_CONFIGS: [string, Make][] = [
    ['L2ProjectedOptim[Adam]', (p) => new L2ProjectedOptim(p, { InnerOpt: Adam, lr: 0.01, epsilon: 20 })],
    ['L2FrankWolfe', (p) => new L2FrankWolfe(p, { epsilon: 20 })],
    ['LinfProjectedOptim[Adam]', (p) => new LinfProjectedOptim(p, { InnerOpt: Adam, lr: 0.01, epsilon: 0.5 })],
    // Transforms that are kernels of their own (not fused): recorded, then run as one batch.
    ['L1NormedGradientOptim[SGD]', (p) => new L1NormedGradientOptim(p, { lr: 50, paramNdim: -1 })],
    ['L1qNormedGradientOptim[RMSprop], q drawn each step', (p) => new L1qNormedGradientOptim(p, { InnerOpt: RMSprop, lr: 0.01, q: 0.5, dq: 0.25, generator: new Generator(11) })],
    ['L1FrankWolfe', (p) => new L1FrankWolfe(p, { epsilon: 2 })],
    ['ClampedParameterOptimizer[Adagrad]', (p) => new ClampedParameterOptimizer(p, { InnerOpt: Adagrad, lr: 0.1, clampMin: -0.5, clampMax: 0.5 })],
    ['a chain: ClampedGradientOptimizer, then L2ProjectedOptim, with SGD momentum', (p) =>
      new ChainedParamTransformingOptimizer(p, { chain: [partial(ClampedGradientOptimizer, { clampMin: -0.5, clampMax: 0.5 }), partial(L2ProjectedOptim, { epsilon: 20 })], lr: 0.1, momentum: 0.9 })],
  ];

  test.each(ASYNC_CONFIGS)('%s: gives the same result as step(), and returns the closure value', async (_name, make) => {
    const a = big();
    const b = big();
    const oa = make([a]);
    const ob = make([b]);
    for (let k = 0; k < 2; k++) {
      a.grad = grad(a.numel);
      b.grad = grad(b.numel);
      oa.step();
      await expect(ob.stepAsync(() => 7)).resolves.toBe(7);
    }
    expectSameBits(b.data, a.data, 'stepAsync vs step');
  });

  test('groups of as many tensors but other shapes and options each keep their own per-tensor spec', async () => {
    // (step() refills one spec array per tensor count; the recorded calls of
    // stepAsync() are read only once all are recorded, so each needs its own.)
    const make = () => [new Tensor(filled(Float32Array, 64 * 600, (i) => sin(i)), [64, 600]), new Tensor(filled(Float32Array, 300 * 7, (i) => cos(i)), [300, 7])];
    const groups = (t: Tensor[]) => [{ params: [t[0]] }, { params: [t[1]], lr: 0.05, betas: [0.8, 0.9] }];
    const a = make();
    const b = make();
    const oa = new L2ProjectedOptim(groups(a), { InnerOpt: Adam, lr: 0.01, epsilon: 3, paramNdim: -1 });
    const ob = new L2ProjectedOptim(groups(b), { InnerOpt: Adam, lr: 0.01, epsilon: 3, paramNdim: -1 });
    for (let k = 0; k < 3; k++) {
      [...a, ...b].forEach((t) => { t.grad = grad(t.numel); });
      oa.step();
      await ob.stepAsync();
    }
    a.forEach((t, i) => expectSameBits(b[i].data, t.data, `stepAsync vs step, tensor ${i}`));
  });

  test('a transform written in JavaScript (a subclass of its own) runs on the JavaScript thread and still equals step()', async () => {
    // It reads the gradient and (after the inner step) the parameter, so it
    // cannot be recorded and run later.
    class Centered extends L2ProjectedOptim {
      protected override preStepTransform(param: Tensor): void {
        const g = param.grad!;
        let sum = 0;
        for (let i = 0; i < g.length; i++) sum += g[i];
        const mean = sum / g.length;
        for (let i = 0; i < g.length; i++) g[i] -= mean;
      }

      protected override postStepTransform(param: Tensor): void {
        const p = param.data;
        for (let i = 0; i < p.length; i++) p[i] = Math.tanh(p[i]);
      }
    }
    const a = big();
    const b = big();
    const oa = new Centered([a], { lr: 0.1, epsilon: 20 });
    const ob = new Centered([b], { lr: 0.1, epsilon: 20 });
    for (let k = 0; k < 2; k++) {
      a.grad = grad(a.numel);
      b.grad = grad(b.numel);
      oa.step();
      await ob.stepAsync();
    }
    expectSameBits(b.data, a.data, 'stepAsync vs step');
  });

  test('while it runs, the optimizer and its tensors refuse to be used', async () => {
    const x = big();
    const opt = new L2ProjectedOptim([x], { lr: 0.1, epsilon: 10 });
    x.grad = grad(x.numel);
    const pending = opt.stepAsync();
    expect(x.busy).toBe(true);
    expect(() => x.data).toThrow(/stepAsync\(\) is running/);
    expect(() => x.grad).toThrow(/stepAsync\(\) is running/);
    expect(() => { x.grad = null; }).toThrow(/stepAsync\(\) is running/);
    expect(() => opt.step()).toThrow(/cannot step while a stepAsync/);
    expect(() => opt.zeroGrad()).toThrow(/cannot zeroGrad/);
    expect(() => opt.stateDict()).toThrow(/cannot stateDict/);
    expect(() => opt.addParamGroup({ params: [big()] })).toThrow(/cannot addParamGroup/);
    await expect(opt.stepAsync()).rejects.toThrow(/cannot stepAsync/);
    await pending;
    expect(x.busy).toBe(false);
    expect(x.data.length).toBe(64 * 4096);
    opt.step(); // usable again
  });

  (backendInfo().backend === 'native' ? test.each : test.skip.each)(ASYNC_CONFIGS)(
    'native, %s: the step runs off the JavaScript thread (the event loop answers meanwhile); skipped on WebAssembly, which steps on the JavaScript thread by design',
    async (_name, make) => {
      const x = new Tensor(filled(Float32Array, 8 << 20, (i) => (i % 7) - 3), [64, 1 << 17]);
      const opt = make([x]);
      x.grad = new Float32Array(x.numel).fill(0.5);
      const events: string[] = [];
      setImmediate(() => events.push('event loop'));
      await opt.stepAsync().then(() => events.push('step done'));
      expect(events).toEqual(['event loop', 'step done']);
    },
  );

  (backendInfo().backend === 'native' ? test : test.skip)(
    "native: a buffer posted with transfer while the step writes it is copied, not moved, so the step's memory stays alive; skipped on WebAssembly, whose step is over before stepAsync() returns",
    async () => {
      const x = big();
      const twin = big();
      const opt = new L2ProjectedOptim([x], { InnerOpt: Adam, lr: 0.01, epsilon: 20 });
      const twinOpt = new L2ProjectedOptim([twin], { InnerOpt: Adam, lr: 0.01, epsilon: 20 });
      const data = x.data;
      x.grad = grad(x.numel);
      twin.grad = grad(twin.numel);
      const pending = opt.stepAsync();
      expect(x.busy).toBe(true); // in flight on the worker
      const buffer = data.buffer as ArrayBuffer;
      structuredClone(buffer, { transfer: [buffer] });
      const { port1, port2 } = new MessageChannel();
      port1.postMessage(buffer, [buffer]);
      port1.close();
      port2.close();
      expect(data.length).toBe(x.numel); // still attached: both transfers copied
      await pending;
      twinOpt.step();
      expectSameBits(x.data, twin.data, 'a step whose buffer was posted away meanwhile');
    },
  );

  test("a step small enough to run on the JavaScript thread (the seed's) still locks its optimizer and tensors until the promise settles", async () => {
    const x = new Tensor(Float32Array.of(1, 2), [2]);
    const opt = new L2ProjectedOptim([x], { InnerOpt: SGD, epsilon: 1, lr: 0.1, paramNdim: null });
    x.grad = Float32Array.of(1, 1);
    const pending = opt.stepAsync();
    expect(x.busy).toBe(true);
    expect(() => opt.step()).toThrow(/cannot step while a stepAsync/);
    expect(() => x.data).toThrow(/stepAsync\(\) is running/);
    await pending;
    expect(x.busy).toBe(false);
    const twin = new Tensor(Float32Array.of(1, 2), [2]);
    twin.grad = Float32Array.of(1, 1);
    new L2ProjectedOptim([twin], { InnerOpt: SGD, epsilon: 1, lr: 0.1, paramNdim: null }).step();
    expectSameBits(x.data, twin.data, 'stepAsync vs step');
  });

  test('a failing step unlocks the tensors', async () => {
    const x = big();
    const opt = new L2ProjectedOptim([x], { lr: 0.1, epsilon: 10 });
    (x as unknown as { _grad: Float32Array })._grad = new Float32Array(3);
    await expect(opt.stepAsync()).rejects.toThrow(RangeError);
    expect(x.busy).toBe(false);
  });
});
