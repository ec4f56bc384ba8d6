/** `baton run --worker-config`: the local worker runs the scripts its config file allows. */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testTemporal } from '../support/temporal-env';

const BIN = join(__dirname, '..', '..', 'bin', 'baton.js');
const dir = mkdtempSync(join(tmpdir(), 'baton-cli-scripts-'));

function baton(args: string[]) {
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

const ensemble = join(dir, 'count.yaml');
writeFileSync(
  ensemble,
  `name: count
agents:
  - { name: count, kind: script, command: count, output_format: json }
`,
);

test('baton run --worker-config runs a script step on the local worker', async () => {
  const config = join(dir, 'worker.yaml');
  writeFileSync(
    config,
    `scripts:\n  count:\n    argv: [${JSON.stringify(process.execPath)}, -e, "let s='';process.stdin.on('data',d=>s+=d).on('end',()=>console.log(JSON.stringify({chars:s.length})))"]\n`,
  );
  const r = await baton([
    'run',
    ensemble,
    'hello',
    '--local-worker',
    '--worker-config',
    config,
    '--task-queue',
    `cli-s-${Date.now()}`,
    '-o',
    'json',
  ]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  expect(JSON.parse(r.stdout).output).toBe('{"chars":5}');
});

test('without a worker config, the local worker refuses the script before anything runs', async () => {
  const r = await baton([
    'run',
    ensemble,
    'hello',
    '--local-worker',
    '--task-queue',
    `cli-s2-${Date.now()}`,
    '-o',
    'json',
  ]);
  expect(r.code).not.toBe(0);
  expect(r.stdout + r.stderr).toContain("names script 'count', which this worker's config does not allow");
});
