/**
 * A long ReAct step that cannot continue its run as new (it runs beside other steps, in a loop
 * body or in a child ensemble) hands its remaining turns to a child workflow (`batonReactStep`)
 * once the run's history is long, so the run's history grows by the child's start and result, not
 * by its turns. The child carries the step on exactly: its conversation (by reference), its model
 * calls against `max_iterations`, its tool-call counter (idempotency keys stay
 * `<runId>/<step>#n`, as the run would issue them), and an allowance from the run's one ledger
 * (given back unspent; a child that runs out returns and the step takes a new one, waiting at the
 * run's budget gate when the ledger has no room). A child whose own history grows long returns
 * between turns and the run starts the next one (`.2`, `.3`, ...), so the run's history grows by a
 * few events per child, not by the turns. Steps whose tools need approval stay in the run (their
 * gates are the run's), as do fan-out instances (they share the step's tool-call counter).
 * Workflow code only.
 */
import {
  ApplicationFailure,
  CancellationScope,
  condition,
  executeChild,
  patched,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { Budget, McpServerDeclaration, Usage } from '../types';
import { ZERO_USAGE } from '../types';
import {
  BUDGET_EXCEEDED,
  SEARCH_ATTRIBUTES,
  progressQuery,
  type ReactPosition,
  type RunOptions,
} from './api';
import { acquireAllowance, NO_MONEY, shareOf, worstCaseOf, type Money } from './ledger';
import { RunState } from './run-state';
import { callAgent, type Agent, type AgentContext } from './patterns/context';
import {
  CONTEXT_SUMMARY_PATCH,
  Conversation,
  DEFAULT_MAX_ITERATIONS,
  summarizeOlderTurns,
} from './patterns/react-agent';
import { executeToolCall, loadTools, type ToolSet } from './patterns/tools';
import type { TemplateScope } from './template';

/** Marks runs whose ReAct step handed its turns to a child workflow (asked only once history is long). */
export const REACT_CHILD_PATCH = 'baton-react-child';
/** The workflow type of a ReAct step's child; the worker registers it (src/workflows/index.ts exports it). */
export const REACT_CHILD_WORKFLOW = 'batonReactStep';

/** Input of a ReAct step's child workflow. */
export interface ReactChildInput {
  /** The run's ensemble name. */
  name: string;
  /** The step's key in the run (progress, idempotency keys). */
  key: string;
  agent: Agent;
  /** Where the step stands: conversation, model calls, latest tools. */
  position: ReactPosition;
  /** Tool calls the step has issued so far: the child's keys go on from the next. */
  toolCalls: number;
  /** The run id the step's idempotency keys start with. */
  toolKeyRunId: string;
  options?: RunOptions;
  /** The child's allowance from the run's ledger (`onExceeded: 'fail'`); none when the run has no budget. */
  budget?: Budget;
  mcpServers?: Record<string, McpServerDeclaration>;
}

/** What a ReAct step's child did, and where the step stands now. */
export interface ReactChildResult {
  position: ReactPosition;
  /** The model's answer (a reply without tool calls), when `stoppedBy` is `answer`. */
  answer?: string;
  /**
   * `answer`: the model answered; `max-iterations`: the step made `max_iterations` model calls
   * (the run decides what follows); `allowance`: the next call did not fit the child's allowance;
   * `history`: the child's history is long (the run goes on in a new child).
   */
  stoppedBy: 'answer' | 'max-iterations' | 'allowance' | 'history';
  /** The step's tool-call counter now (its last idempotency key's n). */
  toolCalls: number;
  /** Model calls and tool calls the child made. */
  calls: number;
  toolCallsMade: number;
  usage: Usage;
  costUsd: number;
  /** Settled on the child's ledger: what the run's ledger counts for it. */
  spent: Money;
}

/**
 * Whether a ReAct step should hand its remaining turns to a child now: history is long (Temporal
 * suggests continue-as-new, or it holds `continueAsNewAfterEvents` events), no tool of the step
 * needs approval, and the run is recorded with the marker (asked only here). Synchronous.
 */
export function handOffDue(ctx: AgentContext, tools: ToolSet): boolean {
  const info = workflowInfo();
  const limit = ctx.options?.continueAsNewAfterEvents;
  const due = info.continueAsNewSuggested || (limit !== undefined && info.historyLength >= limit);
  if (!due || tools.gated.size > 0) return false;
  return patched(REACT_CHILD_PATCH);
}

/** How many children each step key has started in this run (a loop body's step hands off each iteration). */
const rounds = new WeakMap<RunState, Map<string, number>>();

/**
 * Run a ReAct step's remaining turns in child workflows (`<runId>/<step>/react`, then `.2`, ...
 * for a new allowance or a later iteration) until the model answers or the step reaches
 * `max_iterations`; returns where the step stands then. Counts each child's calls, usage and
 * tool calls against the step, and settles its allowance on the run's ledger. When the run fails
 * meanwhile (another step failed), the child is cancelled and the step stops as it would in the run.
 */
export async function handOffTurns(
  ctx: AgentContext,
  agent: Agent,
  key: string,
  tools: ToolSet,
  position: ReactPosition,
): Promise<{ position: ReactPosition; answer?: string }> {
  const state = ctx.state;
  const info = workflowInfo();
  const seen = rounds.get(state) ?? new Map<string, number>();
  rounds.set(state, seen);
  const ensemble = info.typedSearchAttributes.get(SEARCH_ATTRIBUTES.ensemble);
  let pos = position;
  // A child that ran out of allowance before its first call (the call cost more than estimated)
  // gets twice as much the next time.
  let grow = 1;
  for (;;) {
    state.gates.assertRunning(`step '${key}' made no further model call`);
    const { keepConversation: _keep, ...req } = new Conversation(
      pos.messages,
      pos.byRef,
      pos.earlier,
    ).request();
    const first = worstCaseOf({ profile: agent.profile, ...req, tools: tools.specs });
    const need = { tokens: first.tokens * grow, costUsd: Math.ceil(first.costUsd * grow * 1e8) / 1e8 };
    // An equal part of what is left among the steps running now, at least the next call's worst case.
    const allowance = await acquireAllowance(
      state,
      key,
      need,
      shareOf(state.ledger, Math.max(1, state.running().length)),
    );
    const round = (seen.get(key) ?? 0) + 1;
    seen.set(key, round);
    const input: ReactChildInput = {
      name: state.name,
      key,
      agent,
      position: pos,
      toolCalls: state.toolCallsIssued(key),
      toolKeyRunId: ctx.toolKeyRunId ?? info.workflowId,
      // The child's calls stream under the run's id and the step's name (docs/streaming.md).
      options: { ...ctx.options, streamRunId: ctx.options?.streamRunId ?? info.workflowId },
      ...(allowance.budget && { budget: allowance.budget }),
      ...(state.mcpServers && { mcpServers: state.mcpServers }),
    };
    const scope = new CancellationScope();
    let settled = false;
    // The run failed elsewhere: the child stops too (no further call, as in the run).
    void condition(() => settled || state.stopped !== undefined).then(
      () => {
        if (!settled) scope.cancel();
      },
      () => undefined,
    );
    let res: ReactChildResult;
    try {
      res = await scope.run(() =>
        executeChild<typeof batonReactStep>(REACT_CHILD_WORKFLOW, {
          workflowId: `${info.workflowId}/${key}/react${round > 1 ? `.${round}` : ''}`,
          args: [input],
          staticSummary: `${key}: ReAct turns from model call ${pos.iterations + 1}`,
          ...(ensemble !== undefined && {
            typedSearchAttributes: [{ key: SEARCH_ATTRIBUTES.ensemble, value: ensemble }],
          }),
        }),
      );
    } catch (err) {
      // Cancelled, failed or timed out: what it spent is unknown, so all of its allowance counts.
      state.ledger.settle(allowance.reservation, allowance.amount);
      if (state.stopped !== undefined) state.gates.assertRunning(`step '${key}' made no further model call`);
      throw err;
    } finally {
      settled = true;
    }
    state.ledger.settle(allowance.reservation, res.spent);
    state.recordChild(key, {
      usage: res.usage,
      costUsd: res.costUsd,
      steps: [
        {
          name: key,
          kind: 'agent',
          status: 'completed',
          calls: res.calls,
          ...(res.toolCallsMade > 0 && { toolCalls: res.toolCallsMade }),
          usage: res.usage,
          costUsd: res.costUsd,
        },
      ],
    });
    state.advanceToolCalls(key, res.toolCalls);
    if (res.stoppedBy === 'answer' || res.stoppedBy === 'max-iterations')
      return { position: res.position, ...(res.answer !== undefined && { answer: res.answer }) };
    grow = res.stoppedBy === 'allowance' && res.position.iterations === pos.iterations ? grow * 2 : 1;
    pos = res.position;
  }
}

/** The call that would not fit the child's allowance (its ledger fails at once: `onExceeded: 'fail'`). */
function outOfAllowance(err: unknown): boolean {
  return err instanceof ApplicationFailure && err.type === BUDGET_EXCEEDED;
}

/**
 * A ReAct step's turns as their own workflow: model call with tools, then the tool calls, until
 * the model answers, the step reaches `max_iterations`, the next call does not fit the allowance,
 * or this history is long (between turns). The final calls (an answer at max_iterations, the
 * output schema) are the run's. It does not continue as new: a cancellation from the run reaches
 * a child's first execution only, so the run starts the next child instead.
 */
export async function batonReactStep(input: ReactChildInput): Promise<ReactChildResult> {
  const { key, agent } = input;
  const state = new RunState(input.name, input.budget);
  if (input.mcpServers) state.mcpServers = input.mcpServers;
  // The step's tool-call counter goes on from the run's.
  state.restore({
    reuse: {},
    carried: {
      usage: { ...ZERO_USAGE },
      costUsd: 0,
      toolCalls: { [key]: input.toolCalls },
      ledger: { spent: NO_MONEY },
    },
  });
  setHandler(progressQuery, () => state.bounded());
  state.start(key);
  const tools = await loadTools(agent.tools, state.mcpServers);
  const ctx: AgentContext = {
    state,
    toolKeyRunId: input.toolKeyRunId,
    ...(input.options && { options: input.options }),
  };
  const settings = {
    ...(agent.toolTimeout !== undefined && { timeout: agent.toolTimeout }),
    ...(agent.toolApproval && { approval: agent.toolApproval }),
  };
  // The conversation is rendered already: no template is read again.
  const scope: TemplateScope = { input: '', steps: {} };
  const max = agent.maxIterations ?? DEFAULT_MAX_ITERATIONS;
  const messages = new Conversation(input.position.messages, input.position.byRef, input.position.earlier);
  let iterations = input.position.iterations;
  let lastTools = input.position.lastTools;
  const position = (): ReactPosition => ({ ...messages.position(), iterations, lastTools });
  const end = (stoppedBy: ReactChildResult['stoppedBy'], answer?: string): ReactChildResult => {
    const p = state.snapshot();
    const s = p.steps.find((x) => x.name === key);
    return {
      position: position(),
      ...(answer !== undefined && { answer }),
      stoppedBy,
      toolCalls: state.toolCallsIssued(key),
      calls: s?.calls ?? 0,
      toolCallsMade: s?.toolCalls ?? 0,
      usage: p.usage,
      costUsd: p.costUsd,
      spent: state.ledger.spent,
    };
  };

  for (;;) {
    if (iterations >= max) return end('max-iterations');
    let res;
    try {
      if (agent.memory && patched(CONTEXT_SUMMARY_PATCH))
        await summarizeOlderTurns(ctx, agent, scope, key, messages.whole()!);
      res = await callAgent(ctx, agent, scope, { key, ...messages.request(), tools: tools.specs });
    } catch (err) {
      if (outOfAllowance(err)) return end('allowance');
      throw err;
    }
    messages.sent(res);
    iterations++;
    if (res.toolCalls.length === 0) return end('answer', res.text);
    const calls = res.toolCalls.map((t, i) => ({ ...t, id: t.id || `call_${iterations}_${i}` }));
    messages.push({ role: 'assistant', content: res.text, toolCalls: calls });
    const results = await Promise.all(
      calls.map((t) =>
        executeToolCall(ctx, key, tools, { ...t, name: tools.fromModel?.get(t.name) ?? t.name }, settings),
      ),
    );
    results.forEach((r, i) => {
      messages.push({ role: 'tool', toolCallId: calls[i]!.id, name: calls[i]!.name, content: r.content });
    });
    lastTools = [...lastTools, ...results.map((r) => r.name)].slice(-3);
    // Between turns nothing is in flight: when this history is long, the run starts a fresh child.
    const info = workflowInfo();
    const limit = input.options?.continueAsNewAfterEvents;
    if (info.continueAsNewSuggested || (limit !== undefined && info.historyLength >= limit))
      return end('history');
  }
}
