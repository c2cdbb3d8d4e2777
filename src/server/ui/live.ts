// The live event stream (GET /api/v1/live, server-sent events): one connection for the whole page, shared by the
// views that show it or refresh on it.
import { createContext } from 'preact';
import { useContext, useEffect, useRef, useState } from 'preact/hooks';
import { api } from './api.js';
import type { LiveEvent } from './types.js';

const KEPT = 200;
const RECONNECT_MS = 5_000;

export type LiveState = 'connecting' | 'open' | 'closed';

export class LiveStream {
  events: LiveEvent[] = [];
  state: LiveState = 'closed';
  private source: EventSource | null = null;
  private retry: ReturnType<typeof setTimeout> | null = null;
  private readonly listeners = new Set<(event: LiveEvent | null) => void>();

  start(): void {
    if (this.source) return;
    this.setState('connecting');
    const source = new EventSource('/api/v1/live');
    this.source = source;
    source.onopen = () => this.setState('open');
    source.onmessage = (message: MessageEvent<string>) => this.receive(message.data);
    source.onerror = () => {
      // EventSource retries by itself after a dropped connection, but gives up for good on an error status
      // (a 401 once the session expired): then ask the session, which logs out on 401, and try again later.
      if (source.readyState !== EventSource.CLOSED) return this.setState('connecting');
      this.source = null;
      this.setState('closed');
      api('/session').then(
        () => (this.retry = setTimeout(() => this.start(), RECONNECT_MS)),
        () => undefined,
      );
    };
  }

  stop(): void {
    if (this.retry) clearTimeout(this.retry);
    this.retry = null;
    this.source?.close();
    this.source = null;
    this.setState('closed');
  }

  /** `listener(event)` for each event, `listener(null)` when the connection state changes. */
  subscribe(listener: (event: LiveEvent | null) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private receive(data: string): void {
    let event: LiveEvent;
    try {
      event = JSON.parse(data) as LiveEvent;
    } catch {
      return;
    }
    // A new connection replays the Server's recent events; those already shown are not shown twice.
    if (typeof event.type !== 'string' || this.events.some((shown) => shown.id === event.id)) return;
    this.events = [event, ...this.events].slice(0, KEPT);
    for (const listener of this.listeners) listener(event);
  }

  private setState(state: LiveState): void {
    this.state = state;
    for (const listener of this.listeners) listener(null);
  }
}

export const LiveContext = createContext<LiveStream | null>(null);

/** The latest events, newest first, and the connection state; re-renders on each. */
export function useLiveEvents(): { events: LiveEvent[]; state: LiveState } {
  const stream = useContext(LiveContext);
  const [, setTick] = useState(0);
  useEffect(() => stream?.subscribe(() => setTick((tick) => tick + 1)), [stream]);
  return { events: stream?.events ?? [], state: stream?.state ?? 'closed' };
}

/**
 * Calls `refresh` shortly after events of the given types arrive; a burst of them is one refresh. Also refreshes
 * when the stream reconnects, since events may have been missed while it was away.
 */
export function useRefreshOn(types: readonly string[], refresh: () => void, delayMs = 300): void {
  const stream = useContext(LiveContext);
  const latest = useRef(refresh);
  latest.current = refresh;
  const typesKey = types.join(',');
  useEffect(() => {
    if (!stream) return;
    let timer: ReturnType<typeof setTimeout> | null = null;
    let wasOpen = stream.state === 'open';
    const later = () => {
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => latest.current(), delayMs);
    };
    const unsubscribe = stream.subscribe((event) => {
      if (event === null) {
        if (stream.state === 'open' && !wasOpen) later();
        wasOpen = stream.state === 'open';
      } else if (typesKey.split(',').includes(event.type)) later();
    });
    return () => {
      unsubscribe();
      if (timer) clearTimeout(timer);
    };
  }, [stream, typesKey, delayMs]);
}
