import { bundleWorkflowCode } from '@temporalio/worker';
(async () => {
  const { code } = await bundleWorkflowCode({ workflowsPath: require.resolve('./src/workflows'), logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} } as any });
  console.log(code.length);
})();
