// Small pieces shared by the views: error and loading lines, status badges, amounts, QR codes.
import type { ComponentChildren } from 'preact';
import type { ApiError } from './api.js';
import { money, svgImage } from './format.js';
import type { MemberStatus } from './types.js';

/** What went wrong, in words a member understands, with the Server's code for whoever reads the logs. */
export function ErrorBox(props: { error: ApiError }) {
  const { status, code, message } = props.error;
  const lead =
    status === 403
      ? 'Not allowed'
      : status === 404
        ? 'Not found'
        : status === 0
          ? 'No connection'
          : status >= 500
            ? 'The server had a problem'
            : 'Could not load this';
  return (
    <p class="error" role="alert">
      <strong>{lead}</strong>
      {status > 0 && <span class="code"> ({status})</span>}: {message} <span class="code">{code}</span>
    </p>
  );
}

export function Loading() {
  return <p class="muted">Loading…</p>;
}

export function Section(props: { title: string; actions?: ComponentChildren; class?: string; children: ComponentChildren }) {
  return (
    <section class={`card ${props.class ?? ''}`}>
      <header class="card-head">
        <h2>{props.title}</h2>
        {props.actions}
      </header>
      {props.children}
    </section>
  );
}

const statusWords: Record<MemberStatus, string> = { active: 'Active', inactive: 'Inactive', left: 'Left' };

export function StatusBadge(props: { status: MemberStatus }) {
  return <span class={`badge status-${props.status}`}>{statusWords[props.status] ?? props.status}</span>;
}

/** An amount, red when negative. */
export function Money(props: { cents: number; currency?: string | undefined; signed?: boolean }) {
  const text = money(props.cents, props.currency);
  return <span class={`money${props.cents < 0 ? ' negative' : ''}`}>{props.signed && props.cents > 0 ? `+${text}` : text}</span>;
}

export function QrCode(props: { svg: string; label: string }) {
  return <img class="qr" src={svgImage(props.svg)} alt={props.label} width={200} height={200} />;
}

export function MoreButton(props: { more: boolean; loading: boolean; onClick: () => void }) {
  if (!props.more) return null;
  return (
    <button type="button" class="more" disabled={props.loading} onClick={props.onClick}>
      {props.loading ? 'Loading…' : 'Show more'}
    </button>
  );
}
