import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

/**
 * Start a worker script of test/support in a child process and wait until it polls: by default
 * worker-process.ts (Baton's workflows); the pattern crash test passes patterns-worker-process.ts.
 */
export async function startChildWorker(
  env: NodeJS.ProcessEnv,
  script = 'worker-process.ts',
): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['-r', 'tsx/cjs', join(__dirname, script)], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => d.toString().includes('worker-ready') && resolve());
    child.once('exit', (code) =>
      reject(new Error(`worker process exited with ${code} before polling:\n${stderr}`)),
    );
  });
  return child;
}

/** SIGKILL a child and wait until it is gone: no shutdown, no goodbye to the server. */
export async function killHard(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await gone;
}
