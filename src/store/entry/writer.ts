// Writes a staging dir (`manifest.json`, `store*.tar.zst`, `db/*`) as a runbox entry v2. The
// files are hashed once up front, so the total size is known before the upload starts and any
// byte range of the entry can be produced again on demand (a retried block) straight from the
// files: nothing of the entry is held in memory but its index.
import { createHash, type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { CHUNK_BYTES, chunkCount, encodeIndex, encodeTrailer, MAX_ENTRY_BYTES, MAX_FILES, MAX_INDEX_BYTES, NAME_PATTERN, type IndexFile } from './format.js';
import { publicKeyLine, signIndex } from './signing.js';
import { BufferPool } from '../reused-buffers.js';

interface Part {
  /** Absolute path, or undefined for the in-memory tail (index, signature, trailer). */
  file?: string;
  offset: number;
  length: number;
}

export interface EntryPlan {
  size: number;
  files: IndexFile[];
  /** The signer's trusted-keys line, when signed. */
  keyId?: string;
  parts: Part[];
  tail: Buffer;
}

/** A file's sha256 and the sha256 of each CHUNK_BYTES piece of it (the index's digests), fed as it goes. */
class FileDigests {
  private readonly whole = createHash('sha256');
  readonly chunks: string[] = [];
  private piece = createHash('sha256');
  private inPiece = 0;

  update(b: Buffer): void {
    this.whole.update(b);
    for (let off = 0; off < b.length;) {
      const take = Math.min(CHUNK_BYTES - this.inPiece, b.length - off);
      this.piece.update(b.subarray(off, off + take));
      this.inPiece += take;
      off += take;
      if (this.inPiece === CHUNK_BYTES) {
        this.chunks.push(this.piece.digest('hex'));
        this.piece = createHash('sha256');
        this.inPiece = 0;
      }
    }
  }

  /** Once, after the last byte: the whole file's sha256 (the last short piece's digest is added). */
  finish(): string {
    if (this.inPiece > 0) this.chunks.push(this.piece.digest('hex'));
    return this.whole.digest('hex');
  }
}

/** The file's sha256 and the sha256 of each CHUNK_BYTES piece of it, in one read. */
async function digestFile(file: string): Promise<{ sha256: string; chunks: string[] }> {
  const d = new FileDigests();
  for await (const b of fs.createReadStream(file, { highWaterMark: 1024 * 1024 }) as AsyncIterable<Buffer>) d.update(b);
  const sha256 = d.finish();
  return { sha256, chunks: d.chunks };
}

/** Regular files of `dir` and `dir/db`, as entry names; anything else in there is refused. */
function listStaging(dir: string): string[] {
  const names: string[] = [];
  for (const d of fs.readdirSync(dir, { withFileTypes: true })) {
    if (d.isDirectory() && d.name === 'db') {
      for (const s of fs.readdirSync(path.join(dir, 'db'), { withFileTypes: true })) {
        if (!s.isFile()) throw new Error(`${path.join(dir, 'db', s.name)} is not a regular file; a snapshot holds only files`);
        names.push(`db/${s.name}`);
      }
    } else if (d.isFile()) names.push(d.name);
    else throw new Error(`${path.join(dir, d.name)} is not a regular file; a snapshot holds only files and db/`);
  }
  for (const n of names) if (!NAME_PATTERN.test(n)) throw new Error(`${n} in ${dir} is not a name a runbox entry can hold`);
  if (names.length > MAX_FILES) throw new Error(`${dir} holds ${names.length} files, more than the ${MAX_FILES} an entry can hold`);
  return names.sort();
}

export async function planEntry(dir: string, signingKey?: KeyObject): Promise<EntryPlan> {
  const files: IndexFile[] = [];
  const parts: Part[] = [];
  let offset = 0;
  for (const name of listStaging(dir)) {
    const file = path.join(dir, name);
    const length = fs.statSync(file).size;
    const digests = await digestFile(file);
    if (digests.chunks.length !== chunkCount(length)) throw new Error(`${file} changed size while the snapshot was being hashed`);
    files.push({ name, offset, length, ...digests });
    parts.push({ file, offset, length });
    offset += length;
  }
  // A file that changed while it was hashed would be caught by the reader; catch it here first.
  for (const p of parts) if (fs.statSync(p.file!).size !== p.length) throw new Error(`${p.file} changed size while the snapshot was being hashed`);
  const index = encodeIndex(files);
  if (index.length > MAX_INDEX_BYTES) throw new Error(`the entry index would be ${index.length} bytes, more than ${MAX_INDEX_BYTES}`);
  const signature = signingKey ? signIndex(signingKey, index) : Buffer.alloc(0);
  const tail = Buffer.concat([index, signature, encodeTrailer({ indexLength: index.length, signatureLength: signature.length })]);
  parts.push({ offset, length: tail.length });
  const size = offset + tail.length;
  if (size > MAX_ENTRY_BYTES) throw new Error(`the snapshot is ${size} bytes, more than the ${MAX_ENTRY_BYTES} a runbox entry may be`);
  return { size, files, parts, tail, ...(signingKey ? { keyId: publicKeyLine(signingKey) } : {}) };
}

/** Bytes [start, end) of the entry, read from the staging files again on every call. */
export function entryRange(plan: EntryPlan, start: number, end: number): Readable {
  if (!(start >= 0 && start <= end && end <= plan.size)) throw new RangeError(`range ${start}-${end} outside the ${plan.size}-byte entry`);
  async function* gen(): AsyncGenerator<Buffer> {
    for (const p of plan.parts) {
      const from = Math.max(start, p.offset);
      const to = Math.min(end, p.offset + p.length);
      if (from >= to) continue;
      if (!p.file) {
        yield plan.tail.subarray(from - p.offset, to - p.offset);
        continue;
      }
      let n = 0;
      for await (const chunk of fs.createReadStream(p.file, { start: from - p.offset, end: to - p.offset - 1 })) {
        n += (chunk as Buffer).length;
        yield chunk as Buffer;
      }
      if (n !== to - from) throw new Error(`${p.file} shrank while it was being uploaded`);
    }
  }
  return Readable.from(gen(), { objectMode: false });
}

// ---------------------------------------------------------------- streamed

/** Where a streamed entry's bytes go: the cache service's upload (cache-service UploadSession). */
export interface BlockSink {
  /** Each block's offset must be known when it is sent (v1); otherwise blocks are laid out at commit (v2). */
  readonly ordered: boolean;
  /**
   * One block, as pieces in order. They are valid only until the returned promise settles (the
   * stream fills the same buffers again): a sink that keeps bytes longer copies them.
   */
  put(data: readonly Buffer[], offset?: number): Promise<string>;
}

export interface StreamOptions {
  /** Block size; a file's last block is shorter. */
  blockBytes: number;
  /** Blocks being sent at once (each held in memory until sent). */
  concurrency: number;
  /**
   * Ordered sinks only: a file that cannot be sent yet (another file is being written at the
   * current end) holds this much in memory, then waits (its producer pauses) until it is next.
   */
  heldBytes?: number;
  signingKey?: KeyObject;
}

/** The upload failed; the snapshot is not the problem. */
export class UploadError extends Error {
  constructor(message: string, cause: unknown) {
    super(message, { cause });
    this.name = 'UploadError';
  }
}

/** The whole pool buffer a block's data is a view of (from its start: see put's cut). */
const poolBuffer = (view: Buffer): Buffer => Buffer.from(view.buffer, view.byteOffset, view.buffer.byteLength - view.byteOffset);

/** A FIFO lock: who holds it writes at the entry's current end (ordered sinks). */
class Turn {
  private tail: Promise<void> = Promise.resolve();
  take(): Promise<() => void> {
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const before = this.tail;
    this.tail = before.then(() => mine);
    return before.then(() => release);
  }
}

/** Counts blocks in flight; take() waits for a free slot, which is what bounds memory. */
class Slots {
  private free: number;
  private readonly waiting: Array<() => void> = [];
  constructor(n: number) {
    this.free = n;
  }
  async take(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return;
    }
    await new Promise<void>((r) => this.waiting.push(r));
  }
  give(): void {
    const w = this.waiting.shift();
    if (w) w();
    else this.free++;
  }
}

/**
 * A runbox entry v2 written as it is made: each file (a frame, the registrations, the manifest)
 * is hashed (whole and per CHUNK_BYTES piece) and cut into blocks on its way to the sink, and
 * placed in the entry when it ends, so files produced side by side land in the order they
 * finish. The index, signature and trailer go last (finish). Nothing is written to disk; memory
 * holds the blocks in flight, one partial block per open file, and, for ordered sinks, what a
 * file waiting for its turn holds (heldBytes).
 */
export class EntryStream {
  private readonly files: IndexFile[] = [];
  private readonly refs: string[] = [];
  private readonly names = new Set<string>();
  private next = 0;
  private failure: UploadError | undefined;
  /** A file that did not end well: the entry can no longer be finished. */
  private broken: string | undefined;
  private readonly slots: Slots;
  /** Block buffers: every block in flight or held, and the one each open file fills. */
  private readonly blocks: BufferPool;
  private readonly turn = new Turn();
  private finished = false;

  constructor(
    private readonly sink: BlockSink,
    private readonly opts: StreamOptions
  ) {
    if (!(opts.blockBytes > 0 && opts.concurrency > 0)) throw new RangeError('EntryStream: blockBytes and concurrency must be positive');
    this.slots = new Slots(opts.concurrency);
    this.blocks = new BufferPool(opts.blockBytes, opts.concurrency + Math.ceil((opts.heldBytes ?? 4 * opts.blockBytes) / opts.blockBytes) + 2);
  }

  /** Bytes handed to the stream so far (made, not necessarily sent): what progress shows. */
  handed = 0;

  private check(): void {
    if (this.failure) throw this.failure;
  }

  /** Sends one block; resolves once a slot is taken (not when it is sent), so the caller keeps producing. */
  private async send(data: readonly Buffer[], offset: number | undefined, done: (ref: string) => void, pending: Promise<void>[]): Promise<void> {
    this.check();
    await this.slots.take();
    this.check();
    pending.push(
      this.sink.put(data, offset).then(
        (ref) => {
          this.slots.give();
          for (const d of data) this.blocks.give(poolBuffer(d));
          done(ref);
        },
        (e: unknown) => {
          this.slots.give();
          for (const d of data) this.blocks.give(poolBuffer(d));
          this.failure ??= new UploadError(e instanceof Error ? e.message : String(e), e);
        }
      )
    );
  }

  /** Takes all of `src` as the entry file `name`; its sha256 and length once it is placed. */
  async put(name: string, src: AsyncIterable<Buffer> | Iterable<Buffer>): Promise<{ sha256: string; bytes: number }> {
    if (this.finished) throw new Error(`EntryStream: ${name} after finish`);
    if (!NAME_PATTERN.test(name)) throw new Error(`${name} is not a name a runbox entry can hold`);
    if (this.names.has(name)) throw new Error(`${name} is in the entry already`);
    if (this.names.size >= MAX_FILES - 1) throw new Error(`more than the ${MAX_FILES} files an entry can hold`);
    this.names.add(name);
    this.check();
    const ordered = this.sink.ordered;
    const digests = new FileDigests();
    const refs: string[] = [];
    const pending: Promise<void>[] = [];
    let length = 0;
    const pool = this.blocks;
    // The block being filled: a buffer of the pool, given back once its upload settled.
    let block = pool.take();
    let partLen = 0;
    // Ordered only: blocks kept until this file's turn, its offset and sent bytes once it has it.
    let held: Buffer[] = [];
    let heldLen = 0;
    let offset: number | undefined;
    let sent = 0;
    let release: (() => void) | undefined;
    const heldCap = this.opts.heldBytes ?? 4 * this.opts.blockBytes;

    // `data` is a view of a pool buffer: back to the pool when its upload settles, not before.
    const ship = async (data: Buffer): Promise<void> => {
      if (!ordered) {
        const i = refs.push('') - 1;
        return this.send([data], undefined, (r) => (refs[i] = r), pending);
      }
      if (offset === undefined) {
        held.push(data);
        heldLen += data.length;
        if (heldLen <= heldCap) return;
        await takeTurn();
        return;
      }
      const at = offset + sent;
      sent += data.length;
      const i = refs.push('') - 1;
      return this.send([data], at, (r) => (refs[i] = r), pending);
    };
    const takeTurn = async (): Promise<void> => {
      release = await this.turn.take();
      offset = this.next;
      const blocks = held;
      held = [];
      heldLen = 0;
      for (const b of blocks) await ship(b);
    };
    const cut = async (): Promise<void> => {
      const data = block.subarray(0, partLen);
      block = pool.take();
      partLen = 0;
      await ship(data);
    };

    try {
      for await (const b of src) {
        digests.update(b);
        length += b.length;
        this.handed += b.length;
        for (let off = 0; off < b.length;) {
          const take = Math.min(this.opts.blockBytes - partLen, b.length - off);
          // Copied: the source may fill `b` again once the next piece is asked for (a child's
          // output read into one buffer, pipeline.ts), and the pool's buffers are used again.
          b.copy(block, partLen, off, off + take);
          partLen += take;
          off += take;
          if (partLen === this.opts.blockBytes) await cut();
        }
      }
      const sha256 = digests.finish();
      if (partLen > 0) await cut();
      if (ordered && offset === undefined) await takeTurn();
      await Promise.all(pending);
      this.check();
      if (length > MAX_ENTRY_BYTES - this.next) throw new Error(`the snapshot is more than the ${MAX_ENTRY_BYTES} bytes a runbox entry may be`);
      // Placed now: for an ordered sink this file holds the turn, so next is its offset.
      const at = ordered ? (offset as number) : this.next;
      this.files.push({ name, offset: at, length, sha256, chunks: digests.chunks });
      this.refs.push(...refs);
      this.next = at + length;
      return { sha256, bytes: length };
    } catch (e) {
      this.broken ??= `${name} was not written whole (${e instanceof Error ? e.message : String(e)})`;
      throw e;
    } finally {
      // Blocks still in flight after a failure must settle before the caller tears down.
      await Promise.allSettled(pending);
      release?.();
      // Never sent (a failure before this file's turn) or never filled: nobody reads them.
      for (const b of held) pool.give(poolBuffer(b));
      pool.give(block);
    }
  }

  /** Sends the index, signature and trailer; the block references in entry order and the entry's size. */
  async finish(): Promise<{ refs: string[]; size: number; files: IndexFile[]; keyId?: string }> {
    this.check();
    if (this.broken) throw new Error(`the entry cannot be finished: ${this.broken}`);
    this.finished = true;
    const index = encodeIndex(this.files);
    if (index.length > MAX_INDEX_BYTES) throw new Error(`the entry index would be ${index.length} bytes, more than ${MAX_INDEX_BYTES}`);
    const key = this.opts.signingKey;
    const signature = key ? signIndex(key, index) : Buffer.alloc(0);
    const tail = Buffer.concat([index, signature, encodeTrailer({ indexLength: index.length, signatureLength: signature.length })]);
    const pending: Promise<void>[] = [];
    let ref = '';
    await this.send([tail], this.next, (r) => (ref = r), pending);
    await Promise.all(pending);
    this.check();
    const size = this.next + tail.length;
    if (size > MAX_ENTRY_BYTES) throw new Error(`the snapshot is ${size} bytes, more than the ${MAX_ENTRY_BYTES} a runbox entry may be`);
    return { refs: [...this.refs, ref], size, files: this.files, ...(key ? { keyId: publicKeyLine(key) } : {}) };
  }
}
