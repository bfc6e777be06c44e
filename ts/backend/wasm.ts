// SPDX-License-Identifier: MIT
// The WebAssembly backend: the same C++ kernels compiled by emscripten into a
// standalone module (wasm/exports.cc), loaded here without emscripten's glue.
//
// Optimizer state lives in the module's linear memory for the optimizer's
// whole life (StateBuffer). Parameters and gradients in arrays from
// allocArray live there too and are stepped in place; any other array is
// copied through a staging area a block at a time (groupStep).
// Two builds of each module: plain memory (the default) and shared memory
// (a SharedArrayBuffer, which growing never detaches), which the backend
// moves to when allocArray is first called. Views for the module's own use
// are made fresh after every allocation: growth detaches a plain memory's
// views, and a shared memory's old views do not reach the new pages.
import * as fs from 'fs';
import { ArrayHeap, heapOf, registerBuffer } from './arrays';
import { PAGE_BYTES, PageRotation, slackFor, statePlacement } from './placement';
import { DType, FloatArray, dtypeOf, elementBytes, floatDtypeOf, plainView, viewLength } from '../types';
import { GroupTensor, Projection, SPEC, Transform } from './groupStep';
import {
  AdagradKernelOptions, AdamKernelOptions, BackendInfo, KernelBackend, RELEASED_STATE, RmspropKernelOptions, SgdKernelOptions, StateBuffer,
} from './types';

/** @internal The raw exports of a module (test/wasmExports.test.ts calls them directly). */
export interface WasmExports {
  memory: WebAssembly.Memory;
  _initialize?: () => void;
  malloc(bytes: number): number;
  free(ptr: number): void;
  lp_isa(): number;
  [name: string]: unknown;
}

type KernelFn = (...args: number[]) => number;

/** What the non-zero return codes of wasm/exports.cc mean. */
const WASM_ERRORS: Record<number, string> = {
  1: 'rows * cols overflows the 32-bit address space',
  2: 'a pointer is misaligned for its element type',
  3: 'an array lies outside the module memory',
  4: 'a momentum buffer is required when momentum != 0',
  5: 'a non-empty array is at address 0',
  6: 'arrays overlap',
  7: 'the group spec is malformed',
  8: 'the tensor spec is malformed',
  9: 'a per-row radius is negative or NaN',
  10: 'the module is out of memory',
};

/**
 * Elements a group step stages at a time: p and g of a block (512 KiB in
 * float32) stay in a core's L2 while they are copied in, stepped and copied
 * out. Measured on the ImageNet and CIFAR workloads of `npm run bench`:
 * blocks from 32K to 256K elements run within noise of each other.
 */
const STAGE_ELEMENTS = 1 << 16;

/**
 * Whether each element of this tensor steps on its own under this spec (no
 * gradient norm, no L2 renorm, one clamp radius for all rows): then a row may
 * be staged in pieces, with the bits of one call.
 */
function elementwise(spec: Float64Array, t: GroupTensor): boolean {
  return spec[SPEC.transform] !== Transform.L2Normalize && spec[SPEC.project] !== Projection.L2Renorm && (spec[SPEC.project] !== Projection.LinfClamp || !t.maxNorms);
}

/** Rows per staged block for rows of `cols` elements (at least one row). */
function stageRows(cols: number): number {
  return cols === 0 ? 1 : Math.max(1, Math.floor(STAGE_ELEMENTS / cols));
}

/**
 * Rows per call for a tensor whose p and g both live in the module's memory
 * (allocArray): nothing is staged, so the whole tensor goes in one call, as
 * on the native backend (rows of 64K elements or more then take the kernels'
 * pipelined sweep, which works across the rows of a call), except that
 * per-row radii are still staged, this many rows at a time.
 */
const RESIDENT_RADII_ROWS = 1 << 13;

function suffix(dtype: DType): 'f32' | 'f64' {
  return dtype === 'float64' ? 'f64' : 'f32';
}

/** One dtype's tensors of a group step, checked, with where their arrays live (see WasmBackend.groupStep). */
interface DtypeStepPlan {
  dtype: 'float32' | 'float64';
  tensors: GroupTensor[];
  /** Where p and g of each tensor live in the module's memory (-1: staged). */
  residentP: number[];
  residentG: number[];
  /** Rows per call of each tensor: a staged block, or (p and g resident) the whole tensor. */
  rowsPerCall: number[];
  /**
   * Staged tensors whose rows are longer than a block and whose elements step
   * independently (see elementwise): staged STAGE_ELEMENTS elements at a time
   * instead of a row at a time.
   */
  cutRows: boolean[];
  /** The largest block staged at a time: p and g elements, and radii (rows). */
  blockElements: number;
  blockRows: number;
}

/**
 * Where a state buffer's memory is: apart from the buffer object, so the
 * finalizer can free it once the buffer is collected, and so it can be
 * moved when the backend changes to its shared-memory module. `ptr` as
 * malloc returned it (for free), `at` where the buffer starts (within
 * `slack` bytes after ptr: see placeAfter), `bytes` its size.
 */
interface StateCell {
  ptr: number;
  at: number;
  slack: number;
  bytes: number;
}

/** The first multiple of `alignment` at or after `address`. */
function alignUp(address: number, alignment: number): number {
  return Math.ceil(address / alignment) * alignment;
}

/**
 * The first address at or after `ptr` that lies `offset` bytes past a
 * multiple of `slack` (a line or a page: see placement.ts); an allocation
 * `slack` bytes longer than its array holds it there. The module's memory
 * starts on a page, so these are offsets within the machine's lines and pages.
 * (malloc aligns to 8 bytes only: a state buffer there had every 16-byte
 * vector across two, and one in four across two lines.)
 */
function placeAfter(ptr: number, offset: number, slack: number): number {
  return ptr + ((((offset - ptr) % slack) + slack) % slack);
}

/**
 * Where a group step stages a block's parameter and gradient within pages
 * (when they are not allocArray arrays already): apart, and state buffers of
 * such tensors apart from both (allocState).
 */
const STAGED_P_PAGE_OFFSET = 0;
const STAGED_G_PAGE_OFFSET = 2048;

class WasmStateBuffer implements StateBuffer {
  constructor(private readonly backend: WasmBackend, readonly cell: StateCell, readonly dtype: DType, readonly length: number) {}
  read(): FloatArray {
    return this.live().slice();
  }
  write(src: FloatArray): void {
    if (dtypeOf(src) !== this.dtype || src.length !== this.length) {
      throw new RangeError(`state buffer needs ${this.dtype}[${this.length}], got ${dtypeOf(src)}[${src.length}]`);
    }
    this.live().set(src);
  }
  live(): FloatArray {
    if (this.cell.ptr === 0) throw new Error(RELEASED_STATE);
    return this.backend.view(this.dtype, this.cell.at, this.length);
  }
  release(): void {
    this.backend.freeState(this.cell);
  }
}

/** The dtype of an array a caller handed over (a TypeError for anything but a genuine Float32Array or Float64Array). */
function dtypeOfInput(a: FloatArray): DType {
  const dtype = floatDtypeOf(a);
  if (dtype === undefined) throw new TypeError('WebAssembly backend: expected a Float32Array or Float64Array');
  return dtype;
}

/** Throws unless every state buffer given is one of this backend's, of `dtype` and `n` elements (`of` names their tensor). */
function requireStates(dtype: DType, n: number, buffers: readonly (StateBuffer | null)[], of = ''): void {
  for (const b of buffers) {
    if (b !== null && !(b instanceof WasmStateBuffer && b.dtype === dtype && b.length === n)) {
      throw new RangeError(`WebAssembly backend: a state buffer${of} is not ${dtype}[${n}]`);
    }
    // (Its memory may belong to something else by now.)
    if (b !== null && b.cell.ptr === 0) throw new Error(RELEASED_STATE);
  }
}

/** The heap address of a state buffer (0 for none). */
function addressOf(buf: StateBuffer | null): number {
  return buf ? (buf as WasmStateBuffer).cell.at : 0;
}

/** @internal Compiles and instantiates one of the modules; throws if this engine cannot run it (e.g. no SIMD). */
export function instantiate(file: string): WasmExports {
  const module = new WebAssembly.Module(fs.readFileSync(file));
  const instance = new WebAssembly.Instance(module, {
    env: { emscripten_notify_memory_growth: () => undefined },
  });
  const exports = instance.exports as unknown as WasmExports;
  exports._initialize?.();
  return exports;
}

/** An array allocArray handed out: its malloc'd address and the bytes it spans. */
interface ArrayBlock {
  ptr: number;
  start: number;
  end: number;
  freed: boolean;
}

export class WasmBackend implements KernelBackend, ArrayHeap {
  readonly info: BackendInfo;
  // The running module: the plain-memory one until allocArray is first
  // called, then the shared-memory one (see useSharedMemory).
  private exports: WasmExports;
  private shared = false;
  // Every live state buffer's memory (moved along by useSharedMemory), and
  // the finalizer that frees it once its StateBuffer object is collected.
  private readonly liveStates = new Set<StateCell>();
  private readonly freeOnCollect: FinalizationRegistry<StateCell>;
  // The staging area of group steps (see groupStep), grown when a step needs more.
  private staging = { ptr: 0, bytes: 0 };
  // Arrays from allocArray: by object (for freeArray), and the live ones'
  // spans sorted by address (to check any view of the memory at a step).
  private readonly arrayBlocks = new WeakMap<FloatArray, ArrayBlock>();
  private readonly liveBlocks: ArrayBlock[] = [];
  // Views a tensor has taken (bind), by the array they lay in then: every
  // array shares the module's one buffer, so once freed memory goes to a new
  // array only this tells an old view from a view of the new array.
  private readonly boundBlocks = new WeakMap<ArrayBufferView, ArrayBlock>();
  /** The page offsets of large allocArray arrays, in turn. */
  private readonly pageRotation = new PageRotation();

  /**
   * Instantiates `file` (plain memory); `sharedFile`, the same kernels with
   * shared memory, is loaded the first time allocArray is called. Throws if
   * this engine cannot run the module (e.g. no SIMD).
   */
  constructor(file: string, private readonly sharedFile: string, version: string) {
    this.exports = instantiate(file);
    this.freeOnCollect = new FinalizationRegistry((cell) => this.freeState(cell));
    this.info = { backend: 'wasm', isa: this.readCString(this.exports.lp_isa()), version, binary: file };
  }

  /**
   * Moves the backend to the shared-memory module, whose memory growing
   * never detaches (allocArray's arrays must stay valid), copying every live
   * state buffer across. Done once; a failure leaves the plain module
   * running and nothing changed. Steps that copy (ordinary arrays) keep
   * working but copy at about half speed into a SharedArrayBuffer, which is
   * why the plain module is the default.
   */
  private useSharedMemory(): void {
    if (this.shared) return;
    let next: WasmExports;
    try {
      next = instantiate(this.sharedFile);
    } catch (err) {
      throw new Error(`allocArray needs the WebAssembly module with shared memory, ${this.sharedFile}, which did not load: ${(err as Error).message}`);
    }
    const isa = this.readCString(next.lp_isa(), next);
    if (isa !== this.info.isa) throw new Error(`allocArray: ${this.sharedFile} runs ${isa}, not ${this.info.isa} as ${this.info.binary}`);
    const moved: [StateCell, number, number][] = [];
    for (const cell of this.liveStates) {
      const ptr = this.malloc(cell.bytes + cell.slack, next);
      // (Where it was within its line or page.)
      const at = placeAfter(ptr, cell.at % cell.slack, cell.slack);
      // Views made after each allocation (it may grow the memory).
      new Uint8Array(next.memory.buffer, at, cell.bytes).set(new Uint8Array(this.exports.memory.buffer, cell.at, cell.bytes));
      moved.push([cell, ptr, at]);
    }
    for (const [cell, ptr, at] of moved) {
      cell.ptr = ptr;
      cell.at = at;
    }
    this.exports = next;
    this.staging = { ptr: 0, bytes: 0 };
    this.shared = true;
    this.info.binary = this.sharedFile;
  }

  private readCString(ptr: number, exports = this.exports): string {
    const bytes = new Uint8Array(exports.memory.buffer, ptr >>> 0);
    let end = 0;
    while (bytes[end] !== 0) end++;
    return Buffer.from(bytes.subarray(0, end)).toString('utf8');
  }

  /** A fresh view of the heap: never cache it across calls that may allocate. */
  view(dtype: DType, ptr: number, length: number): FloatArray {
    const buffer = this.exports.memory.buffer;
    return dtype === 'float64' ? new Float64Array(buffer, ptr, length) : new Float32Array(buffer, ptr, length);
  }

  /** Memory from the running module's malloc (or, while moving to it, the shared-memory module's). */
  private malloc(bytes: number, exports = this.exports): number {
    // The memory's maximum is 2 GiB; a larger size would wrap in the i32 argument.
    if (!(bytes <= 2 ** 31)) throw new RangeError(`WebAssembly backend: out of memory allocating ${bytes} bytes (the module's memory is at most 2 GiB)`);
    // `>>> 0`: malloc returns an i32, which reads as negative above 2 GiB.
    const ptr = exports.malloc(Math.max(bytes, 8)) >>> 0;
    if (ptr === 0) throw new RangeError(`WebAssembly backend: out of memory allocating ${bytes} bytes`);
    return ptr;
  }

  private kernel(name: string): KernelFn {
    const fn = this.exports[name];
    if (typeof fn !== 'function') throw new Error(`WebAssembly module ${this.info.binary} lacks ${name}`);
    return fn as KernelFn;
  }

  /**
   * Runs a kernel on the arrays' addresses: an array from allocArray in
   * place, any other copied into the heap first and back afterwards (those
   * marked as outputs). Each array must be a genuine typed array of `dtype`
   * holding exactly the `n` elements the kernel will touch (its own length,
   * not what the object claims: the module writes where it is told). Copies
   * are freed whatever happens.
   */
  private run(
    name: string,
    dtype: DType,
    arrays: { a: FloatArray; n: number; dtype?: DType; out: boolean }[],
    call: (fn: KernelFn, ptrs: number[]) => number,
  ): void {
    const fn = this.kernel(`${name}_${suffix(dtype)}`);
    const views = arrays.map(({ a, n, dtype: want = dtype }, i) => {
      if (floatDtypeOf(a) !== want) throw new TypeError(`WebAssembly kernel ${name}: array ${i} must be a ${want === 'float64' ? 'Float64Array' : 'Float32Array'}`);
      const view = plainView(a);
      if (!(Number.isSafeInteger(n) && view.length === n)) throw new RangeError(`WebAssembly kernel ${name}: array ${i} must hold ${n} elements, got ${view.length}`);
      return view;
    });
    const ptrs: number[] = [];
    const copied: boolean[] = [];
    try {
      for (const a of views) {
        const at = this.residentAddress(a, 'an array');
        copied.push(at < 0);
        ptrs.push(at >= 0 ? at : this.malloc(a.byteLength));
      }
      // Views of the memory made after every allocation above.
      views.forEach((a, i) => {
        if (copied[i]) new Uint8Array(this.exports.memory.buffer, ptrs[i], a.byteLength).set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
      });
      const rc = call(fn, ptrs);
      if (rc !== 0) throw new RangeError(`WebAssembly kernel ${name} refused its arguments: ${WASM_ERRORS[rc] ?? `code ${rc}`}`);
      views.forEach((a, i) => {
        if (arrays[i].out && copied[i]) new Uint8Array(a.buffer, a.byteOffset, a.byteLength).set(new Uint8Array(this.exports.memory.buffer, ptrs[i], a.byteLength));
      });
    } finally {
      ptrs.forEach((p, i) => copied[i] && this.exports.free(p));
    }
  }

  /**
   * The address of an array that lives in this module's memory (from
   * allocArray, or a view of one), or -1 for any other array. Throws for a
   * view of this memory that is not inside a live allocArray array.
   */
  private residentAddress(a: FloatArray, name: string): number {
    if (heapOf(a) !== this) return -1;
    this.requireLive(a, name);
    return a.byteOffset;
  }

  requireLive(a: ArrayBufferView, name: string): void {
    const bound = this.boundBlocks.get(a) ?? this.arrayBlocks.get(a as FloatArray);
    // (Before the empty case: a freed empty array is refused too, as natively.)
    if (bound?.freed) throw new RangeError(`${name} is an array that freeArray() has freed, or a view of one`);
    if (a.byteLength === 0) return;
    if (this.liveBlockOf(a) === undefined) {
      throw new RangeError(`${name} lies in WebAssembly memory outside every live array of allocArray() (was it freed by freeArray()?)`);
    }
  }

  bind(a: ArrayBufferView): void {
    const block = a.byteLength === 0 ? undefined : this.liveBlockOf(a);
    if (block !== undefined) this.boundBlocks.set(a, block);
  }

  /** The live allocArray array whose memory holds all of `a`, if any. */
  private liveBlockOf(a: ArrayBufferView): ArrayBlock | undefined {
    const start = a.byteOffset;
    const end = start + a.byteLength;
    // The last live block starting at or before `start`.
    let lo = 0;
    let hi = this.liveBlocks.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.liveBlocks[mid].start <= start) lo = mid + 1;
      else hi = mid;
    }
    const block = lo > 0 ? this.liveBlocks[lo - 1] : undefined;
    return block !== undefined && end <= block.end ? block : undefined;
  }

  allocArray(dtype: DType, length: number): FloatArray {
    const bytes = length * elementBytes(dtype);
    // On a line, as the staging area: whole cache lines per row block; large arrays also
    // at page offsets taken in turn (a tensor's data and gradient far apart: placement.ts).
    const slack = slackFor(bytes);
    // Refused before the move to shared memory: a rejected call changes nothing.
    if (bytes + slack > 2 ** 31) throw new RangeError(`allocArray: ${length} ${dtype} elements do not fit the WebAssembly backend's memory (at most 2 GiB)`);
    this.useSharedMemory();
    const ptr = this.malloc(bytes + slack);
    const start = placeAfter(ptr, slack === PAGE_BYTES ? this.pageRotation.take() : 0, slack);
    const a = this.view(dtype, start, length);
    a.fill(0);
    registerBuffer(a.buffer, this);
    const block: ArrayBlock = { ptr, start, end: start + bytes, freed: false };
    this.arrayBlocks.set(a, block);
    let at = this.liveBlocks.length;
    while (at > 0 && this.liveBlocks[at - 1].start > start) at--;
    this.liveBlocks.splice(at, 0, block);
    return a;
  }

  free(a: FloatArray): void {
    const block = this.arrayBlocks.get(a);
    if (block === undefined) throw new TypeError('freeArray() takes an array that allocArray() returned, not a view of one');
    if (block.freed) throw new RangeError('freeArray(): this array has already been freed');
    block.freed = true;
    this.liveBlocks.splice(this.liveBlocks.indexOf(block), 1);
    this.exports.free(block.ptr);
  }

  rowNormsL2(x: FloatArray, rows: number, cols: number, out: FloatArray): void {
    const dtype = dtypeOfInput(x);
    this.run('lp_row_norms_l2', dtype, [{ a: x, n: rows * cols, out: false }, { a: out, n: rows, out: true }], (fn, [px, po]) => fn(px, rows, cols, po));
  }
  normalizeRowsL2(g: FloatArray, rows: number, cols: number, divByZeroEps: number): void {
    this.run('lp_normalize_rows_l2', dtypeOfInput(g), [{ a: g, n: rows * cols, out: true }], (fn, [pg]) => fn(pg, rows, cols, divByZeroEps));
  }
  renormRowsL2(p: FloatArray, rows: number, cols: number, maxNorm: number): void {
    this.run('lp_renorm_rows_l2', dtypeOfInput(p), [{ a: p, n: rows * cols, out: true }], (fn, [pp]) => fn(pp, rows, cols, maxNorm));
  }
  scaleBias(g: FloatArray, scale: number, applyScale: boolean, bias: number, applyBias: boolean): void {
    const n = viewLength(g);
    this.run('lp_scale_bias', dtypeOfInput(g), [{ a: g, n, out: true }], (fn, [pg]) =>
      fn(pg, n, scale, applyScale ? 1 : 0, bias, applyBias ? 1 : 0));
  }
  sgdStep(p: FloatArray, g: FloatArray, buf: StateBuffer | null, o: SgdKernelOptions, bufferInitialized: boolean): void {
    const [dtype, n] = [dtypeOfInput(p), viewLength(p)];
    requireStates(dtype, n, [buf]);
    this.run('lp_sgd_step', dtype, [{ a: p, n, out: true }, { a: g, n, out: false }], (fn, [pp, pg]) =>
      fn(pp, pg, addressOf(buf), n, o.lr, o.momentum, o.dampening, o.weightDecay, o.nesterov ? 1 : 0, o.maximize ? 1 : 0, bufferInitialized ? 1 : 0));
  }
  normalizeRowsL1(g: FloatArray, rows: number, cols: number, divByZeroEps: number): void {
    this.run('lp_normalize_rows_l1', dtypeOfInput(g), [{ a: g, n: rows * cols, out: true }], (fn, [pg]) => fn(pg, rows, cols, divByZeroEps));
  }
  signInPlace(g: FloatArray): void {
    const n = viewLength(g);
    this.run('lp_sign', dtypeOfInput(g), [{ a: g, n, out: true }], (fn, [pg]) => fn(pg, n));
  }
  clampInPlace(x: FloatArray, lo: number, hasLo: boolean, hi: number, hasHi: boolean): void {
    const n = viewLength(x);
    this.run('lp_clamp', dtypeOfInput(x), [{ a: x, n, out: true }], (fn, [px]) => fn(px, n, lo, hasLo ? 1 : 0, hi, hasHi ? 1 : 0));
  }
  topQRows(g: FloatArray, rows: number, cols: number, keep: number): void {
    this.run('lp_top_q_rows', dtypeOfInput(g), [{ a: g, n: rows * cols, out: true }], (fn, [pg]) => fn(pg, rows, cols, keep));
  }
  topQSignL1Rows(g: FloatArray, rows: number, cols: number, keep: number, divByZeroEps: number): void {
    this.run('lp_top_q_sign_l1_rows', dtypeOfInput(g), [{ a: g, n: rows * cols, out: true }], (fn, [pg]) => fn(pg, rows, cols, keep, divByZeroEps));
  }
  l1LmoRows(g: FloatArray, rows: number, cols: number): void {
    this.run('lp_l1_lmo_rows', dtypeOfInput(g), [{ a: g, n: rows * cols, out: true }], (fn, [pg]) => fn(pg, rows, cols));
  }
  frankWolfeStep(p: FloatArray, g: FloatArray, alpha: number, lmoScale: number): void {
    const n = viewLength(p);
    this.run('lp_frank_wolfe_step', dtypeOfInput(p), [{ a: p, n, out: true }, { a: g, n, out: false }], (fn, [pp, pg]) =>
      fn(pp, pg, n, alpha, lmoScale));
  }
  adamStep(p: FloatArray, g: FloatArray, m: StateBuffer, v: StateBuffer, vmax: StateBuffer | null, o: AdamKernelOptions): void {
    const [dtype, n] = [dtypeOfInput(p), viewLength(p)];
    requireStates(dtype, n, [m, v, vmax]);
    this.run('lp_adam_step', dtype, [{ a: p, n, out: true }, { a: g, n, out: false }], (fn, [pp, pg]) =>
      fn(pp, pg, addressOf(m), addressOf(v), addressOf(vmax), n, o.lr, o.beta1, o.beta2, o.eps, o.weightDecay,
        o.decoupledWeightDecay ? 1 : 0, o.amsgrad ? 1 : 0, o.maximize ? 1 : 0, o.stepSize, o.biasCorrection2Sqrt));
  }
  rmspropStep(p: FloatArray, g: FloatArray, sq: StateBuffer, ga: StateBuffer | null, buf: StateBuffer | null, o: RmspropKernelOptions): void {
    const [dtype, n] = [dtypeOfInput(p), viewLength(p)];
    requireStates(dtype, n, [sq, ga, buf]);
    this.run('lp_rmsprop_step', dtype, [{ a: p, n, out: true }, { a: g, n, out: false }], (fn, [pp, pg]) =>
      fn(pp, pg, addressOf(sq), addressOf(ga), addressOf(buf), n, o.lr, o.alpha, o.eps, o.weightDecay, o.momentum,
        o.centered ? 1 : 0, o.maximize ? 1 : 0));
  }
  adagradStep(p: FloatArray, g: FloatArray, sum: StateBuffer, o: AdagradKernelOptions): void {
    const [dtype, n] = [dtypeOfInput(p), viewLength(p)];
    requireStates(dtype, n, [sum]);
    this.run('lp_adagrad_step', dtype, [{ a: p, n, out: true }, { a: g, n, out: false }], (fn, [pp, pg]) =>
      fn(pp, pg, addressOf(sum), n, o.clr, o.weightDecay, o.eps, o.maximize ? 1 : 0));
  }
  renormRowsL2PerRow(p: FloatArray, rows: number, cols: number, maxNorms: Float64Array): void {
    this.run('lp_renorm_rows_l2_per_row', dtypeOfInput(p), [{ a: p, n: rows * cols, out: true }, { a: maxNorms, n: rows, dtype: 'float64', out: false }], (fn, [pp, pm]) =>
      fn(pp, rows, cols, pm));
  }

  /**
   * One group step, a call per tensor, or per block of rows where the tensor
   * is staged (about STAGE_ELEMENTS elements, or one longer row). The state
   * buffers are resident in the module's memory, and so are parameters and
   * gradients from allocArray (a tensor with both takes one call, see
   * RESIDENT_RADII_ROWS); any other parameter or gradient passes through a
   * staging area, so the copies in and out run while the block is in cache
   * and memory sees each element read and written once, as in the native
   * step. Rows are independent, so the blocks give the bits of one call over
   * the whole group.
   */
  groupStep(spec: Float64Array, tensors: GroupTensor[]): void {
    // A group may hold float32 and float64 parameters (as a torch group may);
    // the module's group step takes one dtype, so each dtype's tensors go in
    // a call of their own, all of them checked before the first one runs.
    // Fresh views of the arrays' memory (see plainView): addresses and
    // lengths come from the engine, whatever the given objects claim.
    const trusted = tensors.map((t) => ({ ...t, p: plainView(t.p), g: plainView(t.g), maxNorms: t.maxNorms && plainView(t.maxNorms) }));
    const parts = (['float32', 'float64'] as const)
      .map((dtype) => trusted.flatMap((t, index) => (dtypeOf(t.p) === dtype ? [{ index, t }] : [])))
      .filter((part) => part.length > 0)
      .map((part) => this.planDtypeStep(spec, part));
    for (const part of parts) this.runDtypeStep(spec, part);
  }

  /** The checks and the staging layout of one dtype's tensors of a group step (see groupStep). */
  private planDtypeStep(spec: Float64Array, entries: { index: number; t: GroupTensor }[]): DtypeStepPlan {
    const dtype = dtypeOf(entries[0].t.p);
    // Every block runs the module's own checks again; these make a refusal
    // happen before the first block is written, not halfway through a group.
    let blockElements = 0;
    let blockRows = 0;
    const residentP: number[] = [];
    const residentG: number[] = [];
    const rowsPerCall: number[] = [];
    const cutRows: boolean[] = [];
    for (const { index: i, t } of entries) {
      const n = t.rows * t.cols;
      if (!Number.isSafeInteger(n) || t.rows < 0 || t.cols < 0 || dtypeOf(t.p) !== dtype || dtypeOf(t.g) !== dtype || t.p.length !== n || t.g.length !== n) {
        throw new RangeError(`WebAssembly group step: tensor ${i} is not ${dtype}[${t.rows} x ${t.cols}] in p and g`);
      }
      requireStates(dtype, n, t.buffers, ` of tensor ${i}`);
      if (t.maxNorms && (!(t.maxNorms instanceof Float64Array) || t.maxNorms.length !== t.rows)) throw new RangeError(`WebAssembly group step: tensor ${i} has ${t.maxNorms.length} radii for ${t.rows} rows`);
      const pAt = this.residentAddress(t.p, `tensor ${i}'s parameter`);
      const gAt = this.residentAddress(t.g, `tensor ${i}'s gradient`);
      residentP.push(pAt);
      residentG.push(gAt);
      const resident = pAt >= 0 && gAt >= 0;
      const cut = !resident && t.cols > STAGE_ELEMENTS && elementwise(spec, t);
      const rows = resident ? Math.max(1, t.maxNorms ? Math.min(t.rows, RESIDENT_RADII_ROWS) : t.rows) : stageRows(t.cols);
      rowsPerCall.push(rows);
      cutRows.push(cut);
      if (!resident) blockElements = Math.max(blockElements, cut ? STAGE_ELEMENTS : rows * t.cols);
      if (t.maxNorms && !cut) blockRows = Math.max(blockRows, rows);
    }
    return { dtype, tensors: entries.map((e) => e.t), residentP, residentG, rowsPerCall, cutRows, blockElements, blockRows };
  }

  /** One dtype's tensors of a group step, a block of rows at a time (see groupStep). */
  private runDtypeStep(spec: Float64Array, plan: DtypeStepPlan): void {
    const { dtype, tensors, residentP, residentG, rowsPerCall, cutRows, blockElements, blockRows } = plan;
    const bytes = elementBytes(dtype);
    // The staging area (on a page): spec, one tensor record, its six addresses,
    // the block's radii, then the block's p and g, each at its page offset.
    const align = (x: number) => alignUp(x, 64);
    const recordAt = align(spec.byteLength);
    const addressesAt = recordAt + 64;
    const radiiAt = addressesAt + 64;
    const pAt = alignUp(radiiAt + blockRows * 8, PAGE_BYTES) + STAGED_P_PAGE_OFFSET;
    const gAt = alignUp(pAt + blockElements * bytes, PAGE_BYTES) + STAGED_G_PAGE_OFFSET;
    const base = this.stagingArea(gAt + align(blockElements * bytes));
    const fn = this.kernel(`lp_group_step_${suffix(dtype)}`);
    new Float64Array(this.exports.memory.buffer, base + 0, spec.length).set(spec);
    // Views of the staging area, made again after any call that grew the
    // memory (the module's group step allocates for its overlap check, and a
    // growth detaches every view of the old buffer).
    const views = () => {
      const buffer = this.exports.memory.buffer;
      return {
        buffer,
        record: new Float64Array(buffer, base + recordAt, 4),
        addresses: new Uint32Array(buffer, base + addressesAt, 6),
        radii: new Float64Array(buffer, base + radiiAt, blockRows),
        stagedP: this.view(dtype, base + pAt, blockElements),
        stagedG: this.view(dtype, base + gAt, blockElements),
      };
    };
    let { buffer, record, addresses, radii, stagedP, stagedG } = views();
    for (const [i, t] of tensors.entries()) {
      if (t.rows === 0 || t.cols === 0) continue;
      const pResident = residentP[i] >= 0;
      const gResident = residentG[i] >= 0;
      const rowsPerBlock = rowsPerCall[i];
      // A block: rows [row, row + rows), or (cutRows) elements [from, to) as one row.
      const total = t.rows * t.cols;
      const step = cutRows[i] ? STAGE_ELEMENTS : rowsPerBlock * t.cols;
      for (let from = 0, row = 0; from < total; from += step, row += rowsPerBlock) {
        const to = Math.min(from + step, total);
        const n = to - from;
        const rows = cutRows[i] ? 1 : n / t.cols;
        const cols = cutRows[i] ? n : t.cols;
        if (pResident) {
          addresses[0] = residentP[i] + from * bytes;
        } else {
          addresses[0] = base + pAt;
          stagedP.set(t.p.subarray(from, to));
        }
        if (gResident) {
          addresses[1] = residentG[i] + from * bytes;
        } else {
          addresses[1] = base + gAt;
          stagedG.set(t.g.subarray(from, to));
        }
        record[0] = rows;
        record[1] = cols;
        record[2] = t.s0;
        record[3] = t.s1;
        for (let k = 0; k < 3; k++) {
          const b = t.buffers[k];
          addresses[2 + k] = b ? addressOf(b) + from * bytes : 0;
        }
        // (A cut row has no radii: elementwise() allows none with the clamp, and the others read none.)
        const radiiOfBlock = cutRows[i] ? null : t.maxNorms;
        if (radiiOfBlock) radii.set(radiiOfBlock.subarray(row, row + rows));
        addresses[5] = radiiOfBlock ? base + radiiAt : 0;
        const rc = fn(base, base + recordAt, 1, base + addressesAt);
        if (this.exports.memory.buffer !== buffer) ({ buffer, record, addresses, radii, stagedP, stagedG } = views());
        if (rc !== 0) throw new RangeError(`WebAssembly kernel lp_group_step refused its arguments: ${WASM_ERRORS[rc] ?? `code ${rc}`}`);
        if (!pResident) t.p.set(stagedP.subarray(0, n), from);
        if (!gResident) t.g.set(stagedG.subarray(0, n), from);
      }
    }
  }

  /** The staging area of group steps, at least `bytes` long; kept between steps. */
  private stagingArea(bytes: number): number {
    if (this.staging.bytes < bytes) {
      if (this.staging.ptr !== 0) this.exports.free(this.staging.ptr);
      this.staging = { ptr: 0, bytes: 0 }; // no freed pointer is kept if the allocation below throws
      this.staging = { ptr: this.malloc(bytes + PAGE_BYTES), bytes };
    }
    // On a page within the allocation.
    return alignUp(this.staging.ptr, PAGE_BYTES);
  }

  /** WebAssembly runs on the JavaScript thread: the step is synchronous, the promise resolved. */
  runAsync(record: () => void): Promise<void> {
    // No threads here: the kernels run as they are called.
    try {
      record();
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** WebAssembly is single-threaded here (as in tfjs and sharp under Node). */
  setNumThreads(n: number): void {
    void n;
  }

  allocState(dtype: DType, length: number, neighbours: readonly (FloatArray | null | undefined)[] = []): StateBuffer {
    const bytes = length * elementBytes(dtype);
    // As natively (see placement.ts): on the parameter's offset within a line and, if large,
    // far within a page from its neighbours: where they are in this module's memory
    // (allocArray arrays, state), else where a step stages the parameter and gradient.
    const memory = this.exports.memory.buffer;
    const pageOffsetOf = (a: FloatArray | null | undefined, i: number): number => {
      if (!a) return -1;
      if (a.buffer === memory) return a.byteOffset % PAGE_BYTES;
      return i === 0 ? STAGED_P_PAGE_OFFSET : i === 1 ? STAGED_G_PAGE_OFFSET : -1;
    };
    const { slack, want } = statePlacement(neighbours.map(pageOffsetOf), bytes);
    const ptr = this.malloc(bytes + slack);
    const cell: StateCell = { ptr, at: placeAfter(ptr, want, slack), slack, bytes };
    this.view(dtype, cell.at, length).fill(0);
    const buf = new WasmStateBuffer(this, cell, dtype, length);
    this.liveStates.add(cell);
    this.freeOnCollect.register(buf, cell, cell);
    return buf;
  }

  /**
   * A state buffer's memory back to malloc, once (ptr 0 marks it freed):
   * when its buffer is collected, or earlier by release() (dispose()), the
   * only way a synchronous loop that makes optimizers gets it back before
   * the loop ends, since finalizers run between tasks.
   */
  freeState(cell: StateCell): void {
    if (cell.ptr === 0) return;
    this.freeOnCollect.unregister(cell);
    this.liveStates.delete(cell);
    this.exports.free(cell.ptr);
    cell.ptr = 0;
  }
}
