// What under base-dir could be reaped: a read-only scan, no locking. Everything it returns is
// re-checked under the dir's lock by the reaper, so the scan only has to be conservative about
// what it offers, never authoritative about whether it is still free.
//
// The on-disk contract (main creates it; dirs/layout.ts):
//   <base>/<ref-key>/run-<run>-<attempt>-<job-key>/   + sibling run-<...>.lock   (kind 'run')
//   <base>/<pr-key>/<NAME>/                           + sibling <NAME>.lock     (kind 'pr')
// Only depth 2 is looked at, through the one scanner of that layout (dirs/scan.ts): nothing is
// descended into, no symlink is followed, and what runbox may not read is left alone.
import * as core from '@actions/core';
import path from 'node:path';
import { LOCK_SUFFIX } from '../dirs/layout.js';
import { scanBaseKeys, scanKeyDir, type SkippedEntry } from '../dirs/scan.js';

export { LOCK_SUFFIX };
export type { SkippedEntry };

export type ReapKind = 'run' | 'pr';

export interface Candidate {
  /** `<base>/<key>/<name>`, always a real dir at scan time. */
  path: string;
  /** `<path>.lock` */
  lockPath: string;
  kind: ReapKind;
  /** The lock file's mtime (written on acquire, touched on clean release); the dir's mtime when there is no lock file. */
  lastUse: Date;
  /**
   * false for a `run-*` dir without a lock file: a leftover of a main that died between mkdir and
   * lock, or of an older runbox. The reaper creates the lock file and takes it first.
   */
  hasLock: boolean;
}

export interface ScanResult {
  /** Sorted by path, so that every janitor walks base-dir in the same order. */
  candidates: Candidate[];
  /** Lock files whose dir is gone (a reap interrupted between removeTree and removeLockFile, or a clean post). */
  orphanLocks: string[];
  /** Symlinks and unreadable entries left alone; each was also logged as a warning. */
  skipped: SkippedEntry[];
}

export function scanBaseDir(baseDirIn: string): ScanResult {
  // Absolute and normalised, so candidate paths compare equal to what the reaper checks.
  const baseDir = path.resolve(baseDirIn);
  const out: ScanResult = { candidates: [], orphanLocks: [], skipped: [] };
  const skip = (s: SkippedEntry): void => {
    out.skipped.push(s);
    core.warning(`runbox: leaving ${s.path} alone: ${s.reason}`);
  };
  const top = scanBaseKeys(baseDir);
  if (top === undefined) return out;
  // In name order, skipped key dirs among the others: every janitor walks base-dir the same way.
  const keys = [...top.skipped.map((s) => ({ path: s.path, skipped: s })), ...top.keyDirs.map((k) => ({ path: k, skipped: undefined }))];
  keys.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  for (const { path: keyDir, skipped } of keys) {
    if (skipped) {
      skip(skipped);
      continue;
    }
    const scan = scanKeyDir(keyDir);
    if (scan === undefined) continue;
    scan.skipped.forEach(skip);
    out.orphanLocks.push(...scan.orphanLocks);
    for (const d of scan.dirs) {
      // No lock and not named run-*: someone else's dir that happens to sit in base-dir.
      if (!d.lockStat && !d.isRun) continue;
      out.candidates.push({
        path: d.path,
        lockPath: d.lockPath,
        kind: d.isRun ? 'run' : 'pr',
        lastUse: d.lockStat ? d.lockStat.mtime : d.dirStat.mtime,
        hasLock: d.lockStat !== undefined
      });
    }
  }
  out.candidates.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  out.orphanLocks.sort();
  return out;
}
