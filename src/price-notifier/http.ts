// One GET to a price source with a time limit and a size limit; every way it can fail becomes a coded error.
import { PriceNotifierError } from './errors.js';
import { exchangeErrorText } from './read.js';

/** A ticker answer is a few kilobytes; a source sending more is broken or hostile, and is not read to the end. */
export const MAX_RESPONSE_BYTES = 256 * 1024;

export interface FetchOptions {
  timeoutMs: number;
  /** Aborts the request when the service stops. */
  signal: AbortSignal;
}

/**
 * The JSON body of a 2xx answer.
 * @throws PriceNotifierError PRICE_NOTIFIER_SOURCE_TIMEOUT, _UNREACHABLE, _HTTP (with what the source said), or
 * _MALFORMED (not JSON, or larger than MAX_RESPONSE_BYTES).
 */
export async function fetchJson(url: string, { timeoutMs, signal }: FetchOptions): Promise<unknown> {
  const timeout = AbortSignal.timeout(timeoutMs);
  const failure = (cause: unknown): Error => {
    if (timeout.aborted) {
      return new PriceNotifierError('PRICE_NOTIFIER_SOURCE_TIMEOUT', `no complete answer within ${timeoutMs} ms`, { cause });
    }
    if (signal.aborted) return new PriceNotifierError('PRICE_NOTIFIER_SOURCE_UNREACHABLE', 'stopped while asking', { cause });
    return new PriceNotifierError('PRICE_NOTIFIER_SOURCE_UNREACHABLE', `cannot reach ${originOf(url)}: ${networkReason(cause)}`, {
      cause,
    });
  };
  let text: string;
  let response: Response;
  try {
    response = await fetch(url, {
      signal: AbortSignal.any([timeout, signal]),
      headers: { accept: 'application/json', 'user-agent': 'dctrl-os price-notifier' },
    });
    text = await readLimited(response);
  } catch (error) {
    if (error instanceof PriceNotifierError) throw error;
    throw failure(error);
  }
  let body: unknown;
  let parseError: Error | undefined;
  try {
    body = JSON.parse(text);
  } catch (error) {
    parseError = error as Error;
  }
  if (!response.ok) {
    const said = parseError ? undefined : exchangeErrorText(body);
    throw new PriceNotifierError(
      'PRICE_NOTIFIER_SOURCE_HTTP',
      `HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}${said ? `: ${said}` : ''}`,
    );
  }
  if (parseError) {
    throw new PriceNotifierError(
      'PRICE_NOTIFIER_SOURCE_MALFORMED',
      `the answer is not JSON (${parseError.message.slice(0, 80)})`,
      {
        cause: parseError,
      },
    );
  }
  return body;
}

async function readLimited(response: Response): Promise<string> {
  const declared = Number(response.headers.get('content-length') ?? '0');
  if (declared > MAX_RESPONSE_BYTES) {
    await response.body?.cancel();
    throw tooLarge(`${declared} bytes`);
  }
  if (!response.body) return '';
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_RESPONSE_BYTES) {
      await reader.cancel();
      throw tooLarge(`more than ${MAX_RESPONSE_BYTES} bytes`);
    }
    chunks.push(value);
  }
  return new TextDecoder('utf-8', { fatal: false }).decode(Buffer.concat(chunks));
}

function tooLarge(size: string): PriceNotifierError {
  return new PriceNotifierError(
    'PRICE_NOTIFIER_SOURCE_MALFORMED',
    `the answer is ${size}, more than a ticker (${MAX_RESPONSE_BYTES} bytes at most)`,
  );
}

function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return 'the source';
  }
}

/** Node's fetch says only "fetch failed"; the reason (ECONNREFUSED, ENOTFOUND, a TLS error) is in its cause. */
function networkReason(error: unknown): string {
  const cause = (error as { cause?: { code?: unknown; message?: unknown } }).cause;
  if (typeof cause?.code === 'string') return cause.code;
  if (typeof cause?.message === 'string') return cause.message.slice(0, 120);
  return error instanceof Error ? error.message.slice(0, 120) : 'unknown error';
}
