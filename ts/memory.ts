// SPDX-License-Identifier: MIT
// allocArray / freeArray: arrays in the memory the current backend computes
// in. On WebAssembly that is the module's memory, so optimizer steps on
// tensors over such arrays run in place instead of copying every parameter
// and gradient in and out; on the native backend they are ordinary arrays
// starting on a 64-byte boundary.
import { heapOf } from './backend/arrays';
import { currentBackend } from './backend/loader';
import { show } from './errors';
import { DType, FloatArray } from './types';

/**
 * A zero-filled Float32Array (or Float64Array) of `length` elements in the
 * memory the current backend computes in. Use it for a tensor's data and
 * gradient (`new Tensor(allocArray(n), shape)`, `t.grad = allocArray(n)`) and
 * the WebAssembly backend steps them where they are, with no copies. It is
 * an ordinary typed array in every other way, and stays valid (also as the
 * memory grows) until `freeArray(array)`.
 *
 * On the native backend it is a plain typed array (the native step never
 * copies anyway) whose first element is on a 64-byte boundary, where steps
 * over data that fits the caches run fastest. The same code runs on both backends.
 */
export function allocArray(length: number, dtype: DType = 'float32'): FloatArray {
  if (typeof length !== 'number' || !Number.isInteger(length)) {
    throw new TypeError(`allocArray(length): length must be an integer, got ${show(length)}`);
  }
  if (length < 0 || !Number.isSafeInteger(length)) {
    throw new RangeError(`allocArray(length): length must be a non-negative integer, got ${length}`);
  }
  if (dtype !== 'float32' && dtype !== 'float64') {
    throw new TypeError(`allocArray(length, dtype): dtype must be 'float32' or 'float64', got ${show(dtype)}`);
  }
  return currentBackend().allocArray(dtype, length);
}

/**
 * Gives back an array from `allocArray` (on whichever backend allocated it).
 * Afterwards every optimizer step refuses a tensor whose data or gradient is
 * that array or a view of it (a RangeError, nothing changed), also after the
 * memory has gone to a new array: a tensor is tied to the array its data and
 * gradient lay in when it took them. On WebAssembly the memory is reused:
 * read or write the array yourself after this and you see other data.
 * Freeing twice, or freeing another array, throws.
 */
export function freeArray(array: FloatArray): void {
  if (!(array instanceof Float32Array || array instanceof Float64Array)) {
    throw new TypeError(`freeArray(array): array must be a Float32Array or Float64Array from allocArray(), got ${show(array)}`);
  }
  const heap = heapOf(array);
  if (heap === undefined) throw new TypeError('freeArray() takes an array that allocArray() returned, not a view of one');
  heap.free(array);
}
