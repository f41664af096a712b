// Post's dir work: remove exactly what this run created, after checking each path is a real dir
// inside base-dir. Never the parent, never through a symlink.
import fs from 'node:fs';
import { removeTree, treeBytes } from '../sys/privileged-fs.js';
import { assertOwnedSubdir } from '../sys/path-safety.js';
import { acquireLock, describeHolder, LockTimeoutError, removeLockFile } from '../lock/flock.js';

export interface RemovedDir {
  path: string;
  bytes: number;
}

/** Removes the run dir; the caller holds its lock (through the keeper, or `holdFd`). */
export async function removeRunDir(runDir: string, baseDir: string, holdFd?: number): Promise<RemovedDir | undefined> {
  if (!fs.lstatSync(runDir, { throwIfNoEntry: false })) return undefined;
  assertOwnedSubdir(runDir, baseDir);
  const bytes = await treeBytes(runDir);
  await removeTree(runDir, holdFd === undefined ? {} : { holdFd });
  return { path: runDir, bytes };
}

export type LockedTeardown = { removed: RemovedDir } | { gone: true } | { leftTo: string };

/**
 * Without a keeper (main was cancelled and let go, or the keeper died) the run dir is free to a
 * janitor too, so post takes its lock before removing it: whoever holds the lock removes the dir,
 * once, and says so. A janitor holding it now is left to finish; a dir already gone was reaped.
 */
export async function removeRunDirLocked(runDir: string, baseDir: string, lockPath: string, waitSec: number): Promise<LockedTeardown> {
  if (!fs.existsSync(lockPath) && !fs.lstatSync(runDir, { throwIfNoEntry: false })) return { gone: true };
  let lock;
  try {
    lock = await acquireLock(lockPath, { timeoutSec: waitSec });
  } catch (e) {
    if (e instanceof LockTimeoutError) return { leftTo: describeHolder(e.holder) };
    throw e;
  }
  try {
    const removed = await removeRunDir(runDir, baseDir, lock.fd);
    removeLockFile(lock);
    return removed ? { removed } : { gone: true };
  } finally {
    lock.release();
  }
}
