import { useEffect, useRef, useState } from 'preact/hooks';
import { api, type ApprovalDecision, type ApprovalListing, type PendingApproval } from './api';
import { DecisionLine, GateCard } from './gate';
import { usePoll, useProgressReads } from './poll';

/** How long a run whose progress read failed is left before it is read again. */
const RETRY_FAILED_MS = 30_000;
/**
 * At most this many runs' reads at once, leaving two of the browser's six connections to an API
 * for the listing and for decisions while reads of runs whose worker is gone wait their time out.
 */
const MAX_READS = 4;

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
  const [listed, setListed] = useState<ApprovalListing[]>();

  usePoll(async () => {
    try {
      setListed(await api<ApprovalListing[]>('GET', '/approvals'));
      setError(undefined);
    } catch (e) {
      setError((e as Error).message);
    }
  }, 3000);

  // The listing is a summary; the run's progress has each gate's draft, arguments and digest. At
  // most MAX_READS at once, and a run that did not answer (its worker gone) is asked again only
  // after RETRY_FAILED_MS, so other runs' gates do not wait behind its reads.
  const read = useProgressReads({ max: MAX_READS, retryFailedMs: RETRY_FAILED_MS });
  const listedRuns = useRef<string[]>([]);
  useEffect(() => {
    if (!listed) return;
    const runs = [...new Set(listed.map((l) => l.runId))];
    listedRuns.current = runs;
    for (const id of [...known.current.keys()]) if (!runs.includes(id)) known.current.delete(id);
    const show = () => setWaiting(listedRuns.current.flatMap((id) => known.current.get(id) ?? []));
    // "Nothing is waiting" only when nothing is; otherwise the first answers fill the page.
    if (runs.length === 0 || runs.some((id) => known.current.has(id))) show();
    // Newest first: a run that has waited long is the likelier one to have lost its worker.
    read([...runs].reverse(), (runId, progress) => {
      if (!listedRuns.current.includes(runId)) return;
      const ensemble = listed.find((l) => l.runId === runId)?.ensemble;
      known.current.set(
        runId,
        (progress.pendingApprovals ?? []).map((gate) => ({ runId, ensemble, gate })),
      );
      show();
    });
  }, [listed]);

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
