/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: require.resolve('@richhf/reward/testing/node-env'),
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.json' }] },
  testMatch: ['<rootDir>/**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/'],
  testTimeout: 300000,
};
