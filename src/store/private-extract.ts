// The one way a snapshot reaches the store. Each archive is decompressed once; node parses it
// (members.ts), checks every member, and writes to `tar -x` a canonical stream it generates
// itself (canonical-tar.ts): headers built from the checked fields, the files' data copied
// through. tar never reads a byte of the snapshot's headers, so there is no second parser to
// disagree with. tar extracts into a fresh root-only private dir on the store's filesystem, one
// tree per entry of the restore (a delta and its base, which different jobs may have written)
// and one sub-dir per archive in it, and not as root: the kernel confines it (sys/confined.ts)
// to an uid that owns nothing (one per entry), in namespaces where its entry's tree is the only
// place it can write. So even a tar that was taken over cannot reach another entry's files;
// the archives of one entry share their tree (the walk checks their paths, not their data). Once every archive passed and its digest matched,
// the tree is given to root and walked (never following a link): it must be exactly what node
// emitted, with canonical metadata; only then, with the daemon stopped, are the new items
// renamed into the store. There is no extraction into the live store and no fallback: a refused
// snapshot, a tar failure or ENOSPC remove the private dir and leave the store as it was; a hard
// kill leaves only the private dir, which the next restore on the host reaps.
//
// Where the private dir goes: beside the first store path's real location (symlinks root made
// above it resolved up front, config.ts realStorePaths; its parent, or the nearest existing
// ancestor when the store does not exist yet), so renames stay on one filesystem; inside the
// store dir itself when that is a mount point (`<store>/.runbox-restore-<pid>-<start time>`, a
// dot-entry, which save never archives and restore never accepts from a snapshot).
//
// Items already in the store are never written to it: node checks their members and drops them
// from the stream (except the leftovers restore.ts names, see treatAsLeftovers), except link anchors (files the manifest names as what this archive's hard
// links point at), which go into the private dir only and are removed with it. Hard links are
// emitted only to a file emitted earlier into the same archive's stream; a new item linking to
// a file of an item already in the store that is no anchor (never emitted, so not in the
// private dir) is not restored at all: it stays behind and is removed with the private dir.
// Store dirs that do not exist yet are made by runbox (root:root 0755), never taken from an
// archive; the daemons set their own group and mode on the store dir when they start (Nix and
// Guix chown it to the build group and chmod 1775 in multi-user mode).
import { createHash, type Hash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import * as core from '@actions/core';
import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { registerCleanup } from '../action/on-cancel.js';
import { errorMessage } from '../common/errors.js';
import { escapedText } from '../common/untrusted-text.js';
import { checkConfinedIds, confinedCommand, confinedIds, giveToRoot, makeConfinedDir } from '../sys/confined.js';
import { run } from '../sys/exec.js';
import { mountIdOf } from '../sys/mount-id.js';
import { isUnder, rootOnlyProblem } from '../sys/path-safety.js';
import { removeTree } from '../sys/privileged-fs.js';
import { procStat } from '../sys/proc-stat.js';
import { CANONICAL_MTIME, canonicalMode, endOfArchive, memberHeader, padding, type CheckedMember } from './canonical-tar.js';
import { ZSTD_WINDOW_LOG } from './archive.js';
import { checkDigest } from './extract.js';
import type { ArchiveRecord } from './manifest.js';
import { type ArchiveSummary, type MemberRules, MemberValidator, TarParser, UnsafeArchiveError } from './members.js';
import { runPipeline } from './pipeline.js';

const PRIVATE_PREFIX = '.runbox-restore-';
/** `.runbox-restore-<pid>-<start time>`: the restore that owns it, checkable after a hard kill. */
const PRIVATE_NAME = /^\.runbox-restore-([1-9][0-9]*)-([0-9]+)$/;

const rel = (p: string): string => p.replace(/^\/+/, '');

/** Where extract() reads one archive's compressed bytes from. */
export interface ArchiveSource {
  open(): AsyncIterable<Buffer>;
  /** The stored file's sha256, read again (local files only; see SnapshotFiles.reread). */
  reread?: () => Promise<string>;
  /**
   * The sha256 the bytes open() yields are proven to have once it ran to its end (a cache
   * entry's frame: the index's digest, checked by the reader over the same bytes), so they are
   * not hashed a second time. Without it, extract hashes them.
   */
  sha256?: string;
}

/** One archive for extractAll: `index` names its sub-dir of its entry's tree. */
export interface ExtractJob {
  index: number;
  /** Which entry of the restore it comes from (0: a full snapshot or a delta's base, 1: the
   * delta): its tree, and the confined ids of its tars. Default 0. */
  part?: number;
  src: ArchiveSource;
  rec: ArchiveRecord;
  rules: MemberRules;
}

/** tar stopped reading before the end of the stream: its own exit says why (see extractAll). */
class TarGoneError extends Error {
  constructor() {
    super('tar stopped reading before the end of the archive');
    this.name = 'TarGoneError';
  }
}

export interface PrivatePlace {
  /** Where this restore's private dir goes. */
  parent: string;
  /** Every existing dir where a killed restore may have left one: the way from the root to the
   * store dir's parent, and the store dir itself. */
  homes: string[];
}

/**
 * Members one archive may hold, and paths one restore may extract, all its archives together:
 * beyond, the checks' own bookkeeping would grow without bound. The record of what must land
 * (verifyLanded) is kept for every archive until the walk, about 270 bytes of heap a path
 * (measured: __tests__/store-members-memory.test.ts), so it is bounded per restore: per archive
 * alone, 128 archives of 4M members (a few MB of zstd each) would be 512M paths.
 */
export const MAX_MEMBERS = 4_000_000;
/** What the filesystem keeps free while a restore extracts: 5% of it, at most these. */
const HEADROOM_BYTES = 64 * 1024 * 1024;
const HEADROOM_MIN_BYTES = 2 * 1024 * 1024;
const HEADROOM_INODES = 10_000;
/** What one read of zstd's output takes at most: a unix socket holds about 200 KiB. */
const READ_BUFFER_BYTES = 256 * 1024;
/** Bytes of source names one `mv` of moveAll takes. */
const MOVE_ARG_BYTES = 256 * 1024;

export class SpaceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SpaceError';
  }
}

/** Each store path (as given) and where it really is on disk (config.ts realStorePaths). */
export type StoreDisk = ReadonlyMap<string, string>;

/** Where a path under one of the store paths (absolute, as given) really is. */
export function onStoreDisk(disk: StoreDisk, p: string): string {
  for (const [sp, real] of disk) if (p === sp || p.startsWith(`${sp}/`)) return real + p.slice(sp.length);
  throw new Error(`${p} is under none of the store paths ${[...disk.keys()].join(', ')}`);
}

/**
 * Refuses store paths that a symlink or non-dir on disk would redirect: every existing component
 * of each store path's real location, from `/` down, must be a real dir (the links root made
 * above it are resolved already; one that appeared since is refused here).
 */
export function checkStoreChains(disk: StoreDisk): void {
  for (const [sp, real] of disk) {
    let cur = '';
    for (const part of rel(real)
      .split('/')
      .filter((c) => c !== '')) {
      cur = `${cur}/${part}`;
      const st = fs.lstatSync(cur, { throwIfNoEntry: false });
      if (!st) break;
      if (st.isSymbolicLink()) throw new UnsafeArchiveError(sp, `would be written through ${cur}, a symlink on disk`);
      if (!st.isDirectory()) throw new UnsafeArchiveError(sp, `needs ${cur} to be a directory, but it is not`);
    }
  }
}

/**
 * Where private dirs go for this store (see the top of the file): beside the real location of
 * the first store path, so a root-made /gnu -> /data/gnu puts it in /data/gnu, whose mtime
 * close() restores (never the link's). The homes start at `root` (tests' temp roots) unless
 * the store is outside it.
 */
export function privatePlace(root: string, disk: StoreDisk): PrivatePlace {
  checkStoreChains(disk);
  const [store] = disk.values();
  const from = store === root || isUnder(store, root) ? root : '/';
  const homes = [from];
  for (const part of path
    .relative(from, path.dirname(store))
    .split('/')
    .filter((c) => c !== '')) {
    const cur = path.join(homes[homes.length - 1], part);
    if (!fs.lstatSync(cur, { throwIfNoEntry: false })) break;
    homes.push(cur);
  }
  const parent = homes[homes.length - 1];
  const st = fs.lstatSync(store, { throwIfNoEntry: false });
  if (!st) return { parent, homes };
  homes.push(store);
  // A mount point (a bind mount of the same filesystem too: mount IDs, not st_dev): a rename
  // from its parent would cross mounts (EXDEV: mv copies, which ENOSPC can cut short).
  return { parent: mountIdOf(store) !== mountIdOf(parent) ? store : parent, homes };
}

/**
 * Removes the private dirs in `parent` whose restore is gone (hard-killed: its pid is not
 * running, or runs a later process). Only root-owned real dirs with our name; never followed.
 * Only where `parent` is root's alone all the way from `/` (rootOnlyProblem): in a dir another
 * user may write, that user could rename any root-owned dir they reach there (the daemon's DB
 * dir, say) to a dead restore's name, and root would delete it. There it reaps nothing and
 * returns why in `skipped`.
 */
export async function reapPrivateDirs(parent: string): Promise<{ reaped: string[]; skipped?: string }> {
  const unsafe = rootOnlyProblem(parent);
  if (unsafe !== undefined) return { reaped: [], skipped: unsafe };
  let names: string[];
  try {
    names = fs.readdirSync(parent);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { reaped: [] };
    throw e;
  }
  const reaped: string[] = [];
  for (const name of names) {
    const m = PRIVATE_NAME.exec(name);
    if (!m) continue;
    const dir = path.join(parent, name);
    const st = fs.lstatSync(dir, { throwIfNoEntry: false });
    if (!st?.isDirectory() || st.uid !== 0) continue;
    if (procStat(Number(m[1]))?.startTime === m[2]) continue;
    await removeTree(dir);
    reaped.push(dir);
  }
  return { reaped };
}

/**
 * Resolves once `b` is written to `w` (its callback); rejects with the write's error, or when `w`
 * closes first (its reader gone and the stream torn down: no callback may come then).
 */
function writeWhole(w: Writable, b: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const gone = (): void => reject(Object.assign(new Error('the stream closed before the write ended'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }));
    if (w.destroyed) return gone();
    w.once('close', gone);
    w.write(b, (e?: Error | null) => {
      w.off('close', gone);
      if (e) reject(e);
      else resolve();
    });
  });
}

/** Resolves once `written` did (a write's callback), or `w` is closed (its reader is gone). */
function writtenOrClosed(w: Writable, written: Promise<void>): Promise<void> {
  if (w.closed) return Promise.resolve();
  let onClose: () => void = () => undefined;
  const closed = new Promise<void>((resolve) => w.once('close', (onClose = resolve)));
  return Promise.race([written, closed]).finally(() => w.off('close', onClose));
}

/** What the walk must find for one path of the private dir. */
interface Landed {
  type: 'f' | 'd' | 'l';
  mode: number;
  size?: number | undefined;
  target?: string;
  /** Files emitted with data: their exact link count (1 + the links emitted to them). Links
   * have none: being their original's inode (sameAs), they have its count. */
  links?: number;
  /** A hard link: the path (in the private dir) of the file whose inode it must be. */
  sameAs?: string;
  /** An entry's tree itself (made by runbox, not by tar): any mtime. */
  anyMtime?: boolean;
}

/**
 * The confined `tar -x` arguments for the canonical stream (see the top of the file): it runs in
 * its sub-dir (sys/confined.ts), as an uid that owns nothing, so every path lands as that uid's
 * (verifyLanded gives the tree to root before the walk).
 */
export function tarExtractArgs(): string[] {
  return [
    '-x',
    '-f',
    '-',
    '--numeric-owner',
    '--no-same-owner',
    '--same-permissions',
    // Dirs are 0555 and get their mtime 1 after their contents are in, whatever the order.
    '--delay-directory-restore',
    // The stream holds no path twice and the dir is fresh: anything already there is an error.
    '--keep-old-files',
    '--no-acls',
    '--no-xattrs',
    '--no-selinux'
  ];
}

/**
 * The confined `tar -x` (sys/confined.ts) into `dir` as entry `part`'s ids, reading the
 * canonical stream `feed` writes to its stdin (the only place restore starts tar). Resolves
 * when tar exited 0.
 */
function extractTar(dir: string, part: number, feed: (stdin: Writable) => Promise<unknown>): Promise<void> {
  return runPipeline([confinedCommand(dir, 'tar', tarExtractArgs(), confinedIds(part))], { feed });
}

/** statfs's available bytes: what the check may count on (root's reserve left out). */
function freeBytes(dir: string): number {
  const s = fs.statfsSync(dir);
  return s.bavail * s.bsize;
}

/** `<source> mounted on <target>` for the filesystem holding `dir`, as df names it. */
export async function filesystemOf(dir: string): Promise<string> {
  const r = await run('df', ['-P', '--', dir], { allowFailure: true });
  const last = r.stdout.trim().split('\n').pop() ?? '';
  const f = last.split(/\s+/);
  return r.code === 0 && f.length >= 6 ? `${f[0]} mounted on ${f.slice(5).join(' ')}` : `the filesystem of ${dir}`;
}

/** A private dir for one restore; close() removes it (also registered as a cleanup on cancel). */
export class PrivateRestore {
  /** Data bytes of the members checked and handed to tar so far, all archives together: the progress of a restore. */
  checkedBytes = 0;
  /** Top-level entries (relative) that were in the store when the restore began: never emitted. */
  private readonly existing = new Set<string>();
  /** Top-level entries on disk that the live DB does not register (treatAsLeftovers): emitted
   * like new items; moveIn puts the snapshot's copy in their place only when told to. */
  private readonly leftovers = new Set<string>();
  /** What each path of the private dir must be once tar is done (relative to the dir). */
  private readonly landed = new Map<string, Landed>();
  /** Per archive: the new top-level items (relative) it emitted. */
  private readonly emitted = new Map<number, Set<string>>();
  /** Per archive: new items that hard-link to a file of an item already in the store (whose
   * members are never emitted, so the link has nothing of ours to point at): not restored. */
  private readonly dropped = new Map<number, Set<string>>();
  /** The walk's inode of each emitted top-level item (`<index>/<top>`): how moveIn tells its own
   * item in the store from one that appeared there meanwhile. */
  private readonly topInodes = new Map<string, string>();
  /** Per archive: its entry (ExtractJob.part), whose tree holds its sub-dir. */
  private readonly partOf = new Map<number, number>();
  /** Entries whose tree is made. */
  private readonly partsMade = new Set<number>();
  /** Members checked so far, all archives and lanes together (see onMember). */
  private checkedMembers = 0;
  private readonly unregister: () => void;
  private closed = false;
  private moved = false;
  /** The parent's mtime before the private dir was made in it (sec.nsec). */
  private readonly parentMtime: string;

  /**
   * `<dir>/tree` (root's, 0700): one tree per entry of the restore, `<tree>/<part>`, where that
   * entry's confined tars write (and nothing else of theirs can: a delta's tar cannot reach
   * its base's files, nor the other way round), its confined ids' until verifyLanded gives it
   * to root. Inside `dir` (root's, 0700), so no other process reaches it by path while it is
   * that uid's, whatever the tars do to its mode. Every path of `landed` is relative to it.
   */
  readonly tree: string;

  private constructor(
    readonly dir: string,
    /** The store paths' real locations: every change to the store is made there. */
    private readonly disk: StoreDisk,
    private readonly maxPaths: number
  ) {
    this.tree = path.join(dir, 'tree');
    const ns = fs.statSync(path.dirname(dir), { bigint: true }).mtimeNs;
    this.parentMtime = `${ns / 1_000_000_000n}.${String(ns % 1_000_000_000n).padStart(9, '0')}`;
    this.unregister = registerCleanup(() => this.close());
  }

  /** Reaps dead restores' private dirs, makes ours (root, 0700), notes the items the store has. */
  /** `maxPaths`: MAX_MEMBERS; tests lower it to reach it. */
  static async open(disk: StoreDisk, place: PrivatePlace, maxPaths = MAX_MEMBERS): Promise<{ restore: PrivateRestore; reaped: string[] }> {
    // Made, chowned, walked and renamed from by path: another user able to change the way to it
    // could swap it for a link meanwhile (config.ts refuses such store paths up front already).
    const shared = rootOnlyProblem(place.parent);
    if (shared !== undefined) throw new Error(`refusing to make a private dir in ${place.parent}: ${shared}`);
    const reaped: string[] = [];
    for (const home of place.homes) {
      const r = await reapPrivateDirs(home);
      reaped.push(...r.reaped);
      if (r.skipped !== undefined)
        core.warning(
          `runbox store: private dirs of killed restores are not looked for in ${escapedText(home)}: ${escapedText(r.skipped)}, and root deletes nothing in a dir another user may rename things into`
        );
    }
    const self = procStat(process.pid)?.startTime;
    if (self === undefined) throw new Error('cannot read the start time of this process from /proc/self/stat');
    const dir = path.join(place.parent, `${PRIVATE_PREFIX}${process.pid}-${self}`);
    const restore = new PrivateRestore(dir, disk, maxPaths);
    try {
      await checkConfinedIds();
      // One mkdir for both, in order: it fails if the dir exists, before making the tree in it.
      await run('mkdir', ['-m', '0700', '--', dir, restore.tree], { privileged: true });
      for (const [sp, abs] of disk) {
        if (!fs.lstatSync(abs, { throwIfNoEntry: false })?.isDirectory()) continue;
        for (const name of fs.readdirSync(abs)) restore.existing.add(`${rel(sp)}/${name}`);
      }
    } catch (e) {
      await restore.close();
      throw e;
    }
    return { restore, reaped };
  }

  /**
   * Items on disk (absolute) that `isLeftover` says the live DB does not register valid: what an
   * insert killed mid-way or a build cut short leaves, which the daemons treat as invalid and
   * delete (under the item's lock) before they build or substitute that path. Extracted from
   * the snapshot like new items (call before extractAll); moveIn replaces one only when asked
   * (restore.ts: under the item's lock, the DB read again).
   */
  treatAsLeftovers(isLeftover: (item: string) => boolean): void {
    for (const t of this.existing)
      if (isLeftover(`/${t}`)) {
        this.existing.delete(t);
        this.leftovers.add(t);
      }
  }

  /** The leftovers (absolute) whose whole copy these archives extracted: what moveIn may replace. */
  extractedLeftovers(summaries: ReadonlyArray<{ index: number }>): string[] {
    const out = new Set<string>();
    for (const { index } of summaries) {
      const dropped = this.dropped.get(index) ?? new Set<string>();
      for (const t of this.emitted.get(index) ?? []) if (this.leftovers.has(t) && !dropped.has(t)) out.add(`/${t}`);
    }
    return [...out].sort();
  }

  /** New items (absolute) not restored: they hard-link to files of items already in the store. */
  notRestored(): string[] {
    return [...this.dropped.values()].flatMap((d) => [...d].map((t) => `/${t}`)).sort();
  }

  /** Refuses before anything is extracted when `needed` bytes do not fit the private dir's filesystem. */
  /**
   * Refuses to go on once the store's filesystem is down to its last 5% (at least 2, at most
   * 64 MiB) of space or inodes: whatever the manifest said, a restore never fills it.
   */
  private checkHeadroom(): void {
    const s = fs.statfsSync(this.dir);
    // At least HEADROOM_MIN_BYTES: tar writes what node checked a pipe's and a chunk's worth later.
    const reserve = Math.max(HEADROOM_MIN_BYTES, Math.min(HEADROOM_BYTES, s.blocks * s.bsize * 0.05));
    const inodeReserve = Math.min(HEADROOM_INODES, s.files * 0.05);
    if (s.bavail * s.bsize < reserve || (s.files > 0 && s.ffree < inodeReserve))
      throw new SpaceError(
        `the store's filesystem is nearly full while extracting (${s.bavail * s.bsize} bytes and ${s.ffree} inodes left; runbox stops at ${Math.round(reserve)} bytes or ${Math.round(inodeReserve)} inodes); nothing reached the store`
      );
  }

  async checkSpace(needed: number): Promise<void> {
    const free = freeBytes(this.dir);
    if (needed > free) throw new SpaceError(`the snapshot needs about ${needed} bytes on ${await filesystemOf(this.dir)}, which has ${free} free; nothing was extracted`);
  }

  /**
   * A tar failure that was the filesystem filling up (ENOSPC, or tar's short write, which is how
   * it reports one), told the same way as checkSpace's refusal. Called before the private dir
   * is removed, so the free space seen is what the extraction left.
   */
  async spaceError(e: unknown, needed: number | undefined): Promise<SpaceError | undefined> {
    const message = e instanceof Error ? e.message : String(e);
    const free = freeBytes(fs.existsSync(this.dir) ? this.dir : path.dirname(this.dir));
    if (!/No space left on device|ENOSPC|Wrote only \d+ of \d+ bytes/.test(message) && free >= 1024 * 1024) return undefined;
    return new SpaceError(
      `the store's filesystem (${await filesystemOf(path.dirname(this.dir))}) ran out of space while extracting (${needed === undefined ? 'the snapshot records no size' : `about ${needed} bytes needed`}, ${free} bytes left free); the private dir is removed, the store was left untouched`
    );
  }

  private expect(p: string, l: Landed): void {
    if (this.landed.size >= this.maxPaths && !this.landed.has(p)) throw new UnsafeArchiveError(p, `is past the ${this.maxPaths} paths one restore may extract, all its archives together`);
    this.landed.set(p, l);
  }

  /** One archive: `extract` does one, `extractAll` many. */
  async extract(index: number, src: ArchiveSource, rec: ArchiveRecord, rules: MemberRules): Promise<ArchiveSummary> {
    return (await this.extractAll([{ index, src, rec, rules }], 1))[0];
  }

  /**
   * Checks and extracts the archives, `lanes` of them at a time, into the private dir. Each lane
   * is one root `tar -x` (extractTar) that takes the canonical streams of the archives it pulls
   * from the queue one after another, each under its own sub-dir `<index>/`, which the stream
   * makes with a dir member: a sudo mkdir and a tar per archive cost more than the checking
   * (see BENCHMARKS.md). One `zstd -d` per archive: each is a whole zstd stream, parsed up to its
   * own end. Resolves with each archive's summary (in the order given) once every lane's tar
   * finished; otherwise rejects, once every lane's tar exited (none still writes into the
   * private dir), with the failure of the first archive in the order given that failed. After
   * a failure no lane starts another archive.
   */
  async extractAll(archives: readonly ExtractJob[], lanes: number): Promise<ArchiveSummary[]> {
    const summaries: ArchiveSummary[] = [];
    const failures = new Map<number, unknown>();
    const partOf = (i: number): number => archives[i].part ?? 0;
    for (let i = 0; i < archives.length; i++) {
      const part = partOf(i);
      this.partOf.set(archives[i].index, part);
      if (this.partsMade.has(part)) continue;
      // The entry's own tree, its own ids': the only place its tars can write.
      await makeConfinedDir(path.join(this.tree, String(part)), confinedIds(part));
      this.partsMade.add(part);
      this.expect(String(part), { type: 'd', mode: 0o700, anyMtime: true });
    }
    // The queue: each entry's archives together (a lane's tar serves one entry), the biggest
    // first. Frames differ in size (an item past the frame size has one of its own); taken in
    // entry order, a big one coming last kept one lane busy while the others had nothing left
    // (the longest-first order of list scheduling). The manifest's figure is only a hint here:
    // the stream itself is held to it.
    const order = archives.map((_, i) => i).sort((a, b) => partOf(a) - partOf(b) || archives[b].rec.dataBytes - archives[a].rec.dataBytes || a - b);
    let next = 0;
    // One tar, writing `part`'s tree, for the archives of that entry next in the queue.
    const tarRun = async (part: number): Promise<void> => {
      let tarIn: (stdin: Writable) => void = () => undefined;
      const tarStdin = new Promise<Writable>((resolve) => (tarIn = resolve));
      const tar = extractTar(path.join(this.tree, String(part)), part, (stdin) => {
        // EPIPE when tar exits first; tar's exit status is what counts.
        stdin.on('error', () => undefined);
        tarIn(stdin);
        return new Promise<void>((resolve) => {
          stdin.once('finish', resolve);
          stdin.once('close', resolve);
        });
      }).then(
        () => undefined,
        (e: unknown) => e ?? new Error('tar failed')
      );
      const stdin = await Promise.race([tarStdin, tar.then(() => undefined)]);
      // tar could not even be started: its error is the failure of the archive it was for.
      if (stdin === undefined) {
        failures.set(order[next < archives.length ? next++ : archives.length - 1], await tar);
        return;
      }
      let gone = false;
      stdin.once('close', () => (gone = true));
      let current = -1;
      // Cut off by us (an archive failed): tar's own failure is then a consequence.
      let cut = false;
      let tarNeeded = false;
      while (failures.size === 0 && next < archives.length && partOf(order[next]) === part) {
        current = order[next++];
        try {
          summaries[current] = await this.streamArchive(archives[current], stdin, () => gone);
        } catch (e) {
          // tar gone before the end of the stream: its exit says why, below.
          tarNeeded = e instanceof TarGoneError;
          failures.set(current, e);
          break;
        }
      }
      if (failures.size === 0) stdin.end(endOfArchive());
      else {
        cut = true;
        stdin.destroy();
      }
      const tarFailure = await tar;
      if (tarFailure !== undefined && (tarNeeded || !cut)) failures.set(Math.max(current, 0), tarFailure);
    };
    // A lane's tar serves one entry; when the queue reaches the next entry (a delta's archives
    // after its base's), the lane starts another tar for it.
    const lane = async (): Promise<void> => {
      while (failures.size === 0 && next < archives.length) await tarRun(partOf(order[next]));
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(lanes, archives.length)) }, lane));
    if (failures.size > 0) {
      const first = Math.min(...failures.keys());
      const failure = failures.get(first);
      throw failure instanceof Error ? failure : new Error(errorMessage(failure));
    }
    return summaries;
  }

  /**
   * One archive's bytes (from `src`: a local file, or a frame streamed from the cache whose
   * chunks are each proven before they are handed on) through `zstd -d`, parsed and checked by
   * node, re-serialized canonically onto a lane's tar stdin under the archive's own sub-dir
   * (no end-of-archive: the lane writes that once). Resolves with the archive's summary once its
   * stream is written and the compressed bytes match the manifest's sha256.
   */
  private async streamArchive(job: ExtractJob, tarStdin: Writable, tarGone: () => boolean): Promise<ArchiveSummary> {
    const { index, src, rec, rules } = job;
    // `sub`: the archive's sub-dir in the stream (tar runs in its entry's tree); `at`: the same
    // dir relative to the private dir's tree, where the walk finds it.
    const sub = String(index);
    const at = `${job.part ?? 0}/${index}`;
    const emitted = new Set<string>();
    this.emitted.set(index, emitted);
    const dropped = new Set<string>();
    this.dropped.set(index, dropped);
    // Regular files emitted into THIS archive's stream (relative to its sub-dir): the only
    // names an emitted hard link may point at. Per archive, so a link never reaches another
    // archive's sub-dir, an existing item or anything else on disk.
    const emittedFiles = new Set<string>();
    // Every path of this archive goes under its sub-dir; a hard link's target too (a file of
    // this archive's stream, see emittedFiles). Symlink targets are contents: never rewritten.
    const header = (c: CheckedMember): Buffer => memberHeader({ ...c, path: `${sub}/${c.path}`, ...(c.kind === 'link' ? { target: `${sub}/${c.target as string}` } : {}) });
    // The source proves its own digest (a cache entry's frame: the index's sha256, checked over
    // the chunks as they stream); otherwise the bytes are hashed on the way to zstd.
    const hash = src.sha256 === undefined ? createHash('sha256') : undefined;
    // A chunk that failed its digest (or a download that broke) stops everything: zstd is cut
    // off before the chunk's first byte, and that is the error told, not zstd's truncation.
    let sourceError: unknown;
    async function* guarded(): AsyncGenerator<Buffer> {
      try {
        yield* src.open();
      } catch (e) {
        sourceError = e;
        throw e;
      }
    }
    const validator = new MemberValidator(rules);
    // The archive's sub-dir, then the store paths and their parents: made here, so tar never
    // makes a dir on its own.
    let out: Buffer[] = [memberHeader({ path: sub, kind: 'dir', size: 0, executable: false })];
    this.expect(at, { type: 'd', mode: canonicalMode({ kind: 'dir', executable: false }) });
    const made = new Set<string>();
    for (const sp of rules.storePaths) {
      const parts = rel(sp).split('/');
      for (let i = 1; i <= parts.length; i++) {
        const d = parts.slice(0, i).join('/');
        if (made.has(d)) continue;
        made.add(d);
        out.push(header({ path: d, kind: 'dir', size: 0, executable: false }));
        this.expect(`${at}/${d}`, { type: 'd', mode: canonicalMode({ kind: 'dir', executable: false }) });
      }
    }
    let dataLeft = 0;
    let size = 0;
    let emitting = false;
    const roots = rules.storePaths.map(rel);
    const topOf = (p: string): string => {
      const r = roots.find((x) => p.startsWith(`${x}/`)) as string;
      return `${r}/${p.slice(r.length + 1).split('/')[0]}`;
    };
    let sinceCheck = { members: 0, bytes: 0 };
    // Link anchors (see ArchiveRecord.linkTargets): files of items already in the store that
    // this archive's links point at. The list is attacker-controlled and only a hint: a path
    // listed needlessly costs writing that checked file into the private dir (within the
    // dataBytes bound, like every file); a path left out means the new items linking to it are
    // not restored (the rule below). It never makes runbox read, link to or write anything on
    // disk outside the private dir.
    const anchors = new Set(rec.linkTargets ?? []);
    // Dirs of items already in the store emitted for anchors (canonical, never moved).
    const anchorDirs = new Set<string>();
    const emitAnchor = (c: CheckedMember): void => {
      const parts = c.path.split('/');
      // Every dir on the way, from below the store path down: the validator saw each as a dir
      // member before this file (and none as a symlink), so these are the archive's own dirs.
      const root = roots.find((r) => c.path.startsWith(`${r}/`)) as string;
      for (let i = root.split('/').length + 1; i < parts.length; i++) {
        const d = parts.slice(0, i).join('/');
        if (anchorDirs.has(d)) continue;
        anchorDirs.add(d);
        out.push(header({ path: d, kind: 'dir', size: 0, executable: false }));
        this.expect(`${at}/${d}`, { type: 'd', mode: canonicalMode({ kind: 'dir', executable: false }) });
      }
      out.push(header(c));
      emittedFiles.add(c.path);
      this.expect(`${at}/${c.path}`, { type: 'f', mode: canonicalMode(c), size: c.size, links: 1 });
    };
    const onMember = (m: Parameters<MemberValidator['check']>[0]): void => {
      const c: CheckedMember | undefined = validator.check(m);
      if (validator.summary.members > MAX_MEMBERS) throw new UnsafeArchiveError(m.name, `is past the ${MAX_MEMBERS} members one archive may hold`);
      // Members that are checked but never extracted (an item the store has, a `.lock` entry)
      // cost the validators' memory too, in every lane at once: one budget for the whole restore.
      if (++this.checkedMembers > this.maxPaths) throw new UnsafeArchiveError(m.name, `is past the ${this.maxPaths} members one restore may check, all its archives together`);
      // The check before extracting counts data bytes; many small files cost blocks and inodes
      // it cannot see. So the filesystem itself is asked as the stream goes on.
      sinceCheck = { members: sinceCheck.members + 1, bytes: sinceCheck.bytes + m.size };
      if (sinceCheck.members >= 16 || sinceCheck.bytes >= 1024 * 1024) {
        sinceCheck = { members: 0, bytes: 0 };
        this.checkHeadroom();
      }
      if (validator.summary.dataBytes > rec.dataBytes) throw new UnsafeArchiveError(m.name, `takes the archive's data past the ${rec.dataBytes} bytes its manifest records`);
      dataLeft = m.size;
      size = m.size;
      this.checkedBytes += m.size;
      if (!c) return void (emitting = false);
      const top = topOf(c.path);
      if (this.existing.has(top)) {
        // A file of an item the store has, named a link anchor: written into the private dir
        // (never moved, never registered), so a new item's later link to it lands on the
        // snapshot's data; the anchor goes with the private dir, the link keeps the inode.
        emitting = c.kind === 'file' && anchors.has(c.path);
        if (emitting) emitAnchor(c);
        return;
      }
      emitting = !dropped.has(top);
      if (!emitting) return;
      if (c.kind === 'link') {
        const target = c.target as string;
        // The validator saw the target as a file of this archive; it was not emitted when its
        // item is already in the store. Linking to the store's copy would trust a file on disk
        // (and one the snapshot does not own), a copy would not be what the snapshot holds:
        // this item is not restored. What it emitted so far stays in the private dir, which
        // is removed whole; moveIn skips it.
        if (!emittedFiles.has(target)) {
          dropped.add(top);
          emitting = false;
          return;
        }
        const original = this.landed.get(`${at}/${target}`) as Landed;
        original.links = (original.links ?? 1) + 1;
        out.push(header(c));
        emitted.add(top);
        this.expect(`${at}/${c.path}`, { type: 'f', mode: canonicalMode(c), size: original.size, sameAs: `${at}/${target}` });
        return;
      }
      out.push(header(c));
      emitted.add(top);
      if (c.kind === 'file') emittedFiles.add(c.path);
      this.expect(`${at}/${c.path}`, {
        type: c.kind === 'file' ? 'f' : c.kind === 'dir' ? 'd' : 'l',
        mode: canonicalMode(c),
        ...(c.kind === 'file' ? { size: c.size, links: 1 } : {}),
        ...(c.target !== undefined ? { target: c.target } : {})
      });
    };
    const onData = (chunk: Buffer): void => {
      dataLeft -= chunk.length;
      if (!emitting) return;
      out.push(chunk);
      if (dataLeft === 0) out.push(padding(size));
    };
    const parser = new TarParser(onMember, (chunk) => onData(chunk));
    let checkError: unknown;
    let truncated = false;
    const send = async (): Promise<void> => {
      const batch = out;
      out = [];
      if (batch.length === 0) return;
      // Before the end of our stream, tar gone means tar failed: its exit says why.
      if (tarGone()) throw new TarGoneError();
      // Corked: the batch (headers, padding and data of the members in one zstd read) goes to
      // tar's pipe in one writev, not a syscall per piece. Waited for until written: the data
      // pieces are views of the buffer zstd's output is read into, which the next read reuses.
      let written: Promise<void> = Promise.resolve();
      tarStdin.cork();
      batch.forEach((b, i) => {
        if (i < batch.length - 1) tarStdin.write(b);
        else written = new Promise((resolve) => tarStdin.write(b, () => resolve()));
      });
      tarStdin.uncork();
      await writtenOrClosed(tarStdin, written);
    };
    let unpackFailure: unknown;
    // At most the window save uses: a frame asking for more is refused before zstd allocates it.
    await runPipeline([{ cmd: 'zstd', args: ['-d', '-q', '-c', `--memory=${2 ** ZSTD_WINDOW_LOG / 2 ** 20}MB`] }], {
      // Each piece written whole before the next is asked for: the source reads into the same
      // few buffers again (entry/reader.ts fileChunks), so nothing may still hold the last one.
      feed: async (stdin) => {
        // zstd exiting early (a corrupt frame, a window past the bound) makes the pending write
        // fail with EPIPE: its callback says so; unlistened, the 'error' would end the process.
        stdin.on('error', () => undefined);
        for await (const b of guarded()) {
          hash?.update(b);
          await writeWhole(stdin, b);
        }
        stdin.end();
        await finished(stdin);
      },
      consumeInto: {
        buffer: Buffer.allocUnsafe(READ_BUFFER_BYTES),
        onChunk: async (chunk) => {
          try {
            parser.write(chunk);
          } catch (e) {
            checkError = e;
            throw e;
          }
          await send();
        },
        onEnd: async () => {
          // Cut short: zstd failing (a corrupt frame, a window over the bound) says why better
          // than the parser can; the lane cuts tar off.
          if (!parser.ended) {
            truncated = true;
            return;
          }
          try {
            validator.finish();
          } catch (e) {
            checkError = e;
            throw e;
          }
          await send();
        }
      }
    }).catch((e: unknown) => (unpackFailure = e ?? new Error('zstd failed')));
    // A refused member is the cause of everything else failing; a stream cut short is zstd's
    // failure or else a truncated archive; then tar gone (the lane tells tar's own error).
    if (truncated && checkError === undefined && unpackFailure === undefined)
      try {
        parser.end();
      } catch (e) {
        checkError = e;
      }
    const failure = sourceError ?? checkError ?? unpackFailure;
    if (failure === undefined) checkDigest(src.sha256 ?? (hash as Hash).digest('hex'), rec);
    else if (sourceError === undefined && !(failure instanceof TarGoneError) && src.reread) {
      // A reread that fails (the cache gone meanwhile) says nothing about the archive: the
      // extract's own failure is told instead.
      const again = await src.reread().catch(() => undefined);
      if (again !== undefined) checkDigest(again, rec);
    }
    if (failure !== undefined) throw failure instanceof Error ? failure : new Error(errorMessage(failure));
    return validator.finish();
  }

  /**
   * Gives the private dir to root, walks it without following anything and refuses unless it holds
   * exactly what was emitted, each path with its canonical type, owner, mode, size, mtime and
   * symlink target; each emitted file with exactly its emitted link count, and each emitted
   * hard link the same inode as the file it was emitted to.
   */
  async verifyLanded(): Promise<void> {
    // First root's: every tar has exited and its pid namespace with it, so no process of the
    // confined uid is left to change the tree, and none of it can be a file from elsewhere
    // (sys/confined.ts). The walk then checks the tree as it will be moved, owner included.
    await giveToRoot(this.tree);
    const seen = new Set<string>();
    const inodes = new Map<string, string>();
    let rest = '';
    let problem: string | undefined;
    const check = (rec: string, target: string): void => {
      const f = rec.split('\t');
      const p = f.slice(8).join('\t');
      const want = this.landed.get(p);
      seen.add(p);
      if (!want) return void (problem ??= `'${p}' is in the private dir, but was never emitted`);
      const [type, uid, gid, mode, size, mtime, ino, nlink] = f;
      // A file's link count is exact: 1, or 1 + the links emitted to it. A link is checked for
      // its inode below (the same inode has the same count).
      const links = want.links !== undefined;
      if (want.sameAs !== undefined || links) inodes.set(p, ino);
      // `<part>/<index>/<top>`: an emitted item's inode, keyed `<index>/<top>` for moveIn.
      const m = /^[0-9]+\/([0-9]+)\/(.*)$/s.exec(p);
      if (m && this.emitted.get(Number(m[1]))?.has(m[2])) this.topInodes.set(`${m[1]}/${m[2]}`, ino);
      const got = `${type} ${uid}:${gid} ${mode}${want.size !== undefined ? ` ${size}` : ''}${links ? ` x${nlink}` : ''} @${Number(mtime)}${want.target !== undefined ? ` -> ${target}` : ''}`;
      const exp = `${want.type} 0:0 ${want.mode.toString(8)}${want.size !== undefined ? ` ${want.size}` : ''}${links ? ` x${want.links}` : ''} @${want.anyMtime ? Number(mtime) : CANONICAL_MTIME}${want.target !== undefined ? ` -> ${want.target}` : ''}`;
      if (got !== exp) problem ??= `'${p}' landed as ${got}, not ${exp}`;
    };
    const fields: string[] = [];
    await runPipeline([{ cmd: 'find', args: [this.tree, '-mindepth', '1', '-printf', '%y\\t%U\\t%G\\t%m\\t%s\\t%T@\\t%i\\t%n\\t%P\\0%l\\0'], privileged: true }], {
      consume: async (stdout) => {
        // One decoder for the whole stream: a chunk may end inside a multi-byte character,
        // which decoded on its own would become U+FFFD (and a legit name "never emitted").
        const decoder = new StringDecoder('utf8');
        for await (const chunk of stdout as AsyncIterable<Buffer>) {
          const parts = (rest + decoder.write(chunk)).split('\0');
          rest = parts.pop() ?? '';
          fields.push(...parts);
          while (fields.length >= 2) {
            const [rec, target] = fields.splice(0, 2);
            check(rec, target);
          }
        }
      }
    });
    if (rest !== '' || fields.length > 0) problem ??= 'the walk of the private dir ended mid-record';
    for (const p of this.landed.keys()) if (!seen.has(p)) problem ??= `'${p}' was emitted but is not in the private dir`;
    // One filesystem (the private dir's), so the inode number alone names the file.
    for (const [p, want] of this.landed)
      if (want.sameAs !== undefined && inodes.get(p) !== inodes.get(want.sameAs)) problem ??= `'${p}' is not the same file as '${want.sameAs}', which it was emitted as a hard link to`;
    if (problem !== undefined) throw new UnsafeArchiveError(problem.split("'")[1] ?? '', `: what tar extracted differs from what was checked (${escapedText(problem)})`);
  }

  /**
   * Renames the new items in; makes the store dirs that do not exist yet (root:root 0755).
   * Never replaces anything but the leftovers in `replace` (see displace): a name the store has
   * by now is left alone, and one that appears between that check and the rename (root or the
   * build group writing the store while the daemon is stopped) too: the rename itself refuses
   * to replace (moveAll). Such an item is not added (so never registered) and is told in a
   * warning. Returns the items added (absolute), how many were already there, and which of
   * `replace` were replaced by the snapshot's copy (they are in `added` too).
   */
  async moveIn(summaries: ReadonlyArray<{ index: number; summary: ArchiveSummary }>, replace: ReadonlySet<string> = new Set()): Promise<{ added: string[]; existing: number; replaced: string[] }> {
    this.moved = true;
    const added: string[] = [];
    let existing = 0;
    for (const r of new Set(summaries.flatMap((s) => s.summary.roots))) await this.makeStoreDir(r);
    const displaced = await this.displace(this.extractedLeftovers(summaries).filter((t) => replace.has(t)));
    // Every archive's items for one store path go in one rename batch (moveAll): an `mv` per
    // archive and store path cost a process start each (a fork of this process, issue 13).
    // Per store path, in archive order: the names to move, and for each archive the positions
    // of its own in that list, so added keeps the order of the archives.
    const batches = new Map<string, { real: string; sources: string[]; tops: string[]; inodes: (string | undefined)[] }>();
    const order: Array<{ r: string; from: number; to: number }> = [];
    for (const { index, summary } of summaries) {
      const dropped = this.dropped.get(index) ?? new Set<string>();
      // Only whole items: one that lost a hard link (see extract) stays behind and is removed.
      const emitted = new Set([...(this.emitted.get(index) ?? [])].filter((t) => !dropped.has(t)));
      for (const top of summary.tops) if (!emitted.has(top) && !dropped.has(top)) existing++;
      for (const [sp, real] of this.disk) {
        const r = rel(sp);
        const b = batches.get(r) ?? { real, sources: [], tops: [], inodes: [] };
        batches.set(r, b);
        const tops = [...emitted].filter((t) => t.startsWith(`${r}/`)).sort();
        // An item an earlier archive moves in is in the store by the time this one's would be
        // renamed: counted as there already, as a rename of it after the earlier one would.
        const queued = new Set(b.tops);
        const fresh = tops.filter((t) => !queued.has(t) && !fs.lstatSync(onStoreDisk(this.disk, `/${t}`), { throwIfNoEntry: false }));
        existing += tops.length - fresh.length;
        const from = b.tops.length;
        for (const t of fresh) {
          b.sources.push(path.join(this.tree, String(this.partOf.get(index) ?? 0), String(index), t));
          b.tops.push(t);
          b.inodes.push(this.topInodes.get(`${index}/${t}`));
        }
        order.push({ r, from, to: b.tops.length });
      }
    }
    const keptOf = new Map<string, Set<number>>();
    for (const [r, b] of batches) {
      const kept = await this.moveAll(b.sources, b.real, b.inodes);
      keptOf.set(r, kept);
      existing += kept.size;
      if (kept.size > 0)
        core.warning(
          `runbox store: ${kept.size} item(s) appeared in the store while this restore renamed its items in (something else wrote the store while its daemon was stopped); they were left as they are and not registered: ${[
            ...kept
          ]
            .slice(0, 5)
            .map((i) => `/${b.tops[i]}`)
            .join(', ')}`
        );
    }
    for (const { r, from, to } of order) {
      const b = batches.get(r) as { tops: string[] };
      const kept = keptOf.get(r) as Set<number>;
      for (let i = from; i < to; i++) if (!kept.has(i)) added.push(`/${b.tops[i]}`);
    }
    const addedSet = new Set(added);
    return { added, existing, replaced: displaced.filter((t) => addedSet.has(t)) };
  }

  /**
   * Renames the leftovers `items` (absolute) out of the store into `<dir>/displaced/`, removed
   * with the private dir, so that moveIn renames the snapshot's copies in. Never deleted in
   * place: a rename moves whatever is at that name (a link swapped in too) and follows nothing,
   * and the private dir is on the store's filesystem, so nothing is copied. One that stays (a
   * mount point: EBUSY) is then counted as existing by moveIn. Returns those that left.
   */
  private async displace(items: readonly string[]): Promise<string[]> {
    const onDisk = (t: string): boolean => fs.lstatSync(onStoreDisk(this.disk, t), { throwIfNoEntry: false }) !== undefined;
    const present = items.filter(onDisk);
    if (present.length === 0) return [];
    const dest = path.join(this.dir, 'displaced');
    await run('mkdir', ['-m', '0700', '--', dest], { privileged: true });
    // The leftovers are all in the store dir (restore.ts), each name once, so `-n` never meets a
    // name in the fresh dir; what left the store is read from the store below, not from mv.
    for (let i = 0; i < present.length; i += 256)
      await runPipeline([{ cmd: 'mv', args: ['-n', '-t', dest, '--', ...present.slice(i, i + 256).map((t) => onStoreDisk(this.disk, t))], privileged: true }]).catch((e: unknown) =>
        core.warning(`runbox store: moving unregistered items out of the store failed for some (they stay as they are, not registered): ${escapedText(errorMessage(e))}`)
      );
    return present.filter((t) => !onDisk(t));
  }

  /**
   * Makes `r` (relative store path) and its missing parents as root:root 0755 at its real
   * location: from the first missing one down, each named to one `install -d`, which makes them
   * in that order.
   */
  private async makeStoreDir(r: string): Promise<void> {
    let cur = '';
    const missing: string[] = [];
    for (const part of rel(onStoreDisk(this.disk, `/${r}`)).split('/')) {
      cur = `${cur}/${part}`;
      if (missing.length > 0) {
        missing.push(cur);
        continue;
      }
      const st = fs.lstatSync(cur, { throwIfNoEntry: false });
      if (st?.isDirectory()) continue;
      if (st) throw new UnsafeArchiveError(r, `needs ${cur} to be a real directory, but it is not`);
      missing.push(cur);
    }
    if (missing.length > 0) await run('install', ['-d', '-m', '0755', '-o', '0', '-g', '0', '--', ...missing], { privileged: true });
  }

  /**
   * `mv -n -t dest` as root, in batches of names. Through runPipeline so that a cancel kills it
   * (sudo passes the signal on to mv): no rename may land after the daemon was started again.
   * `-n` is renameat2(RENAME_NOREPLACE) in GNU mv: the kernel refuses to replace a name that
   * exists, with no window between a check and the rename. Which sources were not moved is read
   * from the destination: a name there whose inode is not the one the walk saw (`inodes`, by
   * position) is not ours. Returns their positions. Some coreutils versions exit 1 when -n
   * skips a name: that failure is ignored when every source of the batch is accounted for.
   */
  private async moveAll(sources: readonly string[], dest: string, inodes: ReadonlyArray<string | undefined>): Promise<Set<number>> {
    const kept = new Set<number>();
    for (let i = 0; i < sources.length;) {
      // As many names as fit 256 KiB of arguments (a store's thousands of items in a few
      // processes, not one per 256), well under the kernel's limit for a command line.
      let end = i;
      for (let bytes = 0; end < sources.length && (end === i || bytes + sources[end].length < MOVE_ARG_BYTES); end++) bytes += sources[end].length + 1;
      const batch = sources.slice(i, end);
      const failure = await runPipeline([{ cmd: 'mv', args: ['-n', '-t', dest, '--', ...batch], privileged: true }]).then(
        () => undefined,
        (e: unknown) => e
      );
      let unaccounted = false;
      batch.forEach((src, j) => {
        const st = fs.lstatSync(path.join(dest, path.basename(src)), { throwIfNoEntry: false, bigint: true });
        if (!st) unaccounted = true;
        else if (st.ino.toString() !== inodes[i + j]) kept.add(i + j);
      });
      if (failure !== undefined && unaccounted) throw failure instanceof Error ? failure : new Error(errorMessage(failure));
      i = end;
    }
    return kept;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.unregister();
    await removeTree(this.dir);
    // The private dir leaves no trace, not even the parent's mtime: the store dir's parent is
    // outside the store. A store dir that holds it (a mount point) and got new items keeps its new mtime.
    const parent = path.dirname(this.dir);
    const isStoreDir = [...this.disk.values()].includes(parent);
    if (!(this.moved && isStoreDir)) await run('touch', ['-h', '-c', '-d', `@${this.parentMtime}`, '--', parent], { privileged: true });
  }
}
