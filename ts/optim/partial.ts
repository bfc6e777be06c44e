// SPDX-License-Identifier: MIT
// partial(Class, options): an optimizer class with preset options, like
// functools.partial in the reference (options given later win).
import { show } from '../errors';
import { OptimizerClass, isOptimizerClass } from './optimizer';

const PARTIAL: unique symbol = Symbol('lp-optim partial');

export interface Partial {
  readonly cls: OptimizerClass;
  readonly options: Readonly<Record<string, unknown>>;
  readonly [PARTIAL]: true;
}

export function partial(cls: OptimizerClass, options: Record<string, unknown> = {}): Partial {
  if (!isOptimizerClass(cls)) throw new TypeError(`partial(cls, options): cls must be an optimizer class, got ${show(cls)}`);
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new TypeError(`partial(cls, options): options must be an object, got ${show(options)}`);
  }
  return Object.freeze({ cls, options: Object.freeze({ ...options }), [PARTIAL]: true as const });
}

export function isPartial(x: unknown): x is Partial {
  return typeof x === 'object' && x !== null && (x as Partial)[PARTIAL] === true;
}
