// The snapshot format: a dir (the one path handed to @actions/cache) holding manifest.json, the
// store archive(s) and the compressed DB copies. The manifest records a sha256 per file, taken
// while writing, so restore can prove the download intact before anything touches the store.
// It is versioned: a reader refuses any version it does not know (a miss, not a guess), and
// `archives` is a list so later versions can shard the store or add deltas.
import fs from 'node:fs';
import path from 'node:path';
import type { StoreKind } from './presets.js';
import { keyProblem } from './config.js';
import { MTIME, type DirTime } from './listing.js';

export const MANIFEST_FILE = 'manifest.json';
/** Archives one snapshot (a delta's base and the delta together, too) may hold. */
export const MAX_ARCHIVES = 64;
export const FORMAT = 'runbox-store-snapshot';
/** A full snapshot. */
export const FORMAT_VERSION = 1;
/**
 * A delta: only the items its base (a full snapshot, named by key) lacks, plus the DB. A new
 * version rather than an optional field, so a runbox that only reads version 1 refuses a delta
 * cleanly (a miss) instead of taking it for a whole store.
 */
export const DELTA_FORMAT_VERSION = 2;

export interface FileRecord {
  /** Relative to the snapshot dir; a plain name or `db/<name>`. */
  file: string;
  sha256: string;
  bytes: number;
}

export interface ArchiveRecord extends FileRecord {
  compression: 'zstd';
  /** Store paths (absolute) this archive holds. */
  storePaths: string[];
  /** Uncompressed size of its files' data: the free space restore checks for, and a bound the
   * restore enforces while reading (an archive holding more is refused). */
  dataBytes?: number;
}

export interface DbRecord extends FileRecord {
  compression: 'zstd';
  /** The live DB this is a consistent copy of, e.g. /var/guix/db/db.sqlite. */
  path: string;
}

export interface BaseRecord {
  /** Cache key of the full snapshot this delta adds to. */
  key: string;
  /** Its compressed size, for the report. */
  bytes?: number;
}

export interface SnapshotManifest {
  format: typeof FORMAT;
  /** 1: full; 2: delta (then `base` is set). */
  version: typeof FORMAT_VERSION | typeof DELTA_FORMAT_VERSION;
  kind: StoreKind;
  createdAt: string;
  toolVersion?: string;
  storePaths: string[];
  archives: ArchiveRecord[];
  /** Written by earlier versions for sharded snapshots; still checked, no longer applied (restore
   * makes the store dirs itself, never from a snapshot's metadata). */
  dirTimes?: DirTime[];
  dbs: DbRecord[];
  /** Deltas only: the full snapshot this one needs first. */
  base?: BaseRecord;
}

export class ManifestError extends Error {
  constructor(message: string) {
    super(`snapshot manifest: ${message}`);
    this.name = 'ManifestError';
  }
}

const FILE = /^(db\/)?[A-Za-z0-9][A-Za-z0-9._-]*$/;
const SHA = /^[0-9a-f]{64}$/;
// Only `<name>.sqlite` directly in the DB dir: the same shape archive.ts snapshots.
const DB_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*\.sqlite$/;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function fileRecord(v: unknown, what: string): FileRecord {
  if (!isObject(v)) throw new ManifestError(`${what} is not an object`);
  const { file, sha256, bytes } = v;
  if (typeof file !== 'string' || !FILE.test(file)) throw new ManifestError(`${what}.file '${String(file)}' is not a plain file name`);
  if (typeof sha256 !== 'string' || !SHA.test(sha256)) throw new ManifestError(`${what}.sha256 is not a sha256`);
  if (typeof bytes !== 'number' || !Number.isSafeInteger(bytes) || bytes < 0) throw new ManifestError(`${what}.bytes is not a size`);
  if (v.compression !== 'zstd') throw new ManifestError(`${what}.compression '${String(v.compression)}' is not understood`);
  return { file, sha256, bytes };
}

function stringList(v: unknown, what: string): string[] {
  if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) throw new ManifestError(`${what} is not a list of strings`);
  return v as string[];
}

/**
 * Parses and checks a manifest against what this restore expects: same format version, same
 * store kind, store paths and DB files only within the configured ones. Files it names must be
 * plain files in the snapshot dir (a symlink there could point a root reader elsewhere).
 */
export function readManifest(dir: string, expect: { kind: StoreKind; storePaths: readonly string[]; dbDir?: string }): SnapshotManifest {
  const file = path.join(dir, MANIFEST_FILE);
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new ManifestError(`cannot read ${file}: ${(e as Error).message}`);
  }
  if (!isObject(raw) || raw.format !== FORMAT) throw new ManifestError('not a runbox store snapshot');
  if (raw.version !== FORMAT_VERSION && raw.version !== DELTA_FORMAT_VERSION)
    throw new ManifestError(`format version ${String(raw.version)} is not understood by this runbox (it reads versions ${FORMAT_VERSION} and ${DELTA_FORMAT_VERSION})`);
  const base = readBase(raw.base, raw.version);
  if (raw.kind !== expect.kind) throw new ManifestError(`it is a ${String(raw.kind)} snapshot, this step restores ${expect.kind}`);
  const storePaths = stringList(raw.storePaths, 'storePaths');
  for (const p of storePaths) if (!expect.storePaths.includes(p)) throw new ManifestError(`store path ${p} is not among store-paths (${expect.storePaths.join(', ')})`);
  if (!Array.isArray(raw.archives) || raw.archives.length === 0) throw new ManifestError('no archives');
  // Each archive costs a zstd and a tar at restore; runbox itself writes at most MAX_SHARDS.
  if (raw.archives.length > MAX_ARCHIVES) throw new ManifestError(`it lists ${raw.archives.length} archives, more than the ${MAX_ARCHIVES} a snapshot may hold`);
  const archives = raw.archives.map((a: unknown, i: number): ArchiveRecord => {
    const rec = fileRecord(a, `archives[${i}]`);
    const paths = stringList((a as Record<string, unknown>).storePaths, `archives[${i}].storePaths`);
    for (const p of paths) if (!storePaths.includes(p)) throw new ManifestError(`archives[${i}] holds ${p}, which the manifest does not list`);
    const dataBytes = (a as Record<string, unknown>).dataBytes;
    if (dataBytes !== undefined && (typeof dataBytes !== 'number' || !Number.isSafeInteger(dataBytes) || dataBytes < 0)) throw new ManifestError(`archives[${i}].dataBytes is not a size`);
    return { ...rec, compression: 'zstd', storePaths: paths, ...(dataBytes !== undefined ? { dataBytes } : {}) };
  });
  if (!Array.isArray(raw.dbs)) throw new ManifestError('dbs is not a list');
  const dbs = raw.dbs.map((d: unknown, i: number): DbRecord => {
    const rec = fileRecord(d, `dbs[${i}]`);
    const p = (d as Record<string, unknown>).path;
    if (typeof p !== 'string' || path.dirname(p) !== expect.dbDir || !DB_NAME.test(path.basename(p)))
      throw new ManifestError(`dbs[${i}].path '${String(p)}' is not a *.sqlite file directly in the DB dir ${expect.dbDir ?? '(none configured)'}`);
    return { ...rec, compression: 'zstd', path: p };
  });
  const dirTimes = readDirTimes(raw.dirTimes, storePaths);
  const names = [...archives, ...dbs].map((r) => r.file);
  if (new Set(names).size !== names.length) throw new ManifestError('a file is listed twice');
  for (const name of names) {
    const st = fs.lstatSync(path.join(dir, name), { throwIfNoEntry: false });
    if (!st || !st.isFile()) throw new ManifestError(`${name} is missing or not a regular file`);
    if (st.size !== [...archives, ...dbs].find((r) => r.file === name)?.bytes) throw new ManifestError(`${name} is ${st.size} bytes, the manifest says otherwise (truncated download?)`);
  }
  return {
    format: FORMAT,
    version: base ? DELTA_FORMAT_VERSION : FORMAT_VERSION,
    kind: expect.kind,
    createdAt: typeof raw.createdAt === 'string' ? raw.createdAt : '',
    ...(typeof raw.toolVersion === 'string' ? { toolVersion: raw.toolVersion } : {}),
    storePaths,
    archives,
    ...(dirTimes ? { dirTimes } : {}),
    dbs,
    ...(base ? { base } : {})
  };
}

/** A full snapshot has no base; a delta must have one, named by a usable cache key. */
function readBase(v: unknown, version: unknown): BaseRecord | undefined {
  if (version === FORMAT_VERSION) {
    if (v !== undefined) throw new ManifestError('a version 1 (full) snapshot cannot name a base');
    return undefined;
  }
  if (!isObject(v)) throw new ManifestError('a delta snapshot (version 2) names no base');
  const { key, bytes } = v;
  if (typeof key !== 'string' || key === '') throw new ManifestError('base.key is not a non-empty string');
  const problem = keyProblem(key);
  if (problem) throw new ManifestError(`base.key '${key.slice(0, 80)}' is not a cache key: ${problem}`);
  if (bytes !== undefined && (typeof bytes !== 'number' || !Number.isSafeInteger(bytes) || bytes < 0)) throw new ManifestError('base.bytes is not a size');
  return { key, ...(typeof bytes === 'number' ? { bytes } : {}) };
}

/** The base key a downloaded snapshot names, read before it is verified (to fetch the base); undefined for a full one. */
export function peekBaseKey(dir: string): string | undefined {
  try {
    const raw = JSON.parse(fs.readFileSync(path.join(dir, MANIFEST_FILE), 'utf8')) as unknown;
    if (!isObject(raw) || raw.version !== DELTA_FORMAT_VERSION || !isObject(raw.base)) return undefined;
    return typeof raw.base.key === 'string' ? raw.base.key : undefined;
  } catch {
    return undefined; // readManifest says why, later
  }
}

/**
 * Only mtimes, and only of a store path or a dot-named dir directly in one: restore applies
 * them as root, to dirs it created itself, so nothing else may be named here.
 */
function readDirTimes(v: unknown, storePaths: readonly string[]): DirTime[] | undefined {
  if (v === undefined) return undefined;
  if (!Array.isArray(v)) throw new ManifestError('dirTimes is not a list');
  return v.map((d: unknown, i: number): DirTime => {
    if (!isObject(d)) throw new ManifestError(`dirTimes[${i}] is not an object`);
    const { path: p, mtime } = d;
    if (typeof mtime !== 'string' || !MTIME.test(mtime)) throw new ManifestError(`dirTimes[${i}].mtime is not a time`);
    const ok =
      typeof p === 'string' && (storePaths.includes(p) || (storePaths.includes(path.dirname(p)) && /^\.[A-Za-z0-9._-]*$/.test(path.basename(p)) && !/^\.\.?$/.test(path.basename(p))));
    if (!ok) throw new ManifestError(`dirTimes[${i}].path '${String(p)}' is neither a store path nor a dot-dir directly in one`);
    return { path: p, mtime };
  });
}

/** Compressed bytes of the files a manifest lists (archives and DB copies). */
export function manifestBytes(m: SnapshotManifest): number {
  return m.archives.reduce((n, a) => n + a.bytes, 0) + m.dbs.reduce((n, d) => n + d.bytes, 0);
}

export function writeManifest(dir: string, m: SnapshotManifest): void {
  fs.writeFileSync(path.join(dir, MANIFEST_FILE), `${JSON.stringify(m, null, 2)}\n`);
}

/** True for the live DB files of `dbDir` that must never come from an archive: `*.sqlite` and its journals. */
export function isLiveDbFile(absPath: string, dbDir: string | undefined): boolean {
  return dbDir !== undefined && path.dirname(absPath) === dbDir && /\.sqlite(-wal|-shm|-journal)?$/.test(absPath);
}
