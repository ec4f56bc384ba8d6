/**
 * `npm run bench`: Baton beside bare Temporal SDK code and a plain loop, on the same tuned dev
 * server in the same run. Writes bench/results/*.json and docs/benchmarks.md.
 *
 *   npm run bench                      # chain + fan-out + approvals + time to first token (ttft)
 *   npm run bench -- chain fanout      # a subset
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chainBench, fanOutBench } from './scenarios';
import { machineLine, serverSettingsLine, startBench } from './support';
import { renderReport } from './report';

const RESULTS = join(__dirname, 'results');

async function main(): Promise<void> {
  const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
  const all = wanted.length === 0;
  mkdirSync(RESULTS, { recursive: true });

  if (all || wanted.includes('chain') || wanted.includes('fanout')) {
    const b = await startBench({ slots: 1000 });
    try {
      const meta = {
        machine: machineLine(b.temporal),
        server: serverSettingsLine(b.temporal),
        date: new Date().toISOString(),
        command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
      };
      if (all || wanted.includes('chain')) {
        const r = await chainBench(b, { steps: 20, iterations: 15 });
        writeFileSync(join(RESULTS, 'chain.json'), JSON.stringify({ ...meta, ...r }, null, 2));
        console.log('chain', JSON.stringify(r));
      }
      if (all || wanted.includes('fanout')) {
        const r = await fanOutBench(b, { width: 200, latencyMs: 1000, iterations: 5 });
        writeFileSync(join(RESULTS, 'fanout.json'), JSON.stringify({ ...meta, ...r }, null, 2));
        console.log('fanout', JSON.stringify(r));
      }
    } finally {
      await b.close();
    }
  }
  if ((all || wanted.includes('approvals')) && existsSync(join(__dirname, 'approvals.ts'))) {
    // Its own process: it measures a worker's memory and must not share this one's heap.
    const r = spawnSync(process.execPath, ['-r', 'tsx/cjs', join(__dirname, 'approvals.ts')], {
      stdio: 'inherit',
    });
    if (r.status !== 0) throw new Error(`bench/approvals.ts exited with ${r.status}`);
  }

  if (all || wanted.includes('ttft')) {
    // Its own process: it starts Redis and its own worker.
    const r = spawnSync(process.execPath, ['-r', 'tsx/cjs', join(__dirname, 'ttft.ts')], {
      stdio: 'inherit',
    });
    if (r.status !== 0) throw new Error(`bench/ttft.ts exited with ${r.status}`);
  }

  const report = renderReport(RESULTS, (f) =>
    existsSync(f) ? JSON.parse(readFileSync(f, 'utf8')) : undefined,
  );
  mkdirSync(join(__dirname, '..', 'docs'), { recursive: true });
  writeFileSync(join(__dirname, '..', 'docs', 'benchmarks.md'), report);
  console.log('wrote docs/benchmarks.md');
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
