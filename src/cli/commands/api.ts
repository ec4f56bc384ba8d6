/** `baton api`: serve the HTTP API (src/http/server.ts) over the configured Temporal server. */
import { codecFromEnv, codecServerHandlers } from '../../codec';
import { Option, type Command } from 'commander';
import type { BatonClient } from '../../client';
import {
  ApiConfigError,
  generateKey,
  hashKey,
  isLoopback,
  keyEntry,
  SCOPES,
  type Scope,
} from '../../http/auth';
import { uiBuilt, uiDirOf, uiMissingMessage } from '../../http/ui';
import type { ApiOptions } from '../../http/server';
import { connectExisting } from '../connect';
import { BadInputError } from '../exit-codes';

// The HTTP server (Hono and its OpenAPI schemas) is loaded by `baton api` only, not by every command.
const httpServer = () => require('../../http/server') as typeof import('../../http/server');

/** Register the api command and its key helpers. */
export function registerApiCommand(program: Command): void {
  const api = program
    .command('api')
    .description(
      'Serve the HTTP API (start, follow, decide, retry, fork runs) until SIGINT/SIGTERM; see docs/http-api.md and docs/security.md',
    )
    .option('--port <n>', 'port to listen on', '8080')
    .option(
      '--host <address>',
      'address to listen on (0.0.0.0 for all interfaces needs BATON_API_TOKEN, BATON_API_KEYS or --keys-file)',
      '127.0.0.1',
    )
    .option(
      '--keys-file <file>',
      'file of API keys, one `principal:scopes:sha256hex` a line (BATON_API_KEYS_FILE)',
    )
    .action(async (o: { port: string; host: string; keysFile?: string }) => {
      const port = Number(o.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535)
        throw new BadInputError('--port must be a port number (0-65535)');
      const opts: ApiOptions = { ...(o.keysFile && { keysFile: o.keysFile }) };
      // Refuse before connecting: a bad keys file, or an open API beyond loopback.
      let keys: number;
      try {
        keys = httpServer().apiKeys(opts).length;
      } catch (e) {
        if (e instanceof ApiConfigError) throw new BadInputError(e.message);
        throw e;
      }
      if (keys === 0 && !isLoopback(o.host))
        throw new BadInputError(httpServer().unauthenticatedListen(o.host).message);
      const baton = await connectExisting();
      // Requests run in this signal's scope (the server is created inside it), so stopping cancels
      // their Temporal calls: a long-poll (GET .../result of a running run) would hold the process.
      const stopping = new AbortController();
      try {
        await baton.temporal.connection.withAbortSignal(stopping.signal, () =>
          serve(baton, o.host, port, stopping, opts, keys),
        );
      } finally {
        await baton.close();
      }
    });

  api
    .command('keygen')
    .description(
      'Make a new API key: prints the key (give it to the caller) and its entry for BATON_API_KEYS or a keys file',
    )
    .requiredOption(
      '--principal <name>',
      'who the key belongs to (recorded as who started runs and decided gates)',
    )
    .addOption(new Option('--scopes <list>', `comma-separated: ${SCOPES.join(', ')}`).default('read'))
    .action((o: { principal: string; scopes: string }) => {
      const key = generateKey();
      try {
        const entry = keyEntry(o.principal, o.scopes.split(',').filter(Boolean) as Scope[], key);
        process.stdout.write(`key:   ${key}\nentry: ${entry}\n`);
      } catch (e) {
        if (e instanceof ApiConfigError) throw new BadInputError(e.message);
        throw e;
      }
    });

  api
    .command('hash-key')
    .description('Print the SHA-256 hex of a key read from standard input (what a keys file stores)')
    .action(async () => {
      const chunks: Buffer[] = [];
      for await (const c of process.stdin) chunks.push(c as Buffer);
      const key = Buffer.concat(chunks).toString('utf8').trim();
      if (!key)
        throw new BadInputError(
          'give the key on standard input, e.g. `printf %s "$KEY" | baton api hash-key`',
        );
      process.stdout.write(`${hashKey(key)}\n`);
    });
}

/** Listen until SIGINT/SIGTERM, then cancel open requests and close. */
async function serve(
  baton: BatonClient,
  host: string,
  port: number,
  stopping: AbortController,
  opts: ApiOptions,
  keys: number,
): Promise<void> {
  // With BATON_CODEC_KEYS set, the API is also the Temporal UI's and CLI's codec server.
  const codec = codecFromEnv();
  const server = httpServer().createHttpServer(baton, {
    ...opts,
    ...(codec && { codec: codecServerHandlers(codec) }),
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(new BadInputError(`cannot listen on ${host}:${port}: ${e.code ?? e.message}`)),
    );
    server.listen(port, host, resolve);
  });
  const where = server.address();
  const shown = typeof where === 'object' && where ? `${where.address}:${where.port}` : `${host}:${port}`;
  process.stderr.write(
    `baton api: listening on http://${shown}${keys ? ` (${keys} API key(s) required)` : ' (no keys: loopback only)'}; Ctrl-C to stop\n`,
  );
  process.stderr.write(
    uiBuilt(uiDirOf())
      ? `baton api: web UI at http://${shown}/ui/\n`
      : `baton api: ${uiMissingMessage(uiDirOf())}\n`,
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
