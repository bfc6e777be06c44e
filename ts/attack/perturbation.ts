// SPDX-License-Identifier: MIT
// AdditivePerturbation (rai_toolbox.perturbations.AdditivePerturbation):
// x = data + delta, delta the one parameter an attack optimizes; with
// deltaNdim < 0 one delta is broadcast over the leading (batch) dimensions.
import { checkOptions, show } from '../errors';
import { Tensor } from '../tensor';
import { DType, FloatArray } from '../types';

export interface AdditivePerturbationOptions {
  /** Initial values (one per element of delta), or a function that fills `delta` in place. */
  init?: ArrayLike<number> | ((delta: Tensor) => void) | null;
  /** delta's number of dimensions: k > 0 keeps the last k of the data's, k < 0 drops -k leading ones; null: the data's shape. */
  deltaNdim?: number | null;
  dtype?: DType;
}

/** What gradientAscent asks of a perturbation model. */
export interface PerturbationModel {
  parameters(): Tensor[];
  apply(data: Tensor): Tensor;
}

export class AdditivePerturbation implements PerturbationModel {
  readonly delta: Tensor;

  constructor(dataOrShape: Tensor | readonly number[], options: AdditivePerturbationOptions = {}) {
    const { init = null, deltaNdim = null, dtype } = checkOptions('AdditivePerturbation', options, ['init', 'deltaNdim', 'dtype']) as AdditivePerturbationOptions;
    let shape: number[];
    if (dataOrShape instanceof Tensor) shape = [...dataOrShape.shape];
    else if (Array.isArray(dataOrShape) && dataOrShape.every((d) => Number.isInteger(d) && d >= 0)) shape = dataOrShape.slice();
    else throw new TypeError(`AdditivePerturbation: dataOrShape must be a Tensor or a shape (array of sizes), got ${show(dataOrShape)}`);
    if (deltaNdim !== null) {
      if (!Number.isInteger(deltaNdim)) throw new TypeError(`deltaNdim must be an integer or null, got ${show(deltaNdim)}`);
      const k = deltaNdim < 0 ? shape.length + deltaNdim : deltaNdim;
      if (k < 0 || k > shape.length) throw new RangeError(`deltaNdim=${deltaNdim} does not fit data of shape [${shape.join(', ')}]`);
      shape = shape.slice(shape.length - k);
    }
    const type = dtype ?? (dataOrShape instanceof Tensor ? dataOrShape.dtype : 'float32');
    if (type !== 'float32' && type !== 'float64') throw new TypeError(`dtype must be 'float32' or 'float64', got ${show(type)}`);
    const n = shape.reduce((a, b) => a * b, 1);
    let data: FloatArray;
    try {
      data = type === 'float64' ? new Float64Array(n) : new Float32Array(n);
    } catch (err) {
      // V8's own message ("Invalid typed array length: 1e18") names neither the shape nor the class.
      throw new RangeError(`AdditivePerturbation: a ${type} delta of shape [${shape.join(', ')}] (${n} elements) cannot be allocated: ${(err as Error).message}`);
    }
    this.delta = new Tensor(data, shape);
    if (typeof init === 'function') init(this.delta);
    else if (init !== null) {
      if (typeof (init as ArrayLike<number>).length !== 'number') throw new TypeError(`init must be an array of values or a function, got ${show(init)}`);
      if (init.length !== n) throw new RangeError(`init has ${init.length} values, delta of shape [${shape.join(', ')}] needs ${n}`);
      for (let i = 0; i < n; i++) {
        if (typeof init[i] !== 'number') throw new TypeError(`init[${i}] must be a number, got ${show(init[i])}`);
        data[i] = init[i];
      }
    }
  }

  parameters(): Tensor[] {
    return [this.delta];
  }

  /** data + delta, broadcast over the data's leading dimensions; a new Tensor of the data's dtype. */
  apply(data: Tensor): Tensor {
    if (!(data instanceof Tensor)) throw new TypeError(`AdditivePerturbation.apply: data must be a Tensor, got ${show(data)}`);
    const d = this.delta.data;
    const x = data.data;
    const tail = this.delta.shape;
    const lead = data.shape.length - tail.length;
    if (lead < 0 || tail.some((s, i) => s !== data.shape[lead + i])) {
      throw new RangeError(`AdditivePerturbation: delta of shape [${tail.join(', ')}] does not broadcast over data of shape [${data.shape.join(', ')}]`);
    }
    const out = data.dtype === 'float64' ? new Float64Array(x.length) : new Float32Array(x.length);
    const n = d.length;
    // (Two loops: the per-element test and modulo of one cost as much as the sum.)
    if (n === x.length) {
      for (let i = 0; i < n; i++) out[i] = x[i] + d[i];
    } else {
      for (let start = 0; start < x.length; start += n) for (let i = 0; i < n; i++) out[start + i] = x[start + i] + d[i];
    }
    return new Tensor(out, [...data.shape]);
  }
}
