import { useEffect, useRef, useState } from 'preact/hooks';
import {
  api,
  duration,
  followEvents,
  money,
  runPath,
  tokens,
  when,
  type RunEvent,
  type RunProgress,
  type StepProgress,
} from './api';
import { DecisionLine, GateCard } from './gate';
import { StatusBadge } from './runs';

const go = (runId: string) => (location.hash = `#/runs/${encodeURIComponent(runId)}`);

/** A run: its steps on a timeline, live text of running steps, gates, decisions, lineage. */
export function RunPage(props: { runId: string }) {
  const { runId } = props;
  const [run, setRun] = useState<RunProgress>();
  const [error, setError] = useState<string>();
  const [live, setLive] = useState<Record<string, string>>({});
  const [streaming, setStreaming] = useState<'connecting' | 'live' | 'polling'>('connecting');
  const [now, setNow] = useState(Date.now());
  const running = useRef(true);

  const load = async () => {
    try {
      const p = await api<RunProgress>('GET', runPath(runId));
      running.current = p.status === 'running';
      setRun(p);
      setError(undefined);
    } catch (e) {
      setError((e as Error).message);
    }
  };

  useEffect(() => {
    const stop = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    // Poll progress: every second without an event stream, every 5 s beside one (a safety net).
    const poll = (ms: number) => {
      const tick = async () => {
        if (stop.signal.aborted) return;
        await load();
        setNow(Date.now());
        if (running.current && !stop.signal.aborted) timer = setTimeout(() => void tick(), ms);
      };
      void tick();
    };
    const onEvent = (ev: RunEvent) => {
      const step = ev.step;
      if (ev.type === 'text.delta' && step && typeof ev.text === 'string')
        setLive((l) => ({ ...l, [step]: (l[step] ?? '') + ev.text }));
      else if (ev.type === 'step.retrying' && step)
        // A failed attempt: its partial text is void; the next attempt streams anew.
        setLive((l) => ({ ...l, [step]: '' }));
      else if (ev.type !== 'text.delta' && ev.type !== 'tool_call.delta') {
        if ((ev.type === 'step.completed' || ev.type === 'step.failed') && step)
          setLive((l) => {
            const { [step]: _gone, ...rest } = l;
            return rest;
          });
        void load();
      }
    };
    void load().then(async () => {
      if (!running.current) {
        setStreaming('polling');
        return;
      }
      setStreaming('live');
      poll(5000);
      const had = await followEvents(runId, onEvent, stop.signal);
      if (!had && !stop.signal.aborted) {
        setStreaming('polling');
        clearTimeout(timer);
        poll(1000);
      }
    });
    return () => {
      stop.abort();
      clearTimeout(timer);
    };
  }, [runId]);

  if (error && !run)
    return (
      <section>
        <h1>{runId}</h1>
        <p class="error">{error}</p>
      </section>
    );
  if (!run) return <p class="muted">Loading {runId}…</p>;

  const totalTokens = run.usage.inputTokens + run.usage.outputTokens;
  return (
    <section class="run">
      <h1>
        {runId} <StatusBadge status={run.status} />
      </h1>
      <dl class="facts">
        <dt>Ensemble</dt>
        <dd>{run.name}</dd>
        <dt>Started by</dt>
        <dd>{run.startedBy ?? '—'}</dd>
        <dt>Cost</dt>
        <dd class="cost">{money(run.costUsd)}</dd>
        <dt>Tokens</dt>
        <dd>
          {totalTokens.toLocaleString('en')} ({tokens(run.usage)})
        </dd>
        {run.parent && (
          <>
            <dt>Lineage</dt>
            <dd class="lineage">
              {run.parent.kind} of{' '}
              <a href={`#/runs/${encodeURIComponent(run.parent.runId)}`}>{run.parent.runId}</a>
              {run.parent.fromStep && ` from step ${run.parent.fromStep}`}
            </dd>
          </>
        )}
        {run.status === 'running' && (
          <>
            <dt>Updates</dt>
            <dd class="muted">{streaming === 'live' ? 'live (event stream)' : 'polling progress'}</dd>
          </>
        )}
      </dl>

      {run.pendingApprovals?.map((g) => (
        <GateCard key={`${g.gate}/${g.digest}`} runId={runId} gate={g} onDecided={() => void load()} />
      ))}

      <h2>Steps</h2>
      <Timeline steps={run.steps} live={live} now={now} />

      {run.output !== undefined && (
        <>
          <h2>Output</h2>
          <pre class="output final">{run.output}</pre>
        </>
      )}
      {run.error && (
        <>
          <h2>Error</h2>
          <p class="error">
            {run.error.step && <>step {run.error.step}: </>}
            {run.error.type}: {run.error.message}
          </p>
        </>
      )}

      {run.decisions && run.decisions.length > 0 && (
        <>
          <h2>Decisions</h2>
          {run.decisions.map((d) => (
            <div key={d.gate}>
              <span class="gate-name">{d.gate}</span> <DecisionLine d={d} />
            </div>
          ))}
        </>
      )}

      <Lineage runId={runId} run={run} />
    </section>
  );
}

function Timeline(props: { steps: StepProgress[]; live: Record<string, string>; now: number }) {
  const times = props.steps.filter((s) => s.startedAt !== undefined);
  const t0 = Math.min(...times.map((s) => s.startedAt!));
  const t1 = Math.max(
    ...times.map((s) => s.endedAt ?? (s.status === 'running' ? props.now : s.startedAt!)),
    t0 + 1,
  );
  return (
    <ol class="timeline">
      {props.steps.map((s) => {
        const end = s.endedAt ?? (s.status === 'running' ? props.now : undefined);
        const left = s.startedAt !== undefined ? ((s.startedAt - t0) / (t1 - t0)) * 100 : 0;
        const width =
          s.startedAt !== undefined && end !== undefined
            ? Math.max(((end - s.startedAt) / (t1 - t0)) * 100, 0.8)
            : 0;
        const text = props.live[s.name];
        return (
          <li key={s.name} class={`step ${s.status}`} data-step={s.name}>
            <div class="step-head">
              <span class="step-name">{s.name}</span>
              <StatusBadge status={s.status} />
              <span class="muted">{meta(s, end).join(' · ')}</span>
            </div>
            <div class="bar-track" title={s.startedAt !== undefined ? when(s.startedAt) : 'not started'}>
              {width > 0 && <div class="bar" style={{ left: `${left}%`, width: `${width}%` }} />}
            </div>
            {s.status === 'running' && text !== undefined && <pre class="output live">{text}▍</pre>}
            {s.output !== undefined && (
              <details>
                <summary>
                  output{s.truncated && ` (preview of ${s.truncated.chars.toLocaleString('en')} characters)`}
                </summary>
                <pre class="output">{s.output}</pre>
              </details>
            )}
            {s.error && (
              <p class="error">
                {s.error.type}: {s.error.message}
              </p>
            )}
            {s.reason && <p class="muted">{s.reason}</p>}
          </li>
        );
      })}
    </ol>
  );
}

/** What a step row says after its status: kind, model, duration, tokens, cost, attempts. */
function meta(s: StepProgress, end: number | undefined): string[] {
  return [
    s.kind !== 'agent' ? s.kind : '',
    s.model ?? '',
    s.startedAt !== undefined && end !== undefined ? duration(end - s.startedAt) : '',
    s.calls > 0 ? tokens(s.usage) : '',
    s.calls > 0 ? money(s.costUsd) : '',
    s.attempts && s.attempts > 1 ? `${s.attempts} attempts` : '',
    s.reused ? 'reused' : '',
  ].filter(Boolean);
}

/** Retry a failed run (reusing its completed steps), or fork any run from a step. */
function Lineage(props: { runId: string; run: RunProgress }) {
  const { runId, run } = props;
  const [fromStep, setFromStep] = useState(run.steps[0]?.name ?? '');
  const [input, setInput] = useState('');
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const act = async (path: string, body: unknown) => {
    setBusy(true);
    setError(undefined);
    try {
      go((await api<{ runId: string }>('POST', `${runPath(runId)}/${path}`, body)).runId);
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <h2>Retry or fork</h2>
      <div class="card lineage-actions">
        <button
          disabled={busy || run.status !== 'failed'}
          onClick={() => void act('retry', {})}
          title={
            run.status === 'failed'
              ? 'A new linked run that reuses the completed steps'
              : 'Only a failed run can be retried'
          }
        >
          Retry
        </button>
        <span class="muted">or fork from</span>
        <select
          aria-label="fork from step"
          value={fromStep}
          onChange={(e) => setFromStep(e.currentTarget.value)}
        >
          {run.steps.map((s) => (
            <option key={s.name} value={s.name}>
              {s.name}
            </option>
          ))}
        </select>
        <input
          placeholder="new input (optional)"
          aria-label="fork input"
          value={input}
          onInput={(e) => setInput(e.currentTarget.value)}
        />
        <button
          disabled={busy || !fromStep}
          onClick={() => void act('fork', { fromStep, ...(input && { input }) })}
        >
          Fork
        </button>
      </div>
      {error && <p class="error">{error}</p>}
    </>
  );
}
