// What under base-dir could be reaped: a read-only scan, no locking. Everything it returns is
// re-checked under the dir's lock by the reaper, so the scan only has to be conservative about
// what it offers, never authoritative about whether it is still free.
//
// The on-disk contract (main creates it):
//   <base>/<ref-key>/run-<run>-<attempt>-<job-key>/   + sibling run-<...>.lock   (kind 'run')
//   <base>/<pr-key>/<NAME>/                           + sibling <NAME>.lock     (kind 'pr')
// Only depth 2 is looked at; nothing is descended into, and no symlink is followed.
import * as core from '@actions/core';
import fs from 'node:fs';
import path from 'node:path';
import { RUN_DIR_PREFIX } from '../dirs/layout.js';

export type ReapKind = 'run' | 'pr';

export const LOCK_SUFFIX = '.lock';

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

export interface SkippedEntry {
  path: string;
  reason: string;
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
  const skip = (p: string, reason: string): void => {
    out.skipped.push({ path: p, reason });
    core.warning(`runbox: leaving ${p} alone: ${reason}`);
  };
  const top = listDir(baseDir);
  if (top === undefined) return out;
  for (const keyName of top) {
    const keyDir = path.join(baseDir, keyName);
    const keySt = lstatOrUndefined(keyDir);
    if (!keySt) continue;
    if (keySt.isSymbolicLink()) {
      skip(keyDir, 'it is a symlink, and runbox only manages real directories');
      continue;
    }
    if (!keySt.isDirectory()) continue;
    let names: string[] | undefined;
    try {
      names = listDir(keyDir);
    } catch (e) {
      // A dir another user made 0700 inside a shared base-dir: not ours to look into.
      if (errnoOf(e) !== 'EACCES') throw e;
      skip(keyDir, 'it is not readable');
      continue;
    }
    if (names === undefined) continue;
    scanKeyDir(keyDir, names, out, skip);
  }
  out.candidates.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  out.orphanLocks.sort();
  return out;
}

function scanKeyDir(keyDir: string, names: string[], out: ScanResult, skip: (p: string, reason: string) => void): void {
  const present = new Set(names);
  for (const name of names) {
    const p = path.join(keyDir, name);
    if (name.endsWith(LOCK_SUFFIX) && name.length > LOCK_SUFFIX.length) {
      const dirName = name.slice(0, -LOCK_SUFFIX.length);
      // Its dir's entry decides what happens to it; only a lock without any dir is handled here.
      if (present.has(dirName)) continue;
      const st = lstatOrUndefined(p);
      if (!st) continue;
      if (st.isSymbolicLink()) skip(p, 'it is a symlink, and runbox only manages real files');
      else if (st.isFile()) out.orphanLocks.push(p);
      continue;
    }
    const st = lstatOrUndefined(p);
    if (!st) continue;
    if (st.isSymbolicLink()) {
      skip(p, 'it is a symlink, and runbox only manages real directories');
      continue;
    }
    if (!st.isDirectory()) continue;
    const lockPath = p + LOCK_SUFFIX;
    const isRun = name.startsWith(RUN_DIR_PREFIX);
    const lockSt = present.has(name + LOCK_SUFFIX) ? lstatOrUndefined(lockPath) : undefined;
    if (lockSt?.isSymbolicLink()) {
      // Opening it to lock would follow it, possibly out of base-dir.
      skip(lockPath, 'it is a symlink, and runbox only manages real files');
      continue;
    }
    if (lockSt && !lockSt.isFile()) continue;
    // No lock and not named run-*: someone else's dir that happens to sit in base-dir.
    if (!lockSt && !isRun) continue;
    out.candidates.push({
      path: p,
      lockPath,
      kind: isRun ? 'run' : 'pr',
      lastUse: lockSt ? lockSt.mtime : st.mtime,
      hasLock: lockSt !== undefined
    });
  }
}

/** Entry names, or undefined when the dir is gone (a concurrent reap, or no base-dir yet). */
function listDir(dir: string): string[] | undefined {
  try {
    return fs.readdirSync(dir).sort();
  } catch (e) {
    if (errnoOf(e) === 'ENOENT' || errnoOf(e) === 'ENOTDIR') return undefined;
    throw e;
  }
}

export function lstatOrUndefined(p: string): fs.Stats | undefined {
  try {
    return fs.lstatSync(p);
  } catch (e) {
    // Gone between readdir and lstat: another janitor reaped it.
    if (errnoOf(e) === 'ENOENT' || errnoOf(e) === 'ENOTDIR') return undefined;
    throw e;
  }
}

// Not `instanceof Error`: errors thrown by node core come from another realm under jest's vm modules.
export function errnoOf(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null ? (e as NodeJS.ErrnoException).code : undefined;
}
