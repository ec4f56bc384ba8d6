import { useState } from 'preact/hooks';
import { api, money, relative, runPath, when, type ApprovalDecision, type PendingApproval } from './api';

/** A recorded decision: outcome, who, when, and what was changed. */
export function DecisionLine(props: { d: ApprovalDecision }) {
  const d = props.d;
  return (
    <div class={`decision ${d.outcome}`} data-gate={d.gate}>
      <strong>{d.outcome}</strong> by <span class="who">{d.by}</span> · {when(d.decidedAt)}
      {d.timedOut && ' (deadline)'}
      {(d.editedDraft !== undefined || d.editedArguments !== undefined) && ' · edited'}
      {d.comment && <span class="muted"> · “{d.comment}”</span>}
    </div>
  );
}

/**
 * One waiting gate: what it shows (draft, tool call, budget), its deadline, and the decision
 * buttons. The decision carries the gate's digest, so it applies only to what was shown here.
 */
export function GateCard(props: {
  runId: string;
  gate: PendingApproval;
  ensemble?: string;
  showRun?: boolean;
  onDecided: (d: ApprovalDecision) => void;
}) {
  const g = props.gate;
  const original = g.tool ? JSON.stringify(g.tool.arguments, null, 2) : (g.draft ?? '');
  const [editing, setEditing] = useState(false);
  const [text, setText] = useState(original);
  const [comment, setComment] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();

  const decide = async (outcome: 'approved' | 'rejected', edited: boolean) => {
    setError(undefined);
    const body: Record<string, unknown> = { gate: g.gate, outcome, digest: g.digest };
    if (comment.trim()) body.comment = comment.trim();
    if (edited) {
      if (g.tool) {
        try {
          body.editedArguments = JSON.parse(text);
        } catch (e) {
          setError(`the arguments are not valid JSON: ${(e as Error).message}`);
          return;
        }
      } else body.editedDraft = text;
    }
    setBusy(true);
    try {
      props.onDecided(await api<ApprovalDecision>('POST', `${runPath(props.runId)}/decisions`, body));
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };

  const editable = g.kind === 'draft' || g.kind === 'tool';
  return (
    <article class="card gate" data-gate={g.gate} data-run={props.runId}>
      <header>
        <span class={`badge ${g.kind}`}>{g.kind}</span>
        <strong>{g.gate}</strong>
        {props.showRun && (
          <span class="muted">
            {' '}
            in <a href={`#/runs/${encodeURIComponent(props.runId)}`}>{props.runId}</a>
            {props.ensemble && ` (${props.ensemble})`}
          </span>
        )}
        <span class="deadline" title={when(g.deadline)}>
          deadline {relative(g.deadline)} · then {g.onTimeout}
          {g.escalated && ' · escalated'}
        </span>
      </header>
      <p class="summary">{g.summary}</p>
      {g.tool && (
        <p>
          Tool call <code>{g.tool.name}</code> with arguments:
        </p>
      )}
      {g.budget && (
        <p>
          Needs {money(g.budget.needed.costUsd)} ({g.budget.needed.tokens} tokens); spent so far{' '}
          {money(g.budget.spent.costUsd)}.
        </p>
      )}
      {editable &&
        (editing ? (
          <textarea
            class="draft"
            aria-label={g.tool ? 'arguments' : 'draft'}
            value={text}
            rows={Math.min(16, text.split('\n').length + 2)}
            onInput={(e) => setText(e.currentTarget.value)}
          />
        ) : (
          <pre class="draft">{original}</pre>
        ))}
      <input
        class="comment"
        placeholder="Comment (optional)"
        aria-label="comment"
        value={comment}
        onInput={(e) => setComment(e.currentTarget.value)}
      />
      <div class="actions">
        {editing ? (
          <>
            <button class="primary" disabled={busy} onClick={() => void decide('approved', true)}>
              Approve edited
            </button>
            <button
              disabled={busy}
              onClick={() => {
                setEditing(false);
                setText(original);
              }}
            >
              Cancel edit
            </button>
          </>
        ) : (
          <>
            <button class="primary" disabled={busy} onClick={() => void decide('approved', false)}>
              Approve
            </button>
            {editable && (
              <button disabled={busy} onClick={() => setEditing(true)}>
                Edit…
              </button>
            )}
          </>
        )}
        <button class="danger" disabled={busy} onClick={() => void decide('rejected', false)}>
          Reject
        </button>
      </div>
      {error && <p class="error">{error}</p>}
    </article>
  );
}
