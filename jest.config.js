// ESM TypeScript through swc; run with --experimental-vm-modules (see package.json "test").
// Test timeouts are hang guards sized for an idle machine, multiplied by this factor for CI's loaded one
// (test/helpers/patience.ts reads it; the workers inherit it).
process.env.NNSEG_TEST_PATIENCE ??= '3';
const patience = Math.max(1, Number(process.env.NNSEG_TEST_PATIENCE));

/** @type {import('jest').Config} */
export default {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  extensionsToTreatAsEsm: ['.ts'],
  transform: {
    '^.+\\.ts$': ['@swc/jest', { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'es6' } }],
  },
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  testTimeout: 60_000 * patience,
  maxWorkers: 2,
};
