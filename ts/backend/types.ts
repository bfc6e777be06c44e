// SPDX-License-Identifier: MIT
// The one interface every kernel backend (native addon, WebAssembly)
// implements. Optimizers only ever talk to this interface.
import { DType, FloatArray } from '../types';
import { GroupTensor } from './groupStep';

export type BackendName = 'native' | 'wasm';

/** torch.optim.SGD's options, as the SGD kernel takes them. */
export interface SgdKernelOptions {
  lr: number;
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov: boolean;
  maximize: boolean;
}

/** torch.optim.Adam / AdamW's options, plus the per-step scalars computed in double by the caller. */
export interface AdamKernelOptions {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** AdamW: p *= 1 - lr * weightDecay before the update, instead of adding weightDecay * p to the gradient. */
  decoupledWeightDecay: boolean;
  amsgrad: boolean;
  maximize: boolean;
  /** lr / (1 - beta1^t) */
  stepSize: number;
  /** sqrt(1 - beta2^t) */
  biasCorrection2Sqrt: number;
}

/** torch.optim.RMSprop's options. */
export interface RmspropKernelOptions {
  lr: number;
  alpha: number;
  eps: number;
  weightDecay: number;
  momentum: number;
  centered: boolean;
  maximize: boolean;
}

/** torch.optim.Adagrad's options, with the step's decayed learning rate computed by the caller. */
export interface AdagradKernelOptions {
  /** lr / (1 + (t - 1) * lrDecay) */
  clr: number;
  weightDecay: number;
  eps: number;
  maximize: boolean;
}

/** What using a released state buffer throws (see StateBuffer.release). */
export const RELEASED_STATE = 'this optimizer state was freed (by dispose(), or replaced by loadStateDict()): it cannot be read or stepped any more';

/**
 * Optimizer state (a momentum buffer, moments...) kept where the backend
 * computes: a typed array for the native backend, a block of the module's
 * linear memory for WebAssembly, so a step never copies it in and out.
 */
export interface StateBuffer {
  readonly dtype: DType;
  readonly length: number;
  /** A copy of the contents, for stateDict(). */
  read(): FloatArray;
  /** Overwrites the contents (same dtype and length), for loadStateDict(). */
  write(src: FloatArray): void;
  /**
   * The contents in place, for the plain-TypeScript path of small steps. In
   * WebAssembly memory this view dies at the next allocation: use it at once.
   */
  live(): FloatArray;
  /**
   * Gives the memory back now (Optimizer.dispose, and loadStateDict for the
   * state it replaces): WebAssembly memory is otherwise freed only after the
   * buffer is collected, between tasks. Any use afterwards throws; releasing
   * twice does nothing.
   */
  release(): void;
}

export interface BackendInfo {
  backend: BackendName;
  /** The instruction set the kernels run with: 'avx512', 'avx2', 'scalar', 'neon', 'wasm-simd128' or 'wasm'. */
  isa: string;
  /** lp-optim's version. */
  version: string;
  /** The file the kernels were loaded from. */
  binary: string;
}

export interface KernelBackend {
  readonly info: BackendInfo;
  /** out[r] = ||x_r||_2 for the rows of a rows x cols view. */
  rowNormsL2(x: FloatArray, rows: number, cols: number, out: FloatArray): void;
  /** g_r /= max(||g_r||_2, divByZeroEps). */
  normalizeRowsL2(g: FloatArray, rows: number, cols: number, divByZeroEps: number): void;
  /** PyTorch's renorm(p=2, dim=0, maxnorm). */
  renormRowsL2(p: FloatArray, rows: number, cols: number, maxNorm: number): void;
  /** g *= scale (if applyScale), then g += bias (if applyBias). */
  scaleBias(g: FloatArray, scale: number, applyScale: boolean, bias: number, applyBias: boolean): void;
  /** One torch.optim.SGD update of p from g; buf is the momentum buffer (null without momentum). */
  sgdStep(p: FloatArray, g: FloatArray, buf: StateBuffer | null, o: SgdKernelOptions, bufferInitialized: boolean): void;
  /** g_r /= max(||g_r||_1, divByZeroEps). */
  normalizeRowsL1(g: FloatArray, rows: number, cols: number, divByZeroEps: number): void;
  /** torch.sign in place: 1, -1, or +0 (for 0, -0 and NaN). */
  signInPlace(g: FloatArray): void;
  /** torch.clamp in place (either bound may be absent; NaN stays NaN). */
  clampInPlace(x: FloatArray, lo: number, hasLo: boolean, hi: number, hasHi: boolean): void;
  /** Per row, keeps the `keep` entries of largest magnitude (ties: lower index first) and zeroes the rest. */
  topQRows(g: FloatArray, rows: number, cols: number, keep: number): void;
  /**
   * L1qNormedGradientOptim's transform per row, the row kept in cache:
   * topQRows, signInPlace, then division by max(count of nonzero signs,
   * divByZeroEps). The same bits as those three kernels (with
   * normalizeRowsL1) for rows under 2^24 entries in float32 (2^53 in
   * float64), where that count is exactly the L1 norm they sum.
   */
  topQSignL1Rows(g: FloatArray, rows: number, cols: number, keep: number, divByZeroEps: number): void;
  /** L1FrankWolfe's linear minimisation oracle per row: sign at the entry of largest magnitude, 0 elsewhere. */
  l1LmoRows(g: FloatArray, rows: number, cols: number): void;
  /** One FrankWolfe update: p = p * (1 - alpha) - (alpha * lmoScale) * g. */
  frankWolfeStep(p: FloatArray, g: FloatArray, alpha: number, lmoScale: number): void;
  /** One Adam/AdamW update; maxExpAvgSq only with amsgrad. */
  adamStep(p: FloatArray, g: FloatArray, expAvg: StateBuffer, expAvgSq: StateBuffer, maxExpAvgSq: StateBuffer | null, o: AdamKernelOptions): void;
  /** One RMSprop update; gradAvg only when centered, momentumBuffer only with momentum > 0. */
  rmspropStep(p: FloatArray, g: FloatArray, squareAvg: StateBuffer, gradAvg: StateBuffer | null, momentumBuffer: StateBuffer | null, o: RmspropKernelOptions): void;
  /** One Adagrad update. */
  adagradStep(p: FloatArray, g: FloatArray, sum: StateBuffer, o: AdagradKernelOptions): void;
  /**
   * One fused step over a param group's tensors with gradients (see
   * groupStep.ts); spec and tensorSpec come from groupSpec() and tensorSpec().
   */
  groupStep(spec: Float64Array, tensors: GroupTensor[]): void;
  /**
   * Runs record() and the kernel calls it makes: where the backend can
   * (native), they are recorded, checked, and then run in order off the
   * JavaScript thread, resolving when done; elsewhere they run at once. A
   * call whose arguments are wrong rejects, with none of them run (native).
   * record() must not read what the calls write: it runs before them.
   */
  runAsync(record: () => void): Promise<void>;
  /** renormRowsL2 with one radius per row. */
  renormRowsL2PerRow(p: FloatArray, rows: number, cols: number, maxNorms: Float64Array): void;
  /** Threads a group step may use (1 for WebAssembly). */
  setNumThreads(n: number): void;
  /**
   * A zero-filled state buffer. `neighbours` are the arrays the kernels stream
   * beside it (the parameter's data first, then its gradient and other state):
   * where the backend can, the buffer starts on the parameter's offset within
   * a cache line and, if large, far from the others within a page (placement.ts).
   */
  allocState(dtype: DType, length: number, neighbours?: readonly (FloatArray | null | undefined)[]): StateBuffer;
  /**
   * A zero-filled array in the memory this backend computes in (allocArray):
   * on WebAssembly a view of the module's memory, stepped without copies.
   */
  allocArray(dtype: DType, length: number): FloatArray;
}
