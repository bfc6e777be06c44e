// SPDX-License-Identifier: MIT
// Argument checks shared by every public entry point. A wrong type throws a
// TypeError, a value out of range (or unknown, or missing) a RangeError; each
// message names the option and shows the value, as the reference's messages do.

/** Renders a value for an error message (short, never throws). */
export function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value == null) return String(value);
  if (typeof value === 'function') return value.name ? `[class ${value.name}]` : '[function]';
  if (ArrayBuffer.isView(value)) return `${value.constructor.name}(length ${(value as unknown as { length: number }).length})`;
  if (Array.isArray(value)) return value.length <= 8 ? `[${value.map(show).join(', ')}]` : `Array(length ${value.length})`;
  const name = (value as object).constructor?.name;
  return name && name !== 'Object' ? `[object ${name}]` : '[object]';
}

export function checkNumber(name: string, value: unknown, opts: { min?: number; finite?: boolean } = {}): number {
  if (typeof value !== 'number') throw new TypeError(`${name} must be a number, got ${show(value)}`);
  if (Number.isNaN(value) || ((opts.finite ?? true) && !Number.isFinite(value))) {
    throw new RangeError(`${name} must be a finite number, got ${show(value)}`);
  }
  if (opts.min !== undefined && value < opts.min) {
    throw new RangeError(`${name} must be >= ${opts.min}, got ${show(value)}`);
  }
  return value;
}

export function checkBoolean(name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw new TypeError(`${name} must be a boolean, got ${show(value)}`);
  return value;
}

/** The `paramNdim` option: an integer or null. Its range is checked per parameter. */
export function checkParamNdimType(value: unknown): number | null {
  if (value === null) return null;
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new TypeError(`paramNdim must be an integer or null, got ${show(value)}`);
  }
  return value;
}

/** An integer >= min. A non-integer (1.5, NaN, "2") is the wrong type, as a float paramNdim is. */
export function checkInteger(name: string, value: unknown, min: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) throw new TypeError(`${name} must be an integer, got ${show(value)}`);
  if (value < min) throw new RangeError(`${name} must be >= ${min}, got ${value}`);
  // Beyond 2^53 - 1, x + 1 === x: a counter would stop counting.
  if (value > Number.MAX_SAFE_INTEGER) throw new RangeError(`${name} must be at most 2^53 - 1, got ${value}`);
  return value;
}

/**
 * An options argument: undefined is no options; anything but an object is a
 * TypeError and a key not in `accepted` a RangeError (a typo must not pass silently).
 */
export function checkOptions(where: string, options: unknown, accepted: readonly string[]): Record<string, unknown> {
  if (options === undefined) return {};
  if (typeof options !== 'object' || options === null || Array.isArray(options) || ArrayBuffer.isView(options)) {
    throw new TypeError(`${where}: options must be an object, got ${show(options)}`);
  }
  for (const [k, v] of Object.entries(options)) {
    if (!accepted.includes(k)) throw new RangeError(`${where}: unknown option ${k} (${show(v)}); it accepts ${accepted.join(', ')}`);
  }
  return options as Record<string, unknown>;
}
