// SPDX-License-Identifier: MIT
// One jest configuration for every backend and ISA: scripts/test-all.js runs
// it once per LP_OPTIM_BACKEND / LP_OPTIM_FORCE_ISA combination.
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  // Transpiled file by file, not type-checked here (isolatedModules): a test written
  // against API.md with looser types than ours must still run. The suite's own types
  // are checked by `tsc -p test/tsconfig.json`, which scripts/test-all.js runs first.
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'test/tsconfig.jest.json' }] },
  // Examples import the package by name, as users do: here that is the TypeScript source.
  moduleNameMapper: { '^lp-optim$': '<rootDir>/ts/index.ts' },
  testTimeout: 60000,
};
