// SPDX-License-Identifier: MIT
// The CLI's TensorFlow.js side: loads @tensorflow/tfjs (an optional peer dependency) and a layers model from disk, checks it against the images, and predicts classes.
import * as fs from 'fs';
import * as path from 'path';
import type * as tfjs from '@tensorflow/tfjs';
import { UsageError } from './usageError';

export type Tf = typeof tfjs;

/** Raised when @tensorflow/tfjs cannot be loaded: not a bad input, so the CLI exits with status 1. */
export class MissingDependencyError extends Error {}

/** The TensorFlow.js backends the CLI can run the model on (--tf-backend); auto: wasm where it loads, else cpu. */
export type TfBackendChoice = 'auto' | 'wasm' | 'cpu';

/** The MODULE_NOT_FOUND of `name` itself (not of something it requires). */
function isMissing(e: unknown, name: string): boolean {
  const err = e as NodeJS.ErrnoException;
  return err?.code === 'MODULE_NOT_FOUND' && typeof err.message === 'string' && err.message.includes(`'${name}'`);
}

/**
 * require('@tensorflow/tfjs') on the backend asked for, without its "install
 * tfjs-node" banner. The wasm backend (@tensorflow/tfjs-backend-wasm, an
 * optional peer dependency: XNNPACK kernels in WebAssembly with SIMD) runs the
 * shipped model's forward and backward about 7x faster than the plain
 * JavaScript cpu backend. auto takes it when it is installed and initialises,
 * else cpu; asked for by name, its absence is an error.
 */
export async function loadTfjs(choice: TfBackendChoice = 'auto'): Promise<{ tf: Tf; backend: 'wasm' | 'cpu' }> {
  let tf: Tf;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    tf = require('@tensorflow/tfjs') as Tf;
  } catch (e) {
    if (isMissing(e, '@tensorflow/tfjs')) {
      throw new MissingDependencyError('lp-optim attack needs @tensorflow/tfjs, which is not installed: run npm install @tensorflow/tfjs');
    }
    throw e;
  }
  // Production mode only skips debug checks and the console banner suggesting tfjs-node.
  tf.enableProdMode();
  if (choice !== 'cpu') {
    let why = '';
    try {
      // Registers the 'wasm' backend with the @tensorflow/tfjs-core it resolves.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      require('@tensorflow/tfjs-backend-wasm');
      // false (with tfjs's own warning) when the module fails to initialise.
      if (await tf.setBackend('wasm')) return { tf, backend: 'wasm' };
      why = 'it failed to initialise';
    } catch (e) {
      if (!isMissing(e, '@tensorflow/tfjs-backend-wasm')) why = (e as Error).message;
      else if (choice === 'wasm') {
        throw new MissingDependencyError('--tf-backend wasm needs @tensorflow/tfjs-backend-wasm, which is not installed: run npm install @tensorflow/tfjs-backend-wasm');
      }
    }
    if (choice === 'wasm') throw new MissingDependencyError(`--tf-backend wasm: TensorFlow.js's wasm backend cannot run here (${why})`);
  }
  await tf.setBackend('cpu');
  return { tf, backend: 'cpu' };
}

/** A tfjs model.json: the parts read here. */
interface ModelJson {
  format?: string;
  modelTopology?: object;
  weightsManifest?: { paths: string[]; weights: tfjs.io.WeightsManifestEntry[] }[];
}

/**
 * Loads a layers model from model.json and the weight files its
 * weightsManifest names (paths relative to model.json), through
 * tf.io.fromMemory: tfjs (without tfjs-node) cannot read files itself.
 */
export async function loadLayersModelFromDisk(tf: Tf, modelPath: string): Promise<tfjs.LayersModel> {
  const what = `--model ${modelPath}`;
  let text: string;
  try {
    text = fs.readFileSync(modelPath, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new UsageError(`${what}: file not found`);
    if (code === 'EISDIR') throw new UsageError(`${what}: is a directory; give the path of its model.json`);
    throw new UsageError(`${what}: cannot be read (${(e as Error).message})`);
  }
  let json: ModelJson;
  try {
    json = JSON.parse(text) as ModelJson;
  } catch (e) {
    throw new UsageError(`${what}: not valid JSON (${(e as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || typeof json.modelTopology !== 'object' || json.modelTopology === null) {
    throw new UsageError(`${what}: not a TensorFlow.js model.json (no modelTopology)`);
  }
  if (json.format === 'graph-model') throw new UsageError(`${what}: is a graph model; lp-optim attack needs a layers model (tf.LayersModel.save)`);

  const manifest = json.weightsManifest ?? [];
  if (!Array.isArray(manifest)) throw new UsageError(`${what}: weightsManifest is not a list`);
  const weightSpecs: tfjs.io.WeightsManifestEntry[] = [];
  const chunks: Buffer[] = [];
  for (const group of manifest) {
    if (!group || !Array.isArray(group.paths) || !Array.isArray(group.weights)) throw new UsageError(`${what}: a weightsManifest entry lacks paths or weights`);
    weightSpecs.push(...group.weights);
    for (const relative of group.paths) {
      const weightsFile = path.join(path.dirname(modelPath), relative);
      try {
        chunks.push(fs.readFileSync(weightsFile));
      } catch {
        throw new UsageError(`${what}: its weights file ${weightsFile} cannot be read (missing?)`);
      }
    }
  }
  const all = Buffer.concat(chunks);
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength) as ArrayBuffer;
  try {
    return await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs, weightData }));
  } catch (e) {
    throw new UsageError(`${what}: TensorFlow.js cannot load it (${(e as Error).message})`);
  }
}

const showShape = (shape: readonly (number | null)[]) => `[${shape.map((d) => (d === null || d === -1 ? '?' : d)).join(', ')}]`;

/**
 * Checks that the model takes samples of the images' shape and returns
 * logits [N, classes]; returns the number of classes.
 */
export function checkModelAgainstImages(tf: Tf, model: tfjs.LayersModel, modelPath: string, sampleShape: number[]): number {
  const what = `--model ${modelPath}`;
  if (model.inputs.length !== 1 || model.outputs.length !== 1) {
    throw new UsageError(`${what}: has ${model.inputs.length} inputs and ${model.outputs.length} outputs; lp-optim attack needs one of each`);
  }
  const inputShape = model.inputs[0].shape.slice(1);
  const fits = inputShape.length === sampleShape.length && inputShape.every((d, i) => d === null || d === -1 || d === sampleShape[i]);
  if (!fits) {
    throw new UsageError(`--images: samples of shape ${showShape(sampleShape)} do not fit ${what}, which expects ${showShape(inputShape)}`);
  }
  // The declared output shape, then the real one on one zero sample (which also catches a model that fails to run).
  const declared = model.outputs[0].shape;
  let actual: number[];
  try {
    actual = tf.tidy(() => (model.predict(tf.zeros([1, ...sampleShape])) as tfjs.Tensor).shape);
  } catch (e) {
    throw new UsageError(`${what}: fails on a sample of shape ${showShape(sampleShape)} (${(e as Error).message})`);
  }
  if (declared.length !== 2 || actual.length !== 2 || actual[0] !== 1 || actual[1] < 2) {
    throw new UsageError(`${what}: its output has shape ${showShape(declared)}; lp-optim attack needs logits [N, classes] with at least 2 classes`);
  }
  return actual[1];
}

/** The predicted class (argmax of the logits) of each of the `count` samples starting at sample `start`. */
export function predictClasses(tf: Tf, model: tfjs.LayersModel, values: Float32Array, sampleShape: number[], start: number, count: number): Int32Array {
  const size = sampleShape.reduce((a, b) => a * b, 1);
  return tf.tidy(() => {
    const x = tf.tensor(values.subarray(start * size, (start + count) * size), [count, ...sampleShape], 'float32');
    const logits = model.predict(x) as tfjs.Tensor;
    return Int32Array.from(tf.argMax(logits, -1).dataSync());
  });
}
