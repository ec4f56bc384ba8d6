/**
 * Plain data shared by clients, workflows and activities. Everything here is JSON: it travels
 * as workflow input, activity arguments, query results and history, so it holds no functions,
 * no classes and never a secret.
 */

/** Which SDK a model call goes through. `openai-compatible` is OpenAI's wire format at another base URL (Ollama, vLLM). */
export type ProviderName = 'openai' | 'anthropic' | 'gemini' | 'openai-compatible' | 'offline';

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
  /**
   * A system prompt that comes with the profile (llm-orc's `system_prompt` on a profile): the YAML
   * loader gives it to every agent step of this profile that sets none of its own.
   */
  systemPrompt?: string;
  /**
   * Profiles tried in order when a call with this one fails with a non-retryable provider error
   * or exhausts its retries (rate limits, overload, timeouts). Resolved profiles; their own
   * fallbacks are not followed.
   */
  fallbacks?: ModelProfile[];
  /** As written in a config file (`fallback_profiles`): names, resolved into `fallbacks` per step. */
  fallbackProfiles?: string[];
}

export interface ToolCall {
  id: string;
  name: string;
  arguments: Record<string, unknown>;
  /** Opaque data the provider wants back with this call in the next turn (Gemini's thought signature). */
  signature?: string;
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
  /** With `earlier`: the messages that follow the stored ones. */
  messages: ChatMessage[];
  tools?: ToolSpec[];
  responseFormat?: ResponseFormat;
  /**
   * A conversation kept in the payload store (a ReAct agent's): sent before `messages`. History
   * holds this reference, not the conversation.
   */
  earlier?: ConversationRef;
  /** Store `earlier` + `messages` and answer its reference as `conversation` (the next call's `earlier`). */
  keepConversation?: boolean;
  /** The step the call belongs to as the Temporal UI names it (`draft`, `review[3]`): streamed events carry it. */
  step?: string;
  /** The run whose event stream the call publishes to, when not its workflow's (a shard's calls: the run's id). */
  streamRunId?: string;
}

/**
 * Messages in the payload store, as a chain of segments (each holds the messages one call added
 * and the reference of the segment before it), so that storing a turn costs the turn, not the
 * whole conversation again.
 */
export interface ConversationRef {
  /** The key of the last segment in the payload store. */
  $ref: string;
  bytes: number;
  sha256: string;
  /** Messages in the whole conversation. */
  messages: number;
  /** Characters of the whole conversation's JSON (the budget reserves for them). */
  chars: number;
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
  /** The profile whose call answered (absent in results recorded before fallbacks existed). */
  profile?: string;
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
  /** Answered from an earlier run's recorded answer (eval replay): no provider call, no cost. */
  recorded?: boolean;
  /** With `keepConversation`: the stored conversation (the request's messages, not this reply). */
  conversation?: ConversationRef;
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
  /**
   * Run the instances' model calls in batch activities of `size` calls each (docs/scale.md):
   * fewer server round trips per call; each finished call is recorded in the batch's heartbeat
   * at most `flushMs` after it lands (default: the worker's BATON_BATCH_FLUSH_MS, else 1000).
   */
  batch?: FanOutBatch;
  /**
   * Run the instances in child workflows of `size` items each when there are more than `size`
   * items (docs/scale.md); default `{ size: 1000 }`, `false` keeps every instance in the run.
   */
  shard?: FanOutShard | false;
}

/** Shard settings of a very wide fan-out (YAML `fan_out: { shard: { size } }`). */
export interface FanOutShard {
  size: number;
}

/** Batch settings of a wide fan-out (YAML `fan_out: { batch: { size, flush_ms } }`). */
export interface FanOutBatch {
  size: number;
  flushMs?: number;
}

/** A batch of a fan-out's model calls, as the batch activity takes it. */
export interface ModelBatchInput {
  calls: ModelRequest[];
  /** The run whose event stream the calls publish to, when not the batch's workflow (a shard's: the run's id). */
  streamRunId?: string;
  /** Calls of this batch running at once. */
  concurrency: number;
  /** How often finished calls are recorded in heartbeat details (0: at each landing); default the worker's. */
  flushMs?: number;
  /** One attempt of one call may take this long. */
  callTimeoutMs: number;
  /** Retries of each call inside the batch (the step's retry policy). */
  retry: {
    initialIntervalMs: number;
    backoffCoefficient: number;
    maximumIntervalMs: number;
    maximumAttempts: number;
  };
}

/** How one call of a batch ended: its answer, or the failure no retry fixed (and its unanswered attempts, for billing). */
export type BatchCallOutcome =
  | { ok: true; res: ModelResponse }
  | { ok: false; error: { type: string; message: string }; unansweredAttempts: number };

/** Every call's outcome in the batch's order; `resumed`: outcomes taken from an earlier attempt's heartbeat. */
export interface ModelBatchResult {
  outcomes: BatchCallOutcome[];
  resumed: number;
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
  /**
   * Read one key of the first dependency's JSON output instead of the whole output: in this step's
   * templates, conditions and fan-out items, `{{steps.<first dependency>}}` is that key's value
   * (JSON text unless it is a string). Missing key or non-object output fails the step.
   */
  inputKey?: string;
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
  /** Long-term memory: before the call, look up stored memories like `query` and show them to the model. */
  recall?: MemoryRecall;
  /** Long-term memory: store this step's output once it completes. */
  remember?: MemoryRemember;
  /** Short-term memory of a tool-using step: summarize older turns past this many tokens (docs/memory.md). */
  memory?: { maxContextTokens: number; keepRecent?: number };
}

/** Which memories a recall sees: the namespace's, the run's user's in it, or the run's thread's. */
export type MemoryScopeLevel = 'namespace' | 'user' | 'thread';

/** Where memories live: a namespace, narrowed to a user and a thread when the run names them. */
export interface MemoryScope {
  namespace: string;
  user?: string;
  thread?: string;
}

/** A step's recall: `query` (a template, default `{{input}}`), the `topK` closest memories in its scope. */
export interface MemoryRecall {
  query: string;
  topK: number;
  namespace: string;
  /** Default `namespace`. */
  scope?: MemoryScopeLevel;
  /** The profile whose provider computes embeddings (OpenAI-compatible `/v1/embeddings`, or offline). */
  embedding: ModelProfile;
}

/** A step's remember: its output is stored in `namespace` (with the run's user and thread, when given). */
export interface MemoryRemember {
  namespace: string;
  embedding: ModelProfile;
}

/** One stored memory as a recall returns it. */
export interface RecalledMemory {
  id: string;
  text: string;
  /** Cosine similarity to the query, -1..1. */
  score: number;
  scope: MemoryScope;
  /** The run and step that wrote it. */
  source?: { runId?: string; step?: string };
  createdAt: string;
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

/**
 * Run another ensemble (resolved when the parent was loaded) on this step's rendered `prompt` as
 * its input; its steps run inside this run (step keys `<step>/<child step>`, one ledger and
 * budget), and its output is this step's output. With `fanOut`, once per item.
 */
export interface EnsembleStep extends StepCommon {
  kind: 'ensemble';
  /** The name the child was referenced by (`ensemble:` in YAML). */
  ensemble: string;
  /** Template of the child's input; a fan-out step's default is `{{item}}`. */
  prompt: string;
  definition: EnsembleDefinition;
}

/**
 * Run a command the worker's config allows (`scripts:` in `baton worker --config`): its input on
 * stdin, `parameters` as JSON in BATON_PARAMETERS, its stdout the step's output (docs/tools.md).
 */
export interface ScriptStep extends StepCommon {
  kind: 'script';
  /** The name of a script in the worker's config; the worker decides what runs. */
  command: string;
  /** Arguments after the configured argv (only when the worker's entry sets `allow_args: true`). */
  args?: string[];
  /** JSON the script reads from the BATON_PARAMETERS environment variable. */
  parameters?: Record<string, unknown>;
  /** Template of what goes to stdin (default: the run input at a root, else the upstream outputs). */
  input: string;
  /** `json`: stdout is parsed and stored as compact JSON when it parses. */
  outputFormat?: 'text' | 'json';
  /** `false`: at most one attempt that may have acted (docs/tools.md). Default true. */
  idempotent?: boolean;
}

/** An MCP server a run declares (YAML `mcp_servers`): a stdio command, or a streamable HTTP URL. */
export type McpServerDeclaration = { command: string[]; env?: Record<string, string> } | { url: string };

export type StepDefinition = AgentStep | ApprovalStep | LoopStep | EnsembleStep | ScriptStep;

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
  /** The run's input when it is started with an empty one (llm-orc's `default_task`). */
  defaultInput?: string;
  /** MCP servers the run's agents use (`<server>.<tool>`); the worker's config must allow each. */
  mcpServers?: Record<string, McpServerDeclaration>;
}
