/**
 * A throwaway PostgreSQL cluster for tests: initdb into a temporary directory, pg_ctl start on a
 * free port (as the `postgres` user when this process is root: the server refuses to run as root),
 * trust authentication on 127.0.0.1 only. `stop()` shuts it down and removes the directory.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const BIN_DIRS = ['/usr/local/bin', '/usr/lib/postgresql/15/bin'];

/** The directory holding initdb and pg_ctl, or undefined when PostgreSQL is not installed. */
export function postgresBinDir(): string | undefined {
  return BIN_DIRS.find((d) => existsSync(join(d, 'initdb')) && existsSync(join(d, 'pg_ctl')));
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface TestPostgres {
  url: string;
  /** Stops the server at once (as a crash would) and starts it again on the same port and data. */
  restart(): void;
  stop(): void;
}

export async function startPostgres(): Promise<TestPostgres> {
  const bin = postgresBinDir();
  if (!bin) throw new Error('PostgreSQL binaries (initdb, pg_ctl) not found in ' + BIN_DIRS.join(', '));
  const root = mkdtempSync(join(tmpdir(), 'baton-pg-'));
  chmodSync(root, 0o777);
  const data = join(root, 'data');
  const port = await freePort();
  const asPostgres = process.getuid?.() === 0;
  const run = (cmd: string, args: string[]) =>
    asPostgres
      ? execFileSync('runuser', ['-u', 'postgres', '--', cmd, ...args], { stdio: 'pipe' })
      : execFileSync(cmd, args, { stdio: 'pipe' });
  run(join(bin, 'initdb'), ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync']);
  run(join(bin, 'pg_ctl'), [
    '-D',
    data,
    '-l',
    join(root, 'log'),
    '-w',
    '-t',
    '60',
    'start',
    '-o',
    `-p ${port} -k ${root} -c listen_addresses=127.0.0.1 -c fsync=off`,
  ]);
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    restart() {
      run(join(bin, 'pg_ctl'), [
        '-D',
        data,
        '-l',
        join(root, 'log'),
        '-m',
        'immediate',
        '-w',
        '-t',
        '60',
        'restart',
      ]);
    },
    stop() {
      try {
        run(join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop']);
      } finally {
        rmSync(root, { recursive: true, force: true });
      }
    },
  };
}
