/**
 * ReAct tool agent: the model proposes tool calls, each call runs as its own activity, and the
 * results go back to the model as observations until it answers without calling a tool. Tools
 * are registered on the worker (zod input schemas); each agent has an allowlist of them.
 */
import { ApplicationFailure, continueAsNew, patched, workflowInfo } from '@temporalio/workflow';
import type { AgentStep, ChatMessage, ConversationRef, ModelResponse } from '../../types';
import type { ReactPosition, RunInput, RunOptions, RunResult } from '../api';
import type { RunState } from '../run-state';
import type { TemplateScope } from '../template';
import {
  callAgent,
  callWithOutputSchema,
  messagesFor,
  scopeOf,
  stepKey,
  tracked,
  type Agent,
  type AgentContext,
} from './context';
import { handOffDue, handOffTurns } from '../react-child';
import { executeToolCall, loadTools, type ToolCallRecord } from './tools';

/** Default upper bound on model calls of a tool-using agent. */
export const DEFAULT_MAX_ITERATIONS = 10;
/** Failure type of an agent that used all its model calls without a final answer. */
export const MAX_ITERATIONS_EXCEEDED = 'MaxIterationsExceeded';

// Runs that started before: every model call carried the whole conversation in its input.
const CONVERSATION_BY_REF_PATCH = 'baton-react-conversation-by-ref';
/** Marks runs whose ReAct step continued as new mid-step (asked only once history is long). */
export const REACT_CONTINUE_AS_NEW_PATCH = 'baton-react-continue-as-new';

/**
 * The messages of a ReAct loop. With the conversation kept by reference, each model call sends
 * only the messages added since the last call (`pending`) after the stored ones (`earlier`), and
 * answers the new stored conversation; history then grows by a turn, not by the conversation.
 */
export class Conversation {
  private earlier?: ConversationRef;
  private pending: ChatMessage[];
  private readonly all?: ChatMessage[];

  constructor(
    first: ChatMessage[],
    readonly byRef: boolean,
    earlier?: ConversationRef,
  ) {
    this.pending = [...first];
    if (!byRef) this.all = first;
    if (byRef && earlier) this.earlier = earlier;
  }

  /** Where the conversation stands, for a continuation of the run. */
  position(): Pick<ReactPosition, 'earlier' | 'messages' | 'byRef'> {
    return {
      byRef: this.byRef,
      ...(this.earlier && { earlier: this.earlier }),
      messages: this.byRef ? [...this.pending] : [...this.all!],
    };
  }

  push(m: ChatMessage): void {
    this.pending.push(m);
    this.all?.push(m);
  }

  /** What the next model call sends. */
  request(): { messages: ChatMessage[]; earlier?: ConversationRef; keepConversation?: boolean } {
    if (!this.byRef) return { messages: this.all! };
    return { messages: this.pending, ...(this.earlier && { earlier: this.earlier }), keepConversation: true };
  }

  /** The whole conversation, to rewrite in place; only when it is not kept by reference. */
  whole(): ChatMessage[] | undefined {
    return this.all;
  }

  /** After a model call: what it stored is now the conversation so far. */
  sent(res: ModelResponse): void {
    if (!this.byRef || !res.conversation) return;
    this.earlier = res.conversation;
    this.pending = [];
  }
}

/** What a ReAct run did: its answer, its model calls and every tool call with its observation. */
export interface ReactResult {
  output: string;
  /** Model calls made (the final formatting call for an output schema included). */
  iterations: number;
  toolCalls: ToolCallRecord[];
  /** `answer`: the model answered; `max-iterations`: it ran out and was asked for an answer without tools. */
  stoppedBy: 'answer' | 'max-iterations';
}

export interface ReactOptions {
  /** Step name in progress (default: the agent's name). */
  key?: string;
  /** Role the model calls count under (`roles` in progress); none by default. */
  role?: string;
  /**
   * When the model still calls tools after `maxIterations` calls: `fail` (default) fails the step
   * with a non-retryable MaxIterationsExceeded; `answer` makes one more call, without tools, for
   * the best answer from what was observed.
   */
  onMaxIterations?: 'fail' | 'answer';
  /**
   * A top-level ensemble step: its run's input, so that the step can continue the run as new
   * when history grows long (see continueIfDue).
   */
  run?: RunInput;
  /**
   * When history grows long and the run cannot continue as new here, hand the remaining turns to
   * a child workflow (react-child.ts). Only for a step whose tool-call counter no other branch
   * shares (not a fan-out instance), whose result's `toolCalls` nobody reads, and without `role`
   * (the child counts no roles).
   */
  handOff?: boolean;
}

/** Marks runs whose agents summarize older turns past `memory.maxContextTokens`. */
export const CONTEXT_SUMMARY_PATCH = 'baton-react-context-summary';

/** A conversation's size in tokens, estimated as characters / 4 (deterministic, no tokenizer). */
export function estimateTokens(messages: ChatMessage[]): number {
  let chars = 0;
  for (const m of messages) {
    chars += m.content.length;
    if (m.role === 'assistant')
      for (const c of m.toolCalls ?? []) chars += c.name.length + JSON.stringify(c.arguments).length;
  }
  return Math.ceil(chars / 4);
}

/** The prompt of the summary call. */
export const SUMMARY_INSTRUCTION =
  'Summarize the conversation above for yourself: the task, what each tool call found, and what is still open. Keep names, numbers and facts; leave out chatter.';

/**
 * When the conversation is over the agent's budget, replace the turns between its opening
 * (system prompt and task) and its `keepRecent` latest messages with one summary, made by a model
 * call of the agent's profile (counted in usage). A tool result is never separated from the
 * assistant message that asked for it. Changes `messages` in place.
 */
export async function summarizeOlderTurns(
  ctx: AgentContext,
  agent: Agent,
  scope: TemplateScope,
  key: string,
  messages: ChatMessage[],
  role?: string,
): Promise<void> {
  const { maxContextTokens, keepRecent = 4 } = agent.memory!;
  if (estimateTokens(messages) <= maxContextTokens) return;
  const head = messages.findIndex((m) => m.role === 'user') + 1;
  let tail = Math.max(head, messages.length - keepRecent);
  // Keep a tool result with its call: start the kept part at an assistant or user message.
  while (tail > head && messages[tail]?.role === 'tool') tail--;
  if (tail - head < 2) return;
  const older = messages.slice(head, tail);
  const res = await callAgent(ctx, agent, scope, {
    key,
    messages: [...messages.slice(0, tail), { role: 'user', content: SUMMARY_INSTRUCTION }],
    ...(role && { role }),
  });
  messages.splice(head, older.length, {
    role: 'user',
    content: `Summary of the earlier turns of this conversation (${older.length} messages):\n${res.text}`,
  });
}

/**
 * The ReAct loop itself, without step bookkeeping (the caller marks the step running and done).
 * Every model call and every tool call is an activity, so after a crash nothing that finished
 * runs again: the loop replays from history up to where it was.
 */
export async function reactLoop(
  ctx: AgentContext,
  agent: Agent,
  scope: TemplateScope,
  opts: ReactOptions = {},
): Promise<ReactResult> {
  const key = opts.key ?? stepKey(ctx, agent.name);
  const role = opts.role;
  const max = agent.maxIterations ?? DEFAULT_MAX_ITERATIONS;
  const tools = await loadTools(agent.tools, ctx.state.mcpServers);
  // An agent that summarizes its older turns keeps its (bounded) conversation whole: the summary
  // rewrites it. Every other agent passes it by reference.
  // A continuation of the run picks up where this step stopped: same conversation and counts.
  const resumed = opts.run?.resume?.react?.[key];
  const byRef = resumed ? resumed.byRef : agent.memory === undefined && patched(CONVERSATION_BY_REF_PATCH);
  let messages = resumed
    ? new Conversation(resumed.messages, byRef, resumed.earlier)
    : new Conversation(messagesFor(agent, scope), byRef);
  const records: ToolCallRecord[] = [];
  let lastTools = resumed?.lastTools ?? [];
  const settings = {
    ...(agent.toolTimeout !== undefined && { timeout: agent.toolTimeout }),
    ...(agent.toolApproval && { approval: agent.toolApproval }),
  };

  let iterations = resumed?.iterations ?? 0;
  let answer: string | undefined;
  let stoppedBy: ReactResult['stoppedBy'] = 'answer';
  while (answer === undefined) {
    if (iterations >= max) {
      const last = lastTools;
      if (opts.onMaxIterations !== 'answer') {
        throw ApplicationFailure.create({
          type: MAX_ITERATIONS_EXCEEDED,
          nonRetryable: true,
          message:
            `agent '${key}' made ${max} model calls (max_iterations) without a final answer; ` +
            `it was still calling tools (last: ${last.join(', ') || 'none'}). Raise max_iterations or narrow the task.`,
        });
      }
      messages.push({
        role: 'user',
        content: 'You have used all your tool calls. Give your final answer now, from what you observed.',
      });
      const res = await callAgent(ctx, agent, scope, { key, ...messages.request(), ...(role && { role }) });
      messages.sent(res);
      iterations++;
      answer = res.text;
      stoppedBy = 'max-iterations';
      break;
    }
    // Short-term memory: keep the conversation within its budget (only agents that set one).
    if (agent.memory && patched(CONTEXT_SUMMARY_PATCH))
      await summarizeOlderTurns(ctx, agent, scope, key, messages.whole()!, role);
    const res = await callAgent(ctx, agent, scope, {
      key,
      ...messages.request(),
      tools: tools.specs,
      ...(role && { role }),
    });
    messages.sent(res);
    iterations++;
    if (res.toolCalls.length === 0) {
      answer = res.text;
      break;
    }
    // Some compatible servers send no call ids; the provider APIs need them to pair results.
    const calls = res.toolCalls.map((c, i) => ({ ...c, id: c.id || `call_${iterations}_${i}` }));
    messages.push({ role: 'assistant', content: res.text, toolCalls: calls });
    // Calls proposed in one turn are independent: they run at once, each its own activity.
    // A tool offered under a model-safe name (an MCP tool) runs, and is recorded, under its own.
    const results = await Promise.all(
      calls.map((c) =>
        executeToolCall(ctx, key, tools, { ...c, name: tools.fromModel?.get(c.name) ?? c.name }, settings),
      ),
    );
    results.forEach((r, i) => {
      records.push(r);
      messages.push({ role: 'tool', toolCallId: calls[i]!.id, name: calls[i]!.name, content: r.content });
    });
    lastTools = [...lastTools, ...results.map((r) => r.name)].slice(-3);
    // Between turns nothing of this step is in flight: the place to hand over to a new run.
    if (opts.run) await continueIfDue(ctx, key, opts.run, { ...messages.position(), iterations, lastTools });
    // A step that cannot continue the run as new hands its remaining turns to a child workflow
    // (react-child.ts); asked synchronously, so a step that does not hand off keeps its microtask
    // turns (and its commands their order beside other steps).
    if (opts.handOff && handOffDue(ctx, tools)) {
      const end = await handOffTurns(ctx, agent, key, tools, {
        ...messages.position(),
        iterations,
        lastTools,
      });
      messages = new Conversation(end.position.messages, end.position.byRef, end.position.earlier);
      iterations = end.position.iterations;
      lastTools = end.position.lastTools;
      if (end.answer !== undefined) {
        answer = end.answer;
        break;
      }
    }
  }

  if (agent.outputSchema) {
    // Tools and a forced JSON answer do not mix on every provider; ask for the format last.
    messages.push({ role: 'assistant', content: answer });
    messages.push({ role: 'user', content: 'Give that final answer as JSON matching the required schema.' });
    // Checked against the schema, and asked for again when it does not fit (counted in usage).
    // Repairs add to these messages; the stored conversation, if any, goes before them.
    const { keepConversation: _keep, ...req } = messages.request();
    const { output } = await callWithOutputSchema(
      ctx,
      { ...agent, outputSchema: agent.outputSchema },
      scope,
      { key, ...req, ...(role && { role }) },
    );
    iterations++;
    answer = output;
  }
  return { output: answer, iterations, toolCalls: records, stoppedBy };
}

/**
 * Keep a long ReAct step's history bounded: after a turn, when history is long (Temporal suggests
 * continue-as-new, or it holds `continueAsNewAfterEvents` events) and this step is the only one
 * running, continue the run as a new execution (same run id). The continuation reuses every
 * completed step, carries the spending, the ledger and the tool-call counts (so idempotency keys go
 * on), and this step's progress and position: its conversation (by reference), its model calls
 * against `max_iterations`. Only top-level steps do this; a step beside others running hands its
 * turns to a child workflow instead (react-child.ts), or, with a tool that needs approval, keeps
 * going in this history and continues once it runs alone.
 */
async function continueIfDue(
  ctx: AgentContext,
  key: string,
  run: RunInput,
  position: ReactPosition,
): Promise<void> {
  const info = workflowInfo();
  const limit = ctx.options?.continueAsNewAfterEvents;
  const due = info.continueAsNewSuggested || (limit !== undefined && info.historyLength >= limit);
  if (!due) return;
  const running = ctx.state.running();
  if (running.length !== 1 || running[0] !== key) return;
  // Asked only here, so runs whose agents never grow long get no marker.
  if (!patched(REACT_CONTINUE_AS_NEW_PATCH)) return;
  const resume = ctx.state.continuation({ runId: info.runId, kind: 'continue-as-new' }, run.resume?.loops);
  // This step is still running: its progress (calls, usage, tool calls) goes on in the next run.
  const step = ctx.state.snapshot().steps.find((s) => s.name === key);
  if (step) {
    const { output: _output, ...progress } = step;
    resume.steps = [...(resume.steps ?? []), progress];
  }
  resume.react = { [key]: position };
  await continueAsNew<(input: RunInput) => Promise<RunResult>>({ ...run, resume });
}

/**
 * Run a tool-using agent as one step of a pattern: its prompt is rendered with `input` (and
 * `vars`), it calls its allowed tools until it answers, at most `maxIterations` model calls.
 *
 * @example
 * const res = await reactAgent(ctx, { name: 'researcher', profile, tools: ['search', 'calculator'], maxIterations: 6 }, question);
 */
export async function reactAgent(
  ctx: AgentContext,
  agent: Agent,
  input: string | TemplateScope,
  opts: ReactOptions & { vars?: Record<string, string> } = {},
): Promise<ReactResult> {
  const key = opts.key ?? stepKey(ctx, agent.name);
  let result: ReactResult | undefined;
  await tracked(ctx, key, async () => {
    result = await reactLoop(ctx, agent, scopeOf(input, opts.vars), { ...opts, key });
    return result.output;
  });
  return result!;
}

/**
 * A tool-using agent step of an ensemble (the interpreter calls this for agent steps with
 * `tools`); the interpreter marks the step running and done, this returns its output.
 */
export async function runToolAgent(
  state: RunState,
  key: string,
  step: AgentStep,
  scope: TemplateScope,
  options?: RunOptions,
  summary?: string,
  run?: RunInput,
): Promise<string> {
  const ctx: AgentContext = { state, ...(options && { options }), ...(summary && { summary }) };
  const agent: Agent = {
    name: step.name,
    profile: step.profile,
    prompt: step.prompt,
    ...(step.system !== undefined && { system: step.system }),
    ...(step.timeout !== undefined && { timeout: step.timeout }),
    ...(step.retry && { retry: step.retry }),
    ...(step.tools && { tools: step.tools }),
    ...(step.maxIterations !== undefined && { maxIterations: step.maxIterations }),
    ...(step.outputSchema && { outputSchema: step.outputSchema }),
    ...(step.outputRepairs !== undefined && { outputRepairs: step.outputRepairs }),
    ...(step.memory && { memory: step.memory }),
  };
  // Only a top-level step of the run, alone in its position (not a fan-out instance, a loop body or
  // a child ensemble's step), and without long-term memory (recall and remember wrap the whole
  // step), may continue the run as new.
  const mayContinue =
    run !== undefined && summary === undefined && !key.includes('/') && !step.recall && !step.remember;
  // Any other step but a fan-out instance (its instances share the step's tool-call counter) may
  // hand its remaining turns to a child workflow instead (react-child.ts).
  const handOff = summary === undefined;
  const res = await reactLoop(ctx, agent, scope, {
    key,
    ...(mayContinue && { run }),
    ...(handOff && { handOff }),
  });
  return res.output;
}
