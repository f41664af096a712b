// Store registrations as data. Save reads them from the live DB on the trusted side (read-only)
// and writes them into the snapshot as one JSON file; restore parses that file strictly, since
// it comes from a cache entry: every value is checked against the shapes the daemons write, so
// the SQL that db.ts builds from them can only ever insert well-formed rows. No SQLite file from
// a snapshot is ever opened.
import fs from 'node:fs';
import path from 'node:path';
import { type Readable } from 'node:stream';
import * as core from '@actions/core';
import { runPipeline } from './pipeline.js';

export const REGISTRATIONS_FILE = 'registrations.json.zst';
export const REGISTRATIONS_FORMAT = 'runbox-registrations';
export const REGISTRATIONS_VERSION = 1;

/**
 * Bounds on what restore reads. A real store is far below them (a big Nix store has some 10^5
 * paths with a few hundred bytes of registration each); they exist so that a hostile file is a
 * refusal, not an out-of-memory crash of main while the daemon is stopped.
 */
export const LIMITS = {
  /** Compressed file, as the manifest records it. */
  fileBytes: 64 * 1024 * 1024,
  /** Decompressed JSON. */
  jsonBytes: 128 * 1024 * 1024,
  paths: 200_000,
  refsPerPath: 20_000,
  refsTotal: 4_000_000,
  outputsPerDrv: 256,
  sigsChars: 8192
} as const;

export interface DrvOutput {
  /** Output id, usually `out`. */
  id: string;
  path: string;
}

export interface Registration {
  path: string;
  /** `sha256:<64 hex>` (what Nix 2.x and Guix write) or `sha256:<52 nix-base32>` (older Nix). */
  hash: string;
  registrationTime: number;
  narSize: number | null;
  deriver: string | null;
  /** Nix only; recorded, never restored (a restored item was not built on this host). */
  ultimate?: boolean;
  /** Nix only: space-separated `keyname:base64` signatures, checked by whoever uses them. */
  sigs?: string;
  /** Nix only: content-address claim, which Nix checks against the store path itself. */
  ca?: string;
  references: string[];
  /** DerivationOutputs rows of a `.drv` path. */
  outputs: DrvOutput[];
}

export interface RegistrationSet {
  storeDir: string;
  paths: Registration[];
  /**
   * Read from the live DB only, never serialized: each path's ValidPaths.id, which grows with
   * every registration. registrationTime is in whole seconds and many paths share one; the id
   * orders them (shards.ts registrationRank).
   */
  rowIds?: ReadonlyMap<string, number>;
}

export class RegistrationsError extends Error {
  constructor(message: string) {
    super(`snapshot registrations: ${message}`);
    this.name = 'RegistrationsError';
  }
}

const NAME = /^[A-Za-z0-9+_?=-][A-Za-z0-9+._?=-]{0,210}$/;
const HASH_PART = /^[0-9a-df-np-sv-z]{32}$/;
const OUTPUT_ID = /^[A-Za-z0-9+._?=-]{1,211}$/;
const SIGS = /^[A-Za-z0-9+/=:._-]+( [A-Za-z0-9+/=:._-]+)*$/;
const CA = /^(text:sha256|fixed:(?:r:)?(md5|sha1|sha256|sha512)):([0-9a-df-np-sv-z]+)$/;
const NIX32 = '0123456789abcdfghijklmnpqrsvwxyz';
const DIGEST_BYTES: Record<string, number> = { md5: 16, sha1: 20, sha256: 32, sha512: 64 };

/**
 * A nix-base32 digest of `bytes` bytes as the daemons parse it: exactly the length of that
 * digest, and the bits beyond it (the top of the first character) zero. Nix refuses any other
 * string ("invalid base-32 hash", "wrong length") when it reads the row, and a row it cannot
 * read stops `nix-store --gc` for the whole store.
 */
function isNix32(s: string, bytes: number): boolean {
  const len = Math.ceil((bytes * 8) / 5);
  if (s.length !== len || ![...s].every((c) => NIX32.includes(c))) return false;
  return NIX32.indexOf(s[0]) < 2 ** (5 - (len * 5 - bytes * 8));
}

function isNarHash(h: unknown): h is string {
  if (typeof h !== 'string' || !h.startsWith('sha256:')) return false;
  const d = h.slice('sha256:'.length);
  return /^[0-9a-f]{64}$/.test(d) || isNix32(d, 32);
}

function isContentAddress(ca: string): boolean {
  const m = CA.exec(ca);
  return m !== null && isNix32(m[3], DIGEST_BYTES[m[2] ?? 'sha256']);
}
/** Seconds since the epoch; 2^40 is far in the future and keeps SQLite integers exact. */
const MAX_TIME = 2 ** 40;

/**
 * A store path: `<storeDir>/<32 chars of nix-base32>-<name>`. The name's first character may
 * not be a dot (no `.links`, no `..`), as Nix itself refuses.
 */
export function isStorePath(p: unknown, storeDir: string): p is string {
  if (typeof p !== 'string' || !p.startsWith(`${storeDir}/`)) return false;
  const base = p.slice(storeDir.length + 1);
  return base.length > 33 && HASH_PART.test(base.slice(0, 32)) && base[32] === '-' && NAME.test(base.slice(33));
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function shown(v: unknown): string {
  const s = typeof v === 'string' ? v : (JSON.stringify(v) ?? String(v));
  // Values come from a cache entry: never log them raw (a line starting `::` is a runner command).
  return JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}...` : s);
}

const KEYS = new Set(['path', 'hash', 'registrationTime', 'narSize', 'deriver', 'ultimate', 'sigs', 'ca', 'references', 'outputs']);

/** One record, checked; throws naming the record and field. */
export function checkRegistration(v: unknown, storeDir: string, what: string): Registration {
  if (!isObject(v)) throw new RegistrationsError(`${what} is not an object`);
  for (const k of Object.keys(v)) if (!KEYS.has(k)) throw new RegistrationsError(`${what} has an unknown field ${shown(k)}`);
  const { path: p, hash, registrationTime, narSize, deriver, ultimate, sigs, ca, references, outputs } = v;
  if (!isStorePath(p, storeDir)) throw new RegistrationsError(`${what}.path ${shown(p)} is not a store path in ${storeDir}`);
  if (!isNarHash(hash)) throw new RegistrationsError(`${what}.hash ${shown(hash)} is not a sha256 hash`);
  if (typeof registrationTime !== 'number' || !Number.isSafeInteger(registrationTime) || registrationTime < 0 || registrationTime >= MAX_TIME)
    throw new RegistrationsError(`${what}.registrationTime ${shown(registrationTime)} is not a time`);
  if (narSize !== null && (typeof narSize !== 'number' || !Number.isSafeInteger(narSize) || narSize < 0)) throw new RegistrationsError(`${what}.narSize ${shown(narSize)} is not a size`);
  if (deriver !== null && !(isStorePath(deriver, storeDir) && deriver.endsWith('.drv'))) throw new RegistrationsError(`${what}.deriver ${shown(deriver)} is not a .drv store path`);
  if (ultimate !== undefined && typeof ultimate !== 'boolean') throw new RegistrationsError(`${what}.ultimate is not a boolean`);
  if (sigs !== undefined && (typeof sigs !== 'string' || sigs.length > LIMITS.sigsChars || !SIGS.test(sigs))) throw new RegistrationsError(`${what}.sigs ${shown(sigs)} are not signatures`);
  if (ca !== undefined && (typeof ca !== 'string' || !isContentAddress(ca))) throw new RegistrationsError(`${what}.ca ${shown(ca)} is not a content address`);
  if (!Array.isArray(references) || references.length > LIMITS.refsPerPath) throw new RegistrationsError(`${what}.references is not a list of at most ${LIMITS.refsPerPath}`);
  for (const r of references) if (!isStorePath(r, storeDir)) throw new RegistrationsError(`${what}.references has ${shown(r)}, not a store path in ${storeDir}`);
  if (new Set(references).size !== references.length) throw new RegistrationsError(`${what}.references lists a path twice`);
  if (!Array.isArray(outputs) || outputs.length > LIMITS.outputsPerDrv) throw new RegistrationsError(`${what}.outputs is not a list of at most ${LIMITS.outputsPerDrv}`);
  if (outputs.length > 0 && !p.endsWith('.drv')) throw new RegistrationsError(`${what} has outputs but is not a .drv`);
  const ids = new Set<string>();
  const outs = outputs.map((o: unknown, i: number): DrvOutput => {
    if (!isObject(o) || Object.keys(o).some((k) => k !== 'id' && k !== 'path')) throw new RegistrationsError(`${what}.outputs[${i}] is not {id, path}`);
    if (typeof o.id !== 'string' || !OUTPUT_ID.test(o.id) || ids.has(o.id)) throw new RegistrationsError(`${what}.outputs[${i}].id ${shown(o.id)} is not an output id (or a repeated one)`);
    if (!isStorePath(o.path, storeDir)) throw new RegistrationsError(`${what}.outputs[${i}].path ${shown(o.path)} is not a store path in ${storeDir}`);
    ids.add(o.id);
    return { id: o.id, path: o.path };
  });
  return {
    path: p,
    hash,
    registrationTime,
    narSize,
    deriver,
    ...(ultimate !== undefined ? { ultimate } : {}),
    ...(sigs !== undefined ? { sigs } : {}),
    ...(ca !== undefined ? { ca } : {}),
    references: references as string[],
    outputs: outs
  };
}

/** Parses a registrations document (already bounded in size) for the configured store dir. */
export function parseRegistrations(text: string, storeDir: string): RegistrationSet {
  if (text.length > LIMITS.jsonBytes) throw new RegistrationsError(`the file is over ${LIMITS.jsonBytes} bytes`);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new RegistrationsError(`not JSON: ${(e as Error).message.slice(0, 200)}`);
  }
  if (!isObject(raw) || raw.format !== REGISTRATIONS_FORMAT || raw.version !== REGISTRATIONS_VERSION) throw new RegistrationsError(`not a version ${REGISTRATIONS_VERSION} registrations file`);
  for (const k of Object.keys(raw)) if (!['format', 'version', 'storeDir', 'paths'].includes(k)) throw new RegistrationsError(`unknown field ${shown(k)}`);
  if (raw.storeDir !== storeDir) throw new RegistrationsError(`it is for the store dir ${shown(raw.storeDir)}, this step restores ${storeDir}`);
  if (!Array.isArray(raw.paths)) throw new RegistrationsError('paths is not a list');
  if (raw.paths.length > LIMITS.paths) throw new RegistrationsError(`${raw.paths.length} paths, more than the ${LIMITS.paths} allowed`);
  let refs = 0;
  const seen = new Set<string>();
  const paths = raw.paths.map((v: unknown, i: number) => {
    const r = checkRegistration(v, storeDir, `paths[${i}]`);
    if (seen.has(r.path)) throw new RegistrationsError(`paths[${i}] registers ${shown(r.path)} twice`);
    seen.add(r.path);
    refs += r.references.length;
    if (refs > LIMITS.refsTotal) throw new RegistrationsError(`more than ${LIMITS.refsTotal} references in all`);
    return r;
  });
  return { storeDir, paths };
}

export function serializeRegistrations(set: RegistrationSet): string {
  return JSON.stringify({ format: REGISTRATIONS_FORMAT, version: REGISTRATIONS_VERSION, storeDir: set.storeDir, paths: set.paths });
}

/** Decompresses a verified registrations file, refusing it past LIMITS.jsonBytes, and parses it. */
export async function readRegistrationsFile(file: string, storeDir: string): Promise<RegistrationSet> {
  const size = fs.statSync(file).size;
  if (size > LIMITS.fileBytes) throw new RegistrationsError(`the file is ${size} bytes, over the ${LIMITS.fileBytes} allowed`);
  const chunks: Buffer[] = [];
  let bytes = 0;
  const consume = async (out: Readable): Promise<void> => {
    for await (const chunk of out as AsyncIterable<Buffer>) {
      bytes += chunk.length;
      // Stop reading (runPipeline kills zstd) before a hostile stream fills memory.
      if (bytes > LIMITS.jsonBytes) throw new RegistrationsError(`the file decompresses to more than ${LIMITS.jsonBytes} bytes`);
      chunks.push(chunk);
    }
  };
  await runPipeline([{ cmd: 'zstd', args: ['-d', '-q', '-c', '--', file] }], { consume });
  const buf = Buffer.concat(chunks);
  const text = buf.toString('utf8');
  if (!Buffer.from(text, 'utf8').equals(buf)) throw new RegistrationsError('the file is not valid UTF-8');
  return parseRegistrations(text, storeDir);
}

interface PathRow {
  id: number;
  path: string;
  hash: string;
  registrationTime: number;
  narSize: number | null;
  deriver: string | null;
  ultimate?: number | null;
  sigs?: string | null;
  ca?: string | null;
}

/** sqlite3 -json output of a read-only query on the live DB, streamed to a scratch file (it may be large). */
export async function queryLive<T>(db: string, sql: string, scratch: string): Promise<T[]> {
  const out = fs.openSync(scratch, 'wx', 0o600);
  try {
    await runPipeline([{ cmd: 'sqlite3', args: ['-safe', '-bail', '-readonly', '-json', '-cmd', '.timeout 60000', db, sql], privileged: true }], {
      consume: async (stdout) => {
        for await (const chunk of stdout as AsyncIterable<Buffer>) fs.writeSync(out, chunk);
      }
    });
  } finally {
    fs.closeSync(out);
  }
  try {
    const text = fs.readFileSync(scratch, 'utf8').trim();
    return text === '' ? [] : (JSON.parse(text) as T[]);
  } finally {
    fs.rmSync(scratch, { force: true });
  }
}

function sqlString(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

/**
 * The registrations of every valid path directly in `storeDir`, read from the live DB (root's,
 * read-only, in one read transaction per query while the daemon may run). Rows that restore
 * would refuse are left out with a warning, so a snapshot only carries what a restore accepts.
 * `keep` narrows the set (a delta records only the items its base lacks).
 */
export async function readLiveRegistrations(liveDb: string, storeDir: string, scratchDir: string, keep?: (p: string) => boolean): Promise<RegistrationSet> {
  const scratch = (n: string): string => path.join(scratchDir, `registrations-${n}.json`);
  // The queries of each round side by side: a sqlite3 start is most of what each costs (a save
  // waits for these before its first tar), and every query is its own read transaction anyway.
  const [colRows, tableRows] = await Promise.all([
    queryLive<{ name: string }>(liveDb, "SELECT name FROM pragma_table_info('ValidPaths')", scratch('cols')),
    queryLive<{ name: string }>(liveDb, "SELECT name FROM sqlite_master WHERE type = 'table'", scratch('tables'))
  ]);
  const cols = new Set(colRows.map((c) => c.name));
  const tables = new Set(tableRows.map((t) => t.name));
  for (const t of ['ValidPaths', 'Refs']) if (!tables.has(t)) throw new Error(`the live DB ${liveDb} has no ${t} table`);
  const extra = ['ultimate', 'sigs', 'ca'].filter((c) => cols.has(c));
  const inStore = (col: string): string => `substr(${col}, 1, ${storeDir.length + 1}) = ${sqlString(`${storeDir}/`)}`;
  const [rows, refs, outs] = await Promise.all([
    queryLive<PathRow>(
      liveDb,
      `SELECT id, path, hash, registrationTime, narSize, deriver${extra.map((c) => `, ${c}`).join('')} FROM ValidPaths WHERE ${inStore('path')} ORDER BY path`,
      scratch('paths')
    ),
    queryLive<{ a: string; b: string }>(
      liveDb,
      `SELECT x.path AS a, y.path AS b FROM Refs r JOIN ValidPaths x ON x.id = r.referrer JOIN ValidPaths y ON y.id = r.reference WHERE ${inStore('x.path')} ORDER BY 1, 2`,
      scratch('refs')
    ),
    tables.has('DerivationOutputs')
      ? queryLive<{ drv: string; id: string; path: string }>(
          liveDb,
          `SELECT v.path AS drv, d.id AS id, d.path AS path FROM DerivationOutputs d JOIN ValidPaths v ON v.id = d.drv WHERE ${inStore('v.path')} ORDER BY 1, 2`,
          scratch('outputs')
        )
      : []
  ]);
  const refsOf = new Map<string, string[]>();
  for (const r of refs) refsOf.set(r.a, [...(refsOf.get(r.a) ?? []), r.b]);
  const outsOf = new Map<string, DrvOutput[]>();
  for (const o of outs) outsOf.set(o.drv, [...(outsOf.get(o.drv) ?? []), { id: o.id, path: o.path }]);
  const paths: Registration[] = [];
  const rowIds = new Map<string, number>();
  let dropped = 0;
  for (const row of rows) {
    if (keep && !keep(row.path)) continue;
    // Direct children only: the query's prefix also matches deeper paths, which no DB holds.
    if (row.path.slice(storeDir.length + 1).includes('/')) continue;
    const rec: Record<string, unknown> = {
      path: row.path,
      hash: row.hash,
      registrationTime: row.registrationTime,
      narSize: row.narSize ?? null,
      deriver: row.deriver === '' ? null : (row.deriver ?? null),
      references: refsOf.get(row.path) ?? [],
      outputs: outsOf.get(row.path) ?? []
    };
    if (row.ultimate !== undefined && row.ultimate !== null) rec.ultimate = row.ultimate !== 0;
    if (typeof row.sigs === 'string' && row.sigs !== '') rec.sigs = row.sigs;
    if (typeof row.ca === 'string' && row.ca !== '') rec.ca = row.ca;
    try {
      paths.push(checkRegistration(rec, storeDir, row.path));
      if (Number.isSafeInteger(row.id)) rowIds.set(row.path, row.id);
    } catch (e) {
      // A handful named, the rest counted: a DB with many odd rows must not flood the log.
      if (++dropped <= 5) core.warning(`runbox store: the registration of ${JSON.stringify(row.path)} is left out of the snapshot (a restore would refuse it): ${(e as Error).message}`);
    }
  }
  if (paths.length > LIMITS.paths) throw new Error(`the live DB registers ${paths.length} paths, more than the ${LIMITS.paths} a snapshot may carry`);
  if (dropped > 5) core.warning(`runbox store: ${dropped} registrations in all are left out of the snapshot`);
  return { storeDir, paths, rowIds };
}
