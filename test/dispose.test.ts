// SPDX-License-Identifier: MIT
// Optimizer.dispose(): state freed at once and the optimizer retired (every
// later call refused by name, nothing changed); an InnerOpt instance a
// wrapper adopted keeps its state; gradientAscent disposes of the optimizer
// it makes, not of one it was given. And a leak check (a child process with
// --expose-gc): rounds of optimizers made, stepped and dropped leave the
// process's and the WebAssembly module's memory where they were.
import { spawnSync } from 'child_process';
import * as path from 'path';
import {
  AdditivePerturbation, Adam, L2ProjectedOptim, LinfProjectedOptim, SGD, Tensor, backendInfo, gradientAscent, partial,
} from '../ts';
import { StateBuffer } from '../ts/backend/types';

const info = backendInfo();
const where = `${info.backend} (${info.isa})`;

function batch(rows: number, cols: number, seed: number): Tensor {
  const n = rows * cols;
  const t = new Tensor(Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + seed) * 0.3), [rows, cols]);
  t.grad = Float32Array.from({ length: n }, (_, i) => Math.cos(i * 0.11 + seed));
  return t;
}

/**
 * State buffers the WebAssembly backend holds memory for (its liveStates;
 * 0 natively, where state is ordinary arrays the collector frees). Exact,
 * where the module's memory size would hide a leak of less than the 20%
 * emscripten grows it by at a time.
 */
function liveStates(): number {
  if (info.backend !== 'wasm') return 0;
  const backend = new SGD([new Tensor([1])], { lr: 1 }).backend as unknown as { liveStates: Set<unknown> };
  return backend.liveStates.size;
}

describe(`dispose() on ${where}`, () => {
  test('frees the state and retires the optimizer: every later call is refused by name, the tensors unchanged', async () => {
    const t = batch(8, 600, 1);
    const opt = new L2ProjectedOptim([t], { InnerOpt: Adam, lr: 0.1, epsilon: 1 });
    opt.step();
    const moment = opt.state.get(t)!.expAvg as StateBuffer;
    expect(moment.read().length).toBe(4800);
    opt.dispose();
    expect(opt.state.size).toBe(0);
    expect(opt.isDisposed).toBe(true);
    const data = t.data.slice();
    const grad = t.grad!.slice();
    expect(() => opt.step()).toThrow(/cannot step: this optimizer was disposed/);
    await expect(opt.stepAsync()).rejects.toThrow(/cannot stepAsync: this optimizer was disposed/);
    expect(() => opt.zeroGrad()).toThrow(/cannot zeroGrad: this optimizer was disposed/);
    expect(() => opt.stateDict()).toThrow(/cannot stateDict: this optimizer was disposed/);
    expect(() => opt.loadStateDict({ state: {}, paramGroups: [] } as never)).toThrow(/cannot loadStateDict: this optimizer was disposed/);
    expect(() => opt.addParamGroup({ params: [batch(2, 3, 2)] })).toThrow(/cannot addParamGroup: this optimizer was disposed/);
    // A state buffer taken before: its memory may hold other data now.
    expect(() => moment.read()).toThrow(/freed \(by dispose\(\)/);
    expect(() => moment.write(new Float32Array(4800))).toThrow(/freed \(by dispose\(\)/);
    expect(t.data).toEqual(data);
    expect(t.grad).toEqual(grad);
    expect(t.grad).not.toBeNull();
    opt.dispose(); // again: nothing to do
  });

  test('refused while a stepAsync() is in flight (nothing freed), allowed once it has settled', async () => {
    const t = batch(64, 1024, 7);
    const opt = new L2ProjectedOptim([t], { lr: 0.1, momentum: 0.9, epsilon: 1 });
    opt.step();
    const pending = opt.stepAsync();
    if (info.backend === 'native') {
      expect(() => opt.dispose()).toThrow(/cannot dispose while a stepAsync\(\) of this optimizer is running/);
      expect(opt.isDisposed).toBe(false);
    }
    await pending;
    expect(opt.state.get(t)!.momentumBuffer).not.toBeNull();
    opt.dispose();
    expect(opt.isDisposed).toBe(true);
  });

  test('loadStateDict frees the state it replaces: loading in a loop keeps the memory where it was', () => {
    const t = batch(8, 4096, 6);
    const opt = new L2ProjectedOptim([t], { InnerOpt: Adam, lr: 0.1, epsilon: 1 });
    opt.step();
    const sd = opt.stateDict();
    const old = opt.state.get(t)!.expAvgSq as StateBuffer;
    opt.loadStateDict(sd);
    expect(() => old.read()).toThrow(/replaced by loadStateDict/);
    expect(opt.stateDict()).toEqual(sd);
    const live = liveStates();
    // 30 loads of 0.25 MB of moments each, in one synchronous run: each frees what it replaces.
    for (let k = 0; k < 30; k++) opt.loadStateDict(sd);
    expect(liveStates()).toBe(live);
    opt.step();
    expect(opt.stateDict().state[0].step).toBe(2);
  });

  test('the inner optimizer a wrapper made is retired with it; an InnerOpt instance it adopted keeps its state and works on', () => {
    const a = batch(4, 50, 3);
    const made = new L2ProjectedOptim([a], { lr: 0.1, momentum: 0.9, epsilon: 1 });
    made.step();
    made.dispose();
    expect(made.innerOpt.isDisposed).toBe(true);
    expect(() => made.innerOpt.step()).toThrow(/disposed/);

    const b = batch(4, 50, 4);
    const inner = new SGD([b], { lr: 0.1, momentum: 0.9 });
    const wrapper = new L2ProjectedOptim(null, { InnerOpt: inner, epsilon: 1 });
    wrapper.step();
    const before = inner.stateDict();
    wrapper.dispose();
    expect(() => wrapper.step()).toThrow(/disposed/);
    expect(inner.isDisposed).toBe(false);
    expect(inner.stateDict()).toEqual(before);
    inner.step(); // its momentum buffer is still there, and steps
    expect(inner.state.get(b)!.momentumBuffer).not.toBeNull();

    // The other way round: the inner instance disposed, the wrapper sharing its state refuses.
    const c = batch(4, 50, 5);
    const inner2 = new SGD([c], { lr: 0.1, momentum: 0.9 });
    const wrapper2 = new L2ProjectedOptim(null, { InnerOpt: inner2, epsilon: 1 });
    wrapper2.step();
    inner2.dispose();
    expect(() => wrapper2.step()).toThrow(/inner optimizer was disposed/);
  });

  test('gradientAscent disposes of the optimizer it makes (its memory back at once), not of one it was given', () => {
    const n = 32;
    const d = 3072;
    const data = new Tensor(Float32Array.from({ length: n * d }, (_, i) => (i % 97) / 97), [n, d]);
    const lossAndGrad = (x: Tensor) => ({
      losses: new Float32Array(n).fill(1),
      grad: Float32Array.from({ length: x.numel }, (_, i) => ((i * 7) % 13) - 6 + x.data[i]),
    });
    const attack = () => gradientAscent({ lossAndGrad, data, target: new Array(n).fill(0), optimizer: L2ProjectedOptim, InnerOpt: Adam, lr: 0.1, epsilon: 1, steps: 2 });
    attack();
    const live = liveStates();
    // 20 attacks in one synchronous run: each one's Adam state freed when it ends.
    for (let k = 0; k < 20; k++) attack();
    expect(liveStates()).toBe(live);

    const pmodel = new AdditivePerturbation(data);
    const given = new LinfProjectedOptim(pmodel.parameters(), { lr: 0.01, epsilon: 0.1, momentum: 0.9 });
    gradientAscent({ lossAndGrad, data, target: new Array(n).fill(0), optimizer: given, perturbationModel: pmodel, steps: 2 });
    expect(given.isDisposed).toBe(false);
    expect(given.state.get(pmodel.parameters()[0])!.momentumBuffer).not.toBeNull();
    // A partial is made here too: disposed of.
    expect(() => gradientAscent({ lossAndGrad, data, target: new Array(n).fill(0), optimizer: partial(LinfProjectedOptim, { epsilon: 0.1 }), lr: 0.01, steps: 1 })).not.toThrow();
  });

  test('no leak: rounds of optimizers made, stepped (also stepAsync), saved, loaded and disposed of, and of allocArray arrays freed, leave the memory where it was; dropped ones are freed once collected', () => {
    const script = path.join(__dirname, 'fixtures', 'leakCheck.js');
    const r = spawnSync(process.execPath, ['--expose-gc', script, '80'], { encoding: 'utf8', env: process.env });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const { backend, before, after, dropped, droppedAgain } = JSON.parse(r.stdout);
    expect(backend.backend).toBe(info.backend);
    // 80 rounds make about 500 MB of arrays and state (20 rounds 120 MB): kept, any of it would show.
    expect(after.rss - before.rss).toBeLessThan(48 << 20);
    expect(after.arrayBuffers - before.arrayBuffers).toBeLessThan(4 << 20);
    expect(after.wasmMemory - before.wasmMemory).toBeLessThan(16 << 20);
    // The first 20 rounds of dropped optimizers may grow the module's memory
    // before a collection; once collected, their state is reused by the next 20.
    expect(droppedAgain.rss - dropped.rss).toBeLessThan(48 << 20);
    expect(droppedAgain.wasmMemory - dropped.wasmMemory).toBeLessThan(16 << 20);
  });
});
