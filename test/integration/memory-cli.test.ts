import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LanceMemoryStore } from '../../src/activities/memory-lance';
import { startHarness, type Harness } from '../support/harness';
import { runBaton } from '../support/cli';

// Each command starts from source on a shared machine: give the tests room.
jest.setTimeout(600_000);

let h: Harness;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'baton-memory-cli-'));
  // The worker (and its store) is this process's; the commands talk to it through Temporal.
  h = await startHarness({ memoryStore: new LanceMemoryStore(join(dir, 'store')) });
});
afterAll(async () => {
  await h?.close();
});

function baton(args: string[]) {
  return runBaton(args, {
    cwd: dir,
    env: {
      TEMPORAL_ADDRESS: h.address,
      TEMPORAL_NAMESPACE: h.namespace,
      BATON_TASK_QUEUE: h.taskQueue,
      OPENAI_API_KEY: 'sk-test',
      OPENAI_BASE_URL: h.fake.openaiBaseURL,
    },
  });
}

test('a YAML ensemble remembers and recalls per user; baton memory forget deletes a user', async () => {
  writeFileSync(
    join(dir, 'notes.yaml'),
    `
name: notes
memory: { namespace: crm, embedding_profile: emb }
profiles:
  chat: { provider: openai, model: gpt-test }
  emb: { provider: openai, model: text-embedding-test }
default_profile: chat
agents:
  - name: answer
    system_prompt: You help the sales team.
    prompt: "Note: {{input}}"
    recall: { scope: user, top_k: 2 }
    remember: true
`,
  );
  h.fake.on('Note:', (req) => ({ text: `noted ${req.lastUserText.replace('Note: ', '')}` }));
  const run = (input: string, user: string) =>
    baton(['run', 'notes.yaml', input, '--no-local-worker', '--memory-user', user, '-o', 'text']);
  expect((await run('acme wants a discount', 'ann')).code).toBe(0);
  expect((await run('globex wants a demo', 'bob')).code).toBe(0);
  const third = await run('what does acme want?', 'ann');
  expect(third.code).toBe(0);
  const system = h.fake.requests[h.fake.requests.length - 1]!.system;
  expect(system).toContain('You help the sales team.');
  expect(system).toContain('- noted acme wants a discount');
  expect(system).not.toContain('globex');
  // Each step embedded its recall query and its output.
  expect(h.fake.embeddingRequests).toHaveLength(6);

  const forgot = await baton(['memory', 'forget', '--namespace', 'crm', '--user', 'ann', '--json']);
  expect(forgot.code).toBe(0);
  expect(JSON.parse(forgot.stdout)).toEqual({ deleted: 2 });
  expect(await h.baton.forgetMemories({ namespace: 'crm' })).toEqual({ deleted: 1 });
});
