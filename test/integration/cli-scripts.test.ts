/** `baton run --worker-config`: the local worker runs the scripts its config file allows. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runBaton } from '../support/cli';

const dir = mkdtempSync(join(tmpdir(), 'baton-cli-scripts-'));

function baton(args: string[]) {
  return runBaton(args, { cwd: dir });
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
