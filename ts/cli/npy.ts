// SPDX-License-Identifier: MIT
// Reads the CLI's .npy inputs (images and labels) with npyjs and checks them; problems are UsageErrors naming the file.
import * as fs from 'fs';
import { parse as parseNpy } from 'npyjs';
import { UsageError } from './usageError';

/** Images as the attack uses them: float32 values, C order, shape [N, ...sampleShape]. */
export interface ImageSet {
  values: Float32Array;
  shape: number[];
  /** The .npy dtype they were read from ('f4', 'f8' or 'u1'). */
  sourceDtype: string;
}

interface RawNpy {
  data: ArrayLike<number | bigint>;
  shape: number[];
  dtype: string;
}

/** Reads and parses one .npy file; `what` names it in messages ('--images FILE'). */
function readNpy(what: string, file: string): RawNpy {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new UsageError(`${what}: file not found`);
    if (code === 'EISDIR') throw new UsageError(`${what}: is a directory, not a .npy file`);
    throw new UsageError(`${what}: cannot be read (${(e as Error).message})`);
  }
  // npyjs parses an ArrayBuffer: copy the file's bytes out of Node's shared buffer pool.
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  const byteOrder = /'descr'\s*:\s*'([<>|=])/.exec(bytes.subarray(0, Math.min(bytes.length, 4096)).toString('latin1'))?.[1];
  if (byteOrder === '>') throw new UsageError(`${what}: big-endian .npy files are not supported (save with a little-endian dtype)`);
  let parsed: ReturnType<typeof parseNpy>;
  try {
    parsed = parseNpy(buffer);
  } catch (e) {
    throw new UsageError(`${what}: not a readable .npy file (${(e as Error).message})`);
  }
  if (parsed.fortranOrder) throw new UsageError(`${what}: Fortran-order arrays are not supported (save a C-order array, e.g. np.ascontiguousarray)`);
  const data = parsed.data as unknown as ArrayLike<number | bigint>;
  const expected = parsed.shape.reduce((a, b) => a * b, 1);
  if (data.length !== expected) {
    throw new UsageError(`${what}: holds ${data.length} values, but its header's shape [${parsed.shape.join(', ')}] needs ${expected} (truncated file?)`);
  }
  return { data, shape: parsed.shape, dtype: parsed.dtype };
}

/**
 * Reads images: float32 or float64 values as they are, uint8 as value / 255.
 * Every value must be finite and lie in `dataRange`.
 */
export function readImages(file: string, dataRange: [number, number]): ImageSet {
  const what = `--images ${file}`;
  const npy = readNpy(what, file);
  if (npy.shape.length < 2) throw new UsageError(`${what}: expected an array [N, ...] of samples, got shape [${npy.shape.join(', ')}]`);
  if (npy.shape[0] === 0) throw new UsageError(`${what}: holds no samples (shape [${npy.shape.join(', ')}])`);
  let values: Float32Array;
  if (npy.dtype === 'f4' || npy.dtype === 'f8') values = Float32Array.from(npy.data as ArrayLike<number>);
  else if (npy.dtype === 'u1') values = Float32Array.from(npy.data as ArrayLike<number>, (v) => v / 255);
  else throw new UsageError(`${what}: dtype ${npy.dtype} is not supported (float32, float64, or uint8 read as value/255)`);

  const sampleSize = values.length / npy.shape[0];
  const [lo, hi] = dataRange;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isFinite(v)) {
      throw new UsageError(`${what}: sample ${Math.floor(i / sampleSize)} holds ${v} (NaN or infinite values are not allowed)`);
    }
    if (v < lo || v > hi) {
      throw new UsageError(`${what}: sample ${Math.floor(i / sampleSize)} holds ${v}, outside --data-range ${lo},${hi}`);
    }
  }
  return { values, shape: npy.shape, sourceDtype: npy.dtype };
}

/** Reads labels: N integer class indices (any integer dtype, or floats holding whole numbers). */
export function readLabels(file: string, count: number): Int32Array {
  const what = `--labels ${file}`;
  const npy = readNpy(what, file);
  const isVector = npy.shape.length === 1 || (npy.shape.length === 2 && npy.shape[1] === 1);
  if (!isVector) throw new UsageError(`${what}: expected one label per image, shape [N], got shape [${npy.shape.join(', ')}]`);
  if (npy.shape[0] !== count) throw new UsageError(`${what}: holds ${npy.shape[0]} labels, but --images holds ${count} images`);
  if (!/^[iuf][1248]$/.test(npy.dtype)) throw new UsageError(`${what}: dtype ${npy.dtype} is not supported (integer class indices)`);
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const v = Number(npy.data[i]);
    if (!Number.isInteger(v) || v < 0 || v > 0x7fffffff) throw new UsageError(`${what}: label ${i} is ${v}, not a class index (an integer >= 0)`);
    labels[i] = v;
  }
  return labels;
}
