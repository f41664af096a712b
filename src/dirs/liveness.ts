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
import { lingerKeeper, startKeeper, stopKeeper } from '../lock/keeper-client.js';
import { errorMessage } from '../common/errors.js';
import { containerNames, describeUsers, findUsers, waitUnused } from './leftovers.js';
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

/** How long a `pr` dir's lock was waited for, for the job summary. */
export interface LockWait {
  dir: string;
  waitedSec: number;
  holder?: string;
}

/** How often a waiting run says it is still waiting: often enough that a log never looks hung. */
function progressEverySec(): number {
  // Test-only: the tests cannot wait 30 s for each line.
  const t = Number(process.env.RUNBOX_TEST_WAIT_PROGRESS_SEC);
  return Number.isFinite(t) && t > 0 ? t : 30;
}

function describeHolder(h: LockHolder | undefined): string {
  return h ? `held by run ${h.runId} (${h.runner})` : 'held by another process';
}

/**
 * A holder that is this same job (same run, attempt, job and runner) is another runbox step of
 * this job: it holds the lock until its post, which runs after this step, so waiting can only
 * end in the timeout.
 */
function sameJob(h: LockHolder | undefined, me: LockHolder): boolean {
  return h !== undefined && h.runId === me.runId && h.runAttempt === me.runAttempt && h.job === me.job && h.runner === me.runner;
}

export async function lockDirs(dirs: string[], ctx: JobContext, runner: Ids, lockTimeoutSec: number, waits: LockWait[] = []): Promise<HeldLock[]> {
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
      const started = Date.now();
      const deadline = started + timeoutSec * 1000;
      let lastHolder: LockHolder | undefined;
      let lastProgress = 0;
      const lock = await acquireLock(lockPathOf(dir), {
        timeoutSec,
        onWait: (h) => {
          if (!isRunDir && sameJob(h, holder))
            throw new Error(
              `${dir} is held by an earlier runbox step of this same job (run ${holder.runId}, job ${holder.job}), which keeps it until the job ends: ` +
                `waiting would only time out. Use one runbox step per job, or list each dir in one step only`
            );
          lastHolder = h;
          core.info(`waiting for ${dir}: ${describeHolder(h)}; giving up after ${timeoutSec} s`);
          // The holder may be a finished job's keeper kept for its leftovers (leftovers: wait).
          if (!isRunDir) void sayUsers(dir, 'it is in use by');
        },
        onStillWaiting: (h, waitedSec) => {
          lastHolder = h ?? lastHolder;
          if (waitedSec - lastProgress < progressEverySec()) return;
          lastProgress = waitedSec;
          core.info(`still waiting for ${dir}: ${describeHolder(h)}, ${Math.round(waitedSec)} s of ${timeoutSec}`);
        }
      });
      const waitedSec = (Date.now() - started) / 1000;
      if (!isRunDir && waitedSec >= 1) waits.push({ dir, waitedSec, ...(lastHolder ? { holder: `run ${lastHolder.runId} (${lastHolder.runner})` } : {}) });
      lock.writeHolder({ ...holder, since: new Date().toISOString() });
      held.push(lock);
      // A new run dir has no users; a pr dir's lock is free also when its last job was hard-killed
      // (no post) with a container still writing into it.
      if (!isRunDir) await waitForNoUsers(dir, timeoutSec, deadline);
    }
    return held;
  } catch (e) {
    for (const l of held) l.release();
    if (e instanceof LockTimeoutError && e.timeoutSec > 0 && !path.basename(e.path).startsWith('run-'))
      throw new Error(
        `${e.message} (lock-timeout). Runs of one PR use a pr dir one at a time: raise 'lock-timeout' if that run is just slow, or cancel it if it is stuck`
      );
    throw e;
  }
}

async function sayUsers(dir: string, prefix: string): Promise<void> {
  try {
    const { users } = await findUsers([dir]);
    if (users.length > 0) core.info(`${dir}: ${prefix} ${describeUsers(users, await containerNames(users))}`);
  } catch (e) {
    // Only a log line is lost; the lock wait goes on regardless.
    core.debug(`runbox: could not list the users of ${dir}: ${errorMessage(e)}`);
  }
}

/** Holding the dir's lock: waits until no process uses it, up to the dir's lock-timeout budget. */
async function waitForNoUsers(dir: string, timeoutSec: number, deadline: number): Promise<void> {
  const { users } = await findUsers([dir]);
  if (users.length === 0) return;
  core.info(`waiting for ${dir}: its lock is free, but it is still used by ${describeUsers(users, await containerNames(users))}; giving up after ${timeoutSec} s`);
  const left = await waitUnused([dir], deadline);
  if (left.length > 0)
    throw new Error(
      `${dir} is still used by ${describeUsers(left, await containerNames(left))}, left behind by an earlier job; gave up after ${timeoutSec}s (lock-timeout). ` +
        'Stop it (e.g. `docker kill <container>`), or let post stop such leftovers (leftovers: kill)'
    );
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

/** Keeps the locks held after the job, until nothing uses the dirs (see keeper.ts, --linger). */
export async function keepLockedForLeftovers(pid: number | undefined): Promise<'lingering' | 'gone' | 'none'> {
  if (pid === undefined) return 'none';
  return lingerKeeper(pid, { timeoutMs: 15000, watchPid: process.ppid });
}

/**
 * A run dir is never reused, so once it is gone its lock file goes too. Taken first, so a
 * janitor that reached it at the same moment either did the job already or finds nothing.
 */
export async function forgetRunLock(runDir: string): Promise<void> {
  // Main may have failed before it made the lock (base-dir could not be created): nothing to
  // forget, and taking the lock would create a file in a dir that does not exist.
  if (!fs.existsSync(lockPathOf(runDir))) return;
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
