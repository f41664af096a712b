// disk-limit: when the filesystem of base-dir is fuller than the limit at main, prune unlocked
// dirs under base-dir — and nothing else on the host — until it is not, or nothing prunable is
// left. Age does not matter here, only liveness: a locked dir belongs to a live run and is never
// touched, however much space it holds.
//
// Order: dead run dirs first (nobody will ever use them again), oldest first; then idle per-PR
// dirs, oldest first (the least likely to be wanted warm again). The filesystem is re-probed
// after every prune rather than trusting du's figure, because hard links, sparse files, other
// writers on the same filesystem and content du cannot read all make the two disagree.
import * as core from '@actions/core';
import fs from 'node:fs';
import path from 'node:path';
import { errorMessage } from '../common/errors.js';
import { formatBytes } from '../action/job-summary.js';
import { type Candidate, scanBaseDir } from './candidates.js';
import type { DiskLimit } from './reap-config.js';
import { isExcluded, type FailedReap } from './janitor.js';
import { type ReapedDir, tryReapDir } from './reaper.js';
import { readHolder } from '../lock/flock.js';

export interface DiskUsage {
  totalBytes: number;
  /** Blocks in use (df's Used). */
  usedBytes: number;
  /** Blocks an unprivileged user can still allocate (df's Avail: root's reserve excluded). */
  availBytes: number;
}

export type DiskProbe = (dir: string) => DiskUsage | Promise<DiskUsage>;

export interface DiskGuardOptions {
  /** This run's own dirs: never pruned. */
  exclude: string[];
  /** How full the filesystem is; defaults to statfs(2) on base-dir. Tests may inject one. */
  probe?: DiskProbe;
}

export interface DiskGuardResult {
  limit: DiskLimit;
  before: DiskUsage;
  after: DiskUsage;
  /** In prune order. */
  pruned: ReapedDir[];
  /** Sum of pruned[].bytes (du's figure). */
  bytes: number;
  failed: FailedReap[];
  /** Set when still over the limit at the end: the bytes that would still have to be freed. */
  stillOverBy?: number;
  /** Dirs kept because a live run holds their lock: who holds the space the guard could not free. */
  live: Array<{ path: string; holder?: string }>;
}

export function statfsProbe(dir: string): DiskUsage {
  const s = fs.statfsSync(dir);
  return { totalBytes: s.blocks * s.bsize, usedBytes: (s.blocks - s.bfree) * s.bsize, availBytes: s.bavail * s.bsize };
}

/** df's Use%: used / (used + avail), so root's reserved blocks count neither way. */
export function usedPercent(u: DiskUsage): number {
  const sum = u.usedBytes + u.availBytes;
  return sum === 0 ? 0 : (100 * u.usedBytes) / sum;
}

/** How many bytes must be freed to be within `limit`; 0 when within. */
export function bytesOverLimit(u: DiskUsage, limit: DiskLimit): number {
  const over =
    limit.kind === 'max-used-percent'
      ? // Freeing x bytes moves x from used to avail; used + avail stays the same.
        u.usedBytes - Math.floor(((u.usedBytes + u.availBytes) * limit.percent) / 100)
      : limit.bytes - u.availBytes;
  return Math.max(0, over);
}

export function describeLimit(limit: DiskLimit): string {
  return limit.kind === 'max-used-percent' ? `at most ${limit.percent}% used` : `at least ${formatBytes(limit.bytes)} free`;
}

export function describeUsage(u: DiskUsage): string {
  return `${usedPercent(u).toFixed(1)}% used, ${formatBytes(u.availBytes)} free`;
}

/** Run dirs before PR dirs; within each, least recently used first; path breaks ties so every guard agrees. */
export function pruneOrder(candidates: readonly Candidate[]): Candidate[] {
  const rank = (c: Candidate) => (c.kind === 'run' ? 0 : 1);
  return [...candidates].sort((a, b) => rank(a) - rank(b) || a.lastUse.getTime() - b.lastUse.getTime() || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

export async function guardDisk(baseDir: string, limit: DiskLimit, opts: DiskGuardOptions): Promise<DiskGuardResult> {
  const base = path.resolve(baseDir);
  const probe = opts.probe ?? statfsProbe;
  const before = await probe(base);
  const result: DiskGuardResult = { limit, before, after: before, pruned: [], bytes: 0, failed: [], live: [] };
  if (bytesOverLimit(before, limit) === 0) return result;
  core.info(`runbox disk guard: ${describeUsage(before)} on the filesystem of ${base}, limit ${describeLimit(limit)}; pruning unlocked dirs`);

  const order = pruneOrder(scanBaseDir(base).candidates.filter((c) => !isExcluded(c.path, opts.exclude)));
  for (const c of order) {
    if (bytesOverLimit(result.after, limit) === 0) break;
    try {
      // No idleBefore: under disk pressure any unlocked dir goes, however recently used.
      const r = await tryReapDir(c, { baseDir: base });
      if (!r.reaped) {
        if (r.inUse) {
          const h = readHolder(c.lockPath);
          result.live.push({ path: c.path, ...(h ? { holder: `run ${h.runId} (${h.runner}, job ${h.job})` } : {}) });
        }
        core.debug(`runbox disk guard: kept ${c.path}: ${r.skipped}`);
        continue;
      }
      result.pruned.push(r.reaped);
      result.bytes += r.reaped.bytes;
      result.after = await probe(base);
      core.info(`runbox disk guard: pruned ${c.kind} dir ${c.path} (${formatBytes(r.reaped.bytes)}); now ${describeUsage(result.after)}`);
    } catch (e) {
      // As in the janitor: one dir that cannot go must not stop the others from going.
      result.failed.push({ path: c.path, error: errorMessage(e) });
      core.warning(`runbox disk guard: could not prune ${c.path}: ${errorMessage(e)}`);
      // A half-done delete freed some space too.
      result.after = await probe(base);
    }
  }
  const over = bytesOverLimit(result.after, limit);
  if (over > 0) result.stillOverBy = over;
  return result;
}
