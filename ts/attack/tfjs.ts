// SPDX-License-Identifier: MIT
// TensorFlow.js adapter: turns a tf.LayersModel (or any function from an
// input tensor to logits) into the lossAndGrad of gradientAscent, with
// per-sample softmax cross-entropy and success from the predicted class.
// `tf` is the caller's @tensorflow/tfjs (an optional peer dependency); every
// tensor made here is disposed (tf.tidy), so an attack leaks none.
import { checkInteger, checkOptions, show } from '../errors';
import { Tensor } from '../tensor';
import { LossAndGrad } from './gradientAscent';

/** The parts of @tensorflow/tfjs used here (kept structural: no import of tfjs itself). */
export interface TfTensor {
  shape: number[];
  dataSync(): ArrayLike<number>;
}

export interface Tfjs {
  tidy(fn: () => void): void;
  tensor(values: Float32Array, shape: number[], dtype: 'float32'): TfTensor;
  tensor1d(values: Int32Array, dtype: 'int32'): TfTensor;
  oneHot(indices: TfTensor, depth: number): TfTensor;
  logSoftmax(logits: TfTensor): TfTensor;
  mul(a: TfTensor, b: TfTensor): TfTensor;
  sum(x: TfTensor, axis?: number): TfTensor;
  neg(x: TfTensor): TfTensor;
  argMax(x: TfTensor, axis: number): TfTensor;
  grad(f: (x: TfTensor) => TfTensor): (x: TfTensor) => TfTensor;
}

/** A tf.LayersModel (anything with apply(x)), or a function from an input tensor to logits. */
export type TfModel = object;

/**
 * @param tfModule the caller's `@tensorflow/tfjs` (typed loosely so that any
 *   tfjs 4.x module is accepted without a cast)
 * @param model a tf.LayersModel or a function from inputs [N, ...] to logits [N, classes]
 */
export function tfjsLossAndGrad(tfModule: object, model: TfModel, options: { targeted?: boolean } = {}): LossAndGrad {
  const tf = tfModule as Tfjs;
  if (typeof tf !== 'object' || tf === null || typeof tf.grad !== 'function' || typeof tf.tidy !== 'function') {
    throw new TypeError(`tfjsLossAndGrad: tf must be the @tensorflow/tfjs module, got ${show(tf)}`);
  }
  const { targeted = false } = checkOptions('tfjsLossAndGrad', options, ['targeted']);
  if (typeof targeted !== 'boolean') throw new TypeError(`targeted must be a boolean, got ${show(targeted)}`);
  let forward: (x: TfTensor) => TfTensor;
  const layers = model as { apply?: (x: TfTensor, kwargs?: Record<string, unknown>) => unknown };
  if (typeof model === 'function') forward = model as (x: TfTensor) => TfTensor;
  else if (model && typeof layers.apply === 'function') forward = (x) => layers.apply!(x, { training: false }) as TfTensor;
  else throw new TypeError(`tfjsLossAndGrad: model must be a tf.LayersModel or a function from inputs to logits, got ${show(model)}`);

  return (x: Tensor, target: unknown) => {
    if (!(x instanceof Tensor)) throw new TypeError(`x must be a Tensor, got ${show(x)}`);
    const n = x.shape[0];
    if (!Array.isArray(target) && !(ArrayBuffer.isView(target) && !(target instanceof DataView))) {
      throw new TypeError(`target must be an array or typed array of class indices, got ${show(target)}`);
    }
    const t = target as ArrayLike<unknown>;
    if (t.length !== n) throw new RangeError(`target must hold one class per sample (${n}), got ${show(target)}`);
    // Checked before any conversion: Int32Array.from would turn 1.5 into class 1 and 2**32 into class 0.
    const labels = Array.from(t, (c, i) => checkInteger(`target[${i}]`, c, 0));
    const f64 = x.dtype === 'float64';
    const losses = f64 ? new Float64Array(n) : new Float32Array(n);
    const grad = f64 ? new Float64Array(x.numel) : new Float32Array(x.numel);
    const success = new Uint8Array(n);
    tf.tidy(() => {
      const input = tf.tensor(Float32Array.from(x.data), [...x.shape], 'float32');
      const logits = forward(input);
      if (logits.shape.length !== 2 || logits.shape[0] !== n) {
        throw new RangeError(`the model must return logits of shape [${n}, classes], got [${logits.shape.join(', ')}]`);
      }
      const classes = logits.shape[1];
      labels.forEach((c, i) => {
        if (c >= classes) throw new RangeError(`target[${i}] = ${c} is not a class of a ${classes}-class model`);
      });
      const oneHot = tf.oneHot(tf.tensor1d(Int32Array.from(labels), 'int32'), classes);
      const perSample = (z: TfTensor) => tf.neg(tf.sum(tf.mul(oneHot, tf.logSoftmax(z)), -1));
      losses.set(perSample(logits).dataSync());
      grad.set(tf.grad((inp) => tf.sum(perSample(forward(inp))))(input).dataSync());
      const pred = tf.argMax(logits, -1).dataSync();
      for (let i = 0; i < n; i++) success[i] = targeted ? (pred[i] === labels[i] ? 1 : 0) : pred[i] !== labels[i] ? 1 : 0;
    });
    return { losses, grad, success };
  };
}
