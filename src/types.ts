/**
 * Plain data shared by clients, workflows and activities. Everything here is JSON: it travels
 * as workflow input, activity arguments, query results and history, so it holds no functions,
 * no classes and never a secret.
 */

/** Which SDK a model call goes through. `openai-compatible` is OpenAI's wire format at another base URL (Ollama, vLLM). */
export type ProviderName = 'openai' | 'anthropic' | 'openai-compatible' | 'offline';

/** A duration as Temporal reads it: milliseconds, or a string such as `'30s'` or `'2 minutes'`. */
export type Duration = number | string;

/** Price per million tokens, in US dollars. */
export interface Pricing {
  inputPerMTok: number;
  outputPerMTok: number;
  /** Price of cached input tokens; defaults to the input price. */
  cachedInputPerMTok?: number;
}

/**
 * A named model configuration, resolved before a run starts so the run sees exactly what it ran with.
 * Holds no key: keys live in the worker's environment (`apiKeyEnv` names the variable).
 */
export interface ModelProfile {
  name: string;
  provider: ProviderName;
  model: string;
  /** Endpoint for this profile; otherwise OPENAI_BASE_URL / ANTHROPIC_BASE_URL from the worker's environment. */
  baseURL?: string;
  /** Name of the worker environment variable that holds the key (default: OPENAI_API_KEY / ANTHROPIC_API_KEY). */
  apiKeyEnv?: string;
  temperature?: number;
  maxTokens?: number;
  /** Time one model call may take (Temporal's startToCloseTimeout). */
  timeout?: Duration;
  pricing?: Pricing;
}

export interface ToolCall {
  id: string;
  name: string;
  arguments: Record<string, unknown>;
}

export type ChatMessage =
  | { role: 'system'; content: string }
  | { role: 'user'; content: string }
  | { role: 'assistant'; content: string; toolCalls?: ToolCall[] }
  | { role: 'tool'; content: string; toolCallId: string; name: string };

/** A tool as the model sees it: name, description and a JSON Schema for its arguments. */
export interface ToolSpec {
  name: string;
  description: string;
  parameters: Record<string, unknown>;
}

/** Ask the model for JSON that matches a JSON Schema (OpenAI `json_schema`, Anthropic via a forced tool). */
export interface ResponseFormat {
  name: string;
  schema: Record<string, unknown>;
}

export interface ModelRequest {
  profile: ModelProfile;
  messages: ChatMessage[];
  tools?: ToolSpec[];
  responseFormat?: ResponseFormat;
  /** The step the call belongs to as the Temporal UI names it (`draft`, `review[3]`): streamed events carry it. */
  step?: string;
}

export interface Usage {
  inputTokens: number;
  outputTokens: number;
  /** Input tokens served from the provider's prompt cache (a part of inputTokens). */
  cachedInputTokens: number;
}

export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter' | 'other';

export interface ModelResponse {
  text: string;
  toolCalls: ToolCall[];
  finishReason: FinishReason;
  usage: Usage;
  costUsd: number;
  provider: ProviderName;
  model: string;
  /** When the attempt that answered ran (epoch ms), and which attempt it was. */
  timing: { startedAt: number; endedAt: number; attempt: number };
  /** With a response format: the reply checked against its schema by the model activity. */
  structured?: StructuredCheck;
  /**
   * Earlier attempts of this call that ended without an answer (timed out, lost their worker, cut
   * connection): the provider may have billed them, so the run's ledger counts each at the call's
   * worst case. Absent when there were none.
   */
  unansweredAttempts?: number;
}

/** One way a structured reply misses its schema: where (a dotted path, `(root)` for the whole) and what. */
export interface SchemaIssue {
  path: string;
  message: string;
}

/**
 * A structured reply checked against its JSON Schema: valid (with `json`, the JSON alone, when the
 * reply held more than it: a fence, prose), or what is wrong with it.
 */
export type StructuredCheck = { valid: true; json?: string } | { valid: false; issues: SchemaIssue[] };

/** Retry policy of one step, in Temporal's terms. */
export interface StepRetry {
  maximumAttempts?: number;
  initialInterval?: Duration;
  backoffCoefficient?: number;
  maximumInterval?: Duration;
}

export const ZERO_USAGE: Usage = Object.freeze({ inputTokens: 0, outputTokens: 0, cachedInputTokens: 0 });

// ---------------------------------------------------------------------------------------------
// Run definitions. A definition is resolved (profiles expanded, templates checked) before a run
// starts and travels as the workflow's input, so a replay or retry sees exactly what the run saw.
// ---------------------------------------------------------------------------------------------

/**
 * A guard on a step, or a loop's stop condition. `ref` names a step's output: `triage` is its
 * text; `triage.category` a field of its JSON output (dotted path).
 */
export interface Condition {
  ref: string;
  op: 'equals' | 'not_equals' | 'contains' | 'truthy' | 'falsy';
  value?: string | number | boolean;
}

/** Run one instance of a step per item of an upstream step's output (a JSON array, or one item a line). */
export interface FanOut {
  from: string;
  /** How many instances may run at once (default: all). */
  maxConcurrency?: number;
}

/** A tool an agent may call; the tool itself is registered on the worker. */
export interface ToolRef {
  name: string;
  /** The agent pauses for a person's decision before this tool runs. */
  requiresApproval?: boolean;
  /** `false`: never call it again after an attempt that may have reached the world (docs/tools.md). */
  idempotent?: boolean;
}

interface StepCommon {
  name: string;
  description?: string;
  /** Steps whose outputs this step needs; it starts once all of them are done. */
  dependsOn: string[];
  when?: Condition;
  fanOut?: FanOut;
  /** Time one attempt of this step's model call may take; defaults to the profile's timeout. */
  timeout?: Duration;
  retry?: StepRetry;
}

/** One model call, or a tool-using (ReAct) loop when `tools` is set. */
export interface AgentStep extends StepCommon {
  kind: 'agent';
  profile: ModelProfile;
  system?: string;
  /** Template: `{{input}}`, `{{steps.NAME}}` (or `{{NAME}}`), `{{item}}` inside a fan-out, `{{loop.iteration}}`. */
  prompt: string;
  tools?: ToolRef[];
  /** Upper bound on model calls of a tool-using agent. */
  maxIterations?: number;
  /** JSON Schema the output must match; the step's output is then JSON text. */
  outputSchema?: Record<string, unknown>;
  /** Times an output that does not match `outputSchema` is asked for again (default 2). */
  outputRepairs?: number;
}

/** A person decides before the run moves on. */
export interface ApprovalStep extends StepCommon {
  kind: 'approval';
  /** Template of what the person is shown (usually an upstream draft). */
  present: string;
  /** How long the gate waits before `onTimeout` applies. */
  deadline: Duration;
  onTimeout: 'reject' | 'approve' | 'escalate';
  /** With `escalate`: how long to wait again after the notification. */
  escalationDeadline?: Duration;
}

/** Repeat a body of steps until a condition holds or `maxIterations` is reached. */
export interface LoopStep extends StepCommon {
  kind: 'loop';
  body: StepDefinition[];
  until: Condition;
  maxIterations: number;
}

export type StepDefinition = AgentStep | ApprovalStep | LoopStep;

/** Limits on a whole run's model spending, and what happens when the next call would cross them. */
export interface Budget {
  maxCostUsd?: number;
  maxTokens?: number;
  /** How long the budget gate waits for a person to raise the budget or stop the run (default 24 hours). */
  gateDeadline?: Duration;
  /** `wait` (default): open a budget gate; `fail`: fail at once with BudgetExceeded. */
  onExceeded?: 'wait' | 'fail';
}

/** A resolved ensemble: a graph of steps joined by `dependsOn`. */
export interface EnsembleDefinition {
  name: string;
  description?: string;
  steps: StepDefinition[];
  /** Step whose output is the run's output; default: the last declared step. */
  output?: string;
  budget?: Budget;
}
