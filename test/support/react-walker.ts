/**
 * The ReAct "walker" the long-agent tests drive (react-continue-as-new.test.ts, react-child.test.ts):
 * a `step` tool that records each call's n and idempotency key and can hold calls until the test
 * lets them go, a scripted model that calls it n = 1, 2, … and then answers, and the agent step.
 */
import { z } from 'zod';
import type { Client } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';
import { createTool, type ToolContext } from '../../src/activities/tools';
import type { AgentStep, ModelProfile } from '../../src/types';
import type { FakeModelServer } from './fake-model-server';

/** $1 an output token, nothing for input: a call reserves exactly maxTokens dollars, and costs its output tokens. */
export const profile: ModelProfile = {
  name: 'oa',
  provider: 'openai',
  model: 'gpt-test',
  maxTokens: 10,
  pricing: { inputPerMTok: 0, outputPerMTok: 1_000_000 },
};
export const USAGE = { input: 7, output: 10 };
/** The runs' `continueAsNewAfterEvents`. */
export const EVENTS = 150;

export type History = temporal.api.history.v1.IHistory;

/** The `step` tool with what it records; `reset()` before each test. */
export function createWalker() {
  const w = {
    /** Every call of the `step` tool: its n and its idempotency key. */
    calls: [] as { n: number; key: string }[],
    /** Calls of `step` from this one on wait until `release()` (or the call is cancelled). */
    holdFrom: Infinity,
    release: () => {},
    held: Promise.resolve(),
    /** A new hold (one test's release lets its own calls go). */
    hold() {
      w.held = new Promise<void>((resolve) => (w.release = resolve));
    },
    reset() {
      w.calls.length = 0;
      w.holdFrom = Infinity;
      w.hold();
    },
    tool: createTool({
      name: 'step',
      description: 'Take step n.',
      input: z.object({ n: z.number() }),
      run: async ({ n }, ctx: ToolContext) => {
        w.calls.push({ n, key: ctx.idempotencyKey });
        if (w.calls.length >= w.holdFrom)
          await new Promise<void>((resolve) => {
            void w.held.then(resolve);
            ctx.signal.addEventListener('abort', () => resolve());
          });
        return `took step ${n}`;
      },
    }),
  };
  w.hold();
  return w;
}

export const marker = (what: string) => `${what}-${Math.random().toString(36).slice(2, 9)}`;
export const toolResults = (req: { messages: { role: string }[] }) =>
  req.messages.filter((m) => m.role === 'tool').length;

/** The model calls `step` with n = 1, 2, ... until it has seen `turns` results, then answers. */
export function scriptAgent(fake: FakeModelServer, m: string, turns: number): void {
  fake.on(m, (req) => {
    const done = toolResults(req);
    return done >= turns
      ? { text: `finished after ${done} steps`, usage: USAGE }
      : { toolCalls: [{ id: `c${done + 1}`, name: 'step', arguments: { n: done + 1 } }], usage: USAGE };
  });
}

/** The walker agent step, named `walker`, prompted with marker `m`. */
export function agent(m: string, extra: Partial<AgentStep> = {}): AgentStep {
  return {
    kind: 'agent',
    name: 'walker',
    dependsOn: [],
    profile,
    prompt: `${m}: walk`,
    tools: [{ name: 'step' }],
    maxIterations: 100,
    retry: { initialInterval: '100ms', maximumInterval: '200ms', maximumAttempts: 2 },
    ...extra,
  };
}

/** Every execution of a workflow id, first to last: from the latest, back along continue-as-new. */
export async function chainOf(client: Client, workflowId: string): Promise<History[]> {
  const out: History[] = [];
  let runIdOf: string | undefined;
  do {
    const history = await client.workflow.getHandle(workflowId, runIdOf).fetchHistory();
    out.unshift(history);
    runIdOf =
      history.events?.[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId || undefined;
  } while (runIdOf);
  return out;
}

/** `read()` until it gives a value (up to 60 s). */
export async function until<T>(what: string, read: () => Promise<T | undefined> | T | undefined): Promise<T> {
  for (let i = 0; i < 600; i++) {
    const v = await read();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}
