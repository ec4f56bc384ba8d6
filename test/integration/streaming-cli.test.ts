/** The CLI prints tokens as they stream: `baton run --tokens` and `baton demo` (what `npm start` runs). */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeModelServer } from '../support/fake-model-server';
import { testTemporal } from '../support/temporal-env';

const BIN = join(__dirname, '..', '..', 'bin', 'baton.js');
let fake: FakeModelServer;
let dir: string;
beforeAll(async () => {
  fake = await FakeModelServer.start();
  dir = mkdtempSync(join(tmpdir(), 'baton-stream-cli-'));
});
afterAll(async () => {
  await fake?.close();
});

function baton(args: string[], env: NodeJS.ProcessEnv = {}) {
  const { address, namespace } = testTemporal();
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: dir,
      env: {
        PATH: process.env.PATH,
        HOME: dir,
        BATON_FROM_SOURCE: '1',
        TEMPORAL_ADDRESS: address,
        TEMPORAL_NAMESPACE: namespace,
        OPENAI_API_KEY: 'sk-test',
        OPENAI_BASE_URL: fake.openaiBaseURL,
        ...env,
      },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdin.end('');
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

test('baton run --tokens prints each step’s text as it streams, under the step’s name', async () => {
  fake.on('tell me', { text: 'one two three four five' });
  const file = join(dir, 'stream.yaml');
  writeFileSync(
    file,
    `name: stream-cli
profiles:
  oa: { provider: openai, model: gpt-test }
default_profile: oa
agents:
  - name: say
    prompt: "tell me {{input}}"
`,
  );
  const r = await baton([
    'run',
    file,
    'x',
    '--local-worker',
    '--tokens',
    '--task-queue',
    `stream-cli-${Date.now()}`,
  ]);
  expect(r.code).toBe(0);
  expect(r.stderr).toContain('── say\none two three four five\n');
  expect(r.stdout.trim()).toBe('one two three four five');
});

test('baton demo (npm start) streams the offline model’s text step by step', async () => {
  const r = await baton(['demo'], { OPENAI_API_KEY: '', BATON_OFFLINE_WORD_DELAY_MS: '1' });
  expect(r.code).toBe(0);
  for (const step of ['outline', 'draft', 'polish'])
    expect(r.stdout).toMatch(new RegExp(`── ${step}\\n\\[offline #\\d{4}\\] `));
});
