// SPDX-License-Identifier: MIT
// Tensor: a contiguous row-major float32/float64 array with a shape and an
// optional gradient, the unit that optimizers update in place.
import { bindArray } from './backend/arrays';
import { show } from './errors';
import { DType, FloatArray, floatDtypeOf, hasResizableBuffer, viewBuffer, viewByteLength, viewByteOffset, viewLength } from './types';

function checkShape(shape: unknown, length: number): number[] {
  if (!Array.isArray(shape)) throw new TypeError(`shape must be an array of integers, got ${show(shape)}`);
  let size = 1;
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isInteger(d)) {
      throw new TypeError(`shape must be an array of integers, got ${show(shape)}`);
    }
    if (d < 0) throw new RangeError(`shape must not have negative sizes, got ${show(shape)}`);
    // Every size, and so every run of rows and columns taken from the shape, stays an exact integer.
    if (!Number.isSafeInteger(d)) throw new RangeError(`shape sizes must be at most 2^53 - 1, got ${show(shape)}`);
    size *= d;
  }
  if (size !== length) {
    throw new RangeError(`shape ${show(shape)} holds ${size} elements but data has ${length}`);
  }
  if (length === 0 && !Number.isSafeInteger(shape.reduce((a: number, d: number) => a * (d === 0 ? 1 : d), 1))) {
    throw new RangeError(`shape ${show(shape)}: its non-zero sizes multiply beyond 2^53 - 1`);
  }
  return shape.slice();
}

/** show(), except that an object passing for a typed array without being one (a Proxy, say) is called that. */
function describeArrayLike(value: unknown): string {
  const passes = value instanceof Float32Array || value instanceof Float64Array;
  return passes && floatDtypeOf(value) === undefined ? `an object posing as a ${value instanceof Float64Array ? 'Float64Array' : 'Float32Array'} (a Proxy or a prototype trick), not the array itself` : show(value);
}

/**
 * Refuses an array over a buffer that can change size: a step (possibly on
 * another thread) must find the memory it was given.
 */
function checkFixedLength(a: FloatArray, what: string): void {
  if (hasResizableBuffer(a)) {
    throw new TypeError(`${what} must be a view of a fixed-length buffer, got a ${a instanceof Float64Array ? 'Float64Array' : 'Float32Array'} over a resizable one (copy it first, e.g. with .slice())`);
  }
}

/** Whether two typed arrays overlap in memory. */
function sharesMemory(a: FloatArray, b: FloatArray): boolean {
  if (viewBuffer(a) !== viewBuffer(b)) return false;
  const [aStart, bStart] = [viewByteOffset(a), viewByteOffset(b)];
  return aStart < bStart + viewByteLength(b) && bStart < aStart + viewByteLength(a);
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
/**
 * How many tensors are locked: while none is (nearly always), the data and grad
 * getters skip the set's lookup, which a model reading x.data element by element
 * paid at every element (15% of a small attack's time).
 */
let lockedCount = 0;

/** @internal */
export function lockTensor(t: Tensor): void {
  if (locked.has(t)) return;
  locked.add(t);
  lockedCount++;
}

/** @internal */
export function unlockTensor(t: Tensor): void {
  if (locked.delete(t)) lockedCount--;
}

function checkNotLocked(t: Tensor, what: string): void {
  if (lockedCount !== 0 && locked.has(t)) {
    throw new Error(`cannot use tensor.${what} while its optimizer's stepAsync() is running; await the step first`);
  }
}

export class Tensor {
  private readonly _data: FloatArray;
  private readonly _shape: readonly number[];
  private readonly _dtype: DType;
  private readonly _numel: number;
  private _grad: FloatArray | null = null;

  constructor(data: FloatArray | readonly number[], shape?: readonly number[]) {
    let arr: FloatArray;
    const dtype = floatDtypeOf(data);
    if (dtype !== undefined) {
      arr = data as FloatArray;
      checkFixedLength(arr, 'data');
    } else if (Array.isArray(data)) {
      for (let i = 0; i < data.length; i++) {
        if (typeof data[i] !== 'number') {
          throw new TypeError(`data[${i}] must be a number, got ${show(data[i])}`);
        }
      }
      arr = Float32Array.from(data);
    } else {
      throw new TypeError(`data must be a Float32Array, a Float64Array or an array of numbers, got ${describeArrayLike(data)}`);
    }
    // The engine's own length: an array object cannot claim more memory than it has.
    const length = viewLength(arr);
    this._shape = Object.freeze(shape === undefined ? [length] : checkShape(shape, length));
    this._data = arr;
    bindArray(arr);
    this._dtype = dtype ?? 'float32';
    this._numel = length;
  }

  /** The values, shared with the array given to the constructor; step() writes into it. */
  get data(): FloatArray {
    checkNotLocked(this, 'data');
    return this._data;
  }

  /** The sizes of the dimensions (fixed: a tensor's shape never changes). */
  get shape(): readonly number[] {
    return this._shape;
  }

  /** 'float32' or 'float64', as the data array. */
  get dtype(): DType {
    return this._dtype;
  }

  /** Whether an optimizer's stepAsync() is running on this tensor. */
  get busy(): boolean {
    return lockedCount !== 0 && locked.has(this);
  }

  get ndim(): number {
    return this._shape.length;
  }

  get numel(): number {
    return this._numel;
  }

  /** The gradient: a typed array of this tensor's dtype and length, or null. */
  get grad(): FloatArray | null {
    checkNotLocked(this, 'grad');
    return this._grad;
  }

  set grad(value: FloatArray | null) {
    checkNotLocked(this, 'grad');
    if (value === undefined) throw new TypeError('grad must be a typed array of the tensor\'s dtype and length, or null; got undefined');
    const grad = Tensor.checkGrad(value, this._dtype, this._numel);
    if (grad) checkFixedLength(grad, 'grad');
    // Kernels read the gradient while they write the parameter (torch too refuses a tensor as its own grad).
    if (grad && sharesMemory(grad, this._data)) throw new RangeError("grad must not share memory with the tensor's data; give the gradient an array of its own");
    this._grad = grad;
    if (grad) bindArray(grad);
  }

  /** @internal Whether the data still holds the tensor's elements (a buffer detached since holds none); the check of every step. */
  static dataIntact(t: Tensor): boolean {
    return viewLength(t._data) === t._numel;
  }

  /** Whether checkGrad would accept this value (no message built: the check of every step). */
  static gradFits(value: unknown, dtype: DType, length: number): boolean {
    if (value === null) return true;
    return floatDtypeOf(value) === dtype && viewLength(value as FloatArray) === length;
  }

  /** Validates a gradient for a tensor of this dtype and length (used again before every step). */
  static checkGrad(value: unknown, dtype: DType, length: number, name = 'grad'): FloatArray | null {
    if (Tensor.gradFits(value, dtype, length)) return value as FloatArray | null;
    // Not accepted: say why.
    const expected = dtype === 'float64' ? Float64Array : Float32Array;
    if (floatDtypeOf(value) !== dtype) {
      throw new TypeError(`${name} must be a ${expected.name} (the tensor's dtype is ${dtype}) or null, got ${describeArrayLike(value)}`);
    }
    const got = viewLength(value as FloatArray);
    // (Holding nothing where elements are due: most likely its buffer was transferred since, as the data's message says.)
    const hint = got === 0 && length > 0 ? ' (was its buffer transferred or detached?)' : '';
    throw new RangeError(`${name} must have the tensor's length ${length}, got length ${got}${hint}`);
  }

  /**
   * @internal A tensor sharing `data` and `grad` (no copies, no checks) under
   * another shape of the same size: how transforms see a parameter as rows.
   */
  static view(data: FloatArray, shape: number[], grad: FloatArray | null): Tensor {
    const t = Object.create(Tensor.prototype) as Tensor;
    const fields = t as unknown as { _data: FloatArray; _shape: readonly number[]; _dtype: DType; _numel: number; _grad: FloatArray | null };
    fields._data = data;
    fields._shape = Object.freeze(shape);
    fields._dtype = floatDtypeOf(data) ?? 'float32';
    fields._numel = viewLength(data);
    fields._grad = grad;
    return t;
  }

  toString(): string {
    const shown = Array.from(this._data.subarray(0, 6), (v) => Number(v.toPrecision(5)));
    const more = this._data.length > 6 ? ', ...' : '';
    return `Tensor(${this.dtype}, shape=[${this.shape.join(', ')}], [${shown.join(', ')}${more}])`;
  }
}
