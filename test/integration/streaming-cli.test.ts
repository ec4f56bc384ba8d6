/** The CLI prints tokens as they stream: `baton run --tokens` and `baton demo` (what `npm start` runs). */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeModelServer } from '../support/fake-model-server';
import { runBaton } from '../support/cli';

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
  return runBaton(args, {
    cwd: dir,
    env: { OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: fake.openaiBaseURL, ...env },
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
