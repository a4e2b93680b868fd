import { GeneratorError } from '../generator';

export interface HttpOptions {
  /** Names the generator in messages, e.g. `a1111 http://127.0.0.1:7860`. */
  label: string;
  /** Milliseconds before a request is abandoned (default 600 000: a big batch on a slow GPU). */
  timeoutMs?: number;
  /** Tries for transient failures: unreachable, timeout, HTTP 5xx or 429 (default 3). */
  retries?: number;
  /** First pause between tries, doubled each time (default 1000 ms). */
  retryDelayMs?: number;
  signal?: AbortSignal;
}

/** A failed try: `retryable` when trying again might succeed. */
class TryError extends Error {
  constructor(message: string, readonly retryable: boolean) {
    super(message);
  }
}

/** Why fetch failed, in words (undici hides the socket error in `cause`). */
function networkReason(e: unknown): string {
  const cause = (e as { cause?: { code?: string; message?: string } })?.cause;
  return cause?.code ?? cause?.message ?? (e as Error)?.message ?? String(e);
}

async function once(url: string, init: RequestInit, o: HttpOptions): Promise<Response> {
  const timeoutMs = o.timeoutMs ?? 600_000;
  const signals = [AbortSignal.timeout(timeoutMs), ...(o.signal ? [o.signal] : [])];
  let res: Response;
  try {
    res = await fetch(url, { ...init, signal: AbortSignal.any(signals) });
  } catch (e) {
    if (o.signal?.aborted) throw new TryError(`${o.label}: request cancelled`, false);
    if ((e as Error)?.name === 'TimeoutError') throw new TryError(`${o.label}: no answer from ${url} within ${timeoutMs / 1000} s`, true);
    throw new TryError(`${o.label}: unreachable (${networkReason(e)})`, true);
  }
  if (!res.ok) {
    const body = await res.text().catch(() => '');
    throw new TryError(`${o.label}: ${url} answered HTTP ${res.status}${serverDetail(body)}`, res.status >= 500 || res.status === 429);
  }
  return res;
}

/** The message a server put in its error body (A1111: `detail`/`error`; ComfyUI: `error.message`). */
export function serverDetail(body: string): string {
  let text = body.trim();
  try {
    const j = JSON.parse(body);
    const pick = j?.error?.message ?? j?.detail ?? j?.error ?? j?.message;
    if (pick !== undefined) text = typeof pick === 'string' ? pick : JSON.stringify(pick);
  } catch {
    /* not JSON: the text itself */
  }
  text = text.replace(/\s+/g, ' ').slice(0, 200);
  return text ? ` (${text})` : '';
}

async function withRetries<T>(o: HttpOptions, attempt: () => Promise<T>): Promise<T> {
  const tries = Math.max(1, o.retries ?? 3);
  let delay = o.retryDelayMs ?? 1000;
  for (let i = 1; ; i++) {
    try {
      return await attempt();
    } catch (e) {
      if (!(e instanceof TryError)) throw e;
      if (!e.retryable || i >= tries) throw new GeneratorError(i > 1 ? `${e.message} (after ${i} tries)` : e.message, e.retryable);
      await new Promise((r) => setTimeout(r, delay));
      delay *= 2;
    }
  }
}

/** POST (or GET) JSON and parse the JSON answer; one-line GeneratorErrors for every way it can fail. */
export function requestJson(url: string, body: unknown | undefined, o: HttpOptions): Promise<unknown> {
  return withRetries(o, async () => {
    const init: RequestInit = body === undefined ? { method: 'GET' } : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
    const res = await once(url, init, o);
    const text = await res.text();
    try {
      return JSON.parse(text);
    } catch {
      throw new TryError(`${o.label}: ${url} answered with something that is not JSON (${JSON.stringify(text.slice(0, 60))})`, false);
    }
  });
}

/** GET bytes (an image). */
export function requestBytes(url: string, o: HttpOptions): Promise<Uint8Array> {
  return withRetries(o, async () => new Uint8Array(await (await once(url, { method: 'GET' }, o)).arrayBuffer()));
}

/** Base URL without a trailing slash; a clear error for anything that is not http(s). */
export function baseUrl(kind: string, raw: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new GeneratorError(`--generator ${kind}:${raw}: not a URL (expected e.g. ${kind}:http://127.0.0.1:${kind === 'a1111' ? 7860 : 8188})`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new GeneratorError(`--generator ${kind}:${raw}: expected an http:// or https:// URL`);
  return u.toString().replace(/\/+$/, '');
}
