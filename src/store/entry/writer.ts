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

/** The file's sha256 and the sha256 of each CHUNK_BYTES piece of it, in one read. */
async function digestFile(file: string): Promise<{ sha256: string; chunks: string[] }> {
  const whole = createHash('sha256');
  const chunks: string[] = [];
  let piece = createHash('sha256');
  let inPiece = 0;
  for await (const b of fs.createReadStream(file, { highWaterMark: 1024 * 1024 }) as AsyncIterable<Buffer>) {
    whole.update(b);
    for (let off = 0; off < b.length;) {
      const take = Math.min(CHUNK_BYTES - inPiece, b.length - off);
      piece.update(b.subarray(off, off + take));
      inPiece += take;
      off += take;
      if (inPiece === CHUNK_BYTES) {
        chunks.push(piece.digest('hex'));
        piece = createHash('sha256');
        inPiece = 0;
      }
    }
  }
  if (inPiece > 0) chunks.push(piece.digest('hex'));
  return { sha256: whole.digest('hex'), chunks };
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
