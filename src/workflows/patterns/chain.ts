/**
 * Prompt chain: agents run one after another, each reading what came before. An optional gate
 * (plain workflow code) checks each output and can stop the chain early.
 */
import { runAgent } from './agent';
import { invalidSpec, type Agent, type AgentContext } from './context';

/** One link's output. */
export interface ChainStep {
  name: string;
  output: string;
}

export interface ChainOptions {
  /**
   * Checked after each link; return `true` to go on, or a reason (string) to stop the chain
   * there. Runs in workflow code, so keep it deterministic (no I/O, no clock).
   */
  gate?: (step: ChainStep, index: number) => true | string;
}

export interface ChainResult {
  /** The last link's output (the one that stopped the chain, if a gate did). */
  output: string;
  steps: ChainStep[];
  /** Set when a gate stopped the chain. */
  stopped?: { step: string; reason: string };
}

/**
 * Run `agents` in order over `input`. Each prompt may read `{{input}}` and any earlier link's
 * output by name (`{{outline}}`, `{{steps.outline}}`); without a prompt, a link reads the
 * previous link's output (the first reads the input).
 *
 * @example
 * const res = await chain(ctx, [
 *   { name: 'outline', profile, prompt: 'Outline a post about {{input}}' },
 *   { name: 'draft', profile, prompt: 'Write the post from:\n{{outline}}' },
 * ], 'durable agents', { gate: (s) => s.output.length > 0 || 'empty output' });
 */
export async function chain(
  ctx: AgentContext,
  agents: Agent[],
  input: string,
  opts: ChainOptions = {},
): Promise<ChainResult> {
  if (agents.length === 0) throw invalidSpec('chain: give at least one agent');
  const outputs: Record<string, string> = {};
  const steps: ChainStep[] = [];
  for (const [i, agent] of agents.entries()) {
    const previous = i === 0 ? '{{input}}' : `{{steps.${agents[i - 1]!.name}}}`;
    const output = await runAgent(ctx, agent, { input, steps: { ...outputs } }, { defaultPrompt: previous });
    outputs[agent.name] = output;
    const step = { name: agent.name, output };
    steps.push(step);
    const verdict = opts.gate?.(step, i) ?? true;
    if (verdict !== true) return { output, steps, stopped: { step: agent.name, reason: verdict } };
  }
  return { output: steps[steps.length - 1]!.output, steps };
}
