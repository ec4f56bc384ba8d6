/** Pure rules of MCP tool sources and script steps: names, idempotency defaults, what a worker allows. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import { EndpointPolicy } from '../../src/activities/endpoints';
import {
  McpHub,
  McpNotConnected,
  mcpIdempotent,
  modelToolName,
  serverAnswered,
  splitMcpName,
} from '../../src/activities/mcp';
import { outputOf, scriptRefusal } from '../../src/activities/scripts';
import { loadWorkerResources } from '../../src/activities/worker-allows';
import { checkDefinition } from '../../src/config/definition-schema';
import { loadEnsembleText } from '../../src/config';
import { workerCheckFor } from '../../src/workflows/script';

test('an MCP tool <server>.<tool> is offered to models under a name their APIs accept', () => {
  expect(splitMcpName('fs.read_file')).toEqual({ server: 'fs', tool: 'read_file' });
  expect(splitMcpName('search')).toBeUndefined();
  expect(modelToolName('everything.get-sum')).toBe('everything__get-sum');
  expect(modelToolName('srv.a.b/c')).toBe('srv__a_b_c');
  const long = modelToolName(`s.${'x'.repeat(100)}`);
  expect(long).toMatch(/^[A-Za-z0-9_-]{64}$/);
  expect(long).not.toBe(modelToolName(`s.${'x'.repeat(99)}y`));
});

test('an MCP tool is idempotent when the worker says so, else when it is read-only or idempotent by its annotations', () => {
  const tool = (annotations?: Record<string, boolean>) => ({
    name: 't',
    inputSchema: { type: 'object' as const },
    ...(annotations && { annotations }),
  });
  expect(mcpIdempotent({ command: ['x'] }, tool())).toBe(false);
  expect(mcpIdempotent({ command: ['x'] }, tool({ destructiveHint: false }))).toBe(false);
  expect(mcpIdempotent({ command: ['x'] }, tool({ readOnlyHint: true }))).toBe(true);
  expect(mcpIdempotent({ command: ['x'] }, tool({ idempotentHint: true }))).toBe(true);
  expect(mcpIdempotent({ command: ['x'], idempotent: false }, tool({ readOnlyHint: true }))).toBe(false);
  expect(mcpIdempotent({ url: 'http://h/mcp', idempotent: true }, tool())).toBe(true);
});

test("the SDK's own timeouts and closed connections are not the server's answer", () => {
  expect(serverAnswered(new McpError(ErrorCode.InvalidParams, 'bad'))).toBe(true);
  expect(serverAnswered(new McpError(ErrorCode.RequestTimeout, 'slow'))).toBe(false);
  expect(serverAnswered(new McpError(ErrorCode.ConnectionClosed, 'gone'))).toBe(false);
  expect(serverAnswered(new Error('socket hang up'))).toBe(false);
});

test('a run may use a stdio server only as the worker lists it, and a URL only when the endpoint policy allows it', () => {
  const hub = new McpHub(
    { fs: { command: ['node', 'fs.js'], env: { ROOT: '/data' } }, api: { url: 'http://mcp.internal/mcp' } },
    EndpointPolicy.fromEnv({}, [{ url: 'http://allowed.example', keys: [] }]),
  );
  expect(hub.refusal('fs', { command: ['node', 'fs.js'] }, 'the run')).toBeUndefined();
  expect(
    hub.refusal('fs', { command: ['node', 'fs.js'], env: { ROOT: '/data' } }, 'the run'),
  ).toBeUndefined();
  expect(hub.refusal('fs', { command: ['node', 'fs.js'], env: { ROOT: '/' } }, 'the run')).toMatch(
    /may not set env/,
  );
  expect(hub.refusal('fs', { command: ['node', 'other.js'] }, 'the run')).toMatch(/does not allow/);
  expect(hub.refusal('x', { command: ['node', 'fs.js'] }, 'the run')).toMatch(/it lists: api, fs/);
  expect(hub.refusal('api', { url: 'http://mcp.internal/mcp' }, 'the run')).toBeUndefined();
  expect(hub.refusal('w', { url: 'http://allowed.example/mcp' }, 'the run')).toBeUndefined();
  expect(hub.refusal('w', { url: 'http://elsewhere.example/mcp' }, 'the run')).toMatch(/does not call/);
});

test('scripts: only listed names, args only with allow_args; output as text or JSON', () => {
  const scripts = { a: { argv: ['/bin/true'] }, b: { argv: ['/bin/echo'], allowArgs: true } };
  expect(scriptRefusal(scripts, 'a', undefined, 'step s')).toBeUndefined();
  expect(scriptRefusal(scripts, 'zz', undefined, 'step s')).toMatch(/it allows: a, b/);
  expect(scriptRefusal(scripts, 'toString', undefined, 'step s')).toMatch(/does not allow/);
  expect(scriptRefusal(scripts, 'a', ['-x'], 'step s')).toMatch(/allow_args/);
  expect(scriptRefusal(scripts, 'b', ['-x'], 'step s')).toBeUndefined();
  expect(outputOf('{ "a": 1 }\n', 'json')).toBe('{"a":1}');
  expect(outputOf('not json\n', 'json')).toBe('not json');
  expect(outputOf('{ "a": 1 }\n', 'text')).toBe('{ "a": 1 }');
});

test('the worker config file declares scripts and MCP servers; a bad entry is named', () => {
  const dir = mkdtempSync(join(tmpdir(), 'baton-wc-'));
  const good = join(dir, 'good.yaml');
  writeFileSync(
    good,
    `allowed_endpoints: []
scripts:
  wc: { argv: [wc, -l], allow_args: true }
mcp_servers:
  fs: { command: [npx, server-filesystem, /data], env: { A: b }, idempotent: false }
  web: { url: "http://127.0.0.1:3001/mcp", requires_approval: true }
`,
  );
  expect(loadWorkerResources(good)).toEqual({
    scripts: { wc: { argv: ['wc', '-l'], allowArgs: true } },
    mcpServers: {
      fs: { command: ['npx', 'server-filesystem', '/data'], env: { A: 'b' }, idempotent: false },
      web: { url: 'http://127.0.0.1:3001/mcp', requiresApproval: true },
    },
  });
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, 'scripts:\n  wc: { argv: "wc -l" }\n');
  expect(() => loadWorkerResources(bad)).toThrow(/worker config .*bad.yaml: scripts.wc: argv/);
  writeFileSync(bad, 'mcp_servers:\n  fs: { cmd: [x] }\n');
  expect(() => loadWorkerResources(bad)).toThrow(/mcp_servers.fs/);
});

test('YAML script steps and mcp_servers resolve to the definition; the check covers loops and agent tools', () => {
  const def = loadEnsembleText(
    `name: x
default_profile: oa
profiles: { oa: { provider: openai, model: m } }
mcp_servers:
  web: { url: "http://127.0.0.1:3001/mcp" }
agents:
  - { name: fetch, kind: script, command: get, parameters: { q: 1 }, timeout_seconds: 30, output_format: json }
  - { name: both, kind: script, command: join, depends_on: [fetch] }
  - name: rounds
    kind: loop
    depends_on: [both]
    max_iterations: 2
    until: "inner"
    body:
      - { name: inner, kind: script, command: again }
  - { name: ask, depends_on: [rounds], tools: [web.echo, fs.read_file] }
`,
    'x.yaml',
  );
  expect(def.steps[0]).toMatchObject({
    kind: 'script',
    command: 'get',
    input: '{{input}}',
    parameters: { q: 1 },
    timeout: '30s',
    outputFormat: 'json',
  });
  expect(def.steps[1]).toMatchObject({ input: '{{steps.fetch}}' });
  expect(def.mcpServers).toEqual({ web: { url: 'http://127.0.0.1:3001/mcp' } });
  expect(checkDefinition(def)).toEqual([]);
  expect(workerCheckFor(def)).toEqual({
    scripts: [
      { step: 'fetch', command: 'get' },
      { step: 'both', command: 'join' },
      { step: 'inner', command: 'again' },
    ],
    mcpServers: { web: { url: 'http://127.0.0.1:3001/mcp' } },
    mcpToolServers: [
      { step: 'ask', server: 'web' },
      { step: 'ask', server: 'fs' },
    ],
  });
  // Runs without scripts or MCP servers schedule no check (their histories replay unchanged).
  expect(workerCheckFor({ name: 'y', steps: [] })).toBeUndefined();
});

test('the definition schema refuses a script command that is not a name, and fan-out on a script', () => {
  const issues = checkDefinition({
    name: 'x',
    steps: [
      { kind: 'script', name: 'a', dependsOn: [], command: 'rm -rf /', input: '' },
      { kind: 'script', name: 'b', dependsOn: ['a'], command: 'ok', input: '', fanOut: { from: 'a' } },
    ],
  });
  expect(issues.map((i) => i.path)).toEqual(['steps[0].command', 'steps[1].fanOut']);
});

test('a server that cannot be reached is reported as not connected (nothing was sent)', async () => {
  const hub = new McpHub({ dead: { url: 'http://127.0.0.1:1/mcp' } });
  const r = hub.resolve('dead');
  await expect(hub.callTool(r, 'echo', {}, { idempotencyKey: 'k' })).rejects.toBeInstanceOf(McpNotConnected);
  await hub.close();
});

test("an HTTP server's headers take ${VAR} from the worker's environment", async () => {
  const { createServer } = await import('node:http');
  let auth: string | undefined;
  const srv = createServer((req, res) => {
    auth ??= req.headers.authorization;
    res.writeHead(500).end();
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(srv.address() as { port: number }).port}/mcp`;
  const hub = new McpHub({ api: { url, headers: { Authorization: 'Bearer ${MCP_TOKEN}' } } }, undefined, {
    MCP_TOKEN: 'tok-123',
  });
  await expect(hub.listTools(hub.resolve('api'))).rejects.toBeInstanceOf(McpNotConnected);
  expect(auth).toBe('Bearer tok-123');
  await hub.close();
  srv.close();
});

test('--tools does not check <server>.<tool> names (the run checks them)', () => {
  const def = loadEnsembleText(
    `name: x\ndefault_profile: oa\nprofiles: { oa: { provider: openai, model: m } }\nagents:\n  - { name: a, tools: [search, web.echo] }\n`,
    'x.yaml',
    { knownTools: ['search'] },
  );
  expect((def.steps[0] as { tools?: unknown }).tools).toEqual([{ name: 'search' }, { name: 'web.echo' }]);
});
