// Mount sources (`mounts:`) are shared by every job on the host that lists them, possibly with
// different owners: a second job with another owner would chown the tree under the first job's
// container ("Permission denied" mid-build). So a job holds each mount source for its whole
// duration, shared with the jobs of the same owner and exclusive against other owners.
//
// flock has no "shared per owner" mode, so there is one lock file per path and owner, held with a
// shared lock by every job of that owner, and one gate per path, held briefly and exclusively
// while a job checks that no other owner's file is held and takes its own. Root makes the files
// in /run/runbox (lock/root-files.ts), keyed by the path's hash: the mount sources may be anywhere
// on the host, under any base-dir or none, and no runner user can plant a file there.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import * as core from '@actions/core';
import { flockFd, type HeldLock } from './flock.js';
import { openRootFile, readRootRecord, rootFile, RUN_DIR } from './root-files.js';
import type { Ids } from '../sys/users.js';

export interface MountHolder {
  runId: string;
  runner: string;
  job: string;
}

const POLL_MS = 1000;

function key(mount: string): string {
  return crypto.createHash('sha256').update(mount).digest('hex').slice(0, 16);
}

function ownerFile(dir: string, h: string, owner: Ids, ext: 'lock' | 'holder'): string {
  return path.join(dir, `mount-${h}-${owner.uid}-${owner.gid}.${ext}`);
}

/** Another owner whose jobs hold `mount` now, with whoever recorded themselves last; undefined when none. */
async function otherOwnerHolding(dir: string, h: string, owner: Ids): Promise<{ owner: string; holder?: Record<string, unknown> | undefined } | undefined> {
  const re = new RegExp(`^mount-${h}-(\\d+)-(\\d+)\\.lock$`);
  for (const name of fs.readdirSync(dir).sort()) {
    const m = re.exec(name);
    if (!m || (Number(m[1]) === owner.uid && Number(m[2]) === owner.gid)) continue;
    const fd = openRootFile(path.join(dir, name));
    if (fd === undefined) continue;
    let free: boolean;
    try {
      free = await flockFd(fd, 0);
    } finally {
      fs.closeSync(fd);
    }
    if (!free) return { owner: `${m[1]}:${m[2]}`, holder: readRootRecord(path.join(dir, name.replace(/\.lock$/, '.holder'))) };
  }
  return undefined;
}

function describe(o: { owner: string; holder?: Record<string, unknown> | undefined }): string {
  const h = o.holder;
  const run = h && typeof h.runId === 'string' ? `run ${h.runId}${typeof h.runner === 'string' ? ` (${h.runner})` : ''}` : 'another job';
  return `${run} as owner ${o.owner}`;
}

/**
 * Holds every mount source for `owner`: waits (up to `timeoutSec` in all) while a job with another
 * owner holds one, naming it. The returned locks go to the keeper with the dir locks.
 */
export async function holdMountSources(mounts: readonly string[], owner: Ids, timeoutSec: number, who: MountHolder, dir = RUN_DIR): Promise<HeldLock[]> {
  const held: HeldLock[] = [];
  const deadline = Date.now() + timeoutSec * 1000;
  try {
    // Sorted: two jobs listing the same sources in another order never wait for each other in a circle.
    for (const mount of [...mounts].sort()) held.push(await holdOne(mount, owner, deadline, timeoutSec, who, dir));
    return held;
  } catch (e) {
    for (const l of held) l.release();
    throw e;
  }
}

async function holdOne(mount: string, owner: Ids, deadline: number, timeoutSec: number, who: MountHolder, dir: string): Promise<HeldLock> {
  const h = key(mount);
  const gatePath = path.join(dir, `mount-${h}.gate`);
  const minePath = ownerFile(dir, h, owner, 'lock');
  await rootFile('create', gatePath);
  await rootFile('create', minePath);
  let said = false;
  for (;;) {
    const gate = openRootFile(gatePath);
    if (gate === undefined) throw new Error(`${gatePath} is missing right after it was made`);
    let conflict: Awaited<ReturnType<typeof otherOwnerHolding>>;
    try {
      // The gate is only ever held for a moment, by a job checking the owners.
      if (!(await flockFd(gate, Math.max(1, (deadline - Date.now()) / 1000)))) throw new Error(`the gate ${gatePath} of mount source ${mount} stayed locked for ${timeoutSec} s`);
      conflict = await otherOwnerHolding(dir, h, owner);
      if (!conflict) {
        const fd = openRootFile(minePath);
        if (fd === undefined) throw new Error(`${minePath} is missing right after it was made`);
        // Only shared holders (same owner) and gate holders probing it can have it, and we hold the gate.
        if (!(await flockFd(fd, 5, true))) {
          fs.closeSync(fd);
          throw new Error(`${minePath} could not be locked shared although no other owner holds ${mount}`);
        }
        await rootFile('write', ownerFile(dir, h, owner, 'holder'), JSON.stringify({ ...who, pid: process.pid, since: new Date().toISOString(), mount }));
        return mountLock(minePath, fd);
      }
    } finally {
      fs.closeSync(gate);
    }
    if (Date.now() >= deadline)
      throw new Error(
        `mount source ${mount} is in use by ${describe(conflict)}; gave up after ${timeoutSec}s (lock-timeout). runbox does not chown a mount source ` +
          `under a live job of another owner: give the jobs that share it the same owner, or give each owner its own path`
      );
    if (!said) core.info(`waiting for mount source ${mount}: in use by ${describe(conflict)}, and this job's owner is ${owner.uid}:${owner.gid}; giving up after ${timeoutSec} s`);
    said = true;
    await new Promise((r) => setTimeout(r, Math.min(POLL_MS, Math.max(0, deadline - Date.now()))));
  }
}

function mountLock(p: string, fd: number): HeldLock {
  let open = true;
  return {
    path: p,
    fd,
    // Root's record (.holder) says who holds it; the lock file itself is root's and read-only to us.
    writeHolder: () => false,
    release() {
      if (!open) return;
      open = false;
      fs.closeSync(fd);
    }
  };
}
