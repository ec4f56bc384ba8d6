/**
 * Long-term memory in a run: a step's `recall` looks memories up before its model call (an
 * activity; the memories are shown to the model in its system prompt), and its `remember` stores
 * its output after (an activity). Both results are in history, so a replay sees the memories the
 * run saw, whatever the store holds by then.
 */
import { proxyActivities, workflowInfo, type ActivityOptions } from '@temporalio/workflow';
import type { createMemoryActivities, MemoryFilter } from '../activities/memory';
import { NON_RETRYABLE_MODEL_ERRORS } from '../error-types';
import type { AgentStep, MemoryScope, RecalledMemory } from '../types';
import type { RunOptions } from './api';
import { renderTemplate, type TemplateScope } from './template';

type MemoryActivities = ReturnType<typeof createMemoryActivities>;

/** Marks runs whose agent steps recall and remember (runs before it had no such fields). */
export const MEMORY_PATCH = 'baton-long-term-memory';

const options = (summary?: string): ActivityOptions => ({
  startToCloseTimeout: '2 minutes',
  retry: {
    initialInterval: '1 second',
    backoffCoefficient: 2,
    maximumInterval: '30 seconds',
    maximumAttempts: 5,
    nonRetryableErrorTypes: [...NON_RETRYABLE_MODEL_ERRORS, 'InvalidDefinition'],
  },
  ...(summary && { summary }),
});

/** The scope a run's memories go to: the step's namespace, with the run's user and thread. */
export function memoryScope(namespace: string, runOptions?: RunOptions): MemoryScope {
  const m = runOptions?.memory;
  return {
    namespace,
    ...(m?.user !== undefined && { user: m.user }),
    ...(m?.thread !== undefined && { thread: m.thread }),
  };
}

/** Memories as the block the model reads (most relevant first); `{{` escaped so no template runs. */
export function memoryBlock(memories: RecalledMemory[]): string {
  const lines = memories.map((m) => `- ${m.text.replace(/\s+/g, ' ').trim()}`);
  return `Relevant memories (most relevant first):\n${lines.join('\n')}`.replace(/\{\{/g, '\\{{');
}

/**
 * Run an agent step with its memory: recall before (the memories join its system prompt), then
 * `run` (the step's model calls), then remember its output. Returns the output.
 */
export async function withMemory(
  step: AgentStep,
  key: string,
  scope: TemplateScope,
  runOptions: RunOptions | undefined,
  run: (step: AgentStep) => Promise<string>,
): Promise<string> {
  let used = step;
  if (step.recall) {
    const acts = proxyActivities<MemoryActivities>(options(`${key} recall`));
    const { memories } = await acts.recallMemories({
      scope: memoryScope(step.recall.namespace, runOptions),
      level: step.recall.scope ?? 'namespace',
      query: renderTemplate(step.recall.query, scope),
      topK: step.recall.topK,
      embedding: step.recall.embedding,
    });
    if (memories.length) {
      const block = memoryBlock(memories);
      used = { ...step, system: step.system ? `${step.system}\n\n${block}` : block };
    }
  }
  const output = await run(used);
  if (step.remember) {
    const acts = proxyActivities<MemoryActivities>(options(`${key} remember`));
    await acts.rememberMemory({
      scope: memoryScope(step.remember.namespace, runOptions),
      text: output,
      embedding: step.remember.embedding,
      source: { runId: workflowInfo().workflowId, step: key },
    });
  }
  return output;
}

/** Delete memories by scope (namespace, or a user or thread in it): `BatonClient.forgetMemories`. */
export async function batonForgetMemories(filter: MemoryFilter): Promise<{ deleted: number }> {
  return proxyActivities<MemoryActivities>(options('forget memories')).forgetMemories(filter);
}
