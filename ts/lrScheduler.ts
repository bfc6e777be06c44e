// SPDX-License-Identifier: MIT
// Learning-rate schedules after torch.optim.lr_scheduler (PyTorch 1.13): they
// only ever write `lr` into the optimizer's param groups, so they work the
// same on a plain optimizer and on an L2ProjectedOptim whose groups are
// shared with its inner optimizer.
import { checkNumber, show } from './errors';
import { Optimizer } from './optim/optimizer';

/** A scheduler's saved state: plain numbers and arrays (no functions). */
export type SchedulerState = Record<string, unknown>;

function checkInteger(name: string, value: unknown, min: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) throw new TypeError(`${name} must be an integer, got ${show(value)}`);
  if (value < min) throw new RangeError(`${name} must be >= ${min}, got ${value}`);
  return value;
}

function rejectUnknownOptions(cls: string, rest: object): void {
  const unknown = Object.keys(rest);
  if (unknown.length) throw new RangeError(`${cls}: unknown option ${unknown[0]}`);
}

export abstract class LRScheduler {
  readonly optimizer: Optimizer;
  /** The learning rate each group started from (`initialLr` of the group). */
  baseLrs: number[];
  /** The epoch count: -1 before the first step, 0 after construction. */
  lastEpoch: number;
  protected stepCount = 0;
  private lastLr: number[] = [];

  protected constructor(optimizer: Optimizer, lastEpoch: unknown = -1) {
    if (!(optimizer instanceof Optimizer)) throw new TypeError(`${new.target.name}: optimizer must be an lp-optim Optimizer, got ${show(optimizer)}`);
    const last = checkInteger('lastEpoch', lastEpoch, -1);
    optimizer.paramGroups.forEach((g, i) => {
      if (last === -1) {
        if (g.initialLr === undefined) g.initialLr = g.lr;
      } else if (g.initialLr === undefined) {
        throw new RangeError(`param group ${i} has no initialLr: resuming with lastEpoch = ${last} needs the groups of a scheduled optimizer`);
      }
    });
    this.optimizer = optimizer;
    this.baseLrs = optimizer.paramGroups.map((g) => g.initialLr as number);
    this.lastEpoch = last;
  }

  /** Takes the construction-time step (torch's _initial_step); subclasses call it last. */
  protected initialStep(): void {
    this.stepCount = 0;
    this.step();
  }

  /** The learning rates for the epoch just entered, from the groups' current ones. */
  protected abstract computeLr(): number[];

  /** Advances one epoch and writes the new learning rate into every group. */
  step(): void {
    this.stepCount += 1;
    this.lastEpoch += 1;
    const lrs = this.computeLr();
    this.optimizer.paramGroups.forEach((g, i) => {
      g.lr = lrs[i];
    });
    this.lastLr = this.optimizer.paramGroups.map((g) => g.lr as number);
  }

  /** The learning rates set by the last step(). */
  getLastLr(): number[] {
    return this.lastLr.slice();
  }

  /** Everything but the optimizer (and functions), as torch does. */
  stateDict(): SchedulerState {
    const out: SchedulerState = {};
    for (const [k, v] of Object.entries(this)) {
      // Like torch, functions (a LambdaLR's lrLambda) are not state.
      if (k === 'optimizer' || typeof v === 'function' || (Array.isArray(v) && v.some((x) => typeof x === 'function'))) continue;
      out[k] = Array.isArray(v) ? v.slice() : v;
    }
    return out;
  }

  /** Restores a state made by stateDict() of the same kind of scheduler; checks it first. */
  loadStateDict(state: SchedulerState): void {
    if (typeof state !== 'object' || state === null) throw new TypeError(`loadStateDict expects an object, got ${show(state)}`);
    const mine = this.stateDict();
    for (const [k, v] of Object.entries(state)) {
      if (!(k in mine)) throw new RangeError(`${this.constructor.name} state has no key ${k}`);
      if (typeof v !== typeof mine[k] || Array.isArray(v) !== Array.isArray(mine[k])) {
        throw new TypeError(`${this.constructor.name} state: ${k} must be like ${show(mine[k])}, got ${show(v)}`);
      }
    }
    for (const [k, v] of Object.entries(state)) (this as unknown as Record<string, unknown>)[k] = Array.isArray(v) ? v.slice() : v;
  }
}

/** Multiplies the learning rate by gamma every stepSize epochs. */
export class StepLR extends LRScheduler {
  stepSize: number;
  gamma: number;
  constructor(optimizer: Optimizer, options: { stepSize: number; gamma?: number; lastEpoch?: number }) {
    const { stepSize, gamma = 0.1, lastEpoch = -1, ...rest } = options ?? ({} as never);
    rejectUnknownOptions('StepLR', rest);
    checkInteger('stepSize', stepSize, 1);
    checkNumber('gamma', gamma);
    super(optimizer, lastEpoch);
    this.stepSize = stepSize;
    this.gamma = gamma;
    this.initialStep();
  }
  protected computeLr(): number[] {
    const lrs = this.optimizer.paramGroups.map((g) => g.lr as number);
    if (this.lastEpoch === 0 || this.lastEpoch % this.stepSize !== 0) return lrs;
    return lrs.map((lr) => lr * this.gamma);
  }
}

/** Multiplies the learning rate by gamma every epoch. */
export class ExponentialLR extends LRScheduler {
  gamma: number;
  constructor(optimizer: Optimizer, options: { gamma: number; lastEpoch?: number }) {
    const { gamma, lastEpoch = -1, ...rest } = options ?? ({} as never);
    rejectUnknownOptions('ExponentialLR', rest);
    checkNumber('gamma', gamma);
    super(optimizer, lastEpoch);
    this.gamma = gamma;
    this.initialStep();
  }
  protected computeLr(): number[] {
    const lrs = this.optimizer.paramGroups.map((g) => g.lr as number);
    return this.lastEpoch === 0 ? lrs : lrs.map((lr) => lr * this.gamma);
  }
}

/** Cosine annealing from the base learning rate to etaMin over TMax epochs (torch's recursive form). */
export class CosineAnnealingLR extends LRScheduler {
  TMax: number;
  etaMin: number;
  constructor(optimizer: Optimizer, options: { TMax: number; etaMin?: number; lastEpoch?: number }) {
    const { TMax, etaMin = 0, lastEpoch = -1, ...rest } = options ?? ({} as never);
    rejectUnknownOptions('CosineAnnealingLR', rest);
    checkInteger('TMax', TMax, 1);
    checkNumber('etaMin', etaMin, { min: 0 });
    super(optimizer, lastEpoch);
    this.TMax = TMax;
    this.etaMin = etaMin;
    this.initialStep();
  }
  protected computeLr(): number[] {
    const groups = this.optimizer.paramGroups;
    const e = this.lastEpoch;
    const T = this.TMax;
    if (e === 0) return groups.map((g) => g.lr as number);
    if (this.stepCount === 1 && e > 0) {
      return this.baseLrs.map((base) => this.etaMin + ((base - this.etaMin) * (1 + Math.cos((e * Math.PI) / T))) / 2);
    }
    if ((e - 1 - T) % (2 * T) === 0) {
      return groups.map((g, i) => (g.lr as number) + ((this.baseLrs[i] - this.etaMin) * (1 - Math.cos(Math.PI / T))) / 2);
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
    const { lrLambda, lastEpoch = -1, ...rest } = options ?? ({} as never);
    rejectUnknownOptions('LambdaLR', rest);
    const n = optimizer instanceof Optimizer ? optimizer.paramGroups.length : 0;
    const fns = Array.isArray(lrLambda) ? lrLambda : Array<typeof lrLambda>(n).fill(lrLambda);
    if (fns.some((f) => typeof f !== 'function')) throw new TypeError(`LambdaLR: lrLambda must be a function or an array of functions, got ${show(lrLambda)}`);
    if (fns.length !== n) throw new RangeError(`LambdaLR: expected ${n} lrLambda functions (one per param group), got ${fns.length}`);
    super(optimizer, lastEpoch);
    this.lrLambdas = fns as ((epoch: number) => number)[];
    this.initialStep();
  }
  protected computeLr(): number[] {
    return this.baseLrs.map((base, i) => {
      const factor = this.lrLambdas[i](this.lastEpoch);
      checkNumber(`lrLambda(${this.lastEpoch})`, factor);
      return base * factor;
    });
  }
}
