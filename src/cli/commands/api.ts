/** `baton api`: serve the HTTP API (src/http/server.ts) over the configured Temporal server. */
import type { Command } from 'commander';
import type { BatonClient } from '../../client';
import { createHttpServer } from '../../http/server';
import { connectExisting } from '../connect';
import { BadInputError } from '../exit-codes';

/** Register the api command. */
export function registerApiCommand(program: Command): void {
  program
    .command('api')
    .description(
      'Serve the HTTP API (start, follow, decide, retry, fork runs) until SIGINT/SIGTERM; see docs/http-api.md',
    )
    .option('--port <n>', 'port to listen on', '8080')
    .option('--host <address>', 'address to listen on (0.0.0.0 for all interfaces)', '127.0.0.1')
    .action(async (o: { port: string; host: string }) => {
      const port = Number(o.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535)
        throw new BadInputError('--port must be a port number (0-65535)');
      const baton = await connectExisting();
      // Requests run in this signal's scope (the server is created inside it), so stopping cancels
      // their Temporal calls: a long-poll (GET .../result of a running run) would hold the process.
      const stopping = new AbortController();
      try {
        await baton.temporal.connection.withAbortSignal(stopping.signal, () =>
          serve(baton, o.host, port, stopping),
        );
      } finally {
        await baton.close();
      }
    });
}

/** Listen until SIGINT/SIGTERM, then cancel open requests and close. */
async function serve(
  baton: BatonClient,
  host: string,
  port: number,
  stopping: AbortController,
): Promise<void> {
  const server = createHttpServer(baton);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(new BadInputError(`cannot listen on ${host}:${port}: ${e.code ?? e.message}`)),
    );
    server.listen(port, host, resolve);
  });
  const where = server.address();
  const shown = typeof where === 'object' && where ? `${where.address}:${where.port}` : `${host}:${port}`;
  process.stderr.write(
    `baton api: listening on http://${shown}${process.env.BATON_API_TOKEN ? ' (bearer token required)' : ''}; Ctrl-C to stop\n`,
  );
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  // Open long-polls would also hold close() until their runs end.
  stopping.abort();
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeAllConnections();
  await closed;
}
