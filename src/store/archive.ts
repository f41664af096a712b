// Creating a snapshot: `tar -c` with root rights (the store is root-owned and partly unreadable
// to the runner user) piped into `zstd -T0` as the runner user, written into the runner-owned
// staging dir and hashed in the same pass. The DB is not taken from the tar: a live SQLite file
// copied while the daemon writes can be torn. Each `*.sqlite` of the DB dir is copied with
// SQLite's online backup API instead (a consistent read transaction; no need to stop the daemon
// in post, where stopping it could disturb a job's later steps), and the live files plus their
// -wal/-shm/-journal are excluded from the tar.
import fs from 'node:fs';
import path from 'node:path';
import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { isRoot, run } from '../exec.js';
import { DELTA_MAX_NEW_FRACTION, deltaDue, planDelta } from './delta.js';
import { type ArchiveRecord, type DbRecord, type SnapshotManifest, DELTA_FORMAT_VERSION, FORMAT, FORMAT_VERSION, isLiveDbFile, writeManifest } from './manifest.js';
import { HashTap, runPipeline, type Stage } from './pipeline.js';
import type { StoreKind } from './presets.js';
import { listStore, treeOrder, type StoreListing } from './listing.js';
import { autoShardCount, planShards, type ShardPlan } from './shards.js';

export const ARCHIVE_FILE = 'store.tar.zst';
export const DELTA_ARCHIVE_FILE = 'delta.tar.zst';

export interface CreateOptions {
  /** Where the store paths are (normally `/`). */
  root: string;
  kind: StoreKind;
  storePaths: readonly string[];
  dbDir?: string;
  toolVersion?: string;
  /** Empty runner-owned dir that becomes the cache entry. */
  snapshotDir: string;
  /** Runner-owned scratch dir for the uncompressed DB copies and shard lists. */
  scratchDir: string;
  /** Number of archives; 0 or unset = auto (one per core for a store big enough to gain from it). */
  shards?: number;
  /** The full snapshot main restored: a delta over it is written when few items are new. */
  base?: { key: string; bytes: number; items: ReadonlySet<string> };
}

export interface CreateResult {
  manifest: SnapshotManifest;
  dbMs: number;
  archiveMs: number;
  missing: string[];
  /** Set when a base was given: what the delta decision saw (whether or not a delta was written). */
  delta?: { written: boolean; items: number; newItems: number; reason: string };
}

/** Shared by every archive: numeric ids, exact pax metadata, nothing the restore host would map. */
const COMMON_TAR_ARGS = [
  // Numeric ids: the restoring host's user names may map to other ids.
  '--numeric-owner',
  // pax keeps long names and big sizes exactly; atime/ctime records would only make the
  // archive bigger and unreproducible.
  '--format=posix',
  '--pax-option=delete=atime,delete=ctime',
  // Snapshots hold no hard links (restore refuses them): a file with several names is stored
  // whole under each, so every item is self-contained.
  '--hard-dereference'
];

/** One archive of whole store paths, tar walking them itself: for stores whose names cannot be listed back to tar. */
function wholeTarArgs(opts: CreateOptions, present: string[]): string[] {
  return [
    '-c',
    '-f',
    '-',
    '-C',
    opts.root,
    ...COMMON_TAR_ARGS,
    // Tree order: every dir before what is in it, which restore requires.
    '--sort=name',
    '--anchored',
    '--wildcards',
    '--no-wildcards-match-slash',
    ...liveDbExcludes(opts.dbDir),
    // Dot-entries of a store dir (`.links`, a restore's private dir) are never archived.
    ...present.map((p) => `--exclude=${p.replace(/^\/+/, '')}/.*`),
    '--',
    ...present.map((p) => p.replace(/^\/+/, ''))
  ];
}

/** One shard: exactly the members listed (NUL-separated, already in name order), no recursion. */
function listTarArgs(opts: CreateOptions, listFile: string): string[] {
  // --verbatim-files-from: a listed name starting with '-' is a name, not an option.
  return ['-c', '-f', '-', '-C', opts.root, ...COMMON_TAR_ARGS, '--no-recursion', '--null', '--verbatim-files-from', '-T', listFile];
}

// --long=26 (a 64 MiB window): snapshots hold no hard links, so a file deduplicated through
// `.links` is archived once per name; the long window finds those copies again (a 405 MB
// mkstore store: 96 MB compressed with hard links, 210 MB dereferenced, 104 MB with --long=26).
// Restore decompresses with --memory=64MB, exactly this window.
export const ZSTD_WINDOW_LOG = 26;
const compress: Stage = { cmd: 'zstd', args: ['-T0', '-q', '-c', `--long=${ZSTD_WINDOW_LOG}`] };

/** One archive of exactly the members listed (in tree order), tar reading the list from a scratch file. */
async function listArchive(opts: CreateOptions, list: readonly string[], file: string, storePaths: string[], dataBytes: number): Promise<ArchiveRecord> {
  const listFile = path.join(opts.scratchDir, `${file}.list`);
  fs.writeFileSync(listFile, list.map((m) => `${m}\0`).join(''));
  try {
    const r = await pipeToFile([{ cmd: 'tar', args: listTarArgs(opts, listFile), privileged: true }, compress], path.join(opts.snapshotDir, file));
    return { file, ...r, compression: 'zstd', storePaths, dataBytes };
  } finally {
    fs.rmSync(listFile, { force: true });
  }
}

/** All shards at once: each is a tar (reading the disk) and a zstd (one core's worth). */
function writeShards(opts: CreateOptions, plan: ShardPlan): Promise<ArchiveRecord[]> {
  const storePaths = (list: string[]): string[] => opts.storePaths.filter((p) => list.some((m) => m === p.replace(/^\/+/, '')));
  return Promise.all(plan.lists.map((list, i) => listArchive(opts, list, `store-${i}.tar.zst`, storePaths(list), plan.dataBytes[i])));
}

/** The whole listed store as one archive, tar taking the listed members only. */
function oneList(listing: StoreListing): ShardPlan {
  const list = [...listing.shared];
  let dataBytes = 0;
  for (const item of listing.items.values()) {
    for (const e of item.entries) list.push(e.rel);
    dataBytes += item.dataBytes;
  }
  list.sort(treeOrder);
  return { lists: [list], dataBytes: [dataBytes] };
}

async function wholeArchive(opts: CreateOptions, present: string[]): Promise<ArchiveRecord> {
  const r = await pipeToFile([{ cmd: 'tar', args: wholeTarArgs(opts, present), privileged: true }, compress], path.join(opts.snapshotDir, ARCHIVE_FILE));
  return { file: ARCHIVE_FILE, ...r, compression: 'zstd', storePaths: present };
}

export function onDisk(root: string, abs: string): string {
  return path.join(root, abs);
}

/** Runs `stages` and writes the last stage's stdout to `dest`, hashing it on the way. */
export async function pipeToFile(stages: Stage[], dest: string): Promise<{ sha256: string; bytes: number }> {
  const tap = new HashTap();
  await runPipeline(stages, { consume: (out) => pipeline(out, tap, createWriteStream(dest, { flags: 'wx' })) });
  return { sha256: tap.digest(), bytes: tap.bytes };
}

/** The tar exclusion of the live DB files; the same shape manifest.isLiveDbFile recognises. */
export function liveDbExcludes(dbDir: string | undefined): string[] {
  if (!dbDir) return [];
  const rel = dbDir.replace(/^\/+/, '');
  return ['', '-wal', '-shm', '-journal'].map((s) => `--exclude=${rel}/*.sqlite${s}`);
}

async function listDbFiles(root: string, dbDir: string): Promise<string[]> {
  const dir = onDisk(root, dbDir);
  if (!fs.existsSync(dir)) return [];
  // The DB dir may be unreadable to the runner user.
  const r = await run('find', [dir, '-mindepth', '1', '-maxdepth', '1', '-type', 'f', '-name', '*.sqlite', '-printf', '%f\\n'], { privileged: true });
  return r.stdout.split('\n').filter((n) => /^[A-Za-z0-9][A-Za-z0-9._-]*\.sqlite$/.test(n)).sort();
}

async function snapshotDb(root: string, dbDir: string, name: string, opts: CreateOptions): Promise<DbRecord> {
  const live = onDisk(root, path.join(dbDir, name));
  const raw = path.join(opts.scratchDir, `${name}.backup`);
  // sqlite3 parses the dot-command argument itself; a quote or backslash would break it.
  if (/["\\\n]/.test(raw)) throw new Error(`staging path ${raw} contains a character sqlite3's .backup cannot take`);
  // -readonly: this must never change the live DB; .timeout: wait for a writing daemon's lock.
  await run('sqlite3', ['-bail', '-readonly', live], { privileged: true, input: `.timeout 60000\n.backup "${raw}"\n` });
  try {
    if (!isRoot()) await run('chown', [`${process.getuid?.() ?? 0}:${process.getgid?.() ?? 0}`, raw], { privileged: true });
    const file = `db/${name}.zst`;
    fs.mkdirSync(path.join(opts.snapshotDir, 'db'), { recursive: true });
    const { sha256, bytes } = await pipeToFile([{ cmd: 'zstd', args: ['-T0', '-q', '-c', raw] }], path.join(opts.snapshotDir, file));
    return { file, sha256, bytes, compression: 'zstd', path: path.join(dbDir, name) };
  } finally {
    fs.rmSync(raw, { force: true });
  }
}

/** Writes the snapshot (archive, DB copies, manifest) into opts.snapshotDir. */
export async function createSnapshot(opts: CreateOptions): Promise<CreateResult> {
  const present: string[] = [];
  const missing: string[] = [];
  for (const p of opts.storePaths) {
    const st = fs.lstatSync(onDisk(opts.root, p), { throwIfNoEntry: false });
    if (!st) missing.push(p);
    // A symlinked store path would be archived as the link, which restore then refuses.
    else if (!st.isDirectory()) throw new Error(`store path ${p} is ${st.isSymbolicLink() ? 'a symlink' : 'not a directory'}; give the real directory in store-paths`);
    else present.push(p);
  }
  if (present.length === 0) throw new Error(`none of the store paths exists (${opts.storePaths.join(', ')}): nothing to save`);

  const t0 = Date.now();
  const dbs: DbRecord[] = [];
  if (opts.dbDir && present.some((p) => opts.dbDir === p || opts.dbDir?.startsWith(`${p}/`)))
    for (const name of await listDbFiles(opts.root, opts.dbDir)) dbs.push(await snapshotDb(opts.root, opts.dbDir, name, opts));
  const t1 = Date.now();

  const count = opts.shards ? opts.shards : autoShardCount();
  // One walk of the store serves the delta decision, the shard split and the data sizes.
  const listing = await listStore(opts.root, present, (p) => isLiveDbFile(p, opts.dbDir));
  let archives: ArchiveRecord[] | undefined;
  let delta: CreateResult['delta'];
  if (opts.base) {
    const d = listing && planDelta(listing, opts.base.items);
    const counts = { items: d?.items ?? 0, newItems: d?.newItems.length ?? 0 };
    if (d && deltaDue(d)) {
      archives = [await listArchive(opts, d.list, DELTA_ARCHIVE_FILE, present, d.dataBytes)];
      delta = { written: true, ...counts, reason: '' };
    } else {
      const reason = !d
        ? 'the store layout cannot be listed member by member'
        : `${counts.newItems} of ${counts.items} items are new (a delta needs fewer than ${Math.round(100 * DELTA_MAX_NEW_FRACTION)}%)`;
      delta = { written: false, ...counts, reason };
    }
  }
  if (!archives) {
    const plan = listing && planShards(listing, count, !opts.shards);
    if (plan) archives = await writeShards(opts, plan);
    else if (listing) {
      const one = oneList(listing);
      archives = [await listArchive(opts, one.lists[0], ARCHIVE_FILE, present, one.dataBytes[0])];
    }
    else archives = [await wholeArchive(opts, present)];
  }
  const t2 = Date.now();

  const base = delta?.written && opts.base ? { key: opts.base.key, bytes: opts.base.bytes } : undefined;
  const manifest: SnapshotManifest = {
    format: FORMAT,
    version: base ? DELTA_FORMAT_VERSION : FORMAT_VERSION,
    kind: opts.kind,
    createdAt: new Date().toISOString(),
    ...(opts.toolVersion ? { toolVersion: opts.toolVersion } : {}),
    storePaths: present,
    archives,
    dbs,
    ...(base ? { base } : {})
  };
  writeManifest(opts.snapshotDir, manifest);
  return { manifest, dbMs: t1 - t0, archiveMs: t2 - t1, missing, ...(delta ? { delta } : {}) };
}
