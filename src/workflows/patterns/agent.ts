/**
 * Run one agent as one step, whatever it is: a single model call, or a ReAct loop when it has
 * tools. The building block the other patterns compose.
 */
import type { TemplateScope } from '../template';
import {
  callAgent,
  callWithOutputSchema,
  scopeOf,
  stepKey,
  tracked,
  type Agent,
  type AgentContext,
} from './context';
import { reactLoop } from './react-agent';

export interface RunAgentOptions {
  /** Step name in progress (default: the agent's name under the context's prefix). */
  key?: string;
  /** Role its model calls count under (`roles` in progress). */
  role?: string;
  /**
   * A tool-using agent alone in its workflow (a supervisor's sub-agent): once history is long, its
   * remaining turns go to a child workflow (ReactOptions.handOff). Not with `role`.
   */
  handOff?: boolean;
  /** Template variables besides `{{input}}`: `{{name}}` reads `vars.name`. */
  vars?: Record<string, string>;
  /** The prompt when the agent has none (default `{{input}}`). */
  defaultPrompt?: string;
}

/**
 * Run an agent on an input and return its output text; with `outputSchema` the output is JSON.
 *
 * @example const summary = await runAgent(ctx, { name: 'summarise', profile, prompt: 'Summarise:\n{{input}}' }, text);
 */
export async function runAgent(
  ctx: AgentContext,
  agent: Agent,
  input: string | TemplateScope,
  opts: RunAgentOptions = {},
): Promise<string> {
  const key = opts.key ?? stepKey(ctx, agent.name);
  const scope = scopeOf(input, opts.vars);
  const withPrompt =
    agent.prompt === undefined && opts.defaultPrompt !== undefined
      ? { ...agent, prompt: opts.defaultPrompt }
      : agent;
  return tracked(ctx, key, async () => {
    if (withPrompt.tools?.length) {
      return (
        await reactLoop(ctx, withPrompt, scope, {
          key,
          ...(opts.role && { role: opts.role }),
          ...(opts.handOff && !opts.role && { handOff: true }),
        })
      ).output;
    }
    const callOpts = { key, ...(opts.role && { role: opts.role }) };
    if (withPrompt.outputSchema) {
      const agent = { ...withPrompt, outputSchema: withPrompt.outputSchema };
      return (await callWithOutputSchema(ctx, agent, scope, callOpts)).output;
    }
    return (await callAgent(ctx, withPrompt, scope, callOpts)).text;
  });
}
