// SPDX-License-Identifier: MIT
// The one loader: tries each backend in order, records why each attempt
// failed, and throws one error listing them all when none loads.
//
// Order: the native addon (build/Release, then a prebuild in prebuilds/, in
// node-gyp-build's order; or the file named by LP_OPTIM_NATIVE_PATH), then the
// WebAssembly module with SIMD, then the baseline WebAssembly module (V8
// runs wasm SIMD only on CPUs with SSE4.1).
//
// Environment: LP_OPTIM_BACKEND=native|wasm forces a backend;
// LP_OPTIM_FORCE_ISA=<isa> forces an instruction set (scalar, avx2, avx512,
// neon for native; wasm-simd128, wasm for WebAssembly) and with it its backend.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { show } from '../errors';
import { NativeAddon, NativeBackend } from './native';
import { BackendInfo, BackendName, KernelBackend } from './types';
import { WasmBackend } from './wasm';

/** The package root: this file is ts/backend/loader.ts or dist/backend/loader.js. */
const PACKAGE_ROOT = path.resolve(__dirname, '..', '..');

const NATIVE_ISAS = ['avx512', 'avx2', 'scalar', 'neon'];
const WASM_ISAS = ['wasm-simd128', 'wasm'];

interface Attempt {
  attempt: string;
  path: string;
  reason: string;
}

function reasonOf(err: unknown): string {
  // Never assume an error has a .code (a WebAssembly CompileError has none).
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    const first = err.message.split('\n')[0];
    return typeof code === 'string' ? `${code}: ${first}` : `${err.name}: ${first}`;
  }
  return String(err);
}

function packageVersion(): string {
  const pkg = JSON.parse(fs.readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

function loadNative(forcedIsa: string | undefined, attempts: Attempt[]): KernelBackend | null {
  const override = process.env.LP_OPTIM_NATIVE_PATH;
  let addon: NativeAddon;
  let file: string;
  try {
    if (override) {
      file = path.resolve(override);
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      addon = require(file) as NativeAddon;
    } else {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const nodeGypBuild = require('node-gyp-build') as { (dir: string): unknown; resolve(dir: string): string };
      file = nodeGypBuild.resolve(PACKAGE_ROOT);
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      addon = require(file) as NativeAddon;
    }
  } catch (err) {
    attempts.push({ attempt: 'native addon', path: override ?? path.join(PACKAGE_ROOT, '{prebuilds,build/Release}'), reason: reasonOf(err) });
    return null;
  }
  const expected = packageVersion();
  if (typeof addon.version !== 'function' || addon.version() !== expected) {
    const got = typeof addon.version === 'function' ? addon.version() : 'unknown';
    attempts.push({ attempt: 'native addon', path: file, reason: `stale build: addon version ${got}, package version ${expected} (rebuild with npm run build:native)` });
    return null;
  }
  if (forcedIsa) {
    try {
      addon.setIsa(forcedIsa);
    } catch (err) {
      attempts.push({ attempt: `native addon with LP_OPTIM_FORCE_ISA=${forcedIsa}`, path: file, reason: reasonOf(err) });
      return null;
    }
  }
  return new NativeBackend(addon, file);
}

function loadWasm(forcedIsa: string | undefined, attempts: Attempt[]): KernelBackend | null {
  // Each module with its shared-memory build (for allocArray).
  const candidates: [string, string, string][] = [
    ['wasm-simd128', path.join(PACKAGE_ROOT, 'wasm', 'lp_optim_simd.wasm'), path.join(PACKAGE_ROOT, 'wasm', 'lp_optim_simd_shared.wasm')],
    ['wasm', path.join(PACKAGE_ROOT, 'wasm', 'lp_optim.wasm'), path.join(PACKAGE_ROOT, 'wasm', 'lp_optim_shared.wasm')],
  ];
  for (const [isa, file, sharedFile] of candidates) {
    if (forcedIsa && forcedIsa !== isa) continue;
    try {
      return new WasmBackend(file, sharedFile, packageVersion());
    } catch (err) {
      attempts.push({ attempt: `WebAssembly (${isa})`, path: file, reason: reasonOf(err) });
    }
  }
  return null;
}

function loadFailure(wanted: string, attempts: Attempt[]): Error {
  const lines = attempts.map((a) => `  - ${a.attempt} [${a.path}]: ${a.reason}`);
  return new Error(
    `lp-optim could not load ${wanted}. Attempts:\n${lines.join('\n')}\n` +
      'Possible fixes: run `npm rebuild lp-optim` to compile the addon, or unset LP_OPTIM_BACKEND / LP_OPTIM_FORCE_ISA to allow the WebAssembly fallback.',
  );
}

function checkedName(name: unknown, where: string): BackendName {
  if (name !== 'native' && name !== 'wasm') {
    // A name that is not a string is the wrong type (API.md's conventions); a string, the wrong value.
    const Err = typeof name === 'string' ? RangeError : TypeError;
    throw new Err(`${where} must be 'native' or 'wasm', got ${show(name)}`);
  }
  return name;
}

/** Which backend and ISA the environment asks for (validated). */
function requestFromEnv(): { backend?: BackendName; isa?: string } {
  const envBackend = process.env.LP_OPTIM_BACKEND || undefined;
  const isa = process.env.LP_OPTIM_FORCE_ISA || undefined;
  const backend = envBackend === undefined ? undefined : checkedName(envBackend, 'LP_OPTIM_BACKEND');
  if (isa === undefined) return { backend };
  const owner: BackendName | undefined = NATIVE_ISAS.includes(isa) ? 'native' : WASM_ISAS.includes(isa) ? 'wasm' : undefined;
  if (!owner) {
    throw new RangeError(`LP_OPTIM_FORCE_ISA must be one of ${[...NATIVE_ISAS, ...WASM_ISAS].join(', ')}, got ${show(isa)}`);
  }
  if (backend && backend !== owner) {
    throw new RangeError(`LP_OPTIM_FORCE_ISA=${isa} is a ${owner} instruction set, but LP_OPTIM_BACKEND=${backend}`);
  }
  return { backend: owner, isa };
}

const loaded = new Map<BackendName, KernelBackend>();
// Threads for the native backend's group steps (the machine's cores unless set).
let numThreads = Math.max(1, typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length);
let current: KernelBackend | null = null;

/** Loads one backend by name (cached); throws the list of attempts when it cannot. */
function loadBackend(name: BackendName): KernelBackend {
  const cached = loaded.get(name);
  if (cached) return cached;
  const { isa } = requestFromEnv();
  const attempts: Attempt[] = [];
  const forced = isa && (name === 'native' ? NATIVE_ISAS : WASM_ISAS).includes(isa) ? isa : undefined;
  const backend = name === 'native' ? loadNative(forced, attempts) : loadWasm(forced, attempts);
  if (!backend) throw loadFailure(`the ${name} backend`, attempts);
  backend.setNumThreads(numThreads);
  loaded.set(name, backend);
  return backend;
}

/** The backend new optimizers use: chosen on first use from the environment, else native, else wasm. */
export function currentBackend(): KernelBackend {
  if (current) return current;
  const { backend } = requestFromEnv();
  if (backend) {
    current = loadBackend(backend);
    return current;
  }
  const errors: string[] = [];
  for (const name of ['native', 'wasm'] as BackendName[]) {
    try {
      current = loadBackend(name);
      return current;
    } catch (err) {
      errors.push((err as Error).message);
    }
  }
  throw new Error(`lp-optim could not load any backend.\n${errors.join('\n')}`);
}

/** 'native' or 'wasm': the backend that optimizers created now will use. */
export function getBackend(): BackendName {
  return currentBackend().info.backend;
}

/**
 * Switches the backend for optimizers created from now on (an existing
 * optimizer keeps its own). Synchronous; throws, changing nothing, when the
 * backend cannot be loaded.
 */
export function setBackend(name: BackendName | (string & {})): void {
  current = loadBackend(checkedName(name, 'setBackend(name)'));
}

/** Which backend, instruction set, version and binary are running. */
export function backendInfo(): BackendInfo {
  return { ...currentBackend().info };
}

/** The backends that load on this machine (used by the tests to compare them). */
export function availableBackends(): BackendName[] {
  const names: BackendName[] = [];
  for (const name of ['native', 'wasm'] as BackendName[]) {
    try {
      loadBackend(name);
      names.push(name);
    } catch {
      // not available here: the caller only wants the ones that load
    }
  }
  return names;
}

/** For tests: the kernel object of a named backend. */
export function backendByName(name: BackendName): KernelBackend {
  return loadBackend(checkedName(name, 'backend name'));
}

/**
 * The threads a native group step may use, as torch.set_num_threads: an
 * integer >= 1 (default: the machine's cores). Steps of groups under 256K
 * elements use one thread whatever this says; WebAssembly always uses one.
 */
export function setNumThreads(n: number): void {
  if (typeof n !== 'number' || !Number.isInteger(n)) throw new TypeError(`setNumThreads(n): n must be an integer, got ${show(n)}`);
  if (n < 1 || n > 1024) throw new RangeError(`setNumThreads(n): n must be between 1 and 1024, got ${n}`);
  numThreads = n;
  for (const b of loaded.values()) b.setNumThreads(n);
}

/** The threads a native group step may use. */
export function getNumThreads(): number {
  return numThreads;
}
