// SPDX-License-Identifier: MIT
// Training under an L2 max-norm constraint: each output unit's weights (a row
// of W) stay inside the ball of radius 1, with Adam as the inner optimizer and
// a cosine learning-rate schedule; halfway, the optimizer and the schedule are
// saved to a checkpoint, and a second run resumes from it.
const fs = require('fs');
const os = require('os');
const path = require('path');
const { Adam, CosineAnnealingLR, L2ProjectedOptim, Tensor, load, save } = require('lp-optim');

const [outputs, inputs, samples, epochs] = [3, 8, 64, 40];
// Synthetic regression data y = W* x whose true rows have norm 3: the constraint binds.
let seed = 1;
const uniform = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
const X = Float32Array.from({ length: samples * inputs }, uniform);
const Wtrue = Float32Array.from({ length: outputs * inputs }, uniform);
for (let o = 0; o < outputs; o++) {
  const row = Wtrue.subarray(o * inputs, (o + 1) * inputs);
  const n = Math.hypot(...row);
  row.forEach((v, j) => { row[j] = (3 * v) / n; });
}
const Y = new Float32Array(samples * outputs);
for (let s = 0; s < samples; s++) for (let o = 0; o < outputs; o++) {
  for (let j = 0; j < inputs; j++) Y[s * outputs + o] += Wtrue[o * inputs + j] * X[s * inputs + j];
}

/** Mean squared error of y = W x and its gradient with respect to W. */
function lossAndGrad(W) {
  const grad = new Float32Array(W.length);
  let loss = 0;
  for (let s = 0; s < samples; s++) for (let o = 0; o < outputs; o++) {
    let y = 0;
    for (let j = 0; j < inputs; j++) y += W[o * inputs + j] * X[s * inputs + j];
    const err = y - Y[s * outputs + o];
    loss += (err * err) / samples;
    for (let j = 0; j < inputs; j++) grad[o * inputs + j] += (2 * err * X[s * inputs + j]) / samples;
  }
  return { loss, grad };
}

function setup() {
  const W = new Tensor(new Float32Array(outputs * inputs).fill(0.1), [outputs, inputs]);
  // paramNdim -1: each row of W (one output unit's weights) is one datum.
  const optim = new L2ProjectedOptim([W], { InnerOpt: Adam, lr: 0.05, epsilon: 1, paramNdim: -1 });
  const schedule = new CosineAnnealingLR(optim, { TMax: epochs });
  return { W, optim, schedule };
}

function train({ W, optim, schedule }, from, to) {
  let loss;
  for (let epoch = from; epoch < to; epoch++) {
    loss = optim.step(() => {
      const r = lossAndGrad(W.data);
      W.grad = r.grad;
      return r.loss;
    });
    schedule.step();
  }
  return loss;
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lp-optim-example-'));
const run = setup();
train(run, 0, epochs / 2);
save(run.optim.stateDict(), path.join(dir, 'optim.safetensors'));
save(run.schedule.stateDict(), path.join(dir, 'schedule.safetensors'));
const weights = run.W.data.slice();
const loss = train(run, epochs / 2, epochs);

// A new process would do this: same model values, then load both checkpoints.
const resumed = setup();
resumed.W.data.set(weights);
resumed.optim.loadStateDict(load(path.join(dir, 'optim.safetensors')));
resumed.schedule.loadStateDict(load(path.join(dir, 'schedule.safetensors'), { kind: 'scheduler' }));
train(resumed, epochs / 2, epochs);
fs.rmSync(dir, { recursive: true });

const rowNorms = Array.from({ length: outputs }, (_, o) => Math.hypot(...run.W.data.subarray(o * inputs, (o + 1) * inputs)));
console.log(`final loss ${loss.toFixed(4)}, lr ${run.schedule.getLastLr()[0].toExponential(2)}`);
console.log(`row norms of W: ${rowNorms.map((n) => n.toFixed(6)).join(', ')} (max-norm 1)`);
console.log(`resumed run identical to the uninterrupted one: ${run.W.data.every((v, i) => Object.is(v, resumed.W.data[i]))}`);
