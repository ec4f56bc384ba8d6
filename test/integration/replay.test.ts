import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { chain } from '../../src/define';
import { fetchRunHistory, historyJSON, readHistoryFile, replayHistory } from '../../src/replay';
import type { ModelProfile } from '../../src/types';
import { bundleFor, startHarness, workflowBundle, type Harness } from '../support/harness';
import { patternsBundle } from '../support/patterns-harness';

const profile: ModelProfile = { name: 'oa', provider: 'openai', model: 'gpt-test' };
let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

async function recordChain(): Promise<string> {
  const def = chain('replayed', [
    { name: 'first', profile, prompt: 'one {{input}}' },
    { name: 'second', profile, prompt: 'two {{first}}' },
  ]);
  const { runId } = await h.baton.start(def, 'x', { runId: `replay-${Date.now()}` });
  await h.baton.result(runId);
  return runId;
}

test('a recorded run replays cleanly against the current code, also through a history file', async () => {
  const runId = await recordChain();
  const history = await fetchRunHistory(h.baton.temporal, runId);
  const report = await replayHistory(history, runId, { workflowBundle: await workflowBundle() });
  expect(report).toMatchObject({ ok: true, workflowId: runId });
  expect(report.events).toBeGreaterThan(5);

  const file = join(mkdtempSync(join(tmpdir(), 'baton-replay-')), 'history.json');
  writeFileSync(file, historyJSON(history));
  const fromFile = await replayHistory(readHistoryFile(file), runId, {
    workflowBundle: await workflowBundle(),
  });
  expect(fromFile.ok).toBe(true);
});

test('changed workflow code is reported in plain words: which event, which step, what to do', async () => {
  const runId = await recordChain();
  const history = await fetchRunHistory(h.baton.temporal, runId);
  const drifted = await bundleFor(require.resolve('../support/drifted-workflows'));
  const report = await replayHistory(history, runId, { workflowBundle: drifted });
  expect(report.ok).toBe(false);
  expect(report.problem).toMatch(
    /at event \d+ \(step 'first'\) the run recorded that it scheduled a model or tool call/,
  );
  expect(report.problem).toMatch(/patched\(\)/);
});

test('a history file that is not a history is refused with its name', () => {
  const file = join(mkdtempSync(join(tmpdir(), 'baton-replay-')), 'bad.json');
  writeFileSync(file, '{"hello": 1}');
  expect(() => readHistoryFile(file)).toThrow(`${file} holds no history`);
});

// Every history recorded by this or an earlier version (test/histories, append-only: `<name>.json`
// from the first recordings, `<name>@<version>.json` since, in any subfolder) must replay against
// the current code, so a change that would break running workflows fails CI.
const dir = join(__dirname, '..', 'histories');
const files = existsSync(dir)
  ? (readdirSync(dir, { recursive: true }) as string[]).filter((f) => f.endsWith('.json')).sort()
  : [];
test('the recorded histories include earlier versions', () => {
  expect(files.filter((f) => /@.+\.json$/.test(f)).length).toBeGreaterThan(0);
});
test.each(files)('recorded history %s replays', async (file) => {
  // Runs of the example user workflows replay against their own module (which composes the patterns).
  const bundle = await (basename(file).startsWith('examples-') ? patternsBundle() : workflowBundle());
  const report = await replayHistory(readHistoryFile(join(dir, file)), undefined, { workflowBundle: bundle });
  if (!report.ok) throw new Error(`${file}: ${report.problem}`);
});
