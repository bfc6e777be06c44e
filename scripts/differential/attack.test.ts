// SPDX-License-Identifier: MIT
// The differential run's attack cases (gen_attack.py, from rai_toolbox's
// gradient_ascent): each through lp-optim's gradientAscent on the backend and
// ISA of this process, checked as test/attack.test.ts checks the golden ones
// (expectAttackCaseMatches). Not part of `npm test`: scripts/differential/run.sh
// runs it.
import * as fs from 'fs';
import { AttackFixture, expectAttackCaseMatches } from '../../test/attackModel';

const file = process.env.LP_DIFF_CASES ?? '';
const fixture: AttackFixture | null = file ? JSON.parse(fs.readFileSync(file, 'utf8')) : null;
const cases = fixture?.cases ?? [];

test('the cases file was given and holds cases', () => {
  expect(cases.length).toBeGreaterThan(0);
});

test.each(cases.map((c) => [`${c.name}: ${c.optimizer}[${c.innerOpt}] ${JSON.stringify(c.options)}, ${c.steps} steps, targeted ${c.targeted}, useBest ${c.useBest}, deltaNdim ${c.deltaNdim}, ${c.reduction}, init ${c.init !== null}`, c] as const))(
  '%s',
  (_name, c) => expectAttackCaseMatches(fixture!, c),
);
