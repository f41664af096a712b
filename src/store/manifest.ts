// The snapshot format: a dir (the one path handed to @actions/cache) holding manifest.json, the
// store archive(s) and the registrations of the saved items (data read from the live DB, see
// registrations.ts; never a DB file). The manifest records a sha256 per file, taken while
// writing, so restore can prove the download intact before anything touches the store.
// It is versioned: a reader refuses any version it does not know (a miss, not a guess), and
// `archives` is a list so later versions can shard the store or add deltas.
import fs from 'node:fs';
import path from 'node:path';
import type { StoreKind } from './presets.js';
import { keyProblem } from './config.js';
import { MTIME, type DirTime } from './listing.js';
import { LIMITS, REGISTRATIONS_FILE } from './registrations.js';
import { isDaemonLockName } from './members.js';
import { escapedText, shown } from '../common/untrusted-text.js';

export const MANIFEST_FILE = 'manifest.json';
/** Archives one snapshot (a delta's base and the delta together, too) may hold. */
export const MAX_ARCHIVES = 128;
/** A manifest bigger than this is not read (it holds item names and link anchors, well below). */
export const MAX_MANIFEST_BYTES = 256 * 2 ** 20;
/** Top-level items all the archives of one manifest may list together. */
export const MAX_ITEMS = 1_000_000;
export const FORMAT = 'runbox-store-snapshot';
/**
 * A full snapshot. 3: registrations as data; versions 1 and 2 carried SQLite DB copies, which
 * this runbox refuses to read (a miss).
 */
export const FORMAT_VERSION = 3;
/**
 * A delta: only the items its base (a full snapshot, named by key) lacks, plus the DB. A new
 * version rather than an optional field, so a runbox that only reads version 1 refuses a delta
 * cleanly (a miss) instead of taking it for a whole store.
 */
export const DELTA_FORMAT_VERSION = 4;

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
   * restore enforces while reading (an archive holding more is refused). Required: a manifest
   * without it is refused. */
  dataBytes: number;
  /**
   * Link anchors: the paths (relative, as in the archive; sorted) of the regular files that are
   * the first name of a file with further names in this archive, i.e. what its hard-link members
   * point at. Restore writes such a file into its private dir even when its item is already in
   * the store, so a new item's link to it still lands (see private-extract.ts). A hint only:
   * absent, the restore drops new items linking into items on disk.
   */
  linkTargets?: string[];
  /**
   * The top-level store items (absolute, `/gnu/store/<name>`) this archive holds: what a partial
   * restore decides by (an archive none of whose items the store lacks is not fetched). Unique
   * across the snapshot's archives; an archive found to hold an item it does not list, or to
   * miss one it lists, refuses the snapshot. Absent: unknown, the archive is always fetched.
   */
  items?: string[];
}

/** More link anchors than one archive may list: a bound on the manifest a restore reads. */
export const MAX_LINK_TARGETS = 1_000_000;

/**
 * Bounds on the manifest's JSON, checked on its bytes before JSON.parse: the parser's time and
 * memory grow with the number of values, not the bytes (24 MB of `{},{},...` took node 12 s and
 * 0.7 GB, 180 MB over two minutes, holding the host's restore lock). A real manifest has a few objects per archive and
 * at most MAX_LINK_TARGETS link anchors per archive.
 */
export const MANIFEST_LIMITS = { bytes: MAX_MANIFEST_BYTES, containers: 8192, values: 4 * MAX_LINK_TARGETS } as const;

export interface RegistrationsRecord extends FileRecord {
  compression: 'zstd';
  /** How many paths it registers (for the report; restore counts them again). */
  paths: number;
}

export interface BaseRecord {
  /** Cache key of the full snapshot this delta adds to. */
  key: string;
  /** Its compressed size, for the report. */
  bytes?: number;
}

export interface SnapshotManifest {
  format: typeof FORMAT;
  /** 3: full; 4: delta (then `base` is set). */
  version: typeof FORMAT_VERSION | typeof DELTA_FORMAT_VERSION;
  kind: StoreKind;
  createdAt: string;
  toolVersion?: string;
  storePaths: string[];
  archives: ArchiveRecord[];
  /** Written by earlier versions for sharded snapshots; still checked, no longer applied (restore
   * makes the store dirs itself, never from a snapshot's metadata). */
  dirTimes?: DirTime[];
  /** The saved items' registrations; absent when no DB dir is configured. */
  registrations?: RegistrationsRecord;
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

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function fileRecord(v: unknown, what: string): FileRecord {
  if (!isObject(v)) throw new ManifestError(`${what} is not an object`);
  const { file, sha256, bytes } = v;
  if (typeof file !== 'string' || !FILE.test(file)) throw new ManifestError(`${what}.file ${shown(file)} is not a plain file name`);
  if (typeof sha256 !== 'string' || !SHA.test(sha256)) throw new ManifestError(`${what}.sha256 is not a sha256`);
  if (typeof bytes !== 'number' || !Number.isSafeInteger(bytes) || bytes < 0) throw new ManifestError(`${what}.bytes is not a size`);
  if (v.compression !== 'zstd') throw new ManifestError(`${what}.compression ${shown(v.compression)} is not understood`);
  return { file, sha256, bytes };
}

function stringList(v: unknown, what: string): string[] {
  if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) throw new ManifestError(`${what} is not a list of strings`);
  return v;
}

/**
 * Parses and checks a manifest against what this restore expects: same format version, same
 * store kind, store paths and DB files only within the configured ones. Files it names must be
 * plain files in the snapshot dir (a symlink there could point a root reader elsewhere).
 */
export function readManifest(
  dir: string,
  expect: { kind: StoreKind; storePaths: readonly string[]; dbDir?: string },
  sizeOf: (name: string) => number | undefined = (name) => {
    const st = fs.lstatSync(path.join(dir, name), { throwIfNoEntry: false });
    return st?.isFile() ? st.size : undefined;
  }
): SnapshotManifest {
  const raw = readManifestJson(dir);
  if (!isObject(raw) || raw.format !== FORMAT) throw new ManifestError('not a runbox store snapshot');
  if (raw.version !== FORMAT_VERSION && raw.version !== DELTA_FORMAT_VERSION)
    throw new ManifestError(`format version ${escapedText(raw.version)} is not understood by this runbox (it reads versions ${FORMAT_VERSION} and ${DELTA_FORMAT_VERSION})`);
  const base = readBase(raw.base, raw.version);
  if (raw.kind !== expect.kind) throw new ManifestError(`it is a ${escapedText(raw.kind)} snapshot, this step restores ${expect.kind}`);
  const storePaths = stringList(raw.storePaths, 'storePaths');
  for (const p of storePaths) if (!expect.storePaths.includes(p)) throw new ManifestError(`store path ${shown(p)} is not among store-paths (${expect.storePaths.join(', ')})`);
  if (!Array.isArray(raw.archives) || raw.archives.length === 0) throw new ManifestError('no archives');
  // Each archive costs a zstd and a tar at restore; runbox itself writes at most MAX_SHARDS.
  if (raw.archives.length > MAX_ARCHIVES) throw new ManifestError(`it lists ${raw.archives.length} archives, more than the ${MAX_ARCHIVES} a snapshot may hold`);
  const seenItems = new Set<string>();
  const archives = raw.archives.map((a: unknown, i: number): ArchiveRecord => {
    const rec = fileRecord(a, `archives[${i}]`);
    const paths = stringList((a as Record<string, unknown>).storePaths, `archives[${i}].storePaths`);
    for (const p of paths) if (!storePaths.includes(p)) throw new ManifestError(`archives[${i}] holds ${shown(p)}, which the manifest does not list`);
    const dataBytes = (a as Record<string, unknown>).dataBytes;
    // Required: the free-space check and the bound while extracting both go by it.
    if (typeof dataBytes !== 'number' || !Number.isSafeInteger(dataBytes) || dataBytes < 0) throw new ManifestError(`archives[${i}].dataBytes is missing or not a size`);
    const linkTargets = readLinkTargets((a as Record<string, unknown>).linkTargets, paths, `archives[${i}].linkTargets`);
    const items = readItems((a as Record<string, unknown>).items, paths, `archives[${i}].items`, seenItems);
    return { ...rec, compression: 'zstd', storePaths: paths, dataBytes, ...(linkTargets ? { linkTargets } : {}), ...(items ? { items } : {}) };
  });
  const registrations = readRegistrationsRecord(raw.registrations);
  const dirTimes = readDirTimes(raw.dirTimes, storePaths);
  const files: FileRecord[] = [...archives, ...(registrations ? [registrations] : [])];
  const names = files.map((r) => r.file);
  if (new Set(names).size !== names.length) throw new ManifestError('a file is listed twice');
  for (const name of names) {
    const size = sizeOf(name);
    if (size === undefined) throw new ManifestError(`${name} is missing or not a regular file`);
    if (size !== files.find((r) => r.file === name)?.bytes) throw new ManifestError(`${name} is ${size} bytes, the manifest says otherwise (truncated download?)`);
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
    ...(registrations ? { registrations } : {}),
    ...(base ? { base } : {})
  };
}

/**
 * At most MAX_LINK_TARGETS strings, each a normalised relative path (no leading or trailing
 * `/`, no empty, `.` or `..` component, no NUL) strictly inside one of the archive's store
 * paths. Attacker-controlled like the rest: restore only ever uses it to decide which checked
 * file members of items already in the store to write into its private dir.
 */
function readLinkTargets(v: unknown, storePaths: readonly string[], what: string): string[] | undefined {
  if (v === undefined) return undefined;
  if (!Array.isArray(v)) throw new ManifestError(`${what} is not a list`);
  if (v.length > MAX_LINK_TARGETS) throw new ManifestError(`${what} lists ${v.length} paths, more than the ${MAX_LINK_TARGETS} an archive may`);
  const roots = storePaths.map((p) => p.replace(/^\/+/, ''));
  v.forEach((p: unknown, j: number) => {
    if (typeof p !== 'string') throw new ManifestError(`${what}[${j}] is not a string`);
    const normal = p !== '' && !p.includes('\0') && p.split('/').every((c) => c !== '' && c !== '.' && c !== '..');
    if (!normal) throw new ManifestError(`${what}[${j}] '${escapedText(p)}' is not a normalised relative path`);
    if (!roots.some((r) => p.startsWith(`${r}/`))) throw new ManifestError(`${what}[${j}] '${escapedText(p)}' is not inside the archive's store paths`);
  });
  return v as string[];
}

/**
 * At most MAX_ITEMS names over the whole manifest (`seen` carries them across archives, and a
 * delta's check carries its base's), each `<store path>/<name>` for one of the archive's store
 * paths, with a name a restore would take as a top-level item (no `/`, no NUL, not `.`-led, not a
 * daemon lock file name, at most 255 bytes), none listed twice anywhere.
 */
export function readItems(v: unknown, storePaths: readonly string[], what: string, seen: Set<string>): string[] | undefined {
  if (v === undefined) return undefined;
  if (!Array.isArray(v)) throw new ManifestError(`${what} is not a list`);
  if (seen.size + v.length > MAX_ITEMS) throw new ManifestError(`${what}: the manifest lists more than the ${MAX_ITEMS} items a snapshot may`);
  v.forEach((p: unknown, j: number) => {
    if (typeof p !== 'string') throw new ManifestError(`${what}[${j}] is not a string`);
    const sp = storePaths.find((r) => p.startsWith(`${r}/`));
    const name = sp === undefined ? '' : p.slice(sp.length + 1);
    const ok = name !== '' && Buffer.byteLength(name) <= 255 && !/[/\0]/.test(name) && !name.startsWith('.') && !isDaemonLockName(name);
    if (!ok) throw new ManifestError(`${what}[${j}] ${shown(p.slice(0, 300))} is not a store item directly in one of the archive's store paths`);
    if (seen.has(p)) throw new ManifestError(`${what}[${j}] ${shown(p)} is listed twice (items are unique across a snapshot's archives)`);
    seen.add(p);
  });
  return v as string[];
}

/** Only the one file name save writes, and no bigger than a restore will read. */
function readRegistrationsRecord(v: unknown): RegistrationsRecord | undefined {
  if (v === undefined) return undefined;
  const rec = fileRecord(v, 'registrations');
  if (rec.file !== REGISTRATIONS_FILE) throw new ManifestError(`registrations.file ${shown(rec.file)} is not ${REGISTRATIONS_FILE}`);
  if (rec.bytes > LIMITS.fileBytes) throw new ManifestError(`registrations is ${rec.bytes} bytes, over the ${LIMITS.fileBytes} a restore reads`);
  const { paths } = v as Record<string, unknown>;
  if (typeof paths !== 'number' || !Number.isSafeInteger(paths) || paths < 0 || paths > LIMITS.paths) throw new ManifestError('registrations.paths is not a count');
  return { ...rec, compression: 'zstd', paths };
}

/** A full snapshot has no base; a delta must have one, named by a usable cache key. */
function readBase(v: unknown, version: unknown): BaseRecord | undefined {
  if (version === FORMAT_VERSION) {
    if (v !== undefined) throw new ManifestError(`a version ${FORMAT_VERSION} (full) snapshot cannot name a base`);
    return undefined;
  }
  if (!isObject(v)) throw new ManifestError(`a delta snapshot (version ${DELTA_FORMAT_VERSION}) names no base`);
  const { key, bytes } = v;
  if (typeof key !== 'string' || key === '') throw new ManifestError('base.key is not a non-empty string');
  const problem = keyProblem(key);
  if (problem) throw new ManifestError(`base.key ${shown(key, 80)} is not a cache key: ${problem}`);
  if (bytes !== undefined && (typeof bytes !== 'number' || !Number.isSafeInteger(bytes) || bytes < 0)) throw new ManifestError('base.bytes is not a size');
  return { key, ...(typeof bytes === 'number' ? { bytes } : {}) };
}

/** The base key a downloaded snapshot names, read before it is verified (to fetch the base); undefined for a full one. */
export function peekBaseKey(dir: string): string | undefined {
  try {
    const raw = readManifestJson(dir);
    if (!isObject(raw) || raw.version !== DELTA_FORMAT_VERSION || !isObject(raw.base)) return undefined;
    return typeof raw.base.key === 'string' ? raw.base.key : undefined;
  } catch {
    return undefined; // readManifest says why, later
  }
}

/**
 * The manifest's JSON, parsed only once its bytes are within MANIFEST_LIMITS: its size, and the
 * objects/arrays and values (commas) outside strings, counted in one pass over the bytes.
 */
function readManifestJson(dir: string): unknown {
  const file = path.join(dir, MANIFEST_FILE);
  let bytes: Buffer;
  try {
    const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    try {
      const size = fs.fstatSync(fd).size;
      if (size > MANIFEST_LIMITS.bytes) throw new ManifestError(`${MANIFEST_FILE} is ${size} bytes, more than the ${MANIFEST_LIMITS.bytes} a manifest may be`);
      bytes = fs.readFileSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch (e) {
    if (e instanceof ManifestError) throw e;
    throw new ManifestError(`cannot read ${file}: ${(e as Error).message}`);
  }
  let containers = 0;
  let values = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (inString) {
      if (b === 0x5c) i++;
      else if (b === 0x22) inString = false;
    } else if (b === 0x22) inString = true;
    else if (b === 0x7b || b === 0x5b) containers++;
    else if (b === 0x2c) values++;
  }
  if (containers > MANIFEST_LIMITS.containers) throw new ManifestError(`${MANIFEST_FILE} holds more than the ${MANIFEST_LIMITS.containers} objects and lists a manifest may hold`);
  if (values > MANIFEST_LIMITS.values) throw new ManifestError(`${MANIFEST_FILE} holds more than the ${MANIFEST_LIMITS.values} values a manifest may hold`);
  try {
    return JSON.parse(bytes.toString('utf8')) as unknown;
  } catch (e) {
    throw new ManifestError(`cannot read ${file}: ${(e as Error).message}`);
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
    const ok = typeof p === 'string' && (storePaths.includes(p) || (storePaths.includes(path.dirname(p)) && /^\.[A-Za-z0-9._-]*$/.test(path.basename(p)) && !/^\.\.?$/.test(path.basename(p))));
    if (!ok) throw new ManifestError(`dirTimes[${i}].path ${shown(p)} is neither a store path nor a dot-dir directly in one`);
    return { path: p, mtime };
  });
}

/** Compressed bytes of the files a manifest lists (archives and registrations). */
export function manifestBytes(m: SnapshotManifest): number {
  return m.archives.reduce((n, a) => n + a.bytes, 0) + (m.registrations?.bytes ?? 0);
}

/** The manifest file's bytes. */
export function encodeManifest(m: SnapshotManifest): Buffer {
  return Buffer.from(`${JSON.stringify(m, null, 2)}\n`, 'utf8');
}

export function writeManifest(dir: string, m: SnapshotManifest): void {
  fs.writeFileSync(path.join(dir, MANIFEST_FILE), encodeManifest(m));
}

/**
 * The member rule for the DB dir: nothing of it ever comes from an archive, not the DB files and
 * journals, and no other file either (a `schema` file a fresh host lacks would set the version
 * the daemon migrates its DB from). Save never archives it; restore refuses any member in it.
 */
export function isLiveDbFile(absPath: string, dbDir: string | undefined): boolean {
  return inDbDir(absPath, dbDir);
}

/** The DB dir itself or anything in it: never archived (the registrations carry what the DB knows). */
export function inDbDir(absPath: string, dbDir: string | undefined): boolean {
  return dbDir !== undefined && (absPath === dbDir || absPath.startsWith(`${dbDir}/`));
}
