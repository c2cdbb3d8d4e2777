// Calls to the Server's REST API: JSON in and out, the session in its HttpOnly cookie, failures as ApiError.

/** A reply that was not 2xx, with the Server's `{ code, message }`; `retryAfterSeconds` is set on a 429. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly retryAfterSeconds: number | null = null,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

let sessionEnded: () => void = () => {};

/** Called when any call but the login itself answers 401: the session expired or was ended elsewhere. */
export function onSessionEnded(handler: () => void): void {
  sessionEnded = handler;
}

/** Builds `?a=1&b=x` from the defined values only. */
export function query(parameters: Record<string, string | number | boolean | null | undefined>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(parameters)) {
    if (value !== undefined && value !== null && value !== '') search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

/**
 * Calls `/api/v1<path>`. A body is sent as JSON; only then is a content type set, since Fastify refuses an empty
 * JSON body (a DELETE has none).
 * @throws ApiError for a reply that is not 2xx, or for a network failure (status 0).
 */
export async function api<T>(path: string, options: { method?: string; body?: unknown } = {}): Promise<T> {
  let response: Response;
  try {
    response = await fetch(`/api/v1${path}`, {
      method: options.method ?? 'GET',
      credentials: 'same-origin',
      headers:
        options.body === undefined
          ? { accept: 'application/json' }
          : { accept: 'application/json', 'content-type': 'application/json' },
      body: options.body === undefined ? null : JSON.stringify(options.body),
    });
  } catch {
    throw new ApiError(0, 'NETWORK', 'The server could not be reached; check the connection and try again.');
  }
  const text = await response.text();
  const json = parseJson(text);
  if (response.ok) return json as T;

  const wire = isWireError(json) ? json : { code: `HTTP_${response.status}`, message: response.statusText || 'request failed' };
  const retryAfter = Number(response.headers.get('retry-after'));
  const error = new ApiError(
    response.status,
    wire.code,
    wire.message,
    Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : null,
  );
  if (response.status === 401 && path !== '/session') sessionEnded();
  throw error;
}

function parseJson(text: string): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function isWireError(value: unknown): value is { code: string; message: string } {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { code?: unknown }).code === 'string' &&
    typeof (value as { message?: unknown }).message === 'string'
  );
}
