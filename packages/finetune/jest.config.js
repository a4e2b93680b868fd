/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: require.resolve('@richhf/reward/testing/node-env'),
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.json' }] },
  testMatch: ['<rootDir>/src/**/*.test.ts'],
  testTimeout: 120000,
};
