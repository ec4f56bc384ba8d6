/**
 * CPU of BatonClient.start's checks before its start call (the definition schema and the run id),
 * for the one-step definition bench/ttft.ts starts.
 *
 *   npx tsx bench/start-checks.ts
 */
import os from 'node:os';
import { checkDefinition, runIdSchema } from '../src/config/definition-schema';
import { chain } from '../src/define';

const profile = { name: 'bench', provider: 'openai' as const, model: 'bench-model', timeout: '1 minute' };
const def = chain('bench-ttft', [{ name: 'say', profile, prompt: 'ttft {{input}}' }]);
const n = 5000;
for (let i = 0; i < 200; i++) checkDefinition(def, 'definition'); // warm-up
const t0 = performance.now();
for (let i = 0; i < n; i++) {
  checkDefinition(def, 'definition');
  runIdSchema.safeParse(`bench-ttft-${i}`);
}
console.log(
  `load average ${os.loadavg()[0]!.toFixed(2)}: ${(((performance.now() - t0) / n) * 1000).toFixed(1)} µs per start`,
);
