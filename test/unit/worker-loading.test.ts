/**
 * `baton worker` loads provider SDKs, the MCP SDK, OpenTelemetry, the Redis client, Hono, pino,
 * YAML, Ajv and the other commands' code (client, config loading) when first needed, not at start (docs/operations.md#baton-worker-memory-defaults): checked in a
 * fresh Node process, which loads the worker command and builds the activities, then uses a provider.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');
const LAZY = [
  '@anthropic-ai/sdk',
  'openai',
  '@google/genai',
  '@modelcontextprotocol/sdk',
  '@opentelemetry/sdk-trace-base',
  '@temporalio/interceptors-opentelemetry',
  'ioredis',
  'hono',
  'pino',
  'yaml',
  'ajv',
];
/** Baton's own modules a worker of parked runs does not use: the other commands, the client, config loading. */
const LAZY_OWN = [
  'src/cli/commands/',
  'src/cli/demo.ts',
  'src/cli/server-command.ts',
  'src/cli/lifecycle.ts',
  'src/client.ts',
  'src/config/load.ts',
  'src/config/llm-orc.ts',
  'src/server/index.ts',
  'src/evals/',
];

const loaded = `() => {
  const keys = Object.keys(require.cache);
  return ${JSON.stringify(LAZY)}.filter((p) => keys.some((k) => k.includes('/node_modules/' + p + '/')))
    .concat(${JSON.stringify(LAZY_OWN)}.filter((p) => keys.some((k) => k.includes(${JSON.stringify(ROOT)} + '/' + p))));
}`;

test("baton worker starts without loading provider, MCP, tracing, Redis, HTTP server, pino, YAML, Ajv, client or other commands' code", () => {
  // The real command, up to connecting (to an address where nothing answers); a preload reports
  // what was loaded when the command first writes to stderr (the connection error, before the
  // error's exit code is looked up, which loads the error classes' modules).
  const preload = join(mkdtempSync(join(tmpdir(), 'baton-loading-')), 'report.js');
  writeFileSync(
    preload,
    `const write = process.stderr.write.bind(process.stderr); let at;
process.stderr.write = (...a) => { at ??= (${loaded})(); return write(...a); };
process.on('exit', () => process.stdout.write('LOADED ' + JSON.stringify(at ?? (${loaded})()) + '\\n'));`,
  );
  const r = spawnSync(process.execPath, ['-r', preload, join(ROOT, 'bin', 'baton.js'), 'worker'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      BATON_FROM_SOURCE: '1',
      BATON_WORKER_CHILD: '1',
      TEMPORAL_ADDRESS: '127.0.0.1:1',
    },
    encoding: 'utf8',
    timeout: 60_000,
  });
  expect(r.stderr).toMatch(/no Temporal server answered at 127.0.0.1:1/);
  expect(JSON.parse(/LOADED (.*)/.exec(r.stdout)![1]!)).toEqual([]);
}, 60_000);

const script = `
const loaded = ${loaded};
const { createActivities } = require('./src/activities/index.ts');
const { McpHub } = require('./src/activities/mcp.ts');
const { EndpointPolicy } = require('./src/activities/endpoints.ts');
const env = { OPENAI_API_KEY: 'k' };
createActivities({ env, mcp: new McpHub({}, EndpointPolicy.fromEnv(env, []), env) });
const atStart = loaded();
const { ProviderRegistry } = require('./src/activities/providers/index.ts');
new ProviderRegistry(env).get({ name: 'p', provider: 'openai', model: 'm', apiKeyEnv: 'OPENAI_API_KEY' });
process.stdout.write(JSON.stringify({ atStart, afterOpenAI: loaded() }));
`;

test("the worker's activities load no provider SDK until a profile needs it, then only that one", () => {
  const r = spawnSync(process.execPath, ['-r', 'tsx/cjs', '-e', script], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME },
    encoding: 'utf8',
    timeout: 60_000,
  });
  const out = JSON.parse(r.stdout.slice(r.stdout.lastIndexOf('{"atStart"'))) as {
    atStart: string[];
    afterOpenAI: string[];
  };
  expect(out.atStart).toEqual([]);
  expect(out.afterOpenAI).toEqual(['openai']);
}, 60_000);

test('the prebuilt workflow bundle keeps its source map for stack traces, without the bundled files’ text', async () => {
  const { SourceMapGenerator, SourceMapConsumer } = require('source-map') as typeof import('source-map');
  const { withoutSourcesContent } =
    require('../../src/cli/bundle-workflows') as typeof import('../../src/cli/bundle-workflows');
  const gen = new SourceMapGenerator({ file: 'workflow-bundle.js' });
  gen.addMapping({
    generated: { line: 2, column: 4 },
    original: { line: 40, column: 2 },
    source: 'webpack:///dist/workflows/run.js',
  });
  gen.setSourceContent('webpack:///dist/workflows/run.js', 'x'.repeat(10_000));
  const code = `var a;\n    throw new Error('boom');\n//# sourceMappingURL=data:application/json;charset=utf-8;base64,${Buffer.from(gen.toString()).toString('base64')}`;
  const slim = withoutSourcesContent(code);
  expect(slim.length).toBeLessThan(code.length - 10_000);
  // As the SDK reads it (@temporalio/worker's extractSourceMap): the text after 'base64,'.
  const map = JSON.parse(Buffer.from(slim.slice(slim.indexOf('base64,') + 7), 'base64').toString());
  expect(map.sourcesContent).toBeUndefined();
  expect(slim.slice(0, slim.indexOf('//# sourceMappingURL'))).toBe(
    code.slice(0, code.indexOf('//# sourceMappingURL')),
  );
  const consumer = await new SourceMapConsumer(map);
  expect(consumer.originalPositionFor({ line: 2, column: 4 })).toMatchObject({
    source: 'webpack:///dist/workflows/run.js',
    line: 40,
  });
});
