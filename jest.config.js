// SPDX-License-Identifier: MIT
// One jest configuration for every backend and ISA: scripts/test-all.js runs
// it once per LP_OPTIM_BACKEND / LP_OPTIM_FORCE_ISA combination.
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'test/tsconfig.json', diagnostics: { warnOnly: false } }] },
  // Examples import the package by name, as users do: here that is the TypeScript source.
  moduleNameMapper: { '^lp-optim$': '<rootDir>/ts/index.ts' },
  testTimeout: 60000,
};
