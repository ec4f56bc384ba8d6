/**
 * What a worker lets runs use besides model endpoints: the scripts `kind: script` steps may run
 * and the MCP servers agents may call. Both come from the worker's config (`baton worker
 * --config`, or createWorker's options), never from a run; a run that names something else is
 * refused before its first step starts (the `checkWorkerAllows` activity).
 */
import { readFileSync } from 'node:fs';
import { ApplicationFailure } from '@temporalio/common';
import { z } from 'zod';
import type { McpServerDeclaration } from '../types';
import { EndpointSettingsError } from './endpoints';
import type { McpHub, McpServerConfig } from './mcp';
import { NOT_ALLOWED_BY_WORKER, scriptRefusal, type ScriptConfig } from './scripts';

const NAME = /^[A-Za-z0-9_-]{1,64}$/;
const ENV_NAME = /^[A-Z_][A-Z0-9_]*$/;
const env = z.record(
  z.string().regex(ENV_NAME, { message: 'expected an environment variable name' }),
  z.string(),
);
const argv = z.array(z.string().min(1)).min(1, { message: 'needs at least the program' });

const scriptSchema = z
  .object({ argv, env: env.optional(), allow_args: z.boolean().optional(), cwd: z.string().optional() })
  .strict();
const common = { idempotent: z.boolean().optional(), requires_approval: z.boolean().optional() };
const mcpSchema = z.union([
  z.object({ command: argv, env: env.optional(), cwd: z.string().optional(), ...common }).strict(),
  z
    .object({
      url: z.url({ protocol: /^https?$/, message: 'expected an http(s) URL' }),
      headers: z.record(z.string(), z.string()).optional(),
      ...common,
    })
    .strict(),
]);

/** The scripts and MCP servers of a worker config file (YAML or JSON); its `allowed_endpoints` are read by loadWorkerConfig. */
export function loadWorkerResources(file: string): {
  scripts: Record<string, ScriptConfig>;
  mcpServers: Record<string, McpServerConfig>;
} {
  let data: { scripts?: unknown; mcp_servers?: unknown };
  try {
    data = ((require('yaml') as typeof import('yaml')).parse(readFileSync(file, 'utf8')) ??
      {}) as typeof data;
  } catch (e) {
    throw new EndpointSettingsError(`worker config ${file}: ${(e as Error).message}`);
  }
  const fail = (where: string, err: z.ZodError | string, expected: string): never => {
    const issue =
      typeof err === 'string'
        ? err
        : `${err.issues[0]!.path.join('.') || '(entry)'}: ${err.issues[0]!.message}`;
    throw new EndpointSettingsError(`worker config ${file}: ${where}: ${issue} (expected: ${expected})`);
  };
  const scripts: Record<string, ScriptConfig> = {};
  for (const [name, raw] of Object.entries((data.scripts ?? {}) as Record<string, unknown>)) {
    const where = `scripts.${name}`;
    const expected = '{ argv: [program, arg, ...], env?: {...}, allow_args?: false }';
    if (!NAME.test(name)) fail(where, 'a script name holds only letters, digits, - and _', expected);
    const p = scriptSchema.safeParse(raw);
    if (!p.success) fail(where, p.error, expected);
    const s = p.data!;
    scripts[name] = {
      argv: s.argv,
      ...(s.env && { env: s.env }),
      ...(s.allow_args !== undefined && { allowArgs: s.allow_args }),
      ...(s.cwd && { cwd: s.cwd }),
    };
  }
  const mcpServers: Record<string, McpServerConfig> = {};
  for (const [name, raw] of Object.entries((data.mcp_servers ?? {}) as Record<string, unknown>)) {
    const where = `mcp_servers.${name}`;
    const expected = '{ command: [program, arg, ...], env?: {...} } or { url: https://host/mcp }';
    if (!NAME.test(name)) fail(where, 'an MCP server name holds only letters, digits, - and _', expected);
    const p = mcpSchema.safeParse(raw);
    if (!p.success) fail(where, p.error, expected);
    const { requires_approval, ...rest } = p.data!;
    mcpServers[name] = {
      ...rest,
      ...(requires_approval !== undefined && { requiresApproval: requires_approval }),
    } as McpServerConfig;
  }
  return { scripts, mcpServers };
}

/** What a run will use, for the check before its first step. */
export interface WorkerCheckRequest {
  scripts: { step: string; command: string; args?: string[] }[];
  mcpServers?: Record<string, McpServerDeclaration>;
  /** Servers named by agents' `<server>.<tool>` tools. */
  mcpToolServers?: { step: string; server: string }[];
}

/** The check activity: a run naming a script or server the worker does not allow fails before anything runs. */
export function createWorkerCheckActivities(scripts: Record<string, ScriptConfig>, mcp?: McpHub) {
  return {
    /** Throws a non-retryable NotAllowedByWorker naming every refusal; returns when all is allowed. */
    async checkWorkerAllows(req: WorkerCheckRequest): Promise<void> {
      const problems: string[] = [];
      for (const s of req.scripts) {
        const why = scriptRefusal(scripts, s.command, s.args, `step '${s.step}'`);
        if (why) problems.push(why);
      }
      for (const [name, decl] of Object.entries(req.mcpServers ?? {})) {
        const why = mcp
          ? mcp.refusal(name, decl, 'the run')
          : `the run declares MCP server '${name}', and this worker allows no MCP servers (mcp_servers in the file given to \`baton worker --config\`)`;
        if (why) problems.push(why);
      }
      for (const { step, server } of req.mcpToolServers ?? []) {
        if (req.mcpServers && Object.prototype.hasOwnProperty.call(req.mcpServers, server)) continue;
        if (mcp && Object.prototype.hasOwnProperty.call(mcp.servers, server)) continue;
        problems.push(
          `step '${step}' uses tools of MCP server '${server}', which neither the run (mcp_servers) nor this worker's config declares`,
        );
      }
      if (problems.length)
        throw ApplicationFailure.create({
          type: NOT_ALLOWED_BY_WORKER,
          nonRetryable: true,
          message: `the run was refused before any step ran: ${problems.join('; ')}`,
        });
    },
  };
}

export type WorkerCheckActivities = ReturnType<typeof createWorkerCheckActivities>;
