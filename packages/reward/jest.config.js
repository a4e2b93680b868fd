/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: '<rootDir>/src/testing/node-env.js',
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.json' }] },
  testMatch: ['<rootDir>/src/**/*.test.ts'],
  testTimeout: 120000,
};
