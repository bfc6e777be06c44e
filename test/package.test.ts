// SPDX-License-Identifier: MIT
// The package as users load it: require(), import and a TypeScript file
// against the built dist/ (scripts/test-all.js builds it first).
import { spawnSync } from 'child_process';
import * as path from 'path';

const root = path.join(__dirname, '..');
const SEED = `
  const x = new Tensor(new Float32Array([-1, 1]));
  const o = new L2ProjectedOptim([x], { paramNdim: null, lr: 1, epsilon: 0.8 });
  x.grad = new Float32Array([2, 2]);
  o.step();
  console.log(Array.from(x.data, (v) => v.toFixed(4)).join(','));`;

function node(args: string[]) {
  return spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8' });
}

test('CommonJS: require("lp-optim")', () => {
  const r = node(['-e', `const { Tensor, L2ProjectedOptim } = require('lp-optim');${SEED}`]);
  expect(r.stderr).toBe('');
  expect(r.stdout.trim()).toBe('-0.7885,0.1353');
});

test('ES module: import from "lp-optim"', () => {
  const r = node(['--input-type=module', '-e', `import { Tensor, L2ProjectedOptim } from 'lp-optim';${SEED}`]);
  expect(r.stderr).toBe('');
  expect(r.stdout.trim()).toBe('-0.7885,0.1353');
});

test('TypeScript: the declarations type-check a user file', () => {
  const tsc = require.resolve('typescript/bin/tsc');
  const r = node([tsc, '-p', path.join(__dirname, 'consumer', 'tsconfig.json')]);
  expect(r.stdout + r.stderr).toBe('');
  expect(r.status).toBe(0);
});
