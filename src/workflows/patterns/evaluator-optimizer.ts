/**
 * Evaluator–optimizer loop: a generator writes, an evaluator judges with a structured verdict
 * (pass, score, feedback), and the generator revises from the feedback, until a verdict passes
 * or the rounds run out. The best-scored draft is kept either way.
 */
import { boolean, number, object, string, type Infer } from './shape';
import { runAgent } from './agent';
import {
  callStructured,
  parseStructured,
  scopeOf,
  stepKey,
  tracked,
  type Agent,
  type AgentContext,
} from './context';

/** The evaluator's verdict. `score` is 0–10 by the default prompt; higher is better. */
export const verdictSchema = object({
  pass: boolean().describe('true when the answer fully accomplishes the task'),
  score: number().describe('quality from 0 (useless) to 10 (perfect)'),
  feedback: string().describe('what to change to make the answer better; empty when nothing'),
});
export type Verdict = Infer<typeof verdictSchema>;

/** Read a verdict; a reply that is not one becomes a failing verdict (score -1) whose feedback says why. */
export function parseVerdict(text: string): { verdict: Verdict; valid: boolean } {
  const parsed = parseStructured(text, verdictSchema);
  if (parsed.ok) return { verdict: parsed.value, valid: true };
  return {
    verdict: { pass: false, score: -1, feedback: `(no valid verdict: ${parsed.error})` },
    valid: false,
  };
}

export const DEFAULT_REVISE_PROMPT = [
  '{{input}}',
  '',
  'Your previous answer:',
  '{{previous}}',
  '',
  "A reviewer's feedback on it:",
  '{{feedback}}',
  '',
  'Write an improved answer that addresses the feedback. Reply with the answer only.',
].join('\n');

export const DEFAULT_EVALUATE_PROMPT = [
  'Task:',
  '{{input}}',
  '',
  'Candidate answer:',
  '{{draft}}',
  '',
  'Judge whether the answer fully accomplishes the task. Give pass (true or false), a score from 0 to 10, ' +
    'and specific feedback on what to improve.',
].join('\n');

export interface EvaluatorOptimizerSpec {
  /** Writes the answer. Round 1 renders its prompt (default `{{input}}`); later rounds `revisePrompt`. */
  generator: Agent;
  /**
   * Judges a draft; its prompt may use `{{input}}`, `{{draft}}`, `{{round}}` (default:
   * DEFAULT_EVALUATE_PROMPT). It answers with a verdict (structured output).
   */
  evaluator: Agent;
  /** Rounds at most (default 3). */
  maxRounds?: number;
  /** A verdict also passes when its score is at least this. */
  passScore?: number;
  /** Prompt of rounds 2+: `{{input}}`, `{{previous}}`, `{{feedback}}`, `{{round}}` (default: DEFAULT_REVISE_PROMPT). */
  revisePrompt?: string;
}

/** One round: the draft and what the evaluator said of it. */
export interface EvaluationRound {
  round: number;
  draft: string;
  verdict: Verdict;
  /**
   * The evaluator's reply was not a valid verdict (the round counts as failed). Only in runs
   * recorded before verdicts were repaired; now an invalid verdict is asked for again, then fails
   * the step with StructuredOutputError.
   */
  invalidVerdict?: true;
}

export interface EvaluatorOptimizerResult {
  /** The best draft: the passing one, else the highest-scored (the earliest among equals). */
  output: string;
  best: EvaluationRound;
  rounds: EvaluationRound[];
  passed: boolean;
  stoppedBy: 'pass' | 'max-rounds';
}

/** Whether a verdict passes: `pass`, or a score at or above `passScore`. */
export function passes(verdict: Verdict, passScore?: number): boolean {
  return verdict.pass || (passScore !== undefined && verdict.score >= passScore);
}

/**
 * Run the loop. Steps show in progress as `generator#1`, `evaluator#1`, `generator#2`...;
 * usage is counted under the roles `generator` and `evaluator`.
 *
 * @example
 * const res = await evaluatorOptimizer(ctx, {
 *   generator: { name: 'writer', profile, prompt: 'Write a haiku about {{input}}' },
 *   evaluator: { name: 'critic', profile },
 *   maxRounds: 3,
 * }, 'autumn rain');
 */
export async function evaluatorOptimizer(
  ctx: AgentContext,
  spec: EvaluatorOptimizerSpec,
  input: string,
): Promise<EvaluatorOptimizerResult> {
  const maxRounds = Math.max(1, spec.maxRounds ?? 3);
  const rounds: EvaluationRound[] = [];
  let best: EvaluationRound | undefined;

  for (let round = 1; round <= maxRounds; round++) {
    const previous = rounds[rounds.length - 1];
    const generator: Agent =
      round === 1
        ? spec.generator
        : { ...spec.generator, prompt: spec.revisePrompt ?? DEFAULT_REVISE_PROMPT };
    const draft = await runAgent(ctx, generator, input, {
      key: stepKey(ctx, `${spec.generator.name}#${round}`),
      role: 'generator',
      vars: {
        round: String(round),
        previous: previous?.draft ?? '',
        feedback: previous?.verdict.feedback ?? '',
      },
    });

    const evalKey = stepKey(ctx, `${spec.evaluator.name}#${round}`);
    let current!: EvaluationRound;
    await tracked(ctx, evalKey, async () => {
      const scope = scopeOf(input, { draft, round: String(round) });
      const { res } = await callStructured(ctx, spec.evaluator, scope, verdictSchema, {
        key: evalKey,
        role: 'evaluator',
        formatName: 'verdict',
        defaultPrompt: DEFAULT_EVALUATE_PROMPT,
      });
      const { verdict, valid } = parseVerdict(res.text);
      current = { round, draft, verdict, ...(!valid && { invalidVerdict: true as const }) };
      return res.text;
    });
    rounds.push(current);
    if (!best || current.verdict.score > best.verdict.score) best = current;
    if (passes(current.verdict, spec.passScore)) {
      return { output: current.draft, best: current, rounds, passed: true, stoppedBy: 'pass' };
    }
  }
  return { output: best!.draft, best: best!, rounds, passed: false, stoppedBy: 'max-rounds' };
}
