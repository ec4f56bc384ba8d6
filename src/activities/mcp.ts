/**
 * MCP tool sources: servers a worker connects to through the official MCP SDK, whose tools agents
 * call as `<server>.<tool>`. Sessions belong to the worker: one cached client per server per
 * worker process, opened on first use and opened again when it drops (a crashed stdio server, an
 * HTTP server that restarted and forgot the session), so a run never notices.
 *
 * Which servers a run may use is decided here, from the worker's config: its own servers, a
 * run-declared stdio server only when the worker lists the same command under the same name, a
 * run-declared URL only when the worker's endpoint policy allows it.
 */
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult, McpError, Tool } from '@modelcontextprotocol/sdk/types.js';
import type { McpServerDeclaration } from '../types';
import type { EndpointPolicy } from './endpoints';

// The MCP SDK is loaded when a worker first talks to an MCP server (or sees its errors), not by
// every worker: one that never calls an MCP tool does not hold its code.
const mcpTypes = () =>
  require('@modelcontextprotocol/sdk/types.js') as typeof import('@modelcontextprotocol/sdk/types.js');
const streamableHttp = () =>
  require('@modelcontextprotocol/sdk/client/streamableHttp.js') as typeof import('@modelcontextprotocol/sdk/client/streamableHttp.js');

/** An MCP server as the worker's config (or code) declares it. */
export type McpServerConfig =
  | {
      /** Program and arguments of a stdio server; never a shell string. */
      command: string[];
      /** Variables the server gets besides a minimal set (PATH, HOME, ...): the worker's env is not passed on. */
      env?: Record<string, string>;
      cwd?: string;
      /** Overrides what the server's tool annotations say (see docs/tools.md). */
      idempotent?: boolean;
      /** Every tool of this server waits for a person's approval. */
      requiresApproval?: boolean;
    }
  | {
      /** A streamable HTTP endpoint, e.g. http://127.0.0.1:3001/mcp. */
      url: string;
      /** Headers sent with every request (e.g. Authorization); values may be `${VAR}` from the worker's env. */
      headers?: Record<string, string>;
      idempotent?: boolean;
      requiresApproval?: boolean;
    };

/** A server a run uses, after the worker's rules allowed it. */
type Resolved = { key: string; config: McpServerConfig };

/** Split `<server>.<tool>`; undefined for a plain registered tool name. */
export function splitMcpName(name: string): { server: string; tool: string } | undefined {
  const dot = name.indexOf('.');
  return dot > 0 ? { server: name.slice(0, dot), tool: name.slice(dot + 1) } : undefined;
}

/**
 * The name a model is offered for `<server>.<tool>`: model APIs take only letters, digits, `-` and
 * `_` (at most 64), so the dot becomes `__` and other characters `_`; a long name keeps a hash.
 */
export function modelToolName(name: string): string {
  const safe = name.replace('.', '__').replace(/[^A-Za-z0-9_-]/g, '_');
  if (safe.length <= 64) return safe;
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return `${safe.slice(0, 55)}_${h.toString(16).padStart(8, '0')}`;
}

function sameCommand(a: McpServerDeclaration, b: McpServerConfig): boolean {
  if (!('command' in a) || !('command' in b)) return false;
  if (a.command.length !== b.command.length || a.command.some((x, i) => x !== b.command[i])) return false;
  // A run's env may only repeat what the worker sets: it must not change what the program does.
  return Object.entries(a.env ?? {}).every(([k, v]) => b.env?.[k] === v);
}

/** One connected server: its client and its tools (listed once per connection). */
interface Session {
  client: Client;
  tools?: Promise<Tool[]>;
  closed: boolean;
}

/** The worker's MCP connections, and the rules for which servers a run may use. */
export class McpHub {
  private readonly sessions = new Map<string, Promise<Session>>();

  constructor(
    readonly servers: Record<string, McpServerConfig> = {},
    private readonly policy?: EndpointPolicy,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {}

  /** Why a run may not use this declared server: undefined when the worker allows it. */
  refusal(name: string, decl: McpServerDeclaration, where: string): string | undefined {
    const own = Object.prototype.hasOwnProperty.call(this.servers, name) ? this.servers[name] : undefined;
    if ('command' in decl) {
      if (own && sameCommand(decl, own)) return undefined;
      return (
        `${where} declares MCP server '${name}' with command ${JSON.stringify(decl.command)}, which this worker's config does not allow` +
        (own
          ? ` (its entry '${name}' runs ${'command' in own ? JSON.stringify(own.command) : own.url}${'command' in own && decl.env ? ', and a run may not set env the worker does not set' : ''})`
          : ` (${this.listed()})`) +
        `. A run never starts a program the worker does not list: add it under mcp_servers: in the file given to \`baton worker --config\` and restart the worker.`
      );
    }
    if (own && 'url' in own && own.url === decl.url) return undefined;
    if (this.policy?.allows(decl.url, undefined)) return undefined;
    return (
      `${where} declares MCP server '${name}' at ${decl.url}, an endpoint this worker does not call: ` +
      'add the URL to allowed_endpoints in the file given to `baton worker --config` (or to BATON_ALLOWED_ENDPOINTS), or declare the server under mcp_servers there, and restart the worker.'
    );
  }

  private listed(): string {
    const names = Object.keys(this.servers);
    return names.length ? `it lists: ${names.sort().join(', ')}` : 'it lists no MCP servers';
  }

  /** The server a call uses: the run's declaration when given (checked again here), else the worker's own. */
  resolve(name: string, decl?: McpServerDeclaration): Resolved {
    if (decl) {
      const why = this.refusal(name, decl, 'the run');
      if (why) throw new McpNotAllowed(why);
      // A stdio server always runs as the worker declares it (env included).
      const config: McpServerConfig = 'command' in decl ? this.servers[name]! : (this.servers[name] ?? decl);
      return { key: `${name}\n${JSON.stringify(config)}`, config };
    }
    const own = Object.prototype.hasOwnProperty.call(this.servers, name) ? this.servers[name] : undefined;
    if (!own)
      throw new McpNotAllowed(
        `unknown MCP server '${name}': neither the run (mcp_servers) nor this worker's config declares it (${this.listed()})`,
      );
    return { key: `${name}\n${JSON.stringify(own)}`, config: own };
  }

  /** The cached session of a server, connecting when there is none (or the last one dropped). */
  async session(r: Resolved, signal?: AbortSignal): Promise<Session> {
    let p = this.sessions.get(r.key);
    if (p) {
      const s = await p.catch(() => undefined);
      if (s && !s.closed) return s;
      if (this.sessions.get(r.key) === p) this.sessions.delete(r.key);
    }
    p = this.connect(r, signal);
    this.sessions.set(r.key, p);
    p.catch(() => {
      if (this.sessions.get(r.key) === p) this.sessions.delete(r.key);
    });
    return p;
  }

  /** Forget a session (after an error that may mean the connection is gone); the next call reconnects. */
  async drop(r: Resolved): Promise<void> {
    const p = this.sessions.get(r.key);
    if (!p) return;
    this.sessions.delete(r.key);
    const s = await p.catch(() => undefined);
    if (s) {
      s.closed = true;
      await s.client.close().catch(() => undefined);
    }
  }

  private async connect(r: Resolved, signal?: AbortSignal): Promise<Session> {
    const { Client } =
      require('@modelcontextprotocol/sdk/client/index.js') as typeof import('@modelcontextprotocol/sdk/client/index.js');
    const { StdioClientTransport, getDefaultEnvironment } =
      require('@modelcontextprotocol/sdk/client/stdio.js') as typeof import('@modelcontextprotocol/sdk/client/stdio.js');
    const { StreamableHTTPClientTransport } = streamableHttp();
    const client: Client = new Client({ name: 'baton', version: '1' });
    const c = r.config;
    const transport =
      'command' in c
        ? new StdioClientTransport({
            command: c.command[0]!,
            args: c.command.slice(1),
            // The SDK's minimal set (PATH, HOME, USER, ...) and the server's own: no worker secrets.
            env: { ...getDefaultEnvironment(), ...c.env },
            ...(c.cwd && { cwd: c.cwd }),
            stderr: 'ignore',
          })
        : new StreamableHTTPClientTransport(new URL(c.url), {
            requestInit: { headers: this.headers(c.headers) },
          });
    const session: Session = { client, closed: false };
    client.onclose = () => {
      session.closed = true;
    };
    await client.connect(transport, { ...(signal && { signal }) });
    return session;
  }

  private headers(h: Record<string, string> | undefined): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(h ?? {}))
      out[k] = v.replace(/\$\{([A-Z_][A-Z0-9_]*)\}/g, (_, name: string) => this.env[name] ?? '');
    return out;
  }

  /** The server's tools (listed once per connection). */
  async listTools(r: Resolved, signal?: AbortSignal): Promise<Tool[]> {
    return this.withReconnect(r, signal, async (s) => {
      s.tools ??= (async () => {
        const tools: Tool[] = [];
        let cursor: string | undefined;
        do {
          const page = await s.client.listTools(cursor ? { cursor } : {}, { ...(signal && { signal }) });
          tools.push(...page.tools);
          cursor = page.nextCursor;
        } while (cursor);
        return tools;
      })();
      s.tools.catch(() => (s.tools = undefined));
      return s.tools;
    });
  }

  /**
   * Call one tool. The connection is made again when the cached one dropped, and the call is sent
   * again once when the server answers that it does not know the session (it restarted): such a
   * request was refused before the tool ran. `idempotencyKey` travels in the request's `_meta`.
   */
  async callTool(
    r: Resolved,
    tool: string,
    args: Record<string, unknown>,
    opts: { signal?: AbortSignal; idempotencyKey: string; timeoutMs?: number },
  ): Promise<CallToolResult> {
    return this.withReconnect(r, opts.signal, async (s) => {
      const res = await s.client.callTool(
        { name: tool, arguments: args, _meta: { 'baton/idempotencyKey': opts.idempotencyKey } },
        undefined,
        {
          ...(opts.signal && { signal: opts.signal }),
          ...(opts.timeoutMs && { timeout: opts.timeoutMs }),
        },
      );
      return res as CallToolResult;
    });
  }

  private async withReconnect<T>(
    r: Resolved,
    signal: AbortSignal | undefined,
    fn: (s: Session) => Promise<T>,
  ): Promise<T> {
    let s: Session;
    try {
      // Not cut by this call's signal: a slow first connection goes on, and the next attempt joins it.
      s = await this.session(r);
    } catch (err) {
      throw new McpNotConnected(`could not connect to MCP server ${describe(r)}: ${(err as Error).message}`);
    }
    try {
      return await fn(s);
    } catch (err) {
      if (!sessionLost(err)) {
        if (!serverAnswered(err)) await this.drop(r); // the connection's state is unknown
        throw err;
      }
      // The server no longer knows our session (it restarted): nothing ran; connect again once.
      await this.drop(r);
      try {
        s = await this.session(r);
      } catch (e) {
        throw new McpNotConnected(
          `could not reconnect to MCP server ${describe(r)}: ${(e as Error).message}`,
        );
      }
      return fn(s);
    }
  }

  /** Close every session (the worker stops; stdio servers exit). */
  async close(): Promise<void> {
    const all = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.all(
      all.map(async (p) => {
        const s = await p.catch(() => undefined);
        if (s) {
          s.closed = true;
          await s.client.close().catch(() => undefined);
        }
      }),
    );
  }
}

function describe(r: Resolved): string {
  const name = r.key.split('\n')[0];
  return `'${name}' (${'command' in r.config ? r.config.command.join(' ') : r.config.url})`;
}

/**
 * Whether an error is the server's own answer (a JSON-RPC error it sent). The SDK raises McpError
 * for its own timeouts and closed connections too: after those the call may or may not have run.
 */
export function serverAnswered(err: unknown): err is McpError {
  const { ErrorCode, McpError } = mcpTypes();
  return (
    err instanceof McpError &&
    err.code !== (ErrorCode.RequestTimeout as number) &&
    err.code !== (ErrorCode.ConnectionClosed as number)
  );
}

/** A 404 on a request that carried a session id: the server forgot the session. */
function sessionLost(err: unknown): boolean {
  return err instanceof streamableHttp().StreamableHTTPError && (err as StreamableHTTPError).code === 404;
}

/** A run asked for a server the worker does not allow. */
export class McpNotAllowed extends Error {
  override name = 'McpNotAllowed';
}

/** No connection could be made: nothing was sent, so the call did not happen. */
export class McpNotConnected extends Error {
  override name = 'McpNotConnected';
}

/** The text a model reads of a tool's result: its text parts, other parts described, or its structured content. */
export function mcpResultText(res: CallToolResult): string {
  const parts: string[] = [];
  for (const c of res.content ?? []) {
    if (c.type === 'text') parts.push(c.text);
    else if (c.type === 'resource')
      parts.push('text' in c.resource ? c.resource.text : `[resource ${c.resource.uri}]`);
    else if (c.type === 'resource_link') parts.push(`[resource ${c.uri}]`);
    else parts.push(`[${c.type}${'mimeType' in c ? ` ${c.mimeType}` : ''}]`);
  }
  if (parts.length === 0 && res.structuredContent !== undefined) return JSON.stringify(res.structuredContent);
  return parts.join('\n');
}

/** Whether the worker treats a server's tool as idempotent: the worker's word, else the tool's annotations. */
export function mcpIdempotent(config: McpServerConfig, tool: Tool | undefined): boolean {
  if (config.idempotent !== undefined) return config.idempotent;
  const a = tool?.annotations;
  return a?.readOnlyHint === true || a?.idempotentHint === true;
}
