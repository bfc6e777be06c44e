// SPDX-License-Identifier: MIT
// Learning-rate schedules after torch.optim.lr_scheduler (PyTorch 1.13): they
// only ever write `lr` into the optimizer's param groups, so they work the
// same on a plain optimizer and on an L2ProjectedOptim whose groups are
// shared with its inner optimizer.
import { checkInteger, checkNumber, checkOptions, show } from './errors';
import { Optimizer } from './optim/optimizer';

/** A scheduler's saved state: plain numbers and arrays (no functions). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type SchedulerState = Record<string, any>;

/** The non-enumerable key of a scheduler state that names its class (as `optimizer` does in an optimizer's). */
export const SCHEDULER_TAG = 'scheduler';

function checkOptimizer(cls: string, optimizer: unknown): Optimizer {
  if (!(optimizer instanceof Optimizer)) throw new TypeError(`${cls}: optimizer must be an lp-optim Optimizer, got ${show(optimizer)}`);
  return optimizer;
}

/** A constructor's arguments: the optimizer first, then the options object and its keys. */
function schedulerOptions(cls: string, optimizer: unknown, options: unknown, accepted: string[]): Record<string, unknown> {
  checkOptimizer(cls, optimizer);
  return checkOptions(cls, options, accepted);
}

/** One lr per param group; baseLrs are lrs the optimizer accepted (finite, >= 0), lastLr only reports what step() wrote. */
function checkLrs(name: string, value: unknown, groups: number, optimizerLrs: boolean): void {
  if (!Array.isArray(value)) throw new TypeError(`${name} must be an array of numbers, got ${show(value)}`);
  if (value.length !== groups) throw new RangeError(`${name} must hold one lr per param group (${groups}), got ${show(value)}`);
  value.forEach((v, i) => {
    if (optimizerLrs) checkNumber(`${name}[${i}]`, v, { min: 0 });
    else if (typeof v !== 'number') throw new TypeError(`${name}[${i}] must be a number, got ${show(v)}`);
  });
}

/** How loadStateDict checks each saved field: as the constructors check the options it came from. */
const STATE_CHECKS: Record<string, (name: string, value: unknown, groups: number) => void> = {
  lastEpoch: (name, v) => checkInteger(name, v, -1),
  stepCount: (name, v) => checkInteger(name, v, 0),
  stepSize: (name, v) => checkInteger(name, v, 1),
  TMax: (name, v) => checkInteger(name, v, 1),
  gamma: (name, v) => checkNumber(name, v),
  etaMin: (name, v) => checkNumber(name, v, { min: 0 }),
  baseLrs: (name, v, groups) => checkLrs(name, v, groups, true),
  lastLr: (name, v, groups) => checkLrs(name, v, groups, false),
};

export abstract class LRScheduler {
  readonly optimizer: Optimizer;
  /** The learning rate each group started from (`initialLr` of the group). */
  baseLrs: number[];
  /** The epoch count: -1 before the first step, 0 after construction. */
  lastEpoch: number;
  protected stepCount = 0;
  private lastLr: number[] = [];

  protected constructor(optimizer: Optimizer, lastEpoch: unknown = -1) {
    checkOptimizer(new.target.name, optimizer);
    const last = checkInteger('lastEpoch', lastEpoch, -1);
    if (last !== -1) {
      optimizer.paramGroups.forEach((g, i) => {
        if (g.initialLr === undefined) {
          throw new RangeError(`param group ${i} has no initialLr: resuming with lastEpoch = ${last} needs the groups of a scheduled optimizer`);
        }
      });
    }
    this.optimizer = optimizer;
    // torch's setdefault('initial_lr', lr); initialStep() writes it into the
    // groups only once the constructor can no longer fail.
    this.baseLrs = optimizer.paramGroups.map((g) => (g.initialLr ?? g.lr) as number);
    this.lastEpoch = last;
  }

  /** Takes the construction-time step (torch's _initial_step); subclasses call it last. */
  protected initialStep(): void {
    this.step();
    this.optimizer.paramGroups.forEach((g, i) => {
      if (g.initialLr === undefined) g.initialLr = this.baseLrs[i];
    });
  }

  /** The learning rates for `epoch` (the one step() enters), from the groups' current ones. */
  protected abstract computeLr(epoch: number, stepCount: number): number[];

  /** Advances one epoch and writes the new learning rate into every group. */
  step(): void {
    // Like the optimizer's own calls: its groups must not change under a running stepAsync().
    if (this.optimizer.paramGroups.some((g) => g.params.some((p) => p.busy))) {
      throw new Error(`cannot step ${this.constructor.name} while a stepAsync() of its optimizer is running; await it first`);
    }
    // Every new lr is computed (and checked) before anything changes, so a
    // failing lrLambda leaves the epoch, the counters and the lrs as they were.
    const epoch = this.lastEpoch + 1;
    const lrs = this.computeLr(epoch, this.stepCount + 1);
    const groups = this.optimizer.paramGroups;
    // As torch's zip(): a group added after the scheduler was made, with no base lr, keeps its lr.
    for (let i = 0; i < Math.min(lrs.length, groups.length); i++) groups[i].lr = lrs[i];
    this.lastEpoch = epoch;
    this.stepCount += 1;
    this.lastLr = groups.map((g) => g.lr as number);
  }

  /** The learning rates set by the last step(). */
  getLastLr(): number[] {
    return this.lastLr.slice();
  }

  /**
   * Everything but the optimizer (and functions), as torch does; the
   * scheduler's class rides along as a non-enumerable `scheduler` (saved in
   * checkpoints), so that loadStateDict can refuse another kind's state.
   */
  stateDict(): SchedulerState {
    const out: SchedulerState = {};
    for (const [k, v] of Object.entries(this)) {
      // Like torch, functions (a LambdaLR's lrLambda) are not state.
      if (k === 'optimizer' || typeof v === 'function' || (Array.isArray(v) && v.some((x) => typeof x === 'function'))) continue;
      out[k] = Array.isArray(v) ? v.slice() : v;
    }
    Object.defineProperty(out, SCHEDULER_TAG, { value: this.constructor.name, enumerable: false });
    return out;
  }

  /** Restores (part of) a state made by stateDict() of the same kind of scheduler; checks every field first. */
  loadStateDict(state: SchedulerState): void {
    const cls = this.constructor.name;
    if (typeof state !== 'object' || state === null || Array.isArray(state)) {
      throw new TypeError(`${cls}.loadStateDict expects a state dict object, got ${show(state)}`);
    }
    const mine = this.stateDict();
    const groups = this.optimizer.paramGroups.length;
    const hasOwn = (o: object, k: string) => Object.prototype.hasOwnProperty.call(o, k);
    // The class the state came from, when it says (stateDict() and checkpoints do).
    const from = hasOwn(state, SCHEDULER_TAG) ? state[SCHEDULER_TAG] : undefined;
    if (from !== undefined && typeof from !== 'string') throw new TypeError(`${cls} state: ${SCHEDULER_TAG} must be a class name, got ${show(from)}`);
    if (from !== undefined && from !== cls) throw new RangeError(`scheduler state is from a ${show(from)} scheduler; this one is ${show(cls)}`);
    const entries = Object.entries(state).filter(([k]) => k !== SCHEDULER_TAG);
    for (const [k, v] of entries) {
      if (!hasOwn(mine, k)) throw new RangeError(`${cls} state has no key ${k} (${show(v)})`);
      // Own keys only: a saved key such as "constructor" or "__proto__" must not find Object.prototype's.
      const check = hasOwn(STATE_CHECKS, k) ? STATE_CHECKS[k] : undefined;
      if (check) check(`${cls} state: ${k}`, v, groups);
      else if (typeof v !== typeof mine[k] || Array.isArray(v) !== Array.isArray(mine[k])) {
        // A field of a user's subclass: at least the type must match.
        throw new TypeError(`${cls} state: ${k} must be like ${show(mine[k])}, got ${show(v)}`);
      }
    }
    for (const [k, v] of entries) (this as unknown as Record<string, unknown>)[k] = Array.isArray(v) ? v.slice() : v;
  }
}

/** Multiplies the learning rate by gamma every stepSize epochs. */
export class StepLR extends LRScheduler {
  stepSize: number;
  gamma: number;
  constructor(optimizer: Optimizer, options: { stepSize: number; gamma?: number; lastEpoch?: number }) {
    const { stepSize, gamma = 0.1, lastEpoch = -1 } = schedulerOptions('StepLR', optimizer, options, ['stepSize', 'gamma', 'lastEpoch']);
    const size = checkInteger('stepSize', stepSize, 1);
    const factor = checkNumber('gamma', gamma);
    super(optimizer, lastEpoch);
    this.stepSize = size;
    this.gamma = factor;
    this.initialStep();
  }
  protected computeLr(epoch: number): number[] {
    const lrs = this.optimizer.paramGroups.map((g) => g.lr as number);
    if (epoch === 0 || epoch % this.stepSize !== 0) return lrs;
    return lrs.map((lr) => lr * this.gamma);
  }
}

/** Multiplies the learning rate by gamma every epoch. */
export class ExponentialLR extends LRScheduler {
  gamma: number;
  constructor(optimizer: Optimizer, options: { gamma: number; lastEpoch?: number }) {
    const { gamma, lastEpoch = -1 } = schedulerOptions('ExponentialLR', optimizer, options, ['gamma', 'lastEpoch']);
    const factor = checkNumber('gamma', gamma);
    super(optimizer, lastEpoch);
    this.gamma = factor;
    this.initialStep();
  }
  protected computeLr(epoch: number): number[] {
    const lrs = this.optimizer.paramGroups.map((g) => g.lr as number);
    return epoch === 0 ? lrs : lrs.map((lr) => lr * this.gamma);
  }
}

/** Cosine annealing from the base learning rate to etaMin over TMax epochs (torch's recursive form). */
export class CosineAnnealingLR extends LRScheduler {
  TMax: number;
  etaMin: number;
  constructor(optimizer: Optimizer, options: { TMax: number; etaMin?: number; lastEpoch?: number }) {
    const { TMax, etaMin = 0, lastEpoch = -1 } = schedulerOptions('CosineAnnealingLR', optimizer, options, ['TMax', 'etaMin', 'lastEpoch']);
    const T = checkInteger('TMax', TMax, 1);
    const min = checkNumber('etaMin', etaMin, { min: 0 });
    super(optimizer, lastEpoch);
    this.TMax = T;
    this.etaMin = min;
    this.initialStep();
  }
  protected computeLr(e: number, stepCount: number): number[] {
    const groups = this.optimizer.paramGroups;
    const T = this.TMax;
    if (e === 0) return groups.map((g) => g.lr as number);
    // These two forms zip baseLrs with the groups, as torch does.
    const bases = this.baseLrs.slice(0, groups.length);
    if (stepCount === 1 && e > 0) {
      return bases.map((base) => this.etaMin + ((base - this.etaMin) * (1 + Math.cos((e * Math.PI) / T))) / 2);
    }
    if ((e - 1 - T) % (2 * T) === 0) {
      return bases.map((base, i) => (groups[i].lr as number) + ((base - this.etaMin) * (1 - Math.cos(Math.PI / T))) / 2);
    }
    return groups.map(
      (g) => ((1 + Math.cos((Math.PI * e) / T)) / (1 + Math.cos((Math.PI * (e - 1)) / T))) * ((g.lr as number) - this.etaMin) + this.etaMin,
    );
  }
}

/** lr = baseLr * lrLambda(epoch); one function, or one per group. */
export class LambdaLR extends LRScheduler {
  private readonly lrLambdas: ((epoch: number) => number)[];
  constructor(optimizer: Optimizer, options: { lrLambda: ((epoch: number) => number) | ((epoch: number) => number)[]; lastEpoch?: number }) {
    const { lrLambda, lastEpoch = -1 } = schedulerOptions('LambdaLR', optimizer, options, ['lrLambda', 'lastEpoch']);
    const n = optimizer.paramGroups.length;
    const fns = Array.isArray(lrLambda) ? lrLambda : Array<unknown>(n).fill(lrLambda);
    if (fns.some((f) => typeof f !== 'function')) throw new TypeError(`LambdaLR: lrLambda must be a function or an array of functions, got ${show(lrLambda)}`);
    if (fns.length !== n) throw new RangeError(`LambdaLR: expected ${n} lrLambda functions (one per param group), got ${fns.length}`);
    super(optimizer, lastEpoch);
    this.lrLambdas = fns as ((epoch: number) => number)[];
    this.initialStep();
  }
  protected computeLr(epoch: number): number[] {
    return this.baseLrs.map((base, i) => base * checkNumber(`lrLambda(${epoch}) (param group ${i})`, this.lrLambdas[i](epoch)));
  }
}
