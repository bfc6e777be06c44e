// SPDX-License-Identifier: MIT
// Conformance: every golden case recorded from rai_toolbox on PyTorch 1.13
// (test/fixtures/golden) on the backend under test. A case whose classes do
// not exist yet is listed as pending (test.todo) with the reason.
import { backendInfo } from '../ts';
import { REFERENCE_DIR, loadGolden, pendingReason, runGolden } from './helpers';

const FILES = ['l2proj.json', 'edge.json', 'family.json'];

describe(`golden cases on ${backendInfo().backend} (${backendInfo().isa})`, () => {
  for (const file of FILES) {
    describe(file, () => {
      for (const c of loadGolden(file)) {
        const why = pendingReason(c);
        const title = `${c.name}: ${c.optimizer}[${c.inner}] ${c.dtype}`;
        if (why) test.todo(`${title} (pending: ${why})`);
        else test(title, () => runGolden(c));
      }
    });
  }
});

// Recorded by this project with test/fixtures/reference/gen_boundary.py from
// rai_toolbox: float64 projections whose new norm is epsilon up to the last
// bit, where only PyTorch's own summation order gives the reference's answer.
describe(`reference cases at the projection boundary on ${backendInfo().backend} (${backendInfo().isa})`, () => {
  for (const c of loadGolden('boundary.json', REFERENCE_DIR)) {
    test(`${c.name}: ${c.optimizer}[${c.inner}] ${c.dtype} ${c.params[0].shape.join('x')}`, () => runGolden(c));
  }
});

// Recorded by this project with test/fixtures/reference/gen_options.py from
// rai_toolbox: where an option given in two places is read from (Adagrad's
// initial accumulator; `q` for a chain link that is itself a chain).
describe(`reference cases on where options are read from, on ${backendInfo().backend} (${backendInfo().isa})`, () => {
  for (const c of loadGolden('options.json', REFERENCE_DIR)) {
    test(`${c.name}: ${c.optimizer}[${c.inner}] ${c.dtype}`, () => runGolden(c));
  }
});
