// HTTP plumbing shared by the v1 and v2 cache clients: bounded retries, errors that say what
// failed, and ranged downloads that resume where a broken connection left off.
import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import type { RangeSource } from '../entry/reader.js';
import { shown } from '../../common/untrusted-text.js';
import { EndedEarly, rangeGet, type RangeHead } from './range-get.js';

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

/**
 * The slowest a ranged download may be: a server dripping a byte every 119 s never trips the idle
 * timeout, and would hold a lane and the host's restore lock for hours. A range that delivers
 * less than `bytesPerSec` on average over `windowMs` of waiting on the network (time the reader
 * spends on what it was handed, backpressure, is not counted) is aborted as a short read:
 * resumed, within the same bounded retries. RUNBOX_TEST_RATE_FLOOR=<windowMs>:<bytesPerSec> is
 * for tests only (a window of a second instead of a minute); read at every range, so an
 * in-process test can set it for one case.
 */
export function rateFloor(): { windowMs: number; bytesPerSec: number } {
  const m = /^([0-9]{1,7}):([0-9]{1,10})$/.exec((process.env.RUNBOX_TEST_RATE_FLOOR ?? '').trim());
  return m && Number(m[1]) > 0 ? { windowMs: Number(m[1]), bytesPerSec: Number(m[2]) } : { windowMs: 60_000, bytesPerSec: 64 * 1024 };
}
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
  const name = (e as { name?: unknown } | null)?.name;
  const code = (e as { code?: unknown } | null)?.code ?? (e as { cause?: { code?: unknown } } | null)?.cause?.code;
  if (name === 'AbortError' || name === 'TimeoutError') return true;
  if (typeof code === 'string' && /^(ECONNRESET|ECONNREFUSED|EPIPE|ETIMEDOUT|EAI_AGAIN|ENOTFOUND|ECONNABORTED|UND_ERR_.*|REQUEST_SEND_ERROR)$/.test(code)) return true;
  return e instanceof Error && /terminated|socket hang up|premature close/i.test(e.message);
}

/** An error's message with its cause, when it has one. */
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
export async function jsonBody(res: Answer, what: string): Promise<unknown> {
  const text = await res.text();
  if (text.length > 1 << 20) throw new Error(`${what}: the response is ${text.length} characters, not a cache service answer`);
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new Error(`${what}: the response (HTTP ${res.status}) is not JSON: ${shown(text)}`);
  }
}

/** Past this, an answer to an RPC or REST call is no cache service's: refused, not buffered. */
const MAX_ANSWER_BYTES = 8 * 2 ** 20;

/** A whole HTTP answer, read into memory (the services' answers are small): what the callers took from fetch's Response. */
export class Answer {
  readonly ok: boolean;
  readonly headers: { get(name: string): string | null; has(name: string): boolean };

  constructor(
    readonly status: number,
    raw: http.IncomingHttpHeaders,
    private readonly body: Buffer
  ) {
    this.ok = status >= 200 && status < 300;
    const get = (name: string): string | null => {
      const v = raw[name.toLowerCase()];
      return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v;
    };
    this.headers = { get, has: (name) => get(name) !== null };
  }

  text(): Promise<string> {
    return Promise.resolve(this.body.toString('utf8'));
  }
}

export interface RequestInit {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
}

/**
 * One request and its whole answer, within RPC_TIMEOUT_MS. node:http, not fetch: fetch's first
 * call (loading undici, compiling its HTTP parser) cost every step about 0.35 s of CPU, more
 * than the rest of a small restore (issue 13).
 */
export function fetchWithTimeout(url: string, init: RequestInit = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const method = init.method ?? 'GET';
    const mod = u.protocol === 'https:' ? https : http;
    const body = init.body === undefined ? undefined : Buffer.from(init.body, 'utf8');
    const fail = (e: Error): void => {
      clearTimeout(timer);
      reject(e);
    };
    const req = mod.request(u, { method, headers: { ...init.headers, ...(body ? { 'Content-Length': String(body.length) } : {}) } }, (res) => {
      const chunks: Buffer[] = [];
      let n = 0;
      res.on('data', (c: Buffer) => {
        n += c.length;
        if (n > MAX_ANSWER_BYTES) req.destroy(new Error(`${method} ${u.host}${u.pathname}: the answer is more than ${MAX_ANSWER_BYTES} bytes, not a cache service's`));
        else chunks.push(c);
      });
      res.on('end', () => {
        clearTimeout(timer);
        resolve(new Answer(res.statusCode ?? 0, res.headers, Buffer.concat(chunks)));
      });
      res.on('error', fail);
    });
    const timer = setTimeout(
      () => req.destroy(Object.assign(new Error(`${method} ${u.host}${u.pathname}: no whole answer within ${RPC_TIMEOUT_MS / 1000} s`), { code: 'ETIMEDOUT' })),
      RPC_TIMEOUT_MS
    ).unref();
    req.on('error', fail);
    req.end(body);
  });
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
      res.on('end', () => {
        const answer = { status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') };
        // Settled only once nothing reads the body any more: the caller fills the same buffers
        // again (entry/writer.ts). A server that answered early (a 4xx/5xx before the whole body)
        // gets the rest cut off.
        if (req.writableFinished) return resolve(answer);
        src.unpipe(req);
        src.destroy();
        req.once('close', () => resolve(answer));
        req.destroy();
      });
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

/**
 * One GET of bytes [start, end) of a blob of `size` bytes; yields them, checking the count. Read
 * off the socket by range-get.ts, not node:http (whose parser copies every 64 KiB into a fresh
 * buffer: the most CPU a restore spent in node, issue 13) nor fetch (its web stream cost as
 * much). The rate floor counts from the request: headers dripped as slowly as a body would
 * hold the lane as long.
 */
async function* getRange(url: string, start: number, end: number, size: number): AsyncGenerator<Buffer> {
  let n = 0;
  let abort: (e: Error) => void = () => undefined;
  const floor = new RateFloor(rateFloor(), (why) => {
    const e = new ShortReadError(`GET bytes ${start}-${end - 1} of the cache blob: ${why} (after ${n} bytes)`);
    abort(e);
    return e;
  });
  const checkHead = (h: RangeHead): void => {
    const full = h.status === 200 && start === 0 && end === size;
    if (h.status !== 206 && !full) throw new HttpError(h.status, `GET bytes ${start}-${end - 1} of the cache blob: HTTP ${h.status}`);
    if (h.status === 206) {
      const header = h.headers.get('content-range');
      const cr = contentRange(header ?? null);
      if (!cr || cr.start !== start || cr.end !== end - 1 || cr.size !== size)
        throw new Error(`GET bytes ${start}-${end - 1} of the cache blob: the answer covers ${shown(header ?? 'no Content-Range')}`);
    }
  };
  try {
    const opts = { headers: { Range: `bytes=${start}-${end - 1}` }, idleTimeoutMs: IDLE_TIMEOUT_MS, checkHead, length: end - start };
    for await (const b of rangeGet(new URL(url), opts, floor, (a) => (abort = a))) {
      n += b.length;
      yield b;
    }
  } catch (e) {
    if (e instanceof EndedEarly) throw new ShortReadError(`GET bytes ${start}-${end - 1} of the cache blob ended after ${n} bytes`);
    throw e;
  } finally {
    floor.stop();
  }
}

/**
 * rateFloor's check on one GET: waiting on the network is timed from the reader asking for
 * bytes to their arrival, in windows of `windowMs` of such waiting; a window that brought fewer
 * than its share of bytes aborts the GET. A timer ends a window while the wait goes on, so a
 * stalled drip is caught at the window's end, not when its next byte comes.
 */
class RateFloor {
  private waited = 0;
  private got = 0;
  private since: number | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly floor: { windowMs: number; bytesPerSec: number },
    /** Ends the GET (its body fails with the error returned). */
    private readonly tooSlow: (why: string) => Error
  ) {}

  /** The reader asked for bytes and none are buffered yet, maybe: the wait counts from now. */
  waiting(): void {
    this.since = Date.now();
    this.arm();
  }

  /** `bytes` arrived (0: the body ended): the wait stops counting. Throws when the window just ended short. */
  arrived(bytes: number): void {
    this.pause();
    this.got += bytes;
    const why = this.endWindow();
    if (why !== undefined) throw this.tooSlow(why);
  }

  stop(): void {
    this.pause();
  }

  private pause(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.since !== undefined) this.waited += Date.now() - this.since;
    this.since = undefined;
  }

  private arm(): void {
    this.timer = setTimeout(
      () => {
        this.pause();
        const why = this.endWindow();
        if (why !== undefined) this.tooSlow(why);
        else this.waiting();
      },
      Math.max(0, this.floor.windowMs - this.waited)
    );
  }

  /** At a window's end: why the GET is too slow, or undefined (and a new window begins). */
  private endWindow(): string | undefined {
    if (this.waited < this.floor.windowMs) return undefined;
    const want = (this.floor.bytesPerSec * this.waited) / 1000;
    const seconds = this.waited / 1000;
    const got = this.got;
    this.waited = 0;
    this.got = 0;
    if (got >= want) return undefined;
    return `${got} bytes in ${seconds.toFixed(1)} s of waiting, below the floor of ${this.floor.bytesPerSec} bytes/s`;
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
