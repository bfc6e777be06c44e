// SPDX-License-Identifier: MIT
// NaN and Inf in gradients follow PyTorch: nothing is checked or replaced,
// they propagate through the datum they are in, and other data are untouched.
import { L2ProjectedOptim, Tensor } from '../ts';

describe('NaN and Inf in gradients', () => {
  test('a NaN poisons only its own datum', () => {
    const x = new Tensor(new Float32Array([1, 2, 3, 4]), [2, 2]);
    const opt = new L2ProjectedOptim([x], { lr: 0.1, epsilon: 10 });
    x.grad = new Float32Array([NaN, 1, 3, 4]);
    opt.step();
    expect(Array.from(x.grad!.subarray(0, 2)).every(Number.isNaN)).toBe(true);
    expect(Array.from(x.data.subarray(0, 2)).every(Number.isNaN)).toBe(true);
    expect(x.grad![2]).toBeCloseTo(0.6, 6);
    expect(x.data[2]).toBeCloseTo(3 - 0.06, 6);
  });

  test('an Inf gradient element becomes NaN (inf / inf), the finite ones in its datum 0', () => {
    const x = new Tensor(new Float64Array([1, 2, 3, 4]), [2, 2]);
    const opt = new L2ProjectedOptim([x], { lr: 0.1, epsilon: 10 });
    x.grad = new Float64Array([Infinity, 1, 3, 4]);
    opt.step();
    expect(Number.isNaN(x.grad![0])).toBe(true);
    expect(x.grad![1]).toBe(0);
    expect(Number.isNaN(x.data[0])).toBe(true);
    expect(x.data[1]).toBe(2);
    expect(x.data[3]).toBeCloseTo(4 - 0.08, 12);
  });

  test('a NaN parameter row is not projected (its norm is not > epsilon), like torch.renorm', () => {
    const x = new Tensor(new Float32Array([NaN, 50, 30, 40]), [2, 2]);
    const opt = new L2ProjectedOptim([x], { lr: 0, epsilon: 1 });
    x.grad = new Float32Array(4);
    opt.step();
    expect(Number.isNaN(x.data[0])).toBe(true);
    expect(x.data[1]).toBe(50);
    expect(x.data[2]).toBeCloseTo(0.6, 6);
  });
});
