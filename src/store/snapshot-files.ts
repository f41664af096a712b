// Where a snapshot's files come from when restore reads them: a dir on disk (tests, and the
// files fetched whole: manifest and registrations), or the cache entry itself, whose archives
// are streamed frame by frame through their proven chunks (entry/reader.ts fileChunks) and
// never written to disk. Restore reads an archive only through open(), so both look the same
// to it; what differs is who proved the bytes (the entry index's chunk digests, or nobody yet:
// the manifest's sha256 is checked over the stream either way).
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileChunks, type RangeSource } from './entry/reader.js';
import type { IndexFile } from './entry/format.js';
import { sha256File } from './extract.js';

export interface SnapshotFiles {
  /** What is read from where, for messages. */
  readonly where: string;
  /** The file's size, or undefined when it is not there (or not a regular file). */
  sizeOf(name: string): number | undefined;
  /** The file's bytes, read afresh on every call. */
  open(name: string): AsyncIterable<Buffer>;
  /**
   * The sha256 of the file as stored, read again: after a failed extract, to tell an archive
   * that is not what its manifest record says (corrupt, or altered) from one that is bad.
   */
  reread?(name: string): Promise<string>;
  /**
   * The sha256 that open(name)'s bytes are proven to have once it ran to its end (the cache
   * entry's index digest, which fileChunks checks over those bytes): no second hash needed.
   */
  sha256Of?(name: string): string | undefined;
}

/** Files in a dir (the snapshot as one dir on disk). */
export function localFiles(dir: string): SnapshotFiles {
  return {
    where: dir,
    sizeOf(name) {
      const st = fs.lstatSync(path.join(dir, name), { throwIfNoEntry: false });
      return st?.isFile() ? st.size : undefined;
    },
    open: (name) => fs.createReadStream(path.join(dir, name)),
    reread: (name) => sha256File(path.join(dir, name))
  };
}

/** The files of a cache entry, streamed by ranged reads, each chunk proven by the index first. */
export function entryFiles(src: RangeSource, files: readonly IndexFile[], where: string): SnapshotFiles & { fetchedBytes: () => number } {
  const byName = new Map(files.map((f) => [f.name, f]));
  let fetched = 0;
  async function* open(name: string): AsyncGenerator<Buffer> {
    const f = byName.get(name);
    if (!f) throw new Error(`${name} is not in the cache entry`);
    for await (const b of fileChunks(src, f)) {
      fetched += b.length;
      yield b;
    }
  }
  return {
    where,
    sizeOf: (name) => byName.get(name)?.length,
    fetchedBytes: () => fetched,
    open,
    sha256Of: (name) => byName.get(name)?.sha256,
    // Only after a failed extract (to tell an archive that differs from its manifest record from
    // a bad one): the frame is fetched again, proven chunk by chunk, and hashed.
    async reread(name) {
      const h = createHash('sha256');
      for await (const b of open(name)) h.update(b);
      return h.digest('hex');
    }
  };
}
