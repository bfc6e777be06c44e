#!/usr/bin/env node
// SPDX-License-Identifier: MIT
// A small real job: an L2 projected-gradient attack (PGD) on a batch of 8
// Fashion-MNIST test images against a linear softmax classifier (the model
// and images of test/fixtures/golden/attack.json; Fashion-MNIST is
// (c) Zalando SE, MIT licence). Gradients are analytic:
// d CE / d x = W^T (softmax(W x + b) - onehot(y)). Each image's perturbation
// is one datum (paramNdim -1) kept inside its own L2 ball of radius eps.
'use strict';
const path = require('path');
const { L2ProjectedOptim, Tensor, backendInfo } = require('lp-optim');

const fixture = require(path.join(__dirname, '..', 'test', 'fixtures', 'golden', 'attack.json'));
const { W, b, classes } = fixture.model;
const images = Float64Array.from(fixture.data.values);
const labels = fixture.data.labels;
const [n] = fixture.data.shape;
const d = images.length / n;

/** Per-sample cross-entropy, predictions, and d(sum of losses)/dx. */
function lossAndGrad(x) {
  const losses = new Float64Array(n);
  const preds = new Int32Array(n);
  const grad = new Float64Array(n * d);
  const p = new Float64Array(classes);
  for (let i = 0; i < n; i++) {
    let max = -Infinity;
    for (let k = 0; k < classes; k++) {
      let z = b[k];
      for (let j = 0; j < d; j++) z += W[k * d + j] * x[i * d + j];
      p[k] = z;
      if (z > max) { max = z; preds[i] = k; }
    }
    let sum = 0;
    for (let k = 0; k < classes; k++) sum += (p[k] = Math.exp(p[k] - max));
    losses[i] = -Math.log(p[labels[i]] / sum);
    for (let k = 0; k < classes; k++) {
      const coef = p[k] / sum - (k === labels[i] ? 1 : 0);
      for (let j = 0; j < d; j++) grad[i * d + j] += coef * W[k * d + j];
    }
  }
  return { losses, preds, grad };
}

function rowNorms(a) {
  return Array.from({ length: n }, (_, i) => Math.hypot(...a.subarray(i * d, (i + 1) * d)));
}

const info = backendInfo();
console.log(`lp-optim ${info.version} on the ${info.backend} backend (${info.isa})`);
console.log(`L2 PGD on ${n} Fashion-MNIST images (784 pixels) against a linear classifier\n`);
const clean = lossAndGrad(images);
const accuracy = (preds) => preds.reduce((s, p, i) => s + (p === labels[i] ? 1 : 0), 0) / n;
console.log(`clean accuracy ${accuracy(clean.preds).toFixed(3)}, mean loss ${(clean.losses.reduce((a, v) => a + v) / n).toFixed(4)}`);

const steps = 20;
for (const eps of [0.5, 1, 2]) {
  const delta = new Tensor(new Float64Array(n * d), [n, d]);
  const optim = new L2ProjectedOptim([delta], { epsilon: eps, lr: (2.5 * eps) / steps });
  const x = new Float64Array(n * d);
  let r;
  for (let s = 0; s < steps; s++) {
    for (let i = 0; i < x.length; i++) x[i] = images[i] + delta.data[i];
    r = lossAndGrad(x);
    // The optimizer descends: hand it the negated gradient to ascend the loss.
    delta.grad = r.grad.map((g) => -g);
    optim.step();
  }
  for (let i = 0; i < x.length; i++) x[i] = images[i] + delta.data[i];
  r = lossAndGrad(x);
  const norms = rowNorms(delta.data);
  const maxNorm = Math.max(...norms);
  console.log(
    `eps ${eps.toFixed(2)}: robust accuracy ${accuracy(r.preds).toFixed(3)}, mean loss ${(r.losses.reduce((a, v) => a + v) / n).toFixed(4)}, ` +
      `perturbation norms ${Math.min(...norms).toFixed(4)}..${maxNorm.toFixed(4)} (<= eps: ${maxNorm <= eps * (1 + 1e-12) ? 'yes' : 'NO'})`,
  );
}
