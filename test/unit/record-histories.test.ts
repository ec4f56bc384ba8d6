import { execFile } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const ROOT = join(__dirname, '..', '..');
const HISTORIES = join(ROOT, 'test', 'histories');

/** Run `npm run record-histories -- <args>` as the script it is; resolves with its exit code and output. */
async function record(args: string[]): Promise<{ code: number; stderr: string }> {
  try {
    await promisify(execFile)(
      process.execPath,
      ['-r', 'tsx/cjs', join(ROOT, 'test', 'support', 'record-histories.ts'), ...args],
      {
        cwd: ROOT,
        // Never reach a server: the refusal must come before anything runs.
        env: { ...process.env, TEMPORAL_ADDRESS: '127.0.0.1:1' },
      },
    );
    return { code: 0, stderr: '' };
  } catch (e) {
    const err = e as { code: number; stderr: string };
    return { code: err.code, stderr: err.stderr };
  }
}

test('record-histories refuses to overwrite a recorded history, names the file and says what to do; the file is untouched', async () => {
  const file = join(HISTORIES, 'chain@0.1.0-953e35e.json');
  const before = readFileSync(file, 'utf8');
  const r = await record(['--label', '0.1.0-953e35e', '--only', 'chain']);
  expect(r.code).toBe(1);
  expect(r.stderr).toContain('record-histories: refusing to overwrite recorded histories');
  expect(r.stderr).toContain(file);
  expect(r.stderr).toMatch(
    /Bump the version in package\.json, or record under another name: npm run record-histories -- --label/,
  );
  expect(readFileSync(file, 'utf8')).toBe(before);
});

test('record-histories refuses an unknown --only name, listing the known ones', async () => {
  const r = await record(['--only', 'no-such-pattern']);
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/--only: unknown recording no-such-pattern; known: chain, fan-out-join, /);
});

test('every recorded history file is named <pattern>.json (first recordings) or <pattern>@<version>.json', () => {
  const files = readdirSync(HISTORIES).filter((f) => f.endsWith('.json'));
  for (const f of files) expect(f).toMatch(/^[a-z][a-z0-9-]*(@[\w.+-]+)?\.json$/);
});
