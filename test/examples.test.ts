// SPDX-License-Identifier: MIT
// The README's runnable examples do what the README says (on the backend under test).
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const root = path.join(__dirname, '..');

test('examples/train-maxnorm.js: rows within the max-norm, and resuming from checkpoints is bit-identical', () => {
  const r = spawnSync(process.execPath, [path.join(root, 'examples', 'train-maxnorm.js')], { cwd: root, encoding: 'utf8' });
  expect(r.stderr).toBe('');
  const norms = /row norms of W: ([\d., ]+) \(max-norm 1\)/.exec(r.stdout)![1].split(', ').map(Number);
  expect(norms).toHaveLength(3);
  for (const n of norms) {
    expect(n).toBeLessThanOrEqual(1 + 1e-6);
    expect(n).toBeGreaterThan(0.99); // the constraint binds: the data's true rows have norm 3
  }
  expect(r.stdout).toMatch(/resumed run identical to the uninterrupted one: true/);
});

test('examples/wasm-alloc.js: allocArray tensors give the bits of ordinary ones on WebAssembly, within epsilon', () => {
  const r = spawnSync(process.execPath, [path.join(root, 'examples', 'wasm-alloc.js')], { cwd: root, encoding: 'utf8' });
  expect(r.stderr).toBe('');
  expect(r.stdout).toMatch(/^backend wasm /);
  expect(r.stdout).toMatch(/identical results: true/);
  const norm = Number(/largest row norm ([\d.]+) \(epsilon 1\)/.exec(r.stdout)![1]);
  expect(norm).toBeLessThanOrEqual(1 + 1e-6);
  expect(norm).toBeGreaterThan(0.99); // the projection binds
});

test('examples/linear-pgd.js: every perturbation stays within its epsilon', () => {
  const r = spawnSync(process.execPath, [path.join(root, 'examples', 'linear-pgd.js')], { cwd: root, encoding: 'utf8' });
  expect(r.stderr).toBe('');
  const lines = r.stdout.split('\n').filter((l) => l.startsWith('eps '));
  expect(lines).toHaveLength(3);
  for (const l of lines) expect(l).toMatch(/<= eps: yes/);
  // A stronger attack never leaves the model more accurate.
  const acc = lines.map((l) => Number(/robust accuracy ([\d.]+)/.exec(l)![1]));
  expect(acc[2]).toBeLessThanOrEqual(acc[0]);
});

/** The first `count` rows of a .npy file (format 1.0), written to `to`: the header's shape says `count`, padded to its old length. */
function firstRowsOfNpy(from: string, to: string, count: number): void {
  const bytes = fs.readFileSync(from);
  const headerLength = bytes.readUInt16LE(8);
  const dataStart = 10 + headerLength;
  const header = bytes.subarray(10, dataStart).toString('latin1');
  const shape = /'shape': \((\d+),/.exec(header)!;
  const rowBytes = (bytes.length - dataStart) / Number(shape[1]);
  const newHeader = header.replace(shape[0], `'shape': (${count},`).trimEnd().padEnd(headerLength - 1) + '\n';
  fs.writeFileSync(to, Buffer.concat([bytes.subarray(0, 10), Buffer.from(newHeader, 'latin1'), bytes.subarray(dataStart, dataStart + count * rowBytes)]));
}

test('the demo\'s attack (scripts/demo.js runs it for L2 and L-inf): tables and both charts', () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'lp-optim-demo-'));
  // Same invocation as the demo, on its first 100 images and 2 steps to keep the suite fast.
  const images = path.join(out, 'images.npy');
  const labels = path.join(out, 'labels.npy');
  firstRowsOfNpy(path.join(root, 'data', 'fashion-mnist', 'test-images.npy'), images, 100);
  firstRowsOfNpy(path.join(root, 'data', 'fashion-mnist', 'test-labels.npy'), labels, 100);
  for (const norm of ['l2', 'linf']) {
    const r = spawnSync(process.execPath, [
      path.join(root, 'bin', 'lp-optim.js'), 'attack',
      '--model', path.join(root, 'models', 'fashion-mnist', 'model.json'),
      '--images', images,
      '--labels', labels,
      '--norm', norm, '--steps', '2', '--batch-size', '100', '--out', path.join(out, norm),
    ], { cwd: root, encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`${norm} attack`));
    expect(r.stdout).toMatch(/clean acc\s+robust acc/);
    expect(r.stdout).toMatch(/\b100 samples/);
    expect(fs.readFileSync(path.join(out, norm, 'report.svg'), 'utf8')).toMatch(/^<svg/);
  }
});
