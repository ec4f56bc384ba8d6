/**
 * The real `baton` command in a child process (from source), on the shared test server: its
 * home and working directory are `cwd`, its environment only PATH, the server's address and
 * namespace, and `env`. Standard input is empty.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { testTemporal } from './temporal-env';

const BIN = join(__dirname, '..', '..', 'bin', 'baton.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runBaton(args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv }): Promise<CliResult> {
  const { address, namespace } = testTemporal();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: opts.cwd,
      env: {
        PATH: process.env.PATH,
        HOME: opts.cwd,
        BATON_FROM_SOURCE: '1',
        TEMPORAL_ADDRESS: address,
        TEMPORAL_NAMESPACE: namespace,
        ...opts.env,
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
