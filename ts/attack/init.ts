// SPDX-License-Identifier: MIT
// Random starts for attacks (rai_toolbox.perturbations.init): draws uniform in
// the L1, L2 and L-inf balls of radius epsilon, one ball per datum under
// paramNdim, from a seedable Generator (the same draws everywhere).
import { checkArrayLive } from '../backend/arrays';
import { checkNumber, checkOptions, show } from '../errors';
import { checkParamNdimFor, batchShape } from '../optim/rows';
import { Generator, defaultGenerator } from '../random';
import { Tensor } from '../tensor';

export interface BallInitOptions {
  epsilon?: number;
  paramNdim?: number | null;
  generator?: Generator;
}

function parse(name: string, t: Tensor, options: unknown, defaultNdim: number | null) {
  if (!(t instanceof Tensor)) throw new TypeError(`${name}: the first argument must be a Tensor, got ${show(t)}`);
  const { epsilon = 1, paramNdim = defaultNdim, generator = defaultGenerator } = checkOptions(name, options, ['epsilon', 'paramNdim', 'generator']);
  const eps = checkNumber(`${name}: epsilon`, epsilon);
  if (!(eps > 0)) throw new RangeError(`${name}: epsilon must be > 0, got ${eps}`);
  if (paramNdim !== null && !Number.isInteger(paramNdim)) throw new TypeError(`${name}: paramNdim must be an integer or null, got ${show(paramNdim)}`);
  const ndim = paramNdim as number | null;
  checkParamNdimFor(t.shape, ndim, name);
  if (!(generator instanceof Generator)) throw new TypeError(`${name}: generator must be a Generator, got ${show(generator)}`);
  // Filling a tensor over a freed allocArray array would write into whatever array has its memory now.
  checkArrayLive(t.data, `${name}: the tensor's data`);
  // An empty tensor has nothing to fill: no rows to visit and no draws (a
  // [2**31, 0] tensor would otherwise draw for each of its empty rows).
  const rows = t.numel === 0 ? 0 : batchShape(t.shape, ndim)[0];
  return { epsilon: eps, generator, rows, cols: rows === 0 ? 0 : t.numel / rows };
}

/**
 * Uniform in the L1 ball: the spacings of sorted uniform draws are uniform on
 * the simplex's corner; random signs spread them over the ball.
 */
export function uniformLikeL1NBall_(t: Tensor, options: BallInitOptions = {}): void {
  const { epsilon, generator, rows, cols } = parse('uniformLikeL1NBall_', t, options, -1);
  const x = t.data;
  const v = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < cols; j++) v[j] = generator.uniform();
    v.sort();
    for (let j = 0; j < cols; j++) {
      const spacing = v[j] - (j === 0 ? 0 : v[j - 1]);
      const sign = generator.uniform() < 0.5 ? -1 : 1;
      x[r * cols + j] = epsilon * sign * spacing;
    }
  }
}

/** Uniform in the L2 ball: the first D coordinates of a uniform point on the (D+2)-sphere. */
export function uniformLikeL2NBall_(t: Tensor, options: BallInitOptions = {}): void {
  const { epsilon, generator, rows, cols } = parse('uniformLikeL2NBall_', t, options, -1);
  const x = t.data;
  const z = new Float64Array(cols + 2);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let j = 0; j < cols + 2; j++) {
      z[j] = generator.normal();
      s += z[j] * z[j];
    }
    const norm = Math.sqrt(s);
    for (let j = 0; j < cols; j++) x[r * cols + j] = (epsilon * z[j]) / norm;
  }
}

/** Uniform in the L-inf ball: each element uniform in [-epsilon, epsilon). */
export function uniformLikeLinfNBall_(t: Tensor, options: BallInitOptions = {}): void {
  const { epsilon, generator } = parse('uniformLikeLinfNBall_', t, options, null);
  const x = t.data;
  for (let i = 0; i < x.length; i++) x[i] = epsilon * (2 * generator.uniform() - 1);
}
