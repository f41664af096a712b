// Reads a runbox entry v2 from a ranged byte source into a fresh staging dir. Order matters:
// trailer, then (with trusted keys) the signature, and only then is the index JSON parsed; the
// free space is checked before the files are fetched; every file is created with
// O_EXCL|O_NOFOLLOW under its checked name and hashed while it streams. Any mismatch removes the
// whole dir, so the layers above see either a complete snapshot dir or nothing.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { CHUNK_BYTES, decodeTrailer, EntryFormatError, EntryIntegrityError, MAX_ENTRY_BYTES, parseIndex, TRAILER_BYTES, type IndexFile } from './format.js';
import { checkSignature, keyIdOf, type TrustedKey } from './signing.js';
import { BufferPool } from '../reused-buffers.js';

export interface RangeSource {
  /** Total bytes of the blob. */
  size: number;
  /**
   * Exactly `length` bytes from `offset`, or an error. Each buffer yielded is valid only until
   * the next is asked for (the cache client reads into the same few buffers): keep a copy.
   */
  read(offset: number, length: number): AsyncIterable<Buffer>;
}

export interface ReadEntryOptions {
  /** Empty: signatures are not required (and not checked). */
  trustedKeys: readonly TrustedKey[];
  /** Free bytes kept on the staging filesystem beyond the entry's own. */
  reserveBytes?: number;
}

export interface ReadEntryResult {
  files: IndexFile[];
  /** The signer, when the entry is signed (checked only with trusted keys). */
  signer?: string;
  verified: boolean;
}

async function readExact(src: RangeSource, offset: number, length: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of src.read(offset, length)) {
    n += c.length;
    if (n > length) throw new EntryFormatError(`the cache returned more than the ${length} bytes asked for at ${offset}`);
    chunks.push(Buffer.from(c));
  }
  if (n !== length) throw new EntryFormatError(`the cache returned ${n} of the ${length} bytes asked for at ${offset}`);
  return Buffer.concat(chunks, n);
}

/** Free bytes for an unprivileged writer on the filesystem holding `dir`. */
export function freeBytes(dir: string): number {
  const s = fs.statfsSync(dir);
  return s.bavail * s.bsize;
}

/**
 * Fetches and checks the entry's trailer, signature and index: what a caller needs before any
 * file is written. Exposed so a later partial restore can fetch single files by their range.
 */
export async function readIndex(src: RangeSource, trustedKeys: readonly TrustedKey[]): Promise<{ files: IndexFile[]; dataBytes: number; signer?: string; verified: boolean }> {
  if (!Number.isSafeInteger(src.size) || src.size < TRAILER_BYTES) throw new EntryFormatError(`the blob is ${src.size} bytes, too small for a runbox entry`);
  if (src.size > MAX_ENTRY_BYTES) throw new EntryFormatError(`the blob is ${src.size} bytes, more than the ${MAX_ENTRY_BYTES} a runbox entry may be`);
  const trailer = decodeTrailer(await readExact(src, src.size - TRAILER_BYTES, TRAILER_BYTES), src.size);
  const dataBytes = src.size - TRAILER_BYTES - trailer.signatureLength - trailer.indexLength;
  const meta = await readExact(src, dataBytes, trailer.indexLength + trailer.signatureLength);
  const index = meta.subarray(0, trailer.indexLength);
  const signature = meta.subarray(trailer.indexLength);
  let signer: string | undefined;
  let verified = false;
  if (trustedKeys.length > 0) {
    signer = checkSignature(signature, index, trustedKeys);
    verified = true;
  } else if (signature.length > 0) signer = keyIdOf(signature.subarray(0, 32));
  return { files: parseIndex(index, dataBytes), dataBytes, ...(signer ? { signer } : {}), verified };
}

const O_NEW = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW;

/** Spare ByteQueue buffers: a chunk and what the cache client yields at once (1 MiB) beyond it. */
const queuePool = new BufferPool(CHUNK_BYTES + 2 ** 20, 8);

/**
 * Exact-size runs of a byte stream, whatever sizes it arrives in, copied into one buffer of its
 * own (the source's buffers are valid only until its next read; see RangeSource) that is used
 * again for the next run. Call close() once done: the buffer goes back to the pool.
 */
class ByteQueue {
  private buf: Buffer = queuePool.take();
  /** Bytes held from `start`: what the last take() did not hand on. */
  private start = 0;
  private held = 0;
  constructor(private readonly it: AsyncIterator<Buffer>) {}

  /**
   * The next `n` bytes (n at most CHUNK_BYTES), valid until the next take(), ended() or close(),
   * or undefined when the stream ends first (`got` says how many there were).
   */
  async take(n: number): Promise<{ parts?: Buffer[]; got: number }> {
    // The last run is handed back by now: what is left after it moves to the front.
    if (this.start > 0) {
      this.buf.copy(this.buf, 0, this.start, this.start + this.held);
      this.start = 0;
    }
    while (this.held < n) {
      const r = await this.it.next();
      if (r.done) return { got: this.held };
      this.put(r.value);
    }
    const parts = [this.buf.subarray(0, n)];
    this.start = n;
    this.held -= n;
    return { parts, got: n };
  }

  private put(b: Buffer): void {
    if (this.held + b.length > this.buf.length) {
      // A source yielding more at once than the pool's buffers hold (a local file's stream):
      // a buffer of this queue's own, not the pool's.
      const bigger = Buffer.allocUnsafe(this.held + b.length);
      this.buf.copy(bigger, 0, 0, this.held);
      queuePool.give(this.buf);
      this.buf = bigger;
    }
    b.copy(this.buf, this.held);
    this.held += b.length;
  }

  async ended(): Promise<boolean> {
    return this.held === 0 && (await this.it.next()).done === true;
  }

  close(): void {
    queuePool.give(this.buf);
  }
}

/**
 * The file's bytes from `q`, one CHUNK_BYTES piece at a time, each handed on only once its
 * sha256 matches the index (and the whole file's once the last one did): nothing unproven
 * leaves here. Each piece is valid until the next is asked for (the queue's buffer).
 */
async function* provenChunks(q: ByteQueue, f: IndexFile): AsyncGenerator<Buffer> {
  const whole = createHash('sha256');
  for (const [i, want] of f.chunks.entries()) {
    const size = Math.min(CHUNK_BYTES, f.length - i * CHUNK_BYTES);
    const { parts, got } = await q.take(size);
    if (!parts) throw new EntryIntegrityError(`${f.name} is ${i * CHUNK_BYTES + got} bytes, the index says ${f.length}: the entry ended early`);
    const h = createHash('sha256');
    for (const p of parts) h.update(p);
    const digest = h.digest('hex');
    if (digest !== want)
      throw new EntryIntegrityError(`${f.name}: chunk ${i} (bytes ${i * CHUNK_BYTES}-${i * CHUNK_BYTES + size - 1}) has sha256 ${digest}, the index says ${want}; none of it was used`);
    for (const p of parts) whole.update(p);
    if (i === f.chunks.length - 1) {
      const got = whole.digest('hex');
      if (got !== f.sha256) throw new EntryIntegrityError(`${f.name} has sha256 ${got}, the index says ${f.sha256}`);
    }
    yield* parts;
  }
  if (f.chunks.length === 0 && f.sha256 !== EMPTY_SHA256) throw new EntryIntegrityError(`${f.name} is empty, but the index gives it the sha256 ${f.sha256}`);
}

const EMPTY_SHA256 = createHash('sha256').digest('hex');

/**
 * One file of the entry as proven pieces, fetched by one ranged read when iterated (again on
 * every call): what a restore streams into zstd without a copy on disk. Each piece is valid only
 * until the next is asked for: a consumer that keeps bytes longer copies them. The download
 * stops as soon as a piece fails its digest or the consumer stops reading.
 */
export async function* fileChunks(src: RangeSource, f: IndexFile): AsyncGenerator<Buffer> {
  const it = src.read(f.offset, f.length)[Symbol.asyncIterator]();
  const q = new ByteQueue(it);
  try {
    yield* provenChunks(q, f);
    if (!(await q.ended())) throw new EntryIntegrityError(`the cache returned more than the ${f.length} bytes of ${f.name}`);
  } finally {
    await it.return?.();
    q.close();
  }
}

/** Writes one file of the entry, proven piece by piece, as `dest` (created O_EXCL|O_NOFOLLOW). */
export async function fetchFile(src: RangeSource, f: IndexFile, dest: string): Promise<void> {
  const fd = fs.openSync(dest, O_NEW, 0o600);
  try {
    for await (const b of fileChunks(src, f)) {
      let off = 0;
      while (off < b.length) off += fs.writeSync(fd, b, off, b.length - off);
    }
  } finally {
    fs.closeSync(fd);
  }
}

async function writeFiles(src: RangeSource, files: readonly IndexFile[], dataBytes: number, dest: string): Promise<void> {
  if (files.some((f) => f.name.startsWith('db/'))) fs.mkdirSync(path.join(dest, 'db'), { mode: 0o700 });
  // One ranged read over all the files (they are contiguous from 0), split as it streams.
  const it = src.read(0, dataBytes)[Symbol.asyncIterator]();
  const q = new ByteQueue(it);
  try {
    for (const f of files) {
      const fd = fs.openSync(path.join(dest, f.name), O_NEW, 0o600);
      try {
        for await (const b of provenChunks(q, f)) {
          let off = 0;
          while (off < b.length) off += fs.writeSync(fd, b, off, b.length - off);
        }
      } finally {
        fs.closeSync(fd);
      }
    }
    if (!(await q.ended())) throw new EntryIntegrityError('the cache returned more bytes than the files listed in the index');
  } finally {
    // Stopping early (a mismatch) must end the download too, not leave a connection open.
    await it.return?.();
    q.close();
  }
}

/**
 * Reads the entry into `dest` (which must not exist; its parent is a fresh runner-owned staging
 * dir). On any error nothing of `dest` is left.
 */
export async function readEntry(src: RangeSource, dest: string, opts: ReadEntryOptions): Promise<ReadEntryResult> {
  const { files, dataBytes, signer, verified } = await readIndex(src, opts.trustedKeys);
  const parent = path.dirname(dest);
  const free = freeBytes(parent);
  const needed = dataBytes + (opts.reserveBytes ?? 0);
  if (free < needed)
    throw new Error(
      `not enough free space in ${parent} for the snapshot: ${needed} bytes needed (${dataBytes} of files${opts.reserveBytes ? ` + ${opts.reserveBytes} kept free` : ''}), ${free} bytes free`
    );
  // Outside the try: an existing dest is an error, never something this function removes.
  fs.mkdirSync(dest, { mode: 0o700 });
  try {
    await writeFiles(src, files, dataBytes, dest);
  } catch (e) {
    fs.rmSync(dest, { recursive: true, force: true });
    throw e;
  }
  return { files, ...(signer ? { signer } : {}), verified };
}
