#!/usr/bin/env node
// SPDX-License-Identifier: MIT
// npm "install" hook: use a prebuild or compile the addon with node-gyp-build.
// A failed compile must never fail `npm install`: lp-optim then runs on its
// WebAssembly build (the drop-in fallback), so this reports and exits 0.
'use strict';
const { spawnSync } = require('child_process');
const path = require('path');

if (process.env.LP_OPTIM_SKIP_NATIVE_BUILD) {
  console.log('lp-optim: LP_OPTIM_SKIP_NATIVE_BUILD is set; using the WebAssembly backend.');
  process.exit(0);
}
const bin = require.resolve('node-gyp-build/bin.js');
// node-gyp compiles one file at a time unless told otherwise; the per-ISA
// kernel files take most of a minute each, so use every core (JOBS wins if set).
const env = { ...process.env, JOBS: process.env.JOBS || 'max' };
const r = spawnSync(process.execPath, [bin], { cwd: path.join(__dirname, '..'), stdio: 'inherit', env });
if (r.status !== 0) {
  console.warn('lp-optim: the native addon could not be built (see above); the WebAssembly backend will be used instead.');
}
process.exit(0);
