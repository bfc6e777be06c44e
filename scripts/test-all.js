#!/usr/bin/env node
// SPDX-License-Identifier: MIT
// The whole test suite: the TypeScript build and the tests' type check, the C++
// kernel tests (ctest, and the NEON table's
// under qemu-aarch64 when the cross tools are installed), then the jest suite
// once per backend and instruction set this machine supports (native: each
// ISA the CPU runs, forced with LP_OPTIM_FORCE_ISA; WebAssembly: simd128 and
// baseline).
// Prints one closing line "total: N passed, N failed, N skipped" and exits
// non-zero when anything failed or could not run.
'use strict';
const { spawn, spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const root = path.join(__dirname, '..');
const args = process.argv.slice(2);
const only = args.includes('--jest-only') ? 'jest' : args.includes('--ctest-only') ? 'ctest' : null;
const jestArgs = args.filter((a) => !a.startsWith('--jest-only') && !a.startsWith('--ctest-only'));

function run(cmd, argv, env = {}) {
  return spawnSync(cmd, argv, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } });
}

const totals = { passed: 0, failed: 0, skipped: 0 };
const failures = [];

/** Adds ctest's own summary ("N% tests passed, F tests failed out of T", skipped tests listed as "(Skipped)") to the totals; false when there is none. */
function addCtestTotals(out) {
  const summary = /(\d+) tests failed out of (\d+)/.exec(out);
  if (!summary) return false;
  const failed = Number(summary[1]);
  const skipped = (out.match(/\(Skipped\)/g) || []).length;
  totals.failed += failed;
  totals.skipped += skipped;
  totals.passed += Number(summary[2]) - failed - skipped;
  return true;
}

// The TypeScript build: the package tests load dist/ as users do.
if (run('npm', ['run', '--silent', 'build:ts']).status !== 0) failures.push('TypeScript build');
// The tests' own types (jest transpiles each file without checking them: see jest.config.js).
if (only !== 'ctest' && run(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'test/tsconfig.json']).status !== 0) {
  failures.push('type check of the tests (tsc -p test/tsconfig.json)');
}

if (only !== 'jest') {
  const r = spawnSync('bash', ['scripts/ctest.sh'], { cwd: root, stdio: ['inherit', 'pipe', 'inherit'], encoding: 'utf8', maxBuffer: 1 << 26 });
  process.stdout.write(r.stdout || '');
  addCtestTotals(r.stdout || '');
  if (r.status !== 0) failures.push('ctest (C++ kernel tests)');
}

// The NEON table, cross-built and run under qemu-aarch64 (scripts/ctest-neon.sh:
// two ctest tests, about 3 minutes emulated; exit 77 when the cross compiler
// or qemu is missing, counted as skipped). It runs in the background while
// jest runs, which uses one worker on a 2-core machine; its output goes to a
// file and is shown at the end.
const neonLog = path.join(os.tmpdir(), `lp-optim-neon-${process.pid}.log`);
let neon = null;
if (only !== 'jest') {
  const fd = fs.openSync(neonLog, 'w');
  neon = spawn('bash', ['scripts/ctest-neon.sh'], { cwd: root, stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
}
const neonDone = neon ? new Promise((resolve) => neon.on('exit', (code) => resolve(code))) : Promise.resolve(null);

async function collectNeon() {
  const code = await neonDone;
  if (code === null) return;
  const out = fs.readFileSync(neonLog, 'utf8');
  fs.unlinkSync(neonLog);
  console.log('\n=== NEON kernel tests (qemu-aarch64) ===');
  process.stdout.write(out);
  if (code === 77) {
    totals.skipped += 1;
    console.log('NEON kernel tests skipped: no cross compiler or qemu-aarch64 (see scripts/ctest-neon.sh)');
    return;
  }
  // A build that failed before ctest ran has no summary: one failure.
  const summarized = addCtestTotals(out);
  if (!summarized) totals.failed += 1;
  if (code !== 0 || !summarized) failures.push('NEON kernel tests (scripts/ctest-neon.sh)');
}

/** The native ISAs this CPU supports, asked of the built addon itself. */
function nativeIsas() {
  const probe = spawnSync(process.execPath, ['-e', "process.stdout.write(JSON.stringify(require('node-gyp-build')(process.cwd()).supportedIsas()))"], { cwd: root, encoding: 'utf8' });
  if (probe.status !== 0) {
    failures.push(`native addon did not load: ${(probe.stderr || '').split('\n')[0]}`);
    return [];
  }
  return JSON.parse(probe.stdout);
}

if (only !== 'ctest') {
  const combos = [
    ...nativeIsas().map((isa) => ({ LP_OPTIM_BACKEND: 'native', LP_OPTIM_FORCE_ISA: isa })),
    { LP_OPTIM_BACKEND: 'wasm', LP_OPTIM_FORCE_ISA: 'wasm-simd128' },
    { LP_OPTIM_BACKEND: 'wasm', LP_OPTIM_FORCE_ISA: 'wasm' },
  ];
  const jestBin = require.resolve('jest/bin/jest');
  for (const env of combos) {
    const label = `${env.LP_OPTIM_BACKEND}/${env.LP_OPTIM_FORCE_ISA}`;
    console.log(`\n=== jest on ${label} ===`);
    const out = path.join(os.tmpdir(), `lp-optim-jest-${process.pid}-${env.LP_OPTIM_FORCE_ISA}.json`);
    const r = run(process.execPath, [jestBin, '--json', `--outputFile=${out}`, ...jestArgs], env);
    try {
      const j = JSON.parse(fs.readFileSync(out, 'utf8'));
      totals.passed += j.numPassedTests;
      totals.failed += j.numFailedTests;
      totals.skipped += j.numPendingTests + j.numTodoTests;
      fs.unlinkSync(out);
    } catch {
      failures.push(`jest on ${label} wrote no results`);
    }
    if (r.status !== 0) failures.push(`jest on ${label}`);
  }
}

collectNeon().then(() => {
  if (failures.length) console.log(`\nFailed: ${failures.join('; ')}`);
  console.log(`total: ${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
  process.exit(failures.length ? 1 : 0);
});
