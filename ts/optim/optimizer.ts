// SPDX-License-Identifier: MIT
// Optimizer: the base of every optimizer, after torch.optim.Optimizer. It owns
// the param groups (with their defaults), the per-parameter state, the state
// dict and the printed form; subclasses add their options and their step.
import { currentBackend } from '../backend/loader';
import { GroupTensor, GroupTransform, InnerSpec, NO_TRANSFORM, groupSpec, sequentialGroupStep } from '../backend/groupStep';
import { groupStep as referenceGroupStep } from '../backend/reference';
import { anyArrayAllocated, checkArrayLive } from '../backend/arrays';
import { KernelBackend, StateBuffer } from '../backend/types';
import { checkNumber, show } from '../errors';
import { Tensor, lockTensor, unlockTensor } from '../tensor';
import { FloatArray, floatDtypeOf, viewBuffer, viewByteLength, viewByteOffset, viewLength } from '../types';
import { isShape, sameShape } from './rows';

/**
 * Whether steps run the fused group kernels (the default) or one kernel per
 * operation, the reference the fused kernels are tested against.
 */
let fusedSteps = true;

/** @internal For tests: switch between fused group steps and one kernel per operation. */
export function setFusedSteps(on: boolean): void {
  fusedSteps = on;
}

/**
 * Below this many elements a group's step runs in plain TypeScript: the same
 * bits (the reference kernels), and cheaper than a call into a backend: a
 * step of one tensor there costs about 1.4 us native and 2.3 us in
 * WebAssembly (SGD; Adam 1.7 and 2.5), the TypeScript one about 0.5 us plus
 * 0.03 us an element (SGD over one row; 0.1 us over unit rows with momentum,
 * 0.18 us with Adam). The crossing lies between 5 elements (Adam) and 30
 * (SGD over one row): 16 is the compromise (it was 512 until that was
 * measured: at 511 elements the backend was 7-23x faster).
 */
export const SMALL_STEP_ELEMENTS = 16;

/** One group's step, ready to run. */
export interface GroupPlan {
  spec: Float64Array;
  tensors: GroupTensor[];
  /** Elements of the tensors with gradients. */
  elements: number;
  /** What follows the fused step (the projection of parameters without gradients). */
  finish?: () => void;
}

/**
 * How a planned group step runs: one backend kernel per operation (the
 * reference the fused kernels are tested against), the TypeScript reference
 * (small steps: same bits, no call into a backend), or the backend's fused
 * kernel (every inner optimizer has one).
 */
function pathOf(plan: GroupPlan): 'sequential' | 'reference' | 'fused' {
  if (!fusedSteps) return 'sequential';
  // While stepAsync records, nothing may read the arrays: the recorded kernels run later.
  return plan.elements < SMALL_STEP_ELEMENTS && !recording ? 'reference' : 'fused';
}

/** Whether stepAsync is recording a step's kernel calls (see KernelBackend.runAsync). */
let recording = false;

/**
 * The prototypes of lp-optim's own optimizer classes (stepsWithKernelsOnly):
 * a step whose methods all come from them is nothing but backend kernel
 * calls, which stepAsync can record and run off the JavaScript thread.
 */
const KERNEL_STEP_PROTOTYPES = new WeakSet<object>();

/** The methods a step runs through (a subclass or an instance that defines any of them steps in its own JavaScript). */
const STEP_METHODS = [
  'stepGroup', 'planGroup', 'customGroupStep', 'innerSpec', 'prepareTensor', 'specFor',
  'preStepTransform', 'postStepTransform', 'builtinTransform',
] as const;

/** @internal Marks lp-optim's own classes: their steps call backend kernels and read none of the arrays. */
export function stepsWithKernelsOnly(...classes: { prototype: object }[]): void {
  for (const c of classes) KERNEL_STEP_PROTOTYPES.add(c.prototype);
}

/** Whether cls is one of lp-optim's own classes (not a user's subclass). */
export function isLpOptimClass(cls: { prototype: object }): boolean {
  return KERNEL_STEP_PROTOTYPES.has(cls.prototype);
}

/** Whether every step method of `o` is one of lp-optim's own (none from a user's subclass or the instance). */
export function stepMethodsAreLpOptims(o: object): boolean {
  for (const name of STEP_METHODS) {
    if (Object.prototype.hasOwnProperty.call(o, name)) return false;
    let owner = Object.getPrototypeOf(o) as object | null;
    while (owner !== null && !Object.prototype.hasOwnProperty.call(owner, name)) owner = Object.getPrototypeOf(owner) as object | null;
    if (owner !== null && !KERNEL_STEP_PROTOTYPES.has(owner)) return false;
  }
  return true;
}

/** The elements of a group's tensors that have gradients (what its step computes on). */
function elementsWithGradients(g: ParamGroup): number {
  let n = 0;
  for (const p of g.params) if (p.grad) n += p.numel;
  return n;
}

/** What a parameter's kernel needs of its state for one step. */
export type TensorStepState = Pick<GroupTensor, 'buffers' | 's0' | 's1'>;

/** Marks an option that has no default: leaving it out is an error. */
export const REQUIRED: unique symbol = Symbol('required option');

/** Options passed between optimizers of one chain, never by users. */
export const INTERNAL: unique symbol = Symbol('lp-optim internal');

export interface InternalOptions {
  /** Groups already prepared by a wrapping optimizer: fill them in place and share them. */
  sharedGroups?: ParamGroup[];
  /** The wrapping optimizer's backend. */
  backend?: KernelBackend;
}

/** A param group: its tensors and its options (after defaults are filled in). */
export interface ParamGroup {
  params: Tensor[];
  // Option values are numbers, booleans, arrays...: `any`, so that `g.lr *= 0.5` reads as in Python.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  [option: string]: any;
}

/** What users pass as a group: `{ params, ...overrides }`. */
export interface ParamGroupInput {
  params: Tensor[] | Tensor;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  [option: string]: any;
}

export type Params = Tensor[] | ParamGroupInput[];

/** A state entry's values: buffers live in the backend; counters are numbers. */
export type StateValue = StateBuffer | number | null;
export type ParamState = Record<string, StateValue>;

/** One parameter's saved state: the keys lp-optim's optimizers write (which ones, per optimizer), and any other. */
export interface ParamStateDict {
  step?: number;
  momentumBuffer?: FloatArray | null;
  expAvg?: FloatArray;
  expAvgSq?: FloatArray;
  maxExpAvgSq?: FloatArray;
  squareAvg?: FloatArray;
  gradAvg?: FloatArray;
  sum?: FloatArray;
  [key: string]: FloatArray | number | null | undefined;
}

/** PyTorch's state-dict shape, with typed arrays for buffers. */
export interface StateDict {
  state: Record<number, ParamStateDict>;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  paramGroups: (Record<string, any> & { params: number[] })[];
  /**
   * Which optimizer made it, e.g. 'L2ProjectedOptim[Adam]' (non-enumerable, so
   * the dict keeps PyTorch's shape); loadStateDict refuses another optimizer's.
   */
  readonly optimizer?: string;
  /**
   * Each indexed parameter's shape (non-enumerable, like `optimizer`):
   * loadStateDict refuses state for a parameter of another shape, also one of
   * the same size. A state dict without it is checked on lengths alone.
   */
  readonly shapes?: Record<number, number[]>;
}

/** Group keys that others may add (a scheduler's initialLr) besides the optimizer's options. */
const FOREIGN_GROUP_KEYS = new Set(['params', 'name', 'initialLr']);

/**
 * The arrays a kernel streams beside a new state buffer of `p`: its data, its
 * gradient and the state it has, so the backend can place the buffer apart
 * from them (allocState).
 */
export function neighboursOf(p: Tensor, state: ParamState): FloatArray[] {
  const arrays: FloatArray[] = [p.data];
  const grad = p.grad;
  if (grad) arrays.push(grad);
  for (const v of Object.values(state)) if (v !== null && typeof v === 'object') arrays.push((v as StateBuffer).live());
  return arrays;
}

/** Keys every group may carry besides the optimizer's options. */
const ALWAYS_ACCEPTED = new Set(['params', 'name']);

/** Frees every state buffer of a state map now (StateBuffer.release). */
function releaseBuffers(state: Map<Tensor, ParamState>): void {
  for (const entry of state.values()) {
    for (const v of Object.values(entry)) if (v !== null && typeof v === 'object' && typeof v.release === 'function') v.release();
  }
}

function isPrimitive(v: unknown): boolean {
  return v === null || (typeof v !== 'object' && typeof v !== 'function');
}

/** What unchangedSinceChecked compares a group with: its params, its keys in order and their values, and its arrays' elements. */
interface CheckedGroup {
  params: Tensor[];
  keys: string[];
  values: unknown[];
  /** Each array option and a copy of its elements. */
  elements: [unknown[], unknown[]][];
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x) && !ArrayBuffer.isView(x) && !(x instanceof Tensor);
}

/** Copies a group option value so that later edits of one group do not leak into another. */
function copyValue(v: unknown): unknown {
  return Array.isArray(v) ? v.slice() : v;
}

/** step(closure): the closure, when given, is a function (as torch's, it may set gradients and returns the loss). */
function checkClosure(closure: unknown, method: string): void {
  if (closure !== undefined && closure !== null && typeof closure !== 'function') {
    throw new TypeError(`${method}(closure): closure must be a function or undefined, got ${show(closure)}`);
  }
}

/** A group's params list (a new group's, or a live one edited since): a non-empty array of distinct Tensors, returned as a set. */
function checkParamsList(params: unknown, where: string): Set<Tensor> {
  if (!Array.isArray(params)) throw new TypeError(`${where}: params must be an array of Tensors, got ${show(params)}`);
  if (params.length === 0) throw new RangeError(`${where} has an empty params list`);
  const seen = new Set<Tensor>();
  params.forEach((p, i) => {
    if (!(p instanceof Tensor)) throw new TypeError(`${where}: params[${i}] must be a Tensor, got ${show(p)}`);
    if (seen.has(p)) throw new RangeError(`${where}: params[${i}] appears twice in the group`);
    seen.add(p);
  });
  return seen;
}

/**
 * Throws when two arrays a group's step writes share memory (two tensors
 * over one array, a gradient that is another tensor's data...): the native
 * kernels refuse them (rows run in parallel), so every backend does, before
 * anything changes. Arrays are grouped by buffer: distinct buffers (the
 * common case) cost a map entry each, and views of one buffer (allocArray
 * arrays, or slices of one flat array) are sorted by offset.
 */
function checkNoSharedMemory(params: Tensor[], where: string): void {
  type Span = { start: number; end: number; what: string };
  const byBuffer = new Map<ArrayBufferLike, Span[]>();
  const add = (a: FloatArray, what: string) => {
    const start = viewByteOffset(a);
    const span = { start, end: start + viewByteLength(a), what };
    if (span.start === span.end) return;
    const buffer = viewBuffer(a);
    const spans = byBuffer.get(buffer);
    if (spans === undefined) byBuffer.set(buffer, [span]);
    else spans.push(span);
  };
  params.forEach((p, j) => {
    add(p.data, `params[${j}].data`);
    const grad = p.grad;
    if (grad) add(grad, `params[${j}].grad`);
  });
  for (const spans of byBuffer.values()) {
    if (spans.length < 2) continue;
    spans.sort((a, b) => a.start - b.start);
    for (let k = 1; k < spans.length; k++) {
      if (spans[k].start < spans[k - 1].end) {
        const [first, second] = [spans[k - 1].what, spans[k].what].sort();
        throw new RangeError(`${where}: ${first} and ${second} share memory; each parameter and gradient needs an array of its own`);
      }
    }
  }
}

function formatValue(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(formatValue).join(', ')}]`;
  if (typeof v === 'function') return v.name || 'function';
  return String(v);
}

/** Keys a state dict may have: PyTorch's two, and what stateDict() adds (non-enumerable there). */
const STATE_DICT_KEYS = new Set(['state', 'paramGroups', 'optimizer', 'shapes']);

/** A state key as stateDict() writes it: a parameter index without sign, spaces, exponent or leading zeros. */
const CANONICAL_INDEX = /^(0|[1-9][0-9]*)$/;

/**
 * What a class's per-parameter state holds, for loadStateDict's checks. A key
 * not listed is refused; an entry may be empty (no step taken yet).
 */
export interface StateLayout {
  /** Counters (step): non-negative integers. */
  counters?: readonly string[];
  /** Buffers: a Float32Array or Float64Array of the parameter's dtype and length. */
  buffers?: readonly string[];
  /** Buffers that may also be null (SGD's momentumBuffer, PyTorch's None before momentum is used). */
  nullableBuffers?: readonly string[];
  /**
   * Keys every non-empty entry holds (a step writes them all): a moment
   * without its step count, or a count without its moments, would be stepped
   * from a fresh value, silently wrong.
   */
  required?: readonly string[];
}

/**
 * Checks a loaded state buffer against its parameter: another type or dtype
 * is a TypeError, as for a gradient; another length a RangeError.
 */
function checkBuffer(p: Tensor, v: unknown, field: string, nullable: boolean): void {
  if (v === null && nullable) return;
  const expected = p.dtype === 'float64' ? 'Float64Array' : 'Float32Array';
  const wanted = `a ${p.dtype} array (${expected}) of length ${p.numel} (parameter shape [${p.shape.join(', ')}])${nullable ? ' or null' : ''}`;
  // The engine's dtype and length (see floatDtypeOf): a subclass or a Proxy cannot pass for another array.
  if (floatDtypeOf(v) !== p.dtype) throw new TypeError(`state dict: ${field} must be ${wanted}, got ${show(v)}`);
  const length = viewLength(v as FloatArray);
  if (length !== p.numel) throw new RangeError(`state dict: ${field} must be ${wanted}, got ${expected}(length ${length})`);
}

/** Checks a loaded step counter: a number (TypeError otherwise) that is a non-negative safe integer (RangeError otherwise). */
function checkCounter(v: unknown, field: string): number {
  if (typeof v !== 'number') throw new TypeError(`state dict: ${field} must be a number (a step count), got ${show(v)}`);
  if (!Number.isSafeInteger(v) || v < 0) {
    throw new RangeError(`state dict: ${field} must be a non-negative integer (a step count, at most 2^53 - 1), got ${show(v)}`);
  }
  return v;
}

/** The indices a state dict's groups list, for messages. */
function describeIds(ids: readonly number[]): string {
  return ids.length <= 8 ? ids.join(', ') : `${ids.length} indices from ${Math.min(...ids)} to ${Math.max(...ids)}`;
}

export abstract class Optimizer {
  /** The options every group gets unless it sets its own. */
  readonly defaults: Record<string, unknown>;
  /** Live groups: changing `paramGroups[i].lr` changes the next step. */
  paramGroups: ParamGroup[];
  /** Per-parameter state (momentum buffers, moments, step counts). */
  state: Map<Tensor, ParamState>;
  /** The kernels this optimizer runs on, fixed at construction. */
  readonly backend: KernelBackend;
  private readonly extraKeys = new Set<string>();
  /** The optimizer wrapping this one, whose groups are this one's (see adoptedBy). */
  private owner: Optimizer | null = null;

  /**
   * @param params tensors or groups
   * @param defaults the class's own options with the user's values filled in
   * @param internal set when a wrapping optimizer builds this one
   */
  protected constructor(
    params: Params | null,
    defaults: Record<string, unknown>,
    internal?: InternalOptions & { deferGroups?: boolean },
  ) {
    this.defaults = defaults;
    this.backend = internal?.backend ?? currentBackend();
    this.state = new Map();
    this.paramGroups = [];
    this.checkDefaults();
    if (internal?.sharedGroups) {
      // Check every shared group before filling any of them in.
      internal.sharedGroups.forEach((g, i) => this.fillGroup({ ...g }, `param group ${i}`));
      internal.sharedGroups.forEach((g, i) => this.fillGroup(g, `param group ${i}`));
      this.paramGroups = internal.sharedGroups;
    } else if (!internal?.deferGroups) {
      this.paramGroups = this.prepareGroups(params);
    }
  }

  /** Copies, checks and fills the user's params or groups. */
  protected prepareGroups(params: unknown): ParamGroup[] {
    const prepared: ParamGroup[] = [];
    for (const g of Optimizer.splitParams(params)) prepared.push(this.prepareGroup(g, prepared));
    return prepared;
  }

  /** Turns `params` into a list of group inputs, as torch.optim does. */
  protected static splitParams(params: unknown): ParamGroupInput[] {
    if (params instanceof Tensor) {
      throw new TypeError('params must be an array of Tensors or of param groups, got a single Tensor (wrap it in an array)');
    }
    if (!Array.isArray(params)) throw new TypeError(`params must be an array of Tensors or of param groups, got ${show(params)}`);
    if (params.length === 0) throw new RangeError('params is an empty list: an optimizer needs at least one parameter');
    if (params.every((p) => p instanceof Tensor)) return [{ params: params as Tensor[] }];
    params.forEach((g, i) => {
      if (!isPlainObject(g)) {
        throw new TypeError(`params must be all Tensors or all param groups ({ params, ...options }); params[${i}] is ${show(g)}`);
      }
    });
    return params as ParamGroupInput[];
  }

  /** Option names this optimizer accepts in a group, besides `params`. */
  acceptedKeys(): Set<string> {
    return new Set([...Object.keys(this.defaults), ...this.extraKeys]);
  }

  /** @internal What more the error for a group option this optimizer does not take should say ('' if nothing). */
  unknownOptionHint(key: string): string {
    void key;
    return '';
  }

  /** @internal Lets a wrapping optimizer's options live in the shared groups. */
  acceptKeys(keys: Iterable<string>): void {
    for (const k of keys) this.extraKeys.add(k);
  }

  /**
   * @internal Records the wrapping optimizer that shares this one's groups
   * (the first: a chain's links come after the chain itself), so that this
   * optimizer's own loadStateDict checks the wrapper's options too.
   */
  adoptedBy(wrapper: Optimizer): void {
    if (this.owner === null) this.owner = wrapper;
  }

  /** @internal Undoes adoptedBy(wrapper) when the wrapper's construction failed. */
  releasedBy(wrapper: Optimizer): void {
    if (this.owner === wrapper) this.owner = null;
  }

  /** The outermost optimizer sharing these groups: the one whose checks cover every option in them. */
  private outermost(): Optimizer {
    let top: Optimizer = this;
    while (top.owner !== null) top = top.owner;
    return top;
  }

  /** Validates the defaults themselves (a bad default is an error even if every group overrides it). */
  private checkDefaults(): void {
    const probe: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(this.defaults)) if (v !== REQUIRED) probe[k] = v;
    this.checkOptions(probe, 'options');
  }

  /**
   * Checks the values of this optimizer's options in `group` (only keys present).
   * Subclasses extend it; `where` names the group in messages.
   */
  /** @internal */
  checkOptions(group: Record<string, unknown>, where: string): void {
    void group;
    void where;
  }

  /**
   * @internal Fills this optimizer's defaults into a group in place and
   * checks the values; throws, changing nothing, on a missing or bad value.
   */
  fillGroup(group: ParamGroup, where = 'param group'): void {
    const filled: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(this.defaults)) {
      if (group[k] !== undefined) continue;
      if (v === REQUIRED) throw new TypeError(`${this.constructor.name}: missing required option ${k} (in ${where})`);
      filled[k] = copyValue(v);
    }
    this.checkOptions({ ...group, ...filled }, where);
    this.checkParamsAgainstOptions({ ...group, ...filled } as ParamGroup, where);
    Object.assign(group, filled);
  }

  /** @internal Checks each parameter against the group's options (e.g. paramNdim against its shape). */
  checkParamsAgainstOptions(group: ParamGroup, where: string): void {
    void group;
    void where;
  }

  /** @internal Throws when a live group lacks an option that fillGroup put in (deleted, or set to undefined). */
  checkComplete(group: ParamGroup, where: string): void {
    for (const k of Object.keys(this.defaults)) {
      if (group[k] === undefined) throw new TypeError(`${this.constructor.name}: option ${k} is missing from ${where} (deleted or set to undefined)`);
    }
  }

  /** Copies and checks a user's group: params, duplicates, unknown keys; then fills defaults. */
  private prepareGroup(input: unknown, others: ParamGroup[]): ParamGroup {
    const where = `param group ${this.paramGroups.length + others.length}`;
    if (!isPlainObject(input)) throw new TypeError(`a param group must be an object { params, ...options }, got ${show(input)}`);
    if (!('params' in input) || input.params === undefined) throw new RangeError(`${where} has no params`);
    const raw = input.params instanceof Tensor ? [input.params] : input.params;
    const seen = checkParamsList(raw, where);
    for (const [j, g] of [...this.paramGroups, ...others].entries()) {
      const dup = g.params.findIndex((p) => seen.has(p));
      if (dup >= 0) throw new RangeError(`${where}: a parameter is already in param group ${j} (the same tensor cannot be in two groups)`);
    }
    this.checkKnownKeys(input, ALWAYS_ACCEPTED, where);
    const group: ParamGroup = { params: [...seen] }; // the list, in order (checked to hold no repeats)
    for (const [k, v] of Object.entries(input)) if (k !== 'params') group[k] = copyValue(v);
    this.fillGroup(group, where);
    return group;
  }

  /** Throws a RangeError naming the first key of `group` that is neither in `allowed` nor an option of this optimizer. */
  private checkKnownKeys(group: Record<string, unknown>, allowed: ReadonlySet<string>, where: string): void {
    const accepted = this.acceptedKeys();
    for (const k of Object.keys(group)) {
      if (!allowed.has(k) && !accepted.has(k)) {
        throw new RangeError(`${where}: unknown option ${k} (${show(group[k])}); ${this.constructor.name} accepts ${[...accepted].sort().join(', ')}${this.unknownOptionHint(k)}`);
      }
    }
  }

  /** Throws once the optimizer is disposed, and while a stepAsync() of this optimizer (or of one sharing its tensors) is running. */
  protected ensureIdle(what: string): void {
    if (this.disposed) throw new Error(`cannot ${what}: this optimizer was disposed (dispose() freed its state)`);
    for (const g of this.paramGroups) {
      // A group edited out of shape is skipped here; the call's own checks name it.
      if (!isPlainObject(g) || !Array.isArray(g.params)) continue;
      for (const p of g.params) {
        if (p instanceof Tensor && p.busy) throw new Error(`cannot ${what} while a stepAsync() of this optimizer is running; await it first`);
      }
    }
  }

  /** Set by dispose(). */
  private disposed = false;

  /**
   * Frees the optimizer's state (momentum buffers, moments) now and retires
   * the optimizer: step, stepAsync, zeroGrad, addParamGroup, stateDict and
   * loadStateDict throw afterwards, as does any use of a state buffer taken
   * from `state`. Not needed for memory's sake natively (the garbage
   * collector sees the state's arrays), but on WebAssembly the state lives
   * in the module's memory and is otherwise freed only after its optimizer
   * is collected, between tasks: a synchronous loop that makes an optimizer
   * per batch grows that memory until the loop ends. A wrapper retires the
   * inner optimizer it made (whose state it shares); an InnerOpt instance you
   * gave keeps its state and works on. Calling it again does nothing.
   */
  dispose(): void {
    if (this.disposed) return;
    this.ensureIdle('dispose');
    if (this.ownsState()) {
      releaseBuffers(this.state);
      this.state.clear();
    }
    this.disposed = true;
  }

  /** Whether dispose() has run. */
  get isDisposed(): boolean {
    return this.disposed;
  }

  /** Whether dispose() frees `state`: not where it is an optimizer's the caller gave (an InnerOpt instance). */
  protected ownsState(): boolean {
    return true;
  }

  /** Adds a group (like torch's add_param_group); its parameters start with fresh state. */
  addParamGroup(group: ParamGroupInput): void {
    this.ensureIdle('addParamGroup');
    this.paramGroups.push(this.prepareGroup(group, []));
  }

  /**
   * Checks everything a step reads before anything is changed: the groups
   * (they are live: options, and the params lists, may have been edited),
   * every parameter's array and every gradient.
   */
  protected checkBeforeStep(): void {
    let paramsEdited = false;
    const checkLive = anyArrayAllocated();
    for (let i = 0; i < this.paramGroups.length; i++) {
      const g = this.paramGroups[i];
      const where = `param group ${i}`;
      if (!this.unchangedSinceChecked(g)) {
        if (!isPlainObject(g)) throw new TypeError(`${where} must be an object { params, ...options }, got ${show(g)}`);
        checkParamsList(g.params, where);
        // A key added since (a typo of an option's name, say) would be ignored, and then refused by
        // loadStateDict(stateDict()); a scheduler's initialLr is allowed, as in a state dict.
        this.checkKnownKeys(g, FOREIGN_GROUP_KEYS, where);
        this.checkComplete(g, where);
        this.checkOptions(g, where);
        this.checkParamsAgainstOptions(g, where);
        this.rememberChecked(g);
        paramsEdited = true;
      }
      // The arrays the shared-memory check last passed for this group, in order (data, grad of each param).
      const sharedChecked = g.params.length > 1 ? this.sharedMemoryChecked.get(g) : undefined;
      let arraysAsChecked = sharedChecked !== undefined && sharedChecked.length === 2 * g.params.length;
      for (let j = 0; j < g.params.length; j++) {
        const p = g.params[j];
        // The engine's length: a buffer detached since (transferred to a worker, say) holds nothing.
        if (!Tensor.dataIntact(p)) {
          throw new RangeError(`${where}, params[${j}].data holds ${viewLength(p.data)} elements, not the ${p.numel} of its shape [${p.shape.join(', ')}] (was its buffer transferred or detached?)`);
        }
        const grad = p.grad;
        // The message is built only for a gradient that fails.
        if (!Tensor.gradFits(grad, p.dtype, p.numel)) Tensor.checkGrad(grad, p.dtype, p.numel, `${where}, params[${j}].grad`);
        if (checkLive) {
          // An array freeArray() has freed is memory that may now hold other data.
          checkArrayLive(p.data, `${where}, params[${j}].data`);
          if (grad) checkArrayLive(grad, `${where}, params[${j}].grad`);
        }
        if (arraysAsChecked && (sharedChecked![2 * j] !== p.data || sharedChecked![2 * j + 1] !== grad)) arraysAsChecked = false;
      }
      // The same array objects as at the last check cover the same memory (a
      // view's buffer and offset never change; its length, which a detached or
      // resized buffer changes, was checked just above), so they still do not
      // overlap. (For many small tensors the check was a tenth of the step.)
      if (g.params.length > 1 && !arraysAsChecked) {
        checkNoSharedMemory(g.params, where);
        const arrays: (FloatArray | null)[] = [];
        for (const p of g.params) arrays.push(p.data, p.grad);
        this.sharedMemoryChecked.set(g, arrays);
      }
    }
    if (paramsEdited && this.paramGroups.length > 1) this.checkNoParamInTwoGroups();
  }

  /** Throws when a tensor is in two groups (possible by editing paramGroups[i].params). */
  private checkNoParamInTwoGroups(): void {
    const groupOf = new Map<Tensor, number>();
    this.paramGroups.forEach((g, i) => {
      for (const p of g.params) {
        const other = groupOf.get(p);
        if (other !== undefined) throw new RangeError(`param group ${i}: a parameter is already in param group ${other} (the same tensor cannot be in two groups)`);
        groupOf.set(p, i);
      }
    });
  }

  /**
   * Each group's option values and params when the checks last passed them,
   * kept while every option value is a primitive or an array of primitives
   * (Adam's betas, a per-sample epsilon: their elements are kept too, since
   * they can change inside the same array). A step checks a group again only
   * when something changed, which small steps would otherwise spend most of
   * their time on (an Adam step of 16 elements spent half of its 3.4 us
   * checking its betas' group).
   */
  private readonly checkedOptions = new WeakMap<ParamGroup, CheckedGroup>();

  /** Per group, the arrays checkNoSharedMemory last passed: data and grad of each param, in order. */
  private readonly sharedMemoryChecked = new WeakMap<ParamGroup, (FloatArray | null)[]>();

  private unchangedSinceChecked(g: ParamGroup): boolean {
    const seen = this.checkedOptions.get(g);
    if (seen === undefined) return false;
    const { params, keys, values, elements } = seen;
    if (g.params.length !== params.length) return false;
    for (let k = 0; k < params.length; k++) if (g.params[k] !== params[k]) return false;
    // The same keys in the same order (one added since, a typo of an option's
    // name say, means a check) holding the same values. (for...in: the engine
    // reads g[key] of the loop's own key straight from the object's layout,
    // where a lookup by a stored name was most of a small step's check.)
    let i = 0;
    for (const key in g) {
      if (i === keys.length || key !== keys[i] || g[key] !== values[i]) return false;
      i++;
    }
    if (i !== keys.length) return false;
    for (const [array, copy] of elements) {
      if (array.length !== copy.length) return false;
      for (let k = 0; k < copy.length; k++) if (array[k] !== copy[k]) return false;
    }
    return true;
  }

  private rememberChecked(g: ParamGroup): void {
    const keys: string[] = [];
    const values: unknown[] = [];
    const elements: [unknown[], unknown[]][] = [];
    for (const key in g) {
      const v = g[key];
      if (key !== 'params' && !isPrimitive(v)) {
        if (!Array.isArray(v) || !v.every(isPrimitive)) {
          this.checkedOptions.delete(g);
          return;
        }
        elements.push([v, v.slice()]);
      }
      keys.push(key);
      values.push(v);
    }
    this.checkedOptions.set(g, { params: g.params.slice(), keys, values, elements });
  }

  /**
   * One optimization step: calls the closure (which may set gradients and
   * returns the loss), checks everything, then runs each group's step.
   * Returns the closure's value.
   */
  step(): undefined;
  step<T>(closure: () => T): T;
  step<T>(closure?: (() => T) | null): T | undefined;
  step<T = undefined>(closure?: (() => T) | null): T | undefined {
    this.ensureIdle('step');
    checkClosure(closure, 'step');
    const loss = closure ? closure() : undefined;
    this.checkBeforeStep();
    for (const g of this.paramGroups) this.stepGroup(g);
    return loss;
  }

  /**
   * step() with the heavy work off the JavaScript thread (native backend), so
   * a server's event loop keeps answering. Until the promise settles, every
   * call that would change this optimizer or read or write its tensors
   * (step, zeroGrad, loadStateDict, tensor.data, tensor.grad...) throws.
   * Groups whose step is lp-optim's own run as one batch of kernel calls off
   * the thread; a transform written in JavaScript (a subclass's own), and a
   * step of fewer than SMALL_STEP_ELEMENTS elements, run here.
   */
  stepAsync(): Promise<undefined>;
  stepAsync<T>(closure: () => T): Promise<T>;
  stepAsync<T>(closure?: (() => T) | null): Promise<T | undefined>;
  async stepAsync<T = undefined>(closure?: (() => T) | null): Promise<T | undefined> {
    this.ensureIdle('stepAsync');
    checkClosure(closure, 'stepAsync');
    const loss = closure ? closure() : undefined;
    this.checkBeforeStep();
    const recorded: ParamGroup[] = [];
    const kernelsOnly = this.stepIsKernelsOnly();
    for (const g of this.paramGroups) {
      if (kernelsOnly && elementsWithGradients(g) >= SMALL_STEP_ELEMENTS) recorded.push(g);
      else this.stepGroup(g);
    }
    // (Nothing recorded, the step is done already; the tensors stay locked
    // until the promise settles all the same, as the API promises.)
    const done = recorded.length === 0 ? Promise.resolve() : this.backend.runAsync(() => {
      recording = true;
      try {
        for (const g of recorded) this.stepGroup(g);
      } finally {
        recording = false;
      }
    });
    const tensors = this.paramGroups.flatMap((g) => g.params);
    for (const t of tensors) lockTensor(t);
    try {
      await done;
    } finally {
      for (const t of tensors) unlockTensor(t);
    }
    return loss;
  }

  /**
   * @internal Whether this optimizer's step is nothing but backend kernel
   * calls, reading none of the arrays (so stepAsync can record it): its
   * step methods are all lp-optim's own. Wrappers add their parts.
   */
  stepIsKernelsOnly(): boolean {
    return stepMethodsAreLpOptims(this);
  }

  /** @internal Runs one group's step: its plan, or (null plan) the custom path of a subclass. */
  stepGroup(g: ParamGroup): void {
    this.runPlanSync(this.planGroup(g), g);
  }

  private runPlanSync(plan: GroupPlan | null, g: ParamGroup): void {
    if (plan === null) {
      this.customGroupStep(g);
      return;
    }
    const path = pathOf(plan);
    if (path === 'sequential') sequentialGroupStep(this.backend, plan.spec, plan.tensors);
    else if (path === 'reference') referenceGroupStep(plan.spec, plan.tensors);
    else this.backend.groupStep(plan.spec, plan.tensors);
    plan.finish?.();
  }

  /** A step that cannot be planned as a group step (a custom transform); subclasses that return null plans implement it. */
  protected customGroupStep(g: ParamGroup): void {
    void g;
    throw new TypeError(`${this.constructor.name} has no custom step`);
  }

  /**
   * @internal What one group's step does, as a fused group step: the
   * tensors with gradients (their state prepared for this step) and the
   * spec. Null when the step needs the custom path.
   */
  planGroup(g: ParamGroup): GroupPlan | null {
    const tensors: GroupTensor[] = [];
    let elements = 0;
    for (const p of g.params) {
      const grad = p.grad;
      if (!grad) continue;
      const state = this.prepareTensor(p, g, this.stateOf(p));
      tensors.push({ p: p.data, g: grad, rows: 1, cols: p.numel, maxNorms: null, buffers: state.buffers, s0: state.s0, s1: state.s1 });
      elements += p.numel;
    }
    return { spec: this.specFor(g, NO_TRANSFORM, this.innerSpec(g)), tensors, elements };
  }

  /** Each group's spec array, refilled every step rather than allocated (small steps feel the allocation). */
  private readonly specArrays = new WeakMap<ParamGroup, Float64Array>();

  /** @internal The group's spec for this step. */
  protected specFor(g: ParamGroup, transform: GroupTransform, inner: InnerSpec): Float64Array {
    const spec = groupSpec(transform, inner, this.specArrays.get(g));
    this.specArrays.set(g, spec);
    return spec;
  }

  /** @internal This optimizer's update as the inner part of a group step. */
  innerSpec(g: ParamGroup): InnerSpec {
    void g;
    throw new TypeError(`${this.constructor.name} cannot run as an inner optimizer`);
  }

  /**
   * @internal Gets one parameter's state ready for a step (advancing its
   * counters, allocating buffers): the buffers and scalars its kernel takes.
   */
  prepareTensor(p: Tensor, g: ParamGroup, state: ParamState): TensorStepState {
    void p;
    void g;
    void state;
    throw new TypeError(`${this.constructor.name} cannot run as an inner optimizer`);
  }

  /** The state buffer `key` of a parameter, allocated (zero-filled) on first use. */
  protected bufferOf(p: Tensor, state: ParamState, key: string): StateBuffer {
    let b = state[key];
    if (!b || typeof b !== 'object') {
      b = this.backend.allocState(p.dtype, p.numel, neighboursOf(p, state));
      state[key] = b;
    }
    return b;
  }

  /** Throws unless every key of a loaded state entry is one of `keys`. */
  protected static checkStateKeys(cls: string, entry: Record<string, unknown>, keys: string[], where: string): void {
    for (const k of Object.keys(entry)) {
      if (!keys.includes(k)) throw new RangeError(`${where}: ${cls} state has no key ${k} (expected ${keys.join(', ')})`);
    }
  }

  /** Sets every gradient to null (default) or fills it with zeros. */
  zeroGrad(options: { setToNone?: boolean } = {}): void {
    this.ensureIdle('zeroGrad');
    if (!isPlainObject(options)) throw new TypeError(`zeroGrad(options): options must be an object such as { setToNone: false }, got ${show(options)}`);
    for (const k of Object.keys(options)) {
      if (k !== 'setToNone') throw new RangeError(`zeroGrad(options): unknown option ${k} (${show(options[k as keyof typeof options])}); zeroGrad accepts setToNone`);
    }
    const setToNone = options.setToNone === undefined ? true : options.setToNone;
    if (typeof setToNone !== 'boolean') throw new TypeError(`zeroGrad(options): setToNone must be a boolean, got ${show(setToNone)}`);
    // Every group first (they are live, and may have been edited out of shape), then the gradients.
    this.paramGroups.forEach((g, i) => {
      if (!isPlainObject(g)) throw new TypeError(`param group ${i} must be an object { params, ...options }, got ${show(g)}`);
      checkParamsList(g.params, `param group ${i}`);
      if (setToNone) return;
      g.params.forEach((p, j) => {
        const grad = p.grad;
        if (!grad) return;
        const where = `param group ${i}, params[${j}].grad`;
        // A gradient whose buffer was detached since (transferred to a worker) holds nothing to zero: refused as a step refuses it.
        Tensor.checkGrad(grad, p.dtype, p.numel, where);
        // Zero-filling a gradient over a freed allocArray array would write into whatever array has its memory now.
        if (anyArrayAllocated()) checkArrayLive(grad, where);
      });
    });
    for (const g of this.paramGroups) {
      for (const p of g.params) {
        if (setToNone) p.grad = null;
        else {
          const grad = p.grad;
          // (An empty gradient, detached or not, has nothing to zero; fill on a detached one throws.)
          if (grad && viewLength(grad) > 0) grad.fill(0);
        }
      }
    }
  }

  /** The per-parameter state entry, created empty on first use. */
  protected stateOf(p: Tensor): ParamState {
    let s = this.state.get(p);
    if (!s) {
      s = {};
      this.state.set(p, s);
    }
    return s;
  }

  /**
   * Checks one loaded state entry for parameter p (`where` is its field,
   * e.g. "state[0]"); subclasses check it against their StateLayout
   * (checkStateLayout). Values that are undefined have been dropped; the check
   * must not change the entry.
   */
  checkStateEntry(p: Tensor, entry: Record<string, unknown>, where: string): void {
    void p;
    void entry;
    void where;
  }

  /**
   * Checks a loaded state entry against a class's layout: no other key, each
   * counter and buffer of the right type and range, and unless it is empty
   * every `required` key (a missing one is a RangeError).
   */
  protected static checkStateLayout(cls: string, p: Tensor, entry: Record<string, unknown>, layout: StateLayout, where: string): void {
    const { counters = [], buffers = [], nullableBuffers = [], required = [] } = layout;
    Optimizer.checkStateKeys(cls, entry, [...counters, ...buffers, ...nullableBuffers], `state dict: ${where}`);
    for (const k of counters) if (k in entry) checkCounter(entry[k], `${where}.${k}`);
    for (const k of buffers) if (k in entry) checkBuffer(p, entry[k], `${where}.${k}`, false);
    for (const k of nullableBuffers) if (k in entry) checkBuffer(p, entry[k], `${where}.${k}`, true);
    const keys = Object.keys(entry);
    const missing = required.find((k) => !(k in entry));
    if (keys.length > 0 && missing !== undefined) {
      throw new RangeError(
        `state dict: ${where} has ${keys.join(', ')} but no ${missing} (after a step, ${cls} state holds ${required.join(', ')}; before one it is empty)`,
      );
    }
  }

  /** The state and the groups' options, parameters replaced by their indices (PyTorch's layout). */
  stateDict(): StateDict {
    this.ensureIdle('stateDict');
    const index = new Map<Tensor, number>();
    const paramGroups = this.paramGroups.map((g) => {
      const out: Record<string, unknown> & { params: number[] } = { params: [] };
      for (const [k, v] of Object.entries(g)) if (k !== 'params') out[k] = copyValue(v);
      out.params = g.params.map((p) => {
        if (!index.has(p)) index.set(p, index.size);
        return index.get(p)!;
      });
      return out;
    });
    const state: StateDict['state'] = {};
    for (const [p, s] of this.state) {
      const i = index.get(p);
      if (i === undefined) continue;
      const entry: Record<string, FloatArray | number | null> = {};
      for (const [k, v] of Object.entries(s)) entry[k] = v !== null && typeof v === 'object' ? v.read() : v;
      state[i] = entry;
    }
    const shapes: Record<number, number[]> = {};
    for (const [p, i] of index) shapes[i] = [...p.shape];
    const sd: StateDict = { state, paramGroups };
    Object.defineProperty(sd, 'optimizer', { value: this.describe(), enumerable: false });
    Object.defineProperty(sd, 'shapes', { value: shapes, enumerable: false });
    return sd;
  }

  /** The optimizer's kind as state dicts record it: its class, and its inner optimizer's in brackets. */
  describe(): string {
    return this.constructor.name;
  }

  /**
   * Restores a state dict made by stateDict() of an optimizer over the same
   * parameters, as torch.optim.Optimizer.load_state_dict does: the saved
   * groups must match this optimizer's in number and in each one's length,
   * and the saved parameter indices, taken in order, name this optimizer's
   * parameters in order (a state entry goes to the parameter its index names).
   * Everything is checked first; on any error nothing changes.
   */
  loadStateDict(sd: StateDict): void {
    this.ensureIdle('loadStateDict');
    if (!isPlainObject(sd)) throw new TypeError(`loadStateDict expects a state dict object, got ${show(sd)}`);
    for (const k of Object.keys(sd)) {
      if (!STATE_DICT_KEYS.has(k)) throw new RangeError(`state dict: unknown key ${show(k)} (a state dict has state and paramGroups)`);
    }
    const { state, paramGroups } = sd as unknown as Record<string, unknown>;
    if (!Array.isArray(paramGroups)) throw new TypeError(`state dict: paramGroups must be an array, got ${show(paramGroups)}`);
    if (!isPlainObject(state)) throw new TypeError(`state dict: state must be an object, got ${show(state)}`);
    const from = (sd as StateDict).optimizer;
    if (from !== undefined && typeof from !== 'string') throw new TypeError(`state dict: optimizer must be a string, got ${show(from)}`);
    if (from !== undefined && from !== this.describe()) {
      throw new RangeError(`state dict is from a ${show(from)} optimizer; this one is ${show(this.describe())}`);
    }
    const shapes = (sd as StateDict).shapes;
    if (shapes !== undefined && !isPlainObject(shapes)) throw new TypeError(`state dict: shapes must be an object of parameter shapes, got ${show(shapes)}`);
    // Array.from: a hole is undefined (map and forEach would skip it, and with it the checks).
    const groups = Array.from(paramGroups as unknown[]);
    if (groups.length !== this.paramGroups.length) {
      throw new RangeError(`state dict has ${groups.length} param groups, this optimizer has ${this.paramGroups.length}`);
    }
    // The saved indices, in order, name this optimizer's parameters in order (PyTorch's id_map).
    const paramOf = new Map<number, Tensor>();
    const placeOf = new Map<number, string>();
    const newGroups: ParamGroup[] = groups.map((sg, i) => {
      if (!isPlainObject(sg)) throw new TypeError(`state dict: paramGroups[${i}] must be an object with a params array, got ${show(sg)}`);
      const options = Object.entries(sg);
      const ids = options.find(([k]) => k === 'params')?.[1];
      if (!Array.isArray(ids)) throw new TypeError(`state dict: paramGroups[${i}].params must be an array of parameter indices, got ${show(ids)}`);
      const saved = Array.from(ids as unknown[]);
      const mine = this.paramGroups[i];
      if (saved.length !== mine.params.length) {
        throw new RangeError(`state dict: paramGroups[${i}] has ${saved.length} parameters, this optimizer's param group ${i} has ${mine.params.length}`);
      }
      saved.forEach((id, j) => {
        const field = `paramGroups[${i}].params[${j}]`;
        // As for step counts: not a number is a TypeError, a number that is no index a RangeError.
        if (typeof id !== 'number') throw new TypeError(`state dict: ${field} must be a parameter index (a number), got ${show(id)}`);
        if (!Number.isSafeInteger(id) || id < 0) throw new RangeError(`state dict: ${field} must be a parameter index (a non-negative integer), got ${show(id)}`);
        if (paramOf.has(id)) throw new RangeError(`state dict: ${field} is ${id}, which ${placeOf.get(id)} already is (an index names one parameter)`);
        paramOf.set(id, mine.params[j]);
        placeOf.set(id, field);
      });
      const where = `state dict paramGroups[${i}]`;
      const g: ParamGroup = { params: mine.params };
      const accepted = this.acceptedKeys();
      for (const [k, v] of options) {
        if (k === 'params' || v === undefined) continue;
        if (!FOREIGN_GROUP_KEYS.has(k) && !accepted.has(k)) {
          throw new RangeError(`state dict: paramGroups[${i}] has option ${k} (${show(v)}), which ${this.describe()} does not have`);
        }
        // A scheduler's initialLr becomes its base learning rate when it resumes: an lr like any other.
        if (k === 'initialLr') checkNumber(`initialLr (${where})`, v, { min: 0 });
        g[k] = copyValue(v);
      }
      // stateDict() writes every option: one that is missing cannot be restored, and filling in this
      // optimizer's value would silently change the run. (An option added in a later version would
      // get its default here, key by key, as torch's __setstate__ does with setdefault.)
      const given = new Set(Object.keys(g));
      const missingFrom = (keys: Iterable<string>) => [...keys].find((k) => !given.has(k) && !FOREIGN_GROUP_KEYS.has(k));
      const missingOption = (k: string): never => {
        throw new TypeError(`state dict: paramGroups[${i}].${k} is missing (a state dict's param groups hold every option of ${this.describe()})`);
      };
      const notSaved = missingFrom(Object.keys(mine));
      if (notSaved !== undefined) missingOption(notSaved);
      // An inner optimizer shared by a wrapper checks the wrapper's options too (a bad
      // gradScale loaded through it would otherwise fail only at the wrapper's next step).
      this.outermost().fillGroup(g, where);
      const filled = missingFrom(Object.keys(g));
      if (filled !== undefined) missingOption(filled);
      return g;
    });
    const ids = [...paramOf.keys()];
    const newState = new Map<Tensor, Record<string, unknown>>();
    for (const [key, rawEntry] of Object.entries(state)) {
      const id = Number(key);
      if (!CANONICAL_INDEX.test(key) || !Number.isSafeInteger(id)) {
        throw new RangeError(`state dict: state key ${show(key)} is not a parameter index (its param groups list ${describeIds(ids)})`);
      }
      const where = `state[${key}]`;
      const p = paramOf.get(id);
      if (p === undefined) throw new RangeError(`state dict: ${where} is for parameter index ${id}, which no param group lists (they list ${describeIds(ids)})`);
      if (shapes !== undefined && Object.prototype.hasOwnProperty.call(shapes, key)) {
        const saved = (shapes as Record<string, unknown>)[key];
        if (!isShape(saved)) throw new TypeError(`state dict: shapes[${key}] must be a shape (an array of sizes), got ${show(saved)}`);
        if (!sameShape(saved, p.shape)) {
          throw new RangeError(`state dict: ${where} is for a parameter of shape [${saved.join(', ')}] (${placeOf.get(id)}); this optimizer's parameter there has shape [${p.shape.join(', ')}]`);
        }
      }
      if (!isPlainObject(rawEntry)) throw new TypeError(`state dict: ${where} must be an object, got ${show(rawEntry)}`);
      // Each value is read once (an undefined one is absent); no prototype, so that a "__proto__" key stays a key.
      const entry = Object.create(null) as Record<string, unknown>;
      for (const [k, v] of Object.entries(rawEntry)) if (v !== undefined) entry[k] = v;
      this.checkStateEntry(p, entry, where);
      // What any optimizer's state may hold; buffers are copied, so that what was checked is what is loaded.
      for (const [k, v] of Object.entries(entry)) {
        const field = `${where}.${k}`;
        if (ArrayBuffer.isView(v)) {
          checkBuffer(p, v, field, false);
          entry[k] = p.dtype === 'float64' ? new Float64Array(v as Float64Array) : new Float32Array(v as Float32Array);
        } else if (v !== null && typeof v !== 'number') {
          throw new TypeError(`state dict: ${field} must be a typed array, a number or null, got ${show(v)}`);
        }
      }
      newState.set(p, entry);
    }
    // Everything is valid: build the new state (allocating every buffer), then apply.
    const loaded = new Map<Tensor, ParamState>();
    for (const [p, entry] of newState) {
      const s: ParamState = {};
      for (const [k, v] of Object.entries(entry)) {
        if (v instanceof Float32Array || v instanceof Float64Array) {
          const buf = this.backend.allocState(p.dtype, p.numel, neighboursOf(p, s));
          buf.write(v);
          s[k] = buf;
        } else {
          s[k] = v as number | null;
        }
      }
      loaded.set(p, s);
    }
    newGroups.forEach((g, i) => {
      const live = this.paramGroups[i];
      for (const k of Object.keys(live)) if (k !== 'params') delete live[k];
      Object.assign(live, g);
    });
    // The map is shared with a wrapping optimizer: change it in place. The
    // buffers it held are freed now (WebAssembly memory: see dispose).
    releaseBuffers(this.state);
    this.state.clear();
    for (const [p, s] of loaded) this.state.set(p, s);
  }

  /** The class name shown by toString(). */
  protected displayName(): string {
    return `${this.constructor.name} (`;
  }

  /** PyTorch's printed form: each group's options, sorted by name. */
  toString(): string {
    let out = this.displayName();
    this.paramGroups.forEach((g, i) => {
      out += `\nParameter Group ${i}\n`;
      for (const k of Object.keys(g).sort()) if (k !== 'params') out += `    ${k}: ${formatValue(g[k])}\n`;
    });
    return `${out})`;
  }
}

/** Throws a TypeError unless a constructor's options argument is an options object. */
export function checkOptionsObject(className: string, options: unknown): void {
  if (!isPlainObject(options)) throw new TypeError(`${className}: options must be an object, got ${show(options)}`);
}

/**
 * A class's defaults with the user's options put in; an option the class
 * does not declare is a RangeError (a typo must not pass silently).
 */
export function optionsWithDefaults(
  className: string,
  classDefaults: Record<string, unknown>,
  options: object,
): Record<string, unknown> {
  checkOptionsObject(className, options);
  const out: Record<string, unknown> = { ...classDefaults };
  for (const [k, v] of Object.entries(options)) {
    if (!(k in classDefaults)) {
      throw new RangeError(`${className}: unknown option ${k} (${show(v)}); it accepts ${Object.keys(classDefaults).join(', ')}`);
    }
    if (v !== undefined) out[k] = copyValue(v);
  }
  return out;
}

/** The class of an optimizer: `new (params, options)`. */
export type OptimizerClass = (new (params: Params, options?: Record<string, unknown>) => Optimizer) & {
  /** The option names and defaults the class declares. */
  readonly optionDefaults: Record<string, unknown>;
};

export function isOptimizerClass(x: unknown): x is OptimizerClass {
  return typeof x === 'function' && x.prototype instanceof Optimizer;
}

// Their steps are backend kernel calls only (stepAsync records them).
stepsWithKernelsOnly(Optimizer);
