// One ranged GET of a cache blob, read off the socket into one reused buffer. node:http hands
// every 64 KiB the socket gave to its parser, which copies it into a fresh Buffer, and then
// through a Readable: for the hundreds of MB of a restore that cost node's one main thread more
// CPU than anything else it does (about 0.8 s per 128 MiB on loopback, against 0.05 s read
// this way; issue 13), on the thread that also checks every member. The answer to a GET of a
// range is simple enough to read by hand: a status line, headers, and exactly Content-Length
// bytes. Anything else (no length, a chunked body, bytes past the length) is refused, not
// guessed at. Sockets whose answer was read to its end are kept for the next GET to the same
// origin, as node's keep-alive agent did (a TLS handshake per frame would cost far runners more).
import net from 'node:net';
import tls from 'node:tls';
import { shown } from '../../common/untrusted-text.js';
import { BufferPool } from '../reused-buffers.js';

/** What one read off the socket takes at most (a unix or TCP socket rarely has more ready). */
const READ_BYTES = 256 * 1024;
/** Body bytes are handed on in blocks of this size (the last one shorter). */
export const BLOCK_BYTES = 1024 * 1024;
/** Blocks read ahead of the consumer before the socket is paused. */
const AHEAD_BLOCKS = 2;
/** Every GET's blocks (read ahead, being filled, handed on): lanes at once, and then some. */
const blockPool = new BufferPool(BLOCK_BYTES, 8 * (AHEAD_BLOCKS + 2));
/** A status line and headers longer than this are no blob store's answer. */
const MAX_HEAD_BYTES = 64 * 1024;
/** Idle sockets kept per origin; more are closed. */
const MAX_IDLE_PER_ORIGIN = 8;

/** The connection ended (without an error) before the whole body came. */
export class EndedEarly extends Error {
  constructor(readonly got: number) {
    super(`the connection ended after ${got} bytes`);
    this.name = 'EndedEarly';
  }
}

/** How the answer's head looked, once it was read. */
export interface RangeHead {
  status: number;
  headers: Map<string, string>;
}

export interface RangeGetOptions {
  /** Request headers beyond Host (and Connection). */
  headers: Record<string, string>;
  /** No byte for this long: the GET fails with code ETIMEDOUT. */
  idleTimeoutMs: number;
  /**
   * Checks the head (status, Content-Range) before any body byte is handed on: throws to refuse
   * the answer. Content-Length must equal `length` on a 2xx answer; that is checked here.
   */
  checkHead: (head: RangeHead) => void;
  /** Bytes the body must hold. */
  length: number;
  /** Certificates to trust instead of node's (NODE_EXTRA_CA_CERTS included): for tests. */
  ca?: string | Buffer;
}

/** A connection and the reads it takes, which follow whichever GET currently uses it. */
class Conn {
  readonly buffer = Buffer.allocUnsafe(READ_BYTES);
  onBytes: (n: number) => boolean = () => true;
  onGone: (e: Error | undefined) => void = () => undefined;
  onIdle: () => void = () => undefined;
  readonly socket: net.Socket;
  /** Ended or failed: never reused. */
  dead = false;
  /** Made with its own CA (tests): verified against other certificates than node's, never kept. */
  readonly ownCa: boolean;

  constructor(
    readonly origin: string,
    url: URL,
    ca?: string | Buffer
  ) {
    this.ownCa = ca !== undefined;
    const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
    const onread = { buffer: this.buffer, callback: (n: number): boolean => this.onBytes(n) };
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    this.socket =
      url.protocol === 'https:'
        ? // node's TLSSocket takes `onread` as net.Socket does (it is one); @types/node lists it for net only.
          tls.connect({ host, port, ...(net.isIP(host) ? {} : { servername: host }), ALPNProtocols: ['http/1.1'], ...(ca ? { ca } : {}), ...({ onread } as tls.ConnectionOptions) })
        : net.connect({ host, port, onread });
    this.socket.on('timeout', () => this.onIdle());
    this.socket.on('error', (e) => this.gone(e));
    this.socket.on('end', () => this.gone(undefined));
    this.socket.on('close', () => this.gone(undefined));
  }

  private gone(e: Error | undefined): void {
    this.dead = true;
    forget(this);
    this.onGone(e);
  }
}

const idle = new Map<string, Conn[]>();

function forget(c: Conn): void {
  const list = idle.get(c.origin);
  const i = list?.indexOf(c) ?? -1;
  if (list && i >= 0) list.splice(i, 1);
}

function keep(c: Conn): void {
  const list = idle.get(c.origin) ?? [];
  if (c.dead || c.ownCa || list.length >= MAX_IDLE_PER_ORIGIN) return void c.socket.destroy();
  c.onBytes = () => {
    // Bytes nobody asked for: the connection is out of step, never reused.
    c.socket.destroy();
    return false;
  };
  c.onGone = () => undefined;
  c.onIdle = () => undefined;
  // An idle connection keeps no step alive.
  c.socket.unref();
  list.push(c);
  idle.set(c.origin, list);
}

function take(url: URL, ca: string | Buffer | undefined): { conn: Conn; reused: boolean } {
  const origin = `${url.protocol}//${url.host}`;
  const list = ca === undefined ? idle.get(origin) : undefined;
  while (list && list.length > 0) {
    const c = list.pop() as Conn;
    if (c.dead || c.socket.destroyed) continue;
    c.socket.ref();
    return { conn: c, reused: true };
  }
  return { conn: new Conn(origin, url, ca), reused: false };
}

/** Closes every idle connection (tests, and a step about to exit). */
export function closeIdleConnections(): void {
  for (const list of idle.values()) for (const c of list.splice(0)) c.socket.destroy();
}

/** Parses a status line and headers; undefined when `head` is not an HTTP/1.x answer's head. */
function parseHead(head: string): RangeHead | undefined {
  const lines = head.split('\r\n');
  const m = /^HTTP\/1\.[01] ([1-5][0-9]{2})(?: [^\r\n]*)?$/.exec(lines[0]);
  if (!m) return undefined;
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    // Split at the first colon and trimmed by hand: a regex with a lazy value and trailing
    // blanks takes quadratic time on a value of many blanks (2 s for 64 KiB), blocking node.
    const colon = line.indexOf(':');
    const name = colon > 0 ? line.slice(0, colon) : '';
    // obs-fold and anything else that is no header line: not an answer to read by hand.
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) return undefined;
    let from = colon + 1;
    let to = line.length;
    while (from < to && (line[from] === ' ' || line[from] === '\t')) from++;
    while (to > from && (line[to - 1] === ' ' || line[to - 1] === '\t')) to--;
    const value = line.slice(from, to);
    if (/[\r\n\0]/.test(value)) return undefined;
    const key = name.toLowerCase();
    const prev = headers.get(key);
    headers.set(key, prev === undefined ? value : `${prev}, ${value}`);
  }
  return { status: Number(m[1]), headers };
}

/**
 * Sends the GET and yields its body in blocks of up to BLOCK_BYTES, each valid only until the
 * consumer asks for the next one (or stops): then it is filled again, so a consumer that keeps
 * bytes longer copies them. `floor.waiting`/`floor.arrived` bracket every wait on the network (the caller's
 * rate floor; `arrived` may throw to end the GET). `onStart` gets a function that ends the GET
 * with an error (the floor's timer). Stopping early (return, or a throw from the consumer)
 * destroys the connection.
 */
export async function* rangeGet(url: URL, opts: RangeGetOptions, floor: { waiting(): void; arrived(bytes: number): void }, onStart: (abort: (e: Error) => void) => void): AsyncGenerator<Buffer> {
  const origin = `${url.protocol}//${url.host}`;
  let { conn, reused } = take(url, opts.ca);
  const blocks: Buffer[] = [];
  let failure: Error | undefined;
  let ended = false;
  let wake: () => void = () => undefined;
  let paused = false;
  let head: Buffer | undefined = Buffer.alloc(0);
  let left = opts.length;
  // Every block this GET took from the pool, given back when it ends (none is read after that).
  const mine: Buffer[] = [];
  const free: Buffer[] = [];
  const fresh = (): Buffer => {
    let b = free.pop();
    if (b === undefined) mine.push((b = blockPool.take()));
    return b;
  };
  let block = fresh();
  let filled = 0;
  let arrived = 0;
  let reported = 0;
  // HTTP/1.1 keeps the connection unless the answer says it closes it.
  let reuse = true;
  // A reused connection the server closed while it sat idle fails before any byte of the
  // answer: that GET goes again, once, on a fresh connection, without counting as an attempt.
  let answered = false;
  const fail = (e: Error): void => {
    failure ??= e;
    conn.socket.destroy();
    wake();
  };
  onStart(fail);
  const body = (buf: Buffer): void => {
    if (buf.length > left) return fail(new Error(`GET ${url.host}: the answer holds more than the ${opts.length} bytes its Content-Length says`));
    arrived += buf.length;
    let off = 0;
    while (off < buf.length) {
      const n = Math.min(buf.length - off, block.length - filled);
      buf.copy(block, filled, off, off + n);
      filled += n;
      off += n;
      left -= n;
      if (filled === block.length) {
        blocks.push(block);
        block = fresh();
        filled = 0;
      }
    }
    if (left === 0) {
      ended = true;
      if (filled > 0) blocks.push(block.subarray(0, filled));
    }
    wake();
  };
  const onHead = (all: Buffer): Buffer | undefined => {
    const at = all.indexOf('\r\n\r\n');
    // One read may bring a whole head past the bound (a 256 KiB read): refused all the same.
    if (at > MAX_HEAD_BYTES) return void fail(new Error(`GET ${url.host}: the answer's head is longer than ${MAX_HEAD_BYTES} bytes`));
    if (at < 0) {
      if (all.length > MAX_HEAD_BYTES) fail(new Error(`GET ${url.host}: the answer's head is longer than ${MAX_HEAD_BYTES} bytes`));
      else head = Buffer.from(all);
      return undefined;
    }
    head = undefined;
    const text = all.subarray(0, at).toString('latin1');
    const parsed = parseHead(text);
    if (!parsed) return void fail(new Error(`GET ${url.host}: not an HTTP/1.1 answer: ${shown(text.slice(0, 200))}`));
    try {
      checkHeadOf(parsed, opts);
    } catch (e) {
      return void fail(e instanceof Error ? e : new Error(String(e)));
    }
    if (/(^|,)\s*close\s*(,|$)/i.test(parsed.headers.get('connection') ?? '')) reuse = false;
    return all.subarray(at + 4);
  };
  const send = (): void => {
    conn.onBytes = (n) => {
      answered = true;
      const got = conn.buffer.subarray(0, n);
      const rest = head === undefined ? got : onHead(head.length === 0 ? got : Buffer.concat([head, got]));
      if (rest !== undefined && !failure) body(rest);
      if (failure) return false;
      paused = !ended && blocks.length >= AHEAD_BLOCKS;
      return !paused;
    };
    conn.onGone = (e) => {
      if (ended || failure) return;
      if (!answered && reused) {
        const stale = conn;
        stale.onBytes = () => false;
        stale.onGone = () => undefined;
        conn = new Conn(origin, url, opts.ca);
        reused = false;
        send();
        return;
      }
      failure = e ?? new EndedEarly(opts.length - left);
      wake();
    };
    conn.onIdle = () => fail(Object.assign(new Error(`GET ${url.host}: no progress for ${opts.idleTimeoutMs / 1000} s`), { code: 'ETIMEDOUT' }));
    conn.socket.setTimeout(opts.idleTimeoutMs);
    const lines = [`GET ${url.pathname}${url.search} HTTP/1.1`, `Host: ${url.host}`, ...Object.entries(opts.headers).map(([k, v]) => `${k}: ${v}`), 'Accept-Encoding: identity', '', ''];
    conn.socket.write(lines.join('\r\n'));
  };
  send();
  try {
    for (;;) {
      if (blocks.length === 0 && !ended && !failure) {
        floor.waiting();
        await new Promise<void>((resolve) => (wake = resolve));
        wake = () => undefined;
        floor.arrived(arrived - reported);
        reported = arrived;
      }
      const b = blocks.shift();
      if (b !== undefined) {
        if (paused && blocks.length < AHEAD_BLOCKS && !conn.socket.destroyed) {
          paused = false;
          conn.socket.resume();
        }
        yield b;
        // Asked for the next: the consumer is done with this one.
        if (b.length === BLOCK_BYTES) free.push(b);
        continue;
      }
      if (failure) throw failure;
      if (ended) return;
    }
  } finally {
    conn.socket.setTimeout(0);
    if (ended && !failure && reuse) keep(conn);
    else {
      conn.onBytes = () => false;
      conn.socket.destroy();
    }
    // The socket reads into its own buffer, never into these: they are free for the next GET.
    for (const b of mine) blockPool.give(b);
  }
}

function checkHeadOf(h: RangeHead, opts: RangeGetOptions): void {
  opts.checkHead(h);
  const len = h.headers.get('content-length');
  if (h.headers.has('transfer-encoding') && h.headers.get('transfer-encoding')?.toLowerCase() !== 'identity')
    throw new Error(`the answer's body is sent ${shown(h.headers.get('transfer-encoding') ?? '')}, not with a Content-Length as blob stores send ranges`);
  if (len === undefined || !/^[0-9]{1,16}$/.test(len)) throw new Error(`the answer has no usable Content-Length (${shown(len ?? 'none')})`);
  if (Number(len) !== opts.length) throw new Error(`the answer's Content-Length is ${len}, not the ${opts.length} bytes asked for`);
}
