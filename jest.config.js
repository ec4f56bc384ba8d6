/** One Temporal server for the whole run (test/support/global-setup.ts); TypeScript through SWC. */
module.exports = {
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': ['@swc/jest'] },
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  testTimeout: 120000,
  // Two jest workers on a 2-core machine: the server, the workers under test and jest share it.
  maxWorkers: 2,
  // .ci/run reads the totals from this report; a plain `npm test` writes none.
  ...(process.env.BATON_JEST_JSON && {
    reporters: [
      'default',
      ['<rootDir>/test/support/json-reporter.js', { outputFile: process.env.BATON_JEST_JSON }],
    ],
  }),
};
