// SPDX-License-Identifier: MIT
// The differential run's attack cases (gen_attack.py, from rai_toolbox's
// gradient_ascent): each through lp-optim's gradientAscent on the backend and
// ISA of this process, as test/attack.test.ts checks the golden ones. Not
// part of `npm test`: scripts/differential/run.sh runs it.
import * as fs from 'fs';
import * as lp from '../../ts';
import { AdditivePerturbation, Tensor, gradientAscent, partial } from '../../ts';
import { AttackCase, AttackFixture, linearLossAndGrad, predictions } from '../../test/attackModel';
import { mismatches } from '../../test/helpers';

const file = process.env.LP_DIFF_CASES ?? '';
const fixture: AttackFixture | null = file ? JSON.parse(fs.readFileSync(file, 'utf8')) : null;
const cases = fixture?.cases ?? [];

function run(f: AttackFixture, c: AttackCase) {
  const classes = lp as unknown as Record<string, lp.OptimizerClass>;
  const options: Record<string, unknown> = { ...c.options };
  if (c.optimizer !== 'SGD') options.InnerOpt = classes[c.innerOpt];
  const pmodelOptions: Record<string, unknown> = { deltaNdim: c.deltaNdim };
  if (c.init) pmodelOptions.init = c.init;
  return gradientAscent({
    lossAndGrad: linearLossAndGrad(f.data.labels, c.targeted),
    data: new Tensor(Float64Array.from(f.data.values), [...f.data.shape]),
    target: c.target,
    optimizer: classes[c.optimizer],
    steps: c.steps,
    perturbationModel: partial(AdditivePerturbation, pmodelOptions),
    targeted: c.targeted,
    useBest: c.useBest,
    reduction: c.reduction,
    ...options,
  });
}

test('the cases file was given and holds cases', () => {
  expect(cases.length).toBeGreaterThan(0);
});

test.each(cases.map((c) => [`${c.name}: ${c.optimizer}[${c.innerOpt}] ${JSON.stringify(c.options)}, ${c.steps} steps, targeted ${c.targeted}, useBest ${c.useBest}, deltaNdim ${c.deltaNdim}, ${c.reduction}, init ${c.init !== null}`, c] as const))(
  '%s',
  (_name, c) => {
    const f = fixture!;
    const result = run(f, c);
    const linf = c.optimizer === 'LinfProjectedOptim';
    // As test/attack.test.ts: in L-inf, sign() turns a rounding difference near zero into a whole step.
    expect(mismatches(result.xAdv.data, c.expected.xAdv, 1e-9, 1e-9).length).toBeLessThanOrEqual(linf ? 8 : 0);
    expect(mismatches(result.losses, c.expected.losses, linf ? 1e-3 : 1e-9, 1e-9)).toEqual([]);
    const n = f.data.shape[0];
    const fooled = predictions(result.xAdv.data, n).filter((p, i) => p !== f.data.labels[i]).length / n;
    expect(fooled).toBeCloseTo(c.fooledFraction, 10);
  },
);
