import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import {
  acquireTemporal,
  BATON_SEARCH_ATTRIBUTES,
  ensureSearchAttributes,
  locateTemporalBinary,
  startDevServer,
} from '../../src/server';

// These tests start their own servers (not the run's shared one) because they stop and restart them.
const found = locateTemporalBinary();
const binary = 'path' in found ? found.path : undefined;
const describeWithBinary = binary ? describe : describe.skip;
if (!binary)
  console.warn(
    `Skipping dev-server tests: no \`temporal\` binary found.\n${'tried' in found ? found.tried.join('\n') : ''}`,
  );

jest.setTimeout(90_000);

// listSearchAttributes reports types as IndexedValueType numbers.
const KEYWORD = 2;
const KEYWORD_LIST = 7;

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Whether anything accepts TCP connections at host:port. */
function acceptsTcp(address: string): Promise<boolean> {
  const [host, port] = address.split(':');
  return new Promise((resolve) => {
    const socket = connect(Number(port), host);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function withConnection<T>(address: string, fn: (conn: Connection) => Promise<T>): Promise<T> {
  const conn = Connection.lazy({ address });
  try {
    return await fn(conn);
  } finally {
    await conn.close();
  }
}

describeWithBinary('startDevServer (real temporal binary)', () => {
  it('serves with Baton search attributes, and stop() ends the process', async () => {
    const started = Date.now();
    const server = await startDevServer({ binary: binary! });
    console.info(`dev server answered after ${Date.now() - started} ms at ${server.address}`);
    try {
      expect(server.namespace).toBe('default');
      expect(isRunning(server.pid)).toBe(true);
      await withConnection(server.address, async (conn) => {
        const info = await conn.workflowService.getSystemInfo({});
        expect(info.serverVersion).toMatch(/^\d+\.\d+/);
        const { customAttributes } = await conn.operatorService.listSearchAttributes({
          namespace: 'default',
        });
        expect(customAttributes).toMatchObject({
          BatonEnsemble: KEYWORD,
          BatonStatus: KEYWORD,
          BatonPendingApprovals: KEYWORD_LIST,
        });
      });

      // TEMPORAL_ADDRESS pointing at it: used as is, and its handle's stop() leaves it running.
      const handle = await acquireTemporal({
        env: { ...process.env, TEMPORAL_ADDRESS: server.address },
        log: () => {},
      });
      expect(handle).toMatchObject({ source: 'env', address: server.address, namespace: 'default' });
      await handle.stop();
      expect(isRunning(server.pid)).toBe(true);
    } finally {
      await server.stop();
    }
    expect(isRunning(server.pid)).toBe(false);
    expect(await acceptsTcp(server.address)).toBe(false);
  });

  it('ensureSearchAttributes adds missing attributes to a namespace, and is idempotent', async () => {
    const server = await startDevServer({ binary: binary! });
    try {
      await withConnection(server.address, async (conn) => {
        // A namespace registered after start has none of the attributes given on the command line.
        await conn.workflowService.registerNamespace({
          namespace: 'fresh',
          workflowExecutionRetentionPeriod: msToTs('1 day'),
        });
        expect(await ensureSearchAttributes(conn, 'fresh')).toEqual(Object.keys(BATON_SEARCH_ATTRIBUTES));
        const { customAttributes } = await conn.operatorService.listSearchAttributes({ namespace: 'fresh' });
        expect(Object.keys(customAttributes ?? {})).toEqual(
          expect.arrayContaining(Object.keys(BATON_SEARCH_ATTRIBUTES)),
        );
        expect(await ensureSearchAttributes(conn, 'fresh')).toEqual([]);
      });
    } finally {
      await server.stop();
    }
  });

  it('keeps its state in dbFile across restarts', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'baton-devdb-'));
    const dbFile = join(dir, 'temporal.db');
    try {
      const first = await startDevServer({ binary: binary!, dbFile });
      await withConnection(first.address, (conn) =>
        conn.workflowService.registerNamespace({
          namespace: 'kept',
          workflowExecutionRetentionPeriod: msToTs('1 day'),
        }),
      );
      await first.stop();

      const second = await startDevServer({ binary: binary!, dbFile });
      try {
        await withConnection(second.address, async (conn) => {
          const { namespaceInfo } = await conn.workflowService.describeNamespace({ namespace: 'kept' });
          expect(namespaceInfo?.name).toBe('kept');
        });
      } finally {
        await second.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rejects at once, with the server output, when the process exits before serving', async () => {
    // Holds the port; any connection (the readiness poll's) is dropped so close() can finish.
    const blocker: Server = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      const started = Date.now();
      await expect(startDevServer({ binary: binary!, port })).rejects.toThrow(
        new RegExp(`stopped before serving[\\s\\S]*${port}`),
      );
      // Far below the 60 s serving timeout: the early exit is noticed, not waited out.
      expect(Date.now() - started).toBeLessThan(15_000);
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });
});
