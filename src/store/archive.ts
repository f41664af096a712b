// Creating a snapshot: `tar -c` with root rights (the store is root-owned and partly unreadable
// to the runner user) piped into `zstd` as the runner user, each archive handed to a sink as it
// is made: straight into the cache upload (entry/writer.ts EntryStream, what save does: no copy
// of the snapshot on disk), or into files of a dir (SnapshotSink.dir, for tests and tools). The DB dir is never archived: what the DB knows about
// the saved items is read from the live DB as data (registrations.ts), in one read transaction
// per query, while the daemon may run (stopping it in post could disturb a job's later steps).
import fs from 'node:fs';
import path from 'node:path';
import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { run } from '../sys/exec.js';
import { DELTA_MAX_NEW_FRACTION, deltaDue, planDelta } from './delta.js';
import {
  type ArchiveRecord,
  type RegistrationsRecord,
  type SnapshotManifest,
  DELTA_FORMAT_VERSION,
  FORMAT,
  FORMAT_VERSION,
  encodeManifest,
  inDbDir,
  MANIFEST_FILE,
  MAX_LINK_TARGETS
} from './manifest.js';
import { HandOff, HashTap, runPipeline, type Stage } from './pipeline.js';
import { PRESETS, type StoreKind } from './presets.js';
import { readLiveRegistrations, REGISTRATIONS_FILE, serializeRegistrations, type RegistrationSet } from './registrations.js';
import { DB_FILE } from './db.js';
import { entriesByRel, linkTargetsOf, listStore, type Entry } from './listing.js';
import { autoShardCount, oneFrame, planFrames, planShards, registrationRank, type ShardPlan } from './shards.js';
import { isDaemonLockName } from './members.js';

export const ARCHIVE_FILE = 'store.tar.zst';
export const DELTA_ARCHIVE_FILE = 'delta.tar.zst';

export interface CreateOptions {
  /** Where the store paths are (normally `/`). */
  root: string;
  kind: StoreKind;
  storePaths: readonly string[];
  dbDir?: string;
  toolVersion?: string;
  /** Where the snapshot's files go: an EntryStream, or dirSink(an empty runner-owned dir). */
  sink?: SnapshotSink;
  /** Empty runner-owned dir that becomes the cache entry (when no sink is given). */
  snapshotDir?: string;
  /** Runner-owned scratch dir for the registrations and shard lists. */
  scratchDir: string;
  /** Number of archives; 0 or unset = auto (one per core for a store big enough to gain from it). */
  shards?: number;
  /** Item data per frame (shards.ts FRAME_BYTES); tests make it small to get many frames. */
  frameBytes?: number;
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

/** Takes each file of the snapshot whole, as it is made; its sha256 and length. */
export interface SnapshotSink {
  put(name: string, src: AsyncIterable<Buffer> | Iterable<Buffer>): Promise<{ sha256: string; bytes: number }>;
}

/** A sink writing each file into `dir` (which must exist), hashing it on the way. */
export function dirSink(dir: string): SnapshotSink {
  return {
    async put(name, src) {
      const tap = new HashTap();
      // Copies: the write stream queues what it is given, and a piece is valid only until the
      // next is asked for (pipeToSink).
      async function* copies(): AsyncGenerator<Buffer> {
        for await (const b of src) yield Buffer.from(b);
      }
      await pipeline(copies(), tap, createWriteStream(path.join(dir, name), { flags: 'wx' }));
      return { sha256: tap.digest(), bytes: tap.bytes };
    }
  };
}

function sinkOf(opts: CreateOptions): SnapshotSink {
  if (opts.sink) return opts.sink;
  if (opts.snapshotDir) return dirSink(opts.snapshotDir);
  throw new Error('createSnapshot: neither a sink nor a snapshot dir given');
}

/** Shared by every archive: numeric ids, exact pax metadata, nothing the restore host would map. */
const COMMON_TAR_ARGS = [
  // Numeric ids: the restoring host's user names may map to other ids.
  '--numeric-owner',
  // pax keeps long names and big sizes exactly; atime/ctime records would only make the
  // archive bigger and unreproducible.
  '--format=posix',
  '--pax-option=delete=atime,delete=ctime'
  // No --hard-dereference: a file with several names in one archive is stored once, at its first
  // name, and as a hard-link member at the others (restore accepts exactly those). Each archive
  // is its own tar, so no link crosses archives; `.links` is excluded, so none points into it.
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
    ...dbDirExcludes(opts.dbDir),
    // Dot-entries of a store dir (`.links`, a restore's private dir) are never archived.
    ...present.map((p) => `--exclude=${p.replace(/^\/+/, '')}/.*`),
    // Nor the daemons' lock files, which restore never takes (members.ts isDaemonLockName).
    ...present.map((p) => `--exclude=${p.replace(/^\/+/, '')}/*.lock`),
    '--',
    ...present.map((p) => p.replace(/^\/+/, ''))
  ];
}

/** One shard: exactly the members listed (NUL-separated, already in name order), no recursion. */
function listTarArgs(opts: CreateOptions, listFile: string): string[] {
  // --verbatim-files-from: a listed name starting with '-' is a name, not an option.
  return ['-c', '-f', '-', '-C', opts.root, ...COMMON_TAR_ARGS, '--no-recursion', '--null', '--verbatim-files-from', '-T', listFile];
}

// zstd's default window for level 3: hard links keep most duplicates out of the archive, and a
// long window (--long=26) bought 3% of size for 15-40% more time on a 400 MiB mkstore store.
// Restore still bounds every frame's window (--memory=64MB): a snapshot asking for more is
// refused before zstd allocates it, whatever window a later runbox may choose to write.
export const ZSTD_WINDOW_LOG = 26;
// Frames compressed side by side (one per core already) each get a single-threaded zstd: -T0 or
// -T1 would add worker threads fighting for the same cores, and their job buffers (about 35 MiB,
// freshly touched by every zstd: one per frame) cost more in page faults than the compression of
// a 32 MiB frame saves (BENCHMARKS.md: on a VM, 0.10-0.15 CPU s a frame).
const compress = (threads: 'one' | 'all'): Stage => ({ cmd: 'zstd', args: [threads === 'one' ? '--single-thread' : '-T0', '-q', '-c'] });

/** One archive of exactly the members listed (in tree order), tar reading the list from a scratch file. */
async function listArchive(
  opts: CreateOptions,
  list: readonly string[],
  file: string,
  storePaths: string[],
  dataBytes: number,
  byRel: ReadonlyMap<string, Entry>,
  items: readonly string[],
  sink: SnapshotSink,
  threads: 'one' | 'all' = 'all'
): Promise<ArchiveRecord> {
  const listFile = path.join(opts.scratchDir, `${file}.list`);
  fs.writeFileSync(listFile, list.map((m) => `${m}\0`).join(''));
  // What this archive's hard-link members will point at (tar takes the list in this order):
  // restore writes these even for items it already has, so a new item's link to one lands.
  // More than a manifest may list: none, and a restore onto a store that has some of the
  // linked-to items leaves out the new items linking to them (rather than failing the save).
  const all = linkTargetsOf(list, byRel);
  const linkTargets = all.length <= MAX_LINK_TARGETS ? all : [];
  try {
    const r = await pipeToSink([{ cmd: 'tar', args: listTarArgs(opts, listFile), privileged: true }, compress(threads)], sink, file);
    return { file, ...r, compression: 'zstd', storePaths, dataBytes, ...(linkTargets.length > 0 ? { linkTargets } : {}), items: [...items] };
  } finally {
    fs.rmSync(listFile, { force: true });
  }
}

/** The shards, one per core at a time: each is a tar (reading the disk) and a zstd. */
async function writeShards(opts: CreateOptions, plan: ShardPlan, byRel: ReadonlyMap<string, Entry>, sink: SnapshotSink): Promise<ArchiveRecord[]> {
  const storePaths = (list: string[]): string[] => opts.storePaths.filter((p) => list.some((m) => m === p.replace(/^\/+/, '')));
  const out: ArchiveRecord[] = new Array<ArchiveRecord>(plan.lists.length);
  const count = Math.min(autoShardCount(), plan.lists.length);
  // The biggest frames first (an item past the frame size has one of its own): taken in plan
  // order, a big one late kept one worker busy after the others had run out of frames. The
  // entry places each frame when it ends, whatever the order (entry/writer.ts).
  const order = plan.lists.map((_, i) => i).sort((a, b) => plan.dataBytes[b] - plan.dataBytes[a] || a - b);
  let next = 0;
  let stop = false;
  const worker = async (): Promise<void> => {
    try {
      for (let k = next++; k < order.length && !stop; k = next++) {
        const i = order[k];
        out[i] = await listArchive(opts, plan.lists[i], `store-${i}.tar.zst`, storePaths(plan.lists[i]), plan.dataBytes[i], byRel, plan.items[i], sink, count > 1 ? 'one' : 'all');
      }
    } catch (e) {
      // The other workers start no new frame: the snapshot has failed.
      stop = true;
      throw e;
    }
  };
  const workers = Array.from({ length: count }, worker);
  // Every worker settled before a failure is thrown: no tar may still be writing.
  const failed = (await Promise.allSettled(workers)).find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return out;
}

async function wholeArchive(opts: CreateOptions, present: string[]): Promise<ArchiveRecord> {
  const dataBytes = await wholeDataBytes(opts, present);
  const r = await pipeToSink([{ cmd: 'tar', args: wholeTarArgs(opts, present), privileged: true }, compress('all')], sinkOf(opts), ARCHIVE_FILE);
  return { file: ARCHIVE_FILE, ...r, compression: 'zstd', storePaths: present, dataBytes };
}

/**
 * The data wholeTarArgs archives, each file once (restore requires the figure and refuses an
 * archive holding more). Read before tar runs, so a file growing meanwhile makes the restore
 * refuse the snapshot rather than fill a disk. Names are only split at their first component
 * here (the reason this store is archived whole is that its names cannot be listed exactly).
 */
async function wholeDataBytes(opts: CreateOptions, present: readonly string[]): Promise<number> {
  let n = 0;
  const seen = new Set<string>();
  for (const sp of present) {
    const r = await run('find', [onDisk(opts.root, sp), '-type', 'f', '-printf', '%D:%i\\t%n\\t%s\\t%P\\0'], { privileged: true, maxStdout: 400 * 1024 * 1024 });
    for (const rec of r.stdout.split('\0')) {
      if (rec === '') continue;
      const [ino, nlink, size, ...name] = rec.split('\t');
      const rel = name.join('\t');
      const top = rel.split('/')[0];
      if (top.startsWith('.') || isDaemonLockName(top) || inDbDir(`${sp}/${rel}`, opts.dbDir)) continue;
      if (Number(nlink) > 1) {
        if (seen.has(ino)) continue;
        seen.add(ino);
      }
      n += Number(size);
    }
  }
  return n;
}

export function onDisk(root: string, abs: string): string {
  return path.join(root, abs);
}

/** What one read of the archive pipeline's output takes at most. */
const READ_BUFFER_BYTES = 256 * 1024;

/**
 * Runs `stages` and hands the last stage's stdout to the sink as `name`, read into one reused
 * buffer (pipeline.ts ReusedReads: fresh buffers per read cost node more than the copies; the
 * sinks copy what they keep).
 */
async function pipeToSink(stages: Stage[], sink: SnapshotSink, name: string): Promise<{ sha256: string; bytes: number }> {
  const chunks = new HandOff();
  const taken = sink.put(name, chunks);
  // A sink failing before it reads (the entry already broken by another frame's upload) would
  // leave the first chunk waiting forever, and tar | zstd blocked on a full pipe: it stops the
  // reader. The failure itself is told below.
  taken.catch(() => chunks.stop());
  try {
    await runPipeline(stages, {
      consumeInto: {
        buffer: Buffer.allocUnsafe(READ_BUFFER_BYTES),
        onChunk: chunks.onChunk,
        onEnd: async () => {
          chunks.end();
          await taken;
        }
      }
    });
  } catch (e) {
    chunks.fail(e instanceof Error ? e : new Error(String(e)));
    // The sink's own failure (an UploadError) is the cause when it stopped reading first.
    const putFailure: unknown = await taken.then(
      () => undefined,
      (x: unknown) => x
    );
    throw putFailure ?? e;
  }
  return taken;
}

/** The tar exclusion of the DB dir (when it lies inside a store path; as a store path itself it is not archived at all). */
export function dbDirExcludes(dbDir: string | undefined): string[] {
  return dbDir ? [`--exclude=${dbDir.replace(/^\/+/, '')}`] : [];
}

/** The saved items' registrations, when the store dir is saved and a live DB exists. */
async function liveRegistrations(opts: CreateOptions, archived: readonly string[]): Promise<RegistrationSet | undefined> {
  const storeDir = PRESETS[opts.kind].storeDir;
  if (!opts.dbDir || !archived.includes(storeDir)) return undefined;
  const live = path.join(opts.root, opts.dbDir, DB_FILE);
  if ((await run('test', ['-f', live], { privileged: true, allowFailure: true })).code !== 0) return undefined;
  return readLiveRegistrations(live, storeDir, opts.scratchDir);
}

async function writeRegistrations(opts: CreateOptions, set: RegistrationSet): Promise<RegistrationsRecord> {
  const raw = path.join(opts.scratchDir, 'registrations.json');
  fs.writeFileSync(raw, serializeRegistrations(set), { flag: 'wx' });
  try {
    const r = await pipeToSink([{ cmd: 'zstd', args: ['-T0', '-q', '-c', '--', raw] }], sinkOf(opts), REGISTRATIONS_FILE);
    return { file: REGISTRATIONS_FILE, ...r, compression: 'zstd', paths: set.paths.length };
  } finally {
    fs.rmSync(raw, { force: true });
  }
}

/** Writes the snapshot (archives, registrations, manifest) into opts.snapshotDir. */
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

  // The DB dir may still be one of the store paths (the default store-paths name it, and so
  // does the manifest, keeping the cache version of existing configs): it is just not archived.
  const archived = present.filter((p) => !inDbDir(p, opts.dbDir));
  if (archived.length === 0) throw new Error(`only the DB dir ${opts.dbDir ?? ''} exists of the store paths, and it is never archived: nothing to save`);

  const t0 = Date.now();
  // Read before the archive: an item registered later is saved unregistered, never the reverse.
  const regs = await liveRegistrations(opts, archived);
  const t1 = Date.now();

  // One walk of the store serves the delta decision, the shard split and the data sizes.
  const listing = await listStore(opts.root, archived, (p) => inDbDir(p, opts.dbDir));
  const byRel = listing ? entriesByRel(listing) : new Map<string, Entry>();
  let archives: ArchiveRecord[] | undefined;
  let delta: CreateResult['delta'];
  if (opts.base) {
    const d = listing && planDelta(listing, opts.base.items);
    const counts = { items: d?.items ?? 0, newItems: d?.newItems.length ?? 0 };
    if (d && deltaDue(d)) {
      archives = [await listArchive(opts, d.list, DELTA_ARCHIVE_FILE, archived, d.dataBytes, byRel, d.newItems, sinkOf(opts))];
      delta = { written: true, ...counts, reason: '' };
    } else {
      const reason = !d
        ? 'the store layout cannot be listed member by member'
        : `${counts.newItems} of ${counts.items} items are new (a delta needs fewer than ${Math.round(100 * DELTA_MAX_NEW_FRACTION)}%)`;
      delta = { written: false, ...counts, reason };
    }
  }
  if (!archives) {
    if (!listing) archives = [await wholeArchive(opts, archived)];
    else {
      // shards: N keeps N byte-balanced archives; auto makes frames (see shards.ts).
      const rank = registrationRank(regs?.paths ?? [], regs?.rowIds);
      const plan = opts.shards ? (planShards(listing, opts.shards, false) ?? oneFrame(listing)) : planFrames(listing, (i) => rank.get(i), opts.frameBytes);
      archives =
        plan.lists.length === 1
          ? [await listArchive(opts, plan.lists[0], ARCHIVE_FILE, archived, plan.dataBytes[0], byRel, plan.items[0], sinkOf(opts))]
          : await writeShards(opts, plan, byRel, sinkOf(opts));
    }
  }
  const t2 = Date.now();

  const base = delta?.written && opts.base ? { key: opts.base.key, bytes: opts.base.bytes } : undefined;
  // A delta carries the registrations its base lacks; restore applies the base's first.
  const baseItems = base ? opts.base?.items : undefined;
  const registrations = regs && (await writeRegistrations(opts, baseItems ? { ...regs, paths: regs.paths.filter((r) => !baseItems.has(r.path)) } : regs));
  const manifest: SnapshotManifest = {
    format: FORMAT,
    version: base ? DELTA_FORMAT_VERSION : FORMAT_VERSION,
    kind: opts.kind,
    createdAt: new Date().toISOString(),
    ...(opts.toolVersion ? { toolVersion: opts.toolVersion } : {}),
    storePaths: present,
    archives,
    ...(registrations ? { registrations } : {}),
    ...(base ? { base } : {})
  };
  await sinkOf(opts).put(MANIFEST_FILE, [encodeManifest(manifest)]);
  return { manifest, dbMs: t1 - t0, archiveMs: t2 - t1, missing, ...(delta ? { delta } : {}) };
}
