// Main: look the snapshot up, read its index, manifest and registrations, decide which archives
// (frames) hold an item the store lacks, stream only those from the cache (each chunk proven by
// the index before zstd sees it), check and extract them into a private dir
// (private-extract.ts), and only then stop the daemon, move the new items in and register them
// in the DB. Any problem with the cache or
// the snapshot is a warning and counts as a miss; only a daemon that cannot be started again
// (or fail-on-cache-miss) fails the step.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as core from '@actions/core';
import { errorMessage } from '../common/errors.js';
import { ensurePrivilege } from '../sys/exec.js';
import { prepareLauncher } from '../sys/launch.js';
import { checkConfinedIds } from '../sys/confined.js';
import { removeTree } from '../sys/privileged-fs.js';
import { formatBytes, formatSeconds, type StepReport } from '../action/job-summary.js';
import { lookupEntry, restoreEntry, type FetchedEntry } from './cache-io.js';
import { keyProblem, realStoreDir, realStorePaths, type DaemonControl, type StoreConfig } from './config.js';
import { withDaemonStopped, DaemonStartError } from './daemon.js';
import { liveValidPathsIfAny, registerPaths, RegistrationError, type RegisterResult } from './db.js';
import { verifyFile } from './extract.js';
import { resolveKeys, type ResolvedKeys } from './key.js';
import { bytesUnder, withProgress } from '../action/progress.js';
import { type ArchiveRecord, isLiveDbFile, ManifestError, MAX_ARCHIVES, manifestBytes, peekBaseKey, readManifest, type SnapshotManifest } from './manifest.js';
import { writeBaseInfo } from './delta.js';
import { checkItemsListed, checkShardsApart } from './shard-rules.js';
import { localFiles, type SnapshotFiles } from './snapshot-files.js';
import { onStoreDisk, PrivateRestore, privatePlace, type StoreDisk } from './private-extract.js';
import type { ArchiveSummary } from './members.js';
import { PRESETS, type StoreKind } from './presets.js';
import { readRegistrationsFile, type Registration } from './registrations.js';
import { createStaging, removeStaging } from './staging.js';
import { restoreLockTimeout, withStoreRestoreLock } from '../lock/restore-lock.js';
import { lockStoreItems, type ItemLocks } from '../lock/store-item-locks.js';
import { escapedText, shown } from '../common/untrusted-text.js';
import type { StoreState } from './state.js';

export interface ApplyOptions {
  root: string;
  kind: StoreKind;
  storePaths: readonly string[];
  dbDir?: string;
  daemon: DaemonControl;
  /** The snapshot dir: manifest.json, and the files it lists unless `files` says where they are. */
  snapshotDir: string;
  /** Where the snapshot's archives and registrations are read from; default: snapshotDir on disk. */
  files?: SnapshotFiles;
  /** A delta's base (a full snapshot), in its own dir; required for a delta. */
  baseDir?: string;
  baseFiles?: SnapshotFiles;
  /** Runner-owned scratch dir outside snapshotDir. */
  scratchDir: string;
}

interface CheckedArchive {
  index: number;
  file: string;
  items?: string[] | undefined;
  summary: ArchiveSummary;
  storePaths: string[];
  part: number;
}

export interface ApplyResult {
  /** Compressed bytes of the archives read (and the registrations). */
  compressedBytes: number;
  /** Archives read, and the snapshot's archives in all. */
  frames: { read: number; total: number };
  /** Compressed bytes of the archives not read: every item they list is already in the store. */
  skippedBytes: number;
  dataBytes: number;
  added: number;
  existing: number;
  /** Set when a DB dir is configured and the snapshot carries registrations. */
  db?: RegisterResult;
  verifyMs: number;
  extractMs: number;
  dbMs: number;
  /** Setuid, setgid and sticky bits the snapshot's modes had and the restore dropped. */
  bitsDropped: number;
  /** New items (absolute) not restored: they share files (hard links) with items already in the store. */
  notRestored: string[];
  /** Top-level entries (absolute) named like a daemon lock file: checked, left out (members.ts isDaemonLockName). */
  lockDropped: string[];
  /** Private dirs of killed restores, removed. */
  reaped: string[];
  /** Set when the snapshot was a delta: its base's key. */
  deltaOf?: string;
  /** The full snapshot's part (the snapshot itself, or a delta's base): its size and top-level entries (absolute). */
  full: { bytes: number; items: string[] };
}

/** Lanes of extraction at once: each is one root tar, fed one archive after another, each through its own zstd (PrivateRestore.extractAll). */
export function extractConcurrency(): number {
  return Math.max(1, Math.min(8, os.availableParallelism()));
}

/** Free space asked for beyond the recorded data: block rounding, dirs, symlinks. */
export function spaceNeeded(dataBytes: number): number {
  return dataBytes + Math.ceil(dataBytes / 8) + 1024 * 1024;
}

interface Part {
  dir: string;
  files: SnapshotFiles;
  manifest: SnapshotManifest;
}

interface ArchiveSpec {
  /** Position among all the parts' archives: the archive's sub-dir in the private dir. */
  index: number;
  file: string;
  files: SnapshotFiles;
  rec: ArchiveRecord;
  storePaths: string[];
  /** Index into the parts: 0 is the full snapshot (a delta's base), 1 the delta. */
  part: number;
}

/**
 * Checks and extracts a downloaded snapshot into a private dir, then moves its new items into
 * the store and merges its DB (see private-extract.ts). A delta is applied together with its
 * base as one snapshot of several archives: each is checked on its own, then no item may be in
 * two of them; the DBs are merged base first.
 */
export async function applySnapshot(o: ApplyOptions): Promise<ApplyResult> {
  const t0 = Date.now();
  const { parts, specs: all } = readParts(o);
  // Resolved once, up front: a /gnu moved to another disk and linked back by root is followed
  // here, any other link refused; from here on the store is changed at its real paths only.
  const disk = realStorePaths(o.root, storeDirFirst(o.kind, o.storePaths));
  const { restore: priv, reaped } = await PrivateRestore.open(disk, privatePlace(o.root, disk));
  if (reaped.length > 0) core.info(`runbox store: removed ${reaped.length} private dir(s) of restores that were killed: ${reaped.join(', ')}`);
  let registrationsRead: Promise<Registration[] | undefined> | undefined;
  try {
    const { specs, skipped, valid } = await selectFrames(o, disk, all);
    // Items on disk the live DB does not register (a restore killed between its move and its
    // insert, a build cut short): the daemons' invalid leftovers. Their copies are extracted, to
    // replace them under their own lock (moveInAndRegister). Only when a live DB was read: a
    // store without one registers nothing, and its items on disk stay as they are.
    const storeDir = PRESETS[o.kind].storeDir;
    if (valid) priv.treatAsLeftovers((item) => item.startsWith(`${storeDir}/`) && !path.basename(item).startsWith('.') && !valid.has(item));
    const needed = spaceNeeded(specs.reduce((n, a) => n + a.rec.dataBytes, 0));
    await priv.checkSpace(needed);
    // Read beside the extraction (its own zstd; the file is in the snapshot dir already), not
    // after it: it is the one step between the walk and the move that needs no other.
    registrationsRead = readPartRegistrations(o, parts);
    // Its failure is told below, once the archives' own were; it never goes unheard.
    registrationsRead.catch(() => undefined);
    const archives = await extractAll(o, priv, specs, needed);
    checkItemsListed(
      archives,
      all.map((a) => ({ index: a.index, items: a.rec.items }))
    );
    checkShardsApart(archives.map((a) => a.summary));
    await priv.verifyLanded();
    const registrations = await registrationsRead;
    const left = reportLeftOut(archives, priv);
    const verifyMs = Date.now() - t0;

    await ensurePrivilege('restore a store snapshot into root-owned store paths');
    const moved = await moveInAndRegister(o, disk, priv, archives, registrations);
    const delta = parts[parts.length - 1].manifest.base;
    const fullTops = new Set([
      ...archives.filter((a) => a.part === 0).flatMap((a) => [...a.summary.tops]),
      ...skipped.filter((a) => a.part === 0).flatMap((a) => (a.rec.items ?? []).map((i) => i.replace(/^\/+/, '')))
    ]);
    const skippedBytes = skipped.reduce((n, a) => n + a.rec.bytes, 0);
    return {
      compressedBytes: parts.reduce((n, p) => n + manifestBytes(p.manifest), 0) - skippedBytes,
      frames: { read: specs.length, total: all.length },
      skippedBytes,
      dataBytes: archives.reduce((n, a) => n + a.summary.dataBytes, 0),
      added: moved.added,
      existing: moved.existing + skipped.reduce((n, a) => n + (a.rec.items?.length ?? 0), 0),
      ...(moved.db ? { db: moved.db } : {}),
      verifyMs,
      extractMs: moved.extractMs,
      dbMs: moved.dbMs,
      ...left,
      reaped,
      ...(delta ? { deltaOf: delta.key } : {}),
      full: { bytes: manifestBytes(parts[0].manifest), items: [...fullTops].map((t) => `/${t}`).sort() }
    };
  } finally {
    // Nothing of this restore still runs when it ends, whichever way it ends.
    await registrationsRead?.catch(() => undefined);
    await priv.close();
  }
}

/** The snapshot's manifest (and a delta's base's, first), checked, and the archives they list. */
function readParts(o: ApplyOptions): { parts: Part[]; specs: ArchiveSpec[] } {
  const expect = { kind: o.kind, storePaths: o.storePaths, ...(o.dbDir ? { dbDir: o.dbDir } : {}) };
  const files = o.files ?? localFiles(o.snapshotDir);
  const manifest = readManifest(o.snapshotDir, expect, (name) => files.sizeOf(name));
  const parts: Part[] = [];
  if (manifest.base) {
    if (!o.baseDir) throw new ManifestError(`it is a delta over ${manifest.base.key}, and that base was not fetched`);
    const baseFiles = o.baseFiles ?? localFiles(o.baseDir);
    const base = readManifest(o.baseDir, expect, (name) => baseFiles.sizeOf(name));
    // Depth 1 only: a delta's base must be whole.
    if (base.base) throw new ManifestError(`the base ${manifest.base.key} of this delta is itself a delta (over ${base.base.key}); chains are refused`);
    parts.push({ dir: o.baseDir, files: baseFiles, manifest: base });
  }
  parts.push({ dir: o.snapshotDir, files, manifest });
  const specs = parts.flatMap((p, part) => p.manifest.archives.map((a) => ({ file: a.file, files: p.files, rec: a, storePaths: a.storePaths, part })));
  if (specs.length > MAX_ARCHIVES) throw new ManifestError(`the delta and its base hold ${specs.length} archives together, more than ${MAX_ARCHIVES}`);
  // Items are unique within each manifest (readManifest); a delta's must also be apart from its base's.
  const owner = new Set<string>();
  for (const a of specs)
    for (const item of a.rec.items ?? []) {
      if (owner.has(item)) throw new ManifestError(`the item ${shown(item)} is listed by both the delta and its base`);
      owner.add(item);
    }
  return { parts, specs: specs.map((a, index) => ({ ...a, index })) };
}

/**
 * Partial restore: the archives that hold at least one item the store lacks, and those skipped.
 * An item is lacking unless it is on disk (lstat at the store paths' real locations, whose
 * chains privatePlace checked: no link followed) and, when the DB is restored too and the item
 * is in its store dir, registered valid in the live DB. An archive that lists no items, or when the live DB
 * cannot be read, is fetched: when unsure, fetch. Nothing is decided from the archives' bytes,
 * so a skipped archive is never read at all; its items are what the store already has. `valid`:
 * what the live DB registers valid in the store dir, when there is one and it was read.
 */
async function selectFrames(o: ApplyOptions, disk: StoreDisk, specs: readonly ArchiveSpec[]): Promise<{ specs: ArchiveSpec[]; skipped: ArchiveSpec[]; valid?: ReadonlySet<string> }> {
  const storeDir = PRESETS[o.kind].storeDir;
  let valid: ReadonlySet<string> | undefined;
  const dbDecides = o.dbDir !== undefined && o.storePaths.includes(storeDir);
  if (dbDecides)
    try {
      valid = await liveValidPathsIfAny(o.root, o.dbDir as string, storeDir, o.scratchDir);
    } catch (e) {
      core.warning(`runbox store: the live DB could not be read to see which items it has, so the whole snapshot is fetched: ${errorMessage(e)}`);
      return { specs: [...specs], skipped: [] };
    }
  const withValid = valid ? { valid } : {};
  const listed = specs.filter((a) => a.rec.items !== undefined && a.rec.items.length > 0);
  if (listed.length === 0) return { specs: [...specs], skipped: [], ...withValid };
  const onDisk = (item: string): boolean => fs.lstatSync(onStoreDisk(disk, item), { throwIfNoEntry: false }) !== undefined;
  // No live DB: nothing is valid, so every item is fetched (and what is on disk stays as it is).
  const isValid = (item: string): boolean => valid?.has(item) ?? false;
  const lacks = (item: string): boolean => !onDisk(item) || (dbDecides && item.startsWith(`${storeDir}/`) && !isValid(item));
  const keep: ArchiveSpec[] = [];
  const skipped: ArchiveSpec[] = [];
  for (const a of specs) {
    const items = a.rec.items;
    if (items === undefined || items.length === 0 || items.some(lacks)) keep.push(a);
    else skipped.push(a);
  }
  if (skipped.length > 0)
    core.info(
      `runbox store: ${skipped.length} of ${specs.length} archive(s) not fetched: the store already holds (on disk${dbDecides ? ' and valid in the DB' : ''}) every item they list (${skipped.reduce((n, a) => n + a.rec.bytes, 0)} compressed bytes)`
    );
  return { specs: keep, skipped, ...withValid };
}

/**
 * Every archive checked and extracted (in extractConcurrency() lanes) before anything reaches the
 * store, so one bad member anywhere still refuses the whole snapshot. Settled, all of them,
 * before the first failure is thrown: no tar may still be writing into the private dir when it
 * is removed.
 */
async function extractAll(o: ApplyOptions, priv: PrivateRestore, specs: readonly ArchiveSpec[], needed: number): Promise<CheckedArchive[]> {
  const reserved = (p: string): boolean => isLiveDbFile(p, o.dbDir);
  const jobs = specs.map((a) => {
    const files = a.files;
    const sha256 = files.sha256Of?.(a.file);
    return {
      index: a.index,
      // Its entry's own tree and confined ids: a delta's tars cannot write its base's files.
      part: a.part,
      src: { open: () => files.open(a.file), ...(files.reread ? { reread: () => (files.reread as (n: string) => Promise<string>)(a.file) } : {}), ...(sha256 !== undefined ? { sha256 } : {}) },
      rec: a.rec,
      rules: { storePaths: a.storePaths, reserved }
    };
  });
  try {
    const summaries = await withProgress(
      `checking and extracting ${specs.length} archive(s)`,
      () => priv.checkedBytes,
      () => priv.extractAll(jobs, extractConcurrency()),
      specs.reduce((n, a) => n + a.rec.dataBytes, 0)
    );
    return specs.map((a, i) => ({ index: a.index, file: a.file, items: a.rec.items, summary: summaries[i], storePaths: a.storePaths, part: a.part }));
  } catch (e) {
    throw (await priv.spaceError(e, needed)) ?? e;
  }
}

/** The parts' registrations, checked before the daemon is disturbed; base first, so a delta's win. */
async function readPartRegistrations(o: ApplyOptions, parts: readonly Part[]): Promise<Registration[] | undefined> {
  const storeDir = PRESETS[o.kind].storeDir;
  if (!o.dbDir || !o.storePaths.includes(storeDir)) return undefined;
  let registrations: Registration[] | undefined;
  for (const p of parts) {
    const rec = p.manifest.registrations;
    if (!rec) continue;
    const file = path.join(p.dir, rec.file);
    // Fetched whole into the snapshot dir by the entry reader (or there already, on disk).
    await verifyFile(file, rec);
    registrations = [...(registrations ?? []), ...(await readRegistrationsFile(file, storeDir)).paths];
  }
  return registrations;
}

/** What the checks left out of the restore (and still restored the rest), said in the log. */
function reportLeftOut(archives: readonly CheckedArchive[], priv: PrivateRestore): Pick<ApplyResult, 'bitsDropped' | 'lockDropped' | 'notRestored'> {
  const bitsDropped = archives.reduce((n, a) => n + a.summary.bitsDropped, 0);
  if (bitsDropped > 0) {
    const where = archives.flatMap((a) => a.summary.bitsDroppedIn).slice(0, 5);
    core.info(`runbox store: ${bitsDropped} setuid/setgid/sticky bit(s) in the snapshot's modes were dropped (store items never have them), e.g. on ${where.map((w) => shown(w)).join(', ')}`);
  }
  const lockDropped = [...new Set(archives.flatMap((a) => [...a.summary.lockDropped]))].sort().map((t) => `/${t}`);
  if (lockDropped.length > 0)
    core.warning(
      `runbox store: ${lockDropped.length} top-level entr${lockDropped.length === 1 ? 'y' : 'ies'} named like a daemon lock file (<item>.lock) left out of the restore (the daemon, locking <item> as root, would open it), e.g. ${lockDropped
        .slice(0, 5)
        .map((t) => shown(t))
        .join(', ')}`
    );
  const notRestored = priv.notRestored();
  if (notRestored.length > 0)
    core.info(
      `runbox store: ${notRestored.length} item(s) not restored: they share files (hard links) with items already in the store, e.g. ${notRestored
        .slice(0, 5)
        .map((t) => shown(t))
        .join(', ')}`
    );
  return { bitsDropped, lockDropped, notRestored };
}

/** With the daemon stopped: the new items renamed into the store, then registered in its DB. */
async function moveInAndRegister(
  o: ApplyOptions,
  disk: StoreDisk,
  priv: PrivateRestore,
  archives: readonly CheckedArchive[],
  registrations: readonly Registration[] | undefined
): Promise<{ added: number; existing: number; db?: RegisterResult; extractMs: number; dbMs: number }> {
  const storeDir = PRESETS[o.kind].storeDir;
  let added = new Set<string>();
  let existing = 0;
  let extractMs = 0;
  let dbMs = 0;
  const db = await withDaemonStopped(o.daemon, async () => {
    const t1 = Date.now();
    const summaries = archives.map((a) => ({ index: a.index, summary: a.summary }));
    // Only those the snapshot registers: replaced without a row, an item would stay as invalid as it was.
    const registered = new Set((registrations ?? []).map((r) => r.path));
    const leftovers = priv.extractedLeftovers(summaries).filter((i) => registered.has(i));
    const held = leftovers.length > 0 ? await lockLeftovers(o, disk, leftovers) : undefined;
    try {
      const moved = await priv.moveIn(summaries, held?.replace);
      if (moved.replaced.length > 0)
        core.info(
          `runbox store: ${moved.replaced.length} item(s) on disk that the DB did not register (left by a restore or a build cut short) replaced by the snapshot's copies, under their daemon locks, e.g. ${moved.replaced
            .slice(0, 5)
            .map((t) => shown(t))
            .join(', ')}`
        );
      added = new Set(moved.added);
      existing = moved.existing;
      const t2 = Date.now();
      extractMs = t2 - t1;
      if (!o.dbDir || !registrations) return undefined;
      let result: RegisterResult;
      try {
        result = await registerPaths({ kind: o.kind, root: o.root, dbDir: o.dbDir, storeDir, registrations, added, scratchDir: o.scratchDir });
      } catch (e) {
        // Killed, the insert may have committed (see db.ts Committed): a valid path without its
        // files breaks every build using it, an unregistered item is an invalid leftover the
        // daemon deletes before it builds or substitutes that path. So they stay, and it is a miss.
        if (e instanceof RegistrationError && e.committed === 'unknown') {
          core.warning(
            `runbox store: registering the restored items was cut short (${errorMessage(e)}) and whether their rows were committed cannot be told: the ${moved.added.length} item(s) moved in stay in the store (those not registered are invalid leftovers the daemon replaces)`
          );
          throw e;
        }
        // The DB could not take the rows (its filesystem full, say): the items just renamed in
        // would stay in the store registered nowhere while the step says nothing was restored.
        // They are this restore's own (moveIn checked each inode), so they go, and the store is as it was.
        for (const a of moved.added) await removeTree(onStoreDisk(disk, a));
        added = new Set();
        throw e;
      }
      // Failed after the COMMIT: the rows are in, the items valid paths, so they stay and the
      // restore stands; what the DB counted is said, an item it does not list being an invalid leftover.
      if (result.afterCommit) {
        const f = result.afterCommit;
        core.warning(
          `runbox store: registering the restored items failed after their rows were committed (${f.error}); the ${moved.added.length} item(s) moved in stay in the store. The DB counted ${f.paths ?? 'an unknown number'} of the ${result.registered} paths and ${f.refs.held ?? 'an unknown number'} of the ${f.refs.sent} references sent (an item whose path it does not list is an invalid leftover the daemon replaces)`
        );
      }
      dbMs = Date.now() - t2;
      return result;
    } finally {
      // After the insert (or its failure): until then a daemon must not take these paths.
      await held?.locks?.release().catch((e: unknown) => core.warning(`runbox store: letting go of the store items' locks: ${errorMessage(e)}`));
    }
  });
  return { added: added.size, existing, ...(db ? { db } : {}), extractMs, dbMs };
}

/**
 * The leftovers `items` (absolute, in the store dir) that may be replaced: those whose daemon
 * lock (`<item>.lock`, lock/store-item-locks.ts) this restore took and that the live DB, read
 * again under the locks with the daemon stopped, still does not register. `locks` stay held
 * until released. One whose lock another process holds (a build or substitution) or whose lock
 * file is not the daemons' kind is left as it is, and not registered.
 */
async function lockLeftovers(o: ApplyOptions, disk: StoreDisk, items: readonly string[]): Promise<{ replace: Set<string>; locks?: ItemLocks }> {
  const storeDir = PRESETS[o.kind].storeDir;
  const named = (name: string, suffix = ''): string => shown(`${storeDir}/${name}${suffix}`);
  let locks: ItemLocks;
  try {
    locks = await lockStoreItems(
      onStoreDisk(disk, storeDir),
      items.map((i) => i.slice(storeDir.length + 1))
    );
  } catch (e) {
    core.warning(`runbox store: the locks of ${items.length} item(s) on disk that the DB does not register could not be taken, so they stay as they are, not registered: ${errorMessage(e)}`);
    return { replace: new Set() };
  }
  if (locks.busy.length > 0)
    core.warning(
      `runbox store: ${locks.busy.length} item(s) on disk that the DB does not register are locked by another process (a build or substitution in progress), so they stay as they are, not registered: ${locks.busy
        .slice(0, 5)
        .map((n) => named(n))
        .join(', ')}`
    );
  if (locks.refused.length > 0)
    core.warning(
      `runbox store: ${locks.refused.length} item(s) on disk that the DB does not register stay as they are, not registered: their lock file was refused, nothing was written through it: ${locks.refused
        .slice(0, 5)
        .map((r) => `${named(r.name, '.lock')} ${escapedText(r.why)}`)
        .join(', ')}`
    );
  let valid: ReadonlySet<string> | undefined;
  try {
    // Read again now that nothing else writes the DB (the daemon stopped, the restore lock and
    // the items' locks held): a path registered valid meanwhile is never replaced.
    valid = await liveValidPathsIfAny(o.root, o.dbDir as string, storeDir, o.scratchDir, 'live-valid-locked.json');
  } catch (e) {
    core.warning(`runbox store: the live DB could not be read again, so no item on disk that it does not register is replaced: ${errorMessage(e)}`);
  }
  const replace = new Set(valid === undefined ? [] : [...locks.locked].map((n) => `${storeDir}/${n}`).filter((i) => !valid.has(i)));
  return { replace, locks };
}

/** The private dir goes beside the store dir (the preset's), whatever the order of store-paths, so items are renamed in, not copied. */
function storeDirFirst(kind: StoreKind, storePaths: readonly string[]): string[] {
  const storeDir = PRESETS[kind].storeDir;
  return storePaths.includes(storeDir) ? [storeDir, ...storePaths.filter((p) => p !== storeDir)] : [...storePaths];
}

/** fail-on-cache-miss: the step fails, but post may still save (save: auto), so the state comes along. */
export class StoreMissError extends Error {
  constructor(
    message: string,
    readonly state: StoreState
  ) {
    super(message);
    this.name = 'StoreMissError';
  }
}

/** The step's cache-* outputs; main sets them (steps/ decides every output). */
export interface StoreOutputs {
  primaryKey: string;
  matchedKey: string;
  exactHit: boolean;
  /** restore-all-matches only: every key restored, in the order applied (newest first). */
  matchedKeys?: string[];
}

export interface Fetched {
  matched: string;
  entry: FetchedEntry;
  /** A delta's base, found by its exact key. */
  base?: FetchedEntry;
}

/**
 * A delta's base, fetched by its exact key and no restore keys (with the same fixed path, so the
 * same cache version); `{}` for a full snapshot, or for a base key the cache cannot look up (not
 * fetched, so applySnapshot refuses the delta). `missing` names a base that could not be had,
 * `space` when it is in the cache but this host had no room for it.
 */
export async function fetchDeltaBase(cfg: StoreConfig, entry: FetchedEntry, stagings: string[]): Promise<{ base?: FetchedEntry } | { missing: string; space?: string }> {
  const matched = entry.matched;
  const baseKey = peekBaseKey(entry.dir);
  if (baseKey === undefined || keyProblem(baseKey) !== undefined) return {};
  core.info(`${matched} is a delta over ${baseKey}; fetching the base`);
  const baseStaging = createStaging(cfg.stagingBase);
  stagings.push(baseStaging);
  // A delta naming itself as base is refused like a missing base.
  const spaceProblems: string[] = [];
  const got =
    baseKey === matched
      ? undefined
      : await withProgress(
          `downloading the delta's base ${baseKey}`,
          () => bytesUnder(baseStaging),
          () => restoreEntry(baseStaging, baseKey, [], { kind: cfg.kind, storePaths: cfg.storePaths, trustedKeys: cfg.trustedKeys, spaceProblems })
        );
  if (got?.matched === baseKey) return { base: got };
  return { missing: baseKey, ...(spaceProblems.length > 0 ? { space: spaceProblems[0] } : {}) };
}

/**
 * Looks the snapshot up and downloads it; for a delta, also its base, by exact key and no
 * restore keys (with the same fixed path, so the same cache version). When the base is gone
 * (evicted), a warning, and:
 * - the delta matched the primary key exactly: the restore keys are looked up as on a miss of
 *   the primary key. The cache service answers a prefix with its newest entry; when that is the
 *   same delta again, it is a miss.
 * - the delta matched a restore key: that lookup would only find the same delta again: a miss.
 * On a miss, post saves a full snapshot, which is then the newest entry for the prefix.
 */
export async function fetchSnapshot(cfg: StoreConfig, keys: ResolvedKeys, stagings: string[]): Promise<{ fetched?: Fetched; note: string }> {
  const entryOpts = { kind: cfg.kind, storePaths: cfg.storePaths, trustedKeys: cfg.trustedKeys };
  const lookups: Array<[string, string[]]> = [[keys.primary, keys.restore]];
  const refused = new Set<string>();
  let note = '';
  for (let i = 0; i < lookups.length; i++) {
    const [key, restore] = lookups[i];
    const staging = createStaging(cfg.stagingBase);
    stagings.push(staging);
    const entry = await withProgress(
      `downloading the snapshot for ${key}`,
      () => bytesUnder(staging),
      () => restoreEntry(staging, key, restore, entryOpts)
    );
    if (!entry) return { note };
    const matched = entry.matched;
    if (refused.has(matched)) {
      core.info(`the restore keys found ${matched} again, the delta whose base is gone: continuing as on a cache miss`);
      return { note };
    }
    const b = await fetchDeltaBase(cfg, entry, stagings);
    if (!('missing' in b)) return { fetched: { matched, entry, ...b }, note };
    const baseKey = b.missing;
    // The base is in the cache; this host had no room for it. Saying "gone" would send the
    // user to the cache, and a fallback lookup would only fill the same disk again.
    if (b.space !== undefined) return { note: ` (the delta ${matched} was found, but its base ${baseKey} could not be written: ${b.space})` };
    refused.add(matched);
    const fallback = i === 0 && matched === keys.primary && keys.restore.length > 0;
    core.warning(
      `runbox store: ${matched} is a delta snapshot over ${baseKey}, which could not be fetched from the cache (evicted, or a cache service problem in the warnings above); ` +
        (fallback ? `looking up the restore keys (${keys.restore.join(', ')}) as on a miss` : 'continuing as on a cache miss; post saves a full snapshot')
    );
    note = ` (the delta ${matched} was found, but its base ${baseKey} is gone)`;
    if (fallback) lookups.push([keys.restore[0], keys.restore.slice(1)]);
  }
  return { note };
}

/** One fetched entry (and a delta's base) applied to the store (`staging`: its staging dir, for scratch); the summary's detail after `restored <key> (<hit kind>`. */
export async function applyFetched(cfg: StoreConfig, fetched: Fetched, staging: string): Promise<{ r: ApplyResult; detail: string }> {
  const scratchDir = path.join(staging, 'scratch');
  fs.mkdirSync(scratchDir);
  const r = await applySnapshot({
    root: cfg.root,
    kind: cfg.kind,
    storePaths: cfg.storePaths,
    ...(cfg.dbDir ? { dbDir: cfg.dbDir } : {}),
    daemon: cfg.daemon,
    snapshotDir: fetched.entry.dir,
    files: fetched.entry.files,
    ...(fetched.base ? { baseDir: fetched.base.dir, baseFiles: fetched.base.files } : {}),
    scratchDir
  });
  const entries = [fetched.entry, ...(fetched.base ? [fetched.base] : [])];
  const entryBytes = entries.reduce((n, e) => n + e.bytes, 0);
  const readBytes = entries.reduce((n, e) => n + e.metaBytes + e.files.fetchedBytes(), 0);
  const db = r.db
    ? [
        r.db.mode === 'refused'
          ? 'DB: nothing registered (journal files without a DB, see the warning)'
          : `DB${r.db.mode === 'created' ? ' created' : ''}: ${r.db.registered} paths registered, ${r.db.alreadyValid} already valid${r.db.skipped ? `, ${r.db.skipped} registrations unused` : ''}${r.db.afterCommit ? ' (the insert failed after its COMMIT, see the warning)' : ''}`
      ]
    : [];
  const detail =
    `${r.deltaOf ? `; a delta over ${r.deltaOf}, fetched too` : ''}): ${formatBytes(readBytes)} compressed downloaded of the entry's ${formatBytes(entryBytes)} (${r.frames.read} of ${r.frames.total} archives${r.frames.read < r.frames.total ? '; the others hold only items the store has' : ''}), ${formatBytes(r.dataBytes)} of files; ` +
    `${r.added} top-level entries added, ${r.existing} already present${r.bitsDropped > 0 ? `; ${r.bitsDropped} setuid/setgid/sticky bit(s) dropped` : ''}${r.notRestored.length > 0 ? `; ${r.notRestored.length} items not restored: they share files with items already in the store` : ''}${r.lockDropped.length > 0 ? `; ${r.lockDropped.length} entries named like a daemon lock file left out` : ''}${db.length ? `; ${db.join('; ')}` : ''}`;
  return { r, detail };
}

/** The summary's restore times after the lookup. */
export function restoreTimes(r: ApplyResult): string {
  return `download + check + extract ${formatSeconds(r.verifyMs)} (one streamed pass, into a private dir), move in ${formatSeconds(r.extractMs)}, DB ${formatSeconds(r.dbMs)}`;
}

/** The restore's staging dirs, each removed; one that cannot be is a warning (it holds no store item). */
export function removeStagings(cfg: StoreConfig, stagings: readonly string[]): void {
  for (const staging of stagings)
    try {
      removeStaging(staging, cfg.stagingBase);
    } catch (e) {
      core.warning(`runbox store: could not remove the staging dir ${staging}: ${errorMessage(e)}`);
    }
}

/** Host-wide, one restore into a store at a time (src/lock/restore-lock.ts); `busy` says why the lock could not be had: then a miss. */
export async function restoreStore(cfg: StoreConfig, report: StepReport, setOutputs: (o: StoreOutputs) => void): Promise<StoreState> {
  // Nothing reaches the store: no restore lock, no root rights.
  if (cfg.lookupOnly) return lookupOnly(cfg, report, setOutputs);
  // A store path through a link root did not make fails the step before the lock, a download
  // or a private dir (main and the restore sub-action refused it with the inputs already).
  realStorePaths(cfg.root, cfg.storePaths);
  // The restore's commands and pipelines go through the launcher once it is up (sys/launch.ts).
  prepareLauncher();
  // Asked now, beside the lock and the download of the index (two getent starts): the private
  // dir asks again, gets this answer, and a failure is told there (a failed check is not kept).
  checkConfinedIds().catch(() => undefined);
  // Keyed on the store itself (the preset's store dir), not on the first of store-paths: two jobs
  // listing the same paths in another order must still take the same lock.
  return withStoreRestoreLock(realStoreDir(cfg.root, cfg.kind), (busy) => restoreLocked(cfg, report, setOutputs, busy));
}

/**
 * `lookup-only`: the outputs say whether (and under which key) an entry exists; nothing is
 * downloaded or restored. The state says the store holds no snapshot (matchedKey ''), and that
 * the cache already has the primary key when it matched exactly, so `save: auto` does not save
 * it again (the service would refuse the duplicate key anyway).
 */
async function lookupOnly(cfg: StoreConfig, report: StepReport, setOutputs: (o: StoreOutputs) => void): Promise<StoreState> {
  const keys = await resolveKeys(cfg);
  report.add('cache key', `${keys.primary}; restore keys: ${keys.restore.join(', ') || '(none)'}`);
  const state = initialState(cfg, keys);
  setOutputs({ primaryKey: keys.primary, matchedKey: '', exactHit: false });
  const matched = await lookupEntry(keys.primary, keys.restore, { kind: cfg.kind, storePaths: cfg.storePaths });
  state.exactHit = matched === keys.primary;
  setOutputs({ primaryKey: keys.primary, matchedKey: matched ?? '', exactHit: state.exactHit });
  report.add(
    'store snapshot',
    matched
      ? `lookup only: ${matched} exists (${state.exactHit ? 'exact hit' : 'restore-key hit'}); nothing downloaded or restored`
      : `lookup only: no entry for ${keys.primary}${keys.restore.length ? ` or ${keys.restore.join(', ')}` : ''}; nothing downloaded or restored`
  );
  if (!matched && cfg.failOnCacheMiss)
    throw new StoreMissError(`fail-on-cache-miss is true and no store snapshot exists for ${keys.primary}${keys.restore.length ? ` or ${keys.restore.join(', ')}` : ''}`, state);
  return state;
}

/** The state a restore (or a save with nothing restored) starts from: nothing matched yet. */
export function initialState(cfg: StoreConfig, keys: ResolvedKeys): StoreState {
  return {
    version: 1,
    kind: cfg.kind,
    root: cfg.root,
    storePaths: cfg.storePaths,
    dbDir: cfg.dbDir ?? '',
    stagingBase: cfg.stagingBase,
    save: cfg.save,
    shards: cfg.shards,
    primaryKey: keys.primary,
    matchedKey: '',
    exactHit: false,
    toolVersion: keys.toolVersion ?? '',
    delta: cfg.delta,
    ...(cfg.gcCapBytes > 0 ? { gc: { capBytes: cfg.gcCapBytes, lockTimeoutSec: restoreLockTimeout() } } : {})
  };
}

/** The summary's 'cache key' row: the key, how it was composed, and the restore keys. */
export function describeKeys(keys: ResolvedKeys): string {
  return `${keys.primary} = ${keys.parts.length > 0 ? keys.parts.map((p) => `${p.name} ${p.value || '(none)'} (${p.note})`).join(' + ') : "the 'key' input"}; restore keys: ${keys.restore.join(', ') || '(none)'}`;
}

async function restoreLocked(cfg: StoreConfig, report: StepReport, setOutputs: (o: StoreOutputs) => void, busy?: string): Promise<StoreState> {
  const keys = await resolveKeys(cfg);
  // Outside the collapsed log group too: a miss is explained by which part of the key changed.
  report.add('cache key', describeKeys(keys));
  const state = initialState(cfg, keys);
  // Outputs exist from the start, so a later step can read them whatever happens below.
  setOutputs({ primaryKey: keys.primary, matchedKey: '', exactHit: false });
  // Root rights are needed to write the store; find out before downloading anything.
  await ensurePrivilege('restore a store snapshot into root-owned store paths');

  const stagings: string[] = [];
  try {
    const t0 = Date.now();
    const { fetched, note } = busy ? { fetched: undefined, note: ` (${busy})` } : await fetchSnapshot(cfg, keys, stagings);
    const downloadMs = Date.now() - t0;
    if (!fetched) {
      report.add(
        'store snapshot',
        `miss: nothing restored for ${keys.primary}${keys.restore.length ? ` or ${keys.restore.join(', ')}` : ''}${note} (cache service problems, if any, are in the warnings)`
      );
    } else {
      const matched = fetched.matched;
      try {
        const { r, detail } = await applyFetched(cfg, fetched, stagings[stagings.length - 1]);
        state.matchedKey = matched;
        state.exactHit = matched === keys.primary;
        // What post may save a delta over: the full snapshot, never a delta (chains stay at depth 1).
        if (cfg.delta === 'auto' && cfg.save !== 'never' && !(cfg.save === 'auto' && state.exactHit)) {
          const baseKey = r.deltaOf ?? matched;
          state.base = { key: baseKey, ...writeBaseInfo(cfg.stagingBase, { key: baseKey, bytes: r.full.bytes, items: r.full.items }) };
        }
        report.add('store snapshot', `restored ${matched} (${state.exactHit ? 'exact hit' : 'restore-key hit'}${detail}`);
        report.add('store restore time', `index + manifest ${formatSeconds(downloadMs)}, ${restoreTimes(r)}`);
        if (r.reaped.length > 0) report.add('store leftovers', `removed ${r.reaped.length} private dir(s) of killed restores: ${r.reaped.join(', ')}`);
      } catch (e) {
        if (e instanceof DaemonStartError) throw e;
        core.warning(`runbox store: the snapshot ${matched} was not restored, continuing as on a cache miss: ${errorMessage(e)}`);
        report.add('store snapshot', `not restored (${matched}): ${errorMessage(e)}`);
      }
    }
    setOutputs({ primaryKey: keys.primary, matchedKey: state.matchedKey, exactHit: state.exactHit });
    if (!state.matchedKey && cfg.failOnCacheMiss)
      throw new StoreMissError(`fail-on-cache-miss is true and no store snapshot was restored for ${keys.primary}${keys.restore.length ? ` or ${keys.restore.join(', ')}` : ''}`, state);
    return state;
  } finally {
    removeStagings(cfg, stagings);
  }
}
