// The live event stream: every bus message as it happens, newest first, with the Server's sensitive fields removed.
import { time } from './format.js';
import { useLiveEvents, type LiveState } from './live.js';
import type { LiveEvent } from './types.js';
import { Section } from './widgets.js';

const stateWords: Record<LiveState, string> = { connecting: 'connecting…', open: 'live', closed: 'disconnected' };

/** A summary value as short text: strings and numbers as they are, anything else as compact JSON. */
function show(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 79)}…` : text;
}

export function LiveView(props: { limit?: number; title?: string }) {
  const { events, state } = useLiveEvents();
  const shown = props.limit ? events.slice(0, props.limit) : events;
  return (
    <Section
      title={props.title ?? 'Live events'}
      class="live"
      actions={
        <span class={`badge live-${state}`} data-testid="live-state">
          {stateWords[state]}
        </span>
      }
    >
      {shown.length === 0 && <p class="muted">Waiting for events…</p>}
      <ol class="events" aria-live="polite" data-testid="live-events">
        {shown.map((event) => (
          <EventLine key={event.id} event={event} />
        ))}
      </ol>
    </Section>
  );
}

function EventLine(props: { event: LiveEvent }) {
  const { event } = props;
  const fields = Object.entries(event.summary ?? {}).filter(([, value]) => value !== null && value !== undefined);
  return (
    <li data-type={event.type}>
      <span class="muted small">{time(event.at)}</span> <strong>{event.type}</strong>{' '}
      <span class="muted small">from {event.issuer}</span>
      {fields.length > 0 && (
        <span class="summary small">
          {fields.map(([key, value]) => (
            <span key={key}>
              {' '}
              {key}=<code>{show(value)}</code>
            </span>
          ))}
        </span>
      )}
    </li>
  );
}
