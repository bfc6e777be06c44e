// SPDX-License-Identifier: MIT
// Arrays that lie about themselves, move or alias, and groups edited after
// construction: each is refused with a clear error before anything changes
// (never a write past an array, on any backend), or handled as documented.
import {
  Adam, ChainedParamTransformingOptimizer, FrankWolfe, L1FrankWolfe, L1qNormedGradientOptim, L2NormedGradientOptim, L2ProjectedOptim,
  LinfFrankWolfe, LinfProjectedOptim, ParamGroup, ParamTransformingOptimizer, SGD, Tensor, TopQGradientOptimizer, allocArray, backendInfo, freeArray, partial,
} from '../ts';
import { setFusedSteps } from '../ts/optim/optimizer';

const where = `${backendInfo().backend} (${backendInfo().isa})`;

function snapshot(ts: Tensor[]) {
  return ts.map((t) => ({ data: Array.from(t.data), grad: t.grad ? Array.from(t.grad) : null }));
}

function ramp(n: number, scale = 1): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => scale * (((i * 7) % 11) - 5));
}

/** A Float32Array subclass whose `length` claims `claimed` elements. */
function lyingArray(memory: Float32Array, claimed: number): Float32Array {
  class Lying extends Float32Array {
    override get length(): number {
      return claimed;
    }
  }
  return new Lying(memory.buffer as ArrayBuffer, memory.byteOffset, memory.length);
}

const canResize = typeof (ArrayBuffer.prototype as { resize?: unknown }).resize === 'function';

describe(`arrays that could move or that lie about their size, on ${where}`, () => {
  (canResize ? test : test.skip)('data or a gradient over a resizable ArrayBuffer is refused: it could shrink under a step (skipped where the engine has no resizable buffers)', () => {
    const Resizable = ArrayBuffer as unknown as new (bytes: number, o: { maxByteLength: number }) => ArrayBuffer;
    const rb = new Resizable(64, { maxByteLength: 128 });
    expect(() => new Tensor(new Float32Array(rb, 0, 16), [4, 4])).toThrow(TypeError);
    expect(() => new Tensor(new Float32Array(rb, 0, 16), [4, 4])).toThrow(/data must be a view of a fixed-length buffer/);
    const x = new Tensor(new Float32Array(16), [4, 4]);
    expect(() => { x.grad = new Float32Array(rb, 0, 16); }).toThrow(/grad must be a view of a fixed-length buffer/);
    expect(x.grad).toBeNull();
  });

  test("the engine's length decides, not an overridden `length`", () => {
    const memory = new Float32Array(16);
    // A 16-element array claiming 4096 cannot be a [4096] tensor...
    expect(() => new Tensor(lyingArray(memory, 4096), [4096])).toThrow(/holds 4096 elements but data has 16/);
    // ...nor the gradient of one with 4096 elements,
    const big = new Tensor(new Float32Array(4096), [4096]);
    expect(() => { big.grad = lyingArray(memory, 4096); }).toThrow(/length 4096, got length 16/);
    expect(big.grad).toBeNull();
    // while one telling lies about a right-sized array steps like a plain one.
    const a = new Tensor(ramp(16), [4, 4]);
    const b = new Tensor(lyingArray(ramp(16), 3), [4, 4]);
    a.grad = ramp(16, 0.5);
    b.grad = lyingArray(ramp(16, 0.5), 9999);
    new L2ProjectedOptim([a], { epsilon: 3, lr: 0.5 }).step();
    new L2ProjectedOptim([b], { epsilon: 3, lr: 0.5 }).step();
    expect(Array.from(new Float32Array(b.data.buffer))).toEqual(Array.from(a.data));
  });

  test('a lying gradient in allocArray memory cannot make a step write past it', () => {
    const block = allocArray(16).fill(1);
    const victim = allocArray(4096).fill(7);
    // Claiming 4096 elements, it is refused as the gradient of a tensor of 4096...
    const y = new Tensor(new Float32Array(4096), [4096]);
    expect(() => { y.grad = lyingArray(block as Float32Array, 4096); }).toThrow(/length 4096, got length 16/);
    // ...and a tensor of 16 steps on its 16 elements only.
    const x = new Tensor(new Float32Array(16), [16]);
    x.grad = lyingArray(block as Float32Array, 4096);
    new SGD([x], { lr: 1 }).step();
    expect(Array.from(x.data)).toEqual(new Array(16).fill(-1));
    expect(victim.every((v) => v === 7)).toBe(true);
    freeArray(victim);
    freeArray(block);
  });

  test('a Proxy of a typed array, or an object with a typed array prototype, is not an array', () => {
    const proxy = new Proxy(new Float32Array(4), {});
    expect(() => new Tensor(proxy)).toThrow(TypeError);
    expect(() => new Tensor(proxy)).toThrow(/posing as a Float32Array/);
    const x = new Tensor(new Float32Array(4));
    expect(() => { x.grad = proxy; }).toThrow(/grad must be a Float32Array.*posing as a Float32Array/);
    expect(() => { x.grad = Object.create(Float32Array.prototype); }).toThrow(TypeError);
    // A Float32Array dressed as a Float64Array is still a Float32Array.
    const dressed = Object.setPrototypeOf(new Float32Array(4), Float64Array.prototype) as Float64Array;
    expect(new Tensor(dressed).dtype).toBe('float32');
    expect(() => { new Tensor(new Float64Array(4)).grad = dressed; }).toThrow(TypeError);
  });

  test('shape and dtype cannot be reassigned: a step never reads a shape its data does not have', () => {
    const x = new Tensor(new Float32Array(16), [4, 4]);
    expect(() => { (x as unknown as { shape: number[] }).shape = [4, 4096]; }).toThrow(TypeError);
    expect(() => { (x as unknown as { dtype: string }).dtype = 'float64'; }).toThrow(TypeError);
    expect(x.shape).toEqual([4, 4]);
    expect(x.dtype).toBe('float32');
  });

  test('a parameter whose buffer was transferred away is refused at the next step, before anything changes', () => {
    const a = new Tensor(ramp(64), [4, 16]);
    const b = new Tensor(ramp(64), [4, 16]);
    const opt = new L2ProjectedOptim([a, b], { epsilon: 2, lr: 0.1, InnerOpt: Adam });
    a.grad = ramp(64, 0.1);
    b.grad = ramp(64, 0.2);
    opt.step();
    const before = { a: Array.from(a.data), state: opt.stateDict() };
    structuredClone(b.data.buffer, { transfer: [b.data.buffer as ArrayBuffer] });
    expect(() => opt.step()).toThrow(RangeError);
    expect(() => opt.step()).toThrow(/params\[1\]\.data holds 0 elements, not the 64 of its shape \[4, 16\]/);
    expect(Array.from(a.data)).toEqual(before.a);
    expect(opt.stateDict()).toEqual(before.state);
  });

  test('an empty parameter whose buffers were transferred away steps as any empty one does (nothing to update), on every path', () => {
    for (const fused of [true, false]) {
      setFusedSteps(fused);
      try {
        const make = () => {
          const empty = new Tensor(new Float32Array(0), [0]);
          empty.grad = new Float32Array(0);
          const full = new Tensor(ramp(64), [64]); // enough elements for the backend's group step
          full.grad = ramp(64, 0.1);
          return [empty, full];
        };
        const [empty, full] = make();
        const [, twin] = make();
        for (const b of [empty.data.buffer, empty.grad!.buffer]) structuredClone(b, { transfer: [b as ArrayBuffer] });
        const opt = new L2ProjectedOptim([empty, full], { epsilon: 2, lr: 0.1, InnerOpt: Adam });
        const other = new L2ProjectedOptim([new Tensor(new Float32Array(0), [0]), twin], { epsilon: 2, lr: 0.1, InnerOpt: Adam });
        twin.grad = ramp(64, 0.1);
        opt.step();
        other.step();
        expect(Array.from(full.data)).toEqual(Array.from(twin.data));
      } finally {
        setFusedSteps(true);
      }
    }
  });

  test("zeroGrad({ setToNone: false }) refuses a gradient transferred away before zeroing any, and passes over an empty one", () => {
    const a = new Tensor(ramp(4));
    const b = new Tensor(ramp(4));
    const empty = new Tensor(new Float32Array(0), [0]);
    a.grad = ramp(4, 0.5);
    b.grad = ramp(4, 0.25);
    empty.grad = new Float32Array(0);
    structuredClone(empty.grad.buffer, { transfer: [empty.grad.buffer as ArrayBuffer] });
    new SGD([a, empty], { lr: 0.1 }).zeroGrad({ setToNone: false });
    expect(Array.from(a.grad)).toEqual([0, 0, 0, 0]);
    const opt = new SGD([a, b], { lr: 0.1 });
    a.grad = ramp(4, 0.5);
    const before = Array.from(a.grad);
    structuredClone(b.grad.buffer, { transfer: [b.grad.buffer as ArrayBuffer] });
    expect(() => opt.zeroGrad({ setToNone: false })).toThrow(RangeError);
    expect(() => opt.zeroGrad({ setToNone: false })).toThrow(/param group 0, params\[1\]\.grad .*length 4, got length 0 \(was its buffer transferred or detached\?\)/);
    expect(Array.from(a.grad)).toEqual(before);
    // A step refuses it the same way, with nothing changed.
    const data = Array.from(a.data);
    expect(() => opt.step()).toThrow(/param group 0, params\[1\]\.grad must have the tensor's length 4, got length 0 \(was its buffer transferred or detached\?\)/);
    expect(Array.from(a.data)).toEqual(data);
  });

  test('shapes whose sizes are not exact integers are refused, even for an empty tensor', () => {
    expect(() => new Tensor(new Float32Array(0), [0, 2 ** 53, 2 ** 53])).toThrow(/2\^53 - 1/);
    expect(() => new Tensor(new Float32Array(0), [0, 2 ** 40, 2 ** 40])).toThrow(/multiply beyond 2\^53 - 1/);
    expect(new Tensor(new Float32Array(0), [0, 2 ** 20, 2 ** 20]).numel).toBe(0);
  });

  test('grad = undefined is refused (null clears a gradient)', () => {
    const x = new Tensor(new Float32Array(4));
    x.grad = new Float32Array(4);
    expect(() => { x.grad = undefined as unknown as null; }).toThrow(TypeError);
    expect(x.grad).not.toBeNull();
  });
});

describe(`tensors of a group that share memory are refused on every backend, on ${where}`, () => {
  const cases: [string, () => { params: Tensor[]; message: RegExp }][] = [
    ['two tensors over one array', () => {
      const shared = ramp(64);
      const a = new Tensor(shared, [4, 16]);
      const b = new Tensor(shared, [4, 16]);
      a.grad = ramp(64, 0.1);
      b.grad = ramp(64, 0.2);
      return { params: [a, b], message: /params\[0\]\.data and params\[1\]\.data share memory/ };
    }],
    ["a gradient that is another tensor's data", () => {
      const a = new Tensor(ramp(64), [4, 16]);
      const b = new Tensor(ramp(64), [4, 16]);
      a.grad = ramp(64, 0.1);
      b.grad = a.data as Float32Array;
      return { params: [a, b], message: /params\[0\]\.data and params\[1\]\.grad share memory/ };
    }],
    ['overlapping views of one flat array (small tensors, the TypeScript path)', () => {
      const flat = ramp(12);
      const a = new Tensor(flat.subarray(0, 6), [2, 3]);
      const b = new Tensor(flat.subarray(4, 10), [2, 3]);
      a.grad = ramp(6, 0.1);
      b.grad = ramp(6, 0.2);
      return { params: [a, b], message: /params\[0\]\.data and params\[1\]\.data share memory/ };
    }],
  ];
  test.each(cases)('%s', (_, make) => {
    const { params, message } = make();
    const opt = new L2ProjectedOptim(params, { epsilon: 1, lr: 0.1, InnerOpt: Adam });
    const before = snapshot(params);
    expect(() => opt.step()).toThrow(RangeError);
    expect(() => opt.step()).toThrow(message);
    expect(snapshot(params)).toEqual(before);
    expect(opt.state.size).toBe(0);
  });

  // Steps skip the check while the group holds the same arrays as when it last passed:
  // whatever changed since must be checked again.
  test.each([['a large group (the addon or WebAssembly path)', 64], ['a small group (the TypeScript path)', 4]])(
    'sharing that starts after steps have passed is refused: %s',
    (_, n) => {
      const a = new Tensor(ramp(n), [n / 4, 4]);
      const b = new Tensor(ramp(n, 0.5), [n / 4, 4]);
      const c = new Tensor(ramp(n, 0.25), [n / 4, 4]);
      a.grad = ramp(n, 0.1);
      b.grad = ramp(n, 0.2);
      c.grad = ramp(n, 0.3);
      const opt = new L2ProjectedOptim([a, b], { epsilon: 1, lr: 0.1, momentum: 0.9 });
      opt.step();
      opt.step();
      const ownGrad = b.grad;
      const expectRefused = (message: RegExp) => {
        const before = { params: snapshot([a, b, c]), state: opt.stateDict() };
        expect(() => opt.step()).toThrow(message);
        expect(snapshot([a, b, c])).toEqual(before.params);
        expect(opt.stateDict()).toEqual(before.state);
      };
      b.grad = a.grad;  // the same gradient array for two tensors
      expectRefused(/params\[0\]\.grad and params\[1\]\.grad share memory/);
      b.grad = a.data.subarray(0, n) as Float32Array;  // a view of another tensor's data
      expectRefused(/params\[0\]\.data and params\[1\]\.grad share memory/);
      b.grad = ownGrad;
      opt.step();
      // The params list edited: a tensor over b's data in place of a.
      opt.paramGroups[0].params[0] = new Tensor(b.data, b.shape);
      opt.paramGroups[0].params[0].grad = ramp(n, 0.4);
      expectRefused(/params\[0\]\.data and params\[1\]\.data share memory/);
      opt.paramGroups[0].params[0] = c;
      opt.step();
    },
  );

  test('disjoint views of one flat array step as separate arrays would', () => {
    const flat = ramp(128);
    const views = [new Tensor(flat.subarray(0, 64), [4, 16]), new Tensor(flat.subarray(64), [4, 16])];
    const copies = [new Tensor(ramp(128).slice(0, 64), [4, 16]), new Tensor(ramp(128).slice(64), [4, 16])];
    const grads = ramp(128, 0.3);
    views.forEach((t, i) => { t.grad = grads.subarray(i * 64, (i + 1) * 64); });
    copies.forEach((t, i) => { t.grad = grads.slice(i * 64, (i + 1) * 64); });
    new L2ProjectedOptim(views, { epsilon: 1, lr: 0.1 }).step();
    new L2ProjectedOptim(copies, { epsilon: 1, lr: 0.1 }).step();
    expect(Array.from(flat)).toEqual([...copies[0].data, ...copies[1].data]);
  });
});

describe(`param groups edited after construction are checked as the constructor checks them, on ${where}`, () => {
  function adamOn(x: Tensor, epsilon: number | number[]) {
    const opt = new L2ProjectedOptim([x], { epsilon, lr: 0.1, InnerOpt: Adam });
    x.grad = ramp(x.numel, 0.1);
    opt.step();
    return opt;
  }

  test('paramNdim edited to one the parameters cannot have', () => {
    const x = new Tensor(ramp(4), [2, 2]);
    const opt = adamOn(x, 1);
    const before = { data: Array.from(x.data), state: opt.stateDict() };
    opt.paramGroups[0].paramNdim = 3;
    expect(() => opt.step()).toThrow(/paramNdim=3 \(param group 0\).*shape \[2, 2\]/);
    opt.paramGroups[0].paramNdim = 2 ** 53;
    expect(() => opt.step()).toThrow(RangeError);
    opt.paramGroups[0].paramNdim = -1;
    expect(Array.from(x.data)).toEqual(before.data);
    expect(opt.stateDict()).toEqual(before.state);
  });

  test('a per-datum epsilon edited to the wrong length', () => {
    const x = new Tensor(ramp(64), [4, 16]);
    const opt = adamOn(x, [1, 2, 3, 4]);
    const before = { data: Array.from(x.data), state: opt.stateDict() };
    opt.paramGroups[0].epsilon = [1, 2, 3];
    expect(() => opt.step()).toThrow(/epsilon \(param group 0\) has 3 radii.*4 data/);
    opt.paramGroups[0].epsilon = [1, 2, 3, 4];
    expect(Array.from(x.data)).toEqual(before.data);
    expect(opt.stateDict()).toEqual(before.state);
    const y = new Tensor(ramp(8), [4, 2]);
    const linf = new LinfProjectedOptim([y], { epsilon: [1, 1, 1, 1], lr: 0.5, paramNdim: -1 });
    y.grad = ramp(8);
    linf.paramGroups[0].epsilon = [1, 2];
    const yBefore = Array.from(y.data);
    expect(() => linf.step()).toThrow(/epsilon \(param group 0\) has 2 radii/);
    expect(Array.from(y.data)).toEqual(yBefore);
  });

  test('a tensor put in params twice, or in two groups, or a params list that is not one', () => {
    const x = new Tensor(ramp(64), [4, 16]);
    const y = new Tensor(ramp(64), [4, 16]);
    const opt = new L2ProjectedOptim([{ params: [x] }, { params: [y] }], { epsilon: 1, lr: 0.1, InnerOpt: Adam });
    x.grad = ramp(64, 0.1);
    y.grad = ramp(64, 0.2);
    opt.step();
    const before = { data: snapshot([x, y]), state: opt.stateDict() };
    const groups = opt.paramGroups as ParamGroup[];
    groups[0].params.push(x);
    expect(() => opt.step()).toThrow(/param group 0: params\[1\] appears twice/);
    groups[0].params.pop();
    groups[1].params.push(x);
    expect(() => opt.step()).toThrow(/param group 1: a parameter is already in param group 0/);
    groups[1].params.pop();
    groups[1].params = 'y' as unknown as Tensor[];
    expect(() => opt.step()).toThrow(TypeError);
    groups[1].params = [];
    expect(() => opt.step()).toThrow(/param group 1 has an empty params list/);
    groups[1].params = [y];
    expect(snapshot([x, y])).toEqual(before.data);
    expect(opt.stateDict()).toEqual(before.state);
    opt.step(); // usable again once the groups are whole
  });

  test("a chain link's option deleted from a group", () => {
    const x = new Tensor(ramp(64), [4, 16]);
    for (const opt of [
      new L1qNormedGradientOptim([x], { q: 0.5, lr: 0.1 }),
      new ChainedParamTransformingOptimizer([x], { chain: [partial(TopQGradientOptimizer, { q: 0.5 }), L2NormedGradientOptim], lr: 0.1 }),
    ]) {
      x.grad = ramp(64, 0.1);
      delete opt.paramGroups[0].q;
      const before = snapshot([x]);
      expect(() => opt.step()).toThrow(/option q is missing from param group 0/);
      expect(snapshot([x])).toEqual(before);
    }
  });
});

describe(`arguments of the wrong kind, on ${where}`, () => {
  test('zeroGrad takes an options object with setToNone only', () => {
    const x = new Tensor(new Float32Array(4));
    const opt = new SGD([x], { lr: 0.1 });
    x.grad = new Float32Array([1, 2, 3, 4]);
    expect(() => opt.zeroGrad(5 as never)).toThrow(TypeError);
    expect(() => opt.zeroGrad({ setTonone: false } as never)).toThrow(/unknown option setTonone/);
    expect(() => opt.zeroGrad({ setToNone: null } as never)).toThrow(/setToNone must be a boolean, got null/);
    expect(Array.from(x.grad!)).toEqual([1, 2, 3, 4]);
    opt.zeroGrad({ setToNone: false });
    expect(Array.from(x.grad!)).toEqual([0, 0, 0, 0]);
  });

  test("an optimizer's options argument must be an options object", () => {
    const x = new Tensor(new Float32Array(4));
    for (const bad of [5, null, [], 'x', () => 1]) {
      expect(() => new FrankWolfe([x], bad as never)).toThrow(/FrankWolfe: options must be an object/);
      expect(() => new L1qNormedGradientOptim([x], bad as never)).toThrow(TypeError);
      expect(() => new ChainedParamTransformingOptimizer([x], bad as never)).toThrow(TypeError);
    }
  });

  test("a Frank-Wolfe lr of 0 whose first step would divide 0 by 0 is refused at construction", () => {
    const x = new Tensor(new Float32Array(4));
    for (const Cls of [L1FrankWolfe, LinfFrankWolfe]) {
      expect(() => new Cls([x], { epsilon: 1, lr: 0, divByZeroEps: 0 })).toThrow(/lr \(param group 0\) must be > 0 when divByZeroEps is 0/);
      const opt = new Cls([x], { epsilon: 1, lr: 0 }); // the default divByZeroEps keeps the first step finite
      x.grad = new Float32Array([1, -2, 3, 0]);
      opt.step();
      expect(Array.from(x.data).every(Number.isFinite)).toBe(true);
    }
  });

  test('step(closure) takes a function', async () => {
    const x = new Tensor(new Float32Array(4));
    const opt = new SGD([x], { lr: 0.1 });
    x.grad = new Float32Array([1, 1, 1, 1]);
    expect(() => opt.step(5 as never)).toThrow(/step\(closure\): closure must be a function or undefined, got 5/);
    await expect(opt.stepAsync('go' as never)).rejects.toThrow(TypeError);
    expect(Array.from(x.data)).toEqual([0, 0, 0, 0]);
  });

  test('a kernel asked for more elements than an array holds refuses (the backends check lengths again)', () => {
    class Overreaching extends ParamTransformingOptimizer {
      protected override preStepTransform(param: Tensor): void {
        this.backend.normalizeRowsL2(param.grad!, param.shape[0], 4096, 1e-12);
      }
    }
    const victim = allocArray(4096).fill(7);
    const x = new Tensor(new Float32Array(64), [4, 16]);
    x.grad = allocArray(64).fill(1);
    // The addon's errors come from another realm than jest's: matched by message.
    expect(() => new Overreaching([x], { lr: 0.1 }).step()).toThrow(/16384.*got 64/);
    expect(victim.every((v) => v === 7)).toBe(true);
    freeArray(victim);
  });

  test('an empty tensor with very many empty rows steps at once', () => {
    const make = () => {
      const x = new Tensor(new Float32Array(0), [2 ** 31, 0]);
      x.grad = new Float32Array(0);
      return x;
    };
    const started = Date.now();
    new L2ProjectedOptim([make()], { epsilon: 1, lr: 0.1 }).step();
    new LinfProjectedOptim([make()], { epsilon: 1, lr: 0.1 }).step();
    new TopQGradientOptimizer([make()], { q: 0.5, lr: 0.1 }).step();
    new L1qNormedGradientOptim([make()], { q: 0.5, lr: 0.1 }).step();
    // Each would loop over two billion rows (tens of seconds) if it visited them.
    expect(Date.now() - started).toBeLessThan(5000);
  });
});
