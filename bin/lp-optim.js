#!/usr/bin/env node
// SPDX-License-Identifier: MIT
// The `lp-optim` command (`lp-optim attack ...`): runs the compiled CLI in dist/cli.
'use strict';

let cli;
try {
  cli = require('../dist/cli/index.js');
} catch (e) {
  if (e && e.code === 'MODULE_NOT_FOUND' && /dist[\\/]cli/.test(String(e.message))) {
    process.stderr.write('lp-optim: the compiled CLI is missing (dist/cli); build it with npm run build:ts\n');
    process.exit(1);
  }
  throw e;
}

// A reader that has stopped reading (\`lp-optim attack --help | head\`) is not an
// error of ours: stop quietly, as Unix tools do.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e) => {
    if (e && e.code === 'EPIPE') process.exit(process.exitCode || 0);
    throw e;
  });
}

// exitCode (not process.exit) lets stdout finish writing when it is a pipe.
cli.main(process.argv.slice(2)).then((status) => {
  process.exitCode = status;
});
