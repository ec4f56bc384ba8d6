/**
 * `npm run bench`: Baton beside bare Temporal SDK code and a plain loop, on the same tuned dev
 * server in the same run. Writes bench/results/*.json and docs/benchmarks.md.
 *
 *   npm run bench                      # chain + fan-out + approvals + time to first token (ttft)
 *   npm run bench -- chain fanout      # a subset
 *   npm run bench -- scale             # issue 12: wide fan-out (with LangGraph), 10,000 items, CPU, throughput
 *   npm run bench -- throughput        # issue 12.4 alone: three-step runs per second, Baton beside bare SDK code
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { chainBench, fanOutBench } from './scenarios';
import { cpuBench, hugeFanOutBench, throughputBench, wideFanOutBench } from './scale';
import { machineLine, serverSettingsLine, startBench } from './support';
import { renderReport } from './report';
import { renderScale, spliceSection } from './scale-report';

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
  // `scale-rest`: every scale part but the wide fan-outs, added to bench/results/scale.json.
  const rest = wanted.includes('scale-rest');
  if (all || wanted.includes('scale') || rest) {
    const b = await startBench({ slots: 1000 });
    const load = () => os.loadavg()[0]!.toFixed(1);
    try {
      const before = load();
      const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
      const earlier = rest ? JSON.parse(readFileSync(join(RESULTS, 'scale.json'), 'utf8')) : undefined;
      const wide = earlier
        ? { ...earlier.wide, command: earlier.command, date: earlier.date }
        : await wideFanOutBench(b, {
            widths: [200, 1000],
            latencyMs: 1000,
            iterations: 3,
            batchSize: 100,
          });
      console.log('wide', JSON.stringify(wide));
      const save = (part: object) =>
        writeFileSync(
          join(RESULTS, 'scale.json'),
          JSON.stringify(
            { date: new Date().toISOString(), command, load: { before, after: load() }, ...part },
            null,
            2,
          ),
        );
      save({ wide });
      const huge = await hugeFanOutBench(b, {
        items: 10_000,
        concurrency: 1000,
        latencyMs: 1000,
        batchSize: 100,
      });
      console.log('huge', JSON.stringify(huge));
      save({ wide, huge });
      const cpu = await cpuBench(b, { width: 1000, batchSize: 100, rounds: 2 });
      console.log('cpu', JSON.stringify(cpu));
      save({ wide, huge, cpu });
      const throughput = await throughputBench(b, { runs: 100, rounds: 2 });
      console.log('throughput', JSON.stringify(throughput));
      const r = {
        date: new Date().toISOString(),
        command,
        load: { before, after: load() },
        wide,
        huge,
        cpu,
        throughput,
      };
      writeFileSync(join(RESULTS, 'scale.json'), JSON.stringify(r, null, 2));
    } finally {
      await b.close();
    }
  }
  // `throughput` alone: its part of bench/results/scale.json is replaced, the other parts kept as measured.
  if (!all && wanted.includes('throughput') && !rest && !wanted.includes('scale')) {
    const b = await startBench({ slots: 1000 });
    const load = () => os.loadavg()[0]!.toFixed(1);
    try {
      const before = load();
      const throughput = await throughputBench(b, { runs: 100, rounds: 2 });
      const after = load();
      console.log('throughput', JSON.stringify(throughput), `load ${before} before, ${after} after`);
      const file = join(RESULTS, 'scale.json');
      const earlier = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {};
      const command = `npm run bench -- ${process.argv.slice(2).join(' ')}`;
      writeFileSync(
        file,
        JSON.stringify(
          {
            ...earlier,
            throughput: { ...throughput, date: new Date().toISOString(), command, load: { before, after } },
          },
          null,
          2,
        ),
      );
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

  const docs = join(__dirname, '..', 'docs', 'benchmarks.md');
  mkdirSync(join(__dirname, '..', 'docs'), { recursive: true });
  if (!all && wanted.length === 1 && wanted[0] === 'throughput' && existsSync(docs)) {
    // Only the throughput part was measured: replace its subsection of the issue 12 section.
    const part = renderScale({
      throughput: JSON.parse(readFileSync(join(RESULTS, 'scale.json'), 'utf8')).throughput,
    });
    const sub = part.slice(part.findIndex((l) => l.startsWith('### '))).join('\n');
    const doc = readFileSync(docs, 'utf8');
    const start = doc.indexOf('### Three-step runs per second');
    if (start < 0) throw new Error('docs/benchmarks.md has no throughput subsection to replace');
    const next = doc.slice(start + 4).search(/\n##/);
    const end = next < 0 ? doc.length : start + 4 + next + 1;
    writeFileSync(docs, doc.slice(0, start) + sub.trimEnd() + '\n\n' + doc.slice(end));
    console.log('updated the throughput part of docs/benchmarks.md');
    return;
  }
  if (!all && wanted.length === 1 && (wanted[0] === 'scale' || rest) && existsSync(docs)) {
    // Only the scale section was measured: replace (or add) it, keep the other sections as measured then.
    const section = renderScale(JSON.parse(readFileSync(join(RESULTS, 'scale.json'), 'utf8'))).join('\n');
    writeFileSync(docs, spliceSection(readFileSync(docs, 'utf8'), section));
    console.log('updated the issue 12 section of docs/benchmarks.md');
    return;
  }
  const report = renderReport(RESULTS, (f) =>
    existsSync(f) ? JSON.parse(readFileSync(f, 'utf8')) : undefined,
  );
  writeFileSync(docs, report);
  console.log('wrote docs/benchmarks.md');
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
