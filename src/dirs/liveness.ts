// Holds this run's dirs under flock(2) locks from main until post: liveness is a lock the kernel
// keeps, so the janitor, the disk guard and the next run of the same PR can tell a live dir from
// a dead one without guessing. Lock files sit beside the dirs they guard (`<dir>.lock`).
import * as core from '@actions/core';
import fs from 'node:fs';
import path from 'node:path';
import type { JobContext } from '../action/job-context.js';
import { ensureDir } from '../sys/privileged-fs.js';
import type { DirSpec, Layout } from './layout.js';
import { dirPath } from './layout.js';
import { acquireLock, LockTimeoutError, removeLockFile, tryLock, type HeldLock, type LockHolder } from '../lock/flock.js';
import { startKeeper, stopKeeper } from '../lock/keeper-client.js';
import type { Ids } from '../sys/users.js';

export function lockPathOf(dir: string): string {
  return `${dir}.lock`;
}

/** The dirs whose lock a run holds: its run dir (covering all `run` dirs) and each `pr` dir. */
export function guardedDirs(layout: Layout, specs: DirSpec[]): string[] {
  const out: string[] = [];
  if (specs.some((s) => s.scope === 'run')) out.push(layout.runDir);
  for (const s of specs) if (s.scope === 'pr') out.push(dirPath(layout, s));
  return out;
}

/**
 * Takes every lock before any guarded dir is created or used. A run dir is unique to this run,
 * so its lock is never legitimately held by anyone else; a `pr` dir's lock is waited for.
 */
/** A run dir's lock is only ever taken briefly by others: a janitor probing it, or removing it as an orphan. */
const RUN_LOCK_WAIT_SEC = 10;
const FORGET_WAIT_SEC = 5;

export async function lockDirs(dirs: string[], ctx: JobContext, runner: Ids, lockTimeoutSec: number): Promise<HeldLock[]> {
  const holder: LockHolder = {
    runId: ctx.runId,
    runAttempt: ctx.runAttempt,
    runner: ctx.runnerName,
    job: ctx.job,
    pid: process.pid,
    since: new Date().toISOString()
  };
  const held: HeldLock[] = [];
  try {
    for (const dir of dirs) {
      await ensureDir(path.dirname(dir), runner);
      const isRunDir = path.basename(dir).startsWith('run-');
      const timeoutSec = isRunDir ? RUN_LOCK_WAIT_SEC : lockTimeoutSec;
      const lock = await acquireLock(lockPathOf(dir), {
        timeoutSec,
        onWait: (h) =>
          core.info(`waiting for ${dir}: ${h ? `held by run ${h.runId} (${h.runner})` : 'held by another process'}; giving up after ${timeoutSec} s`)
      });
      lock.writeHolder({ ...holder, since: new Date().toISOString() });
      held.push(lock);
    }
    return held;
  } catch (e) {
    for (const l of held) l.release();
    throw e;
  }
}

/** Hands the locks to a detached keeper that holds them until post or until the runner worker dies. */
export async function handOver(locks: HeldLock[]): Promise<number | undefined> {
  if (locks.length === 0) return undefined;
  const { pid } = await startKeeper(locks, { watchPid: process.ppid });
  return pid;
}

export async function releaseKeeper(pid: number | undefined): Promise<'stopped' | 'gone' | 'none'> {
  if (pid === undefined) return 'none';
  return stopKeeper(pid, { timeoutMs: 5000, watchPid: process.ppid });
}

/**
 * A run dir is never reused, so once it is gone its lock file goes too. Taken first, so a
 * janitor that reached it at the same moment either did the job already or finds nothing.
 */
export async function forgetRunLock(runDir: string): Promise<void> {
  // A short wait: a janitor probing it holds it for an instant, and an exiting keeper's last
  // thread may still be closing its files.
  let lock: HeldLock;
  try {
    lock = await acquireLock(lockPathOf(runDir), { timeoutSec: FORGET_WAIT_SEC });
  } catch (e) {
    if (e instanceof LockTimeoutError) return; // the next janitor removes it as an orphan
    throw e;
  }
  if (fs.existsSync(runDir)) lock.release();
  else removeLockFile(lock);
}

/** The lock paths among `paths` that some process holds now (a missing file is free). */
export async function heldLocks(paths: readonly string[]): Promise<string[]> {
  const held: string[] = [];
  for (const p of paths) {
    if (!fs.existsSync(p)) continue;
    const lock = await tryLock(p);
    if (lock) lock.release();
    else held.push(p);
  }
  return held;
}
