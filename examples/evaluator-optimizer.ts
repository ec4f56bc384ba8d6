/**
 * Evaluator–optimizer: a writer drafts, an editor returns a structured verdict (pass, score,
 * feedback), and the writer revises until the editor passes it or three rounds are done; the
 * best-scored draft is kept.
 *
 *   npx tsx examples/evaluator-optimizer.ts
 */
import type { EvaluatorOptimizerResult } from '../src/workflows/patterns';
import { log, preview, printRun, runMain, withExample } from './_support';

runMain(() =>
  withExample(async ({ profile, run }) => {
    const res = await run<EvaluatorOptimizerResult>('evaluatorOptimizerWorkflow', {
      input: 'Write a two-sentence product description for a durable workflow engine for AI agents.',
      generator: { name: 'writer', profile, system: 'You write crisp product copy.' },
      evaluator: {
        name: 'editor',
        profile,
        system: 'You are a demanding editor. Pass only copy you would publish as is.',
      },
      maxRounds: 3,
      passScore: 8,
    });
    printRun(res);
    for (const r of res.result.rounds) {
      log(
        `round ${r.round}: pass=${r.verdict.pass} score=${r.verdict.score} feedback=${preview(r.verdict.feedback, 60)}`,
      );
    }
    log(`stopped by ${res.result.stoppedBy}; best is round ${res.result.best.round}`);
  }),
);
