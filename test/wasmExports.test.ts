// SPDX-License-Identifier: MIT
// The WebAssembly modules' own checks (wasm/exports.cc), called directly with
// raw addresses as any JavaScript holding the module could: a null, misaligned
// or out-of-bounds array, a size that overflows 32 bits, a missing state
// buffer, overlapping arrays, a bad group spec, tensor record or radius. Each
// returns its documented status code and writes nothing; a good call returns
// 0 and steps. Every shipped module (baseline and simd128, plain and shared
// memory) is checked, whichever backend this run forces.
import * as path from 'path';
import { InnerKind, NO_TRANSFORM, Projection, Transform, groupSpec } from '../ts/backend/groupStep';
import { instantiate } from '../ts/backend/wasm';

const OK = 0, SIZE = 1, ALIGN = 2, BOUNDS = 3, NULL_BUF = 4, NULL = 5, OVERLAP = 6, SPEC = 7, TENSOR_SPEC = 8, MAX_NORMS = 9;

type Fn = (...args: number[]) => number;

const MODULES = ['lp_optim.wasm', 'lp_optim_simd.wasm', 'lp_optim_shared.wasm', 'lp_optim_simd_shared.wasm'];

describe.each(MODULES)('%s checks every address before it writes', (file) => {
  const x = instantiate(path.join(__dirname, '..', 'wasm', file)); // as the WebAssembly backend loads it
  const call = (name: string, ...args: number[]) => (x[name] as Fn)(...args);
  const heap = () => new Uint8Array(x.memory.buffer);
  const f32At = (ptr: number, n: number) => new Float32Array(x.memory.buffer, ptr, n);
  const f64At = (ptr: number, n: number) => new Float64Array(x.memory.buffer, ptr, n);
  /** Every array this test placed in the module, as [address, bytes]. */
  const placed: [number, number][] = [];
  const place = (bytes: number, align: number) => {
    const ptr = (x.malloc(bytes + align) + align - 1) & ~(align - 1);
    placed.push([ptr, bytes]);
    return ptr;
  };
  /** n float32 values at a fresh address (64-byte aligned), filled with 1, 2, 3, ... */
  const floats = (n: number) => {
    const ptr = place(n * 4, 64);
    f32At(ptr, n).set(Array.from({ length: n }, (_, i) => i + 1));
    return ptr;
  };
  const doubles = (values: number[]) => {
    const ptr = place(values.length * 8, 64);
    f64At(ptr, values.length).set(values);
    return ptr;
  };
  const arrays = () => placed.map(([ptr, bytes]) => Array.from(heap().subarray(ptr, ptr + bytes)));
  /** The status of a call that must be refused, checking that none of the test's arrays changed. */
  const refused = (name: string, ...args: number[]) => {
    const before = arrays();
    const status = call(name, ...args);
    expect(arrays()).toEqual(before);
    return status;
  };

  test('a null, misaligned or out-of-bounds array, and a count past 32 bits', () => {
    const a = floats(8);
    const out = floats(2);
    const end = x.memory.buffer.byteLength;
    expect(refused('lp_row_norms_l2_f32', 0, 2, 4, out)).toBe(NULL);
    expect(refused('lp_row_norms_l2_f32', a + 2, 2, 4, out)).toBe(ALIGN);
    expect(refused('lp_row_norms_l2_f32', end - 16, 2, 4, out)).toBe(BOUNDS); // 32 bytes from 16 before the end
    expect(refused('lp_row_norms_l2_f32', 0xfffffff0, 2, 4, out)).toBe(BOUNDS); // no wrap-around past 4 GiB
    expect(refused('lp_row_norms_l2_f32', a, 0x10000, 0x10000, out)).toBe(SIZE);
    expect(refused('lp_row_norms_l2_f32', a, 2, 4, a + 16)).toBe(OVERLAP); // out inside x
    expect(refused('lp_normalize_rows_l2_f64', a + 4, 1, 2, 0)).toBe(ALIGN); // float64 needs 8-byte alignment
    // Empty arrays may sit anywhere, even at 0.
    expect(call('lp_row_norms_l2_f32', 0, 0, 4, 0)).toBe(OK);
    expect(call('lp_row_norms_l2_f32', a, 2, 4, out)).toBe(OK);
    expect(Array.from(f32At(out, 2))).toEqual([Math.fround(Math.sqrt(1 + 4 + 9 + 16)), Math.fround(Math.sqrt(25 + 36 + 49 + 64))]);
    // The fused L1q transform takes the same checks; rows [5..8] keep their two largest.
    expect(refused('lp_top_q_sign_l1_rows_f32', a + 2, 2, 4, 2, 0)).toBe(ALIGN);
    expect(refused('lp_top_q_sign_l1_rows_f64', end - 16, 2, 4, 2, 0)).toBe(BOUNDS);
    expect(call('lp_top_q_sign_l1_rows_f32', a, 2, 4, 2, 0)).toBe(OK);
    expect(Array.from(f32At(a, 8))).toEqual([0, 0, 0.5, 0.5, 0, 0, 0.5, 0.5]);
  });

  test('state buffers: refused when needed and null, ignored when not needed', () => {
    const p = floats(4);
    const g = floats(4);
    expect(refused('lp_sgd_step_f32', p, g, 0, 4, 0.1, 0.9, 0, 0, 0, 0, 0)).toBe(NULL_BUF);
    expect(refused('lp_sgd_step_f32', p, p + 8, 0, 4, 0.1, 0, 0, 0, 0, 0, 0)).toBe(OVERLAP);
    expect(refused('lp_adam_step_f32', p, g, floats(4), floats(4), 0, 4, 0.1, 0.9, 0.999, 1e-8, 0, 0, 1, 0, 0.1, 1)).toBe(NULL_BUF);
    // Without momentum the buffer is not looked at, even a misaligned one.
    expect(call('lp_sgd_step_f32', p, g, 3, 4, 1, 0, 0, 0, 0, 0, 0)).toBe(OK);
    expect(Array.from(f32At(p, 4))).toEqual([0, 0, 0, 0]);
  });

  test('per-row radii must be >= 0 (Infinity allowed), not NaN', () => {
    const p = floats(4);
    expect(refused('lp_renorm_rows_l2_per_row_f32', p, 2, 2, doubles([1, NaN]))).toBe(MAX_NORMS);
    expect(refused('lp_renorm_rows_l2_per_row_f32', p, 2, 2, doubles([-1, 1]))).toBe(MAX_NORMS);
    expect(call('lp_renorm_rows_l2_per_row_f32', p, 2, 2, doubles([Infinity, 5]))).toBe(OK);
    expect(f32At(p, 2)[0]).toBe(1);
  });

  describe('the group step', () => {
    const specOf = (momentum = 0) =>
      groupSpec(
        { ...NO_TRANSFORM, transform: Transform.L2Normalize, project: Projection.L2Renorm, divByZeroEps: 1e-12, maxNorm: 1 },
        { kind: InnerKind.SGD, options: [0.1, momentum, 0, 0, 0, 0] },
      );
    /** A group of 2x2 tensors: the spec, the tensor records and the address list in the module. */
    const group = (spec: Float64Array, records: number[][], arrays: number[][]) => {
      const specPtr = doubles(Array.from(spec));
      const recordPtr = doubles(records.flat());
      const list = arrays.flat();
      const listPtr = place(list.length * 4, 8);
      new Uint32Array(x.memory.buffer, listPtr, list.length).set(list);
      return [specPtr, recordPtr, records.length, listPtr];
    };

    test('a bad spec entry, tensor record, address or overlap: the documented code, nothing written', () => {
      const [p0, g0, p1, g1] = [floats(4), floats(4), floats(4), floats(4)];
      const good = [p0, g0, 0, 0, 0, 0];
      const record = [2, 2, 0, 0];
      const badFlag = specOf();
      badFlag[13] = 0.5; // nesterov
      expect(refused('lp_group_step_f32', ...group(badFlag, [record], [good]))).toBe(SPEC);
      expect(refused('lp_group_step_f32', ...group(specOf(), [record, [2, 1.5, 0, 0]], [good, [p1, g1, 0, 0, 0, 0]]))).toBe(TENSOR_SPEC);
      expect(refused('lp_group_step_f32', ...group(specOf(), [record, record], [good, [p1, 0xfffffff0, 0, 0, 0, 0]]))).toBe(BOUNDS);
      expect(refused('lp_group_step_f32', ...group(specOf(), [record, record], [good, [p1, g1 + 2, 0, 0, 0, 0]]))).toBe(ALIGN);
      expect(refused('lp_group_step_f32', ...group(specOf(0.9), [record, record], [[p0, g0, floats(4), 0, 0, 0], [p1, g1, 0, 0, 0, 0]]))).toBe(NULL_BUF);
      expect(refused('lp_group_step_f32', ...group(specOf(), [record, record], [good, [p1, g0 + 8, 0, 0, 0, 0]]))).toBe(OVERLAP);
      expect(refused('lp_group_step_f32', ...group(specOf(), [record, record], [good, [p1, g1, 0, 0, 0, doubles([1, NaN])]]))).toBe(MAX_NORMS);
      expect(refused('lp_group_step_f32', 0, ...group(specOf(), [record], [good]).slice(1))).toBe(NULL);
    });

    test('a good group returns 0 and steps each row onto the unit ball', () => {
      const [p, g] = [floats(4), floats(4)];
      expect(call('lp_group_step_f32', ...group(specOf(), [[2, 2, 0, 0]], [[p, g, 0, 0, 0, 0]]))).toBe(OK);
      const v = Array.from(f32At(p, 4));
      for (const row of [v.slice(0, 2), v.slice(2, 4)]) expect(Math.hypot(...row)).toBeLessThanOrEqual(1 + 1e-6);
      expect(Math.hypot(...Array.from(f32At(g, 2)))).toBeCloseTo(1, 6);
    });
  });
});
