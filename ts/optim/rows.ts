// SPDX-License-Identifier: MIT
// paramNdim: how a parameter is seen as rows (data) for a transform, exactly
// as rai_toolbox's _reshape_to_batch does it, without copying.
import { Tensor } from '../tensor';

/** Whether x is a shape: an array of sizes (integers from 0 to 2^53 - 1). */
export function isShape(x: unknown): x is number[] {
  return Array.isArray(x) && x.every((d) => Number.isSafeInteger(d) && (d as number) >= 0);
}

/** Whether two shapes are the same, dimension by dimension. */
export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, k) => d === b[k]);
}

/**
 * The shape (N, d0, d1, ...) under which a tensor of `shape` is transformed:
 * null = the whole tensor is one datum; k >= 0 = the last k dimensions form a
 * datum; k < 0 = ndim + k. Always at least two dimensions.
 */
export function batchShape(shape: readonly number[], paramNdim: number | null): number[] {
  const ndim = shape.length;
  let k = paramNdim ?? ndim;
  if (k < 0) k += ndim;
  const delta = 1 + k - ndim;
  let out: number[];
  if (delta > 0) out = [...Array<number>(delta).fill(1), ...shape];
  else if (delta < 0) out = [shape.slice(0, ndim - k).reduce((a, b) => a * b, 1), ...shape.slice(ndim - k)];
  else out = shape.slice();
  while (out.length < 2) out.push(1);
  return out;
}

/** (rows, cols) of each tensor under the paramNdim last asked, cached: a step asks every time. */
const rowsAndColsCache = new WeakMap<Tensor, { paramNdim: number | null; rows: number; cols: number }>();

/** (rows, cols) of a tensor seen as data under paramNdim. */
export function dataRowsAndCols(p: Tensor, paramNdim: number | null): [number, number] {
  const hit = rowsAndColsCache.get(p);
  if (hit && hit.paramNdim === paramNdim) return [hit.rows, hit.cols];
  const [rows, cols] = rowsAndCols(batchShape(p.shape, paramNdim));
  rowsAndColsCache.set(p, { paramNdim, rows, cols });
  return [rows, cols];
}

/** Throws unless |paramNdim| <= ndim, naming the shape and the value. */
export function checkParamNdimFor(shape: readonly number[], paramNdim: number | null, where: string): void {
  if (paramNdim !== null && Math.abs(paramNdim) > shape.length) {
    throw new RangeError(
      `paramNdim=${paramNdim} (${where}) is not valid for a parameter of shape [${shape.join(', ')}] (ndim ${shape.length}): |paramNdim| <= ndim must hold`,
    );
  }
}

/** A parameter seen as rows: same data, same grad, batch shape. */
export function rowView(p: Tensor, paramNdim: number | null): Tensor {
  return Tensor.view(p.data, batchShape(p.shape, paramNdim), p.grad);
}

/** (rows, cols) of a batch shape (N, d0, d1, ...). */
export function rowsAndCols(shape: readonly number[]): [number, number] {
  let cols = 1;
  for (let i = 1; i < shape.length; i++) cols *= shape[i];
  return [shape[0], cols];
}
