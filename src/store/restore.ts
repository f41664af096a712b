// Main: look the snapshot up, download it into the staging dir, prove it intact and safe, and
// only then stop the daemon, extract additively and register the new items in the DB. Any problem with the cache or
// the snapshot is a warning and counts as a miss; only a daemon that cannot be started again
// (or fail-on-cache-miss) fails the step.
import fs from 'node:fs';
import path from 'node:path';
import * as core from '@actions/core';
import { isTerminating } from '../cleanup.js';
import { errorMessage } from '../errors.js';
import { ensurePrivilege } from '../exec.js';
import { formatBytes, formatSeconds, type StepReport } from '../summary.js';
import { restoreEntry, SNAPSHOT_DIR } from './cache-io.js';
import { keyProblem, type DaemonControl, type StoreConfig } from './config.js';
import { withDaemonStopped, DaemonStartError } from './daemon.js';
import { registerPaths, type RegisterResult } from './db.js';
import { extractArchive, IntegrityError, planExtraction, removeStale, restoreDirTimes, verifyArchive, verifyFile, type ExtractPlan } from './extract.js';
import { resolveKeys, type ResolvedKeys } from './key.js';
import { isLiveDbFile, ManifestError, manifestBytes, peekBaseKey, readManifest, type SnapshotManifest } from './manifest.js';
import type { DirTime } from './listing.js';
import { writeBaseInfo } from './delta.js';
import { checkShardsApart, ShardFence } from './shard-rules.js';
import { PrivateRestore, privatePlace } from './private-extract.js';
import { type ArchiveSummary, TarFormatError, UnsafeArchiveError } from './members.js';
import { PRESETS, type StoreKind } from './presets.js';
import { readRegistrationsFile, type Registration } from './registrations.js';
import { createStaging, removeStaging } from './staging.js';
import { withStoreRestoreLock } from '../lock/restore-lock.js';
import type { StoreState } from './state.js';

export interface ApplyOptions {
  root: string;
  kind: StoreKind;
  storePaths: readonly string[];
  dbDir?: string;
  daemon: DaemonControl;
  /** The downloaded snapshot dir (manifest.json and the files it lists). */
  snapshotDir: string;
  /** A delta's base (a full snapshot), downloaded into its own dir; required for a delta. */
  baseDir?: string;
  /** Runner-owned scratch dir outside snapshotDir. */
  scratchDir: string;
}

interface CheckedArchive {
  file: string;
  summary: ArchiveSummary;
  storePaths: string[];
  part: number;
}

export interface ApplyResult {
  compressedBytes: number;
  dataBytes: number;
  added: number;
  existing: number;
  /** Set when a DB dir is configured and the snapshot carries registrations. */
  db?: RegisterResult;
  verifyMs: number;
  extractMs: number;
  dbMs: number;
  /** Checked and extracted in one pass (extractMs: the move into the store), or checked, then extracted. */
  onePass: boolean;
  /** Private dirs of killed restores, removed. */
  reaped: string[];
  /** Set when the snapshot was a delta: its base's key. */
  deltaOf?: string;
  /** The full snapshot's part (the snapshot itself, or a delta's base): its size and top-level entries (absolute). */
  full: { bytes: number; items: string[] };
}

/**
 * Verifies, then extracts a downloaded snapshot into the store and merges its DB. A delta is
 * applied together with its base as one snapshot of several archives: each is verified on its
 * own, then the cross-archive rules (shard-rules.ts) hold over all of them, so a delta's items
 * cannot overlap the base's and neither can write through the other; then all are extracted,
 * and the DBs merged base first.
 */
export async function applySnapshot(o: ApplyOptions): Promise<ApplyResult> {
  const t0 = Date.now();
  const expect = { kind: o.kind, storePaths: o.storePaths, ...(o.dbDir ? { dbDir: o.dbDir } : {}) };
  const manifest = readManifest(o.snapshotDir, expect);
  const parts: Array<{ dir: string; manifest: SnapshotManifest }> = [];
  if (manifest.base) {
    if (!o.baseDir) throw new ManifestError(`it is a delta over ${manifest.base.key}, and that base was not fetched`);
    const base = readManifest(o.baseDir, expect);
    // Depth 1 only: a delta's base must be whole.
    if (base.base) throw new ManifestError(`the base ${manifest.base.key} of this delta is itself a delta (over ${base.base.key}); chains are refused`);
    parts.push({ dir: o.baseDir, manifest: base });
  }
  parts.push({ dir: o.snapshotDir, manifest });
  const reserved = (p: string): boolean => isLiveDbFile(p, o.dbDir);
  const specs = parts.flatMap((p, part) => p.manifest.archives.map((a) => ({ file: path.join(p.dir, a.file), rec: a, storePaths: a.storePaths, part })));
  const place = privatePlace(o.root, o.storePaths);
  let priv: PrivateRestore | undefined;
  let reaped: string[] = [];
  if ('parent' in place) ({ restore: priv, reaped } = await PrivateRestore.open(o.root, o.storePaths, place, o.scratchDir));
  else core.info(`runbox store: checking the snapshot, then extracting it (no one-pass restore: ${place.why})`);
  if (reaped.length > 0) core.info(`runbox store: removed ${reaped.length} private dir(s) of restores that were killed: ${reaped.join(', ')}`);
  try {
    // Archives (shards, base and delta alike) are checked side by side (a zstd and a parser
    // each); all of them before anything reaches the store, so one bad member anywhere still
    // refuses the whole snapshot. One pass: each is extracted into the private dir as it is
    // checked, fenced from the others member by member.
    const checkAll = (into: PrivateRestore | undefined): Promise<CheckedArchive[]> => {
      const fence = new ShardFence(specs.length);
      // Settled, all of them, before the first failure is thrown: no tar may still be writing
      // into the private dir when it is removed.
      return settleAll(
        specs.map(async (a, i) => {
          const f = fence.forArchive(i);
          const rules = { storePaths: a.storePaths, reserved, ...(f ? { fence: f } : {}) };
          const summary = into ? await into.extract(a.file, a.rec, rules) : await verifyArchive(a.file, a.rec, rules);
          return { file: a.file, summary, storePaths: a.storePaths, part: a.part };
        })
      );
    };
    let archives: CheckedArchive[];
    try {
      archives = await checkAll(priv);
    } catch (e) {
      // tar failing where the checks passed (a hard link into an item the store already has,
      // say, which the private dir does not hold): the way that extracts into the store itself.
      // A refusal stands; on cancel (the private dir closed by a cleanup) nothing new starts.
      if (!priv || priv.isClosed || isTerminating() || isRefusal(e)) throw e;
      core.info(`runbox store: the one-pass extract failed, checking the snapshot, then extracting it into the store: ${errorMessage(e)}`);
      await priv.close();
      priv = undefined;
      archives = await checkAll(undefined);
    }
    checkShardsApart(archives.map((a) => a.summary));
    // Registrations, checked before the daemon is disturbed; base first, so a delta's win.
    const storeDir = PRESETS[o.kind].storeDir;
    let registrations: Registration[] | undefined;
    if (o.dbDir && o.storePaths.includes(storeDir))
      for (const p of parts) {
        const rec = p.manifest.registrations;
        if (!rec) continue;
        const file = path.join(p.dir, rec.file);
        await verifyFile(file, rec);
        registrations = [...(registrations ?? []), ...(await readRegistrationsFile(file, storeDir)).paths];
      }
    // Planned now to refuse before the daemon is disturbed, and again once it is stopped: what
    // exists on disk then is what additive extraction and the DB merge must go by.
    let plans: ExtractPlan[] = archives.map((a) => planExtraction(o.root, a.storePaths, a.summary));
    const setuid = archives.flatMap((a) => a.summary.setuid);
    if (setuid.length > 0)
      core.warning(
        `runbox store: the snapshot holds ${setuid.length} setuid/setgid file(s), which Guix and Nix stores never contain; restored as recorded: ${setuid.slice(0, 5).join(', ')}${setuid.length > 5 ? ', ...' : ''}`
      );
    // Dirs several archives write into: the latest recorded mtime of each (the delta's, when both name one).
    const dirTimes = new Map<string, DirTime>();
    for (const p of parts) for (const d of p.manifest.dirTimes ?? []) dirTimes.set(d.path, d);
    const verifyMs = Date.now() - t0;

    await ensurePrivilege('restore a store snapshot into root-owned store paths');
    let added = new Set<string>();
    let extractMs = 0;
    let dbMs = 0;
    let onePass = priv !== undefined;
    const db = await withDaemonStopped(o.daemon, async () => {
      plans = archives.map((a) => planExtraction(o.root, a.storePaths, a.summary));
      const fresh = [...dirTimes.values()].filter((d) => !fs.existsSync(path.join(o.root, d.path)));
      const t1 = Date.now();
      const direct = priv ? whyDirect(plans, archives.map((a) => a.summary)) : undefined;
      if (priv && direct === undefined) added = new Set(await priv.moveIn(plans));
      else {
        if (priv) {
          // The private copy linked new items to the dedup files on disk, which are not what the snapshot holds.
          core.info(`runbox store: extracting again, into the store itself: ${direct ?? ''}`);
          onePass = false;
          await priv.close();
        }
        added = new Set(plans.flatMap((p) => p.added));
        const stale = await removeStale(o.root, plans);
        if (stale > 0) core.warning(`runbox store: ${stale} dedup file(s) on disk differed in size from the snapshot's (left by an interrupted restore?); written afresh`);
        // Archives hold disjoint items, so their tars run at once; see shards.ts for the shared dirs.
        await Promise.all(archives.map((a, i) => extractArchive(a.file, o.root, plans[i], o.scratchDir)));
      }
      await restoreDirTimes(o.root, fresh);
      const t2 = Date.now();
      extractMs = t2 - t1;
      const result =
        o.dbDir && registrations
          ? await registerPaths({ kind: o.kind, root: o.root, dbDir: o.dbDir, storeDir, registrations, added, scratchDir: o.scratchDir })
          : undefined;
      dbMs = Date.now() - t2;
      return result;
    });
    const fullTops = new Set(archives.filter((a) => a.part === 0).flatMap((a) => [...a.summary.tops]));
    return {
      compressedBytes: parts.reduce((n, p) => n + manifestBytes(p.manifest), 0),
      dataBytes: archives.reduce((n, a) => n + a.summary.dataBytes, 0),
      added: added.size,
      existing: plans.reduce((n, p) => n + p.excluded.length + p.merged.length, 0),
      ...(db ? { db } : {}),
      verifyMs,
      extractMs,
      onePass,
      reaped,
      dbMs,
      ...(manifest.base ? { deltaOf: manifest.base.key } : {}),
      full: { bytes: manifestBytes(parts[0].manifest), items: [...fullTops].map((t) => `/${t}`).sort() }
    };
  } finally {
    await priv?.close();
  }
}

/** The snapshot itself is bad: checking it again, the other way, cannot help. */
function isRefusal(e: unknown): boolean {
  return e instanceof UnsafeArchiveError || e instanceof TarFormatError || e instanceof IntegrityError || e instanceof ManifestError;
}

/** Promise.all that waits for every promise before it rejects, with the first rejection in order. */
async function settleAll<T>(promises: ReadonlyArray<Promise<T>>): Promise<T[]> {
  const results = await Promise.allSettled(promises);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<T>).value);
}

/**
 * Why the private copy cannot simply be moved in, so the archives are extracted into the store
 * itself (they passed every check already); undefined when it can.
 */
function whyDirect(plans: readonly ExtractPlan[], summaries: readonly ArchiveSummary[]): string | undefined {
  const stale = new Set(plans.flatMap((p) => p.stale)).size;
  if (stale > 0) return `${stale} dedup file(s) on disk differ in size from the snapshot's`;
  const merged = new Set(plans.flatMap((p) => p.merged));
  for (const s of summaries)
    for (const dir of s.dotParents) {
      const top = [...merged].find((m) => dir.startsWith(`${m}/`));
      if (top !== undefined) return `the snapshot has dirs inside ${top}, which exists on disk`;
    }
  return undefined;
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

function setOutputs(primary: string, matched: string, exact: boolean): void {
  core.setOutput('cache-primary-key', primary);
  core.setOutput('cache-matched-key', matched);
  core.setOutput('cache-hit', exact ? 'true' : 'false');
}

interface Fetched {
  matched: string;
  snapshotDir: string;
  /** A delta's base, fetched by its exact key. */
  baseDir?: string;
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
async function fetchSnapshot(cfg: StoreConfig, keys: ResolvedKeys, stagings: string[]): Promise<{ fetched?: Fetched; note: string }> {
  const entryOpts = { kind: cfg.kind, storePaths: cfg.storePaths, trustedKeys: cfg.trustedKeys };
  const lookups: Array<[string, string[]]> = [[keys.primary, keys.restore]];
  const refused = new Set<string>();
  let note = '';
  for (let i = 0; i < lookups.length; i++) {
    const [key, restore] = lookups[i];
    const staging = createStaging(cfg.stagingBase);
    stagings.push(staging);
    const matched = await restoreEntry(staging, key, restore, entryOpts);
    if (!matched) return { note };
    if (refused.has(matched)) {
      core.info(`the restore keys found ${matched} again, the delta whose base is gone: continuing as on a cache miss`);
      return { note };
    }
    const snapshotDir = path.join(staging, SNAPSHOT_DIR);
    const baseKey = peekBaseKey(snapshotDir);
    // A base key the cache cannot look up: not fetched, so applySnapshot refuses the delta.
    if (baseKey === undefined || keyProblem(baseKey) !== undefined) return { fetched: { matched, snapshotDir }, note };
    core.info(`${matched} is a delta over ${baseKey}; fetching the base`);
    const baseStaging = createStaging(cfg.stagingBase);
    stagings.push(baseStaging);
    // A delta naming itself as base is refused like a missing base.
    const got = baseKey === matched ? undefined : await restoreEntry(baseStaging, baseKey, [], entryOpts);
    if (got === baseKey) return { fetched: { matched, snapshotDir, baseDir: path.join(baseStaging, SNAPSHOT_DIR) }, note };
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

// Host-wide: one restore into a store at a time (src/lock/restore-lock.ts); `busy` = could not have it, a miss.
export function restoreStore(cfg: StoreConfig, report: StepReport): Promise<StoreState> { return withStoreRestoreLock(path.join(cfg.root, cfg.storePaths[0]), (busy) => restoreLocked(cfg, report, busy)); }
async function restoreLocked(cfg: StoreConfig, report: StepReport, busy?: string): Promise<StoreState> {
  const keys = await resolveKeys(cfg);
  const state: StoreState = {
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
    delta: cfg.delta
  };
  // Outputs exist from the start, so a later step can read them whatever happens below.
  setOutputs(keys.primary, '', false);
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
      const scratchDir = path.join(stagings[stagings.length - 1], 'scratch');
      fs.mkdirSync(scratchDir);
      try {
        const r = await applySnapshot({
          root: cfg.root,
          kind: cfg.kind,
          storePaths: cfg.storePaths,
          ...(cfg.dbDir ? { dbDir: cfg.dbDir } : {}),
          daemon: cfg.daemon,
          snapshotDir: fetched.snapshotDir,
          ...(fetched.baseDir ? { baseDir: fetched.baseDir } : {}),
          scratchDir
        });
        state.matchedKey = matched;
        state.exactHit = matched === keys.primary;
        // What post may save a delta over: the full snapshot, never a delta (chains stay at depth 1).
        if (cfg.delta === 'auto' && cfg.save !== 'never' && !(cfg.save === 'auto' && state.exactHit)) {
          const baseKey = r.deltaOf ?? matched;
          state.base = { key: baseKey, ...writeBaseInfo(cfg.stagingBase, { key: baseKey, bytes: r.full.bytes, items: r.full.items }) };
        }
        const db = r.db
          ? [
              r.db.mode === 'refused'
                ? 'DB: nothing registered (journal files without a DB, see the warning)'
                : `DB${r.db.mode === 'created' ? ' created' : ''}: ${r.db.registered} paths registered, ${r.db.alreadyValid} already valid${r.db.skipped ? `, ${r.db.skipped} registrations unused` : ''}`
            ]
          : [];
        report.add(
          'store snapshot',
          `restored ${matched} (${state.exactHit ? 'exact hit' : 'restore-key hit'}${r.deltaOf ? `; a delta over ${r.deltaOf}, fetched too` : ''}): ${formatBytes(r.compressedBytes)} compressed, ${formatBytes(r.dataBytes)} of files; ` +
            `${r.added} top-level entries added, ${r.existing} already present${db.length ? `; ${db.join('; ')}` : ''}`
        );
        report.add(
          'store restore time',
          r.onePass
            ? `download ${formatSeconds(downloadMs)}, check + extract ${formatSeconds(r.verifyMs)} (one pass, into a private dir), move in ${formatSeconds(r.extractMs)}, DB ${formatSeconds(r.dbMs)}`
            : `download ${formatSeconds(downloadMs)}, verify ${formatSeconds(r.verifyMs)}, extract ${formatSeconds(r.extractMs)}, DB ${formatSeconds(r.dbMs)}`
        );
        if (r.reaped.length > 0) report.add('store leftovers', `removed ${r.reaped.length} private dir(s) of killed restores: ${r.reaped.join(', ')}`);
      } catch (e) {
        if (e instanceof DaemonStartError) throw e;
        core.warning(`runbox store: the snapshot ${matched} was not restored, continuing as on a cache miss: ${errorMessage(e)}`);
        report.add('store snapshot', `not restored (${matched}): ${errorMessage(e)}`);
      }
    }
    setOutputs(keys.primary, state.matchedKey, state.exactHit);
    if (!state.matchedKey && cfg.failOnCacheMiss)
      throw new StoreMissError(
        `fail-on-cache-miss is true and no store snapshot was restored for ${keys.primary}${keys.restore.length ? ` or ${keys.restore.join(', ')}` : ''}`,
        state
      );
    return state;
  } finally {
    for (const staging of stagings)
      try {
        removeStaging(staging, cfg.stagingBase);
      } catch (e) {
        core.warning(`runbox store: could not remove the staging dir ${staging}: ${errorMessage(e)}`);
      }
  }
}
