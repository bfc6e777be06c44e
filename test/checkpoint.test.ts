// SPDX-License-Identifier: MIT
// Checkpoints as users check them: save, load and continue bit-identically;
// the file is valid safetensors; truncated, corrupted and hand-made hostile
// files give a CheckpointError and never change an optimizer; a checkpoint for
// other shapes, dtypes or group counts is rejected; writing is atomic.
import fs = require('fs'); // the module object itself, so that jest.spyOn reaches what ts/checkpoint.ts calls
import * as os from 'os';
import * as path from 'path';
import * as lp from '../ts';
import { Adam, L2ProjectedOptim, Optimizer, StateDict, StepLR, Tensor, backendInfo } from '../ts';
import { spawnSync } from 'child_process';
import { createHash } from 'crypto';
import { CheckpointError, HEADER_LENGTH_LIMIT, JSON_VALUE_LIMIT, load, loadMetadata, save } from '../ts/checkpoint';
import { expectSameBits, thrown } from './helpers';

const where = `${backendInfo().backend} (${backendInfo().isa})`;

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lp-optim-checkpoint-'));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});
afterEach(() => {
  jest.restoreAllMocks();
});

/** A fresh empty folder for one test. */
function folder(name: string): string {
  const d = path.join(dir, name);
  fs.mkdirSync(d);
  return d;
}

function expectCheckpointError(fn: () => unknown, code: string, message?: RegExp): CheckpointError {
  const err = thrown(fn);
  expect(err).toBeInstanceOf(CheckpointError);
  const e = err as CheckpointError;
  expect(e.code).toBe(code);
  if (message) expect(e.message).toMatch(message);
  return e;
}

/** A deterministic gradient for parameter `i` at step `k`. */
function gradFor(p: Tensor, i: number, k: number): Float32Array | Float64Array {
  const g = p.dtype === 'float64' ? new Float64Array(p.numel) : new Float32Array(p.numel);
  for (let j = 0; j < g.length; j++) g[j] = Math.sin(1.7 * k + 0.9 * j + i) * (1 + j);
  return g;
}

/** Steps k = from .. to-1, each with its gradients; params listed in `noGrad` never get one. */
function run(opt: Optimizer, params: Tensor[], from: number, to: number, noGrad: Tensor[] = []): void {
  for (let k = from; k < to; k++) {
    params.forEach((p, i) => {
      p.grad = noGrad.includes(p) ? null : gradFor(p, i, k);
    });
    opt.step();
  }
}

/**
 * Two groups: [a (float32, 2x3), b (float32, never a gradient, so no state)]
 * and [c (float64)] with its own lr and epsilon.
 */
function buildTwoGroups(values?: Tensor[]): { opt: L2ProjectedOptim; params: Tensor[]; noGrad: Tensor[] } {
  const a = new Tensor(values ? values[0].data.slice() : Float32Array.of(0.1, -0.2, 0.3, 0.4, -0.5, 0.6), [2, 3]);
  const b = new Tensor(values ? values[1].data.slice() : Float32Array.of(1, 2, 3, 4));
  const c = new Tensor(values ? values[2].data.slice() : Float64Array.of(0.25, -1.5, 2.75), [3]);
  const opt = new L2ProjectedOptim([{ params: [a, b] }, { params: [c], lr: 0.05, epsilon: 2 }], { lr: 0.1, momentum: 0.9, epsilon: 1 });
  return { opt, params: [a, b, c], noGrad: [b] };
}

/** A small checkpoint: one float32 and one float64 parameter after one step. */
function smallCheckpoint(file: string): { opt: L2ProjectedOptim; params: Tensor[] } {
  const params = [new Tensor(Float32Array.of(0.5, -0.25, 1)), new Tensor(Float64Array.of(2, -1))];
  const opt = new L2ProjectedOptim(params, { lr: 0.1, momentum: 0.9, epsilon: 1 });
  run(opt, params, 0, 1);
  save(opt.stateDict(), file);
  return { opt, params };
}

describe(`checkpoint round trip on ${where}`, () => {
  test('save, load into a fresh optimizer, continue: bit-identical to never stopping', () => {
    const d = folder('roundtrip');
    const file = path.join(d, 'opt.safetensors');
    const original = buildTwoGroups();
    run(original.opt, original.params, 0, 3, original.noGrad);
    const before = original.opt.stateDict();
    save(before, file);

    const loaded = load(file);
    expect(loaded).toEqual(before);
    expect(loaded.state[0].momentumBuffer).toBeInstanceOf(Float32Array);
    expect(loaded.state[2].momentumBuffer).toBeInstanceOf(Float64Array);
    expect(loaded.state[1]).toBeUndefined(); // b never had a gradient
    expect(loaded.paramGroups).toEqual([
      expect.objectContaining({ params: [0, 1], lr: 0.1, momentum: 0.9, epsilon: 1, nesterov: false, paramNdim: -1 }),
      expect.objectContaining({ params: [2], lr: 0.05, momentum: 0.9, epsilon: 2 }),
    ]);

    const resumed = buildTwoGroups(original.params);
    resumed.opt.loadStateDict(loaded);
    expect(resumed.opt.stateDict()).toEqual(before);
    run(original.opt, original.params, 3, 7, original.noGrad);
    run(resumed.opt, resumed.params, 3, 7, resumed.noGrad);
    original.params.forEach((p, i) => {
      expect(resumed.params[i].dtype).toBe(p.dtype);
      expectSameBits(resumed.params[i].data, p.data, `param ${i}`);
    });
    const [s1, s2] = [original.opt.stateDict(), resumed.opt.stateDict()];
    for (const i of [0, 2]) expectSameBits(s2.state[i].momentumBuffer as Float32Array, s1.state[i].momentumBuffer as Float32Array, `state ${i}`);
  });

  test('NaN, infinities, -0, step counts, nulls and any option value survive a save and load', () => {
    const file = path.join(folder('values'), 'values.safetensors');
    const sd: StateDict = {
      state: {
        0: { step: 7, momentumBuffer: Float32Array.of(1.5, NaN, -0, Infinity, -Infinity, 3.4028234663852886e38), maxSeen: NaN, none: null, zero: -0 },
        2: { step: 3, expAvg: Float64Array.of(Number.MIN_VALUE, -Number.MAX_VALUE, NaN), expAvgSq: new Float64Array(0), inf: -Infinity },
        3: {},
        5: { $number: 1, ['__proto__']: 2, 'dotted.key': Float32Array.of(4) } as Record<string, number | Float32Array>,
      },
      paramGroups: [
        { params: [0, 1, 2], lr: NaN, betas: [0.9, 0.999], nesterov: false, name: 'encoder', eps: Infinity, floor: -Infinity, bias: -0, tag: null },
        { params: [3, 4, 5], lr: 1e-300, nested: { $number: 'NaN', $$x: [1, 'NaN', null, { deep: [-0] }], '': 'empty key' }, unicode: 'é ✓ \u{1F600}' },
      ],
    };
    save(sd, file);
    const back = load(file);
    expect(back).toEqual(sd);
    // toEqual treats NaN as NaN; check -0 and the dtypes explicitly.
    expect(Object.is(back.state[0].zero, -0)).toBe(true);
    expect(Object.is(back.paramGroups[0].bias, -0)).toBe(true);
    expect(Number.isNaN(back.paramGroups[0].lr)).toBe(true);
    expect(back.paramGroups[0].eps).toBe(Infinity);
    expect(back.state[0].step).toBe(7);
    expect(back.state[2].step).toBe(3);
    expect(Number.isNaN(back.state[0].maxSeen)).toBe(true);
    expect(back.state[0].none).toBeNull();
    expect(Object.is((back.paramGroups[1].nested as { $$x: [unknown, unknown, unknown, { deep: number[] }] }).$$x[3].deep[0], -0)).toBe(true);
    expect(Object.getOwnPropertyNames(back.state[5]).sort()).toEqual(['$number', '__proto__', 'dotted.key']);
    expectSameBits(back.state[0].momentumBuffer as Float32Array, sd.state[0].momentumBuffer as Float32Array, 'float32 buffer');
    expectSameBits(back.state[2].expAvg as Float64Array, sd.state[2].expAvg as Float64Array, 'float64 buffer');
    expect(back.state[2].expAvgSq).toBeInstanceOf(Float64Array);
    expect(back.state[5]['dotted.key']).toBeInstanceOf(Float32Array);
  });

  test("a scheduler's state dict and the caller's metadata round trip; kinds are checked on request", () => {
    const d = folder('scheduler');
    const file = path.join(d, 'sched.safetensors');
    const schedulerState = { baseLrs: [0.1, 0.01], lastEpoch: 4, stepCount: 5, lastLr: [0.05, NaN], verbose: false, gamma: 0.5, lrLambdas: [null] };
    save(schedulerState, file, { metadata: { epoch: '4', note: 'warm-up done' } });
    expect(load(file, { kind: 'scheduler' })).toEqual(schedulerState);
    expect(load(file)).toEqual(schedulerState);
    expect(loadMetadata(file)).toEqual({ epoch: '4', note: 'warm-up done' });
    expectCheckpointError(() => load(file, { kind: 'optimizer' }), 'WRONG_KIND', /scheduler/);

    const optFile = path.join(d, 'opt.safetensors');
    smallCheckpoint(optFile);
    expectCheckpointError(() => load(optFile, { kind: 'scheduler' }), 'WRONG_KIND', /optimizer/);
    expect(loadMetadata(optFile)).toEqual({});
    expect(() => save(schedulerState, file, { metadata: { 'lp_optim.format': '2' } })).toThrow(RangeError);
    expect(() => save(schedulerState, file, { metadata: { epoch: 4 } as never })).toThrow(TypeError);
  });
});

describe(`checkpoints of other inner optimizers and of schedulers on ${where}`, () => {
  test('L2ProjectedOptim over Adam: step counts and moments restored, bit-identical continuation', () => {
    const file = path.join(folder('adam'), 'adam.safetensors');
    const build = (values?: Tensor[]) => {
      const a = new Tensor(values ? values[0].data.slice() : Float32Array.of(0.3, -0.1, 0.2, 0.7), [2, 2]);
      const c = new Tensor(values ? values[1].data.slice() : Float64Array.of(1, -2, 0.5));
      const opt = new L2ProjectedOptim([{ params: [a] }, { params: [c], lr: 0.02, amsgrad: true }], {
        InnerOpt: Adam,
        lr: 0.05,
        betas: [0.8, 0.99],
        epsilon: 1.5,
      });
      return { opt, params: [a, c] };
    };
    const original = build();
    run(original.opt, original.params, 0, 3);
    save(original.opt.stateDict(), file);
    const loaded = load(file);
    expect(loaded.state[0].step).toBe(3);
    expect(loaded.paramGroups[0].betas).toEqual([0.8, 0.99]);
    const resumed = build(original.params);
    resumed.opt.loadStateDict(loaded);
    run(original.opt, original.params, 3, 6);
    run(resumed.opt, resumed.params, 3, 6);
    original.params.forEach((p, i) => expectSameBits(resumed.params[i].data, p.data, `param ${i}`));
    expect(resumed.opt.stateDict().state[1].step).toBe(6);
  });

  test('an optimizer and its StepLR saved and resumed: the same learning rates and parameters', () => {
    const d = folder('steplr');
    const build = (values?: Tensor[]) => {
      const params = [new Tensor(values ? values[0].data.slice() : Float32Array.of(0.5, 0.25, -1))];
      const opt = new L2ProjectedOptim(params, { lr: 0.4, momentum: 0.5, epsilon: 2 });
      return { opt, params, scheduler: new StepLR(opt, { stepSize: 2, gamma: 0.5 }) };
    };
    const epochs = (o: ReturnType<typeof build>, from: number, to: number) => {
      for (let k = from; k < to; k++) {
        run(o.opt, o.params, k, k + 1);
        o.scheduler.step();
      }
    };
    const original = build();
    epochs(original, 0, 3);
    save(original.opt.stateDict(), path.join(d, 'opt.safetensors'));
    save(original.scheduler.stateDict(), path.join(d, 'sched.safetensors'));
    const resumed = build(original.params);
    resumed.opt.loadStateDict(load(path.join(d, 'opt.safetensors')));
    resumed.scheduler.loadStateDict(load(path.join(d, 'sched.safetensors'), { kind: 'scheduler' }));
    expect(resumed.scheduler.getLastLr()).toEqual(original.scheduler.getLastLr());
    epochs(original, 3, 7);
    epochs(resumed, 3, 7);
    expect(resumed.scheduler.getLastLr()).toEqual(original.scheduler.getLastLr());
    expectSameBits(resumed.params[0].data, original.params[0].data, 'param');
  });
});

describe('the file is valid safetensors', () => {
  test('header length, JSON header padded with spaces, entries tiling the data, the metadata layout', () => {
    const file = path.join(folder('layout'), 'opt.safetensors');
    const { opt, params, noGrad } = buildTwoGroups();
    run(opt, params, 0, 2, noGrad);
    const sd = opt.stateDict();
    save(sd, file);

    const bytes = fs.readFileSync(file);
    const n = Number(bytes.readBigUInt64LE(0));
    expect(n % 8).toBe(0);
    const headerText = bytes.subarray(8, 8 + n).toString('utf8');
    expect(headerText[0]).toBe('{');
    const json = headerText.trimEnd();
    expect(headerText.slice(json.length)).toMatch(/^ *$/);
    const header = JSON.parse(json) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }> & { __metadata__: Record<string, string> };

    const meta = header.__metadata__;
    expect(Object.keys(meta).sort()).toEqual(['lp_optim.format', 'lp_optim.headerSha256', 'lp_optim.kind', 'lp_optim.optimizer', 'lp_optim.paramGroups', 'lp_optim.paramShapes', 'lp_optim.scalars']);
    // The header's SHA-256: over the length bytes and the padded header, its own 64 digits read as "0"s.
    const digestAt = bytes.indexOf('"lp_optim.headerSha256":"') + '"lp_optim.headerSha256":"'.length;
    expect(bytes.subarray(digestAt, digestAt + 64).toString('latin1')).toBe(meta['lp_optim.headerSha256']);
    const zeroed = Buffer.from(bytes.subarray(0, 8 + n));
    zeroed.fill('0', digestAt, digestAt + 64);
    expect(meta['lp_optim.headerSha256']).toBe(createHash('sha256').update(zeroed).digest('hex'));
    expect(JSON.parse(meta['lp_optim.paramShapes'])).toEqual(sd.shapes);
    expect(meta['lp_optim.optimizer']).toBe(sd.optimizer);
    expect(meta['lp_optim.format']).toBe('1');
    expect(meta['lp_optim.kind']).toBe('optimizer');
    expect(JSON.parse(meta['lp_optim.paramGroups'])).toEqual(sd.paramGroups);
    expect(JSON.parse(meta['lp_optim.scalars'])).toEqual({ 0: {}, 2: {} });

    const names = Object.keys(header).filter((k) => k !== '__metadata__');
    expect(names.sort()).toEqual(['state.0.momentumBuffer', 'state.2.momentumBuffer']);
    const entries = names.map((name) => ({ name, ...header[name] })).sort((x, y) => x.data_offsets[0] - y.data_offsets[0]);
    let offset = 0;
    for (const e of entries) {
      const [i] = e.name.split('.').slice(1, 2).map(Number);
      const expected = sd.state[i].momentumBuffer as Float32Array | Float64Array;
      expect(e.dtype).toBe(expected instanceof Float64Array ? 'F64' : 'F32');
      // Each buffer has its parameter's shape, as a Python reader of the file sees it.
      expect(e.shape).toEqual(sd.shapes![i]);
      expect(e.shape.reduce((a, b) => a * b, 1)).toBe(expected.length);
      expect(e.data_offsets).toEqual([offset, offset + expected.byteLength]);
      // Each buffer is aligned to its item size within the file.
      expect((8 + n + offset) % expected.BYTES_PER_ELEMENT).toBe(0);
      const start = 8 + n + offset;
      const values = Array.from(expected, (_, j) => (e.dtype === 'F64' ? bytes.readDoubleLE(start + 8 * j) : bytes.readFloatLE(start + 4 * j)));
      expectSameBits(values, expected, e.name);
      offset += expected.byteLength;
    }
    expect(8 + n + offset).toBe(bytes.length);
  });
});

describe(`damaged files on ${where}`, () => {
  test('a file truncated at every byte offset gives a CheckpointError, and the optimizer is unchanged', () => {
    const d = folder('truncated');
    const good = path.join(d, 'good.safetensors');
    smallCheckpoint(good);
    const bytes = fs.readFileSync(good);
    const target = smallCheckpoint(path.join(d, 'target.safetensors'));
    run(target.opt, target.params, 5, 7); // some other state
    const before = target.opt.stateDict();
    const cut = path.join(d, 'cut.safetensors');
    const codes = new Set<string>();
    for (let size = 0; size < bytes.length; size++) {
      fs.writeFileSync(cut, bytes.subarray(0, size));
      const err = thrown(() => target.opt.loadStateDict(load(cut)));
      if (!(err instanceof CheckpointError)) throw new Error(`truncated at ${size} of ${bytes.length} bytes: expected a CheckpointError, got ${String(err)}`);
      codes.add(err.code);
    }
    expect([...codes]).toEqual(['TRUNCATED']);
    expect(target.opt.stateDict()).toEqual(before);
    // The whole file still loads.
    expect(() => target.opt.loadStateDict(load(good))).not.toThrow();
  });

  test('flipping any single byte of the length prefix or header (three masks): a CheckpointError, the optimizer unchanged', () => {
    const d = folder('flipped');
    const good = path.join(d, 'good.safetensors');
    smallCheckpoint(good);
    const bytes = fs.readFileSync(good);
    const headerEnd = 8 + Number(bytes.readBigUInt64LE(0));
    const target = smallCheckpoint(path.join(d, 'target.safetensors'));
    run(target.opt, target.params, 5, 7);
    const reference = target.opt.stateDict();
    const flipped = path.join(d, 'flipped.safetensors');
    const codes = new Map<string, number>();
    const loaded: string[] = [];
    // XOR 0xff makes a byte non-ASCII; 0x01 keeps it ASCII (digits and letters change, the JSON
    // mostly still parses); 0x20 swaps a letter's case (a key's "l" becomes "L").
    for (const mask of [0xff, 0x01, 0x20]) {
      for (let i = 0; i < headerEnd; i++) {
        const copy = Buffer.from(bytes);
        copy[i] ^= mask;
        fs.writeFileSync(flipped, copy);
        const err = thrown(() => target.opt.loadStateDict(load(flipped)));
        if (!(err instanceof CheckpointError)) {
          loaded.push(`byte ${i} ^ 0x${mask.toString(16)}: ${err === undefined ? 'loaded' : `threw ${String(err)}`}`);
          continue;
        }
        codes.set(err.code, (codes.get(err.code) ?? 0) + 1);
      }
    }
    expect(loaded).toEqual([]);
    // Most flips that leave valid JSON are caught only by the header's SHA-256.
    expect(codes.get('CORRUPT')).toBeGreaterThan(headerEnd / 2);
    expect(target.opt.stateDict()).toEqual(reference);
  });
});

describe('hand-made byte strings', () => {
  const NO_DIGEST = '0'.repeat(64);
  const META = {
    'lp_optim.format': '1',
    'lp_optim.kind': 'optimizer',
    'lp_optim.paramGroups': JSON.stringify([{ params: [0, 1], lr: 0.1 }]),
    'lp_optim.scalars': JSON.stringify({ 0: {}, 1: { step: 2 } }),
    'lp_optim.headerSha256': NO_DIGEST, // craft() writes the real one
  };
  const ENTRY_A = { dtype: 'F32', shape: [2], data_offsets: [0, 8] };
  const ENTRY_B = { dtype: 'F64', shape: [1], data_offsets: [8, 16] };
  const DATA = Buffer.concat([Buffer.from(Float32Array.of(1, 2).buffer), Buffer.from(Float64Array.of(3).buffer)]);

  /**
   * 8 length bytes (the header's length unless given), the header, the data;
   * a digest left as NO_DIGEST becomes the SHA-256 of the length bytes and the
   * header with it as written, as save() writes it (unless `digest` is false).
   */
  function craft(header: string | Buffer, data: Buffer = DATA, declaredLength?: bigint, digest = true): Buffer {
    const h = Buffer.from(typeof header === 'string' ? Buffer.from(header, 'utf8') : header);
    const length = Buffer.alloc(8);
    length.writeBigUInt64LE(declaredLength ?? BigInt(h.length));
    const at = h.indexOf(`"lp_optim.headerSha256":"${NO_DIGEST}"`);
    if (digest && at >= 0) {
      const sha = createHash('sha256').update(Buffer.concat([length, h])).digest('hex');
      h.write(sha, at + '"lp_optim.headerSha256":"'.length, 'latin1');
    }
    return Buffer.concat([length, h, data]);
  }

  function headerText(entries: Record<string, unknown> = { 'state.0.a': ENTRY_A, 'state.1.b': ENTRY_B }, meta: unknown = META): string {
    return JSON.stringify({ __metadata__: meta, ...entries });
  }

  let file: string;
  beforeAll(() => {
    file = path.join(folder('crafted'), 'crafted.safetensors');
  });
  function loadBytes(bytes: Buffer): StateDict {
    fs.writeFileSync(file, bytes);
    return load(file);
  }
  const rejects = (bytes: Buffer, code: string, message?: RegExp) => expectCheckpointError(() => loadBytes(bytes), code, message);

  test('the well-formed baseline loads (so that each case below breaks one rule)', () => {
    const sd = loadBytes(craft(headerText()));
    expect(sd).toEqual({ state: { 0: { a: Float32Array.of(1, 2) }, 1: { step: 2, b: Float64Array.of(3) } }, paramGroups: [{ params: [0, 1], lr: 0.1 }] });
    // Without padding (N not a multiple of 8) is still valid; padding with spaces too.
    expect(loadBytes(craft(headerText() + '     '))).toEqual(sd);
  });

  test('a missing file: NOT_FOUND naming the path', () => {
    const missing = path.join(dir, 'no-such.safetensors');
    const err = expectCheckpointError(() => load(missing), 'NOT_FOUND');
    expect(err.message).toContain(missing);
    expect(err.path).toBe(missing);
  });

  test('a directory is not a checkpoint', () => {
    expectCheckpointError(() => load(dir), 'IO_ERROR', /not a regular file/);
  });

  // Opening a FIFO for reading waits for a writer: a load() that did would freeze the process.
  (process.platform === 'win32' ? test.skip : test)('a named pipe is refused at once, not waited on (skipped on Windows, which has no mkfifo)', () => {
    const fifo = path.join(folder('fifo'), 'pipe.safetensors');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    expectCheckpointError(() => load(fifo), 'IO_ERROR', /not a regular file/);
    expectCheckpointError(() => loadMetadata(fifo), 'IO_ERROR', /not a regular file/);
  });

  test('fewer than 8 bytes', () => {
    rejects(Buffer.alloc(0), 'TRUNCATED', /0 bytes/);
    rejects(Buffer.from([1, 2, 3]), 'TRUNCATED', /3 bytes, fewer than the 8/);
  });

  test('a huge header length (2^63) is rejected without reading or allocating it', () => {
    const reads: number[] = [];
    const realRead = fs.readSync;
    jest.spyOn(fs, 'readSync').mockImplementation(((fd: number, buffer: Uint8Array, offset: number, length: number, position: number) => {
      reads.push(length);
      return realRead(fd, buffer, offset, length, position);
    }) as typeof fs.readSync);
    rejects(craft(headerText(), DATA, BigInt(2) ** BigInt(63)), 'HEADER_TOO_LARGE', /9223372036854775808/);
    rejects(craft(headerText(), DATA, BigInt(2) ** BigInt(64) - BigInt(1)), 'HEADER_TOO_LARGE');
    rejects(craft(headerText(), DATA, BigInt(HEADER_LENGTH_LIMIT + 1)), 'HEADER_TOO_LARGE');
    expect(Math.max(...reads)).toBe(8);
  });

  test('a header length beyond the file', () => {
    const h = headerText();
    rejects(craft(h, Buffer.alloc(0), BigInt(h.length + 100)), 'TRUNCATED', /header ends at byte/);
  });

  test('a header that is not UTF-8, with a byte-order mark, or padded with anything but spaces', () => {
    const h = Buffer.from(headerText(), 'utf8');
    const bad = Buffer.concat([h.subarray(0, 20), Buffer.from([0xc3, 0x28]), h.subarray(22)]);
    rejects(craft(bad), 'BAD_HEADER', /not valid UTF-8 \(at byte 28\)/);
    rejects(craft(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), h])), 'BAD_HEADER', /starting with '\{' at byte 8, found a UTF-8 byte-order mark \(EF BB BF\)/);
    rejects(craft(Buffer.concat([h, Buffer.alloc(3)])), 'BAD_HEADER', /only spaces/);
    rejects(craft(headerText() + '\n'), 'BAD_HEADER', /only spaces/);
  });

  test('a header that is not JSON', () => {
    rejects(craft('{"__metadata__" {}}'), 'BAD_HEADER', /expected ':'/);
    rejects(craft('{"__metadata__":{}'), 'BAD_HEADER', /byte/);
    rejects(craft(headerText().slice(0, -1) + ',}'), 'BAD_HEADER', /expected a string key/);
    rejects(craft('{"a":NaN}'), 'BAD_HEADER', /expected a JSON value/);
    rejects(craft('{"a":"\u0001"}'), 'BAD_HEADER', /control character/);
    rejects(craft(headerText() + '{}'), 'BAD_HEADER', /only spaces/);
  });

  test('a header that does not start with "{"', () => {
    rejects(craft(' ' + headerText()), 'BAD_HEADER', /starting with '\{'/);
    rejects(craft('[]'), 'BAD_HEADER', /starting with '\{'/);
    rejects(craft(''), 'BAD_HEADER', /starting with '\{'/);
  });

  test('nesting deep enough to overflow a recursive parser is a CheckpointError', () => {
    rejects(craft(`{"a":${'['.repeat(100000)}`), 'BAD_HEADER', /nested more than 64/);
    const deepGroups = { ...META, 'lp_optim.paramGroups': `[{"params":[0,1],"x":${'['.repeat(5000)}${']'.repeat(5000)}}]` };
    rejects(craft(headerText(undefined, deepGroups)), 'BAD_METADATA', /nested more than 64/);
  });

  test('duplicate keys: top level, inside __metadata__, inside an entry, inside a metadata value', () => {
    const entries = `"state.0.a":${JSON.stringify(ENTRY_A)},"state.1.b":${JSON.stringify(ENTRY_B)}`;
    const meta = JSON.stringify(META);
    rejects(craft(`{"__metadata__":${meta},${entries},"state.0.a":${JSON.stringify(ENTRY_A)}}`), 'DUPLICATE_KEY', /"state\.0\.a"/);
    rejects(craft(`{"__metadata__":${meta},"__metadata__":${meta},${entries}}`), 'DUPLICATE_KEY', /"__metadata__"/);
    rejects(craft(`{"__metadata__":${meta.slice(0, -1)},"lp_optim.kind":"optimizer"},${entries}}`), 'DUPLICATE_KEY', /"lp_optim\.kind"/);
    rejects(craft(`{"__metadata__":${meta},"state.0.a":{"dtype":"F32","shape":[2],"dtype":"F32","data_offsets":[0,8]},"state.1.b":${JSON.stringify(ENTRY_B)}}`), 'DUPLICATE_KEY', /"dtype"/);
    const dupGroups = { ...META, 'lp_optim.paramGroups': '[{"params":[0,1],"lr":0.1,"lr":1e9}]' };
    rejects(craft(headerText(undefined, dupGroups)), 'DUPLICATE_KEY', /lp_optim\.paramGroups.*"lr"/);
  });

  test('__metadata__ with a non-string value', () => {
    rejects(craft(headerText(undefined, { ...META, 'lp_optim.format': 1 })), 'BAD_METADATA', /"lp_optim\.format"\] must be a string, got 1/);
    rejects(craft(headerText(undefined, { ...META, extra: null })), 'BAD_METADATA', /"extra"/);
    rejects(craft(headerText(undefined, [1])), 'BAD_METADATA', /__metadata__ must be an object/);
  });

  test('unknown or unsupported dtype', () => {
    rejects(craft(headerText({ 'state.0.a': { ...ENTRY_A, dtype: 'F16', shape: [4] }, 'state.1.b': ENTRY_B })), 'BAD_TENSOR', /"F16".*lp-optim reads F32 and F64/);
    rejects(craft(headerText({ 'state.0.a': { ...ENTRY_A, dtype: 'Q7' }, 'state.1.b': ENTRY_B })), 'BAD_TENSOR', /"Q7" is not a safetensors dtype/);
    rejects(craft(headerText({ 'state.0.a': { ...ENTRY_A, dtype: 32 }, 'state.1.b': ENTRY_B })), 'BAD_TENSOR', /dtype must be a string/);
  });

  test('numbers in the header are unsigned integers as written: 4.0, 4e0, -0 and 1e-400 are refused (safetensors refuses them)', () => {
    const withOffsets = (text: string) => headerText().replace('"data_offsets":[0,8]', `"data_offsets":${text}`);
    expect(withOffsets('[0,8]')).toBe(headerText());
    for (const [written, literal] of [['[0,8.0]', '8.0'], ['[0,8e0]', '8e0'], ['[-0,8]', '-0'], ['[1e-400,8]', '1e-400'], ['[0,8.0000000000000001]', '8.0000000000000001']]) {
      rejects(craft(withOffsets(written)), 'BAD_HEADER', new RegExp(`numbers in a safetensors header are unsigned integers, found ${literal.replace(/\./g, '\\.')}`));
    }
    rejects(craft(headerText().replace('"shape":[2]', '"shape":[2.0]')), 'BAD_HEADER', /unsigned integers, found 2\.0/);
    // A literal beyond 2^53 - 1 is named as written, not as the double it rounds to.
    rejects(craft(headerText().replace('"shape":[2]', '"shape":[9007199254740993]')), 'BAD_HEADER', /9007199254740993 is larger than lp-optim reads/);
  });

  test('a \\u escape for half a surrogate pair, in the header or a metadata value: BAD_HEADER / BAD_METADATA', () => {
    // (JSON.stringify writes the lone surrogate as the escape \ud800.)
    rejects(craft(headerText(undefined, { ...META, note: 'a\ud800b' })), 'BAD_HEADER', /half of a UTF-16 surrogate pair/);
    const groups = JSON.stringify([{ params: [0, 1], lr: 0.1 }]).replace('}]', ',"tag":"\\udc00"}]');
    rejects(craft(headerText(undefined, { ...META, 'lp_optim.paramGroups': groups })), 'BAD_METADATA', /half of a UTF-16 surrogate pair/);
    // A whole pair, escaped, is a character like any other.
    const pair = JSON.stringify([{ params: [0, 1], lr: 0.1 }]).replace('}]', ',"tag":"\\ud83d\\ude00"}]');
    expect(loadBytes(craft(headerText(undefined, { ...META, 'lp_optim.paramGroups': pair }))).paramGroups[0].tag).toBe('\u{1F600}');
  });

  test('more JSON values than any checkpoint needs: BAD_HEADER before they are all built', () => {
    const many = headerText({ 'state.0.a': ENTRY_A, 'state.1.b': ENTRY_B, x: { dtype: 'F32', shape: Array(JSON_VALUE_LIMIT).fill(0), data_offsets: [16, 16] } });
    rejects(craft(many), 'BAD_HEADER', new RegExp(`more than ${JSON_VALUE_LIMIT} JSON values`));
  });

  test('malformed entries: shape, data_offsets, unknown fields', () => {
    const bad = (entry: unknown, message: RegExp) => rejects(craft(headerText({ 'state.0.a': entry, 'state.1.b': ENTRY_B })), 'BAD_TENSOR', message);
    bad({ ...ENTRY_A, shape: [null] }, /shape must be an array of non-negative integers/);
    bad({ ...ENTRY_A, shape: '2' }, /shape/);
    bad({ ...ENTRY_A, shape: [3] }, /takes 12 bytes, but data_offsets \[0, 8\] span 8/);
    bad({ ...ENTRY_A, data_offsets: [8, 0] }, /data_offsets/);
    bad({ ...ENTRY_A, data_offsets: [0, 8, 9] }, /data_offsets/);
    bad({ dtype: 'F32', shape: [2] }, /data_offsets/);
    bad({ ...ENTRY_A, strides: [1] }, /unknown field "strides"/);
    bad([1], /must be an object/);
  });

  test('shapes whose product overflows 64 bits', () => {
    const huge = 2 ** 40;
    rejects(craft(headerText({ 'state.0.a': { ...ENTRY_A, shape: [huge, huge] }, 'state.1.b': ENTRY_B })), 'BAD_TENSOR', /overflows 64 bits/);
    // 2^62 elements fit in 64 bits, their bytes do not.
    rejects(craft(headerText({ 'state.0.a': { ...ENTRY_A, shape: [2 ** 31, 2 ** 31] }, 'state.1.b': ENTRY_B })), 'BAD_TENSOR', /times 4 bytes overflows 64 bits/);
    rejects(craft(headerText({ 'state.0.a': { ...ENTRY_A, shape: [huge, huge, 0] }, 'state.1.b': ENTRY_B })), 'BAD_TENSOR', /overflows/);
  });

  test('offsets with a gap, overlapping, or not starting at 0', () => {
    const gap = Buffer.concat([DATA.subarray(0, 8), Buffer.alloc(4), DATA.subarray(8)]);
    rejects(craft(headerText({ 'state.0.a': ENTRY_A, 'state.1.b': { ...ENTRY_B, data_offsets: [12, 20] } }), gap), 'BAD_OFFSETS', /gap after offset 8/);
    rejects(craft(headerText({ 'state.0.a': ENTRY_A, 'state.1.b': { ...ENTRY_B, data_offsets: [4, 12] } }), DATA.subarray(0, 12)), 'BAD_OFFSETS', /overlapping/);
    rejects(craft(headerText({ 'state.0.a': { ...ENTRY_A, data_offsets: [8, 16] }, 'state.1.b': { ...ENTRY_B, data_offsets: [16, 24] } }), Buffer.alloc(24)), 'BAD_OFFSETS', /gap after offset 0/);
  });

  test('trailing bytes (a polyglot file)', () => {
    const polyglot = Buffer.concat([DATA, Buffer.from('PK\u0003\u0004 a zip file follows', 'latin1')]);
    rejects(craft(headerText(), polyglot), 'TRAILING_BYTES', /bytes follow the end of the tensors' data/);
    rejects(craft(headerText({}, { ...META, 'lp_optim.scalars': '{}' }), Buffer.alloc(1)), 'TRAILING_BYTES');
  });

  test('data shorter than the entries say', () => {
    rejects(craft(headerText(), DATA.subarray(0, 12)), 'TRUNCATED', /data ends at byte/);
  });

  test('missing, unknown or inconsistent lp_optim metadata', () => {
    const meta = (changes: Record<string, string | undefined>) => {
      const m: Record<string, string | undefined> = { ...META, ...changes };
      for (const k of Object.keys(m)) if (m[k] === undefined) delete m[k];
      return m;
    };
    const withMeta = (m: unknown) => craft(headerText(undefined, m));
    // A plain safetensors file with no lp_optim metadata, or no metadata at all.
    rejects(withMeta({ format: 'pt' }), 'BAD_METADATA', /not an lp-optim checkpoint/);
    rejects(craft(JSON.stringify({ 'state.0.a': ENTRY_A, 'state.1.b': ENTRY_B })), 'BAD_METADATA', /not an lp-optim checkpoint/);
    rejects(withMeta(meta({ 'lp_optim.format': '2' })), 'BAD_METADATA', /reads format 1/);
    rejects(withMeta(meta({ 'lp_optim.kind': 'model' })), 'BAD_METADATA', /"model"/);
    rejects(withMeta(meta({ 'lp_optim.paramGroups': undefined })), 'BAD_METADATA', /no "lp_optim\.paramGroups"/);
    rejects(withMeta(meta({ 'lp_optim.scalars': undefined })), 'BAD_METADATA', /no "lp_optim\.scalars"/);
    rejects(withMeta(meta({ 'lp_optim.extra': '1' })), 'BAD_METADATA', /unexpected metadata key "lp_optim\.extra"/);
    // The header's SHA-256: missing, malformed, wrong, or written otherwise than save() does.
    rejects(withMeta(meta({ 'lp_optim.headerSha256': undefined })), 'BAD_METADATA', /no "lp_optim\.headerSha256"/);
    rejects(withMeta(meta({ 'lp_optim.headerSha256': 'AB'.repeat(32) })), 'BAD_METADATA', /64 lowercase hex digits/);
    rejects(craft(headerText(), DATA, undefined, false), 'CORRUPT', /SHA-256 is [0-9a-f]{16}\.\.\., not the 0{16}\.\.\..*changed since it was saved/);
    const spaced = headerText().replace('"lp_optim.headerSha256":"', '"lp_optim.headerSha256": "');
    rejects(craft(spaced), 'BAD_METADATA', /not written "lp_optim\.headerSha256":"<digits>" once/);
    rejects(withMeta(meta({ 'lp_optim.paramGroups': '{"params":[0]}' })), 'BAD_METADATA', /must be a JSON array/);
    rejects(withMeta(meta({ 'lp_optim.paramGroups': '[{"lr":1}]' })), 'BAD_METADATA', /params array/);
    rejects(withMeta(meta({ 'lp_optim.paramGroups': '[{"params":[0,1.5]}]' })), 'BAD_METADATA', /params\[1\] must be a parameter index/);
    rejects(withMeta(meta({ 'lp_optim.paramGroups': '[{"params":[0,1]},{"params":[1]}]' })), 'BAD_METADATA', /appears twice/);
    rejects(withMeta(meta({ 'lp_optim.paramGroups': '[{"params":[0,1]}] x' })), 'BAD_METADATA', /unexpected text/);
    rejects(withMeta(meta({ 'lp_optim.paramGroups': '[{"params":[0,1],"lr":{"$number":"nan"}}]' })), 'BAD_METADATA', /tagged number/);
    rejects(withMeta(meta({ 'lp_optim.paramGroups': '[{"params":[0,1],"$lr":1}]' })), 'BAD_METADATA', /unknown tag "\$lr"/);
    rejects(withMeta(meta({ 'lp_optim.scalars': '{"0":{},"1":{"step":"2"}}' })), 'BAD_METADATA', /must be a number or null/);
    rejects(withMeta(meta({ 'lp_optim.scalars': '{"0":{},"1":{},"01":{}}' })), 'BAD_METADATA', /"01" is not a state index/);
    rejects(withMeta(meta({ 'lp_optim.scalars': '{"0":{},"1":{},"7":{}}' })), 'BAD_METADATA', /state index 7 is not a parameter/);
    rejects(withMeta(meta({ 'lp_optim.scalars': '{"0":{}}' })), 'BAD_METADATA', /"state\.1\.b".*not listed/);
    rejects(withMeta(meta({ 'lp_optim.scalars': '{"0":{"a":1},"1":{}}' })), 'BAD_METADATA', /also has a scalar "a"/);
    rejects(craft(headerText({ 'state.0.a': ENTRY_A, 'momentum.1': ENTRY_B })), 'BAD_METADATA', /"momentum\.1".*state\.<index>\.<key>/);
    rejects(craft(headerText({ 'state.0.a': ENTRY_A, ['__proto__']: ENTRY_B })), 'BAD_METADATA', /"__proto__"/);
    rejects(craft(headerText({ 'state.0.a': ENTRY_A, 'state.1.b': ENTRY_B }, { ...META, 'lp_optim.kind': 'scheduler', 'lp_optim.schedulerState': '{}', 'lp_optim.paramGroups': undefined, 'lp_optim.scalars': undefined })), 'BAD_METADATA');
  });
});

describe(`a checkpoint for another optimizer on ${where}`, () => {
  function trained(data: Float32Array | Float64Array, groups = 1) {
    const params = Array.from({ length: groups }, () => new Tensor(data.slice()));
    const opt = new L2ProjectedOptim(params.map((p) => ({ params: [p] })), { lr: 0.1, momentum: 0.9, epsilon: 1 });
    run(opt, params, 0, 2);
    return { opt, params };
  }

  test('another shape: RangeError naming both shapes, optimizer unchanged', () => {
    const file = path.join(folder('shape'), 'opt.safetensors');
    save(trained(Float32Array.of(1, 2, 3)).opt.stateDict(), file);
    const target = trained(Float32Array.of(1, 2, 3, 4)).opt;
    const before = target.stateDict();
    const sd = load(file);
    expect(() => target.loadStateDict(sd)).toThrow(RangeError);
    expect(() => target.loadStateDict(sd)).toThrow(/state\[0\] is for a parameter of shape \[3\].*has shape \[4\]/);
    expect(target.stateDict()).toEqual(before);
    // A hand-built state dict says no shapes: its buffers are checked by length.
    const { state, paramGroups } = sd;
    expect(() => target.loadStateDict({ state, paramGroups })).toThrow(/length 4 \(parameter shape \[4\]\).*length 3/);
  });

  test('the same number of elements in another shape: refused from a file and from memory, optimizer unchanged', () => {
    const make = (shape: number[]) => {
      const p = new Tensor(Float32Array.of(1, 2, 3, 4, 5, 6), shape);
      const opt = new L2ProjectedOptim([p], { lr: 0.1, momentum: 0.9, epsilon: 1, paramNdim: null });
      run(opt, [p], 0, 2);
      return opt;
    };
    const file = path.join(folder('same-size'), 'opt.safetensors');
    const source = make([3, 2]).stateDict();
    save(source, file);
    const target = make([6, 1]);
    const before = target.stateDict();
    for (const sd of [load(file), source]) {
      expect(() => target.loadStateDict(sd)).toThrow(RangeError);
      expect(() => target.loadStateDict(sd)).toThrow(/state\[0\] is for a parameter of shape \[3, 2\] \(paramGroups\[0\]\.params\[0\]\); this optimizer's parameter there has shape \[6, 1\]/);
    }
    expect(target.stateDict()).toEqual(before);
    // The same shape loads.
    make([3, 2]).loadStateDict(load(file));
    // The file's buffers carry the shape; a tensor that disagrees with lp_optim.paramShapes is refused.
    const bytes = fs.readFileSync(file);
    const n = Number(bytes.readBigUInt64LE(0));
    const header = bytes.subarray(8, 8 + n).toString('utf8').replace('"shape":[3,2]', '"shape":[2,3]');
    fs.writeFileSync(file, Buffer.concat([bytes.subarray(0, 8), Buffer.from(header), bytes.subarray(8 + n)]));
    expectCheckpointError(() => load(file), 'BAD_METADATA', /state\.0\.momentumBuffer" has shape \[2, 3\], but lp_optim\.paramShapes gives parameter 0 the shape \[3, 2\]/);
  });

  test('another dtype: rejected naming the dtype, optimizer unchanged', () => {
    const file = path.join(folder('dtype'), 'opt.safetensors');
    save(trained(Float64Array.of(1, 2, 3)).opt.stateDict(), file);
    const target = trained(Float32Array.of(1, 2, 3)).opt;
    const before = target.stateDict();
    expect(() => target.loadStateDict(load(file))).toThrow(/float32.*Float64Array/);
    expect(target.stateDict()).toEqual(before);
  });

  test('another optimizer class: rejected naming both, optimizer unchanged', () => {
    const file = path.join(folder('class'), 'opt.safetensors');
    save(trained(Float32Array.of(1, 2, 3)).opt.stateDict(), file);
    const x = new Tensor(Float32Array.of(1, 2, 3));
    const target = new L2ProjectedOptim([x], { InnerOpt: Adam, lr: 0.1, epsilon: 1 });
    x.grad = Float32Array.of(1, 1, 1);
    target.step();
    const before = target.stateDict();
    expect(load(file).optimizer).toBe('L2ProjectedOptim[SGD]');
    expect(() => target.loadStateDict(load(file))).toThrow(/"L2ProjectedOptim\[SGD\]" optimizer; this one is "L2ProjectedOptim\[Adam\]"/);
    expect(target.stateDict()).toEqual(before);
  });

  test('another number of param groups: rejected, optimizer unchanged', () => {
    const file = path.join(folder('groups'), 'opt.safetensors');
    save(trained(Float32Array.of(1, 2, 3), 2).opt.stateDict(), file);
    const target = trained(Float32Array.of(1, 2, 3), 1).opt;
    const before = target.stateDict();
    expect(() => target.loadStateDict(load(file))).toThrow(/2 param groups, this optimizer has 1/);
    expect(target.stateDict()).toEqual(before);
  });
});

describe('atomic writes', () => {
  function setup(name: string) {
    const d = folder(name);
    const file = path.join(d, 'opt.safetensors');
    const { opt } = smallCheckpoint(file);
    const old = fs.readFileSync(file);
    const sd = opt.stateDict();
    sd.paramGroups[0].lr = 0.5; // a different checkpoint to write over the old one
    const unchanged = () => {
      expect(fs.readFileSync(file).equals(old)).toBe(true);
      expect(fs.readdirSync(d)).toEqual(['opt.safetensors']); // no temporary file left behind
    };
    return { d, file, sd, unchanged };
  }

  test('a function in an option: TypeError naming the key, nothing written', () => {
    const { file, sd, unchanged } = setup('function');
    sd.paramGroups[0].lrLambda = (epoch: number) => 0.9 ** epoch;
    expect(() => save(sd, file)).toThrow(TypeError);
    expect(() => save(sd, file)).toThrow(/paramGroups\[0\]\.lrLambda.*function/);
    expect(() => save({ lrLambdas: [() => 1], lastEpoch: 0 }, file)).toThrow(/lrLambdas\[0\]/);
    unchanged();
  });

  test('a string holding half a surrogate pair (no UTF-8 text can): TypeError naming where, nothing written', () => {
    const { file, sd, unchanged } = setup('surrogate');
    sd.paramGroups[0].name = 'layer \ud800';
    expect(() => save(sd, file)).toThrow(TypeError);
    expect(() => save(sd, file)).toThrow(/cannot save paramGroups\[0\]\.name: "layer \\ud800" holds half of a UTF-16 surrogate pair/);
    delete sd.paramGroups[0].name;
    expect(() => save(sd, file, { metadata: { note: '\udc00' } })).toThrow(/metadata\["note"\]/);
    expect(() => save(sd, file, { metadata: { ['\udbff']: 'x' } })).toThrow(/metadata key/);
    unchanged();
    // A whole pair is text like any other.
    save(sd, file, { metadata: { note: '\u{1F600}' } });
    expect(loadMetadata(file)).toEqual({ note: '\u{1F600}' });
  });

  test.each([
    ['writeSync', 'ENOSPC'],
    ['fsyncSync', 'EIO'],
    ['renameSync', 'EXDEV'],
  ] as const)('%s failing after the temporary file is created: the old file intact, no temporary file', (method, code) => {
    const { d, file, sd, unchanged } = setup(method);
    let seenDuringWrite: string[] = [];
    jest.spyOn(fs, method).mockImplementationOnce((() => {
      seenDuringWrite = fs.readdirSync(d);
      throw Object.assign(new Error(`${code}: simulated failure, ${method}`), { code });
    }) as never);
    expect(() => save(sd, file)).toThrow(code);
    expect(seenDuringWrite).toHaveLength(2);
    expect(seenDuringWrite.find((n) => n !== 'opt.safetensors')).toMatch(/^\.opt\.safetensors\.\d+\.[0-9a-f]+\.tmp$/);
    unchanged();
    // Once the disk recovers, the same save goes through.
    jest.restoreAllMocks();
    save(sd, file);
    expect(load(file).paramGroups[0].lr).toBe(0.5);
  });

  test('saving over a checkpoint replaces it whole and keeps its permissions', () => {
    const { file, sd } = setup('permissions');
    fs.chmodSync(file, 0o600);
    save(sd, file);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(load(file).paramGroups[0].lr).toBe(0.5);
  });

  test('a target that is a directory, or in a missing directory: an error, nothing left behind', () => {
    const { d, sd } = setup('targets');
    fs.mkdirSync(path.join(d, 'sub.safetensors'));
    expect(() => save(sd, path.join(d, 'sub.safetensors'))).toThrow();
    expect(fs.readdirSync(d).sort()).toEqual(['opt.safetensors', 'sub.safetensors']);
    expect(() => save(sd, path.join(d, 'missing', 'x.safetensors'))).toThrow(/ENOENT/);
  });
});

describe('save rejects what is not a state dict', () => {
  test.each([
    ['a number', 42],
    ['null', null],
    ['a string', 'state'],
    ['an array', [1, 2]],
    ['a typed array', new Float32Array(2)],
    ['a Map', new Map()],
    ['an optimizer itself', new L2ProjectedOptim([new Tensor([1, 2])], { lr: 1, epsilon: 1 })],
    ['paramGroups not an array', { state: {}, paramGroups: 'x' }],
    ['state not an object', { state: [], paramGroups: [] }],
    ['a stray key', { state: {}, paramGroups: [], extra: 1 }],
    ['params not indices', { state: {}, paramGroups: [{ params: [new Tensor([1])] }] }],
    ['an integer typed array in the state', { state: { 0: { m: new Int32Array(2) } }, paramGroups: [{ params: [0] }] }],
    ['a string in the state', { state: { 0: { step: '1' } }, paramGroups: [{ params: [0] }] }],
    ['a state key that is not an index', { state: { first: {} }, paramGroups: [{ params: [0] }] }],
    ['a typed array in a scheduler state', { lastLr: new Float64Array(2) }],
    ['a class instance in an option', { state: {}, paramGroups: [{ params: [0], when: new Date(0) }] }],
    ['a bigint', { lastEpoch: BigInt(1) }],
    ['undefined in an array', { lastLr: [undefined] }],
  ])('%s: TypeError, no file', (_title, value) => {
    const d = folder(`reject-${_title.replace(/\W+/g, '-')}`);
    const file = path.join(d, 'x.safetensors');
    expect(() => save(value as never, file)).toThrow(TypeError);
    expect(fs.readdirSync(d)).toEqual([]);
  });

  test('an optimizer itself: the message points to stateDict()', () => {
    const opt = new L2ProjectedOptim([new Tensor([1, 2])], { lr: 1, epsilon: 1 });
    expect(() => save(opt as never, path.join(dir, 'never.safetensors'))).toThrow(/stateDict\(\)/);
  });

  test('a state index outside every group, or a cycle: RangeError', () => {
    expect(() => save({ state: { 3: {} }, paramGroups: [{ params: [0] }] }, path.join(dir, 'never.safetensors'))).toThrow(RangeError);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => save(cyclic, path.join(dir, 'never.safetensors'))).toThrow(/nested more than 64/);
    expect(fs.existsSync(path.join(dir, 'never.safetensors'))).toBe(false);
  });
});
