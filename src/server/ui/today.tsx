// Today's taps and vends: every door and vend decision since local midnight, refreshed when the live stream
// reports a new decision or a device's report of what it did.
import { useState } from 'preact/hooks';
import { query } from './api.js';
import { startOfToday, time } from './format.js';
import { usePages } from './hooks.js';
import { useRefreshOn } from './live.js';
import { Link } from './router.js';
import type { Decision } from './types.js';
import { ErrorBox, Loading, MoreButton, Money, Section } from './widgets.js';

const PAGE = 100;
const REFRESHING_TYPES = ['business-mgr.decision', 'machine.actuation', 'machine.refused'] as const;

export function Today() {
  // The day is fixed when the view opens or refreshes, so the list does not empty itself at midnight mid-read.
  const [since, setSince] = useState(startOfToday());
  const decisions = usePages<{ decisions: Decision[]; next: string | null }, Decision>(
    (cursor) => `/decisions${query({ since, before: cursor, limit: PAGE })}`,
    (reply) => ({ items: reply.decisions, next: reply.next }),
    `decisions:${since}`,
  );
  useRefreshOn(REFRESHING_TYPES, () => {
    const today = startOfToday();
    if (today !== since) setSince(today);
    else decisions.reload();
  });

  const taps = decisions.items.filter((decision) => decision.kind === 'door');
  const vends = decisions.items.filter((decision) => decision.kind === 'vend');
  const summary = `${taps.length} door${taps.length === 1 ? '' : 's'}, ${vends.length} vend${vends.length === 1 ? '' : 's'}${decisions.more ? ' so far shown' : ''}`;

  return (
    <Section title="Today’s taps and vends" actions={<span class="muted small">{summary}</span>} class="today">
      {decisions.error && <ErrorBox error={decisions.error} />}
      {decisions.loading && decisions.items.length === 0 && <Loading />}
      {!decisions.loading && decisions.items.length === 0 && !decisions.error && <p class="muted">No taps or vends yet today.</p>}
      {decisions.items.length > 0 && (
        <div class="scroll">
          <table class="decisions" data-testid="decisions">
            <thead>
              <tr>
                <th>Time</th>
                <th>Where</th>
                <th>Who</th>
                <th>Result</th>
                <th class="number wide">Amount</th>
              </tr>
            </thead>
            <tbody>
              {decisions.items.map((decision) => (
                <DecisionRow key={decision.decisionId} decision={decision} />
              ))}
            </tbody>
          </table>
        </div>
      )}
      <MoreButton more={decisions.more} loading={decisions.loading} onClick={decisions.loadMore} />
    </Section>
  );
}

function DecisionRow(props: { decision: Decision }) {
  const { decision } = props;
  const who = decision.memberId ? (
    <Link href={`/members/${encodeURIComponent(decision.memberId)}`}>{decision.memberName ?? decision.memberId}</Link>
  ) : decision.via === 'bitcoin' ? (
    'paid in bitcoin'
  ) : (
    'unknown'
  );
  return (
    <tr class={decision.allowed ? 'allowed' : 'denied'}>
      <td class="nowrap">{time(decision.at)}</td>
      <td>
        {decision.device}
        {decision.product && <span class="muted small"> {decision.product}</span>}
      </td>
      <td>
        {who}
        {decision.fobLastDigits && <span class="muted small"> fob …{decision.fobLastDigits}</span>}
      </td>
      <td>
        <span class={`badge ${decision.allowed ? 'ok' : 'bad'}`}>{decision.allowed ? '✓ allowed' : '✗ denied'}</span>{' '}
        <span class="small">{decision.reason}</span>
        {decision.via === 'offline' && <span class="muted small"> offline</span>}
        {decision.outcome === 'failed' && <span class="badge bad"> device failed</span>}
      </td>
      <td class="number wide">{decision.cents !== null ? <Money cents={decision.cents} /> : ''}</td>
    </tr>
  );
}
