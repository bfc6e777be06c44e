#!/usr/bin/env node
// SPDX-License-Identifier: MIT
// `npm run bench`: time per optimizer step of lp-optim on the workloads of the
// speed issue, beside the memory-bandwidth floor measured in the same run, a
// plain-JavaScript loop, PyTorch (when /usr/bin/python3 has torch) and
// TensorFlow.js's wasm backend (when @tensorflow/tfjs-backend-wasm is installed).
// Prints a table and writes BENCHMARKS.md and BENCHMARKS.svg. A benchmark, not
// a test: these machines are shared and noisy, so compare within one run.
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const lp = require('..');

const root = path.join(__dirname, '..');
const quick = process.argv.includes('--quick'); // fewer repetitions, for a smoke run
const attackOnly = process.argv.includes('--attack-share'); // only the attack-share line (a quick check)
const allocChild = process.argv.includes('--alloc-child'); // (internal) the allocArray column, see timeAllocArrays
const cores = Math.max(1, typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length);

// ResNet-18's 62 parameter tensors (11.7M elements).
function resnet18Shapes() {
  const shapes = [[64, 3, 7, 7], [64], [64]];
  const block = (cin, cout, down) => {
    shapes.push([cout, cin, 3, 3], [cout], [cout], [cout, cout, 3, 3], [cout], [cout]);
    if (down) shapes.push([cout, cin, 1, 1], [cout], [cout]);
  };
  block(64, 64, false);
  block(64, 64, false);
  for (const [cin, cout] of [[64, 128], [128, 256], [256, 512]]) {
    block(cin, cout, true);
    block(cout, cout, false);
  }
  shapes.push([1000, 512], [1000]);
  return shapes;
}

const WORKLOADS = [
  { key: 'seed', name: "one 2-element tensor, SGD (the seed's example)", shapes: [[2]], inner: 'SGD', paramNdim: null, bytes: 16, reps: quick ? 2000 : 60000 },
  { key: 'cifar', name: 'CIFAR batch, 256x3x32x32, SGD', shapes: [[256, 3, 32, 32]], inner: 'SGD', bytes: 16, reps: quick ? 5 : 40, evict: true },
  // L-inf PGD, the most common attack, on a batch that fits in the caches.
  { key: 'cifar-linf', name: 'CIFAR batch, L-inf PGD (LinfProjectedOptim, SGD, paramNdim null)', shapes: [[256, 3, 32, 32]], inner: 'SGD', norm: 'linf', paramNdim: null, bytes: 16, reps: quick ? 5 : 40, evict: true },
  // Short rows (a batch attack on tabular data: one row of 20 features per
  // sample), where a step is per-row work rather than memory traffic.
  { key: 'tabular', name: 'tabular batch, 100000x20, SGD', shapes: [[100000, 20]], inner: 'SGD', bytes: 16, reps: quick ? 5 : 40, evict: true },
  { key: 'imagenet', name: 'ImageNet batch, 64x3x224x224, SGD', shapes: [[64, 3, 224, 224]], inner: 'SGD', bytes: 16, reps: quick ? 3 : 15 },
  // L-inf PGD (LinfProjectedOptim: sign, SGD, clamp) with its default paramNdim null:
  // no norm, so one long row per tensor, cut across threads and staged blocks.
  { key: 'imagenet-linf', name: 'ImageNet batch, L-inf PGD (LinfProjectedOptim, SGD, paramNdim null)', shapes: [[64, 3, 224, 224]], inner: 'SGD', norm: 'linf', paramNdim: null, bytes: 16, reps: quick ? 3 : 15 },
  // Sparse L1 PGD (L1qNormedGradientOptim: top-q, sign, L1 normalisation, then SGD):
  // transforms that run as kernels of their own (a selection per row), not fused.
  // freshGrad: each step starts from the workload's gradient again (copied in,
  // untimed), as each step of an attack gets a new one: stepping the last
  // step's output, 90% zeros and the rest one magnitude, would time a
  // selection with nothing left to select.
  { key: 'imagenet-l1q', name: 'ImageNet batch, sparse L1 PGD (L1qNormedGradientOptim, q 0.9, SGD)', shapes: [[64, 3, 224, 224]], inner: 'SGD', norm: 'l1q', freshGrad: true, bytes: 16, reps: quick ? 3 : 15 },
  { key: 'resnet-sgd', name: "ResNet-18's 62 tensors (11.7M), SGD momentum 0.9", shapes: resnet18Shapes(), inner: 'SGDm', bytes: 24, reps: quick ? 3 : 15 },
  { key: 'resnet-adam', name: "ResNet-18's 62 tensors, Adam", shapes: resnet18Shapes(), inner: 'Adam', bytes: 32, reps: quick ? 3 : 15 },
];

/**
 * The workloads marked `evict` fit in the caches, so back-to-back steps find
 * their data there; in a training or attack loop the model's forward and
 * backward run between steps and evict it. Those workloads are also timed
 * (native and the floor, one thread, and PyTorch) with a sweep writing this
 * many bytes before each step, untimed.
 */
const EVICT_BYTES = 64 << 20;

/** A floor whose samples spread more than this (interquartile range over median) marks the run noisy. */
const NOISY_SPREAD = 0.1;

const numel = (shape) => shape.reduce((a, b) => a * b, 1);
const median = (xs) => {
  const s = xs.slice().sort((a, b) => a - b);
  return s[s.length >> 1];
};
/** The interquartile range over the median: how much a runner's samples moved during the run. */
const spread = (xs) => {
  const s = xs.slice().sort((a, b) => a - b);
  return (s[Math.floor((s.length * 3) / 4)] - s[Math.floor(s.length / 4)]) / s[s.length >> 1];
};

/** Calls per timed sample: tiny steps are timed a thousand at a time. */
const batchOf = (reps) => (reps > 1000 ? 1000 : 1);

/**
 * Median milliseconds per call of each runner's fn, the runners timed in
 * interleaved rounds so that the machine's drift during the run falls on all
 * of them alike and their ratios hold. In a round each runner makes one
 * untimed call (its data back in cache, as in a run of steps) and then its
 * share of the timed samples. Each runner first warms up: long for tiny
 * steps (V8 optimising the whole path) and for large ones ten calls and at
 * least a quarter of a second (V8 compiles WebAssembly with its baseline
 * compiler first and tiers hot functions up in the background: a CIFAR-size
 * WebAssembly step took 1.6x its steady time for its first 60 ms). A
 * runner's `before` runs ahead of each of its turns (the thread count), its
 * `prepare` (untimed) ahead of each call of fn.
 */
function timeInterleaved(runners, reps) {
  // (Each runner also keeps its samples, `samples`, and its median per round,
  // `roundMedians`, for the noise lines of BENCHMARKS.md.)
  const batch = batchOf(reps);
  const samples = Math.max(1, Math.round(reps / batch));
  // Tiny steps (batches of calls) take a round per sample: a whole workload
  // of them lasts a few tens of milliseconds, as long as one burst of another
  // tenant's load on these shared machines, which in five rounds took the
  // seed's median from 0.5 to 1 us in one run of three.
  const rounds = batch > 1 ? samples : Math.min(5, samples);
  for (const r of runners) {
    r.before?.();
    const until = performance.now() + (batch > 1 || r.warmUp !== undefined ? 0 : 250);
    for (let i = 0; i < (r.warmUp ?? (batch > 1 ? 100000 : 10)) || performance.now() < until; i++) {
      r.prepare?.();
      r.fn();
    }
    r.samples = [];
    r.roundMedians = [];
  }
  for (let round = 0; round < rounds; round++) {
    const share = Math.ceil((samples * (round + 1)) / rounds) - Math.ceil((samples * round) / rounds);
    for (const r of runners) {
      r.before?.();
      for (let i = 0; i < batch; i++) {
        r.prepare?.();
        r.fn();
      }
      const inRound = [];
      for (let k = 0; k < share; k++) {
        // (A runner with `prepare` is timed a call at a time: batch is 1 for every workload of fewer than 1000 reps.)
        r.prepare?.();
        const t0 = process.hrtime.bigint();
        for (let i = 0; i < batch; i++) r.fn();
        inRound.push(Number(process.hrtime.bigint() - t0) / 1e6 / batch);
      }
      r.samples.push(...inRound);
      if (inRound.length) r.roundMedians.push(median(inRound));
    }
  }
  return Object.fromEntries(runners.map((r) => [r.key, median(r.samples)]));
}

/**
 * Median milliseconds per call of each runner's fn, each call after an
 * untimed sweep writing EVICT_BYTES (see EVICT_BYTES), the runners taking
 * turns call by call.
 */
function timeEvicted(runners, reps) {
  const sweep = new Float64Array(EVICT_BYTES / 8);
  for (const r of runners) {
    r.before?.();
    for (let i = 0; i < 3; i++) r.fn();
    r.samples = [];
  }
  for (let i = 0; i < reps; i++) {
    for (const r of runners) {
      r.before?.();
      for (let k = 0; k < sweep.length; k += 8) sweep[k] += 1; // a write to every cache line
      const t0 = process.hrtime.bigint();
      r.fn();
      r.samples.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
  }
  return Object.fromEntries(runners.map((r) => [r.key, median(r.samples)]));
}

/** Median milliseconds per call of fn alone (see timeInterleaved). */
function timeIt(fn, reps, warmUp) {
  return timeInterleaved([{ key: 'only', fn, warmUp }], reps).only;
}

/** The workload's tensors over ordinary arrays, or (allocated) over arrays from lp.allocArray on the current backend. */
function makeTensors(w, allocated = false) {
  return w.shapes.map((shape) => {
    const n = numel(shape);
    const data = allocated ? lp.allocArray(n) : new Float32Array(n);
    const grad = allocated ? lp.allocArray(n) : new Float32Array(n);
    for (let i = 0; i < n; i++) {
      data[i] = ((i * 2654435761) % 1000) / 1000 - 0.5;
      grad[i] = ((i * 40503) % 977) / 977 - 0.5;
    }
    const t = new lp.Tensor(data, shape);
    t.grad = grad;
    return t;
  });
}

function makeOptimizer(w, tensors) {
  const common = { epsilon: 1, lr: 0.01, paramNdim: w.paramNdim === undefined ? -1 : w.paramNdim };
  if (w.norm === 'linf') return new lp.LinfProjectedOptim(tensors, { epsilon: 0.03, lr: 0.003, paramNdim: w.paramNdim });
  if (w.norm === 'l1q') return new lp.L1qNormedGradientOptim(tensors, { q: 0.9, lr: 0.01, paramNdim: -1 });
  if (w.inner === 'SGD') return new lp.L2ProjectedOptim(tensors, common);
  if (w.inner === 'SGDm') return new lp.L2ProjectedOptim(tensors, { ...common, momentum: 0.9 });
  return new lp.L2ProjectedOptim(tensors, { ...common, InnerOpt: lp.Adam });
}

/** A runner (see timeInterleaved) stepping lp-optim on this backend with this many threads. */
function lpOptimRunner(key, w, backend, threads, allocated = false) {
  lp.setBackend(backend);
  const tensors = makeTensors(w, allocated);
  const opt = makeOptimizer(w, tensors);
  const runner = { key, fn: () => opt.step(), before: () => lp.setNumThreads(threads) };
  if (w.freshGrad) {
    const pristine = tensors.map((t) => t.grad.slice());
    runner.prepare = () => tensors.forEach((t, i) => t.grad.set(pristine[i]));
  }
  return runner;
}

/** A hand-written JavaScript L-inf step (sign, SGD, clamp). */
function plainJsLinfRunner(w) {
  const tensors = makeTensors(w).map((t) => ({ p: t.data, g: t.grad }));
  const lr = 0.003;
  const eps = 0.03;
  const step = () => {
    for (const { p, g } of tensors) {
      for (let j = 0; j < p.length; j++) {
        g[j] = Math.sign(g[j]);
        p[j] = Math.min(eps, Math.max(-eps, p[j] - lr * g[j]));
      }
    }
  };
  return { key: 'js', fn: step };
}

/** A hand-written JavaScript step (normalise, SGD, project), as a user without lp-optim would write it. */
function plainJsRunner(w) {
  const tensors = makeTensors(w).map((t) => ({ p: t.data, g: t.grad, rows: w.paramNdim === null ? 1 : t.shape[0] }));
  const lr = 0.01;
  const eps = 1;
  const step = () => {
    for (const { p, g, rows } of tensors) {
      const cols = p.length / rows;
      for (let r = 0; r < rows; r++) {
        let s = 0;
        for (let j = r * cols; j < (r + 1) * cols; j++) s += g[j] * g[j];
        const n = Math.max(Math.sqrt(s), 1.1754943508222875e-38);
        let q = 0;
        for (let j = r * cols; j < (r + 1) * cols; j++) {
          g[j] /= n;
          p[j] -= lr * g[j];
          q += p[j] * p[j];
        }
        const pn = Math.sqrt(q);
        if (pn > eps) {
          const f = eps / (pn + 1e-7);
          for (let j = r * cols; j < (r + 1) * cols; j++) p[j] *= f;
        }
      }
    }
  };
  return { key: 'js', fn: step };
}

/** The floor: the in-place pattern g *= s; p -= lr * g over the workload's elements, scaled to its bytes per element. */
function floorRunner(key, w, native, threads) {
  const n = w.shapes.reduce((a, s) => a + numel(s), 0);
  const p = new Float32Array(n).fill(0.5);
  const g = new Float32Array(n).fill(0.25);
  return { key, fn: () => native.benchFloor(p, g, 1.0000001, 1e-9, threads), before: () => lp.setNumThreads(threads), scale: w.bytes / 16 };
}

/**
 * TensorFlow.js's wasm backend (@tensorflow/tfjs-backend-wasm, an optional
 * peer like PyTorch): the SGD workloads written with tf ops as a TF.js user
 * would (row norms, divide, update, renorm), the parameter and the
 * transformed gradient kept in tf variables. Its kernels run synchronously,
 * so a step is timed like lp-optim's. Null per workload it does not run.
 */
async function timeTfjsWasm() {
  let tf;
  try {
    tf = require('@tensorflow/tfjs');
    require('@tensorflow/tfjs-backend-wasm');
  } catch {
    return { skipped: '@tensorflow/tfjs-backend-wasm is not installed (npm install --no-save @tensorflow/tfjs-backend-wasm)' };
  }
  tf.env().set('IS_TEST', true); // no "install tfjs-node" banner in the bench output
  if (!(await tf.setBackend('wasm'))) return { skipped: "TensorFlow.js's wasm backend did not initialise" };
  await tf.ready();
  const results = {};
  for (const w of WORKLOADS) {
    if (w.inner !== 'SGD' || w.norm) continue; // (the L2 steps: see the note in BENCHMARKS.md)
    const [t] = makeTensors(w);
    const shape = w.shapes[0];
    const rows = w.paramNdim === null ? 1 : shape[0];
    const p = tf.variable(tf.tensor(t.data, [rows, t.numel / rows]));
    const g = tf.variable(tf.tensor(t.grad, [rows, t.numel / rows]));
    const step = () =>
      tf.tidy(() => {
        const gn = g.div(tf.maximum(tf.norm(g, 'euclidean', 1, true), 1.1754943508222875e-38));
        const next = p.sub(gn.mul(0.01));
        const norm = tf.norm(next, 'euclidean', 1, true);
        const factor = tf.where(norm.greater(1), tf.div(1, norm.add(1e-7)), tf.onesLike(norm));
        g.assign(gn);
        p.assign(next.mul(factor));
      });
    results[w.key] = timeIt(step, w.key === 'seed' ? 2000 : w.reps, w.key === 'seed' ? 2000 : 5);
    p.dispose();
    g.dispose();
  }
  return { version: tf.version.tfjs, results };
}

/**
 * The WebAssembly column with tensors over lp.allocArray arrays, timed in a
 * child process beside native single-threaded steps: the first allocArray
 * call moves the WebAssembly backend to its shared-memory module, after
 * which the staged copies of the plain column would run slower than a
 * process that never calls it does.
 */
function timeAllocArrays() {
  const r = spawnSync(process.execPath, [__filename, '--alloc-child', ...(quick ? ['--quick'] : [])], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) return { skipped: `the allocArray run failed: ${(r.stderr || '').split('\n').slice(-3).join(' ')}` };
  return { results: JSON.parse(r.stdout) };
}

/**
 * The child of timeAllocArrays: prints { [workload]: { native1, wasmAlloc, native1Alloc } } as
 * JSON (native1Alloc: native over allocArray arrays, which start on 64-byte boundaries).
 */
function allocChildMain(native) {
  const out = {};
  for (const w of WORKLOADS) {
    const runners = [lpOptimRunner('wasmAlloc', w, 'wasm', 1, true)];
    if (native) runners.push(lpOptimRunner('native1', w, 'native', 1), lpOptimRunner('native1Alloc', w, 'native', 1, true));
    out[w.key] = timeInterleaved(runners, w.reps);
  }
  process.stdout.write(JSON.stringify(out));
}

function timeTorch() {
  const python = '/usr/bin/python3';
  const probe = spawnSync(python, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
  if (probe.status !== 0) return { skipped: `PyTorch not found (${python} cannot import torch; apt-get install python3-torch)` };
  const r = spawnSync(python, [path.join(__dirname, 'bench_torch.py'), JSON.stringify({ workloads: WORKLOADS, quick, cores, evictBytes: EVICT_BYTES })], {
    encoding: 'utf8',
    maxBuffer: 1 << 24,
  });
  if (r.status !== 0) return { skipped: `PyTorch run failed: ${r.stderr.split('\n').slice(-3).join(' ')}` };
  const out = JSON.parse(r.stdout);
  return { version: probe.stdout.trim(), reference: out.reference, whyNoReference: out.why, results: out.results };
}

/**
 * The share of an attack's time spent in lp-optim against the model's own
 * forward and backward: an L2 PGD attack (20 steps) on 100 shipped
 * Fashion-MNIST test images against the shipped TensorFlow.js model.
 */
async function attackShare() {
  let tf;
  try {
    tf = require('@tensorflow/tfjs');
  } catch {
    return { skipped: '@tensorflow/tfjs is not installed' };
  }
  const { loadLayersModelFromDisk, loadTfjs } = require('../dist/cli/tfModel.js');
  const { readImages, readLabels } = require('../dist/cli/npy.js');
  // The TF.js wasm bench's IS_TEST, set earlier in this process, turns on a
  // per-kernel leak check that fails on the wasm backend's matMul; the CLI runs without it.
  tf.env().set('IS_TEST', false);
  // The model on the backend `lp-optim attack` picks by default (wasm where installed), as it picks it.
  const { backend: tfBackend } = await loadTfjs('auto');
  const model = await loadLayersModelFromDisk(tf, path.join(root, 'models', 'fashion-mnist', 'model.json'));
  const images = readImages(path.join(root, 'data', 'fashion-mnist', 'test-images.npy'), [0, 1]);
  const n = 100;
  const size = images.values.length / images.shape[0];
  const data = new lp.Tensor(images.values.slice(0, n * size), [n, ...images.shape.slice(1)]);
  const labels = Array.from(readLabels(path.join(root, 'data', 'fashion-mnist', 'test-labels.npy'), images.shape[0]).slice(0, n));
  const inner = lp.tfjsLossAndGrad(tf, model);
  let modelMs = 0;
  const lossAndGrad = (x, t) => {
    const t0 = process.hrtime.bigint();
    const r = inner(x, t);
    modelMs += Number(process.hrtime.bigint() - t0) / 1e6;
    return r;
  };
  const result = {};
  for (const backend of ['native', 'wasm']) {
    lp.setBackend(backend);
    // Untimed first, so that compiling and loading stay out of the share.
    lp.gradientAscent({ lossAndGrad: inner, data, target: labels, optimizer: lp.L2ProjectedOptim, epsilon: 1, lr: 0.125, steps: 20, dataRange: [0, 1] });
    modelMs = 0;
    const t0 = process.hrtime.bigint();
    lp.gradientAscent({ lossAndGrad, data, target: labels, optimizer: lp.L2ProjectedOptim, epsilon: 1, lr: 0.125, steps: 20, dataRange: [0, 1] });
    const totalMs = Number(process.hrtime.bigint() - t0) / 1e6;
    result[backend] = { totalMs, modelMs, share: (totalMs - modelMs) / totalMs, tfBackend };
  }
  return result;
}

async function chartSvg(rows, columns) {
  let vega;
  let vegaLite;
  try {
    vega = await import('vega');
    vegaLite = await import('vega-lite');
  } catch {
    return null;
  }
  const values = [];
  for (const row of rows) {
    for (const c of columns) if (row[c.key] != null) values.push({ workload: row.short, variant: c.label, ms: row[c.key] });
  }
  // Points, not bars: a bar on a log scale has no baseline to start from.
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: 'lp-optim: median time per optimizer step (log scale, lower is better)',
    data: { values },
    mark: { type: 'point', filled: true, size: 90 },
    width: 120,
    height: 280,
    encoding: {
      column: { field: 'workload', type: 'nominal', title: null, sort: rows.map((r) => r.short) },
      x: { field: 'variant', type: 'nominal', title: null, sort: columns.map((c) => c.label), axis: { labels: false, ticks: false } },
      y: { field: 'ms', type: 'quantitative', title: 'ms per step', scale: { type: 'log' } },
      color: { field: 'variant', type: 'nominal', sort: columns.map((c) => c.label), title: null, legend: { labelLimit: 300 } },
      shape: { field: 'variant', type: 'nominal', sort: columns.map((c) => c.label), title: null },
    },
  };
  const view = new vega.View(vega.parse(vegaLite.compile(spec).spec), { renderer: 'none' });
  return view.toSVG();
}

async function main() {
  const native = (() => {
    try {
      lp.setBackend('native');
      return require('node-gyp-build')(root);
    } catch {
      return null;
    }
  })();
  const info = native ? (lp.setBackend('native'), lp.backendInfo()) : null;
  if (allocChild) {
    allocChildMain(native);
    return;
  }
  console.log(`lp-optim ${lp.backendInfo().version}: ${os.cpus()[0].model}, ${cores} cores, Node ${process.version}${info ? `, native ISA ${info.isa}` : ''}`);
  if (attackOnly) {
    console.log(JSON.stringify(await attackShare()));
    return;
  }
  const torch = timeTorch();
  process.stdout.write('  WebAssembly with allocArray tensors (a separate process) ...');
  const allocArrays = timeAllocArrays();
  process.stdout.write(allocArrays.skipped ? ` skipped: ${allocArrays.skipped}\n` : ' done\n');
  process.stdout.write("  TensorFlow.js's wasm backend ...");
  const tfjsWasm = await timeTfjsWasm();
  process.stdout.write(tfjsWasm.skipped ? ` skipped: ${tfjsWasm.skipped}\n` : ' done\n');
  const rows = [];
  for (const w of WORKLOADS) {
    process.stdout.write(`  ${w.name} ...`);
    const row = { name: w.name, short: w.key };
    const runners = [];
    if (native) {
      runners.push(floorRunner('floor1', w, native, 1), floorRunner('floorN', w, native, cores));
      runners.push(lpOptimRunner('native1', w, 'native', 1), lpOptimRunner('nativeN', w, 'native', cores));
    }
    runners.push(lpOptimRunner('wasm', w, 'wasm', 1));
    // (No plain-JavaScript sparse L1 step: a per-row selection is no loop a user would write in a few lines.)
    if (w.inner === 'SGD' && w.norm !== 'l1q') runners.push(w.norm === 'linf' ? plainJsLinfRunner(w) : plainJsRunner(w));
    const times = timeInterleaved(runners, w.reps);
    // The floor's loop touches 16 bytes per element: scaled to the optimizer's bytes per element.
    for (const r of runners) row[r.key] = times[r.key] * (r.scale ?? 1);
    const floor1 = runners.find((r) => r.key === 'floor1');
    const native1 = runners.find((r) => r.key === 'native1');
    if (floor1 && native1 && floor1.roundMedians.length > 1) {
      // The one-thread multiple of the floor round by round, and the floor's own spread.
      const perRound = native1.roundMedians.map((t, i) => t / (floor1.roundMedians[i] * floor1.scale));
      row.native1FloorRounds = [Math.min(...perRound), Math.max(...perRound)];
      row.floor1Spread = spread(floor1.samples);
    }
    if (native && w.evict) {
      const evicted = [floorRunner('floor1Evicted', w, native, 1), lpOptimRunner('native1Evicted', w, 'native', 1)];
      const evictedTimes = timeEvicted(evicted, w.reps);
      for (const r of evicted) row[r.key] = evictedTimes[r.key] * (r.scale ?? 1);
      if (torch.results) row.torch1Evicted = torch.results[w.key].evicted ?? null;
    }
    if (torch.results) {
      row.torch1 = torch.results[w.key]['1'];
      row.torchN = torch.results[w.key][String(cores)];
      row.torchOps1 = torch.results[w.key].ops1 ?? null;
    }
    if (tfjsWasm.results) row.tfjsWasm = tfjsWasm.results[w.key] ?? null;
    if (allocArrays.results) {
      row.wasmAlloc = allocArrays.results[w.key].wasmAlloc;
      row.allocNative1 = allocArrays.results[w.key].native1 ?? null;
      row.native1Alloc = allocArrays.results[w.key].native1Alloc ?? null;
    }
    rows.push(row);
    process.stdout.write(' done\n');
  }
  lp.setNumThreads(cores);

  const torchName = torch.reference ? 'PyTorch + rai_toolbox' : 'PyTorch';
  const columns = [
    { key: 'native1', label: 'lp-optim native, 1 thread', floor: 'floor1' },
    { key: 'nativeN', label: `lp-optim native, ${cores} threads`, floor: 'floorN' },
    { key: 'wasm', label: 'lp-optim WebAssembly', floor: 'floor1' },
    { key: 'wasmAlloc', label: 'lp-optim WebAssembly, allocArray tensors', floor: 'floor1' },
    { key: 'js', label: 'plain JavaScript loop', floor: 'floor1' },
    { key: 'torch1', label: `${torchName}, 1 thread`, floor: 'floor1' },
    { key: 'torchN', label: `${torchName}, ${cores} threads`, floor: 'floorN' },
    { key: 'tfjsWasm', label: "TensorFlow.js wasm backend", floor: 'floor1' },
    { key: 'floor1', label: 'memory floor, 1 thread' },
    { key: 'floorN', label: `memory floor, ${cores} threads` },
  ];
  const fmt = (ms) => (ms == null ? '-' : ms < 0.01 ? `${(ms * 1000).toFixed(2)} us` : `${ms.toFixed(ms < 1 ? 3 : 2)} ms`);
  const cell = (row, c) => {
    const v = row[c.key];
    if (v == null) return '-';
    const f = c.floor && row[c.floor] && row.short !== 'seed' ? ` (${(v / row[c.floor]).toFixed(2)}x)` : '';
    return `${fmt(v)}${f}`;
  };
  const header = `| workload (float32, paramNdim -1 unless named) | ${columns.map((c) => c.label).join(' | ')} |`;
  const lines = [header, `| --- |${columns.map(() => ' ---: |').join('')}`];
  for (const row of rows) lines.push(`| ${row.name} | ${columns.map((c) => cell(row, c)).join(' | ')} |`);
  const ratios = [];
  for (const row of rows) {
    if (row.torch1 && row.native1) {
      const ops = row.torchOps1 ? ` (the same steps as torch ops without rai_toolbox's wrapper: ${fmt(row.torchOps1)} with 1 thread, native ${(row.torchOps1 / row.native1).toFixed(1)}x faster)` : '';
      ratios.push(`- ${row.name}: native is ${(row.torch1 / row.native1).toFixed(1)}x faster than ${torchName} with 1 thread, ${(row.torchN / row.nativeN).toFixed(1)}x with ${cores}${ops}.`);
    }
    if (row.wasm && row.native1) ratios.push(`- ${row.name}: WebAssembly takes ${(row.wasm / row.native1).toFixed(2)}x the native single-thread time.`);
    if (row.wasmAlloc && row.allocNative1) {
      ratios.push(`- ${row.name}: WebAssembly with allocArray tensors takes ${(row.wasmAlloc / row.allocNative1).toFixed(2)}x the native single-thread time (the two timed side by side in their own process).`);
    }
    if (row.native1Alloc && row.allocNative1 && row.short !== 'seed') {
      // Ordinary arrays' memory is aligned to 16 bytes only; allocArray's starts on a 64-byte boundary.
      const torch = row.torch1 ? `, ${(row.torch1 / row.native1Alloc).toFixed(1)}x faster than ${torchName} with 1 thread` : '';
      ratios.push(`- ${row.name}: native over allocArray arrays (64-byte aligned) ${fmt(row.native1Alloc)} on one thread${torch} (over ordinary arrays in that process: ${fmt(row.allocNative1)}).`);
    }
    if (row.wasm && row.tfjsWasm) {
      const alloc = row.wasmAlloc ? ` (${(row.tfjsWasm / row.wasmAlloc).toFixed(1)}x with allocArray tensors)` : '';
      ratios.push(`- ${row.name}: lp-optim's WebAssembly is ${(row.tfjsWasm / row.wasm).toFixed(1)}x faster than TensorFlow.js's wasm backend${alloc}.`);
    }
    if (row.native1 && row.nativeN && row.short !== 'seed') ratios.push(`- ${row.name}: ${cores} threads are ${(row.native1 / row.nativeN).toFixed(2)}x faster than 1.`);
  }
  const evictedLines = [];
  for (const row of rows) {
    if (!row.native1Evicted) continue;
    const torchPart = row.torch1Evicted ? `; ${torchName} ${fmt(row.torch1Evicted)} (native ${(row.torch1Evicted / row.native1Evicted).toFixed(1)}x faster)` : '';
    evictedLines.push(
      `- ${row.name}, data evicted before each step (${EVICT_BYTES >> 20} MB written between steps, untimed, as a model's forward and backward would): ` +
        `native ${fmt(row.native1Evicted)} on one thread (${(row.native1Evicted / row.floor1Evicted).toFixed(2)}x the floor timed likewise, ${fmt(row.floor1Evicted)})${torchPart}.`,
    );
  }
  // How far the run's own measurements moved: the floor of one thread across
  // its samples, and native's multiple of it round by round (the rounds
  // alternate all runners, so a neighbour's load falls on both alike).
  const noisy = rows.filter((row) => row.floor1Spread > NOISY_SPREAD).map((row) => row.short);
  const noiseLines = rows
    .filter((row) => row.native1FloorRounds && row.short !== 'seed')
    .map((row) => `- ${row.name}: native one thread ${row.native1FloorRounds.map((x) => x.toFixed(2)).join('-')}x the floor across the rounds; the floor's samples spread ${(100 * row.floor1Spread).toFixed(0)}% (interquartile range over the median).`);
  if (noisy.length) noiseLines.unshift(`A noisy run: the floor moved by more than ${(100 * NOISY_SPREAD).toFixed(0)}% on ${noisy.join(', ')} (another tenant drawing memory bandwidth, most likely): compare those rows with care, or run again.`, '');
  const table = lines.join('\n');
  console.log(`\n${table}\n\n${ratios.join('\n')}\n\n${evictedLines.join('\n')}\n\n${noiseLines.join('\n')}`);
  if (torch.skipped) console.log(`\nPyTorch skipped: ${torch.skipped}`);
  else if (!torch.reference) console.log(`\nPyTorch: rai_toolbox is not importable (${torch.whyNoReference}), so the same steps written with torch ops stand in for it.`);
  if (tfjsWasm.skipped) console.log(`\nTensorFlow.js wasm skipped: ${tfjsWasm.skipped}`);

  fs.writeFileSync(path.join(root, 'BENCHMARKS.json'), `${JSON.stringify({ date: new Date().toISOString(), rows }, null, 1)}\n`);
  const share = await attackShare();
  const shareLines = share.skipped
    ? [`Attack share: skipped (${share.skipped}).`]
    : Object.entries(share).map(
        ([backend, s]) =>
          `- Attack on the shipped model (L2 PGD, 20 steps, 100 images, ${backend} backend): ${s.totalMs.toFixed(0)} ms in all, ` +
          `${(s.totalMs - s.modelMs).toFixed(0)} ms (${(100 * s.share).toFixed(1)}%) in lp-optim and the solver, the rest in the model's forward and backward (TensorFlow.js, its ${s.tfBackend} backend).`,
      );
  console.log(`\n${shareLines.join('\n')}`);
  const svg = await chartSvg(rows, columns.filter((c) => rows.some((r) => r[c.key] != null)));
  if (svg) fs.writeFileSync(path.join(root, 'BENCHMARKS.svg'), svg);
  const md = [
    '# lp-optim benchmarks',
    '',
    `Written by \`npm run bench\` (scripts/bench.js) on ${new Date().toISOString().slice(0, 10)}: ${os.cpus()[0].model}, ${cores} cores,`,
    `Node ${process.version}${info ? `, native ISA ${info.isa}` : ''}${torch.version ? `, PyTorch ${torch.version}` : ''}${torch.reference ? ` with ${torch.reference}` : ''}. Medians of the time per`,
    'step, and in brackets the multiple of the memory-bandwidth floor for the same thread count: the floor is the',
    "in-place pattern `g *= s; p -= lr * g` over the workload's elements (16 bytes per element), measured in the",
    'same run and scaled to the optimizer\'s bytes per element (24 for SGD with momentum, 32 for Adam). These',
    'machines are shared: absolute times drift by 30% or more between runs; compare within one run.',
    ...(WORKLOADS.some((w) => w.freshGrad)
      ? ['', `${WORKLOADS.filter((w) => w.freshGrad).map((w) => w.name).join('; ')}: every step (lp-optim, PyTorch) starts from the workload's gradient again, copied in untimed, as each step of an attack gets a new one.`]
      : []),
    '',
    table,
    '',
    ...ratios,
    '',
    ...evictedLines,
    '',
    ...shareLines,
    '',
    '## Noise in this run',
    '',
    ...noiseLines,
    '',
    torch.skipped
      ? `PyTorch: skipped (${torch.skipped}).`
      : torch.reference
        ? `PyTorch + rai_toolbox: the reference's own L2ProjectedOptim, LinfProjectedOptim or L1qNormedGradientOptim (${torch.reference}, as importable here) wrapping torch.optim's SGD or Adam (scripts/bench_torch.py); the same steps written with torch ops are timed beside it with one thread.`
        : `PyTorch: the same steps written with torch ops and torch.optim (scripts/bench_torch.py): rai_toolbox, the reference, is not importable here (${torch.whyNoReference}; pip install rai-toolbox, or set PYTHONPATH to a checkout's src/, to time it instead).`,
    allocArrays.skipped
      ? `WebAssembly with allocArray tensors: skipped (${allocArrays.skipped}).`
      : 'WebAssembly with allocArray tensors: parameters and gradients in lp.allocArray arrays (stepped in the module\'s memory, no copies), timed in a separate process beside native single-threaded steps, since the first allocArray call moves the WebAssembly backend to shared memory, where the plain column\'s copies run slower.',
    tfjsWasm.skipped
      ? `TensorFlow.js wasm backend: skipped (${tfjsWasm.skipped}).`
      : `TensorFlow.js wasm backend ${tfjsWasm.version}: the L2 SGD workloads written with tf ops (row norms, divide, update, renorm) on tf variables (timeTfjsWasm in scripts/bench.js).`,
    '',
    svg ? '![time per step](BENCHMARKS.svg)' : '(No chart: the vega and vega-lite packages are not installed.)',
    '',
  ].join('\n');
  fs.writeFileSync(path.join(root, 'BENCHMARKS.md'), md);
  console.log('\nwrote BENCHMARKS.md' + (svg ? ' and BENCHMARKS.svg' : ''));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
