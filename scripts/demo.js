#!/usr/bin/env node
// SPDX-License-Identifier: MIT
// `npm run demo`, the main job: `lp-optim attack` on the shipped Fashion-MNIST
// classifier (models/fashion-mnist, a TensorFlow.js model trained by
// scripts/train-fashion-mnist.js) and 1,000 shipped test images, at several
// epsilons for L2 and for L-inf. Prints the robust-accuracy tables and writes
// report.json and report.svg (the chart) under lp-optim-report/<norm>/.
'use strict';
const { spawnSync } = require('child_process');
const path = require('path');

const root = path.join(__dirname, '..');
const runs = [
  { norm: 'l2', eps: '0.25,0.5,1' },
  { norm: 'linf', eps: '0.01,0.03,0.1' },
];
for (const { norm, eps } of runs) {
  console.log(`\n== ${norm.toUpperCase()} attack, eps ${eps} ==`);
  const r = spawnSync(
    process.execPath,
    [
      path.join(root, 'bin', 'lp-optim.js'), 'attack',
      '--model', path.join(root, 'models', 'fashion-mnist', 'model.json'),
      '--images', path.join(root, 'data', 'fashion-mnist', 'test-images.npy'),
      '--labels', path.join(root, 'data', 'fashion-mnist', 'test-labels.npy'),
      '--norm', norm, '--eps', eps, '--steps', '10',
      '--out', path.join(root, 'lp-optim-report', norm),
    ],
    { stdio: 'inherit' },
  );
  if (r.status !== 0) process.exit(r.status ?? 1);
}
console.log(`\nCharts: ${runs.map((r) => path.join('lp-optim-report', r.norm, 'report.svg')).join(', ')}`);
