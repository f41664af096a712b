// The "runbox entry v2" container: the one blob a snapshot is stored as in the cache service.
//
//   [file 0][file 1]...[file n-1][index JSON][signature][trailer 32 bytes]
//
// trailer: ASCII `RBXENT02` | index length u64 LE | signature length u32 LE | u32 0 | 8 zero bytes.
// index: UTF-8 JSON {"files":[{"name","offset","length","sha256","chunks"}...]}, offsets contiguous
// from 0; `chunks` holds the sha256 of each CHUNK_BYTES piece of the file (the last one shorter),
// so a reader can prove each piece before it hands a byte of it on, without a copy of the file.
// signature: absent, or 32-byte ed25519 public key | 64-byte signature over SIGNED_PREFIX + index.
//
// This module holds the format only (parsing and encoding, every bound checked); what to trust and
// where to write is decided by reader.ts / writer.ts and their callers, as node-tar keeps its
// header parser apart from extraction policy. Everything here treats its input as hostile.

import { shown } from '../../common/untrusted-text.js';

export const MAGIC = Buffer.from('RBXENT02', 'ascii');
export const TRAILER_BYTES = 32;
export const SIGNATURE_BYTES = 96;
export const PUBLIC_KEY_BYTES = 32;
export const MAX_FILES = 256;
/** No snapshot is this big; a blob claiming more is refused before a byte of it is written. */
export const MAX_ENTRY_BYTES = 64 * 2 ** 30;
/** The piece of a file each index digest covers: what a streaming reader holds in memory per file until it is proven. */
export const CHUNK_BYTES = 4 * 2 ** 20;
/**
 * A maximal entry needs MAX_ENTRY_BYTES / CHUNK_BYTES (16384) chunk digests of 67 JSON bytes
 * (1.1 MB) plus MAX_FILES file records: 2 MiB holds that with room to spare.
 */
export const MAX_INDEX_BYTES = 2 * 2 ** 20;
export const SIGNED_PREFIX = Buffer.from('runbox-entry-v2\0', 'ascii');
export const NAME_PATTERN = /^(db\/)?[A-Za-z0-9][A-Za-z0-9._-]*$/;
export const MANIFEST_NAME = 'manifest.json';

export interface IndexFile {
  name: string;
  offset: number;
  length: number;
  sha256: string;
  /** sha256 of each CHUNK_BYTES piece, in order: ceil(length / CHUNK_BYTES) of them. */
  chunks: string[];
}

/** Pieces a file of `length` bytes is digested in. */
export function chunkCount(length: number): number {
  return Math.ceil(length / CHUNK_BYTES);
}

/** The entry's bytes are not a well-formed runbox entry v2. */
export class EntryFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EntryFormatError';
  }
}

/** The entry is well-formed but not signed by a key in trusted-keys. */
export class EntryTrustError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EntryTrustError';
  }
}

/** A file's bytes do not match the index (length or sha256). */
export class EntryIntegrityError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EntryIntegrityError';
  }
}

export interface Trailer {
  indexLength: number;
  signatureLength: number;
}

export function encodeTrailer(t: Trailer): Buffer {
  const b = Buffer.alloc(TRAILER_BYTES);
  MAGIC.copy(b, 0);
  b.writeBigUInt64LE(BigInt(t.indexLength), 8);
  b.writeUInt32LE(t.signatureLength, 16);
  return b;
}

/** Checks the trailer of a blob of `size` bytes; the index and signature lengths it gives fit in the blob. */
export function decodeTrailer(b: Buffer, size: number): Trailer {
  if (b.length !== TRAILER_BYTES) throw new EntryFormatError(`the trailer is ${b.length} bytes, not ${TRAILER_BYTES}`);
  if (!b.subarray(0, 8).equals(MAGIC)) throw new EntryFormatError('the blob does not end in a runbox entry v2 trailer (an older or foreign cache entry)');
  if (b.readUInt32LE(20) !== 0 || !b.subarray(24).equals(Buffer.alloc(8))) throw new EntryFormatError('the trailer has non-zero reserved bytes');
  const indexLength64 = b.readBigUInt64LE(8);
  if (indexLength64 > BigInt(MAX_INDEX_BYTES)) throw new EntryFormatError(`the index is ${indexLength64} bytes, more than the ${MAX_INDEX_BYTES} allowed`);
  const indexLength = Number(indexLength64);
  if (indexLength < 2) throw new EntryFormatError(`the index is ${indexLength} bytes, too short to be JSON`);
  const signatureLength = b.readUInt32LE(16);
  if (signatureLength !== 0 && signatureLength !== SIGNATURE_BYTES) throw new EntryFormatError(`the signature is ${signatureLength} bytes, not 0 or ${SIGNATURE_BYTES}`);
  if (indexLength + signatureLength + TRAILER_BYTES > size) throw new EntryFormatError(`the index (${indexLength} bytes) and signature (${signatureLength}) do not fit in the ${size}-byte blob`);
  return { indexLength, signatureLength };
}

const FIELDS = ['chunks', 'length', 'name', 'offset', 'sha256'];
const SHA256_HEX = /^[0-9a-f]{64}$/;

/**
 * Parses the index strictly: exact keys, names from NAME_PATTERN and unique, offsets contiguous
 * from 0 in order, lengths summing to exactly `dataBytes` (the bytes before the index: nothing
 * trailing, nothing overlapping, no gap). Call only after the trailer (and signature) checks.
 */
export function parseIndex(bytes: Buffer, dataBytes: number): IndexFile[] {
  if (bytes.length > MAX_INDEX_BYTES) throw new EntryFormatError(`the index is ${bytes.length} bytes, more than ${MAX_INDEX_BYTES}`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw new EntryFormatError('the index is not valid UTF-8');
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new EntryFormatError('the index is not JSON');
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new EntryFormatError('the index is not a JSON object');
  const keys = Object.keys(raw);
  if (keys.length !== 1 || keys[0] !== 'files') throw new EntryFormatError('the index must hold exactly one field, "files"');
  const list = (raw as { files: unknown }).files;
  if (!Array.isArray(list)) throw new EntryFormatError('"files" is not a list');
  if (list.length === 0) throw new EntryFormatError('the index lists no file');
  if (list.length > MAX_FILES) throw new EntryFormatError(`the index lists ${list.length} files, more than ${MAX_FILES}`);
  const seen = new Set<string>();
  const files: IndexFile[] = [];
  let next = 0;
  for (const [i, f] of (list as unknown[]).entries()) {
    if (typeof f !== 'object' || f === null || Array.isArray(f)) throw new EntryFormatError(`files[${i}] is not an object`);
    const fk = Object.keys(f).sort();
    if (fk.length !== FIELDS.length || fk.some((k, j) => k !== FIELDS[j])) throw new EntryFormatError(`files[${i}] must have exactly the fields ${FIELDS.join(', ')}`);
    const { name, offset, length, sha256, chunks } = f as Record<string, unknown>;
    if (typeof name !== 'string' || !NAME_PATTERN.test(name))
      throw new EntryFormatError(`files[${i}] has the name ${typeof name === 'string' ? shown(name) : typeof name}, which is not a plain snapshot file name`);
    if (seen.has(name)) throw new EntryFormatError(`files[${i}]: ${name} is listed twice`);
    seen.add(name);
    if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset !== next)
      throw new EntryFormatError(`files[${i}] (${name}) starts at ${typeof offset === 'number' ? offset : typeof offset}, not at ${next} where the previous file ends`);
    if (typeof length !== 'number' || !Number.isSafeInteger(length) || length < 0 || length > dataBytes - offset)
      throw new EntryFormatError(`files[${i}] (${name}) has the length ${typeof length === 'number' ? length : typeof length}, which does not fit before the index`);
    if (typeof sha256 !== 'string' || !SHA256_HEX.test(sha256)) throw new EntryFormatError(`files[${i}] (${name}) has no lowercase hex sha256`);
    if (!Array.isArray(chunks) || chunks.length !== chunkCount(length))
      throw new EntryFormatError(`files[${i}] (${name}) does not list exactly ${chunkCount(length)} chunk digests (one per ${CHUNK_BYTES} bytes)`);
    if (!chunks.every((c): c is string => typeof c === 'string' && SHA256_HEX.test(c))) throw new EntryFormatError(`files[${i}] (${name}) has a chunk digest that is no lowercase hex sha256`);
    files.push({ name, offset, length, sha256, chunks });
    next = offset + length;
  }
  if (next !== dataBytes) throw new EntryFormatError(`the files end at byte ${next}, but the index starts at byte ${dataBytes}: ${dataBytes - next} bytes are unaccounted for`);
  // A file named `db` next to files under `db/` could not both exist: refuse rather than pick one.
  if (seen.has('db') && files.some((f) => f.name.startsWith('db/'))) throw new EntryFormatError('the index lists both a file db and files under db/');
  if (!seen.has(MANIFEST_NAME)) throw new EntryFormatError(`the index lists no ${MANIFEST_NAME}`);
  return files;
}

export function encodeIndex(files: readonly IndexFile[]): Buffer {
  return Buffer.from(JSON.stringify({ files: files.map(({ name, offset, length, sha256, chunks }) => ({ name, offset, length, sha256, chunks })) }), 'utf8');
}
