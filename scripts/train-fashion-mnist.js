#!/usr/bin/env node
// SPDX-License-Identifier: MIT
'use strict';
/*
 * Trains the small Fashion-MNIST classifier that lp-optim's attack examples
 * and tests use, and writes the sample data they run on.
 *
 *   node scripts/train-fashion-mnist.js [--epochs N] [--data-dir DIR] [--out DIR]
 *
 * Reads the Fashion-MNIST idx files (gzipped or not) from --data-dir, else
 * $FASHION_MNIST_DIR, else Debian's package dataset-fashion-mnist
 * (/usr/share/datasets/fashion-mnist; `apt-get install -y dataset-fashion-mnist`).
 * Trains with @tensorflow/tfjs on its pure-JS CPU backend (a devDependency),
 * and writes, under --out (default: the repository root):
 *
 *   models/fashion-mnist/model.json    tfjs layers model (modelTopology + weightsManifest)
 *   models/fashion-mnist/weights.bin   its float32 weights
 *   data/fashion-mnist/test-images.npy first 1000 test images, uint8 [1000, 28, 28, 1]
 *   data/fashion-mnist/test-labels.npy their labels, int64 [1000]
 *   data/fashion-mnist/README.md       provenance, licence, accuracies
 *
 * The model takes float32 [N, 28, 28, 1] with values in [0, 1] (pixel / 255)
 * and returns 10 logits (no softmax). Everything random is seeded (weight
 * initialisers, the shuffling order), and the CPU backend is deterministic,
 * so a rerun with the same data and tfjs version gives the same weights.
 */
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');
const crypto = require('crypto');
const { execFileSync } = require('child_process');
const { parseArgs } = require('util');

const DEBIAN_DIR = '/usr/share/datasets/fashion-mnist';
const CLASS_NAMES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];
const SAMPLE_COUNT = 1000; // test images written to .npy
const SEED = 20240601;
const BATCH_SIZE = 128;
const LEARNING_RATE = 1e-3;
const DEFAULT_EPOCHS = 4; // ~60-75 s each on tfjs's CPU backend

// ---------------------------------------------------------------- idx files

/** The directories searched for the idx files, in order. */
function candidateDirs(dataDir) {
  const dirs = [];
  if (dataDir) dirs.push(path.resolve(dataDir));
  if (process.env.FASHION_MNIST_DIR) dirs.push(path.resolve(process.env.FASHION_MNIST_DIR));
  dirs.push(DEBIAN_DIR);
  return [...new Set(dirs)];
}

/** Finds `<base>` or `<base>.gz` in the first directory holding all four files. */
function locateIdxFiles(dataDir) {
  const bases = ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'];
  const dirs = candidateDirs(dataDir);
  for (const dir of dirs) {
    const found = bases.map((b) => [path.join(dir, b), path.join(dir, `${b}.gz`)].find((f) => fs.existsSync(f)));
    if (found.every(Boolean)) {
      const [trainImages, trainLabels, testImages, testLabels] = found;
      return { dir, trainImages, trainLabels, testImages, testLabels };
    }
  }
  throw new Error(
    `Fashion-MNIST idx files not found. Looked for ${bases.map((b) => `${b}[.gz]`).join(', ')} in:\n` +
      dirs.map((d) => `  ${d}\n`).join('') +
      'Install them with `apt-get install -y dataset-fashion-mnist` (Debian/Ubuntu), ' +
      'or pass --data-dir DIR (or set FASHION_MNIST_DIR) to a directory holding them.',
  );
}

/** Reads an idx file of unsigned bytes (gunzipping if it starts with the gzip magic): { dims, data }. */
function readIdx(file) {
  let buf = fs.readFileSync(file);
  if (buf[0] === 0x1f && buf[1] === 0x8b) buf = zlib.gunzipSync(buf);
  // Header: two zero bytes, the type code (0x08 = unsigned byte), the number of dimensions, then each dimension as a big-endian uint32.
  if (buf[0] !== 0 || buf[1] !== 0 || buf[2] !== 0x08) throw new Error(`${file}: not an idx file of unsigned bytes`);
  const ndim = buf[3];
  const dims = [];
  for (let i = 0; i < ndim; i++) dims.push(buf.readUInt32BE(4 + 4 * i));
  const offset = 4 + 4 * ndim;
  const size = dims.reduce((a, b) => a * b, 1);
  if (buf.length !== offset + size) throw new Error(`${file}: expected ${size} data bytes for dims [${dims}], found ${buf.length - offset}`);
  return { dims, data: new Uint8Array(buf.buffer, buf.byteOffset + offset, size) };
}

function loadSplit(imagesFile, labelsFile) {
  const images = readIdx(imagesFile);
  const labels = readIdx(labelsFile);
  if (images.dims.length !== 3 || images.dims[1] !== 28 || images.dims[2] !== 28) throw new Error(`${imagesFile}: expected [N, 28, 28] images, found [${images.dims}]`);
  if (labels.dims.length !== 1 || labels.dims[0] !== images.dims[0]) throw new Error(`${labelsFile}: expected [${images.dims[0]}] labels, found [${labels.dims}]`);
  return { count: images.dims[0], images: images.data, labels: labels.data };
}

// ---------------------------------------------------------------- .npy

/**
 * Serialises a C-order array as a NumPy .npy file, format version 1.0:
 * the magic "\x93NUMPY", version bytes 1 0, the header length (uint16 LE),
 * then an ASCII Python dict literal padded with spaces and ended by '\n' so
 * that the data start at a multiple of 64 bytes, then the raw data.
 * `descr` is the NumPy dtype string, e.g. '|u1' (uint8) or '<i8' (int64 LE).
 */
function npyBytes(descr, shape, typedArray) {
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const unpadded = 10 + header.length + 1; // magic (6) + version (2) + length (2) + header + '\n'
  header += ' '.repeat((64 - (unpadded % 64)) % 64) + '\n';
  const preamble = Buffer.alloc(10);
  preamble.write('\x93NUMPY', 0, 'latin1');
  preamble[6] = 1; // major version
  preamble[7] = 0; // minor version
  preamble.writeUInt16LE(header.length, 8);
  const data = Buffer.from(typedArray.buffer, typedArray.byteOffset, typedArray.byteLength); // host order: little-endian on every platform Node runs on
  return Buffer.concat([preamble, Buffer.from(header, 'latin1'), data]);
}

// ---------------------------------------------------------------- model

/** mulberry32: a small seeded PRNG for the shuffling order (tfjs's own fit() shuffles with Math.random). */
function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * An MLP: flatten -> dense 128 relu -> dense 64 relu -> dense 10 (logits).
 * (Convolutions would be more accurate but train ~10x slower on tfjs's pure-JS
 * CPU backend; this fits the few-minute budget and the < 1 MB size goal.)
 */
function buildModel(tf) {
  const init = (i) => tf.initializers.glorotUniform({ seed: SEED + i });
  const model = tf.sequential({ name: 'fashion_mnist_mlp' });
  model.add(tf.layers.flatten({ inputShape: [28, 28, 1], name: 'flatten' }));
  model.add(tf.layers.dense({ units: 128, activation: 'relu', kernelInitializer: init(1), name: 'dense_1' }));
  model.add(tf.layers.dense({ units: 64, activation: 'relu', kernelInitializer: init(2), name: 'dense_2' }));
  model.add(tf.layers.dense({ units: 10, kernelInitializer: init(3), name: 'logits' }));
  return model;
}

/** The float32 batch (pixel / 255) and one-hot labels of split samples `indices`. */
function batchTensors(tf, split, indices) {
  const x = new Float32Array(indices.length * 784);
  const y = new Int32Array(indices.length);
  indices.forEach((s, i) => {
    const img = split.images.subarray(s * 784, (s + 1) * 784);
    for (let p = 0; p < 784; p++) x[i * 784 + p] = img[p] / 255;
    y[i] = split.labels[s];
  });
  return { x: tf.tensor4d(x, [indices.length, 28, 28, 1]), y: tf.oneHot(tf.tensor1d(y, 'int32'), 10) };
}

/** The predicted classes of the first `count` samples of a split. */
function predictClasses(tf, model, split, count) {
  const out = new Int32Array(count);
  for (let start = 0; start < count; start += 1000) {
    const idx = Array.from({ length: Math.min(1000, count - start) }, (_, i) => start + i);
    const pred = tf.tidy(() => model.predict(batchTensors(tf, split, idx).x).argMax(-1).dataSync());
    out.set(pred, start);
  }
  return out;
}

function accuracy(pred, labels, count) {
  let ok = 0;
  for (let i = 0; i < count; i++) if (pred[i] === labels[i]) ok++;
  return ok / count;
}

/** Saves a layers model as model.json + weights.bin (tfjs without tfjs-node cannot write files itself). */
async function saveModel(tf, model, dir) {
  fs.mkdirSync(dir, { recursive: true });
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const weightData = Buffer.from(tf.io.CompositeArrayBuffer.join(artifacts.weightData));
      const modelJson = {
        format: artifacts.format,
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy ?? null,
        modelTopology: artifacts.modelTopology,
        weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs }],
      };
      fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(modelJson));
      fs.writeFileSync(path.join(dir, 'weights.bin'), weightData);
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON', weightDataBytes: weightData.length } };
    }),
  );
}

// ---------------------------------------------------------------- README

const sha256 = (file) => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
const pct = (a) => `${(100 * a).toFixed(2)} %`;

function debianVersion() {
  try {
    return execFileSync('dpkg-query', ['-W', '-f=${Version}', 'dataset-fashion-mnist'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

function readme(info) {
  const rel = (f) => path.relative(info.outRoot, f).split(path.sep).join('/');
  const source = info.files.dir === DEBIAN_DIR
    ? `Debian's package \`dataset-fashion-mnist\`${info.debVersion ? ` (version ${info.debVersion})` : ''}, which installs the upstream idx files in \`${DEBIAN_DIR}\``
    : `the Fashion-MNIST idx files in \`${info.files.dir}\``;
  const counts = CLASS_NAMES.map((_, c) => info.sampleLabels.filter((l) => l === c).length);
  return `# Fashion-MNIST sample for lp-optim

A small, fixed slice of the [Fashion-MNIST](https://github.com/zalandoresearch/fashion-mnist)
test set and a classifier trained on its training set, for lp-optim's
adversarial-attack examples and tests.

| File | Content |
| --- | --- |
| \`test-images.npy\` | the first ${SAMPLE_COUNT} images of the test set (\`t10k-images-idx3-ubyte\`), in file order: NumPy .npy v1.0, dtype uint8 (\`'|u1'\`), shape (${SAMPLE_COUNT}, 28, 28, 1), pixel values 0-255 (0 = background) |
| \`test-labels.npy\` | their labels (\`t10k-labels-idx1-ubyte\`): NumPy .npy v1.0, dtype int64 (\`'<i8'\`), shape (${SAMPLE_COUNT},) |
| \`../../models/fashion-mnist/model.json\`, \`weights.bin\` | TensorFlow.js layers model (see below) |

Labels: ${CLASS_NAMES.map((n, c) => `${c} ${n}`).join(', ')}.
Class counts among these ${SAMPLE_COUNT}: ${counts.map((n, c) => `${c}: ${n}`).join(', ')}.

## Source and licence

The images and labels are Fashion-MNIST by Zalando SE (Han Xiao, Kashif Rasul,
Roland Vollgraf, *Fashion-MNIST: a Novel Image Dataset for Benchmarking Machine
Learning Algorithms*, arXiv:1708.07747, 2017), read from ${source}.
Fashion-MNIST is distributed under the MIT licence; the Debian package states
it in \`/usr/share/doc/dataset-fashion-mnist/copyright\` ("Copyright: 2017,
Zalando SE", "License: Expat"), and upstream's README gives it as:

> The MIT License (MIT) Copyright © [2017] Zalando SE, https://tech.zalando.com
>
> Permission is hereby granted, free of charge, to any person obtaining a copy of
> this software and associated documentation files (the “Software”), to deal in
> the Software without restriction, including without limitation the rights to
> use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies of
> the Software, and to permit persons to whom the Software is furnished to do so,
> subject to the following conditions:
>
> The above copyright notice and this permission notice shall be included in all
> copies or substantial portions of the Software.
>
> THE SOFTWARE IS PROVIDED “AS IS”, WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
> IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS
> FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR
> COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN
> AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION
> WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.

The model's weights are derived from the training set under the same licence.

## How the files were made

All four files (and this README) are written by
\`node scripts/train-fashion-mnist.js\` (in this repository), which

1. reads the four idx files (gunzipping them if compressed), checking their headers;
2. copies the first ${SAMPLE_COUNT} test images and labels unchanged into the two .npy files;
3. trains, with @tensorflow/tfjs ${info.tfVersion} on its CPU backend, an MLP on all
   60,000 training images (pixel / 255): Flatten → Dense 128 ReLU → Dense 64 ReLU
   → Dense 10 (logits, no softmax); Glorot-uniform initialisers with fixed seeds,
   softmax cross-entropy, Adam (learning rate ${LEARNING_RATE}), batch size ${BATCH_SIZE},
   ${info.epochs} epochs, shuffled each epoch by a seeded PRNG;
4. evaluates it on the test set and saves it as a tfjs layers model.

Test accuracy of the model (argmax of the logits on pixel / 255):

| Images | Accuracy |
| --- | --- |
| all 10,000 test images | ${pct(info.accAll)} |
| the ${SAMPLE_COUNT} in \`test-images.npy\` | ${pct(info.accSample)} |

The model takes float32 input of shape [N, 28, 28, 1] with values in [0, 1]
(so divide the uint8 images by 255) and returns logits of shape [N, 10].

Source files read (SHA-256):

${Object.entries(info.sourceHashes).map(([f, h]) => `- \`${f}\`: \`${h}\``).join('\n')}

Files written (SHA-256):

${info.outputs.map((f) => `- \`${rel(f)}\`: \`${sha256(f)}\``).join('\n')}
`;
}

// ---------------------------------------------------------------- main

async function main() {
  const { values: args } = parseArgs({
    options: {
      epochs: { type: 'string', default: String(DEFAULT_EPOCHS) },
      'data-dir': { type: 'string' },
      out: { type: 'string', default: path.join(__dirname, '..') },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (args.help) {
    console.log('usage: node scripts/train-fashion-mnist.js [--epochs N] [--data-dir DIR] [--out DIR]');
    return;
  }
  const epochs = Number(args.epochs);
  if (!Number.isInteger(epochs) || epochs < 1) throw new Error(`--epochs: expected a positive integer, got ${args.epochs}`);
  const outRoot = path.resolve(args.out);

  const files = locateIdxFiles(args['data-dir']);
  console.log(`reading Fashion-MNIST from ${files.dir}`);
  const train = loadSplit(files.trainImages, files.trainLabels);
  const test = loadSplit(files.testImages, files.testLabels);
  console.log(`train: ${train.count} images, test: ${test.count} images`);

  const tf = require('@tensorflow/tfjs');
  tf.enableProdMode(); // skips debug checks (and the banner suggesting tfjs-node)
  await tf.setBackend('cpu');
  await tf.ready();

  const model = buildModel(tf);
  const optimizer = tf.train.adam(LEARNING_RATE);
  const random = mulberry32(SEED);
  const order = Array.from({ length: train.count }, (_, i) => i);
  let pred; // test-set predictions after the latest epoch
  const t0 = Date.now();
  for (let epoch = 1; epoch <= epochs; epoch++) {
    for (let i = order.length - 1; i > 0; i--) {
      // Fisher-Yates shuffle with the seeded PRNG
      const j = Math.floor(random() * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
    let lossSum = 0;
    let steps = 0;
    for (let start = 0; start < order.length; start += BATCH_SIZE) {
      const indices = order.slice(start, start + BATCH_SIZE);
      const loss = tf.tidy(() => {
        const { x, y } = batchTensors(tf, train, indices);
        return optimizer.minimize(() => tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true })), true);
      });
      lossSum += loss.dataSync()[0];
      loss.dispose();
      steps++;
    }
    pred = predictClasses(tf, model, test, test.count);
    const testAcc = accuracy(pred, test.labels, test.count);
    console.log(`epoch ${epoch}/${epochs}: mean loss ${(lossSum / steps).toFixed(4)}, test accuracy ${pct(testAcc)}, ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
  const trainSeconds = (Date.now() - t0) / 1000;

  const accAll = accuracy(pred, test.labels, test.count);
  const accSample = accuracy(pred, test.labels, SAMPLE_COUNT);

  const modelDir = path.join(outRoot, 'models', 'fashion-mnist');
  const dataDir = path.join(outRoot, 'data', 'fashion-mnist');
  await saveModel(tf, model, modelDir);
  fs.mkdirSync(dataDir, { recursive: true });
  const imagesFile = path.join(dataDir, 'test-images.npy');
  const labelsFile = path.join(dataDir, 'test-labels.npy');
  fs.writeFileSync(imagesFile, npyBytes('|u1', [SAMPLE_COUNT, 28, 28, 1], test.images.slice(0, SAMPLE_COUNT * 784)));
  const sampleLabels = Array.from(test.labels.subarray(0, SAMPLE_COUNT));
  fs.writeFileSync(labelsFile, npyBytes('<i8', [SAMPLE_COUNT], BigInt64Array.from(sampleLabels, BigInt)));

  const sourceHashes = {};
  for (const f of [files.trainImages, files.trainLabels, files.testImages, files.testLabels]) sourceHashes[f] = sha256(f);
  const outputs = [path.join(modelDir, 'model.json'), path.join(modelDir, 'weights.bin'), imagesFile, labelsFile];
  fs.writeFileSync(
    path.join(dataDir, 'README.md'),
    readme({ outRoot, files, debVersion: files.dir === DEBIAN_DIR ? debianVersion() : null, tfVersion: tf.version.tfjs, epochs, accAll, accSample, sampleLabels, sourceHashes, outputs }),
  );

  console.log(`trained in ${trainSeconds.toFixed(1)} s; test accuracy ${pct(accAll)} (all ${test.count}), ${pct(accSample)} (first ${SAMPLE_COUNT})`);
  for (const f of [...outputs, path.join(dataDir, 'README.md')]) console.log(`wrote ${path.relative(process.cwd(), f)} (${fs.statSync(f).size} bytes)`);
}

main().catch((e) => {
  console.error(`train-fashion-mnist: ${e.message}`);
  process.exit(1);
});
