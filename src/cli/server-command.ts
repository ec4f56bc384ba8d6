import { acquireTemporal } from '../server';
import { BadInputError } from './exit-codes';

/** `baton server`: a local dev server with the Web UI, until Ctrl-C. */
export async function runServerCommand(o: { port: string; uiPort: string; dbFile?: string }): Promise<void> {
  const port = Number(o.port);
  const uiPort = Number(o.uiPort);
  for (const [flag, v] of [
    ['--port', port],
    ['--ui-port', uiPort],
  ] as const) {
    if (!Number.isInteger(v) || v <= 0 || v > 65535)
      throw new BadInputError(`${flag} must be a port number (1-65535)`);
  }
  if (process.env.TEMPORAL_ADDRESS) {
    throw new BadInputError(
      `TEMPORAL_ADDRESS is set (${process.env.TEMPORAL_ADDRESS}): a cluster is already configured; unset it to start a local server`,
    );
  }
  const server = await acquireTemporal({ port, uiPort, ui: true, ...(o.dbFile && { dbFile: o.dbFile }) });
  process.stdout.write(
    `Temporal dev server at ${server.address}${server.uiUrl ? `, Web UI at ${server.uiUrl}` : ''}` +
      `${o.dbFile ? `, data in ${o.dbFile}` : ' (in memory)'}\n` +
      `Point workers and clients at it with TEMPORAL_ADDRESS=${server.address}. Ctrl-C to stop.\n`,
  );
  // Signal listeners do not keep Node alive, and the server process is unref'd: hold the loop open.
  const keepAlive = setInterval(() => {}, 1 << 30);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  clearInterval(keepAlive);
  await server.stop();
}
