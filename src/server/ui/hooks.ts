// Data hooks: one API resource, or a list read a page at a time; both keep what they show while reloading.
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { api, ApiError } from './api.js';

export interface Resource<T> {
  data?: T | undefined;
  error?: ApiError | undefined;
  loading: boolean;
  reload: () => void;
}

function asApiError(error: unknown): ApiError {
  return error instanceof ApiError ? error : new ApiError(0, 'UI_ERROR', error instanceof Error ? error.message : String(error));
}

/** GET `path` (under /api/v1) whenever it changes or `reload()` is called; a null path reads nothing. */
export function useResource<T>(path: string | null): Resource<T> {
  return useLoad(path, () => api<T>(path!));
}

/** Runs `load` whenever `key` changes or `reload()` is called, for a reading made of several requests; a null key reads nothing. */
export function useLoad<T>(key: string | null, load: () => Promise<T>): Resource<T> {
  const [state, setState] = useState<{ data?: T; error?: ApiError; loading: boolean }>({ loading: key !== null });
  const [round, setRound] = useState(0);
  const latest = useRef(load);
  latest.current = load;
  useEffect(() => {
    if (key === null) return;
    // A reply that arrives after the key changed or the view went away is not shown.
    let current = true;
    setState((previous) => ({ ...previous, loading: true }));
    latest.current().then(
      (data) => current && setState({ data, loading: false }),
      (error: unknown) => current && setState({ error: asApiError(error), loading: false }),
    );
    return () => {
      current = false;
    };
  }, [key, round]);
  const reload = useCallback(() => setRound((value) => value + 1), []);
  return { ...state, reload };
}

export interface Pages<T> {
  items: T[];
  error: ApiError | undefined;
  loading: boolean;
  /** True while the last page read said there are more. */
  more: boolean;
  loadMore: () => void;
  /** Reads the first page again, replacing everything shown. */
  reload: () => void;
}

/**
 * A list read a page at a time: `pathFor(cursor)` builds the path of a page (cursor null for the first), `pick` takes
 * the page's items and its `next` cursor out of the reply.
 */
export function usePages<Reply, Item>(
  pathFor: (cursor: string | null) => string,
  pick: (reply: Reply) => { items: Item[]; next: string | null },
  key: string,
): Pages<Item> & { reply: Reply | undefined } {
  const [state, setState] = useState<{ items: Item[]; next: string | null; reply?: Reply; error?: ApiError; loading: boolean }>({
    items: [],
    next: null,
    loading: true,
  });
  const generation = useRef(0);
  const read = useCallback(
    (cursor: string | null) => {
      const mine = cursor === null ? ++generation.current : generation.current;
      setState((previous) => ({ ...previous, loading: true }));
      api<Reply>(pathFor(cursor)).then(
        (reply) => {
          if (mine !== generation.current) return;
          const page = pick(reply);
          setState((previous) => ({
            items: cursor === null ? page.items : [...previous.items, ...page.items],
            next: page.next,
            reply: cursor === null ? reply : previous.reply,
            loading: false,
          }));
        },
        (error: unknown) => {
          if (mine === generation.current) setState((previous) => ({ ...previous, error: asApiError(error), loading: false }));
        },
      );
    },
    // pathFor and pick are rebuilt on every render; `key` names everything they depend on.
    [key],
  );
  useEffect(() => {
    read(null);
    return () => {
      generation.current++;
    };
  }, [read]);
  return {
    items: state.items,
    reply: state.reply,
    error: state.error,
    loading: state.loading,
    more: state.next !== null,
    loadMore: () => state.next !== null && read(state.next),
    reload: () => read(null),
  };
}

/** Calls `callback` every `ms` while the view is shown. */
export function useInterval(callback: () => void, ms: number): void {
  const latest = useRef(callback);
  latest.current = callback;
  useEffect(() => {
    const timer = setInterval(() => latest.current(), ms);
    return () => clearInterval(timer);
  }, [ms]);
}

/** The current time, updated every `ms`, for "5 min ago" texts that age while the page stays open. */
export function useNow(ms = 30_000): number {
  const [now, setNow] = useState(Date.now());
  useInterval(() => setNow(Date.now()), ms);
  return now;
}
