/**
 * MCP tools on the real server: a ReAct agent calls the tools of the reference "everything" MCP
 * server (from npm) over stdio and over streamable HTTP, against the fake model, which scripts the
 * tool calls. Sessions belong to the worker and are made again after a dropped connection or a
 * worker that died; servers the worker does not allow are refused before anything runs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { createTool } from '../../src/activities/tools';
import { RunFailedError } from '../../src/client';
import { loadEnsembleText } from '../../src/config';
import { killHard, startChildWorker } from '../support/child-worker';
import { fakeEnv, startHarness, type Harness } from '../support/harness';

const EVERYTHING = join(
  __dirname,
  '../../node_modules/@modelcontextprotocol/server-everything/dist/index.js',
);
const stdioCommand = [process.execPath, EVERYTHING, 'stdio'];
const crashLog = join(mkdtempSync(join(tmpdir(), 'baton-crashy-')), 'calls');
const CRASHY = join(__dirname, '../support/mcp-crashy-server.js');

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

/** server-everything's streamable HTTP transport on `port` (its CLI: `index.js streamableHttp`, PORT=...). */
async function startHttpServer(port: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, [EVERYTHING, 'streamableHttp'], {
    env: { PATH: process.env.PATH, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const onData = (d: Buffer) => {
      out += d.toString();
      if (out.includes('listening on port')) resolve();
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`MCP HTTP server exited with ${code}: ${out}`)));
  });
  return child;
}

let h: Harness;
let port: number;
let http: ChildProcess | undefined;
const children: ChildProcess[] = [];
beforeAll(async () => {
  port = await freePort();
  http = await startHttpServer(port);
  h = await startHarness({
    tools: [
      createTool({
        name: 'stamp',
        description: 'Stamp a word.',
        input: z.object({ word: z.string() }),
        run: ({ word }) => `stamped ${word}`,
      }),
    ],
    worker: {
      mcpServers: {
        everything: { command: stdioCommand },
        crashy: { command: [process.execPath, CRASHY, crashLog] },
      },
      allowedEndpoints: [{ url: `http://127.0.0.1:${port}`, keys: [] }],
    },
  });
});
afterAll(async () => {
  for (const c of children) await killHard(c);
  if (http) await killHard(http);
  await h?.close();
});
beforeEach(() => h.fake.reset());

const yaml = (body: string) =>
  loadEnsembleText(
    `name: mcp\ndefault_profile: oa\nprofiles:\n  oa: { provider: openai, model: gpt-test }\n${body}`,
    'mcp.yaml',
  );
const runId = (what: string) => `mcp-${what}-${Date.now()}-${Math.random().toString(36).slice(2, 6)}`;

test("a ReAct agent calls a stdio MCP server's tool from the worker's config, offered with the server's JSON schema", async () => {
  h.fake.on('add two and three', { toolCalls: [{ name: 'everything__get-sum', arguments: { a: 2, b: 3 } }] });
  h.fake.on('The sum of 2 and 3 is 5.', { text: 'five' });
  const def = yaml(`agents:
  - name: calc
    prompt: "add two and three"
    tools: [everything.get-sum]
`);
  const id = runId('stdio');
  await h.baton.start(def, '', { runId: id });
  const result = await h.baton.result(id);
  expect(result.output).toBe('five');
  const first = h.fake.requests[0]!;
  expect(first.tools).toEqual(['everything__get-sum']);
  const offered = first.body.tools[0].function;
  expect(offered.description).toBe('Returns the sum of two numbers');
  expect(offered.parameters.properties).toEqual({
    a: expect.objectContaining({ type: 'number' }),
    b: expect.objectContaining({ type: 'number' }),
  });
  expect(result.steps[0]!.toolCalls).toBe(1);
});

test("a stdio server gets a minimal environment, not the worker's; a tool error comes back to the model", async () => {
  process.env.BATON_TEST_WORKER_SECRET = 'secret-in-worker-env';
  h.fake.on('show env', {
    toolCalls: [
      { id: 'c1', name: 'everything__get-env', arguments: {} },
      { id: 'c2', name: 'everything__get-sum', arguments: { a: 'not a number', b: 1 } },
    ],
  });
  h.fake.on(/"PATH"/, { text: 'seen' });
  const def = yaml(`agents:
  - name: env
    prompt: "show env"
    tools: [everything.get-env, everything.get-sum]
`);
  const id = runId('env');
  await h.baton.start(def, '', { runId: id });
  const result = await h.baton.result(id);
  expect(result.output).toBe('seen');
  const second = h.fake.requests[1]!;
  expect(second.allText).not.toContain('secret-in-worker-env');
  expect(second.allText).toMatch(/Error: [^\n]*'everything\.get-sum'/);
  delete process.env.BATON_TEST_WORKER_SECRET;
});

test('a lost answer: an idempotent MCP tool is called again on a new session; a tool without annotations is not (ToolOutcomeUnknown)', async () => {
  h.fake.on('flip it', { toolCalls: [{ name: 'crashy__flip', arguments: {} }] });
  h.fake.on('flip done', { text: 'flipped' });
  const id1 = runId('flip');
  await h.baton.start(yaml(`agents:\n  - { name: a, prompt: "flip it", tools: [crashy.flip] }\n`), '', {
    runId: id1,
  });
  expect((await h.baton.result(id1)).output).toBe('flipped');

  h.fake.on('flop it', { toolCalls: [{ name: 'crashy__flop', arguments: {} }] });
  const id2 = runId('flop');
  await h.baton.start(yaml(`agents:\n  - { name: b, prompt: "flop it", tools: [crashy.flop] }\n`), '', {
    runId: id2,
  });
  const err = (await h.baton.result(id2).catch((e: unknown) => e)) as RunFailedError;
  expect(err).toBeInstanceOf(RunFailedError);
  expect(err.progress?.error?.type).toBe('ToolOutcomeUnknown');
  expect(err.message).toContain(`Idempotency key: ${id2}/b#1`);
  expect(readFileSync(crashLog, 'utf8').split('\n').filter(Boolean)).toEqual(['flip', 'flip', 'flop']);
});

test('one agent mixes registered tools and MCP tools, called in the same turn', async () => {
  h.fake.on('mix them', {
    toolCalls: [
      { id: 'a', name: 'stamp', arguments: { word: 'red' } },
      { id: 'b', name: 'everything__echo', arguments: { message: 'blue' } },
    ],
  });
  h.fake.on(/stamped red[\s\S]*Echo: blue/, { text: 'mixed' });
  const def = yaml(`agents:\n  - { name: m, prompt: "mix them", tools: [stamp, everything.echo] }\n`);
  const id = runId('mix');
  await h.baton.start(def, '', { runId: id });
  expect((await h.baton.result(id)).output).toBe('mixed');
  expect(h.fake.requests[0]!.tools).toEqual(['stamp', 'everything__echo']);
});

test('a run-declared streamable HTTP server, allowed by the endpoint policy, serves a ReAct agent; a restarted server is reconnected to', async () => {
  const def = yaml(`mcp_servers:
  web: { url: "http://127.0.0.1:${port}/mcp" }
agents:
  - name: talk
    prompt: "echo please"
    tools: [web.echo]
`);
  h.fake.on('echo please', { toolCalls: [{ name: 'web__echo', arguments: { message: 'hi there' } }] });
  h.fake.on('Echo: hi there', { text: 'echoed' });
  const id1 = runId('http');
  await h.baton.start(def, '', { runId: id1 });
  expect((await h.baton.result(id1)).output).toBe('echoed');

  // The server restarts and forgets every session; the worker's next call connects again.
  await killHard(http!);
  http = await startHttpServer(port);
  const id2 = runId('http-again');
  await h.baton.start(def, '', { runId: id2 });
  expect((await h.baton.result(id2)).output).toBe('echoed');
  expect(h.fake.count('Echo: hi there')).toBe(2);
});

test("a run declaring a stdio command the worker's config does not list is refused before anything runs", async () => {
  const def = yaml(`mcp_servers:
  sneaky: { command: ["/bin/sh", "-c", "touch /tmp/pwned"] }
agents:
  - { name: a, prompt: "x", tools: [sneaky.anything] }
`);
  const id = runId('refused');
  await h.baton.start(def, '', { runId: id });
  const err = (await h.baton.result(id).catch((e: unknown) => e)) as RunFailedError;
  expect(err).toBeInstanceOf(RunFailedError);
  expect(err.message).toContain(
    `declares MCP server 'sneaky' with command ["/bin/sh","-c","touch /tmp/pwned"]`,
  );
  expect(err.message).toContain("this worker's config does not allow");
  expect(err.progress?.error?.type).toBe('NotAllowedByWorker');
  expect(h.fake.count()).toBe(0);
});

test("a run declaring the same command under the worker's name but with env of its own is refused", async () => {
  const def = yaml(`mcp_servers:
  everything: { command: ${JSON.stringify(stdioCommand)}, env: { NODE_OPTIONS: "--require /tmp/evil.js" } }
agents:
  - { name: a, prompt: "x", tools: [everything.echo] }
`);
  const id = runId('env');
  await h.baton.start(def, '', { runId: id });
  const err = (await h.baton.result(id).catch((e: unknown) => e)) as RunFailedError;
  expect(err.message).toContain('a run may not set env the worker does not set');
  expect(h.fake.count()).toBe(0);
});

test('a run-declared MCP URL outside the endpoint policy is refused before anything runs', async () => {
  const def = yaml(`mcp_servers:
  far: { url: "http://127.0.0.1:1/mcp" }
agents:
  - { name: a, prompt: "x", tools: [far.echo] }
`);
  const id = runId('url');
  await h.baton.start(def, '', { runId: id });
  const err = (await h.baton.result(id).catch((e: unknown) => e)) as RunFailedError;
  expect(err.message).toContain(
    "declares MCP server 'far' at http://127.0.0.1:1/mcp, an endpoint this worker does not call",
  );
  expect(h.fake.count()).toBe(0);
});

test('a tool of a server nobody declares is refused before anything runs', async () => {
  const def = yaml(`agents:\n  - { name: a, prompt: "x", tools: [ghost.echo] }\n`);
  const id = runId('ghost');
  await h.baton.start(def, '', { runId: id });
  const err = (await h.baton.result(id).catch((e: unknown) => e)) as RunFailedError;
  expect(err.message).toContain("step 'a' uses tools of MCP server 'ghost'");
  expect(h.fake.count()).toBe(0);
});

test('a tool the server does not have fails the step, naming the tools it has', async () => {
  const def = yaml(`agents:\n  - { name: a, prompt: "x", tools: [everything.no-such-tool] }\n`);
  const id = runId('unknown');
  await h.baton.start(def, '', { runId: id });
  const err = (await h.baton.result(id).catch((e: unknown) => e)) as RunFailedError;
  expect(err.message).toContain(
    "unknown tool 'everything.no-such-tool': MCP server 'everything' has these tools:",
  );
  expect(err.message).toContain('get-sum');
});

test('the worker dies mid-run; a new worker process opens its own MCP session and the run goes on', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'baton-mcp-'));
  const config = join(dir, 'worker.yaml');
  writeFileSync(config, `mcp_servers:\n  everything:\n    command: ${JSON.stringify(stdioCommand)}\n`);
  const taskQueue = `mcp-crash-${Date.now()}`;
  const env = { ...fakeEnv(h.fake), BATON_TASK_QUEUE: taskQueue, BATON_TEST_WORKER_CONFIG: config };
  // Turn 1: a call on the first worker. Turn 2: the model call hangs, the worker is killed; the
  // retry (on the new worker) asks for another call, which needs a session of the new worker.
  h.fake.on('sum then echo', { toolCalls: [{ name: 'everything__get-sum', arguments: { a: 1, b: 1 } }] });
  h.fake.on('The sum of 1 and 1 is 2.', (_req, n) =>
    n === 0
      ? { text: 'too late', delayMs: 60_000 }
      : { toolCalls: [{ name: 'everything__echo', arguments: { message: 'after restart' } }] },
  );
  h.fake.on('Echo: after restart', { text: 'survived' });
  const { BatonClient } = await import('../../src/client');
  const baton = await BatonClient.connect({
    connection: h.connection,
    namespace: h.namespace,
    taskQueue,
    dataConverter: {},
    tracing: false,
  });
  const first = await startChildWorker(env);
  children.push(first);
  const def = yaml(`agents:
  - name: agent
    prompt: "sum then echo"
    tools: [everything.get-sum, everything.echo]
`);
  const id = runId('crash');
  await baton.start(def, '', { runId: id, options: { heartbeatTimeout: '2s' } });
  await h.fake.waitFor('The sum of 1 and 1 is 2.', 1, 60_000);
  await killHard(first);
  children.push(await startChildWorker(env));
  const result = await baton.result(id);
  expect(result.output).toBe('survived');
  expect(result.steps[0]!.toolCalls).toBe(2);
  // Turn 1, turn 2 (killed), turn 2 again on the new worker, turn 3: no call made twice but the killed one.
  expect(h.fake.count('sum then echo')).toBe(4);
  expect(h.fake.count('Echo: after restart')).toBe(1);
});
