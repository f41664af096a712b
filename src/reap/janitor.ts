// At the start of main: reaps what dead runs left behind. A hard-killed job never runs its post,
// so its dirs (and its free lock) stay until a later run of any job on this host sweeps them.
//
// A dir is reaped only if (a) nobody holds its lock — the kernel's word that no live run uses it —
// (b) its last use is older than reap-after (run dirs) or pr-reap-after (per-PR dirs), and (c) it
// is not one of this run's own dirs. Two janitors at once cannot both reap a dir: only one gets
// its lock, and the other, if it gets a lock later, finds the dir gone (see reaper.ts).
import * as core from '@actions/core';
import path from 'node:path';
import { errorMessage } from '../common/errors.js';
import { formatBytes } from '../action/job-summary.js';
import fs from 'node:fs';
import { errnoOf, lstatOrUndefined } from '../sys/errno.js';
import { type Candidate, scanBaseDir, type SkippedEntry } from './candidates.js';
import type { ReapConfig } from './reap-config.js';
import { LEFTOVER_GRACE_MS, type ReapedDir, removeOrphanLock, tryReapDir } from './reaper.js';

export interface JanitorOptions {
  /** This run's own dirs (run dir, pr dirs, or dirs inside them): never reaped, whatever their lock says. */
  exclude: string[];
  /** The clock the idle times are measured against (tests). */
  now?: Date;
}

export interface FailedReap {
  path: string;
  error: string;
}

export interface JanitorResult {
  reaped: ReapedDir[];
  /** Sum of reaped[].bytes. */
  bytes: number;
  /** Lock files of dirs that were already gone, removed. */
  orphanLocksRemoved: string[];
  /** `<base>/<ref-key>` dirs left empty (every run and pr dir of the ref reaped), removed. */
  emptyKeyDirsRemoved: string[];
  /** Free and old enough, but the reap failed (e.g. no sudo for root-owned content); retried by the next janitor. */
  failed: FailedReap[];
  /** Old enough, but left alone because their lock was held: live runs (or another janitor mid-reap). For the log. */
  inUse: number;
  skipped: SkippedEntry[];
}

export async function runJanitor(baseDir: string, cfg: Pick<ReapConfig, 'reapAfterSec' | 'prReapAfterSec'>, opts: JanitorOptions): Promise<JanitorResult> {
  const now = opts.now ?? new Date();
  const base = path.resolve(baseDir);
  const scan = scanBaseDir(base);
  const result: JanitorResult = { reaped: [], bytes: 0, orphanLocksRemoved: [], emptyKeyDirsRemoved: [], failed: [], inUse: 0, skipped: scan.skipped };
  const cutoff = (c: Candidate) => new Date(now.getTime() - 1000 * (c.kind === 'run' ? cfg.reapAfterSec : cfg.prReapAfterSec));

  for (const c of scan.candidates) {
    if (isExcluded(c.path, opts.exclude)) continue;
    // Cheap pre-filter on the scan's figure; the reaper re-reads it under the lock.
    if (c.lastUse.getTime() > cutoff(c).getTime()) continue;
    try {
      const r = await tryReapDir(c, { baseDir: base, idleBefore: cutoff(c), now });
      if (r.reaped) {
        result.reaped.push(r.reaped);
        result.bytes += r.reaped.bytes;
        core.info(`runbox janitor: reaped ${c.kind} dir ${c.path} (idle since ${r.reaped.lastUse.toISOString()}, ${formatBytes(r.reaped.bytes)})`);
      } else if (r.inUse) result.inUse++;
      else core.debug(`runbox janitor: kept ${c.path}: ${r.skipped}`);
    } catch (e) {
      // One dir that cannot be removed (no sudo for a container's root-owned files, say) must not
      // stop the sweep of the others, nor fail the job: its lock is free again and the next
      // janitor retries it.
      result.failed.push({ path: c.path, error: errorMessage(e) });
      core.warning(`runbox janitor: could not reap ${c.path}: ${errorMessage(e)}`);
    }
  }

  for (const lockPath of scan.orphanLocks) {
    if (isExcluded(lockPath.slice(0, -'.lock'.length), opts.exclude)) continue;
    try {
      if (await removeOrphanLock(lockPath, base)) result.orphanLocksRemoved.push(lockPath);
    } catch (e) {
      result.failed.push({ path: lockPath, error: errorMessage(e) });
      core.warning(`runbox janitor: could not remove the orphan lock file ${lockPath}: ${errorMessage(e)}`);
    }
  }
  result.emptyKeyDirsRemoved = removeEmptyKeyDirs(base, opts.exclude, now);
  return result;
}

/**
 * Removes `<base>/<key>` dirs that hold nothing, not even a lock file, so nobody holds or waits
 * for anything in them. rmdir(2) fails on a dir that is not empty, so a run that just put its
 * lock file there keeps it; one that made the key dir but had not yet made its lock file gets
 * ENOENT and makes the key dir again (dirs/liveness.ts acquireInKeyDir). Young ones are left
 * alone, so that retry is rare.
 */
function removeEmptyKeyDirs(base: string, exclude: readonly string[], now: Date): string[] {
  const removed: string[] = [];
  let names: string[];
  try {
    names = fs.readdirSync(base);
  } catch (e) {
    if (errnoOf(e) === 'ENOENT') return removed;
    throw e;
  }
  for (const name of names.sort()) {
    const dir = path.join(base, name);
    if (isExcluded(dir, exclude)) continue;
    const st = lstatOrUndefined(dir);
    if (!st?.isDirectory() || now.getTime() - st.mtime.getTime() < LEFTOVER_GRACE_MS) continue;
    try {
      if (fs.readdirSync(dir).length > 0) continue;
      fs.rmdirSync(dir);
      removed.push(dir);
    } catch (e) {
      const code = errnoOf(e);
      // Filled, removed or not ours meanwhile: nothing to do.
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST' && code !== 'ENOENT' && code !== 'EACCES' && code !== 'EPERM') throw e;
    }
  }
  return removed;
}

/** True when `p` is an excluded path, inside one, or contains one (a run dir holding this run's `run` dirs). */
export function isExcluded(p: string, exclude: readonly string[]): boolean {
  const target = path.resolve(p);
  return exclude.some((raw) => {
    const x = path.resolve(raw);
    return x === target || x.startsWith(target + '/') || target.startsWith(x + '/');
  });
}
