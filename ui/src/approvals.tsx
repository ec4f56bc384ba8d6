import { useRef, useState } from 'preact/hooks';
import {
  api,
  runPath,
  type ApprovalDecision,
  type ApprovalListing,
  type PendingApproval,
  type RunProgress,
} from './api';
import { DecisionLine, GateCard } from './gate';
import { usePoll } from './poll';

interface Waiting {
  runId: string;
  ensemble?: string;
  gate: PendingApproval;
}

/** Every gate waiting across runs, with its draft or tool call; and what was decided here. */
export function ApprovalsPage() {
  const [waiting, setWaiting] = useState<Waiting[]>();
  const [decided, setDecided] = useState<(ApprovalDecision & { runId: string })[]>([]);
  const [error, setError] = useState<string>();

  // Each run's gates as it last answered: a run that answers slowly (its worker busy or gone) keeps
  // what it showed and does not hold back the other runs' gates.
  const known = useRef(new Map<string, Waiting[]>());

  usePoll(async () => {
    try {
      const listed = await api<ApprovalListing[]>('GET', '/approvals');
      // The listing is a summary; the run's progress has each gate's draft, arguments and digest.
      const runs = [...new Set(listed.map((l) => l.runId))];
      for (const id of [...known.current.keys()]) if (!runs.includes(id)) known.current.delete(id);
      const show = () => setWaiting(runs.flatMap((id) => known.current.get(id) ?? []));
      // "Nothing is waiting" only when nothing is; otherwise the first answers fill the page.
      if (runs.length === 0 || runs.some((id) => known.current.has(id))) show();
      setError(undefined);
      await Promise.all(
        runs.map(async (runId) => {
          const progress = await api<RunProgress>('GET', runPath(runId)).catch(() => undefined);
          if (!progress) return;
          const ensemble = listed.find((l) => l.runId === runId)?.ensemble;
          known.current.set(
            runId,
            (progress.pendingApprovals ?? []).map((gate) => ({ runId, ensemble, gate })),
          );
          show();
        }),
      );
    } catch (e) {
      setError((e as Error).message);
    }
  }, 3000);

  return (
    <section>
      <h1>Approvals</h1>
      {error && <p class="error">{error}</p>}
      {waiting && waiting.length === 0 && <p class="muted empty">Nothing is waiting for a decision.</p>}
      {waiting
        ?.filter((w) => !decided.some((d) => d.runId === w.runId && d.gate === w.gate.gate))
        .map((w) => (
          <GateCard
            key={`${w.runId}/${w.gate.gate}/${w.gate.digest}`}
            runId={w.runId}
            ensemble={w.ensemble}
            gate={w.gate}
            showRun
            onDecided={(d) => setDecided((list) => [{ ...d, runId: w.runId }, ...list])}
          />
        ))}
      {decided.length > 0 && (
        <>
          <h2>Decided here</h2>
          <ul class="decided">
            {decided.map((d) => (
              <li key={`${d.runId}/${d.gate}`}>
                <a href={`#/runs/${encodeURIComponent(d.runId)}`}>{d.runId}</a> · {d.gate}:{' '}
                <DecisionLine d={d} />
              </li>
            ))}
          </ul>
        </>
      )}
    </section>
  );
}
