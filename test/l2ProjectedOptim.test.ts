// SPDX-License-Identifier: MIT
// L2ProjectedOptim and L2NormedGradientOptim as a user sees them: the seed's
// example, paramNdim on a 4-D tensor for every valid value, param groups
// with their own epsilon and paramNdim, option precedence, InnerOpt forms.
import { L2NormedGradientOptim, L2ProjectedOptim, SGD, Tensor, backendInfo, partial } from '../ts';
import { batchShape } from '../ts/optim/rows';
import { expectClose } from './helpers';

const where = `${backendInfo().backend} (${backendInfo().isa})`;

function norm(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * a[i];
  return Math.sqrt(s);
}

describe(`L2ProjectedOptim on ${where}`, () => {
  test("the seed's example, to four decimals", () => {
    const x = new Tensor(new Float32Array([-1, 1]));
    const optim = new L2ProjectedOptim([x], { paramNdim: null, InnerOpt: SGD, lr: 1.0, epsilon: 0.8 });
    x.grad = new Float32Array([2, 2]);
    optim.step();
    expect(Array.from(x.grad!, (v) => Number(v.toFixed(4)))).toEqual([0.7071, 0.7071]);
    expect(Array.from(x.data, (v) => Number(v.toFixed(4)))).toEqual([-0.7885, 0.1353]);
    // float32 renorm lands a hair above epsilon, exactly as in the reference
    // (whose x.norm() sums the squares in float32).
    const f = Math.fround;
    expect(f(Math.sqrt(f(f(x.data[0] * x.data[0]) + f(x.data[1] * x.data[1]))))).toBe(0.800000011920929);
  });

  test('paramNdim on a 4-D tensor: every valid value normalises and projects the right data', () => {
    const shape = [2, 3, 4, 5];
    const cases: [number | null, number][] = [
      [null, 1], [4, 1], [-4, 120], [3, 2], [-1, 2], [2, 6], [-2, 6], [1, 24], [-3, 24], [0, 120],
    ];
    for (const [paramNdim, rows] of cases) {
      expect(batchShape(shape, paramNdim)[0]).toBe(rows);
      const n = 120;
      const data = Float64Array.from({ length: n }, (_, i) => Math.sin(i + 1) * 3);
      const grad = Float64Array.from({ length: n }, (_, i) => Math.cos(i * 0.7) * (i % 7));
      const x = new Tensor(data.slice(), shape);
      const opt = new L2ProjectedOptim([x], { lr: 0.5, epsilon: 1.5, paramNdim });
      x.grad = grad.slice();
      opt.step();
      const cols = n / rows;
      for (let r = 0; r < rows; r++) {
        const g = grad.subarray(r * cols, (r + 1) * cols);
        const gn = norm(g);
        // Each datum's gradient now has norm 1 (or stays 0)...
        expect(norm(x.grad!.subarray(r * cols, (r + 1) * cols))).toBeCloseTo(gn > 0 ? 1 : 0, 12);
        // ...and each datum is inside the ball, projected exactly where SGD left it outside.
        const stepped = Array.from(data.subarray(r * cols, (r + 1) * cols), (v, j) => v - (0.5 * g[j]) / Math.max(gn, 1.1754943508222875e-38));
        const sn = norm(stepped);
        const expected = sn > 1.5 ? stepped.map((v) => v * (1.5 / (sn + 1e-7))) : stepped;
        expectClose(x.data.subarray(r * cols, (r + 1) * cols), expected, 1e-12, 1e-14, `paramNdim ${paramNdim} row ${r}`);
        expect(norm(x.data.subarray(r * cols, (r + 1) * cols))).toBeLessThanOrEqual(1.5 + 1e-9);
      }
    }
  });

  test('param groups with their own epsilon and paramNdim', () => {
    const a = new Tensor(new Float32Array([3, 4, 6, 8]), [2, 2]);
    const b = new Tensor(new Float32Array([3, 4, 6, 8]), [2, 2]);
    const opt = new L2ProjectedOptim(
      [{ params: [a], epsilon: 1 }, { params: [b], epsilon: 5, paramNdim: null }],
      { lr: 0, epsilon: 100 },
    );
    a.grad = new Float32Array(4);
    b.grad = new Float32Array(4);
    opt.step();
    // group 0: per row, radius 1
    expect(norm(a.data.subarray(0, 2))).toBeCloseTo(1, 5);
    expect(norm(a.data.subarray(2, 4))).toBeCloseTo(1, 5);
    // group 1: the whole tensor is one datum, radius 5 (its norm was 12.25)
    expect(norm(b.data)).toBeCloseTo(5, 5);
    expect(b.data[2] / b.data[0]).toBeCloseTo(2, 5);
    expect(opt.paramGroups.map((g) => g.epsilon)).toEqual([1, 5]);
    expect(opt.paramGroups.map((g) => g.paramNdim)).toEqual([-1, null]);
  });

  test('precedence: group keys, then defaults, then constructor options, then class defaults', () => {
    const t = () => new Tensor(new Float32Array(4), [2, 2]);
    const opt = new L2ProjectedOptim([{ params: [t()] }, { params: [t()], lr: 0.3, paramNdim: 1 }], {
      paramNdim: 2,
      epsilon: 1,
      lr: 0.1,
      defaults: { paramNdim: 0, epsilon: 2, lr: 0.2 },
    });
    expect(opt.paramGroups[0]).toMatchObject({ paramNdim: 0, epsilon: 2, lr: 0.2, gradScale: 1, gradBias: 0, momentum: 0 });
    expect(opt.paramGroups[1]).toMatchObject({ paramNdim: 1, epsilon: 2, lr: 0.3 });
  });

  test('paramGroups are live and shared with the inner optimizer', () => {
    const x = new Tensor(new Float64Array([0, 0]));
    const opt = new L2ProjectedOptim([x], { lr: 1, epsilon: 10, paramNdim: null });
    expect(opt.innerOpt.paramGroups).toBe(opt.paramGroups);
    opt.paramGroups[0].lr = 0.5;
    x.grad = new Float64Array([3, 4]);
    opt.step();
    expectClose(x.data, [-0.3, -0.4], 1e-15, 1e-15, 'lr changed through paramGroups');
    const y = new Tensor(new Float64Array([0, 0]));
    opt.addParamGroup({ params: [y], lr: 2 });
    expect(opt.innerOpt.paramGroups.length).toBe(2);
    expect(opt.paramGroups[1]).toMatchObject({ lr: 2, epsilon: 10, paramNdim: null, momentum: 0 });
    // A refused group is named by the index it would have had, and nothing is added.
    expect(() => opt.addParamGroup({ params: [new Tensor([1, 2, 3])], paramNdim: 2 })).toThrow(/param group 2/);
    expect(() => opt.addParamGroup({ params: [new Tensor([1])], epsilon: -1 })).toThrow(/epsilon \(param group 2\)/);
    expect(opt.paramGroups.length).toBe(2);
  });

  test('InnerOpt as a class, a partial and an instance give the same step', () => {
    const run = (make: (x: Tensor) => L2ProjectedOptim) => {
      const x = new Tensor(new Float64Array([1, -2, 3, 0.5]), [2, 2]);
      const opt = make(x);
      for (let k = 0; k < 3; k++) {
        x.grad = Float64Array.from([0.3, -1, 2, 0.1], (v) => v * (k + 1));
        opt.step();
      }
      return Array.from(x.data);
    };
    const byClass = run((x) => new L2ProjectedOptim([x], { InnerOpt: SGD, lr: 0.2, momentum: 0.9, epsilon: 2 }));
    const byPartial = run((x) => new L2ProjectedOptim([x], { InnerOpt: partial(SGD, { lr: 0.5, momentum: 0.9 }), lr: 0.2, epsilon: 2 }));
    const byInstance = run((x) => new L2ProjectedOptim(null, { InnerOpt: new SGD([x], { lr: 0.2, momentum: 0.9 }), epsilon: 2 }));
    expect(byPartial).toEqual(byClass);
    expect(byInstance).toEqual(byClass);
  });

  test('L2NormedGradientOptim normalises without projecting', () => {
    const x = new Tensor(new Float32Array([10, 0, 0, 10]), [2, 2]);
    const opt = new L2NormedGradientOptim([x], { lr: 1 });
    x.grad = new Float32Array([3, 4, 0, 0]);
    opt.step();
    expectClose(x.grad!, [0.6, 0.8, 0, 0], 1e-7, 0, 'normalised gradient (zero row stays zero)');
    expectClose(x.data, [9.4, -0.8, 0, 10], 1e-6, 1e-6, 'no projection');
  });

  test('gradScale and gradBias apply after the transform', () => {
    const x = new Tensor(new Float64Array([0, 0]));
    const opt = new L2NormedGradientOptim([x], { lr: 1, paramNdim: null, gradScale: 2, gradBias: 0.5 });
    x.grad = new Float64Array([3, 4]);
    opt.step();
    expectClose(x.grad!, [1.7, 2.1], 1e-15, 1e-15, 'grad');
    expectClose(x.data, [-1.7, -2.1], 1e-15, 1e-15, 'param');
  });

  test('a parameter without a gradient is not stepped but is still projected', () => {
    const x = new Tensor(new Float32Array([3, 4]));
    const y = new Tensor(new Float32Array([1, 1]));
    const opt = new L2ProjectedOptim([x, y], { lr: 1, epsilon: 1, paramNdim: null });
    y.grad = new Float32Array([1, 0]);
    opt.step();
    expect(x.grad).toBeNull();
    expectClose(x.data, [0.6, 0.8], 1e-6, 0, 'x projected only');
    expect(opt.state.has(x)).toBe(false);
    expect(opt.state.has(y)).toBe(true);
  });

  test('step(closure) calls the closure first and returns its value', () => {
    const x = new Tensor(new Float64Array([1, 1]));
    const opt = new L2ProjectedOptim([x], { lr: 0.1, epsilon: 5, paramNdim: null });
    const loss = opt.step(() => {
      x.grad = new Float64Array([x.data[0], x.data[1]]);
      return 42;
    });
    expect(loss).toBe(42);
    expectClose(x.grad!, [Math.SQRT1_2, Math.SQRT1_2], 1e-15, 0, 'the closure\'s gradient was transformed');
    expect(opt.step()).toBeUndefined();
  });

  test('zeroGrad sets gradients to null by default, or to zeros', () => {
    const x = new Tensor(new Float32Array([1, 2]));
    const opt = new L2ProjectedOptim([x], { lr: 0.1, epsilon: 1 });
    const g = new Float32Array([1, 1]);
    x.grad = g;
    opt.zeroGrad({ setToNone: false });
    expect(x.grad).toBe(g);
    expect(Array.from(g)).toEqual([0, 0]);
    opt.zeroGrad();
    expect(x.grad).toBeNull();
  });

  test('toString names the class, the inner optimizer and each group\'s options', () => {
    const opt = new L2ProjectedOptim([new Tensor([1, 2])], { lr: 0.1, epsilon: 0.8 });
    expect(opt.toString()).toBe(
      'L2ProjectedOptim [SGD](\nParameter Group 0\n    dampening: 0\n    epsilon: 0.8\n    gradBias: 0\n    gradScale: 1\n' +
        '    lr: 0.1\n    maximize: false\n    momentum: 0\n    nesterov: false\n    paramNdim: -1\n    weightDecay: 0\n)',
    );
    expect(String(new SGD([new Tensor([1])], { lr: 1 }))).toMatch(/^SGD \(\nParameter Group 0\n {4}dampening: 0\n/);
  });

  test('epsilon Infinity is the unconstrained ball (no projection), as in the reference, per sample too', () => {
    for (const cols of [3, 3000]) {
      const run = (Cls: typeof L2ProjectedOptim | typeof L2NormedGradientOptim, epsilon?: number | number[]) => {
        const x = new Tensor(Float32Array.from({ length: 2 * cols }, (_, i) => i), [2, cols]);
        x.grad = Float32Array.from({ length: 2 * cols }, (_, i) => (i % 3) - 1);
        new Cls([x], { lr: 0.5, ...(epsilon === undefined ? {} : { epsilon }) }).step();
        return x.data;
      };
      const unprojected = run(L2NormedGradientOptim);
      expect(Array.from(run(L2ProjectedOptim, Infinity))).toEqual(Array.from(unprojected));
      const perSample = run(L2ProjectedOptim, [1, Infinity]);
      expect(Array.from(perSample.subarray(cols))).toEqual(Array.from(unprojected.subarray(cols)));
      const firstNorm = Math.hypot(...perSample.subarray(0, cols));
      expect(firstNorm).toBeLessThanOrEqual(1 + 1e-6); // projected (float32 rounding aside)
      expect(firstNorm).toBeGreaterThan(0.99);
    }
  });

  test('stateDict and loadStateDict: resuming equals never stopping', () => {
    const make = () => {
      const x = new Tensor(new Float32Array([0.5, -1, 2, 0.25, 1, 1]), [3, 2]);
      return { x, opt: new L2ProjectedOptim([x], { lr: 0.3, momentum: 0.9, nesterov: true, epsilon: 1.2 }) };
    };
    const grads = [0, 1, 2, 3, 4, 5].map((k) => Float32Array.from([1, -2, 0.5, k, -k, 3], (v) => v + k * 0.1));
    const a = make();
    grads.forEach((g) => { a.x.grad = g.slice(); a.opt.step(); });
    const b = make();
    grads.slice(0, 3).forEach((g) => { b.x.grad = g.slice(); b.opt.step(); });
    const sd = b.opt.stateDict();
    expect(sd.paramGroups[0]).toMatchObject({ params: [0], lr: 0.3, epsilon: 1.2, momentum: 0.9 });
    expect(sd.state[0].momentumBuffer).toBeInstanceOf(Float32Array);
    const c = make();
    c.x.data.set(b.x.data);
    c.opt.loadStateDict(sd);
    grads.slice(3).forEach((g) => { c.x.grad = g.slice(); c.opt.step(); });
    expect(Array.from(c.x.data)).toEqual(Array.from(a.x.data));
  });
});
