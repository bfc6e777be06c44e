// SPDX-License-Identifier: MIT
// Shared type names of the public API, and what a typed array really is.

export type DType = 'float32' | 'float64';
export type FloatArray = Float32Array | Float64Array;

/** The bytes of one element of a dtype. */
export function elementBytes(dtype: DType): number {
  return dtype === 'float64' ? 8 : 4;
}

/** The dtype of an array already known to be a genuine Float32Array or Float64Array. */
export function dtypeOf(a: FloatArray): DType {
  return a instanceof Float64Array ? 'float64' : 'float32';
}

// A typed array's length, offset, buffer and kind as the engine records them,
// read with %TypedArray%.prototype's own getters (taken at load): a subclass,
// an own property or a Proxy can change what `a.length` says, but not these.
// Whatever computes memory addresses from an array the caller gave reads them.
const typedArrayPrototype = Object.getPrototypeOf(Uint8Array.prototype) as object;

function intrinsicGetter<T>(key: string | symbol): (this: unknown) => T {
  const get = Object.getOwnPropertyDescriptor(typedArrayPrototype, key)?.get;
  if (!get) throw new Error(`this JavaScript engine's typed arrays lack ${String(key)}`);
  return get as (this: unknown) => T;
}

const kindOfView = intrinsicGetter<string | undefined>(Symbol.toStringTag);
const lengthOfView = intrinsicGetter<number>('length');
const byteOffsetOfView = intrinsicGetter<number>('byteOffset');
const byteLengthOfView = intrinsicGetter<number>('byteLength');
const bufferOfView = intrinsicGetter<ArrayBufferLike>('buffer');

/** 'float32' or 'float64' for a genuine Float32Array or Float64Array (subclasses too), else undefined (a Proxy or a look-alike as well). */
export function floatDtypeOf(x: unknown): DType | undefined {
  const kind = kindOfView.call(x);
  return kind === 'Float32Array' ? 'float32' : kind === 'Float64Array' ? 'float64' : undefined;
}

/** The element count the engine records for a typed array (0 once its buffer is detached). */
export function viewLength(a: ArrayBufferView): number {
  return lengthOfView.call(a);
}

/** The byte offset the engine records for a typed array. */
export function viewByteOffset(a: ArrayBufferView): number {
  return byteOffsetOfView.call(a);
}

/** The byte length the engine records for a typed array. */
export function viewByteLength(a: ArrayBufferView): number {
  return byteLengthOfView.call(a);
}

/** The buffer the engine records for a typed array. */
export function viewBuffer(a: ArrayBufferView): ArrayBufferLike {
  return bufferOfView.call(a);
}

/** Whether the array's buffer can change size (a resizable ArrayBuffer or a growable SharedArrayBuffer). */
export function hasResizableBuffer(a: ArrayBufferView): boolean {
  const buffer = bufferOfView.call(a) as { resizable?: boolean; growable?: boolean };
  return buffer.resizable === true || buffer.growable === true;
}

/**
 * A new plain view of a genuine Float32Array's or Float64Array's memory
 * (the engine's own length and offset): the array to compute addresses from,
 * whatever the given object's properties claim.
 */
export function plainView<A extends FloatArray>(a: A): A {
  const dtype = floatDtypeOf(a);
  if (dtype === undefined) throw new TypeError(`expected a Float32Array or Float64Array, got ${Object.prototype.toString.call(a)}`);
  const View = dtype === 'float64' ? Float64Array : Float32Array;
  const length = lengthOfView.call(a);
  // An empty view has no memory to address (and one whose buffer was detached, transferred
  // away, cannot be constructed again): a new empty array stands for it.
  if (length === 0) return new View(0) as A;
  return new View(bufferOfView.call(a) as ArrayBuffer, byteOffsetOfView.call(a), length) as A;
}
