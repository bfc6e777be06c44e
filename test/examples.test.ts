// SPDX-License-Identifier: MIT
// The README's runnable examples do what the README says (on the backend under test).
import { spawnSync } from 'child_process';
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

test('scripts/demo.js: every perturbation stays within its epsilon', () => {
  const r = spawnSync(process.execPath, [path.join(root, 'scripts', 'demo.js')], { cwd: root, encoding: 'utf8' });
  expect(r.stderr).toBe('');
  const lines = r.stdout.split('\n').filter((l) => l.startsWith('eps '));
  expect(lines).toHaveLength(3);
  for (const l of lines) expect(l).toMatch(/<= eps: yes/);
  // A stronger attack never leaves the model more accurate.
  const acc = lines.map((l) => Number(/robust accuracy ([\d.]+)/.exec(l)![1]));
  expect(acc[2]).toBeLessThanOrEqual(acc[0]);
});
