// Main: look the snapshot up, download it into the staging dir, prove it intact and safe, and
// only then stop the daemon, extract additively and merge the DB. Any problem with the cache or
// the snapshot is a warning and counts as a miss; only a daemon that cannot be started again
// (or fail-on-cache-miss) fails the step.
import fs from 'node:fs';
import path from 'node:path';
import * as core from '@actions/core';
import { errorMessage } from '../errors.js';
import { ensurePrivilege } from '../exec.js';
import { formatBytes, formatSeconds, type StepReport } from '../summary.js';
import { restoreEntry, SNAPSHOT_DIR } from './cache-io.js';
import type { DaemonControl, StoreConfig } from './config.js';
import { withDaemonStopped, DaemonStartError } from './daemon.js';
import { mergeDb, type DbMergeResult } from './db.js';
import { decompressTo, extractArchive, planExtraction, removeStale, restoreDirTimes, verifyArchive, verifyFile, type ExtractPlan } from './extract.js';
import { resolveKeys } from './key.js';
import { isLiveDbFile, readManifest } from './manifest.js';
import { checkShardsApart } from './shard-rules.js';
import type { ArchiveSummary } from './members.js';
import type { StoreKind } from './presets.js';
import { createStaging, removeStaging } from './staging.js';
import type { StoreState } from './state.js';

export interface ApplyOptions {
  root: string;
  kind: StoreKind;
  storePaths: readonly string[];
  dbDir?: string;
  daemon: DaemonControl;
  /** The downloaded snapshot dir (manifest.json and the files it lists). */
  snapshotDir: string;
  /** Runner-owned scratch dir outside snapshotDir. */
  scratchDir: string;
}

export interface ApplyResult {
  compressedBytes: number;
  dataBytes: number;
  added: number;
  existing: number;
  dbs: DbMergeResult[];
  verifyMs: number;
  extractMs: number;
  dbMs: number;
}

/** Verifies, then extracts a downloaded snapshot into the store and merges its DB. */
export async function applySnapshot(o: ApplyOptions): Promise<ApplyResult> {
  const t0 = Date.now();
  const manifest = readManifest(o.snapshotDir, { kind: o.kind, storePaths: o.storePaths, ...(o.dbDir ? { dbDir: o.dbDir } : {}) });
  const reserved = (p: string): boolean => isLiveDbFile(p, o.dbDir);
  // Shards are verified side by side (a zstd and a parser each); all of them before anything
  // is extracted, so one bad member anywhere still refuses the whole snapshot.
  const archives: Array<{ file: string; summary: ArchiveSummary; storePaths: string[] }> = await Promise.all(
    manifest.archives.map(async (a) => {
      const file = path.join(o.snapshotDir, a.file);
      return { file, summary: await verifyArchive(file, a, { storePaths: a.storePaths, reserved }), storePaths: a.storePaths };
    })
  );
  checkShardsApart(archives.map((a) => a.summary));
  const dbCopies: Array<{ live: string; copy: string }> = [];
  for (const d of manifest.dbs) {
    const file = path.join(o.snapshotDir, d.file);
    await verifyFile(file, d);
    const copy = path.join(o.scratchDir, `${path.basename(d.path)}.snapshot`);
    await decompressTo(file, copy);
    dbCopies.push({ live: path.join(o.root, d.path), copy });
  }
  // Planned now to refuse before the daemon is disturbed, and again once it is stopped: what
  // exists on disk then is what additive extraction and the DB merge must go by.
  let plans: ExtractPlan[] = archives.map((a) => planExtraction(o.root, a.storePaths, a.summary));
  const setuid = archives.flatMap((a) => a.summary.setuid);
  if (setuid.length > 0)
    core.warning(
      `runbox store: the snapshot holds ${setuid.length} setuid/setgid file(s), which Guix and Nix stores never contain; restored as recorded: ${setuid.slice(0, 5).join(', ')}${setuid.length > 5 ? ', ...' : ''}`
    );
  const verifyMs = Date.now() - t0;

  await ensurePrivilege('restore a store snapshot into root-owned store paths');
  let added = new Set<string>();
  let extractMs = 0;
  let dbMs = 0;
  const dbs = await withDaemonStopped(o.daemon, async () => {
    plans = archives.map((a) => planExtraction(o.root, a.storePaths, a.summary));
    added = new Set(plans.flatMap((p) => p.added));
    const fresh = (manifest.dirTimes ?? []).filter((d) => !fs.existsSync(path.join(o.root, d.path)));
    const t1 = Date.now();
    const stale = await removeStale(o.root, plans);
    if (stale > 0) core.warning(`runbox store: ${stale} dedup file(s) on disk differed in size from the snapshot's (left by an interrupted restore?); written afresh`);
    // Shards hold disjoint items, so their tars run at once; see shards.ts for the shared dirs.
    await Promise.all(archives.map((a, i) => extractArchive(a.file, o.root, plans[i], o.scratchDir)));
    await restoreDirTimes(o.root, fresh);
    const t2 = Date.now();
    extractMs = t2 - t1;
    const results: DbMergeResult[] = [];
    for (const d of dbCopies) results.push(await mergeDb({ liveFile: d.live, snapshotFile: d.copy, added }));
    dbMs = Date.now() - t2;
    return results;
  });
  return {
    compressedBytes: manifest.archives.reduce((n, a) => n + a.bytes, 0) + manifest.dbs.reduce((n, d) => n + d.bytes, 0),
    dataBytes: archives.reduce((n, a) => n + a.summary.dataBytes, 0),
    added: added.size,
    existing: plans.reduce((n, p) => n + p.excluded.length + p.merged.length, 0),
    dbs,
    verifyMs,
    extractMs,
    dbMs
  };
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

export async function restoreStore(cfg: StoreConfig, report: StepReport): Promise<StoreState> {
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
    toolVersion: keys.toolVersion ?? ''
  };
  // Outputs exist from the start, so a later step can read them whatever happens below.
  setOutputs(keys.primary, '', false);
  // Root rights are needed to write the store; find out before downloading anything.
  await ensurePrivilege('restore a store snapshot into root-owned store paths');

  const staging = createStaging(cfg.stagingBase);
  try {
    const t0 = Date.now();
    const matched = await restoreEntry(staging, keys.primary, keys.restore);
    const downloadMs = Date.now() - t0;
    if (!matched) {
      report.add('store snapshot', `miss: nothing restored for ${keys.primary}${keys.restore.length ? ` or ${keys.restore.join(', ')}` : ''} (cache service problems, if any, are in the warnings)`);
    } else {
      const scratchDir = path.join(staging, 'scratch');
      fs.mkdirSync(scratchDir);
      try {
        const r = await applySnapshot({
          root: cfg.root,
          kind: cfg.kind,
          storePaths: cfg.storePaths,
          ...(cfg.dbDir ? { dbDir: cfg.dbDir } : {}),
          daemon: cfg.daemon,
          snapshotDir: path.join(staging, SNAPSHOT_DIR),
          scratchDir
        });
        state.matchedKey = matched;
        state.exactHit = matched === keys.primary;
        const db = r.dbs.map((d) => `DB ${d.mode}: ${d.registered} paths registered, ${d.alreadyValid} already valid${d.skipped ? `, ${d.skipped} skipped` : ''}`);
        report.add(
          'store snapshot',
          `restored ${matched} (${state.exactHit ? 'exact hit' : 'restore-key hit'}): ${formatBytes(r.compressedBytes)} compressed, ${formatBytes(r.dataBytes)} of files; ` +
            `${r.added} top-level entries added, ${r.existing} already present${db.length ? `; ${db.join('; ')}` : ''}`
        );
        report.add(
          'store restore time',
          `download ${formatSeconds(downloadMs)}, verify ${formatSeconds(r.verifyMs)}, extract ${formatSeconds(r.extractMs)}, DB ${formatSeconds(r.dbMs)}`
        );
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
    try {
      removeStaging(staging, cfg.stagingBase);
    } catch (e) {
      core.warning(`runbox store: could not remove the staging dir ${staging}: ${errorMessage(e)}`);
    }
  }
}
