// SPDX-License-Identifier: MIT
// partial(Class, options): a class with preset options, like functools.partial
// in the reference (options given later win): an optimizer class for InnerOpt
// or a chain, a perturbation model's class for an attack.
import { show } from '../errors';
import { OptimizerClass } from './optimizer';

const PARTIAL: unique symbol = Symbol('lp-optim partial');

export interface Partial {
  readonly cls: OptimizerClass;
  readonly options: Readonly<Record<string, unknown>>;
  readonly [PARTIAL]: true;
}

export function partial(cls: OptimizerClass | (new (...args: never[]) => unknown), options: object = {}): Partial {
  if (typeof cls !== 'function' || !cls.prototype) throw new TypeError(`partial(cls, options): cls must be a class, got ${show(cls)}`);
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new TypeError(`partial(cls, options): options must be an object, got ${show(options)}`);
  }
  return Object.freeze({ cls: cls as OptimizerClass, options: Object.freeze({ ...options }), [PARTIAL]: true as const });
}

export function isPartial(x: unknown): x is Partial {
  return typeof x === 'object' && x !== null && (x as Partial)[PARTIAL] === true;
}
