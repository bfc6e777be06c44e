#!/usr/bin/env node
// SPDX-License-Identifier: MIT
// npm "install" hook: use a prebuild or compile the addon with node-gyp-build.
// A failed compile must never fail `npm install`: lp-optim then runs on its
// WebAssembly build (the drop-in fallback), so this reports and exits 0.
'use strict';
const { spawnSync } = require('child_process');
const os = require('os');
const path = require('path');

if (process.env.LP_OPTIM_SKIP_NATIVE_BUILD) {
  console.log('lp-optim: LP_OPTIM_SKIP_NATIVE_BUILD is set; using the WebAssembly backend.');
  process.exit(0);
}
const bin = require.resolve('node-gyp-build/bin.js');
// node-gyp compiles one file at a time unless told otherwise; the three
// per-ISA kernel files take up to half a minute and about 400 MB each (the
// binding 250 MB), so compile up to four at once, as cores and free memory
// allow (JOBS wins if set).
const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
const jobs = Math.max(1, Math.min(cores, 4, Math.floor(os.freemem() / (512 << 20))));
const env = { ...process.env, JOBS: process.env.JOBS || String(jobs) };
const r = spawnSync(process.execPath, [bin], { cwd: path.join(__dirname, '..'), stdio: 'inherit', env });
if (r.status !== 0) {
  console.warn('lp-optim: the native addon could not be built (see above); the WebAssembly backend will be used instead.');
}
process.exit(0);
