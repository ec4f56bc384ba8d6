/**
 * Output hygiene of the real `baton` command: standard output carries only the output (logs of the
 * SDK, its Rust core and Baton go to standard error), and a reader that closes the pipe early ends
 * the command quietly.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testTemporal } from '../support/temporal-env';

const ROOT = join(__dirname, '..', '..');
const BIN = join(ROOT, 'bin', 'baton.js');
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'baton-cli-output-'));
});

function env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const { address, namespace } = testTemporal();
  return {
    PATH: process.env.PATH,
    HOME: dir,
    BATON_FROM_SOURCE: '1',
    TEMPORAL_ADDRESS: address,
    TEMPORAL_NAMESPACE: namespace,
    ...extra,
  };
}

/** Run `baton args`; with `closeStdout`, the reader closes the pipe before the command writes a byte. */
function baton(args: string[], opts: { env?: NodeJS.ProcessEnv; closeStdout?: boolean } = {}) {
  return new Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }>(
    (resolve) => {
      const child = spawn(process.execPath, [BIN, ...args], { cwd: dir, env: env(opts.env) });
      let stdout = '';
      let stderr = '';
      if (opts.closeStdout) child.stdout.destroy();
      else child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.stdin.end();
      child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    },
  );
}

test('`baton run -o json` prints only JSON on stdout, while the core logs (forwarded) go to stderr', async () => {
  const file = join(dir, 'offline.yaml');
  writeFileSync(file, 'name: offline-json\nagents:\n  - name: answer\n    model_profile: offline\n');
  // DEBUG makes the Rust core log plenty (and the SDK's workers too): none of it may reach stdout.
  const r = await baton(
    ['run', file, 'hello there', '--local-worker', '--task-queue', `out-${Date.now()}`, '-o', 'json'],
    { env: { BATON_LOG_LEVEL: 'DEBUG' } },
  );
  expect(r.code).toBe(0);
  const parsed = JSON.parse(r.stdout) as { status: string; output: string };
  expect(parsed.status).toBe('completed');
  expect(parsed.output).toContain('hello there');
  // The core's own log lines arrived, on stderr, through the SDK logger.
  expect(r.stderr).toMatch(/sdkComponent: 'core'/);
  expect(r.stderr).toMatch(/\[DEBUG\]/);
});

test('a core WARN (payload over the size warning limit) stays off stdout: `-o json` still parses', async () => {
  const file = join(dir, 'offline-big.yaml');
  writeFileSync(file, 'name: offline-big\nagents:\n  - name: answer\n    model_profile: offline\n');
  // A 600 kB input makes the core warn (TMPRL1103) that a payload exceeds its 512 kB warning limit
  // (with the payload store off: otherwise history holds only a reference to it).
  const input = join(dir, 'big.txt');
  writeFileSync(input, 'word '.repeat(120_000));
  for (const level of [undefined, 'WARN']) {
    const r = await baton(
      [
        'run',
        file,
        '--input-file',
        input,
        '--local-worker',
        '--task-queue',
        `big-${Date.now()}`,
        '-o',
        'json',
      ],
      { env: { BATON_PAYLOAD_STORE: 'off', ...(level && { BATON_LOG_LEVEL: level }) } },
    );
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as { status: string }).status).toBe('completed');
    // At WARN the warning is shown, on stderr; by default (ERROR) it is not shown at all.
    if (level) expect(r.stderr).toContain('TMPRL1103');
    else expect(r.stderr).not.toContain('TMPRL1103');
  }
});

test('`baton help run` whose reader has gone ends quietly (exit 0, nothing on stderr)', async () => {
  const r = await baton(['help', 'run'], { closeStdout: true });
  expect({ code: r.code, signal: r.signal, stderr: r.stderr }).toEqual({ code: 0, signal: null, stderr: '' });
});

test('`baton list -o json` whose reader has gone ends quietly (exit 0, nothing on stderr)', async () => {
  const r = await baton(['list', '-o', 'json'], { closeStdout: true });
  expect({ code: r.code, signal: r.signal, stderr: r.stderr }).toEqual({ code: 0, signal: null, stderr: '' });
});

test('`baton help run | head -2` and `baton list -o json | head -c 10` in a shell: exit 0, stderr empty', () => {
  const errFile = join(dir, 'stderr.txt');
  for (const cmd of ['help run | head -2', 'list -o json | head -c 10']) {
    const [left, right] = cmd.split(' | ');
    const r = spawnSync(
      'bash',
      ['-c', `"${process.execPath}" "${BIN}" ${left} 2>"${errFile}" | ${right}; echo "rc=\${PIPESTATUS[0]}"`],
      { cwd: dir, env: env(), encoding: 'utf8' },
    );
    expect(r.stdout).toMatch(/rc=0\s*$/);
    expect(readFileSync(errFile, 'utf8')).toBe('');
  }
});

test('a malformed BATON_CODEC_KEYS is refused with exit 2, naming the entry and never the key', async () => {
  const key = Buffer.alloc(16, 7).toString('base64');
  const r = await baton(['list', '-o', 'json'], { env: { BATON_CODEC_KEYS: `k1:${key}` } });
  expect(r.code).toBe(2);
  expect(r.stdout).toBe('');
  expect(r.stderr).toMatch(/BATON_CODEC_KEYS entry 1: key 'k1' is not the base64 of 32 bytes/);
  expect(r.stderr).not.toContain(key);
});
