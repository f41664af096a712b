// Claiming a dead dir: the one way the janitor, the disk guard (reap/reaper.ts) and warm
// (dirs/warm.ts) take a `<dir>` guarded by `<dir>.lock` that no run holds. Whoever claims it may
// delete it or copy from it: no run can start using it until the claim is let go, since a run
// that wants it blocks on the lock.
//
// The callers found the dir by a lock-free scan, so everything the scan saw is re-checked here,
// under the lock, never through a symlink (lstat of the paths, fstat of our fd):
// - tryLock only, never waiting: a held lock means a live run (or another claimer) has it;
// - the dir (and its parent) must still be real directories: one replaced by a symlink since the
//   scan is never followed, and one gone since (reaped by someone else) leaves a lock file that
//   our tryLock may have recreated on the freed name, which is removed again;
// - the lock path must still name the inode we hold: a lock on a file unlinked or replaced since
//   guards nothing.
import * as core from '@actions/core';
import fs from 'node:fs';
import path from 'node:path';
import { errnoOf, lstatOrUndefined } from '../sys/errno.js';
import { removeLockFile, tryLock, type HeldLock } from './flock.js';

export interface ClaimedDir {
  readonly path: string;
  readonly lock: HeldLock;
  /** The dir's lstat, taken under the lock: a real directory. */
  readonly dirStat: fs.Stats;
  /** fstat of our lock fd under the lock; the lock path names this inode. */
  readonly lockStat: fs.Stats;
  /** There was no lock file before our tryLock: it made the file (empty, stamped now). */
  readonly createdLockFile: boolean;
  /** Lets go of the lock and leaves the lock file. Idempotent. */
  release(): void;
  /**
   * Unlinks the lock file (only while the path still names our inode), then lets go. For a
   * claimer that deleted the dir, or that made the lock file itself and wants the dir's idea of
   * its last use left as it was. False when it was not removed (replaced, or a parent dir we may
   * not write to: then it is free and harmless, and a janitor with more rights removes it).
   */
  releaseAndRemoveLockFile(): boolean;
}

export type ClaimOutcome =
  | { claimed: ClaimedDir; skipped?: undefined; inUse?: undefined }
  /** inUse: its lock is held (a live run or another claimer has it), or it could not be opened. */
  | { claimed?: undefined; skipped: string; inUse: boolean };

export interface ClaimOptions {
  /**
   * What to do with a dir that has no lock file: 'create' lets tryLock make one (a run dir whose
   * main died between its mkdir and its lock); a string skips the dir with that reason, before
   * any file is made.
   */
  withoutLockFile: 'create' | { skip: string };
  /** lstat policy: an entry we may not see (EACCES) counts as gone (warm: another runner user's dir is no source). */
  hiddenIsMissing?: boolean;
  /** Tests only: runs right after the lock is taken, before the re-checks (a race with a concurrent reap, made deterministic). */
  onLocked?: () => void;
}

/** Takes `dir`'s lock if nobody holds it and re-verifies `dir` under it; otherwise says why not. */
export async function claimDeadDir(dir: string, lockPath: string, opts: ClaimOptions): Promise<ClaimOutcome> {
  const look = (p: string): fs.Stats | undefined => lstatOrUndefined(p, { hiddenIsMissing: opts.hiddenIsMissing === true });
  const lockBefore = look(lockPath);
  if (lockBefore && !lockBefore.isFile()) return { skipped: 'its lock path is not a regular file', inUse: false };
  if (!look(dir)) return { skipped: 'it is gone', inUse: false };
  if (!lockBefore && opts.withoutLockFile !== 'create') return { skipped: opts.withoutLockFile.skip, inUse: false };

  let held: HeldLock | undefined;
  try {
    held = await tryLock(lockPath);
  } catch (e) {
    // Its parent went away (a concurrent reap), or another runner user's lock file we may not open.
    if (errnoOf(e) === 'ENOENT' || errnoOf(e) === 'EACCES') return { skipped: `its lock file cannot be opened (${errnoOf(e)})`, inUse: true };
    throw e;
  }
  if (!held) return { skipped: 'its lock is held', inUse: true };
  const lock = held;
  let claimed = false;
  try {
    opts.onLocked?.();
    const parentSt = look(path.dirname(dir));
    if (!parentSt?.isDirectory()) return { skipped: 'its parent is not a real directory', inUse: false };
    const dirStat = look(dir);
    if (!dirStat) {
      // Gone between the check above and our lock: reaped by someone else, and the lock file we
      // hold is usually one our tryLock recreated on the freed name. Nobody uses it (we hold it):
      // remove it again, so that no orphan is left behind.
      claimed = true;
      removeLockFileQuietly(lock);
      return { skipped: 'it is gone (reaped by someone else)', inUse: false };
    }
    if (dirStat.isSymbolicLink()) return { skipped: 'it is now a symlink', inUse: false };
    if (!dirStat.isDirectory()) return { skipped: 'it is no longer a directory', inUse: false };
    const lockStat = fs.fstatSync(lock.fd);
    const atPath = look(lockPath);
    if (!atPath || atPath.ino !== lockStat.ino || atPath.dev !== lockStat.dev) return { skipped: 'its lock file was replaced', inUse: false };
    claimed = true;
    let open = true;
    return {
      claimed: {
        path: dir,
        lock,
        dirStat,
        lockStat,
        createdLockFile: !lockBefore,
        release() {
          open = false;
          lock.release();
        },
        releaseAndRemoveLockFile() {
          if (!open) return false;
          open = false;
          return removeLockFileQuietly(lock);
        }
      }
    };
  } finally {
    if (!claimed) lock.release();
  }
}

/** removeLockFile (which releases in every case), tolerating a parent dir the runner user may not write to. */
export function removeLockFileQuietly(held: HeldLock): boolean {
  try {
    return removeLockFile(held);
  } catch (e) {
    if (errnoOf(e) !== 'EACCES' && errnoOf(e) !== 'EPERM') throw e;
    core.warning(`runbox: could not remove the lock file ${held.path} (${errnoOf(e)}); it is free and harmless, a janitor with more rights will remove it`);
    return false;
  }
}
