import { useEffect, useRef, useState } from 'preact/hooks';
import { api, money, runPath, when, type RunListing, type RunProgress } from './api';
import { usePoll } from './poll';

export function StatusBadge(props: { status: string }) {
  const s = props.status.toLowerCase();
  return <span class={`badge ${s}`}>{s.replace(/_/g, ' ')}</span>;
}

/** Recent runs: status, ensemble, cost, who started them. */
export function RunsPage() {
  const [runs, setRuns] = useState<RunListing[]>();
  const [error, setError] = useState<string>();
  const [costs, setCosts] = useState<Record<string, number | null>>({});

  usePoll(async () => {
    try {
      setRuns(await api<RunListing[]>('GET', '/runs?limit=50'));
      setError(undefined);
    } catch (e) {
      setError((e as Error).message);
    }
  }, 3000);

  // The listing has no cost: read each run's progress (a run that is still going is read again).
  // One read per run at a time: a run whose worker answers slowly (or is gone) is not asked again
  // before it answers, so its reads do not pile up and hold the browser's connections.
  const reading = useRef(new Set<string>());
  useEffect(() => {
    for (const r of runs ?? []) {
      if (r.runId in costs && r.status !== 'RUNNING') continue;
      if (reading.current.has(r.runId)) continue;
      reading.current.add(r.runId);
      api<RunProgress>('GET', runPath(r.runId))
        .then(
          (p) => setCosts((c) => ({ ...c, [r.runId]: p.costUsd })),
          () => setCosts((c) => ({ ...c, [r.runId]: null })),
        )
        .finally(() => reading.current.delete(r.runId));
    }
  }, [runs]);

  return (
    <section>
      <h1>Runs</h1>
      {error && <p class="error">{error}</p>}
      {runs && runs.length === 0 && <p class="muted">No runs yet. Start one with baton run or POST /runs.</p>}
      {runs && runs.length > 0 && (
        <table class="runs">
          <thead>
            <tr>
              <th>Run</th>
              <th>Ensemble</th>
              <th>Status</th>
              <th>Started</th>
              <th>By</th>
              <th class="num">Cost</th>
            </tr>
          </thead>
          <tbody>
            {runs.map((r) => (
              <tr key={r.runId} data-run={r.runId}>
                <td>
                  <a href={`#/runs/${encodeURIComponent(r.runId)}`}>{r.runId}</a>
                </td>
                <td>{r.ensemble}</td>
                <td>
                  <StatusBadge status={r.status} />
                </td>
                <td>{when(r.started)}</td>
                <td>{r.startedBy ?? '—'}</td>
                <td class="num">{costs[r.runId] === undefined ? '…' : money(costs[r.runId] ?? undefined)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
