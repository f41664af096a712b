// Holds this run's dirs under flock(2) locks from main until post: liveness is a lock the kernel
// keeps, so the janitor, the disk guard and the next run of the same PR can tell a live dir from
// a dead one without guessing. Lock files sit beside the dirs they guard (`<dir>.lock`).
import * as core from '@actions/core';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { JobContext } from '../action/job-context.js';
import { ensureDir, removeTree } from '../sys/privileged-fs.js';
import type { DirSpec, Layout } from './layout.js';
import { dirPath, LOCK_SUFFIX, RUN_DIR_PREFIX } from './layout.js';
import { acquireLock, describeHolder, LockTimeoutError, readHolder, removeLockFile, type HeldLock, type LockHolder } from '../lock/flock.js';
import { isKeeper, jobStillRuns, lingerKeeper, runnerProcess, startKeeper, stopKeeper } from '../lock/keeper-client.js';
import { errorMessage } from '../common/errors.js';
import { containerNames, describeUsers, findUsers, waitUnused } from './leftovers.js';
import type { Ids } from '../sys/users.js';
import { assertOwnedSubdir } from '../sys/path-safety.js';

export function lockPathOf(dir: string): string {
  return `${dir}${LOCK_SUFFIX}`;
}

/** The dirs whose lock a run holds: its run dir (covering all `run` dirs) and each `pr` dir. */
export function guardedDirs(layout: Layout, specs: DirSpec[]): string[] {
  const out: string[] = [];
  if (specs.some((s) => s.scope === 'run')) out.push(layout.runDir);
  for (const s of specs) if (s.scope === 'pr') out.push(dirPath(layout, s));
  return out;
}

/** A run dir's lock is only ever taken briefly by others: a janitor probing it, or removing it as an orphan. */
const RUN_LOCK_WAIT_SEC = 10;
const FORGET_WAIT_SEC = 5;
/** How often a waiter looks again at a free lock whose job still runs (its keeper died). */
const ORPHAN_POLL_MS = 1000;

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

/**
 * A holder that is this same job (same run, attempt, job and runner) is another runbox step of
 * this job: it holds the lock until its post, which runs after this step, so waiting can only
 * end in the timeout.
 */
function sameJob(h: LockHolder | undefined, me: LockHolder): boolean {
  return h !== undefined && h.runId === me.runId && h.runAttempt === me.runAttempt && h.job === me.job && h.runner === me.runner;
}

export interface LockedDirs {
  locks: HeldLock[];
  /** The token in this run's holder records; post keeps it to recognise them. */
  token: string;
}

/**
 * Takes every lock before any guarded dir is created or used. A run dir is unique to this run,
 * so its lock is never legitimately held by anyone else; `pr` dirs are waited for.
 *
 * Order and budget: the run dir first, then the `pr` dirs sorted by path, the one order every
 * run uses, so two runs listing the same `pr` dirs in different orders cannot each hold one and
 * wait for the other. `lock-timeout` is one deadline for all the `pr` dirs together, not a
 * fresh wait per dir.
 */
export async function lockDirs(dirs: string[], ctx: JobContext, runner: Ids, lockTimeoutSec: number, waits: LockWait[] = []): Promise<LockedDirs> {
  const holder: LockHolder = {
    runId: ctx.runId,
    runAttempt: ctx.runAttempt,
    runner: ctx.runnerName,
    job: ctx.job,
    pid: process.pid,
    since: new Date().toISOString(),
    ...runnerProcess(),
    token: crypto.randomBytes(8).toString('hex')
  };
  const isRunDir = (d: string): boolean => path.basename(d).startsWith(RUN_DIR_PREFIX);
  const ordered = [...dirs.filter(isRunDir), ...dirs.filter((d) => !isRunDir(d)).sort()];
  const deadline = Date.now() + lockTimeoutSec * 1000;
  const held: HeldLock[] = [];
  try {
    for (const dir of ordered) {
      const timeoutSec = (): number => (isRunDir(dir) ? RUN_LOCK_WAIT_SEC : Math.max(0, (deadline - Date.now()) / 1000));
      const started = Date.now();
      const seen: { holder?: LockHolder | undefined } = {};
      const lock = await lockLiveFree(dir, runner, timeoutSec, lockTimeoutSec, holder, seen);
      const waitedSec = (Date.now() - started) / 1000;
      if (!isRunDir(dir) && waitedSec >= 1) waits.push({ dir, waitedSec, ...(seen.holder ? { holder: `run ${seen.holder.runId} (${seen.holder.runner})` } : {}) });
      if (lock.writeHolder({ ...holder, since: new Date().toISOString() }) === false) core.debug(`runbox: ${lock.path} is read-only to this user; no holder record written`);
      held.push(lock);
      // A new run dir has no users; a pr dir's lock is free also when its last job was hard-killed
      // (no post) with a container still writing into it.
      if (!isRunDir(dir)) await waitForNoUsers(dir, lockTimeoutSec, deadline);
    }
    return { locks: held, token: holder.token as string };
  } catch (e) {
    for (const l of held) releaseMarked(l);
    if (e instanceof LockTimeoutError && e.timeoutSec > 0 && !path.basename(e.path).startsWith(RUN_DIR_PREFIX))
      throw new Error(`${e.message} (lock-timeout). Runs of one PR use a pr dir one at a time: raise 'lock-timeout' if that run is just slow, or cancel it if it is stuck`);
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

/**
 * The lock of `dir`, once it is free and no job still counts on the dir: a free lock whose record
 * names a job whose runner still runs (its keeper was killed alone) is not taken. A dir whose
 * reap was cut short (a janitor cancelled mid-delete) is deleted first, under our lock.
 */
async function lockLiveFree(dir: string, runner: Ids, timeoutSec: () => number, budgetSec: number, me: LockHolder, seen: { holder?: LockHolder | undefined }): Promise<HeldLock> {
  const pr = !path.basename(dir).startsWith(RUN_DIR_PREFIX);
  let lastProgress = 0;
  let toldOrphan = false;
  for (;;) {
    const t = timeoutSec();
    let lock: HeldLock;
    try {
      lock = await acquireInKeyDir(dir, runner, {
        timeoutSec: t,
        onWait: (h) => {
          if (pr && sameJob(h, me))
            throw new Error(
              `${dir} is held by an earlier runbox step of this same job (run ${me.runId}, job ${me.job}), which keeps it until the job ends: ` +
                `waiting would only time out. Use one runbox step per job, or list each dir in one step only`
            );
          seen.holder = h;
          core.info(`waiting for ${dir}: ${describeHolder(h)}; giving up after ${Math.round(t)} s`);
          // The holder may be a finished job's keeper kept for its leftovers (leftovers: wait).
          if (pr) void sayUsers(dir, 'it is in use by');
        },
        onStillWaiting: (h, waitedSec) => {
          seen.holder = h ?? seen.holder;
          if (waitedSec - lastProgress < progressEverySec()) return;
          lastProgress = waitedSec;
          core.info(`still waiting for ${dir}: ${describeHolder(h)}, ${Math.round(waitedSec)} s of ${budgetSec}`);
        }
      });
    } catch (e) {
      // Named with the whole budget: what is left of it for this dir is no figure the user set.
      if (e instanceof LockTimeoutError && !path.basename(dir).startsWith(RUN_DIR_PREFIX)) throw new LockTimeoutError(e.path, e.holder, budgetSec);
      throw e;
    }
    const h = readHolder(lock.path);
    if (jobStillRuns(h)) {
      lock.release();
      const why = `its keeper is gone but its job still runs (run ${h?.runId} (${h?.runner}), runner pid ${h?.runnerPid})`;
      if (timeoutSec() <= 0) throw new Error(`Lock ${lockPathOf(dir)} is free, but ${why}; gave up after ${budgetSec}s`);
      if (!toldOrphan) core.info(`waiting for ${dir}: ${why}; giving up after ${Math.round(timeoutSec())} s`);
      toldOrphan = true;
      await new Promise((r) => setTimeout(r, Math.min(ORPHAN_POLL_MS, timeoutSec() * 1000)));
      continue;
    }
    if (h?.reaping && fs.lstatSync(dir, { throwIfNoEntry: false })?.isDirectory()) {
      core.info(`runbox: ${dir}: a janitor's delete (since ${h.reaping}) was cut short; finishing it before this run starts the dir afresh`);
      try {
        // The same check as every other delete: a real dir inside base-dir (<base>/<ref-key>/<name>), no symlink on the way.
        assertOwnedSubdir(dir, path.dirname(path.dirname(dir)));
        await removeTree(dir, { holdFd: lock.fd });
      } catch (e) {
        lock.release();
        throw e;
      }
    }
    return lock;
  }
}

/**
 * acquireLock in the key dir (`<base>/<ref-key>`), which a janitor may remove the moment it is
 * empty: made again (without re-chowning a shared parent) when it vanished before our lock
 * file was in it.
 */
async function acquireInKeyDir(dir: string, runner: Ids, opts: Parameters<typeof acquireLock>[1]): Promise<HeldLock> {
  for (let attempt = 1; ; attempt++) {
    await ensureDir(path.dirname(dir), runner, { shared: true });
    try {
      return await acquireLock(lockPathOf(dir), opts);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 5) throw e;
    }
  }
}

/** Releases a lock this process holds, first marking its record released (the job lets go on purpose). */
export function releaseMarked(lock: HeldLock): void {
  const h = readHolder(lock.path);
  if (h && !h.released) lock.writeHolder({ ...h, released: new Date().toISOString() });
  lock.release();
}

/** Hands the locks to a detached keeper that holds them until post or until the runner worker dies. */
export async function handOver(locks: HeldLock[]): Promise<number | undefined> {
  if (locks.length === 0) return undefined;
  const { pid } = await startKeeper(locks, { watchPid: process.ppid });
  return pid;
}

/** True when `pid` is this job's keeper, still running (it watches our runner process). */
export function keeperRunning(pid: number | undefined): boolean {
  return pid !== undefined && isKeeper(pid, process.ppid);
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
export const RUN_TEARDOWN_WAIT_SEC = FORGET_WAIT_SEC;

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

export type LockAccount =
  /** Our record, let go on purpose (the keeper, or an earlier post). */
  | { path: string; state: 'released' }
  /** Our record, never released: the keeper died alone; post took the lock, released it now. */
  | { path: string; state: 'keeper-died' }
  /** Another run's (or janitor's) record: ours was let go before and the dir has moved on. */
  | { path: string; state: 'taken'; by: string }
  /** No record we can read (a lock file we could not write, or it is gone). */
  | { path: string; state: 'unknown' };

/**
 * Post, when this job's keeper is not there to stop: what became of each lock, read from the
 * holder records rather than by taking free locks (a second post must not grab a lock the next
 * run is about to take). A record of ours never released means the keeper died alone: the dir
 * stayed reserved through the runner process, and post releases it now, under the lock.
 */
export async function settleLocks(paths: readonly string[], token: string | undefined): Promise<LockAccount[]> {
  const out: LockAccount[] = [];
  for (const p of paths) {
    const h = fs.existsSync(p) ? readHolder(p) : undefined;
    if (!h || !token) out.push({ path: p, state: 'unknown' });
    else if (h.token !== token) out.push({ path: p, state: 'taken', by: describeHolder(h) });
    else if (h.released) out.push({ path: p, state: 'released' });
    else {
      let lock: HeldLock;
      try {
        lock = await acquireLock(p, { timeoutSec: FORGET_WAIT_SEC });
      } catch (e) {
        if (!(e instanceof LockTimeoutError)) throw e;
        out.push({ path: p, state: 'taken', by: describeHolder(e.holder) });
        continue;
      }
      const now = readHolder(p);
      if (now?.token === token) releaseMarked(lock);
      else lock.release();
      out.push({ path: p, state: 'keeper-died' });
    }
  }
  return out;
}
