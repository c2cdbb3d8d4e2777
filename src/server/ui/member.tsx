// One member's page: "am I a member?" answered first, then balance, the month's statement and the deposit address.
// Members see their own; operators open anyone's from the member list. The Server refuses anyone else (403).
import { useState } from 'preact/hooks';
import { query } from './api.js';
import { currentMonth, date, entryText, monthLabel, sats, shiftMonth } from './format.js';
import { usePages, useResource } from './hooks.js';
import type { Deposit, MemberDetail, MemberLine, Statement, StatementEntry } from './types.js';
import { ErrorBox, Loading, MoreButton, Money, QrCode, Section, StatusBadge } from './widgets.js';

export function MemberPage(props: { memberId: string; self: boolean }) {
  const path = `/members/${encodeURIComponent(props.memberId)}`;
  const detail = useResource<MemberDetail>(path);
  if (detail.error) return <ErrorBox error={detail.error} />;
  if (!detail.data) return <Loading />;
  return (
    <div class="member-page">
      <StatusHero detail={detail.data} self={props.self} />
      <StatementView path={path} />
      <DepositView path={path} self={props.self} />
    </div>
  );
}

function StatusHero(props: { detail: MemberDetail; self: boolean }) {
  const { member, line } = props.detail;
  const answer = { active: 'Yes', inactive: 'Not right now', left: 'No' }[line.status];
  const question = props.self ? 'Am I a member?' : `Is ${member.name} a member?`;
  return (
    <section class={`card hero status-${line.status}`} data-testid="member-status">
      <p class="question">{question}</p>
      <p class="answer">{answer}</p>
      <p>
        <strong>{member.name}</strong> <StatusBadge status={line.status} /> <span class="muted">{member.tier}</span>
      </p>
      <StatusExplained line={line} />
      <p class="balance">
        Balance <Money cents={line.balanceCents} />
      </p>
      <dl class="facts">
        <dt>Joined</dt>
        <dd>{date(member.joinedAt)}</dd>
        <dt>Fobs</dt>
        <dd>{member.fobs.length ? member.fobs.map((fob) => `…${fob.lastDigits}`).join(', ') : 'none'}</dd>
        {member.groups.length > 0 && (
          <>
            <dt>Groups</dt>
            <dd>{member.groups.join(', ')}</dd>
          </>
        )}
        {member.badges.length > 0 && (
          <>
            <dt>Badges</dt>
            <dd>{member.badges.join(', ')}</dd>
          </>
        )}
      </dl>
    </section>
  );
}

function StatusExplained(props: { line: MemberLine }) {
  const { reason, graceEndsAt } = props.line;
  if (reason === 'left') return <p class="muted">Left the space.</p>;
  if (reason === 'exempt') return <p class="muted">Exempt from dues.</p>;
  if (reason === 'dues-overdue') {
    return <p>Dues overdue{graceEndsAt ? ` since ${date(graceEndsAt)}` : ''}: paying them makes the membership active again.</p>;
  }
  if (graceEndsAt) return <p>Dues unpaid: pay by {date(graceEndsAt)} to stay active.</p>;
  return null;
}

function StatementView(props: { path: string }) {
  const thisMonth = currentMonth();
  const [month, setMonth] = useState(thisMonth);
  const statement = usePages<Statement, StatementEntry>(
    (cursor) => `${props.path}/statement${query({ month, after: cursor })}`,
    (reply) => ({ items: reply.entries, next: reply.next }),
    `${props.path}:${month}`,
  );
  const reply = statement.reply;
  const actions = (
    <nav class="month-picker" aria-label="Statement month">
      <button type="button" aria-label="Previous month" onClick={() => setMonth(shiftMonth(month, -1))}>
        ‹
      </button>
      <span>{monthLabel(month)}</span>
      <button type="button" aria-label="Next month" disabled={month >= thisMonth} onClick={() => setMonth(shiftMonth(month, 1))}>
        ›
      </button>
    </nav>
  );
  return (
    <Section title="Statement" actions={actions} class="statement">
      {statement.error && <ErrorBox error={statement.error} />}
      {!reply && !statement.error && <Loading />}
      {reply && (
        <>
          <p>
            Opening balance <Money cents={reply.openingCents} />
          </p>
          {statement.items.length === 0 ? (
            <p class="muted">Nothing booked in {monthLabel(month)}.</p>
          ) : (
            <div class="scroll">
              <table>
                <thead>
                  <tr>
                    <th>When</th>
                    <th>What</th>
                    <th class="number">Amount</th>
                    <th class="number wide">Balance</th>
                  </tr>
                </thead>
                <tbody>
                  {statement.items.map((entry) => (
                    <tr key={entry.id}>
                      <td class="nowrap">{date(entry.at)}</td>
                      <td>
                        {entryText(entry)}
                        {entry.sats !== null && <span class="muted small"> {sats(entry.sats)}</span>}
                      </td>
                      <td class="number">
                        <Money cents={entry.cents} currency={entry.currency} signed />
                      </td>
                      <td class="number wide">
                        <Money cents={entry.balanceCents} />
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
          <MoreButton more={statement.more} loading={statement.loading} onClick={statement.loadMore} />
          <p>
            Closing balance <Money cents={reply.closingCents} />
          </p>
        </>
      )}
    </Section>
  );
}

function DepositView(props: { path: string; self: boolean }) {
  const deposit = useResource<Deposit>(`${props.path}/deposit`);
  const [copied, setCopied] = useState(false);
  const copy = (text: string) =>
    navigator.clipboard?.writeText(text).then(
      () => setCopied(true),
      () => setCopied(false),
    );
  return (
    <Section title="Pay in bitcoin" class="deposit">
      {deposit.error && <ErrorBox error={deposit.error} />}
      {!deposit.data && !deposit.error && <Loading />}
      {deposit.data && (
        <>
          <p class="muted">
            {props.self ? 'Send to your address' : 'This member’s address'}; the payment is credited to the balance once it is
            confirmed.
          </p>
          <a href={deposit.data.uri} class="qr-link">
            <QrCode svg={deposit.data.qrSvg} label={`QR code of ${deposit.data.address}`} />
          </a>
          <p class="address">
            <code data-testid="deposit-address">{deposit.data.address}</code>{' '}
            <button type="button" onClick={() => void copy(deposit.data!.address)}>
              {copied ? 'Copied' : 'Copy'}
            </button>
          </p>
          <p>
            <a href={deposit.data.uri}>Open in a wallet</a>
          </p>
        </>
      )}
    </Section>
  );
}
