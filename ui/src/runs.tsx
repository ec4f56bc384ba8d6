import { useEffect, useState } from 'preact/hooks';
import { api, money, when, type RunListing } from './api';
import { usePoll, useProgressReads } from './poll';

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
  const read = useProgressReads();
  useEffect(() => {
    read(
      (runs ?? []).filter((r) => !(r.runId in costs && r.status !== 'RUNNING')).map((r) => r.runId),
      (runId, p) => setCosts((c) => ({ ...c, [runId]: p.costUsd })),
      (runId) => setCosts((c) => ({ ...c, [runId]: null })),
    );
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
