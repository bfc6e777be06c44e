// SPDX-License-Identifier: MIT
// Bad input gets a clear error (TypeError for a wrong type, RangeError for a
// value out of range, unknown or misplaced) that names the option and the
// value, and changes nothing.
import * as lp from '../ts';
import { L2ProjectedOptim, SGD, Tensor, partial } from '../ts';

function snapshot(ts: Tensor[]) {
  return ts.map((t) => ({ data: Array.from(t.data), grad: t.grad ? Array.from(t.grad) : null }));
}

describe('construction errors', () => {
  const x = () => new Tensor(new Float32Array([1, 2, 3, 4]), [2, 2]);

  test.each([
    ['epsilon NaN', { epsilon: NaN, lr: 1 }, RangeError, /epsilon.*NaN/],
    ['epsilon -Infinity', { epsilon: -Infinity, lr: 1 }, RangeError, /epsilon.*>= 0.*-Infinity/],
    ['a per-sample epsilon with NaN', { epsilon: [1, NaN], lr: 1 }, RangeError, /epsilon\[1\].*NaN/],
    ['epsilon negative', { epsilon: -0.5, lr: 1 }, RangeError, /epsilon.*>= 0.*-0\.5/],
    ['epsilon a string', { epsilon: '1', lr: 1 }, TypeError, /epsilon.*"1"/],
    ['epsilon missing', { lr: 1 }, TypeError, /missing required option epsilon/],
    ['lr missing', { epsilon: 1 }, TypeError, /missing required option lr/],
    ['lr negative', { epsilon: 1, lr: -1 }, RangeError, /lr.*-1/],
    ['paramNdim a float', { epsilon: 1, lr: 1, paramNdim: 1.5 }, TypeError, /paramNdim.*1\.5/],
    ['paramNdim a string', { epsilon: 1, lr: 1, paramNdim: '1' }, TypeError, /paramNdim.*"1"/],
    ['paramNdim out of range', { epsilon: 1, lr: 1, paramNdim: 3 }, RangeError, /paramNdim=3.*shape \[2, 2\]/],
    ['paramNdim out of range (negative)', { epsilon: 1, lr: 1, paramNdim: -3 }, RangeError, /paramNdim=-3/],
    ['gradScale a string', { epsilon: 1, lr: 1, gradScale: 'x' }, TypeError, /gradScale.*"x"/],
    ['gradBias null', { epsilon: 1, lr: 1, gradBias: null }, TypeError, /gradBias.*null/],
    ['divByZeroEps negative', { epsilon: 1, lr: 1, divByZeroEps: -1 }, RangeError, /divByZeroEps.*-1/],
    ['an unknown option', { epsilon: 1, lr: 1, lrr: 0.1 }, RangeError, /unknown option lrr/],
    ['an unknown option in defaults', { epsilon: 1, lr: 1, defaults: { epsilonn: 1 } }, RangeError, /defaults\.epsilonn/],
    ['InnerOpt not an optimizer', { epsilon: 1, lr: 1, InnerOpt: Map }, TypeError, /InnerOpt must be.*Map/],
    ['InnerOpt a plain object', { epsilon: 1, lr: 1, InnerOpt: { step() {} } }, TypeError, /InnerOpt must be/],
    ['nesterov without momentum', { epsilon: 1, lr: 1, nesterov: true }, RangeError, /nesterov.*momentum/],
    ['momentum a boolean', { epsilon: 1, lr: 1, momentum: true }, TypeError, /momentum.*true/],
  ])('%s', (_title, options, Err, message) => {
    expect(() => new L2ProjectedOptim([x()], options as never)).toThrow(Err);
    expect(() => new L2ProjectedOptim([x()], options as never)).toThrow(message);
  });

  test('params problems', () => {
    const a = x();
    expect(() => new L2ProjectedOptim([], { epsilon: 1, lr: 1 })).toThrow(RangeError);
    expect(() => new L2ProjectedOptim(a as never, { epsilon: 1, lr: 1 })).toThrow(/single Tensor/);
    expect(() => new L2ProjectedOptim([{ lr: 1 } as never], { epsilon: 1, lr: 1 })).toThrow(/has no params/);
    expect(() => new L2ProjectedOptim([{ params: [] }], { epsilon: 1, lr: 1 })).toThrow(/empty params/);
    expect(() => new L2ProjectedOptim([{ params: [a] }, { params: [a] }], { epsilon: 1, lr: 1 })).toThrow(/already in param group 0/);
    expect(() => new L2ProjectedOptim([a, a], { epsilon: 1, lr: 1 })).toThrow(/appears twice/);
    expect(() => new L2ProjectedOptim([{ params: [a], epsilonn: 2 }], { epsilon: 1, lr: 1 })).toThrow(/unknown option epsilonn/);
    expect(() => new L2ProjectedOptim([[1, 2] as never], { epsilon: 1, lr: 1 })).toThrow(TypeError);
    expect(() => new SGD([a], { lr: 1, epsilon: 1 } as never)).toThrow(/SGD: unknown option epsilon/);
  });

  test('inner-optimizer options alongside an InnerOpt instance are refused, and the instance is left alone', () => {
    const a = x();
    const inner = new SGD([a], { lr: 0.1 });
    const before = JSON.stringify(inner.paramGroups.map((g) => ({ ...g, params: undefined })));
    expect(() => new L2ProjectedOptim([a], { InnerOpt: inner, epsilon: 1, lr: 0.5 })).toThrow(/inner optimizer.*existing instance/);
    expect(() => new L2ProjectedOptim([a], { InnerOpt: inner, epsilon: -1 })).toThrow(RangeError);
    expect(() => new L2ProjectedOptim([x()], { InnerOpt: inner, epsilon: 1 })).toThrow(/params differ/);
    expect(JSON.stringify(inner.paramGroups.map((g) => ({ ...g, params: undefined })))).toBe(before);
  });

  test('an unknown option beside an instance another wrapper already shares: each accepted name listed once', () => {
    const a = x();
    const inner = new SGD([a], { lr: 0.1 });
    new L2ProjectedOptim([a], { InnerOpt: inner, epsilon: 1 });  // its groups now carry epsilon, paramNdim, gradScale, gradBias
    let message = '';
    try {
      new lp.L2NormedGradientOptim([a], { InnerOpt: inner, lrr: 1 } as never);
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/unknown option lrr \(1\); it accepts /);
    const names = message.replace(/.*it accepts /, '').split(', ');
    expect(names).toContain('paramNdim');
    expect(names).toContain('lr');
    expect(new Set(names).size).toBe(names.length);
  });

  test('partial of something that is not a class, or of a class that is not an optimizer used as InnerOpt', () => {
    expect(() => partial(42 as never, {})).toThrow(TypeError);
    expect(() => partial(SGD, 3 as never)).toThrow(TypeError);
    expect(() => new L2ProjectedOptim([x()], { epsilon: 1, lr: 1, InnerOpt: partial(Map as never, {}) })).toThrow(/InnerOpt must be/);
  });
});

describe('tensor errors', () => {
  test('construction', () => {
    expect(() => new Tensor(new Float32Array(6), [4, 2])).toThrow(RangeError);
    expect(() => new Tensor(new Float32Array(6), [2, -3])).toThrow(RangeError);
    expect(() => new Tensor(new Float32Array(6), [2, 1.5] as never)).toThrow(TypeError);
    expect(() => new Tensor(new Int32Array(6) as never)).toThrow(TypeError);
    expect(() => new Tensor([1, '2'] as never)).toThrow(/data\[1\]/);
    expect(new Tensor([1, 2]).dtype).toBe('float32');
    expect(new Tensor(new Float64Array(6), [2, 3]).shape).toEqual([2, 3]);
    expect(new Tensor(new Float64Array(1), []).shape).toEqual([]);
  });

  test('grad must be a typed array of the same dtype and length', () => {
    const t = new Tensor(new Float32Array(4));
    expect(() => { t.grad = new Float64Array(4); }).toThrow(TypeError);
    expect(() => { t.grad = new Float32Array(3); }).toThrow(RangeError);
    expect(() => { t.grad = [1, 2, 3, 4] as never; }).toThrow(TypeError);
    expect(t.grad).toBeNull();
  });
});

describe('a rejected call changes nothing', () => {
  test('a step with one bad gradient changes no tensor and no state', () => {
    const a = new Tensor(new Float32Array([1, 2, 3, 4]), [2, 2]);
    const b = new Tensor(new Float32Array([1, 2, 3, 4]), [2, 2]);
    const opt = new L2ProjectedOptim([a, b], { epsilon: 1, lr: 1, momentum: 0.9 });
    a.grad = new Float32Array([1, 1, 1, 1]);
    // A wrong-length gradient smuggled past the setter (e.g. by a resized view).
    (b as unknown as { _grad: Float32Array })._grad = new Float32Array(3);
    const before = snapshot([a, b]);
    expect(() => opt.step()).toThrow(/params\[1\]\.grad.*length 4/);
    expect(snapshot([a, b])).toEqual(before);
    expect(opt.state.size).toBe(0);
  });

  test('a group option edited to a bad value is caught before anything changes', () => {
    const a = new Tensor(new Float32Array([1, 2, 3, 4]), [2, 2]);
    const opt = new L2ProjectedOptim([a], { epsilon: 1, lr: 1 });
    a.grad = new Float32Array([1, 1, 1, 1]);
    opt.paramGroups[0].epsilon = -2;
    const before = snapshot([a]);
    expect(() => opt.step()).toThrow(/epsilon.*-2/);
    expect(snapshot([a])).toEqual(before);
    opt.paramGroups[0].epsilon = 1;
    opt.paramGroups[0].lr = 'fast';
    expect(() => opt.step()).toThrow(TypeError);
    expect(snapshot([a])).toEqual(before);
  });

  test('a key added to a live group that the optimizer does not know, or params edited into a non-array: refused by name, nothing changed', () => {
    const a = new Tensor(new Float32Array([1, 2, 3, 4]), [2, 2]);
    const opt = new L2ProjectedOptim([a], { epsilon: 1, lr: 1, momentum: 0.9 });
    a.grad = new Float32Array([1, 1, 1, 1]);
    opt.step();
    const before = snapshot([a]);
    const group = opt.paramGroups[0] as Record<string, unknown>;
    group.epslion = 2; // a typo: ignored, it would leave epsilon as it was
    expect(() => opt.step()).toThrow(/param group 0: unknown option epslion \(2\); L2ProjectedOptim accepts .*epsilon/);
    expect(snapshot([a])).toEqual(before);
    delete group.epslion;
    // A scheduler's initialLr (and a name) may sit in a group, as in a state dict; the dict still loads back.
    group.initialLr = 1;
    group.name = 'delta';
    opt.step();
    expect(() => opt.loadStateDict(opt.stateDict())).not.toThrow();
    const good = group.params;
    group.params = 5;
    expect(() => opt.step()).toThrow(/param group 0: params must be an array of Tensors, got 5/);
    expect(() => opt.zeroGrad()).toThrow(/param group 0: params must be an array of Tensors, got 5/);
    expect(a.grad).not.toBeNull(); // zeroGrad refused before clearing anything
    group.params = good;
    opt.step();
  });

  test('a chain refused for a bad link option (dq < 0) leaves the InnerOpt instance it was given as it was', () => {
    const t = new Tensor(new Float32Array([1, 2, 3, 4]), [2, 2]);
    const inner = new lp.RMSprop([t], { lr: 0.1 });
    const before = JSON.stringify(inner.paramGroups.map((g) => ({ ...g, params: g.params.length })));
    expect(() => new lp.L1qNormedGradientOptim(null, { q: 0.5, dq: -1, InnerOpt: inner })).toThrow(/dq .* must be >= 0, got -1/);
    expect(JSON.stringify(inner.paramGroups.map((g) => ({ ...g, params: g.params.length })))).toBe(before);
    // It can still be adopted as it is.
    const ok = new lp.L1qNormedGradientOptim(null, { q: 0.5, InnerOpt: inner });
    expect(ok.paramGroups).toBe(inner.paramGroups);
  });

  test('options edited after steps have run are checked again (steps skip the check only while nothing changed)', () => {
    const a = new Tensor(new Float32Array([1, 2, 3, 4]), [2, 2]);
    const opt = new L2ProjectedOptim([a], { epsilon: [1, 2], lr: 0.5, momentum: 0.9 });
    const g = opt.paramGroups[0];
    a.grad = new Float32Array([1, 1, 1, 1]);
    opt.step();
    opt.step();
    const before = snapshot([a]);
    (g.epsilon as number[])[1] = -3; // an array edited in place
    expect(() => opt.step()).toThrow(/epsilon\[1\].*-3/);
    expect(snapshot([a])).toEqual(before);
    g.epsilon = 1.5;
    opt.step();
    opt.step();
    const after = snapshot([a]);
    g.momentum = -1;
    expect(() => opt.step()).toThrow(/momentum.*>= 0/);
    g.momentum = 0.9;
    delete g.lr;
    expect(() => opt.step()).toThrow(/lr/);
    g.lr = 0.5;
    g.nesterov = true;
    g.dampening = 0.1;
    expect(() => opt.step()).toThrow(/nesterov.*dampening/);
    expect(snapshot([a])).toEqual(after);
    g.nesterov = false;
    g.dampening = 0;
    opt.step();
    const stepped = snapshot([a]);
    // A key renamed between steps, keeping its value: as many keys as before, the same values.
    const bias = g.gradBias;
    delete g.gradBias;
    (g as Record<string, unknown>).gradbias = bias;
    expect(() => opt.step()).toThrow(/unknown option gradbias/);
    expect(snapshot([a])).toEqual(stepped);
  });

  test("an array option edited in place after steps (Adam's betas) is checked again", () => {
    const a = new Tensor(new Float32Array([1, 2, 3, 4]), [2, 2]);
    const opt = new L2ProjectedOptim([a], { epsilon: 1, lr: 0.5, InnerOpt: lp.Adam });
    const g = opt.paramGroups[0];
    a.grad = new Float32Array([1, 1, 1, 1]);
    opt.step();
    opt.step();
    const before = snapshot([a]);
    (g.betas as number[])[1] = 1.5;
    expect(() => opt.step()).toThrow(/betas.*1\.5/);
    expect(snapshot([a])).toEqual(before);
    (g.betas as number[])[1] = 0.999;
    (g.betas as number[]).push(0.5); // a third beta
    expect(() => opt.step()).toThrow(/betas/);
    expect(snapshot([a])).toEqual(before);
    (g.betas as number[]).pop();
    opt.step();
    expect(snapshot([a])).not.toEqual(before);
  });

  test('addParamGroup with a bad group adds nothing', () => {
    const a = new Tensor(new Float32Array(4), [2, 2]);
    const opt = new L2ProjectedOptim([a], { epsilon: 1, lr: 1 });
    expect(() => opt.addParamGroup({ params: [a] })).toThrow(/already in param group 0/);
    expect(() => opt.addParamGroup({ params: [new Tensor(new Float32Array(4), [2, 2])], paramNdim: 5 })).toThrow(RangeError);
    expect(() => opt.addParamGroup({ params: [new Tensor(new Float32Array(4))], epsilon: NaN })).toThrow(RangeError);
    expect(opt.paramGroups.length).toBe(1);
    expect(opt.innerOpt.paramGroups.length).toBe(1);
  });

  test('loadStateDict with a mismatch changes nothing', () => {
    const a = new Tensor(new Float32Array([1, 2, 3, 4]), [2, 2]);
    const opt = new L2ProjectedOptim([a], { epsilon: 1, lr: 0.1, momentum: 0.5 });
    a.grad = new Float32Array([1, 1, 1, 1]);
    opt.step();
    const sd = opt.stateDict();
    const bad1 = { ...sd, state: { 0: { momentumBuffer: new Float32Array(3) } } };
    const bad2 = { ...sd, state: { 0: { momentumBuffer: new Float64Array(4) } } };
    const bad3 = { ...sd, paramGroups: [...sd.paramGroups, sd.paramGroups[0]] };
    const bad4 = { ...sd, paramGroups: [{ ...sd.paramGroups[0], epsilon: -1 }] };
    const bad5 = { ...sd, state: { 7: { momentumBuffer: new Float32Array(4) } } };
    const bad6 = { ...sd, state: { 0: { expAvg: new Float32Array(4) } } };
    const before = opt.stateDict();
    for (const bad of [bad1, bad2, bad3, bad4, bad5, bad6]) expect(() => opt.loadStateDict(bad as never)).toThrow();
    expect(opt.stateDict()).toEqual(before);
  });
});
