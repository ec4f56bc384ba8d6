/**
 * Where Baton's start-to-model-request time goes, beside bare SDK code: each run's history
 * timestamps split it into segments (client start call, first workflow task, activity start,
 * activity to request). Client on its own connection (no eager start).
 *
 *   npx tsx bench/ttft-segments.ts [iterations]
 */
import os from 'node:os';
import { chain } from '../src/define';
import { median, startBench } from './support';

const wall = () => performance.timeOrigin + performance.now();
const ms = (t?: { seconds: string; nanos?: number }) =>
  t ? Number(t.seconds) * 1000 + (t.nanos ?? 0) / 1e6 : NaN;

async function main(): Promise<void> {
  const iterations = Number(process.argv[2] ?? 30);
  const loadBefore = os.loadavg()[0]!.toFixed(2);
  const b = await startBench({ slots: 100 });
  try {
    b.fake.reset();
    const arrivals = new Map<string, number>();
    b.fake.on(
      (r) => r.lastUserText.startsWith('seg ') || r.lastUserText.startsWith('step 0: bareseg '),
      (r) => {
        arrivals.set(r.lastUserText, wall());
        return { text: 'first second third' };
      },
    );
    const profile = { name: 'bench', provider: 'openai' as const, model: 'bench-model', timeout: '1 minute' };
    const def = chain('bench-seg', [{ name: 'say', profile, prompt: 'seg {{input}}' }]);
    const seg: Record<string, Record<string, number[]>> = { baton: {}, bare: {} };
    const add = (who: string, k: string, v: number) => (seg[who]![k] ??= []).push(v);
    const split = async (who: string, id: string, t0: number, t1: number, reached: number | undefined) => {
      // As JSON: event types by name, times as { seconds: "…", nanos }.
      const events = JSON.parse(JSON.stringify((await b.baton.handle(id).fetchHistory()).events)) as {
        eventType: string;
        eventTime: { seconds: string; nanos?: number };
      }[];
      const at = (type: string) => ms(events.find((e) => e.eventType === `EVENT_TYPE_${type}`)?.eventTime);
      const started = at('WORKFLOW_EXECUTION_STARTED');
      add(who, 'a. start call (client to answer)', t1 - t0);
      add(who, 'b. client call to WorkflowExecutionStarted', started - t0);
      add(who, 'c. to first WorkflowTaskStarted', at('WORKFLOW_TASK_STARTED') - started);
      add(
        who,
        'd. first workflow task (started to completed)',
        at('WORKFLOW_TASK_COMPLETED') - at('WORKFLOW_TASK_STARTED'),
      );
      add(
        who,
        'e. task completed to ActivityTaskStarted',
        at('ACTIVITY_TASK_STARTED') - at('WORKFLOW_TASK_COMPLETED'),
      );
      if (reached !== undefined) {
        add(who, 'f. ActivityTaskStarted to model request', reached - at('ACTIVITY_TASK_STARTED'));
        add(who, 'z. total: start call to model request', reached - t0);
      }
    };
    for (let i = 0; i < 3 + iterations; i++) {
      const id = `seg-${process.pid}-${i}`;
      let t0 = wall();
      await b.baton.start(def, String(i), { runId: id });
      let t1 = wall();
      await b.baton.result(id);
      if (i >= 3) await split('baton', id, t0, t1, arrivals.get(`seg ${i}`));
      const bid = `bareseg-${process.pid}-${i}`;
      t0 = wall();
      const h = await b.baton.temporal.workflow.start('bareChain', {
        taskQueue: b.bareQueue,
        workflowId: bid,
        args: [1, `bareseg ${i}`],
      });
      t1 = wall();
      await h.result();
      if (i >= 3) await split('bare', bid, t0, t1, arrivals.get(`step 0: bareseg ${i}`));
    }
    console.log(
      `npx tsx bench/ttft-segments.ts ${iterations}; load ${loadBefore} before, ${os.loadavg()[0]!.toFixed(2)} after`,
    );
    console.log('| segment (median) | Baton | bare | Baton - bare |\n|---|---|---|---|');
    for (const k of Object.keys(seg.baton!).sort()) {
      const x = median(seg.baton![k]!);
      const y = median(seg.bare![k] ?? [NaN]);
      console.log(`| ${k} | ${x.toFixed(2)} ms | ${y.toFixed(2)} ms | ${(x - y).toFixed(2)} ms |`);
    }
  } finally {
    await b.close();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
