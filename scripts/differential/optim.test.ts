// SPDX-License-Identifier: MIT
// The differential run's optimizer cases (gen_optim.py, from rai_toolbox
// itself): each case through lp-optim on the backend and ISA of this process,
// with the golden cases' tolerances, and for float32 an ulp of each
// parameter's previous value beside them (see GoldenRunOptions.operandSlack:
// random cases step parameters of 40 and more to near 0, where PyTorch's fused
// update shows); LP_DIFF_ALLOC=1 puts every tensor in allocArray arrays. Not
// part of `npm test` (the cases need rai_toolbox and torch to make):
// scripts/differential/run.sh runs it.
import * as path from 'path';
import { loadGolden, runGolden } from '../../test/helpers';

const file = process.env.LP_DIFF_CASES ?? '';
const cases = file ? loadGolden(path.basename(file), path.dirname(file)) : [];
const allocArrays = process.env.LP_DIFF_ALLOC === '1';

test('the cases file was given and holds cases', () => {
  expect(cases.length).toBeGreaterThan(0);
});

test.each(cases.map((c) => [`${c.name}: ${c.optimizer}[${c.inner}] ${c.dtype} ${JSON.stringify(c.kwargs)} groups ${JSON.stringify(c.groups)} chain ${JSON.stringify(c.chain ?? null)} shapes ${JSON.stringify(c.params.map((p) => p.shape))}`, c] as const))(
  '%s',
  (_name, c) => runGolden(c, { allocArrays, operandSlack: c.dtype === 'float32' ? 2 ** -23 : 0 }),
);
