// One restore at a time into a store, host-wide. Restores run as root and each one plans from
// what is on disk (which items exist, which DB rows are valid): two at once both see an item
// missing, both move it in, and the DB ends up registering what neither left there. So a
// restore holds an exclusive flock on a root-made lock file across download, check, move and
// DB. Waiters say whom they wait for and give up after lock-timeout, continuing as on a miss.
//
// The lock file is in /run/runbox, not next to the store: a file beside /gnu/store would be a
// change outside the store paths, and the parent of a store may not exist yet on a fresh host.
// Keyed by the store dir's path, so different stores (and test roots) do not wait for each other.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import * as core from '@actions/core';
import { errorMessage } from '../common/errors.js';
import { ensurePrivilege } from '../sys/exec.js';
import { flockFd } from './flock.js';
import { procStat } from '../sys/proc-stat.js';
import { readRootRecord, rootFile, openRootFile, RUN_DIR } from './root-files.js';

/** lock-timeout's default; run-main sets the input's value. */
let timeoutSec = 1800;

export function setRestoreLockTimeout(sec: number): void {
  timeoutSec = sec;
}

/** What setRestoreLockTimeout set (lock-timeout), for work that post does under the same lock. */
export function restoreLockTimeout(): number {
  return timeoutSec;
}

const WAIT_SLICE_SEC = 5;

export function restoreLockPath(storeDir: string, dir = RUN_DIR): string {
  const h = crypto.createHash('sha256').update(storeDir).digest('hex').slice(0, 16);
  return path.join(dir, `restore-${h}.lock`);
}

interface Holder {
  pid: number;
  since: string;
  runId?: string;
  job?: string;
}

function describeHolder(h: Record<string, unknown> | undefined): string {
  if (!h || typeof h.pid !== 'number') return 'holder unknown';
  const gone = procStat(h.pid) === undefined || (typeof h.startTime === 'string' && procStat(h.pid)?.startTime !== h.startTime);
  return `pid ${h.pid}${typeof h.runId === 'string' && h.runId ? `, run ${h.runId}` : ''}${typeof h.since === 'string' ? `, since ${h.since}` : ''}${gone ? ', which has exited' : ''}`;
}

/**
 * Runs fn holding the store's restore lock. fn gets `busy`: undefined when the lock is held;
 * a reason when it could not be had (another restore held it past the timeout, or the lock
 * could not be set up) — fn must then not touch the store and treat it as a miss.
 */
export async function withStoreRestoreLock<T>(storeDir: string, fn: (busy?: string) => Promise<T>, opts: { dir?: string; timeoutSec?: number } = {}): Promise<T> {
  const lockPath = restoreLockPath(storeDir, opts.dir);
  const holderPath = lockPath.replace(/\.lock$/, '.holder');
  const wait = opts.timeoutSec ?? timeoutSec;
  // Without root rights there is no restore at all; that error stays the one it always was.
  await ensurePrivilege('restore a store snapshot into root-owned store paths');
  let fd: number | undefined;
  try {
    await rootFile('create', lockPath);
    fd = openRootFile(lockPath);
    if (fd === undefined) throw new Error(`${lockPath} is missing right after it was made`);
  } catch (e) {
    const why = `the host's restore lock ${lockPath} could not be taken: ${errorMessage(e)}`;
    core.warning(`runbox store: ${why}; continuing as on a cache miss`);
    return fn(why);
  }
  try {
    let locked = await flockFd(fd, 0);
    // A holder records itself just after it got the lock: give it a moment before asking who it is.
    if (!locked && wait > 0) locked = await flockFd(fd, Math.min(1, wait));
    if (!locked) {
      const who = describeHolder(readRootRecord(holderPath));
      core.info(`runbox store: another restore into ${storeDir} holds the host's restore lock ${lockPath} (${who}); waiting up to ${wait} s`);
      const deadline = Date.now() + wait * 1000;
      while (!locked && Date.now() < deadline) locked = await flockFd(fd, Math.min(WAIT_SLICE_SEC, (deadline - Date.now()) / 1000));
      if (!locked) {
        const why = `another restore into ${storeDir} (${describeHolder(readRootRecord(holderPath))}) held the host's restore lock for more than ${wait} s (lock-timeout)`;
        core.warning(`runbox store: ${why}; continuing as on a cache miss`);
        return await fn(why);
      }
      core.info(`runbox store: got the host's restore lock for ${storeDir}`);
    }
    const holder: Holder & { startTime?: string | undefined } = {
      pid: process.pid,
      since: new Date().toISOString(),
      runId: process.env.GITHUB_RUN_ID ?? '',
      job: process.env.GITHUB_JOB ?? '',
      startTime: procStat(process.pid)?.startTime
    };
    // Only for waiters' messages: a failure to write it must not stop the restore.
    await rootFile('write', holderPath, JSON.stringify(holder)).catch((e: unknown) => core.info(`runbox store: could not record this restore as the lock's holder: ${errorMessage(e)}`));
    return await fn(undefined);
  } finally {
    fs.closeSync(fd);
  }
}
