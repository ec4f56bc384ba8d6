/**
 * Part of `npm run build`: bundle Baton's workflows once, into dist/workflow-bundle.js, so that
 * `baton worker` from a build starts without running webpack (which would add a hundred MB or more
 * to the worker's peak memory, for a bundle that is the same every time).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { PREBUILT_BUNDLE_FILE } from '../worker';

async function main(): Promise<void> {
  const { code } = await bundleWorkflowCode({
    workflowsPath: require.resolve('../workflows'),
    logger: new DefaultLogger('WARN'),
  });
  const out = join(__dirname, '..', PREBUILT_BUNDLE_FILE);
  writeFileSync(out, code);
  process.stdout.write(`wrote ${out} (${(code.length / 1e6).toFixed(2)} MB)\n`);
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
