// SPDX-License-Identifier: MIT
// Tensor: a contiguous row-major float32/float64 array with a shape and an
// optional gradient, the unit that optimizers update in place.
import { show } from './errors';
import { DType, FloatArray, dtypeOf } from './types';

function checkShape(shape: unknown, length: number): number[] {
  if (!Array.isArray(shape)) throw new TypeError(`shape must be an array of integers, got ${show(shape)}`);
  let size = 1;
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isInteger(d)) {
      throw new TypeError(`shape must be an array of integers, got ${show(shape)}`);
    }
    if (d < 0) throw new RangeError(`shape must not have negative sizes, got ${show(shape)}`);
    size *= d;
  }
  if (size !== length) {
    throw new RangeError(`shape ${show(shape)} holds ${size} elements but data has ${length}`);
  }
  return shape.slice();
}

/** Whether two typed arrays overlap in memory. */
function sharesMemory(a: FloatArray, b: FloatArray): boolean {
  return a.buffer === b.buffer && a.byteOffset < b.byteOffset + b.byteLength && b.byteOffset < a.byteOffset + a.byteLength;
}

/**
 * A parameter (or any float tensor) as the optimizers see it.
 *
 * `data` is shared, never copied: a Float32Array or Float64Array given to the
 * constructor is the tensor's storage, and `step()` writes the new values into
 * it. A plain number array is copied once into a new Float32Array. `grad`
 * likewise holds the very array assigned to it, and `step()` transforms it in
 * place. This is the same on every backend.
 */
/** Tensors whose optimizer's stepAsync() is running: reading or writing them would race with it. */
const locked = new WeakSet<Tensor>();

/** @internal */
export function lockTensor(t: Tensor): void {
  locked.add(t);
}

/** @internal */
export function unlockTensor(t: Tensor): void {
  locked.delete(t);
}

function checkNotLocked(t: Tensor, what: string): void {
  if (locked.has(t)) {
    throw new Error(`cannot use tensor.${what} while its optimizer's stepAsync() is running; await the step first`);
  }
}

export class Tensor {
  private readonly _data: FloatArray;
  readonly shape: readonly number[];
  readonly dtype: DType;
  private _grad: FloatArray | null = null;

  constructor(data: FloatArray | number[], shape?: number[]) {
    let arr: FloatArray;
    if (data instanceof Float32Array || data instanceof Float64Array) {
      arr = data;
    } else if (Array.isArray(data)) {
      for (let i = 0; i < data.length; i++) {
        if (typeof data[i] !== 'number') {
          throw new TypeError(`data[${i}] must be a number, got ${show(data[i])}`);
        }
      }
      arr = Float32Array.from(data);
    } else {
      throw new TypeError(`data must be a Float32Array, a Float64Array or an array of numbers, got ${show(data)}`);
    }
    this.shape = Object.freeze(shape === undefined ? [arr.length] : checkShape(shape, arr.length));
    this._data = arr;
    this.dtype = dtypeOf(arr);
  }

  /** The values, shared with the array given to the constructor; step() writes into it. */
  get data(): FloatArray {
    checkNotLocked(this, 'data');
    return this._data;
  }

  /** Whether an optimizer's stepAsync() is running on this tensor. */
  get busy(): boolean {
    return locked.has(this);
  }

  get ndim(): number {
    return this.shape.length;
  }

  get numel(): number {
    return this._data.length;
  }

  /** The gradient: a typed array of this tensor's dtype and length, or null. */
  get grad(): FloatArray | null {
    checkNotLocked(this, 'grad');
    return this._grad;
  }

  set grad(value: FloatArray | null) {
    checkNotLocked(this, 'grad');
    const grad = Tensor.checkGrad(value, this.dtype, this._data.length);
    // Kernels read the gradient while they write the parameter (torch too refuses a tensor as its own grad).
    if (grad && sharesMemory(grad, this._data)) throw new RangeError("grad must not share memory with the tensor's data; give the gradient an array of its own");
    this._grad = grad;
  }

  /** Whether checkGrad would accept this value (no message built: the check of every step). */
  static gradFits(value: unknown, dtype: DType, length: number): boolean {
    if (value === null || value === undefined) return true;
    const expected = dtype === 'float64' ? Float64Array : Float32Array;
    return value instanceof expected && value.length === length;
  }

  /** Validates a gradient for a tensor of this dtype and length (used again before every step). */
  static checkGrad(value: unknown, dtype: DType, length: number, name = 'grad'): FloatArray | null {
    if (Tensor.gradFits(value, dtype, length)) return (value ?? null) as FloatArray | null;
    // Not accepted: say why.
    const expected = dtype === 'float64' ? Float64Array : Float32Array;
    if (!(value instanceof expected)) {
      throw new TypeError(`${name} must be a ${expected.name} (the tensor's dtype is ${dtype}) or null, got ${show(value)}`);
    }
    throw new RangeError(`${name} must have the tensor's length ${length}, got length ${value.length}`);
  }

  /**
   * @internal A tensor sharing `data` and `grad` (no copies, no checks) under
   * another shape of the same size: how transforms see a parameter as rows.
   */
  static view(data: FloatArray, shape: number[], grad: FloatArray | null): Tensor {
    const t = Object.create(Tensor.prototype) as Tensor;
    const fields = t as unknown as { _data: FloatArray; shape: readonly number[]; dtype: DType; _grad: FloatArray | null };
    fields._data = data;
    fields.shape = Object.freeze(shape);
    fields.dtype = dtypeOf(data);
    fields._grad = grad;
    return t;
  }

  toString(): string {
    const shown = Array.from(this._data.subarray(0, 6), (v) => Number(v.toPrecision(5)));
    const more = this._data.length > 6 ? ', ...' : '';
    return `Tensor(${this.dtype}, shape=[${this.shape.join(', ')}], [${shown.join(', ')}${more}])`;
  }
}
