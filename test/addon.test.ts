// SPDX-License-Identifier: MIT
// The native addon's own checks, called directly as any JavaScript could call
// it (require('lp-optim/build/Release/lp_optim.node')): every wrong type,
// length, shape, overlap and hostile array gives a TypeError or RangeError
// that names the function and argument, and leaves every array as it was. The
// optimizers check first in TypeScript; these are the checks behind them.
import * as path from 'path';
import { NativeAddon } from '../ts/backend/native';
import { FloatArray } from '../ts/types';
import { GroupTensor, InnerKind, NO_TRANSFORM, Projection, Transform, groupSpec, tensorSpec } from '../ts/backend/groupStep';
import { groupStep as referenceGroupStep } from '../ts/backend/reference';

// CI builds the addon (kernels.test.ts checks that both backends load), and
// the checks do not depend on the backend a run forces, so every run tests it.
const addon = require('node-gyp-build')(path.join(__dirname, '..')) as NativeAddon;

const f32 = (...xs: number[]) => Float32Array.from(xs);

/** Runs call, expects it to throw `Err` with a message matching `message`, and checks that no array changed. */
function expectRefused(call: () => unknown, Err: ErrorConstructor, message: RegExp, arrays: ArrayLike<number>[] = []): void {
  const before = arrays.map((a) => Array.from(a));
  let thrown: unknown = null;
  try {
    call();
  } catch (e) {
    thrown = e;
  }
  // By name: the addon's errors come from Node's own realm, not jest's sandbox.
  expect((thrown as Error)?.constructor?.name).toBe(Err.name);
  expect((thrown as Error).message).toMatch(message);
  arrays.forEach((a, i) => expect(Array.from(a)).toEqual(before[i]));
}

describe("the native addon's alignedByteOffset (allocArray's placement)", () => {
  test('gives the offset to the first aligned address: arrays from allocArray start on a 64-byte boundary', () => {
    const { allocArray, freeArray, setBackend, getBackend } = require('../ts') as typeof import('../ts');
    const before = getBackend();
    setBackend('native');
    try {
      for (const [dtype, n] of [['float32', 1], ['float32', 1000], ['float64', 3], ['float32', 0]] as const) {
        const a = allocArray(n, dtype);
        expect(a.length).toBe(n);
        expect(a).toBeInstanceOf(dtype === 'float64' ? Float64Array : Float32Array);
        expect(Array.from(a).every((v) => v === 0)).toBe(true);
        // Its first element is at an address that is a multiple of 64: no further offset is needed from there.
        if (n > 0) expect(addon.alignedByteOffset(a.buffer as ArrayBuffer, 64)).toBe(a.byteOffset);
        freeArray(a);
      }
    } finally {
      setBackend(before);
    }
    for (const alignment of [1, 2, 16, 64, 4096]) {
      const offset = addon.alignedByteOffset(new ArrayBuffer(100), alignment);
      expect(offset).toBeGreaterThanOrEqual(0);
      expect(offset).toBeLessThan(alignment);
    }
    expect(addon.alignedByteOffset(new ArrayBuffer(0), 64)).toBe(0);
  });

  test('refuses what is not an ArrayBuffer and a power of two up to 4096', () => {
    for (const bad of [null, 3, new Float32Array(4), new SharedArrayBuffer(8), 'x']) {
      expectRefused(() => addon.alignedByteOffset(bad as never, 64), TypeError, /^alignedByteOffset: buffer must be an ArrayBuffer/);
    }
    for (const bad of [0, 3, 48, 8192, -64, 1.5, NaN, Infinity]) {
      expectRefused(() => addon.alignedByteOffset(new ArrayBuffer(8), bad), RangeError, /^alignedByteOffset: alignment must be a power of two/);
    }
    expectRefused(() => addon.alignedByteOffset(new ArrayBuffer(8), '64' as never), TypeError, /^alignedByteOffset: buffer must be an ArrayBuffer and alignment a number/);
  });
});

describe('the native addon refuses bad arguments itself', () => {
  test('an array argument that is not a float typed array', () => {
    const x = f32(1, 2, 3, 4);
    for (const bad of [null, undefined, 3, 'x', [1, 2, 3, 4], new Int32Array(4), new Uint8Array(16), new ArrayBuffer(16), new DataView(new ArrayBuffer(16))]) {
      expectRefused(() => addon.normalizeRowsL2(bad as never, 2, 2, 1e-12), TypeError, /^normalizeRowsL2: g must be a Float32Array or Float64Array, got /);
      expectRefused(() => addon.signInPlace(bad as never), TypeError, /^signInPlace: g must be/);
      expectRefused(() => addon.rowNormsL2(x, 2, 2, bad as never), TypeError, /^rowNormsL2: out must be a Float32Array like x/, [x]);
    }
  });

  test('shapes: negative, fractional, NaN, unsafe and overflowing rows and cols', () => {
    const g = f32(1, 2, 3, 4);
    expectRefused(() => addon.normalizeRowsL2(g, -1, 4, 0), RangeError, /rows must be a non-negative safe integer, got -1/, [g]);
    expectRefused(() => addon.normalizeRowsL2(g, 2, 1.5, 0), RangeError, /cols must be a non-negative safe integer, got 1\.5/, [g]);
    expectRefused(() => addon.normalizeRowsL2(g, NaN, 4, 0), RangeError, /rows .* got NaN/, [g]);
    expectRefused(() => addon.normalizeRowsL2(g, 2 ** 53, 1, 0), RangeError, /rows .* got 9007199254740992/, [g]);
    expectRefused(() => addon.normalizeRowsL2(g, 2 ** 52, 2 ** 52, 0), RangeError, /rows \* cols overflows/, [g]);
    expectRefused(() => addon.normalizeRowsL2(g, '2' as never, 2, 0), TypeError, /rows must be a number, got string '2'/, [g]);
    expectRefused(() => addon.normalizeRowsL2(g, 2, 2, null as never), TypeError, /divByZeroEps must be a number, got null/, [g]);
    expectRefused(() => addon.topQSignL1Rows(g, 2, 2, -1, 0), RangeError, /^topQSignL1Rows: keep must be a non-negative safe integer, got -1/, [g]);
    expectRefused(() => addon.topQSignL1Rows(g, 2, 2, 1, '0' as never), TypeError, /^topQSignL1Rows: divByZeroEps must be a number, got string '0'/, [g]);
    expectRefused(() => addon.topQSignL1Rows(g, 3, 2, 1, 0), RangeError, /^topQSignL1Rows: g\.length must be rows \* cols = 6, got 4/, [g]);
  });

  test('lengths that do not match the shape or each other', () => {
    const g = f32(1, 2, 3, 4, 5);
    expectRefused(() => addon.normalizeRowsL2(g, 2, 2, 0), RangeError, /g\.length must be rows \* cols = 4, got 5/, [g]);
    const p = f32(1, 2, 3);
    expectRefused(() => addon.sgdStep(p, f32(1, 2), null, 0.1, 0, 0, 0, false, false, false), RangeError, /sgdStep: g\.length must be p\.length = 3, got 2/, [p]);
    const out = new Float32Array(3);
    expectRefused(() => addon.rowNormsL2(f32(1, 2, 3, 4), 2, 2, out), RangeError, /out\.length must be rows = 2, got 3/, [out]);
  });

  test('a float64 array where a float32 one must go, and a state buffer needed but missing', () => {
    const p = f32(1, 2);
    expectRefused(() => addon.sgdStep(p, Float64Array.from([1, 2]), null, 0.1, 0, 0, 0, false, false, false), TypeError, /sgdStep: g must be a Float32Array like p, got Float64Array of length 2/, [p]);
    expectRefused(() => addon.sgdStep(p, f32(1, 2), null, 0.1, 0.9, 0, 0, false, false, false), TypeError, /buf must be a Float32Array like p when momentum != 0, got null/, [p]);
    expectRefused(() => addon.adamStep(p, f32(1, 2), f32(0, 0), f32(0, 0), null, 0.1, 0.9, 0.999, 1e-8, 0, false, true, false, 0.1, 1), TypeError, /maxExpAvgSq .* when amsgrad is true/, [p]);
  });

  test('arrays that share memory are refused, so no result depends on the vector width', () => {
    const buffer = new Float32Array(8);
    buffer.set([1, 2, 3, 4, 5, 6, 7, 8]);
    const p = buffer.subarray(0, 4);
    const g = buffer.subarray(2, 6); // overlaps p by two elements
    expectRefused(() => addon.sgdStep(p, g, null, 0.1, 0, 0, 0, false, false, false), RangeError, /sgdStep: p and g must not share memory/, [buffer]);
    expectRefused(() => addon.frankWolfeStep(p, g, 0.5, 1), RangeError, /p and g must not share memory/, [buffer]);
    // Adjacent views do not overlap, and step normally.
    addon.sgdStep(buffer.subarray(0, 4), buffer.subarray(4, 8), null, 1, 0, 0, 0, false, false, false);
    expect(Array.from(buffer)).toEqual([-4, -4, -4, -4, 5, 6, 7, 8]);
  });

  test('per-row radii: a Float64Array of one non-negative (or infinite) radius per row', () => {
    const p = f32(3, 4, 6, 8);
    expectRefused(() => addon.renormRowsL2PerRow(p, 2, 2, Float64Array.from([1, NaN])), RangeError, /maxNorms\[1\] must be >= 0 \(Infinity allowed\), got NaN/, [p]);
    expectRefused(() => addon.renormRowsL2PerRow(p, 2, 2, Float64Array.from([1, -1])), RangeError, /maxNorms\[1\] .* got -1/, [p]);
    expectRefused(() => addon.renormRowsL2PerRow(p, 2, 2, f32(1, 1) as never), TypeError, /maxNorms must be a Float64Array, got Float32Array of length 2/, [p]);
    addon.renormRowsL2PerRow(p, 2, 2, Float64Array.from([Infinity, 5]));
    expect(Array.from(p)).toEqual([3, 4, 6, 8].map((v, i) => (i < 2 ? v : Math.fround(v * Math.fround(5 / Math.fround(10 + 1e-7))))));
  });

  test('thread counts and ISA names', () => {
    expectRefused(() => addon.setNumThreads(0), RangeError, /setNumThreads: n must be an integer from 1 to 1024, got 0/);
    expectRefused(() => addon.setNumThreads(2.5), RangeError, /got 2\.5/);
    expectRefused(() => addon.setNumThreads(1025), RangeError, /got 1025/);
    const isa = addon.isa();
    expect(() => addon.setIsa('avx2\u0000x')).toThrow(/unknown ISA 'avx2\?x'/);
    expectRefused(() => addon.setIsa(7 as never), TypeError, /setIsa: name must be a string, got 7/);
    expect(addon.isa()).toBe(isa);
  });
});

describe('the native group step refuses a bad group before writing anything', () => {
  const spec = (momentum = 0) =>
    groupSpec(
      { ...NO_TRANSFORM, transform: Transform.L2Normalize, project: Projection.L2Renorm, divByZeroEps: 1e-12, maxNorm: 1 },
      { kind: InnerKind.SGD, options: [0.1, momentum, 0, 0, 0, 0] },
    );
  const tensor = (p: FloatArray, g: FloatArray, rows: number, cols: number, buf: Float32Array | null = null): GroupTensor => ({
    p, g, rows, cols, s0: 0, s1: 0, maxNorms: null,
    buffers: [buf ? { dtype: 'float32', length: buf.length, read: () => buf.slice(), live: () => buf, write: () => undefined, release: () => undefined } : null, null, null],
  });
  const arraysOf = (ts: GroupTensor[]) => ts.flatMap((t) => [t.p, t.g, t.buffers[0]?.live() ?? null, null, null, t.maxNorms]);
  const fresh = () => {
    const good = tensor(f32(1, 2, 3, 4), f32(0.5, 0.5, 0.5, 0.5), 2, 2);
    return { good, arrays: [good.p, good.g] };
  };

  test('the spec: type, length and values', () => {
    const { good, arrays } = fresh();
    const ts = tensorSpec([good]);
    const list = arraysOf([good]);
    expectRefused(() => addon.groupStep([1, 2] as never, ts, list), TypeError, /^groupStep: spec must be a Float64Array, got an Array/, arrays);
    expectRefused(() => addon.groupStep(new Float64Array(3), ts, list), RangeError, /spec\.length must be at least/, arrays);
    expectRefused(() => addon.groupStep(spec().subarray(0, 12), ts, list), RangeError, /spec\.length must be 15 for inner 0 \(SGD\), got 12/, arrays);
    const badFlag = spec();
    badFlag[13] = 0.5; // SGD's nesterov
    expectRefused(() => addon.groupStep(badFlag, ts, list), RangeError, /spec\[13\] \(nesterov\) must be 0 or 1, got 0\.5/, arrays);
    const badInner = spec();
    badInner[2] = 9;
    expectRefused(() => addon.groupStep(badInner, ts, list), RangeError, /spec\[2\] \(inner\) must be 0 \(SGD\).* got 9/, arrays);
  });

  test('the tensor records and the array list', () => {
    const { good, arrays } = fresh();
    const list = arraysOf([good]);
    expectRefused(() => addon.groupStep(spec(), new Float64Array(5), list), RangeError, /tensorSpec\.length must be a multiple of 4/, arrays);
    // groupStep also takes the arrays as arguments, so a lone non-Array is one argument of six.
    expectRefused(() => addon.groupStep(spec(), tensorSpec([good]), { length: 6 } as never), RangeError, /groupStep: the arrays after tensorSpec must be 6 \* tensors = 6 \(tensorSpec has 1 tensors\), got 1/, arrays);
    expectRefused(() => addon.groupStep(spec(), tensorSpec([good]), list.slice(0, 5)), RangeError, /arrays\.length must be 6 \* tensors = 6 \(tensorSpec has 1 tensors\), got 5/, arrays);
    expectRefused(() => addon.groupStep(spec(), Float64Array.from([2, 2.5, 0, 0]), list), RangeError, /tensorSpec\[1\] \(tensor 0 cols\)/, arrays);
    expectRefused(() => addon.groupStep(spec(), Float64Array.from([2 ** 40, 2 ** 40, 0, 0]), list), RangeError, /tensor 0: rows \* cols overflows: rows 1099511627776, cols 1099511627776/, arrays);
  });

  test('a bad tensor late in the group: nothing of the earlier ones is written', () => {
    const { good, arrays } = fresh();
    const short = tensor(f32(1, 2, 3), f32(1, 1, 1, 1), 2, 2);
    expectRefused(() => addon.groupStep(spec(), tensorSpec([good, short]), arraysOf([good, short])), RangeError, /arrays\[6\] \(tensor 1 p\)\.length must be rows \* cols = 4, got 3/, [...arrays, short.g]);
    const mixed = tensor(f32(1, 2, 3, 4), Float64Array.from([1, 1, 1, 1]), 2, 2);
    expectRefused(() => addon.groupStep(spec(), tensorSpec([good, mixed]), arraysOf([good, mixed])), TypeError, /arrays\[7\] \(tensor 1 g\) must be a Float32Array like p, got Float64Array/, arrays);
    const withBuffer = tensor(f32(1, 2, 3, 4), f32(1, 1, 1, 1), 2, 2, new Float32Array(4));
    const noBuffer = tensor(f32(1, 2, 3, 4), f32(1, 1, 1, 1), 2, 2);
    expectRefused(() => addon.groupStep(spec(0.9), tensorSpec([withBuffer, noBuffer]), arraysOf([withBuffer, noBuffer])), TypeError, /arrays\[8\] \(tensor 1 buf0 \(momentumBuffer\)\) must be a Float32Array like p when momentum != 0, got null/, [withBuffer.p, withBuffer.g, withBuffer.buffers[0]!.live()]);
  });

  test('one array in two tensors, or a tensor whose p and g overlap', () => {
    const { good, arrays } = fresh();
    const again = tensor(good.p, f32(1, 1, 1, 1), 2, 2);
    expectRefused(() => addon.groupStep(spec(), tensorSpec([good, again]), arraysOf([good, again])), RangeError, /must not share memory/, arrays);
    const both = new Float32Array(8).fill(1);
    const overlapping = tensor(both.subarray(0, 4), both.subarray(3, 7), 2, 2);
    expectRefused(() => addon.groupStep(spec(), tensorSpec([overlapping]), arraysOf([overlapping])), RangeError, /arrays\[0\] \(tensor 0 p\) and arrays\[1\] \(tensor 0 g\) must not share memory/, [both]);
  });

  test('a hostile array list: a getter that throws, and one that detaches a buffer already read', () => {
    const { good, arrays } = fresh();
    const throwing = arraysOf([good]);
    Object.defineProperty(throwing, 4, { get: () => { throw new Error('getter ran'); } });
    expect(() => addon.groupStep(spec(), tensorSpec([good]), throwing)).toThrow('getter ran');
    arrays.forEach((a, i) => expect(Array.from(a)).toEqual([[1, 2, 3, 4], [0.5, 0.5, 0.5, 0.5]][i]));

    // Reading entry 5 detaches p's buffer (entry 0, read before): the addon
    // looks into no typed array until every entry is read, so it sees p empty.
    const p = f32(1, 2, 3, 4);
    const victim = tensor(p, f32(1, 1, 1, 1), 2, 2);
    const detaching = arraysOf([victim]);
    Object.defineProperty(detaching, 5, { get: () => { structuredClone(p.buffer, { transfer: [p.buffer] }); return null; } });
    expectRefused(() => addon.groupStep(spec(), tensorSpec([victim]), detaching), RangeError, /arrays\[0\] \(tensor 0 p\)\.length must be rows \* cols = 4, got 0/, [victim.g]);
    expect(p.length).toBe(0);
  });

  test('runBatchAsync checks every call first, synchronously, and runs none when one is wrong', async () => {
    const { good, arrays } = fresh();
    const list = arraysOf([good]);
    const batch = (...calls: unknown[]) => () => addon.runBatchAsync(calls as unknown[][], () => undefined);
    expectRefused(() => addon.runBatchAsync([['groupStep', spec(), tensorSpec([good]), ...list]], undefined as never), TypeError, /runBatchAsync: callback must be a function, got undefined/, arrays);
    expectRefused(() => addon.runBatchAsync({ length: 1 } as never, () => undefined), TypeError, /runBatchAsync: calls must be an Array, got an object/, arrays);
    expectRefused(batch(['groupStep', spec(), tensorSpec([good]), ...list], 'scaleBias'), TypeError, /runBatchAsync: calls\[1\] must be an Array \[name, \.\.\.arguments\], got string 'scaleBias'/, arrays);
    expectRefused(batch(['groupStep', spec(), tensorSpec([good]), ...list], []), RangeError, /calls\[1\]\.length must be from 1/, arrays);
    expectRefused(batch(['groupStep', spec(), tensorSpec([good]), ...list], ['benchFloor', good.p, good.g, 1, 1, 1]), TypeError, /calls\[1\]\[0\] must be a kernel's name, got string 'benchFloor'/, arrays);
    expectRefused(batch(['groupStep', spec(), tensorSpec([good]), ...list], [3]), TypeError, /calls\[1\]\[0\] must be a kernel's name, got 3/, arrays);
    // The first call is good, the second's arguments are not: neither runs.
    expectRefused(batch(['groupStep', spec(), tensorSpec([good]), ...list], ['groupStep', spec(), tensorSpec([good]), ...list.slice(1)]), RangeError, /runBatchAsync: calls\[1\] \(groupStep\): the arrays after tensorSpec must be 6 \* tensors/, arrays);
    expectRefused(batch(['scaleBias', good.g, 2, true, 0, false], ['sgdStep', good.p, good.g, null, 0.1, 0.9, 0, 0, false, false, false]), TypeError, /calls\[1\] \(sgdStep\): buf must be a Float32Array like p when momentum != 0, got null/, arrays);
    // A batch reads each call's entries once, before any check: its groupStep arrays are spread.
    expectRefused(batch(['groupStep', spec(), tensorSpec([good]), list]), TypeError, /calls\[0\] \(groupStep\): arrays must be spread as arguments in a batch, got an Array/, arrays);
    // Had a refused batch been queued, it would have run by now.
    await new Promise((resolve) => setTimeout(resolve, 20));
    arrays.forEach((a, i) => expect(Array.from(a)).toEqual(Array.from(fresh().arrays[i])));
  });

  test('runBatchAsync runs its calls in order after it returns, to the bits of the same calls made one by one', async () => {
    const { good } = fresh();
    const copy = tensor(good.p.slice(), good.g.slice(), 2, 2);
    const events: string[] = [];
    const done = new Promise<Error | null>((resolve) =>
      addon.runBatchAsync(
        [
          ['scaleBias', good.g, 3, true, 0.5, true],
          ['normalizeRowsL1', good.g, 2, 2, 1e-12],
          ['groupStep', spec(), tensorSpec([good]), ...arraysOf([good])],
          ['renormRowsL2', good.p, 2, 2, 0.25],
        ],
        resolve,
      ),
    );
    events.push('queued');
    expect(await done).toBeNull();
    events.push('done');
    addon.scaleBias(copy.g, 3, true, 0.5, true);
    addon.normalizeRowsL1(copy.g, 2, 2, 1e-12);
    addon.groupStep(spec(), tensorSpec([copy]), ...arraysOf([copy]));
    addon.renormRowsL2(copy.p, 2, 2, 0.25);
    expect(events).toEqual(['queued', 'done']);
    expect(Array.from(good.p)).toEqual(Array.from(copy.p));
    expect(Array.from(good.g)).toEqual(Array.from(copy.g));
    expect(Array.from(copy.p)).not.toEqual(Array.from(fresh().good.p)); // the calls did change p
  });

  test('the arrays as arguments after tensorSpec: checked the same way', () => {
    const { good, arrays } = fresh();
    const list = arraysOf([good]);
    expectRefused(() => addon.groupStep(spec(), tensorSpec([good]), ...list.slice(0, 5)), RangeError, /the arrays after tensorSpec must be 6 \* tensors = 6 .* got 5/, arrays);
    expectRefused(() => addon.groupStep(spec(), tensorSpec([good]), good.p, new Int32Array(4) as never, null, null, null, null), TypeError, /arrays\[1\] \(tensor 0 g\) must be a Float32Array like p, got Int32Array of length 4/, arrays);
    expectRefused(() => addon.groupStep(spec(), tensorSpec([good]), good.p, good.p, null, null, null, null), RangeError, /arrays\[0\] \(tensor 0 p\) and arrays\[1\] \(tensor 0 g\) must not share memory/, arrays);
    const copy = tensor(good.p.slice(), good.g.slice(), 2, 2);
    addon.groupStep(spec(), tensorSpec([good]), ...list);
    addon.groupStep(spec(), tensorSpec([copy]), arraysOf([copy]));
    expect(Array.from(good.p)).toEqual(Array.from(copy.p));
    expect(Array.from(good.g)).toEqual(Array.from(copy.g));
  });

  test('a good group after all that steps to the bits of the TypeScript reference', () => {
    const { good } = fresh();
    const copy = tensor(good.p.slice(), good.g.slice(), 2, 2);
    addon.groupStep(spec(), tensorSpec([good]), arraysOf([good]));
    referenceGroupStep(spec(), [copy]);
    expect(Array.from(good.p)).toEqual(Array.from(copy.p));
    expect(Array.from(good.g)).toEqual(Array.from(copy.g));
    expect(Array.from(good.p)).not.toEqual([1, 2, 3, 4]);
  });
});
