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
