// HTTP plumbing shared by the v1 and v2 cache clients: bounded retries, errors that say what
// failed, and ranged downloads that resume where a broken connection left off.
import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import type { RangeSource } from '../entry/reader.js';
import { shown } from '../../common/untrusted-text.js';

export const MAX_ATTEMPTS = 5;
/**
 * Base of the exponential backoff (1 s, 2 s, 4 s, 8 s). RUNBOX_TEST_RETRY_MS is for tests only: it
 * shrinks the waits so fault tests still retry, in milliseconds. Read once, at the first retry
 * (in-process tests set it after the modules are loaded).
 */
let retryBaseMs: number | undefined;
function retryBase(): number {
  if (retryBaseMs === undefined) {
    const v = (process.env.RUNBOX_TEST_RETRY_MS ?? '').trim();
    retryBaseMs = /^[0-9]{1,6}$/.test(v) ? Number(v) : 1000;
  }
  return retryBaseMs;
}
/** A download that delivers no byte for this long is aborted (and resumed, as a network error). */
const IDLE_TIMEOUT_MS = 120_000;
const RPC_TIMEOUT_MS = 60_000;

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/** The connection ended before the bytes asked for arrived: retried, resuming at the last byte. */
class ShortReadError extends Error {}

/** 5xx (but not 501) and network-level failures are worth another attempt; 429 and other 4xx are not. */
export function isRetryable(e: unknown): boolean {
  if (e instanceof ShortReadError) return true;
  const status = e instanceof HttpError ? e.status : (e as { statusCode?: unknown } | null)?.statusCode;
  if (typeof status === 'number' && status > 0) return status >= 500 && status !== 501;
  if (e instanceof TypeError && e.message === 'fetch failed') return true;
  const name = (e as { name?: unknown } | null)?.name;
  const code = (e as { code?: unknown } | null)?.code ?? (e as { cause?: { code?: unknown } } | null)?.cause?.code;
  if (name === 'AbortError' || name === 'TimeoutError') return true;
  if (typeof code === 'string' && /^(ECONNRESET|ECONNREFUSED|EPIPE|ETIMEDOUT|EAI_AGAIN|ENOTFOUND|ECONNABORTED|UND_ERR_.*|REQUEST_SEND_ERROR)$/.test(code)) return true;
  return e instanceof Error && /terminated|socket hang up|premature close/i.test(e.message);
}

/** An error's message with its cause (fetch hides ECONNRESET and friends there). */
export function describe(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const cause = (e as { cause?: unknown }).cause;
  const c = cause instanceof Error ? `${(cause as { code?: string }).code ?? ''} ${cause.message}`.trim() : '';
  return c && !e.message.includes(c) ? `${e.message} (${c})` : e.message;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const backoff = (attempt: number): number => retryBase() * 2 ** (attempt - 1);

/** Runs fn up to MAX_ATTEMPTS times while it fails with a retryable error. */
export async function withRetries<T>(what: string, fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (e) {
      if (!isRetryable(e)) throw e;
      if (attempt >= MAX_ATTEMPTS) throw new RetriesExhausted(`${what} failed after ${attempt} attempts: ${describe(e)}`, e);
      await sleep(backoff(attempt));
    }
  }
}

class RetriesExhausted extends Error {
  constructor(
    message: string,
    readonly last: unknown
  ) {
    super(message);
    this.name = 'RetriesExhausted';
  }
}

/** Reads a JSON body, refusing anything large (the services answer a few hundred bytes). */
export async function jsonBody(res: Response, what: string): Promise<unknown> {
  const text = await res.text();
  if (text.length > 1 << 20) throw new Error(`${what}: the response is ${text.length} characters, not a cache service answer`);
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new Error(`${what}: the response (HTTP ${res.status}) is not JSON: ${shown(text)}`);
  }
}

export async function fetchWithTimeout(url: string, init: RequestInit): Promise<Response> {
  return fetch(url, { ...init, signal: AbortSignal.timeout(RPC_TIMEOUT_MS) });
}

/**
 * Sends a body of known length (Content-Length, not chunked: the v1 service wants it) from a
 * stream made fresh for every attempt. Resolves to the status and the body text.
 */
export function sendStream(method: string, url: string, headers: Record<string, string>, body: () => Readable, length: number): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const mod = u.protocol === 'https:' ? https : http;
    const req = mod.request(u, { method, headers: { ...headers, 'Content-Length': String(length) }, timeout: IDLE_TIMEOUT_MS }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.length < 1024 && chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error(`${method} ${u.host}: no progress for ${IDLE_TIMEOUT_MS / 1000} s`), { code: 'ETIMEDOUT' })));
    const src = body();
    req.on('error', (e) => {
      src.destroy();
      reject(e);
    });
    src.on('error', (e) => req.destroy(e));
    src.pipe(req);
  });
}

function contentRange(h: string | null): { start: number; end: number; size: number } | undefined {
  const m = h ? /^bytes (\d+)-(\d+)\/(\d+)$/.exec(h.trim()) : null;
  return m ? { start: Number(m[1]), end: Number(m[2]), size: Number(m[3]) } : undefined;
}

/** One GET of bytes [start, end) of a blob of `size` bytes; yields them, checking the count. */
async function* getRange(url: string, start: number, end: number, size: number): AsyncGenerator<Buffer> {
  const ac = new AbortController();
  // unref: an idle timer must never be what keeps main or post alive.
  const idle = (): NodeJS.Timeout => setTimeout(() => ac.abort(), IDLE_TIMEOUT_MS).unref();
  let timer = idle();
  try {
    const res = await fetch(url, { headers: { Range: `bytes=${start}-${end - 1}` }, signal: ac.signal });
    const full = res.status === 200 && start === 0 && end === size;
    if (res.status !== 206 && !full) {
      await res.body?.cancel();
      throw new HttpError(res.status, `GET bytes ${start}-${end - 1} of the cache blob: HTTP ${res.status}`);
    }
    if (res.status === 206) {
      const cr = contentRange(res.headers.get('content-range'));
      if (!cr || cr.start !== start || cr.end !== end - 1 || cr.size !== size) {
        await res.body?.cancel();
        throw new Error(`GET bytes ${start}-${end - 1} of the cache blob: the answer covers ${shown(res.headers.get('content-range') ?? 'no Content-Range')}`);
      }
    }
    if (!res.body) throw new ShortReadError(`GET bytes ${start}-${end - 1}: no body`);
    let n = 0;
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      clearTimeout(timer);
      timer = idle();
      n += chunk.length;
      if (start + n > end) throw new Error(`GET bytes ${start}-${end - 1} of the cache blob: more bytes than asked for`);
      yield Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    }
    if (start + n !== end) throw new ShortReadError(`GET bytes ${start}-${end - 1} of the cache blob ended after ${n} bytes`);
  } finally {
    clearTimeout(timer);
  }
}

/** Bytes [offset, offset+length), resuming after the last byte received on a retryable failure. */
async function* resumableRange(url: string, offset: number, length: number, size: number): AsyncGenerator<Buffer> {
  const end = offset + length;
  let pos = offset;
  for (let attempt = 1; pos < end;) {
    const it = getRange(url, pos, end, size)[Symbol.asyncIterator]();
    try {
      for (;;) {
        let r: IteratorResult<Buffer>;
        try {
          r = await it.next();
        } catch (e) {
          if (!isRetryable(e)) throw e;
          if (attempt >= MAX_ATTEMPTS) throw new Error(`downloading the cache blob failed after ${attempt} attempts: ${describe(e)}`);
          await sleep(backoff(attempt++));
          break;
        }
        if (r.done) break;
        pos += r.value.length;
        yield r.value;
      }
    } finally {
      // A consumer that stops early (a hash mismatch) cancels the GET's body here.
      await it.return(undefined);
    }
  }
}

/**
 * The blob behind a signed download URL as a RangeSource. Its size comes from a HEAD, which the
 * signed URLs of both service versions allow (@actions/cache's concurrent download does the same).
 */
export async function openBlob(url: string, maxBytes: number): Promise<RangeSource> {
  const size = await withRetries('HEAD of the cache blob', async () => {
    const res = await fetchWithTimeout(url, { method: 'HEAD' });
    if (res.status !== 200) throw new HttpError(res.status, `HEAD of the cache blob: HTTP ${res.status}`);
    const len = res.headers.get('content-length');
    if (!len || !/^\d{1,16}$/.test(len)) throw new Error(`HEAD of the cache blob: no usable Content-Length (${shown(len ?? 'none')})`);
    return Number(len);
  });
  if (size > maxBytes) throw new Error(`the cache blob is ${size} bytes, more than the ${maxBytes} a runbox entry may be`);
  return { size, read: (offset, length) => (length === 0 ? (async function* () {})() : resumableRange(url, offset, length, size)) };
}
