#!/usr/bin/env node
// SPDX-License-Identifier: MIT
// allocArray on the WebAssembly backend (the fallback where no native build
// loads): 256 CIFAR-sized perturbations stepped by L2ProjectedOptim with
// Adam, once over ordinary Float32Arrays, which every step copies in and out
// of the module's memory, and once over arrays from allocArray, which live in
// that memory and are stepped where they are. The results are the same bits.
'use strict';
const { Adam, L2ProjectedOptim, Tensor, allocArray, backendInfo, freeArray, setBackend } = require('lp-optim');

setBackend('wasm');
const rows = 256;
const cols = 3 * 32 * 32;
const steps = 20;
const epsilon = 1;

/** This step's gradient (a stand-in for a model's backward pass), written into `out`. */
function gradientAt(step, out) {
  for (let i = 0; i < out.length; i++) out[i] = Math.sin(i * 0.001) + 0.2 * Math.cos(step + i);
}

function run(useAllocArray) {
  const n = rows * cols;
  const data = useAllocArray ? allocArray(n) : new Float32Array(n);
  const grad = useAllocArray ? allocArray(n) : new Float32Array(n);
  const x = new Tensor(data, [rows, 3, 32, 32]);
  x.grad = grad;
  const opt = new L2ProjectedOptim([x], { InnerOpt: Adam, lr: 0.05, epsilon });
  let ms = 0;
  for (let k = 0; k < steps; k++) {
    gradientAt(k, grad); // into the array, not a new one: it stays in the module's memory
    const t0 = process.hrtime.bigint();
    opt.step();
    ms += Number(process.hrtime.bigint() - t0) / 1e6;
  }
  const result = data.slice();
  if (useAllocArray) {
    freeArray(grad);
    freeArray(data);
  }
  return { result, ms: ms / steps };
}

// Ordinary arrays first: the first allocArray call moves the backend to its
// shared-memory module, where copies of ordinary arrays are slower.
const ordinary = run(false);
const allocated = run(true);
const { backend, isa } = backendInfo();
console.log(`backend ${backend} (${isa}), ${rows} x ${cols} float32, ${steps} steps`);
console.log(`ordinary Float32Arrays: ${ordinary.ms.toFixed(2)} ms a step`);
console.log(`allocArray arrays:      ${allocated.ms.toFixed(2)} ms a step`);
const same = ordinary.result.every((v, i) => Object.is(v, allocated.result[i]));
console.log(`identical results: ${same}`);
let maxNorm = 0;
for (let r = 0; r < rows; r++) {
  let s = 0;
  for (let j = r * cols; j < (r + 1) * cols; j++) s += allocated.result[j] ** 2;
  maxNorm = Math.max(maxNorm, Math.sqrt(s));
}
console.log(`largest row norm ${maxNorm.toFixed(6)} (epsilon ${epsilon})`);
