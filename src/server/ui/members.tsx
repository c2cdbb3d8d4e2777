// The member list for operators: status and balance of everyone, a page at a time; a name opens the statement.
import { useState } from 'preact/hooks';
import { query } from './api.js';
import { date } from './format.js';
import { usePages } from './hooks.js';
import { Link } from './router.js';
import type { MemberLine, MemberList } from './types.js';
import { ErrorBox, Loading, MoreButton, Money, Section, StatusBadge } from './widgets.js';

const PAGE = 100;

export function Members() {
  const [includeLeft, setIncludeLeft] = useState(false);
  const [filter, setFilter] = useState('');
  const list = usePages<MemberList, MemberLine>(
    (cursor) => `/members${query({ includeLeft: includeLeft || undefined, after: cursor, limit: PAGE })}`,
    (reply) => ({ items: reply.members, next: reply.next }),
    `members:${includeLeft}`,
  );
  const needle = filter.trim().toLowerCase();
  const shown = needle
    ? list.items.filter((line) => `${line.name} ${line.email} ${line.memberId}`.toLowerCase().includes(needle))
    : list.items;
  const counts = list.reply?.counts;

  return (
    <Section title="Members">
      {counts && (
        <p class="counts" data-testid="member-counts">
          <span class="badge status-active">{counts.active} active</span>{' '}
          <span class="badge status-inactive">{counts.inactive} inactive</span>{' '}
          <span class="badge status-left">{counts.left} left</span>
        </p>
      )}
      <div class="toolbar">
        <input
          type="search"
          placeholder="Filter the members shown by name or email"
          aria-label="Filter members"
          value={filter}
          onInput={(event) => setFilter(event.currentTarget.value)}
        />
        <label class="check">
          <input type="checkbox" checked={includeLeft} onChange={(event) => setIncludeLeft(event.currentTarget.checked)} /> Show
          members who left
        </label>
      </div>
      {list.error && <ErrorBox error={list.error} />}
      {list.loading && list.items.length === 0 && <Loading />}
      <div class="scroll">
        <table class="members">
          <thead>
            <tr>
              <th>Name</th>
              <th>Status</th>
              <th class="number">Balance</th>
              <th class="wide">Tier</th>
              <th class="wide">Grace until</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((line) => (
              <tr key={line.memberId}>
                <td>
                  <Link href={`/members/${encodeURIComponent(line.memberId)}`}>{line.name}</Link>
                  {line.exempt && <span class="badge"> exempt</span>}
                </td>
                <td>
                  <StatusBadge status={line.status} />
                  {line.reason === 'dues-overdue' && <span class="muted small"> dues overdue</span>}
                </td>
                <td class="number">
                  <Money cents={line.balanceCents} />
                </td>
                <td class="wide">{line.tier}</td>
                <td class="wide">{line.graceEndsAt ? date(line.graceEndsAt) : ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {!list.loading && shown.length === 0 && !list.error && <p class="muted">No members{needle ? ' match' : ''}.</p>}
      <MoreButton more={list.more} loading={list.loading} onClick={list.loadMore} />
    </Section>
  );
}
