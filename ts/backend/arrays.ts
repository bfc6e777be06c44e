// SPDX-License-Identifier: MIT
// Arrays allocated where a backend computes (allocArray): which backend's
// memory an array lives in, and whether it is still allocated.
//
// An array from the WebAssembly backend is a view of the module's memory,
// so its optimizer steps need no copies; once freed, that memory is reused
// for other arrays or for optimizer state, so every step refuses a freed
// array (or any other view of that memory) rather than writing through it.
import { DType, FloatArray } from '../types';

/** The memory arrays are allocated from: one per backend. */
export interface ArrayHeap {
  /** Throws unless `a` lies wholly inside an array this heap allocated and has not freed. */
  requireLive(a: ArrayBufferView, name: string): void;
  /** Frees an array this heap allocated (the very object allocArray returned). */
  free(a: FloatArray): void;
  /**
   * Ties the view `a` to the allocated array it lies in now (a tensor took it
   * as data or gradient), so that requireLive refuses it once that array is
   * freed, also after its memory has gone to another array.
   */
  bind(a: ArrayBufferView): void;
}

// Every buffer an allocated array can have, mapped to its heap. Ordinary
// arrays are never here, so for them the check of a step is one lookup.
const heaps = new WeakMap<ArrayBufferLike, ArrayHeap>();
let anyAllocated = false;

/** @internal Records that arrays over `buffer` belong to `heap`. */
export function registerBuffer(buffer: ArrayBufferLike, heap: ArrayHeap): void {
  heaps.set(buffer, heap);
  anyAllocated = true;
}

/** @internal The heap an array was allocated from, if any. */
export function heapOf(a: ArrayBufferView): ArrayHeap | undefined {
  return anyAllocated ? heaps.get(a.buffer) : undefined;
}

/** @internal Whether allocArray has ever been called (until then no step needs checkArrayLive). */
export function anyArrayAllocated(): boolean {
  return anyAllocated;
}

/** @internal See ArrayHeap.bind: called when a tensor takes `a` as its data or gradient. */
export function bindArray(a: ArrayBufferView): void {
  if (anyAllocated) heaps.get(a.buffer)?.bind(a);
}

/** @internal Throws if `a` is (a view of) an allocated array that has been freed. */
export function checkArrayLive(a: FloatArray, name: string): void {
  heaps.get(a.buffer)?.requireLive(a, name);
}

/**
 * A zero-filled array of `length` elements at byte place(buffer) of a buffer
 * `slack` bytes longer, for the native backend's placed arrays (allocArray,
 * state buffers); a plain one when that is not a whole element in (the C
 * library aligns at least to 8 bytes, so it never happens) or past the slack.
 */
export function placedArray(dtype: DType, length: number, slack: number, place: (buffer: ArrayBuffer) => number): FloatArray {
  const Typed = dtype === 'float64' ? Float64Array : Float32Array;
  if (length === 0) return new Typed(0);
  const buffer = new ArrayBuffer(length * Typed.BYTES_PER_ELEMENT + slack);
  const offset = place(buffer);
  return offset % Typed.BYTES_PER_ELEMENT === 0 && offset <= slack ? new Typed(buffer, offset, length) : new Typed(length);
}

/**
 * The native backend's arrays: ordinary typed arrays (the addon works on any
 * array in place), placed in a slightly longer buffer where the native backend
 * says (see NativeBackend.allocArray): at a 64-byte boundary, where every
 * vector the kernels touch lies within a cache line (`new Float32Array`'s
 * memory is aligned to 16 bytes only: a step over data that fits the caches
 * runs a few percent faster over aligned arrays, and ran 20% faster before
 * the kernels realigned a gradient half a vector off its parameter); large
 * ones also at different offsets within a page. Freeing one leaves its
 * memory to the garbage collector but marks it, so that steps refuse it as
 * they do on WebAssembly: code written against one backend behaves the same
 * on the other.
 */
class JsHeap implements ArrayHeap {
  private readonly allocated = new WeakSet<FloatArray>();
  private readonly freed = new WeakSet<ArrayBufferLike>();

  /** An array of `length` elements, placed as placedArray places it. */
  alloc(dtype: DType, length: number, slack: number, place: (buffer: ArrayBuffer) => number): FloatArray {
    let a: FloatArray;
    try {
      a = placedArray(dtype, length, slack, place);
    } catch (err) {
      throw new RangeError(`allocArray(length): ${length} ${dtype} elements cannot be allocated (${(err as Error).message})`);
    }
    this.allocated.add(a);
    registerBuffer(a.buffer, this);
    return a;
  }

  requireLive(a: ArrayBufferView, name: string): void {
    if (this.freed.has(a.buffer)) throw new RangeError(`${name} is an array that freeArray() has freed, or a view of one`);
  }

  bind(): void {
    // Each array has a buffer of its own, which requireLive checks: nothing to tie.
  }

  free(a: FloatArray): void {
    if (!this.allocated.has(a)) throw new TypeError('freeArray() takes an array that allocArray() returned, not a view of one');
    if (this.freed.has(a.buffer)) throw new RangeError('freeArray(): this array has already been freed');
    this.freed.add(a.buffer);
  }
}

/** @internal The native backend's heap. */
export const jsHeap = new JsHeap();
