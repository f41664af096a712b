// Deletes one dir under its lock. The order is what makes it safe against live runs, other
// janitors and waiters:
//
//   1. claimDeadDir (lock/claim.ts, shared with warm): tryLock(<dir>.lock), never waiting (a held
//      lock means a live run or another reaper uses it, so it is skipped, not queued for), then
//      re-verify under the lock: the scan was lock-free, so by now the dir may be gone (another
//      janitor reaped it: we then hold a lock file we just recreated and remove it again), may
//      have turned into a symlink, and the lock file must still be the inode we hold.
//   2. Here, still under the lock: the dir may have been used again (its last use is re-read),
//      its job may still run, a process may still use it.
//   3. Measure (treeBytes), then delete (removeTree) while holding the lock, so that no run can
//      start using the dir mid-delete: a run that wants it blocks on the lock. rm inherits the
//      lock fd, so the lock outlives a reaper killed mid-delete until rm is done; a reaper that
//      is cancelled stops rm (sys/exec stopChildren) and starts nothing after it, and the
//      `reaping` mark it wrote first makes the next taker (janitor or run) finish the delete.
//      A free lock whose record names a job whose runner still runs is not free: that job's
//      keeper died alone (lock/keeper-client.ts jobStillRuns).
//   4. removeLockFile(held): unlink the lock path, then release. A waiter blocked on the old inode
//      gets it, sees that the path no longer names it, and retries on a fresh lock file; by then
//      the dir is gone, so it provisions a new one. Unlinking before the delete instead would let
//      a newcomer lock a fresh file and start using a half-deleted dir.
import * as core from '@actions/core';
import path from 'node:path';
import { removeTree, treeBytes } from '../sys/privileged-fs.js';
import { readHolder, tryLock, type HeldLock } from '../lock/flock.js';
import { claimDeadDir, removeLockFileQuietly } from '../lock/claim.js';
import { jobStillRuns } from '../lock/keeper-client.js';
import { isStopping } from '../sys/exec.js';
import { RUN_DIR_PREFIX } from '../dirs/layout.js';
import { containerNames, describeUsers, findUsers } from '../dirs/leftovers.js';
import { assertOwnedSubdir } from '../sys/path-safety.js';
import { errnoOf, lstatOrUndefined } from '../sys/errno.js';
import { type Candidate, type ReapKind, LOCK_SUFFIX } from './candidates.js';

export interface ReapedDir {
  path: string;
  kind: ReapKind;
  /** What du counted before the delete; content unreadable to the runner user is not counted. */
  bytes: number;
  /** Last use as re-read under the lock. */
  lastUse: Date;
}

export interface ReapOptions {
  /** The dir must lie strictly inside it, at depth 2. */
  baseDir: string;
  /** Janitor: skip unless the last use, re-read under the lock, is at or before this. Omitted (disk guard): any age. */
  idleBefore?: Date;
  now?: Date;
}

export type ReapOutcome =
  | { reaped: ReapedDir; skipped?: undefined; inUse?: undefined }
  /** inUse: skipped because its lock is held (a live run or another reaper has it) or a process still uses it. */
  | { reaped?: undefined; skipped: string; inUse: boolean };

/**
 * A `run-*` dir without a lock file is only reaped once it is this old, whatever the caller's
 * age limit (the disk guard has none). A main that makes the dir a moment before locking it must
 * not lose it to a disk guard on a sibling runner in between.
 */
export const LEFTOVER_GRACE_MS = 60_000;

/** Reaps `c` if it is free and still qualifies; otherwise says why it was kept. */
export async function tryReapDir(c: Candidate, opts: ReapOptions): Promise<ReapOutcome> {
  checkShape(c.path, c.lockPath, opts.baseDir);
  const now = opts.now ?? new Date();
  // A dir without a lock file is only ours when it is a run dir (see candidates.ts).
  const withoutLockFile = path.basename(c.path).startsWith(RUN_DIR_PREFIX) ? 'create' : { skip: 'it has no lock file and is not a run dir' };
  const claim = await claimDeadDir(c.path, c.lockPath, { withoutLockFile });
  if (!claim.claimed) return claim;
  const claimed = claim.claimed;
  const { dirStat: dirSt, lockStat: lockSt, createdLockFile } = claimed;
  let handedOver = false;
  try {
    // Does the real path stay inside base-dir? Throws otherwise: that is an anomaly to report.
    assertOwnedSubdir(c.path, opts.baseDir);
    const holder = readHolder(c.lockPath);
    if (jobStillRuns(holder)) return { skipped: `its keeper is gone but its job still runs (run ${holder?.runId}, runner pid ${holder?.runnerPid})`, inUse: true };
    // An empty lock file that was not there before our tryLock was created by us (or by a main
    // that died before writing its holder info): its mtime says nothing about use, the dir's does.
    const leftover = createdLockFile && lockSt.size === 0;
    const lastUse = leftover ? dirSt.mtime : lockSt.mtime;
    // A delete cut short is finished whatever the age: the dir is half gone, nobody wants it.
    const cutShort = holder?.reaping !== undefined;
    if (!cutShort && opts.idleBefore && lastUse.getTime() > opts.idleBefore.getTime()) return { skipped: `it was used at ${lastUse.toISOString()}`, inUse: false };
    if (leftover && now.getTime() - dirSt.mtime.getTime() < LEFTOVER_GRACE_MS) return { skipped: 'it has no lock file yet and was made less than a minute ago', inUse: false };

    if (isStopping()) return { skipped: 'the step is being cancelled; left for the next janitor', inUse: false };

    // A free lock only says no job holds it: a container a hard-killed job left may still write here.
    const { users } = await findUsers([c.path]);
    if (users.length > 0) {
      const skipped = `it is still used by ${describeUsers(users, await containerNames(users))}`;
      core.info(`runbox: not reaping ${c.path}: ${skipped}`);
      return { skipped, inUse: true };
    }

    const bytes = await treeBytes(c.path);
    if (isStopping()) return { skipped: 'the step is being cancelled; left for the next janitor', inUse: false };
    // From here a cut-short delete is marked, for whoever takes the lock next. The record is
    // the last holder's, with the mark added: a waiter then names a janitor, not a finished run.
    claimed.lock.writeHolder({ ...(holder ?? { runId: '', runAttempt: '', runner: '', job: '', since: now.toISOString() }), pid: process.pid, reaping: new Date().toISOString() });
    await removeTree(c.path, { holdFd: claimed.lock.fd });
    handedOver = true;
    claimed.releaseAndRemoveLockFile();
    return { reaped: { path: c.path, kind: c.kind, bytes, lastUse } };
  } finally {
    if (!handedOver) claimed.release();
  }
}

/**
 * Removes a lock file whose dir is gone, under its lock. A run that locks before it makes its dir
 * holds the lock, so it is never disturbed; one blocked on the old inode retries on a new file.
 */
export async function removeOrphanLock(lockPath: string, baseDir: string): Promise<boolean> {
  if (!lockPath.endsWith(LOCK_SUFFIX)) throw new Error(`${lockPath} is not a lock file path`);
  const dir = lockPath.slice(0, -LOCK_SUFFIX.length);
  checkShape(dir, lockPath, baseDir);
  const st = lstatOrUndefined(lockPath);
  if (!st?.isFile() || lstatOrUndefined(dir)) return false;
  // A main locks its run dir a moment before it makes it; a young lock file is left alone so the
  // probe never makes that main wait. A real orphan is just as harmless a minute later.
  if (Date.now() - st.mtime.getTime() < LEFTOVER_GRACE_MS) return false;
  const held = await lockOrUndefined(lockPath);
  if (!held) return false;
  if (lstatOrUndefined(dir)) {
    held.release();
    return false;
  }
  // A reaper killed mid-delete: its rm, holding the lock, finished the delete but nobody said so.
  const cutShort = readHolder(lockPath)?.reaping;
  const removed = removeLockFileQuietly(held);
  if (removed && cutShort) core.info(`runbox janitor: completed the removal of ${dir}: the step that started it (at ${cutShort}) was killed, its rm finished under the lock`);
  return removed;
}

/**
 * Guards against a caller handing in a path that the scan did not produce: only
 * `<baseDir>/<key>/<name>` with `<name>.lock` next to it is ever reaped.
 */
function checkShape(dir: string, lockPath: string, baseDir: string): void {
  const base = path.resolve(baseDir);
  const d = path.resolve(dir);
  if (path.dirname(path.dirname(d)) !== base || d !== dir || lockPath !== dir + LOCK_SUFFIX)
    throw new Error(`refusing to reap ${dir}: it is not <base-dir>/<key>/<name> under ${base} with ${path.basename(dir)}${LOCK_SUFFIX} next to it`);
}

async function lockOrUndefined(lockPath: string): Promise<HeldLock | undefined> {
  try {
    return await tryLock(lockPath);
  } catch (e) {
    // Its parent went away, or a sibling's lock dir we may not write to: not ours to reap now.
    if (errnoOf(e) === 'ENOENT' || errnoOf(e) === 'EACCES') return undefined;
    throw e;
  }
}
