/**
 * CPU of BatonClient.start's checks before its start call: the definition schema on every start,
 * and as start runs it (a definition whose JSON passed lately is not parsed again).
 *
 *   npx tsx bench/start-checks.ts
 */
import os from 'node:os';
import { definitionIssues } from '../src/client';
import { checkDefinition, runIdSchema } from '../src/config/definition-schema';
import { chain } from '../src/define';

const profile = { name: 'bench', provider: 'openai' as const, model: 'bench-model', timeout: '1 minute' };
const def = chain('bench-ttft', [{ name: 'say', profile, prompt: 'ttft {{input}}' }]);
const n = 5000;
const time = (what: string, check: () => void) => {
  for (let i = 0; i < 200; i++) check(); // warm-up
  const t0 = performance.now();
  for (let i = 0; i < n; i++) check();
  console.log(`${what}: ${(((performance.now() - t0) / n) * 1000).toFixed(1)} µs per start`);
};
console.log(`load average ${os.loadavg()[0]!.toFixed(2)}`);
time('schema on every start (before)', () => {
  checkDefinition(def, 'definition');
  runIdSchema.safeParse('bench-ttft-1');
});
time('as BatonClient.start checks now', () => {
  definitionIssues(def);
  runIdSchema.safeParse('bench-ttft-1');
});
