// SPDX-License-Identifier: MIT
// The native backend: the N-API addon (native/binding.cc), zero-copy on the
// caller's typed arrays. The addon checks every argument again in C++.
import { markAsUntransferable } from 'worker_threads';
import { DType, FloatArray, dtypeOf, elementBytes, viewBuffer } from '../types';
import { jsHeap, placedArray } from './arrays';
import { PAGE_BYTES, PageRotation, slackFor, statePlacement } from './placement';
import { GroupTensor, TENSOR_SPEC_WIDTH, tensorSpec } from './groupStep';
import {
  AdagradKernelOptions, AdamKernelOptions, BackendInfo, KernelBackend, RELEASED_STATE, RmspropKernelOptions, SgdKernelOptions, StateBuffer,
} from './types';

/** The functions native/binding.cc exports. */
export interface NativeAddon {
  version(): string;
  isa(): string;
  compiledIsas(): string[];
  supportedIsas(): string[];
  setIsa(name: string): void;
  rowNormsL2(x: FloatArray, rows: number, cols: number, out: FloatArray): void;
  normalizeRowsL2(g: FloatArray, rows: number, cols: number, divByZeroEps: number): void;
  renormRowsL2(p: FloatArray, rows: number, cols: number, maxNorm: number): void;
  scaleBias(g: FloatArray, scale: number, applyScale: boolean, bias: number, applyBias: boolean): void;
  sgdStep(
    p: FloatArray, g: FloatArray, buf: FloatArray | null, lr: number, momentum: number, dampening: number,
    weightDecay: number, nesterov: boolean, maximize: boolean, bufferInitialized: boolean,
  ): void;
  adamStep(
    p: FloatArray, g: FloatArray, expAvg: FloatArray, expAvgSq: FloatArray, maxExpAvgSq: FloatArray | null,
    lr: number, beta1: number, beta2: number, eps: number, weightDecay: number, decoupledWeightDecay: boolean,
    amsgrad: boolean, maximize: boolean, stepSize: number, biasCorrection2Sqrt: number,
  ): void;
  rmspropStep(
    p: FloatArray, g: FloatArray, squareAvg: FloatArray, gradAvg: FloatArray | null, momentumBuffer: FloatArray | null,
    lr: number, alpha: number, eps: number, weightDecay: number, momentum: number, centered: boolean, maximize: boolean,
  ): void;
  adagradStep(p: FloatArray, g: FloatArray, sum: FloatArray, clr: number, weightDecay: number, eps: number, maximize: boolean): void;
  normalizeRowsL1(g: FloatArray, rows: number, cols: number, divByZeroEps: number): void;
  signInPlace(g: FloatArray): void;
  clampInPlace(x: FloatArray, lo: number, hasLo: boolean, hi: number, hasHi: boolean): void;
  topQRows(g: FloatArray, rows: number, cols: number, keep: number): void;
  topQSignL1Rows(g: FloatArray, rows: number, cols: number, keep: number, divByZeroEps: number): void;
  l1LmoRows(g: FloatArray, rows: number, cols: number): void;
  frankWolfeStep(p: FloatArray, g: FloatArray, alpha: number, lmoScale: number): void;
  /** The arrays as one Array, or (cheaper: no property lookups) as the arguments after tensorSpec. */
  groupStep(spec: Float64Array, tensorSpec: Float64Array, ...arrays: (FloatArray | null)[] | [(FloatArray | null)[]]): void;
  /** Recorded kernel calls, each [name, ...arguments] (groupStep's arrays spread), checked at once and run in order off the JavaScript thread. */
  runBatchAsync(calls: unknown[][], done: (err: Error | null) => void): void;
  renormRowsL2PerRow(p: FloatArray, rows: number, cols: number, maxNorms: Float64Array): void;
  setNumThreads(n: number): void;
  getNumThreads(): number;
  benchFloor(p: Float32Array, g: Float32Array, scale: number, lr: number, threads: number): void;
  alignedByteOffset(buffer: ArrayBuffer, alignment: number): number;
}

/** Groups of up to this many arrays (6 per tensor) pass them to the addon as arguments. */
const MAX_SPREAD_ARRAYS = 6 * 256;

/**
 * The flat array list of a group step: p, g, three state buffers and the
 * per-row radii of each tensor. (A plain loop: flatMap took 0.5 us a tensor,
 * as much as the addon's own checks.)
 */
function groupArrays(tensors: GroupTensor[]): (FloatArray | null)[] {
  const arrays: (FloatArray | null)[] = [];
  for (const t of tensors) arrays.push(t.p, t.g, arrayOf(t.buffers[0]), arrayOf(t.buffers[1]), arrayOf(t.buffers[2]), t.maxNorms);
  return arrays;
}

function arrayOf(buf: StateBuffer): FloatArray;
function arrayOf(buf: StateBuffer | null): FloatArray | null;
function arrayOf(buf: StateBuffer | null): FloatArray | null {
  return buf ? buf.live() : null;
}

/**
 * An addon whose kernel methods record their calls (runAsync): each call as
 * [name, ...arguments], groupStep's arrays spread as runBatchAsync takes them.
 */
function recorderInto(calls: unknown[][]): NativeAddon {
  return new Proxy({} as NativeAddon, {
    get: (_target, name) => (...args: unknown[]) => {
      if (name === 'groupStep' && Array.isArray(args[2])) calls.push([name, args[0], args[1], ...(args[2] as unknown[])]);
      else calls.push([name, ...args]);
    },
  });
}

/** State kept in a plain typed array that the addon updates in place. */
class ArrayStateBuffer implements StateBuffer {
  constructor(readonly dtype: DType, readonly length: number, private array: FloatArray | null) {}
  read(): FloatArray {
    return this.live().slice();
  }
  live(): FloatArray {
    if (this.array === null) throw new Error(RELEASED_STATE);
    return this.array;
  }
  write(src: FloatArray): void {
    if (dtypeOf(src) !== this.dtype || src.length !== this.length) {
      throw new RangeError(`state buffer needs ${this.dtype}[${this.length}], got ${dtypeOf(src)}[${src.length}]`);
    }
    this.live().set(src);
  }
  /** (The garbage collector frees the array once nothing else holds it.) */
  release(): void {
    this.array = null;
  }
}

export class NativeBackend implements KernelBackend {
  readonly info: BackendInfo;

  /** The addon, or while runAsync records, a recorder of its kernel calls. */
  private addon: NativeAddon;
  /** The addon itself, for what is asked while recording too (alignedByteOffset: where state goes). */
  private readonly loaded: NativeAddon;
  /** The page offsets of large allocArray arrays, in turn. */
  private readonly pageRotation = new PageRotation();
  /** groupStep's tensor spec arrays, by tensor count (see tensorSpecArray). */
  private readonly tensorSpecArrays = new Map<number, Float64Array>();

  constructor(addon: NativeAddon, binary: string) {
    this.addon = addon;
    this.loaded = addon;
    this.info = { backend: 'native', isa: addon.isa(), version: addon.version(), binary };
  }

  rowNormsL2(x: FloatArray, rows: number, cols: number, out: FloatArray): void {
    this.addon.rowNormsL2(x, rows, cols, out);
  }
  normalizeRowsL2(g: FloatArray, rows: number, cols: number, divByZeroEps: number): void {
    this.addon.normalizeRowsL2(g, rows, cols, divByZeroEps);
  }
  renormRowsL2(p: FloatArray, rows: number, cols: number, maxNorm: number): void {
    this.addon.renormRowsL2(p, rows, cols, maxNorm);
  }
  scaleBias(g: FloatArray, scale: number, applyScale: boolean, bias: number, applyBias: boolean): void {
    this.addon.scaleBias(g, scale, applyScale, bias, applyBias);
  }
  sgdStep(p: FloatArray, g: FloatArray, buf: StateBuffer | null, o: SgdKernelOptions, bufferInitialized: boolean): void {
    this.addon.sgdStep(p, g, arrayOf(buf), o.lr, o.momentum, o.dampening, o.weightDecay, o.nesterov, o.maximize, bufferInitialized);
  }
  normalizeRowsL1(g: FloatArray, rows: number, cols: number, divByZeroEps: number): void {
    this.addon.normalizeRowsL1(g, rows, cols, divByZeroEps);
  }
  signInPlace(g: FloatArray): void {
    this.addon.signInPlace(g);
  }
  clampInPlace(x: FloatArray, lo: number, hasLo: boolean, hi: number, hasHi: boolean): void {
    this.addon.clampInPlace(x, lo, hasLo, hi, hasHi);
  }
  topQRows(g: FloatArray, rows: number, cols: number, keep: number): void {
    this.addon.topQRows(g, rows, cols, keep);
  }
  topQSignL1Rows(g: FloatArray, rows: number, cols: number, keep: number, divByZeroEps: number): void {
    this.addon.topQSignL1Rows(g, rows, cols, keep, divByZeroEps);
  }
  l1LmoRows(g: FloatArray, rows: number, cols: number): void {
    this.addon.l1LmoRows(g, rows, cols);
  }
  frankWolfeStep(p: FloatArray, g: FloatArray, alpha: number, lmoScale: number): void {
    this.addon.frankWolfeStep(p, g, alpha, lmoScale);
  }
  adamStep(p: FloatArray, g: FloatArray, m: StateBuffer, v: StateBuffer, vmax: StateBuffer | null, o: AdamKernelOptions): void {
    this.addon.adamStep(
      p, g, arrayOf(m), arrayOf(v), arrayOf(vmax), o.lr, o.beta1, o.beta2, o.eps, o.weightDecay,
      o.decoupledWeightDecay, o.amsgrad, o.maximize, o.stepSize, o.biasCorrection2Sqrt,
    );
  }
  rmspropStep(p: FloatArray, g: FloatArray, sq: StateBuffer, ga: StateBuffer | null, buf: StateBuffer | null, o: RmspropKernelOptions): void {
    this.addon.rmspropStep(p, g, arrayOf(sq), arrayOf(ga), arrayOf(buf), o.lr, o.alpha, o.eps, o.weightDecay, o.momentum, o.centered, o.maximize);
  }
  adagradStep(p: FloatArray, g: FloatArray, sum: StateBuffer, o: AdagradKernelOptions): void {
    this.addon.adagradStep(p, g, arrayOf(sum), o.clr, o.weightDecay, o.eps, o.maximize);
  }
  groupStep(spec: Float64Array, tensors: GroupTensor[]): void {
    const arrays = groupArrays(tensors);
    const specs = tensorSpec(tensors, this.tensorSpecArray(tensors.length));
    // As arguments (a group of 41 small tensors: 34 -> 24 us a step), but a
    // call's arguments are bounded (V8 refuses tens of thousands), so large
    // groups pass the Array.
    if (arrays.length <= MAX_SPREAD_ARRAYS) this.addon.groupStep(spec, specs, ...arrays);
    else this.addon.groupStep(spec, specs, arrays);
  }

  /**
   * A tensor spec array to refill, by tensor count: allocating one cost a
   * small step a sixth of its time (1.5 -> 1.3 us, 32 elements). The addon
   * reads it during the call; while runAsync records, the calls keep their
   * arguments until the batch is read, so each gets an array of its own.
   */
  private tensorSpecArray(tensors: number): Float64Array | undefined {
    if (this.addon !== this.loaded) return undefined;
    let array = this.tensorSpecArrays.get(tensors);
    if (array === undefined) {
      // A few sizes (an optimizer's groups); past that, start over rather than grow.
      if (this.tensorSpecArrays.size >= 16) this.tensorSpecArrays.clear();
      array = new Float64Array(tensors * TENSOR_SPEC_WIDTH);
      this.tensorSpecArrays.set(tensors, array);
    }
    return array;
  }
  runAsync(record: () => void): Promise<void> {
    const calls: unknown[][] = [];
    const addon = this.addon;
    this.addon = recorderInto(calls);
    try {
      record();
    } finally {
      this.addon = addon;
    }
    if (calls.length === 0) return Promise.resolve();
    // The calls write these arrays' memory from another thread until they
    // settle. Transferring a buffer (postMessage, structuredClone and, on
    // Node versions where this sets a detach key, ArrayBuffer#transfer)
    // would hand that memory to a new owner that may free it under the
    // step: marked, such a transfer copies (or throws) instead, as for
    // Node's own Buffer pool. The mark is permanent; nothing else changes.
    for (const call of calls) for (const a of call) if (ArrayBuffer.isView(a)) markAsUntransferable(viewBuffer(a as FloatArray));
    return new Promise((resolve, reject) => {
      // The addon checks every call synchronously (and throws, running none), then runs them off the JavaScript thread.
      addon.runBatchAsync(calls, (err) => (err ? reject(err) : resolve()));
    });
  }
  renormRowsL2PerRow(p: FloatArray, rows: number, cols: number, maxNorms: Float64Array): void {
    this.addon.renormRowsL2PerRow(p, rows, cols, maxNorms);
  }
  setNumThreads(n: number): void {
    this.addon.setNumThreads(n);
  }
  allocState(dtype: DType, length: number, neighbours: readonly (FloatArray | null | undefined)[] = []): StateBuffer {
    // On the parameter's offset within a cache line (the sweep aligns its vectors on the
    // parameter: ResNet-18's Adam step over allocArray tensors ran about 15% faster with
    // both moments aligned with it than at `new Float32Array`'s 16 bytes), and if large,
    // at the page offset farthest from its neighbours' (see placement.ts).
    const { slack, want } = statePlacement(neighbours.map((a) => (a ? this.pageOffsetOf(a) : -1)), length * elementBytes(dtype));
    return new ArrayStateBuffer(dtype, length, placedArray(dtype, length, slack, this.placeAt(want, slack)));
  }

  /** Where in a buffer an array starts `want` bytes past a multiple of `slack` (a line or a page) in memory. */
  private placeAt(want: number, slack: number): (buffer: ArrayBuffer) => number {
    return (buffer) => (this.loaded.alignedByteOffset(buffer, slack) + want) % slack;
  }

  /** Where `a`'s first element lies within its page, or -1 where the addon cannot tell (a SharedArrayBuffer's memory). */
  private pageOffsetOf(a: FloatArray): number {
    if (a.byteLength === 0) return -1;
    try {
      return (a.byteOffset + PAGE_BYTES - this.loaded.alignedByteOffset(a.buffer as ArrayBuffer, PAGE_BYTES)) % PAGE_BYTES;
    } catch {
      return -1;
    }
  }

  allocArray(dtype: DType, length: number): FloatArray {
    // On a line; large arrays also at page offsets taken in turn (a tensor's data and
    // gradient, allocated one after the other, far apart: see placement.ts).
    const slack = slackFor(length * elementBytes(dtype));
    const want = slack === PAGE_BYTES ? this.pageRotation.take() : 0;
    return jsHeap.alloc(dtype, length, slack, this.placeAt(want, slack));
  }
}
