/**
 * Part of `npm run build`: bundle Baton's workflows once, into dist/workflow-bundle.js, so that
 * `baton worker` from a build starts without running webpack (which would add a hundred MB or more
 * to the worker's peak memory, for a bundle that is the same every time).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { batonBundlerOptions, batonWorkflowsModule, PREBUILT_BUNDLE_FILE } from '../worker';

const MAP_TAG = '//# sourceMappingURL=data:';

/**
 * The bundle with its inline source map (which the SDK requires, to map workflow stack traces to
 * files and lines) kept, but without `sourcesContent`: a copy of every bundled file's text that
 * only a debugger showing sources reads. It was a third of the bundle, and the worker holds the
 * bundle's text in memory for as long as it runs.
 */
export function withoutSourcesContent(code: string): string {
  const at = code.lastIndexOf(MAP_TAG);
  const data = at < 0 ? -1 : code.indexOf('base64,', at) + 'base64,'.length;
  if (data < 'base64,'.length) return code;
  const map = JSON.parse(Buffer.from(code.slice(data).trimEnd(), 'base64').toString()) as {
    sourcesContent?: unknown;
  };
  delete map.sourcesContent;
  return `${code.slice(0, data)}${Buffer.from(JSON.stringify(map)).toString('base64')}\n`;
}

async function main(): Promise<void> {
  const { code } = await bundleWorkflowCode({
    workflowsPath: batonWorkflowsModule(),
    logger: new DefaultLogger('WARN'),
    // Baton's workflow modules evaluated once per workflow context, shared by all runs (see batonBundlerOptions).
    ...batonBundlerOptions(),
  });
  const out = join(__dirname, '..', PREBUILT_BUNDLE_FILE);
  const slim = withoutSourcesContent(code);
  writeFileSync(out, slim);
  process.stdout.write(
    `wrote ${out} (${(slim.length / 1e6).toFixed(2)} MB; ${(code.length / 1e6).toFixed(2)} MB with sourcesContent)\n`,
  );
}

if (require.main === module) {
  main().catch((err) => {
    process.stderr.write(`${(err as Error).stack}\n`);
    process.exit(1);
  });
}
