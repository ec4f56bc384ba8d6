// Writes jest's aggregated results as JSON (the same totals `jest --json` prints), for .ci/run.
const { writeFileSync } = require('node:fs');

class JsonReporter {
  constructor(_globalConfig, options) {
    this.outputFile = options.outputFile;
  }
  onRunComplete(_contexts, results) {
    const { numPassedTests, numFailedTests, numTotalTests, numRuntimeErrorTestSuites, numFailedTestSuites } =
      results;
    writeFileSync(
      this.outputFile,
      JSON.stringify({
        numPassedTests,
        numFailedTests,
        numTotalTests,
        numRuntimeErrorTestSuites,
        numFailedTestSuites,
      }),
    );
  }
}
module.exports = JsonReporter;
