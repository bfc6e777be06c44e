// SPDX-License-Identifier: MIT
// The WebAssembly module's group step may grow its memory (its overlap check
// allocates), which detaches every view of the old buffer: the staged step
// must not copy its results back through views made before the call. A file
// of its own, so that no allocArray call has moved the backend to shared
// memory (whose growth detaches nothing) before it runs.
import { L2ProjectedOptim, LinfProjectedOptim, Optimizer, Tensor, backendInfo } from '../ts';
import { expectSameBits } from './helpers';

type KernelFn = (...args: number[]) => number;
interface Backend {
  kernel(name: string): KernelFn;
  exports: { memory: { buffer: ArrayBufferLike; grow(pages: number): number } };
}

const onWasm = backendInfo().backend === 'wasm';

(onWasm ? test.each : test.skip.each)([
  ['L2ProjectedOptim (float64)', (p: Tensor[]) => new L2ProjectedOptim(p, { lr: 2, momentum: 0.99, nesterov: true, epsilon: 0.1, paramNdim: 2 })],
  ['LinfProjectedOptim (float64)', (p: Tensor[]) => new LinfProjectedOptim(p, { lr: 0.5, epsilon: 0.3 })],
] as [string, (p: Tensor[]) => Optimizer][])(
  "%s: a step whose module grows its memory mid-call still writes every staged block back (skipped on native, which stages nothing)",
  (_name, make) => {
    const tensor = () => {
      const t = new Tensor(Float64Array.from({ length: 4 * 7 }, (_, i) => Math.sin(i)), [4, 7]);
      t.grad = Float64Array.from({ length: 28 }, (_, i) => Math.cos(3 * i));
      return t;
    };
    const [x, twin] = [tensor(), tensor()];
    const opt = make([x]);
    const twinOpt = make([twin]);
    const backend = (opt as unknown as { backend: Backend }).backend;
    const before = backend.exports.memory.buffer;
    const kernel = backend.kernel.bind(backend);
    backend.kernel = (name) => {
      const fn = kernel(name);
      if (!name.startsWith('lp_group_step')) return fn;
      return (...args) => {
        backend.exports.memory.grow(1); // as a malloc inside the call would
        return fn(...args);
      };
    };
    try {
      opt.step();
    } finally {
      delete (backend as Partial<Backend>).kernel; // the prototype's again
    }
    expect(backend.exports.memory.buffer).not.toBe(before);
    twinOpt.step();
    expectSameBits(x.data, twin.data, 'parameter');
    expectSameBits(x.grad!, twin.grad!, 'gradient');
    expect(Array.from(x.data)).not.toEqual(Array.from(tensor().data)); // the step did move it
  },
);
