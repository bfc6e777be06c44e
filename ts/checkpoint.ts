// SPDX-License-Identifier: MIT
// Checkpoints: optimizer and scheduler state dicts saved as safetensors files (written atomically, read strictly).
//
// Layout (see /CHECKPOINT.md and the safetensors format):
//   bytes 0..7      N, the header length, unsigned little-endian 64-bit
//   bytes 8..8+N    a UTF-8 JSON object, padded with spaces to a multiple of 8:
//                     "__metadata__": string-to-string map (lp_optim.* keys below,
//                                     then the caller's own metadata)
//                     "state.<i>.<key>": { dtype: "F32"|"F64", shape: the parameter's shape
//                                         (or [length]), data_offsets: [begin, end] }  (one per buffer)
//   bytes 8+N..     the buffers' raw little-endian bytes, tiling the data exactly
//
// lp_optim.* metadata keys (every value is a string, as safetensors requires):
//   lp_optim.format         "1"
//   lp_optim.kind           "optimizer" | "scheduler"
//   lp_optim.paramGroups    (optimizer) JSON array of the param groups with all options
//   lp_optim.scalars        (optimizer) JSON object {"<i>": {"<key>": number|null}} listing
//                           every state index, with its non-buffer values ({} if none)
//   lp_optim.schedulerState (scheduler) JSON object, the scheduler's state dict
//   lp_optim.scheduler      (scheduler) its class ("StepLR"), when the state dict says
//   lp_optim.optimizer      (optimizer) its class ("L2ProjectedOptim[Adam]"), when the state dict says
//   lp_optim.paramShapes    (optimizer) JSON object {"<i>": [sizes]}: each parameter's shape, when
//                           the state dict says; its buffers' tensors then have that shape
//   lp_optim.headerSha256   64 lowercase hex digits: SHA-256 of the file's first 8 + N bytes
//                           (length prefix and padded header) with these 64 digits read as
//                           "0"s, written "lp_optim.headerSha256":"<digits>" (no spaces).
//                           Any byte of the header changed since save() fails the load,
//                           also where the JSON would still parse (a key's letter, a digit).
// (a state dict from stateDict() says; one written by hand may not, and is then
// checked on its contents alone)
// JSON cannot hold NaN, ±Infinity or -0, so inside those JSON values such a number is
// written {"$number": "NaN"|"Infinity"|"-Infinity"|"-0"}; to keep that unambiguous, an
// object key that starts with "$" is written with one more "$" in front.
import { createHash, randomBytes } from 'crypto';
import * as fs from 'fs';
import * as nodePath from 'path';
import { show } from './errors';
import { SCHEDULER_TAG, type SchedulerState } from './lrScheduler';
import type { StateDict } from './optim/optimizer';
import { isShape, sameShape } from './optim/rows';

/** What a checkpoint holds. */
export type CheckpointKind = 'optimizer' | 'scheduler';

export interface SaveOptions {
  /** The caller's own string-to-string metadata, stored beside lp-optim's (keys may not start with "lp_optim."). */
  metadata?: Record<string, string>;
}

export interface LoadOptions {
  /** The kind of state dict expected; a file of the other kind is a CheckpointError (WRONG_KIND). */
  kind?: CheckpointKind;
}

export type CheckpointErrorCode =
  | 'NOT_FOUND' // no file at the path
  | 'IO_ERROR' // the file cannot be read, or is not a regular file
  | 'TRUNCATED' // the file ends before its header or its data does
  | 'HEADER_TOO_LARGE' // the header length exceeds HEADER_LENGTH_LIMIT
  | 'BAD_HEADER' // the header is not UTF-8 JSON of the required form
  | 'DUPLICATE_KEY' // a JSON object (in the header or in a metadata value) repeats a key
  | 'BAD_TENSOR' // a tensor entry is malformed, or its size disagrees with its offsets
  | 'BAD_OFFSETS' // the tensors do not tile the data exactly (gap or overlap)
  | 'TRAILING_BYTES' // bytes after the last tensor's data
  | 'BAD_METADATA' // the lp_optim metadata is missing, unknown or inconsistent
  | 'WRONG_KIND' // an optimizer checkpoint where a scheduler's was expected, or the reverse
  | 'CORRUPT'; // the header is not the one save() wrote (its SHA-256 differs from lp_optim.headerSha256)

/** Every problem with a checkpoint file; `code` says which rule it breaks, the message where. */
export class CheckpointError extends Error {
  readonly code: CheckpointErrorCode;
  /** The checkpoint file's path, as given to load(). */
  readonly path: string;

  constructor(code: CheckpointErrorCode, message: string, path: string) {
    super(message);
    this.name = 'CheckpointError';
    this.code = code;
    this.path = path;
  }
}

/** The largest header accepted (safetensors allows 100 MB; an optimizer's header needs far less). */
export const HEADER_LENGTH_LIMIT = 16 * 1024 * 1024;

const FORMAT_VERSION = '1';
const META_PREFIX = 'lp_optim.';
const KEY_FORMAT = 'lp_optim.format';
const KEY_KIND = 'lp_optim.kind';
const KEY_PARAM_GROUPS = 'lp_optim.paramGroups';
const KEY_SCALARS = 'lp_optim.scalars';
const KEY_SCHEDULER_STATE = 'lp_optim.schedulerState';
/** The optimizer that made the state dict (StateDict.optimizer), e.g. "L2ProjectedOptim[Adam]". */
const KEY_OPTIMIZER = 'lp_optim.optimizer';
/** The scheduler's class (its state dict's non-enumerable `scheduler`), e.g. "StepLR". */
const KEY_SCHEDULER = 'lp_optim.scheduler';
/** Each parameter's shape (the state dict's non-enumerable `shapes`). */
const KEY_PARAM_SHAPES = 'lp_optim.paramShapes';
/** The header's own SHA-256 (see the layout above). */
const KEY_HEADER_DIGEST = 'lp_optim.headerSha256';
const DIGEST_PLACEHOLDER = '0'.repeat(64);
const KEYS_OF_KIND: Record<CheckpointKind, string[]> = {
  optimizer: [KEY_FORMAT, KEY_KIND, KEY_PARAM_GROUPS, KEY_SCALARS, KEY_OPTIMIZER, KEY_PARAM_SHAPES, KEY_HEADER_DIGEST],
  scheduler: [KEY_FORMAT, KEY_KIND, KEY_SCHEDULER_STATE, KEY_SCHEDULER, KEY_HEADER_DIGEST],
};

/**
 * Where the digest's 64 digits sit in `bytes` (the length prefix and the
 * header): just after the one "lp_optim.headerSha256":" in them. (Inside a
 * JSON string every quote is escaped, so that text can only be the key
 * itself.) -1 when it is not there exactly once.
 */
function digestPosition(bytes: Uint8Array): number {
  const marker = Buffer.from(`"${KEY_HEADER_DIGEST}":"`, 'latin1');
  const haystack = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const at = haystack.indexOf(marker);
  if (at < 0 || haystack.indexOf(marker, at + 1) >= 0) return -1;
  return at + marker.length;
}

/**
 * The SHA-256, in hex, of `bytes` with the digest's 64 digits at `position`
 * read as "0"s: sets them to "0" in `bytes` itself (save()'s own header, whose
 * placeholder they are; load()'s copy of the file's), and hashes that.
 */
function headerDigest(bytes: Uint8Array, position: number): string {
  bytes.fill(0x30, position, position + 64); // '0'
  return createHash('sha256').update(bytes).digest('hex');
}

/** The tag that stands for a number JSON cannot hold. */
const NUMBER_TAG = '$number';
/** Deeper nesting is refused on both sides: it would overflow the stack (or be a cycle). */
const MAX_NESTING = 64;
/** Tensor names: state.<index>.<key>, the index without leading zeros. */
const TENSOR_NAME = /^state\.(0|[1-9][0-9]*)\.([\s\S]*)$/;
const CANONICAL_INDEX = /^(0|[1-9][0-9]*)$/;

type TensorDtype = 'F32' | 'F64';
const ITEM_SIZE: Record<TensorDtype, number> = { F32: 4, F64: 8 };
/** safetensors dtypes lp-optim knows but does not store, so that the message can say so. */
const OTHER_SAFETENSORS_DTYPES = new Set(['BOOL', 'U8', 'I8', 'F8_E5M2', 'F8_E4M3', 'I16', 'U16', 'F16', 'BF16', 'I32', 'U32', 'I64', 'U64']);

/** A lone (unpaired) UTF-16 surrogate: no UTF-8 text can hold one. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Sizes are unsigned 64-bit in safetensors: a shape whose byte size exceeds this is malformed. */
const U64_MAX = (BigInt(1) << BigInt(64)) - BigInt(1);

/** True on little-endian hosts (all that Node supports today); the file is little-endian regardless. */
const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

// ---------------------------------------------------------------------------
// Small helpers

function isPlainObject(x: unknown): x is Record<string, unknown> {
  if (typeof x !== 'object' || x === null) return false;
  const proto = Object.getPrototypeOf(x) as unknown;
  return proto === Object.prototype || proto === null;
}

function hasOwn(obj: object, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(obj, key);
}

/** Sets an own property, even one named "__proto__" (a plain assignment would set the prototype). */
function setOwn(obj: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  else obj[key] = value;
}

/** Reverses the byte order of each item in place (only needed on big-endian hosts). */
function swapByteOrder(bytes: Uint8Array, itemSize: number): void {
  for (let i = 0; i + itemSize <= bytes.length; i += itemSize) bytes.subarray(i, i + itemSize).reverse();
}

/** A key path for messages: paramGroups[0].lr, state[2].step. */
function childPath(parent: string, key: string | number): string {
  if (typeof key === 'number') return `${parent}[${key}]`;
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `${parent}.${key}` : `${parent}[${JSON.stringify(key)}]`;
}

// ---------------------------------------------------------------------------
// Encoding option values into JSON (save side)

/**
 * A string a file can hold: no lone UTF-16 surrogate, which UTF-8 cannot
 * encode (JSON.stringify would write it as a \u escape that safetensors'
 * own reader, and lp-optim's, refuse).
 */
function checkWellFormed(text: string, where: string): string {
  if (LONE_SURROGATE.test(text)) throw new TypeError(`cannot save ${where}: ${show(text)} holds half of a UTF-16 surrogate pair, which is not text a file can hold`);
  return text;
}

type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** The tag's text for a number JSON cannot hold, or null when JSON holds it as is. */
function specialNumberText(x: number): string | null {
  if (Number.isNaN(x)) return 'NaN';
  if (x === Infinity) return 'Infinity';
  if (x === -Infinity) return '-Infinity';
  if (Object.is(x, -0)) return '-0';
  return null;
}

const SPECIAL_NUMBERS: Record<string, number> = { NaN: NaN, Infinity: Infinity, '-Infinity': -Infinity, '-0': -0 };

/**
 * A JSON-able copy of an option or scheduler value. Throws a TypeError naming
 * the key for what a file cannot hold: functions (e.g. a scheduler's lambda),
 * typed arrays outside the state, class instances, symbols, bigints.
 */
function encodeValue(value: unknown, where: string, depth = 0): JsonValue {
  if (typeof value === 'string') return checkWellFormed(value, where);
  if (value === null || typeof value === 'boolean') return value;
  if (typeof value === 'number') {
    const special = specialNumberText(value);
    return special === null ? value : { [NUMBER_TAG]: special };
  }
  if (typeof value === 'function') {
    throw new TypeError(`cannot save ${where}: it is a function (${show(value)}), and a checkpoint holds only data; save what it computes, or rebuild it after loading`);
  }
  if (value === undefined || typeof value !== 'object') {
    throw new TypeError(`cannot save ${where}: ${typeof value} values cannot be stored (got ${show(value)})`);
  }
  if (depth >= MAX_NESTING) throw new RangeError(`cannot save ${where}: values nested more than ${MAX_NESTING} levels deep (a cycle?)`);
  if (Array.isArray(value)) {
    const out: JsonValue[] = [];
    for (let i = 0; i < value.length; i++) out.push(encodeValue(value[i], childPath(where, i), depth + 1));
    return out;
  }
  if (ArrayBuffer.isView(value)) {
    throw new TypeError(`cannot save ${where}: typed arrays (${show(value)}) are stored only as state buffers (state[i].key)`);
  }
  if (!isPlainObject(value)) throw new TypeError(`cannot save ${where}: ${show(value)} is not a plain object, array, number, string, boolean or null`);
  const out: { [key: string]: JsonValue } = {};
  for (const [k, v] of Object.entries(value)) {
    // A missing option and an undefined one mean the same to the optimizers (defaults fill both), and JSON has no undefined.
    if (v === undefined) continue;
    checkWellFormed(k, `${where}: the key ${show(k)}`);
    setOwn(out, k.startsWith('$') ? `$${k}` : k, encodeValue(v, childPath(where, k), depth + 1));
  }
  return out;
}

// ---------------------------------------------------------------------------
// What save() writes: the header's metadata and the buffers

interface TensorToWrite {
  name: string;
  dtype: TensorDtype;
  data: Float32Array | Float64Array;
  /** The shape written for it: its parameter's, or [length]. */
  shape: number[];
}

interface Encoded {
  metadata: Record<string, string>;
  tensors: TensorToWrite[];
}

function checkIndexList(params: unknown, where: string, seen: Set<number>): number[] {
  if (!Array.isArray(params)) throw new TypeError(`cannot save ${where}: it must be an array of parameter indices, got ${show(params)}`);
  params.forEach((p, j) => {
    if (typeof p !== 'number' || !Number.isSafeInteger(p) || p < 0) {
      throw new TypeError(`cannot save ${where}[${j}]: a parameter index must be a non-negative integer, got ${show(p)}`);
    }
    if (seen.has(p)) throw new RangeError(`cannot save ${where}[${j}]: parameter index ${p} appears twice`);
    seen.add(p);
  });
  return params as number[];
}

function encodeOptimizerStateDict(sd: Record<string, unknown>): Encoded {
  for (const k of Object.keys(sd)) {
    // (optimizer and shapes are non-enumerable in stateDict()'s dicts, but a copy may have them as plain keys.)
    if (!['state', 'paramGroups', 'optimizer', 'shapes'].includes(k)) throw new TypeError(`cannot save the state dict: unexpected key ${show(k)} (an optimizer state dict has state and paramGroups)`);
  }
  const { state, paramGroups } = sd;
  if (!Array.isArray(paramGroups)) throw new TypeError(`cannot save the state dict: paramGroups must be an array, got ${show(paramGroups)}`);
  if (!isPlainObject(state)) throw new TypeError(`cannot save the state dict: state must be an object, got ${show(state)}`);
  const paramIndices = new Set<number>();
  const groups = paramGroups.map((g, i) => {
    const where = `paramGroups[${i}]`;
    if (!isPlainObject(g)) throw new TypeError(`cannot save ${where}: a param group must be an object, got ${show(g)}`);
    checkIndexList(g.params, `${where}.params`, paramIndices);
    return encodeValue(g, where);
  });

  // Each parameter's shape, when the state dict says (stateDict() does).
  const shapes = sd.shapes;
  if (shapes !== undefined && !isPlainObject(shapes)) throw new TypeError(`cannot save the state dict: shapes must be an object of parameter shapes, got ${show(shapes)}`);
  const shapeOf = new Map<number, number[]>();
  if (shapes !== undefined) {
    for (const [indexText, shape] of Object.entries(shapes)) {
      const index = Number(indexText);
      if (!CANONICAL_INDEX.test(indexText) || !paramIndices.has(index)) throw new RangeError(`cannot save shapes[${show(indexText)}]: not a parameter index of any param group`);
      if (!isShape(shape)) throw new TypeError(`cannot save shapes[${index}]: a shape must be an array of sizes, got ${show(shape)}`);
      shapeOf.set(index, shape.slice());
    }
  }
  const tensorShape = (index: number, data: Float32Array | Float64Array, where: string): number[] => {
    const shape = shapeOf.get(index);
    if (shape === undefined) return [data.length];
    if (shape.reduce((a, b) => a * b, 1) !== data.length) throw new RangeError(`cannot save ${where}: ${data.length} values, but shapes[${index}] is [${shape.join(', ')}]`);
    return shape;
  };
  const scalars: Record<string, JsonValue> = {};
  const tensors64: TensorToWrite[] = [];
  const tensors32: TensorToWrite[] = [];
  for (const [indexText, entry] of Object.entries(state)) {
    const index = Number(indexText);
    if (!CANONICAL_INDEX.test(indexText) || !Number.isSafeInteger(index)) {
      throw new TypeError(`cannot save state[${show(indexText)}]: state keys must be parameter indices`);
    }
    if (!paramIndices.has(index)) throw new RangeError(`cannot save state[${index}]: ${index} is not a parameter index of any param group`);
    if (!isPlainObject(entry)) throw new TypeError(`cannot save state[${index}]: it must be an object, got ${show(entry)}`);
    const entryScalars: Record<string, number | null> = {};
    for (const [key, value] of Object.entries(entry)) {
      const name = `state.${index}.${key}`;
      const where = childPath(`state[${index}]`, key);
      if (value instanceof Float64Array) tensors64.push({ name, dtype: 'F64', data: value, shape: tensorShape(index, value, where) });
      else if (value instanceof Float32Array) tensors32.push({ name, dtype: 'F32', data: value, shape: tensorShape(index, value, where) });
      else if (value === null || typeof value === 'number') setOwn(entryScalars, key, value);
      else {
        throw new TypeError(`cannot save ${where}: state values must be a Float32Array, a Float64Array, a number or null, got ${show(value)}`);
      }
    }
    // Through encodeValue, like the options: it tags non-finite numbers and escapes "$" keys.
    scalars[indexText] = encodeValue(entryScalars, `state[${index}]`);
  }
  return {
    metadata: {
      [KEY_FORMAT]: FORMAT_VERSION,
      [KEY_KIND]: 'optimizer',
      [KEY_PARAM_GROUPS]: JSON.stringify(groups),
      [KEY_SCALARS]: JSON.stringify(scalars),
      ...(typeof sd.optimizer === 'string' ? { [KEY_OPTIMIZER]: checkWellFormed(sd.optimizer, 'optimizer') } : {}),
      ...(shapes !== undefined ? { [KEY_PARAM_SHAPES]: JSON.stringify(Object.fromEntries(shapeOf)) } : {}),
    },
    // float64 buffers first: every buffer then starts at a multiple of its item size
    // (the data starts at a multiple of 8), so readers that map the file can view it in place.
    tensors: [...tensors64, ...tensors32],
  };
}

function encodeSchedulerState(state: Record<string, unknown>): Encoded {
  const tag = Object.getOwnPropertyDescriptor(state, SCHEDULER_TAG);
  const values = { ...state };
  delete values[SCHEDULER_TAG]; // (when enumerable: a copy made with the tag spread into it)
  if (tag !== undefined && typeof tag.value !== 'string') throw new TypeError(`cannot save the scheduler state: ${SCHEDULER_TAG} must be its class name, got ${show(tag.value)}`);
  return {
    metadata: {
      [KEY_FORMAT]: FORMAT_VERSION,
      [KEY_KIND]: 'scheduler',
      [KEY_SCHEDULER_STATE]: JSON.stringify(encodeValue(values, 'schedulerState')),
      ...(tag !== undefined ? { [KEY_SCHEDULER]: checkWellFormed(tag.value as string, SCHEDULER_TAG) } : {}),
    },
    tensors: [],
  };
}

function encodeCheckpoint(obj: unknown, options: SaveOptions): Encoded {
  if (!isPlainObject(obj)) {
    const hint = typeof obj === 'object' && obj !== null && typeof (obj as { stateDict?: unknown }).stateDict === 'function' ? ' (did you mean its .stateDict()?)' : '';
    throw new TypeError(`save expects an optimizer state dict ({ state, paramGroups }) or a scheduler state dict (a plain object), got ${show(obj)}${hint}`);
  }
  // Either key marks an optimizer state dict: a malformed one must fail, not be saved as a scheduler's.
  const encoded = hasOwn(obj, 'state') || hasOwn(obj, 'paramGroups') ? encodeOptimizerStateDict(obj) : encodeSchedulerState(obj);

  if (!isPlainObject(options)) throw new TypeError(`save: options must be an object, got ${show(options)}`);
  const userMetadata = options.metadata ?? {};
  if (!isPlainObject(userMetadata)) throw new TypeError(`save: metadata must be an object of strings, got ${show(userMetadata)}`);
  for (const [k, v] of Object.entries(userMetadata)) {
    if (k.startsWith(META_PREFIX)) throw new RangeError(`save: metadata key ${show(k)} is reserved (keys starting with "${META_PREFIX}" are lp-optim's)`);
    if (typeof v !== 'string') throw new TypeError(`save: metadata[${show(k)}] must be a string (safetensors metadata is string-to-string), got ${show(v)}`);
    checkWellFormed(k, 'metadata key');
    checkWellFormed(v, `metadata[${show(k)}]`);
    setOwn(encoded.metadata, k, v);
  }
  return encoded;
}

/** The 8 length bytes and the padded header, ready to write before the buffers. */
function headerBytes(encoded: Encoded): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: { ...encoded.metadata, [KEY_HEADER_DIGEST]: DIGEST_PLACEHOLDER } };
  let offset = 0;
  for (const t of encoded.tensors) {
    const end = offset + t.data.byteLength;
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, end] };
    offset = end;
  }
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const length = Math.ceil(json.length / 8) * 8;
  if (length > HEADER_LENGTH_LIMIT) {
    throw new RangeError(`cannot save: the header would take ${length} bytes, more than the ${HEADER_LENGTH_LIMIT} that load() accepts`);
  }
  const out = Buffer.alloc(8 + length, 0x20); // the padding is spaces
  out.writeBigUInt64LE(BigInt(length), 0);
  json.copy(out, 8);
  const position = digestPosition(out);
  out.write(headerDigest(out, position), position, 'latin1');
  return out;
}

/** The little-endian bytes of a buffer, without copying on little-endian hosts. */
function littleEndianBytes(data: Float32Array | Float64Array): Uint8Array {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (HOST_IS_LITTLE_ENDIAN) return bytes;
  const copy = bytes.slice();
  swapByteOrder(copy, data.BYTES_PER_ELEMENT);
  return copy;
}

function writeFully(fd: number, bytes: Uint8Array): void {
  let written = 0;
  while (written < bytes.length) written += fs.writeSync(fd, bytes, written, bytes.length - written);
}

/**
 * Writes the chunks to a fresh temporary file in the target's directory,
 * flushes it to disk and renames it over the target: a reader (or a crash)
 * sees either the old file or the complete new one. On any error the
 * temporary file is removed and the target is left as it was.
 */
function writeFileAtomically(target: string, chunks: Uint8Array[]): void {
  const dir = nodePath.dirname(nodePath.resolve(target));
  const temp = nodePath.join(dir, `.${nodePath.basename(target)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  let oldMode: number | null = null;
  try {
    oldMode = fs.statSync(target).mode & 0o7777;
  } catch {
    // no old file: the new one gets the usual permissions
  }
  let fd: number | null = null;
  let created = false;
  try {
    fd = fs.openSync(temp, 'wx'); // 'wx': never write into (or through) a file that is already there
    created = true;
    if (oldMode !== null) {
      // Keep the old file's permissions (a private checkpoint stays private).
      // Best effort: some platforms only know a read-only flag.
      try {
        fs.fchmodSync(fd, oldMode);
      } catch {
        // keep the default permissions
      }
    }
    for (const chunk of chunks) writeFully(fd, chunk);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = null;
    fs.renameSync(temp, target);
  } catch (err) {
    if (fd !== null) {
      try {
        fs.closeSync(fd);
      } catch {
        // the original error is the one to report
      }
    }
    if (created) {
      try {
        fs.unlinkSync(temp);
      } catch {
        // the original error is the one to report
      }
    }
    throw err;
  }
  // Make the rename itself durable. Some platforms (Windows) cannot open or
  // fsync a directory; the new file is in place either way.
  try {
    const dirFd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(dirFd);
    } finally {
      fs.closeSync(dirFd);
    }
  } catch {
    // best effort
  }
}

/**
 * Saves an optimizer's state dict (`optimizer.stateDict()`) or a scheduler's
 * to `path` as a safetensors file, atomically: the old file at `path`, if
 * any, stays intact until the new one is complete. Everything is checked
 * before anything is written: a value a file cannot hold (a function, a class
 * instance) is a TypeError naming its key.
 */
export function save(obj: StateDict | SchedulerState, path: string, options: SaveOptions = {}): void {
  if (typeof path !== 'string' || path === '') throw new TypeError(`save: path must be a non-empty string, got ${show(path)}`);
  const encoded = encodeCheckpoint(obj, options);
  const chunks = [headerBytes(encoded), ...encoded.tensors.map((t) => littleEndianBytes(t.data))];
  writeFileAtomically(path, chunks);
}

// ---------------------------------------------------------------------------
// A strict JSON parser (load side). JSON.parse keeps the last of duplicate
// keys silently and reports positions loosely; this one rejects duplicates at
// every level, limits nesting, and says where each problem is.

/** How the parser reports a problem: the caller turns `position` (a character index) into a place in the file. */
type ParseFail = (code: CheckpointErrorCode, message: string, position: number) => never;

/**
 * The most JSON values (objects, arrays, strings, numbers, literals) one
 * parse builds. A value takes a few bytes of text but tens of bytes of memory
 * (an empty object 2 bytes, about 60 in V8): without a bound, a header at the
 * length limit filled with "{}," took 880 MB. A real checkpoint's header
 * holds about ten values per state buffer.
 */
export const JSON_VALUE_LIMIT = 1 << 20;

class StrictJsonParser {
  private pos = 0;
  private values = 0;

  /**
   * `unsignedIntegers`: numbers must be written as unsigned integers (a
   * safetensors header's only numbers are shapes and offsets, which its
   * reader parses as integers: 4.0, 4e0 and -0 are not).
   */
  constructor(
    private readonly text: string,
    private readonly syntaxCode: CheckpointErrorCode,
    private readonly fail: ParseFail,
    private readonly unsignedIntegers = false,
  ) {}

  /** The first value in the text (after any whitespace); returns it and the position just after it. */
  parseValue(): { value: unknown; end: number } {
    const value = this.value(0);
    return { value, end: this.pos };
  }

  private error(message: string, position = this.pos): never {
    return this.fail(this.syntaxCode, message, position);
  }

  private describeHere(): string {
    if (this.pos >= this.text.length) return 'the end of the text';
    return JSON.stringify(this.text.slice(this.pos, this.pos + 12));
  }

  private skipWhitespace(): void {
    for (;;) {
      const c = this.text.charCodeAt(this.pos);
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) this.pos++;
      else return;
    }
  }

  private value(depth: number): unknown {
    this.skipWhitespace();
    if (++this.values > JSON_VALUE_LIMIT) this.error(`more than ${JSON_VALUE_LIMIT} JSON values (no checkpoint needs that many)`);
    const c = this.text[this.pos];
    if (c === '{' || c === '[') {
      if (depth >= MAX_NESTING) this.error(`JSON nested more than ${MAX_NESTING} levels deep`);
      return c === '{' ? this.object(depth) : this.array(depth);
    }
    if (c === '"') return this.string();
    if (c === '-' || (c >= '0' && c <= '9')) return this.number();
    for (const [word, literal] of [['true', true], ['false', false], ['null', null]] as const) {
      if (this.text.startsWith(word, this.pos)) {
        this.pos += word.length;
        return literal;
      }
    }
    return this.error(`expected a JSON value, found ${this.describeHere()}`);
  }

  private object(depth: number): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    // The keys so far: a Set only from the second key on (most objects here have one or two).
    let first: string | null = null;
    let seen: Set<string> | null = null;
    this.pos++; // '{'
    this.skipWhitespace();
    if (this.text[this.pos] === '}') {
      this.pos++;
      return out;
    }
    for (;;) {
      this.skipWhitespace();
      if (this.text[this.pos] !== '"') this.error(`expected a string key, found ${this.describeHere()}`);
      const keyPosition = this.pos;
      const key = this.string();
      if (first === null) first = key;
      else {
        seen ??= new Set([first]);
        if (seen.has(key)) this.fail('DUPLICATE_KEY', `duplicate key ${JSON.stringify(key)}`, keyPosition);
        seen.add(key);
      }
      this.skipWhitespace();
      if (this.text[this.pos] !== ':') this.error(`expected ':' after key ${JSON.stringify(key)}, found ${this.describeHere()}`);
      this.pos++;
      setOwn(out, key, this.value(depth + 1));
      this.skipWhitespace();
      const next = this.text[this.pos];
      this.pos++;
      if (next === '}') return out;
      if (next !== ',') this.error(`expected ',' or '}', found ${JSON.stringify(next ?? '')}`, this.pos - 1);
    }
  }

  private array(depth: number): unknown[] {
    const out: unknown[] = [];
    this.pos++; // '['
    this.skipWhitespace();
    if (this.text[this.pos] === ']') {
      this.pos++;
      return out;
    }
    for (;;) {
      out.push(this.value(depth + 1));
      this.skipWhitespace();
      const next = this.text[this.pos];
      this.pos++;
      if (next === ']') return out;
      if (next !== ',') this.error(`expected ',' or ']', found ${JSON.stringify(next ?? '')}`, this.pos - 1);
    }
  }

  private static readonly NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
  private static readonly ESCAPES: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };

  private number(): number {
    const re = StrictJsonParser.NUMBER;
    re.lastIndex = this.pos;
    const m = re.exec(this.text);
    if (!m) return this.error(`malformed number ${this.describeHere()}`);
    if (this.unsignedIntegers) {
      if (!/^[0-9]+$/.test(m[0])) this.error(`numbers in a safetensors header are unsigned integers, found ${m[0]}`);
      if (BigInt(m[0]) > BigInt(Number.MAX_SAFE_INTEGER)) this.error(`${m[0]} is larger than lp-optim reads (2^53 - 1)`);
    }
    this.pos += m[0].length;
    return Number(m[0]); // the same correctly rounded double as JSON.parse
  }

  private string(): string {
    const start = this.pos;
    this.pos++; // opening quote
    let out = '';
    let runStart = this.pos;
    for (;;) {
      if (this.pos >= this.text.length) this.error('unterminated string', start);
      const c = this.text.charCodeAt(this.pos);
      if (c === 0x22) {
        out += this.text.slice(runStart, this.pos);
        // Escapes can spell half a surrogate pair (\ud800), which no UTF-8 text (and no safetensors reader) accepts.
        if (LONE_SURROGATE.test(out)) this.error('a \\u escape for half of a UTF-16 surrogate pair (not a Unicode character)', start);
        this.pos++;
        return out;
      }
      if (c < 0x20) this.error(`control character U+${c.toString(16).padStart(4, '0')} inside a string (it must be escaped)`);
      if (c !== 0x5c) {
        this.pos++;
        continue;
      }
      out += this.text.slice(runStart, this.pos);
      const e = this.text[this.pos + 1];
      if (e === 'u') {
        const hex = this.text.slice(this.pos + 2, this.pos + 6);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) this.error(`bad \\u escape ${JSON.stringify(this.text.slice(this.pos, this.pos + 6))}`);
        out += String.fromCharCode(parseInt(hex, 16));
        this.pos += 6;
      } else if (e !== undefined && hasOwn(StrictJsonParser.ESCAPES, e)) {
        out += StrictJsonParser.ESCAPES[e];
        this.pos += 2;
      } else {
        this.error(`bad escape ${JSON.stringify(this.text.slice(this.pos, this.pos + 2))}`);
      }
      runStart = this.pos;
    }
  }
}

// ---------------------------------------------------------------------------
// Reading and checking a checkpoint (load side)

/** Where a checkpoint's bytes come from: a file read piece by piece, never all at once. */
interface ByteSource {
  readonly size: number;
  /** Fills `into` with the bytes at `position` (inside 0..size). */
  read(position: number, into: Uint8Array): void;
}

/** The byte offset of the first invalid UTF-8 sequence, or -1 (only used to say where). */
function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i];
    if (b < 0x80) {
      i++;
      continue;
    }
    let continuation: number;
    let secondMin = 0x80;
    let secondMax = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) continuation = 1;
    else if (b >= 0xe0 && b <= 0xef) {
      continuation = 2;
      if (b === 0xe0) secondMin = 0xa0; // overlong
      if (b === 0xed) secondMax = 0x9f; // surrogates
    } else if (b >= 0xf0 && b <= 0xf4) {
      continuation = 3;
      if (b === 0xf0) secondMin = 0x90; // overlong
      if (b === 0xf4) secondMax = 0x8f; // above U+10FFFF
    } else return i;
    for (let k = 1; k <= continuation; k++) {
      const c = bytes[i + k];
      const [min, max] = k === 1 ? [secondMin, secondMax] : [0x80, 0xbf];
      if (c === undefined || c < min || c > max) return i;
    }
    i += continuation + 1;
  }
  return -1;
}

/** Throws the CheckpointError for a problem, its message prefixed with the file's name. */
type FailWith = (code: CheckpointErrorCode, message: string) => never;

interface TensorEntry {
  name: string;
  dtype: TensorDtype;
  shape: number[];
  numel: number;
  begin: number;
  end: number;
}

interface Checkpoint {
  kind: CheckpointKind;
  value: StateDict | SchedulerState;
  userMetadata: Record<string, string>;
}

/** Checks every rule of CHECKPOINT.md, then reads the buffers; `label` names the file in messages. */
function readCheckpoint(source: ByteSource, label: string, filePath: string): Checkpoint {
  const fail: FailWith = (code, message) => {
    throw new CheckpointError(code, `${label}: ${message}`, filePath);
  };

  // Rules 1-3: the length prefix, its ceiling, and the header inside the file.
  if (source.size < 8) fail('TRUNCATED', `the file has ${source.size} bytes, fewer than the 8 of the header length`);
  const prefix = new Uint8Array(8);
  source.read(0, prefix);
  const declaredLength = new DataView(prefix.buffer).getBigUint64(0, true);
  if (declaredLength > BigInt(HEADER_LENGTH_LIMIT)) {
    fail('HEADER_TOO_LARGE', `the header length (bytes 0-7) is ${declaredLength}, above the limit of ${HEADER_LENGTH_LIMIT} bytes`);
  }
  const headerLength = Number(declaredLength); // exact: at most HEADER_LENGTH_LIMIT
  const dataStart = 8 + headerLength;
  if (dataStart > source.size) {
    fail('TRUNCATED', `the header length (bytes 0-7) is ${headerLength}, so the header ends at byte ${dataStart}, but the file has only ${source.size} bytes`);
  }

  // Rule 4: UTF-8 JSON starting with '{', padded with spaces only.
  const rawHeader = new Uint8Array(headerLength);
  source.read(8, rawHeader);
  let text: string;
  try {
    // ignoreBOM keeps a byte-order mark in the text, so that the '{' check rejects it.
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(rawHeader);
  } catch {
    const at = firstInvalidUtf8(rawHeader);
    return fail('BAD_HEADER', `the header is not valid UTF-8${at >= 0 ? ` (at byte ${8 + at})` : ''}`);
  }
  const byteOffset = (charIndex: number): number => 8 + Buffer.byteLength(text.slice(0, charIndex), 'utf8');
  if (text[0] !== '{') {
    const found = text.startsWith('\ufeff') ? 'a UTF-8 byte-order mark (EF BB BF)' : show(text.slice(0, 8));
    fail('BAD_HEADER', `the header must be a JSON object starting with '{' at byte 8, found ${found}`);
  }
  const parsed = new StrictJsonParser(text, 'BAD_HEADER', (code, message, at) => fail(code, `header, at byte ${byteOffset(at)}: ${message}`), true).parseValue();
  for (let i = parsed.end; i < text.length; i++) {
    if (text[i] !== ' ') fail('BAD_HEADER', `only spaces may follow the header's JSON, found ${show(text[i])} at byte ${byteOffset(i)}`);
  }
  const header = parsed.value as Record<string, unknown>;

  // Rule 5: __metadata__ maps strings to strings.
  const metadata: Record<string, string> = {};
  if (hasOwn(header, '__metadata__')) {
    const raw = header.__metadata__;
    if (!isPlainObject(raw)) fail('BAD_METADATA', `__metadata__ must be an object of strings, got ${show(raw)}`);
    for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
      if (typeof v !== 'string') fail('BAD_METADATA', `__metadata__[${JSON.stringify(k)}] must be a string, got ${show(v)}`);
      setOwn(metadata, k, v as string);
    }
  }

  // Rules 6-7: each tensor entry, its dtype, shape and size.
  const entries: TensorEntry[] = [];
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    entries.push(checkTensorEntry(name, info, fail));
  }

  // Rules 6 and 8: sorted by offset, the tensors tile the data exactly, to the end of the file.
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  for (const e of entries) {
    if (e.begin > covered) fail('BAD_OFFSETS', `tensor ${JSON.stringify(e.name)} begins at data offset ${e.begin}, leaving a gap after offset ${covered}`);
    if (e.begin < covered) fail('BAD_OFFSETS', `tensor ${JSON.stringify(e.name)} begins at data offset ${e.begin}, overlapping data that ends at offset ${covered}`);
    covered = e.end;
  }
  const dataLength = source.size - dataStart;
  if (covered > dataLength) {
    fail('TRUNCATED', `the tensors' data ends at byte ${dataStart + covered}, but the file has only ${source.size} bytes`);
  }
  if (covered < dataLength) {
    fail('TRAILING_BYTES', `${dataLength - covered} bytes follow the end of the tensors' data at byte ${dataStart + covered} (the file must end there)`);
  }

  // lp-optim's own metadata, then the header's digest (last: a header broken in a
  // way the checks above name gets their message); then the buffers.
  const described = describeCheckpoint(metadata, entries, fail);
  checkHeaderDigest(metadata, prefix, rawHeader, fail);
  if (described.kind === 'optimizer') {
    const sd = described.value as StateDict;
    for (const e of entries) {
      const [, indexText, key] = TENSOR_NAME.exec(e.name)!;
      setOwn(sd.state[Number(indexText)], key, readTensor(source, dataStart, e));
    }
  }
  return described;
}

/** Fails unless lp_optim.headerSha256 is the SHA-256 of the length prefix and header as they are. */
function checkHeaderDigest(metadata: Record<string, string>, prefix: Uint8Array, rawHeader: Uint8Array, fail: FailWith): void {
  if (!hasOwn(metadata, KEY_HEADER_DIGEST)) fail('BAD_METADATA', `__metadata__ has no ${JSON.stringify(KEY_HEADER_DIGEST)} (the header's SHA-256, which save() writes)`);
  const recorded = metadata[KEY_HEADER_DIGEST];
  if (!/^[0-9a-f]{64}$/.test(recorded)) fail('BAD_METADATA', `${KEY_HEADER_DIGEST} must be 64 lowercase hex digits, got ${show(recorded)}`);
  const bytes = Buffer.concat([prefix, rawHeader]); // a copy: headerDigest writes into it
  const position = digestPosition(bytes);
  if (position < 0) fail('BAD_METADATA', `${KEY_HEADER_DIGEST} is not written "${KEY_HEADER_DIGEST}":"<digits>" once, as save() writes it`);
  const actual = headerDigest(bytes, position);
  if (actual !== recorded) {
    fail('CORRUPT', `the header's SHA-256 is ${actual.slice(0, 16)}..., not the ${recorded.slice(0, 16)}... recorded in ${KEY_HEADER_DIGEST}: the header has changed since it was saved`);
  }
}

function checkTensorEntry(name: string, info: unknown, fail: FailWith): TensorEntry {
  const where = `tensor ${JSON.stringify(name)}`;
  if (!isPlainObject(info)) return fail('BAD_TENSOR', `${where} must be an object { dtype, shape, data_offsets }, got ${show(info)}`);
  for (const k of Object.keys(info)) {
    if (k !== 'dtype' && k !== 'shape' && k !== 'data_offsets') fail('BAD_TENSOR', `${where} has an unknown field ${JSON.stringify(k)}`);
  }
  const { dtype, shape, data_offsets: offsets } = info;
  if (typeof dtype !== 'string') return fail('BAD_TENSOR', `${where}: dtype must be a string, got ${show(dtype)}`);
  if (dtype !== 'F32' && dtype !== 'F64') {
    const known = OTHER_SAFETENSORS_DTYPES.has(dtype) ? 'is a safetensors dtype that lp-optim does not store' : 'is not a safetensors dtype';
    return fail('BAD_TENSOR', `${where}: dtype ${JSON.stringify(dtype)} ${known} (lp-optim reads F32 and F64)`);
  }
  const isIndex = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
  if (!Array.isArray(shape) || !shape.every(isIndex)) {
    return fail('BAD_TENSOR', `${where}: shape must be an array of non-negative integers, got ${show(shape)}`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isIndex) || offsets[0] > offsets[1]) {
    return fail('BAD_TENSOR', `${where}: data_offsets must be [begin, end] with 0 <= begin <= end, got ${show(offsets)}`);
  }
  const [begin, end] = offsets as [number, number];
  // BigInt: the product of the dimensions may exceed any float (or 64 bits) in a hostile file.
  let numel = BigInt(1);
  for (const d of shape as number[]) {
    numel *= BigInt(d);
    if (numel > U64_MAX) return fail('BAD_TENSOR', `${where}: the product of shape ${show(shape)} overflows 64 bits`);
  }
  const byteSize = numel * BigInt(ITEM_SIZE[dtype]);
  if (byteSize > U64_MAX) return fail('BAD_TENSOR', `${where}: shape ${show(shape)} times ${ITEM_SIZE[dtype]} bytes overflows 64 bits`);
  if (byteSize !== BigInt(end - begin)) {
    return fail('BAD_TENSOR', `${where}: shape ${show(shape)} of ${dtype} takes ${byteSize} bytes, but data_offsets [${begin}, ${end}] span ${end - begin}`);
  }
  return { name, dtype, shape: (shape as number[]).slice(), numel: Number(numel), begin, end };
}

/** A fresh, aligned typed array with the entry's values. */
function readTensor(source: ByteSource, dataStart: number, e: TensorEntry): Float32Array | Float64Array {
  const array = e.dtype === 'F64' ? new Float64Array(e.numel) : new Float32Array(e.numel);
  const bytes = new Uint8Array(array.buffer);
  source.read(dataStart + e.begin, bytes);
  if (!HOST_IS_LITTLE_ENDIAN) swapByteOrder(bytes, array.BYTES_PER_ELEMENT);
  return array;
}

/** Undoes encodeValue: the tags become numbers again, "$$key" becomes "$key". */
function decodeValue(value: unknown, where: string, bad: (message: string) => never): unknown {
  if (Array.isArray(value)) return value.map((v, i) => decodeValue(v, childPath(where, i), bad));
  if (!isPlainObject(value)) return value;
  const keys = Object.keys(value);
  if (keys.length === 1 && keys[0] === NUMBER_TAG) {
    const text = value[NUMBER_TAG];
    if (typeof text !== 'string' || !hasOwn(SPECIAL_NUMBERS, text)) bad(`${where}: ${show(text)} is not a tagged number (NaN, Infinity, -Infinity or -0)`);
    return SPECIAL_NUMBERS[text as string];
  }
  const out: Record<string, unknown> = {};
  for (const k of keys) {
    if (k.startsWith('$') && !k.startsWith('$$')) bad(`${where}: unknown tag ${JSON.stringify(k)}`);
    const key = k.startsWith('$') ? k.slice(1) : k;
    setOwn(out, key, decodeValue(value[k], childPath(where, key), bad));
  }
  return out;
}

/** Parses and decodes one lp_optim JSON metadata value. */
function metadataJson(metadata: Record<string, string>, key: string, fail: FailWith): unknown {
  const bad = (message: string): never => fail('BAD_METADATA', message);
  if (!hasOwn(metadata, key)) return bad(`__metadata__ has no ${JSON.stringify(key)}`);
  const text = metadata[key];
  const where = `__metadata__[${JSON.stringify(key)}]`;
  const parser = new StrictJsonParser(text, 'BAD_METADATA', (code, message, at) => fail(code, `${where}, at character ${at}: ${message}`));
  const { value, end } = parser.parseValue();
  if (end !== text.length) bad(`${where}: unexpected text after the JSON value at character ${end}`);
  return decodeValue(value, key.slice(META_PREFIX.length), bad);
}

/** Checks lp-optim's metadata against the tensors and builds the state dict (buffers still to be read). */
function describeCheckpoint(metadata: Record<string, string>, entries: TensorEntry[], fail: FailWith): Checkpoint {
  const bad = (message: string): never => fail('BAD_METADATA', message);
  if (!hasOwn(metadata, KEY_FORMAT)) bad(`not an lp-optim checkpoint: __metadata__ has no ${JSON.stringify(KEY_FORMAT)}`);
  if (metadata[KEY_FORMAT] !== FORMAT_VERSION) {
    bad(`${KEY_FORMAT} is ${show(metadata[KEY_FORMAT])}; this lp-optim reads format ${FORMAT_VERSION} (written by a newer version?)`);
  }
  const kind = metadata[KEY_KIND];
  if (kind !== 'optimizer' && kind !== 'scheduler') return bad(`${KEY_KIND} must be "optimizer" or "scheduler", got ${show(kind)}`);
  const expectedKeys = KEYS_OF_KIND[kind];
  for (const k of Object.keys(metadata)) {
    if (k.startsWith(META_PREFIX) && !expectedKeys.includes(k)) bad(`unexpected metadata key ${JSON.stringify(k)} in a${kind === 'optimizer' ? 'n' : ''} ${kind} checkpoint`);
  }
  const userMetadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(metadata)) if (!k.startsWith(META_PREFIX)) setOwn(userMetadata, k, v);

  if (kind === 'scheduler') {
    if (entries.length > 0) bad(`a scheduler checkpoint holds no tensors, but this one has ${JSON.stringify(entries[0].name)}`);
    const state = metadataJson(metadata, KEY_SCHEDULER_STATE, fail);
    if (!isPlainObject(state)) bad(`${KEY_SCHEDULER_STATE} must be a JSON object, got ${show(state)}`);
    if (hasOwn(state as object, SCHEDULER_TAG)) bad(`${KEY_SCHEDULER_STATE} has a key ${JSON.stringify(SCHEDULER_TAG)}: the class goes in ${KEY_SCHEDULER}`);
    if (hasOwn(metadata, KEY_SCHEDULER)) Object.defineProperty(state, SCHEDULER_TAG, { value: metadata[KEY_SCHEDULER], enumerable: false });
    return { kind, value: state as SchedulerState, userMetadata };
  }

  const groups = metadataJson(metadata, KEY_PARAM_GROUPS, fail);
  if (!Array.isArray(groups)) return bad(`${KEY_PARAM_GROUPS} must be a JSON array, got ${show(groups)}`);
  const paramIndices = new Set<number>();
  groups.forEach((g, i) => {
    if (!isPlainObject(g) || !Array.isArray(g.params)) bad(`${KEY_PARAM_GROUPS}[${i}] must be an object with a params array, got ${show(g)}`);
    (g as { params: unknown[] }).params.forEach((p, j) => {
      if (typeof p !== 'number' || !Number.isSafeInteger(p) || p < 0) bad(`${KEY_PARAM_GROUPS}[${i}].params[${j}] must be a parameter index, got ${show(p)}`);
      if (paramIndices.has(p as number)) bad(`${KEY_PARAM_GROUPS}[${i}].params[${j}]: parameter index ${p} appears twice`);
      paramIndices.add(p as number);
    });
  });

  const scalars = metadataJson(metadata, KEY_SCALARS, fail);
  if (!isPlainObject(scalars)) return bad(`${KEY_SCALARS} must be a JSON object, got ${show(scalars)}`);
  const state: StateDict['state'] = {};
  for (const [indexText, entry] of Object.entries(scalars)) {
    const index = Number(indexText);
    if (!CANONICAL_INDEX.test(indexText) || !Number.isSafeInteger(index)) bad(`${KEY_SCALARS}: key ${JSON.stringify(indexText)} is not a state index`);
    if (!paramIndices.has(index)) bad(`${KEY_SCALARS}: state index ${index} is not a parameter of any param group`);
    if (!isPlainObject(entry)) return bad(`${KEY_SCALARS}[${index}] must be an object, got ${show(entry)}`);
    const values: Record<string, number | null> = {};
    for (const [k, v] of Object.entries(entry)) {
      if (v !== null && typeof v !== 'number') bad(`${KEY_SCALARS}[${index}][${JSON.stringify(k)}] must be a number or null, got ${show(v)}`);
      setOwn(values, k, v as number | null);
    }
    state[index] = values;
  }
  let shapes: Record<number, number[]> | undefined;
  if (hasOwn(metadata, KEY_PARAM_SHAPES)) {
    const raw = metadataJson(metadata, KEY_PARAM_SHAPES, fail);
    if (!isPlainObject(raw)) return bad(`${KEY_PARAM_SHAPES} must be a JSON object, got ${show(raw)}`);
    shapes = {};
    for (const [indexText, shape] of Object.entries(raw)) {
      const index = Number(indexText);
      if (!CANONICAL_INDEX.test(indexText) || !paramIndices.has(index)) bad(`${KEY_PARAM_SHAPES}: key ${JSON.stringify(indexText)} is not a parameter index of any param group`);
      if (!isShape(shape)) return bad(`${KEY_PARAM_SHAPES}[${index}] must be an array of sizes, got ${show(shape)}`);
      shapes[index] = shape;
    }
  }
  for (const e of entries) {
    const m = TENSOR_NAME.exec(e.name);
    if (!m || !Number.isSafeInteger(Number(m[1]))) return bad(`tensor ${JSON.stringify(e.name)}: tensor names must be state.<index>.<key>`);
    const index = Number(m[1]);
    if (!hasOwn(state, m[1])) bad(`tensor ${JSON.stringify(e.name)}: state index ${index} is not listed in ${KEY_SCALARS}`);
    if (hasOwn(state[index], m[2])) bad(`tensor ${JSON.stringify(e.name)}: state[${index}] also has a scalar ${JSON.stringify(m[2])}`);
    // A buffer has its parameter's shape.
    const shape = shapes !== undefined && hasOwn(shapes, m[1]) ? shapes[index] : undefined;
    if (shape !== undefined && !sameShape(shape, e.shape)) {
      bad(`tensor ${JSON.stringify(e.name)} has shape [${e.shape.join(', ')}], but ${KEY_PARAM_SHAPES} gives parameter ${index} the shape [${shape.join(', ')}]`);
    }
  }
  const value: StateDict = { state, paramGroups: groups as StateDict['paramGroups'] };
  if (hasOwn(metadata, KEY_OPTIMIZER)) Object.defineProperty(value, 'optimizer', { value: metadata[KEY_OPTIMIZER], enumerable: false });
  if (shapes !== undefined) Object.defineProperty(value, 'shapes', { value: shapes, enumerable: false });
  return { kind, value, userMetadata };
}

/** Opens `path` as a byte source; `use` runs while it is open. */
function withFile<T>(path: string, use: (source: ByteSource, label: string) => T): T {
  if (typeof path !== 'string' || path === '') throw new TypeError(`load: path must be a non-empty string, got ${show(path)}`);
  const label = `checkpoint ${JSON.stringify(path)}`;
  const ioError = (err: unknown): never => {
    const code = (err as { code?: unknown }).code;
    if (code === 'ENOENT') throw new CheckpointError('NOT_FOUND', `${label}: no such file`, path);
    const message = err instanceof Error ? err.message : String(err);
    throw new CheckpointError('IO_ERROR', `${label}: cannot read the file (${message})`, path);
  };
  let fd: number;
  try {
    // O_NONBLOCK: opening a named pipe (FIFO) for reading would otherwise wait for a
    // writer, freezing the event loop; the fstat check below then refuses it. (A flag
    // the platform lacks is undefined: plain read-only there.)
    fd = fs.openSync(path, fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0));
  } catch (err) {
    return ioError(err);
  }
  try {
    let size: number;
    try {
      const stat = fs.fstatSync(fd);
      if (!stat.isFile()) throw new CheckpointError('IO_ERROR', `${label}: not a regular file`, path);
      size = stat.size;
    } catch (err) {
      if (err instanceof CheckpointError) throw err;
      return ioError(err);
    }
    const source: ByteSource = {
      size,
      read(position, into) {
        let done = 0;
        while (done < into.length) {
          let n: number;
          try {
            n = fs.readSync(fd, into, done, into.length - done, position + done);
          } catch (err) {
            return ioError(err);
          }
          if (n === 0) throw new CheckpointError('TRUNCATED', `${label}: the file ended at byte ${position + done} while being read (was it being rewritten?)`, path);
          done += n;
        }
      },
    };
    return use(source, label);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Reads a checkpoint written by save(): an optimizer's state dict (with fresh
 * Float32Array/Float64Array buffers) or a scheduler's, per what was saved.
 * Every rule of the format is checked first: any problem is a CheckpointError
 * whose code says which rule and whose message says where. Pass it to
 * `optimizer.loadStateDict()`, which checks it against the optimizer.
 * With `{ kind }`, a file of the other kind is a CheckpointError (WRONG_KIND).
 */
export function load(path: string, options?: { kind?: 'optimizer' }): StateDict;
export function load(path: string, options: { kind: 'scheduler' }): SchedulerState;
export function load(path: string, options: LoadOptions = {}): StateDict | SchedulerState {
  if (!isPlainObject(options)) throw new TypeError(`load: options must be an object, got ${show(options)}`);
  const expected = options.kind;
  if (expected !== undefined && expected !== 'optimizer' && expected !== 'scheduler') {
    throw new RangeError(`load: kind must be "optimizer" or "scheduler", got ${show(expected)}`);
  }
  const checkpoint = withFile(path, (source, label) => readCheckpoint(source, label, path));
  if (expected !== undefined && checkpoint.kind !== expected) {
    throw new CheckpointError('WRONG_KIND', `checkpoint ${JSON.stringify(path)}: holds a${checkpoint.kind === 'optimizer' ? 'n' : ''} ${checkpoint.kind} state dict, not a${expected === 'optimizer' ? 'n' : ''} ${expected}'s`, path);
  }
  return checkpoint.value;
}

/** The caller's own metadata saved with `save(obj, path, { metadata })` (the file is fully checked, as by load). */
export function loadMetadata(path: string): Record<string, string> {
  return withFile(path, (source, label) => readCheckpoint(source, label, path)).userMetadata;
}
