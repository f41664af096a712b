// The one read of the on-disk layout (layout.ts) that the janitor, the disk guard and warm share:
// the dirs of one key dir (`<base>/<key>`), each with its `<dir>.lock` sibling, and the lock files
// whose dir is gone. A read-only, lock-free scan: whoever acts on an entry re-checks it under the
// entry's lock. One policy for what it cannot trust or see:
// - it never follows a symlink: a symlinked dir or lock file is skipped, with the reason;
// - what it may not read (EACCES: another runner user's 0700 dir) is skipped as in use by someone
//   it cannot see, never taken as empty or missing, so nothing acts on it;
// - what vanished meanwhile (ENOENT, ENOTDIR: a concurrent reap) is simply not there.
import fs from 'node:fs';
import path from 'node:path';
import { errnoOf } from '../sys/errno.js';
import { LOCK_SUFFIX, RUN_DIR_PREFIX } from './layout.js';

export interface SkippedEntry {
  path: string;
  reason: string;
}

export interface ScannedDir {
  /** `<keyDir>/<name>`, a real dir at scan time. */
  path: string;
  /** `<path>.lock` */
  lockPath: string;
  /** Named `run-*`: a run dir (its lock file may be missing: a main that died between mkdir and lock). */
  isRun: boolean;
  dirStat: fs.Stats;
  /** The lock file's lstat: a regular file, or undefined when there is none. */
  lockStat: fs.Stats | undefined;
}

export interface KeyDirScan {
  /** By name. */
  dirs: ScannedDir[];
  /** Lock files whose dir is gone (a reap interrupted between the delete and the lock file's removal, or a clean post). */
  orphanLocks: string[];
  /** Symlinks and unreadable entries, left alone. */
  skipped: SkippedEntry[];
}

const SYMLINK_DIR = 'it is a symlink, and runbox only manages real directories';
const SYMLINK_FILE = 'it is a symlink, and runbox only manages real files';
const UNREADABLE = 'it is not readable';

type Seen = { st: fs.Stats } | { unreadable: true } | undefined;

/** lstat under the scan's policy: undefined when gone, `unreadable` on EACCES. */
function look(p: string): Seen {
  try {
    return { st: fs.lstatSync(p) };
  } catch (e) {
    const code = errnoOf(e);
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    if (code === 'EACCES') return { unreadable: true };
    throw e;
  }
}

/** Entry names, sorted; undefined when the dir is gone, `unreadable` when we may not list it. */
function listNames(dir: string): string[] | 'unreadable' | undefined {
  try {
    return fs.readdirSync(dir).sort();
  } catch (e) {
    const code = errnoOf(e);
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    if (code === 'EACCES') return 'unreadable';
    throw e;
  }
}

/**
 * The dirs and orphan lock files directly in `keyDir`. Nothing is descended into. Entries that are
 * neither (files, sockets, lock files that are not regular files beside a real dir) are ignored.
 * undefined when `keyDir` itself is gone; an unreadable `keyDir` comes back as one skipped entry.
 */
export function scanKeyDir(keyDir: string): KeyDirScan | undefined {
  const names = listNames(keyDir);
  if (names === undefined) return undefined;
  const out: KeyDirScan = { dirs: [], orphanLocks: [], skipped: [] };
  if (names === 'unreadable') {
    out.skipped.push({ path: keyDir, reason: UNREADABLE });
    return out;
  }
  const present = new Set(names);
  for (const name of names) {
    const p = path.join(keyDir, name);
    if (name.endsWith(LOCK_SUFFIX) && name.length > LOCK_SUFFIX.length) {
      // Its dir's entry decides what happens to it; only a lock without any dir is handled here.
      if (present.has(name.slice(0, -LOCK_SUFFIX.length))) continue;
      const seen = look(p);
      if (!seen) continue;
      if ('unreadable' in seen) out.skipped.push({ path: p, reason: UNREADABLE });
      else if (seen.st.isSymbolicLink()) out.skipped.push({ path: p, reason: SYMLINK_FILE });
      else if (seen.st.isFile()) out.orphanLocks.push(p);
      continue;
    }
    const seen = look(p);
    if (!seen) continue;
    if ('unreadable' in seen) {
      out.skipped.push({ path: p, reason: UNREADABLE });
      continue;
    }
    if (seen.st.isSymbolicLink()) {
      out.skipped.push({ path: p, reason: SYMLINK_DIR });
      continue;
    }
    if (!seen.st.isDirectory()) continue;
    const lockPath = p + LOCK_SUFFIX;
    const lock = present.has(name + LOCK_SUFFIX) ? look(lockPath) : undefined;
    if (lock && 'unreadable' in lock) {
      out.skipped.push({ path: lockPath, reason: UNREADABLE });
      continue;
    }
    if (lock?.st.isSymbolicLink()) {
      // Opening it to lock would follow it, possibly out of base-dir.
      out.skipped.push({ path: lockPath, reason: SYMLINK_FILE });
      continue;
    }
    if (lock && !lock.st.isFile()) continue;
    out.dirs.push({ path: p, lockPath, isRun: name.startsWith(RUN_DIR_PREFIX), dirStat: seen.st, lockStat: lock?.st });
  }
  return out;
}

/** The key dirs of `baseDir` (`<base>/<key>`), under the same policy; undefined when `baseDir` is gone. */
export function scanBaseKeys(baseDir: string): { keyDirs: string[]; skipped: SkippedEntry[] } | undefined {
  let names: string[];
  try {
    names = fs.readdirSync(baseDir).sort();
  } catch (e) {
    // No base-dir yet. One we may not list is a misconfiguration to report, not a dir in use.
    if (errnoOf(e) === 'ENOENT' || errnoOf(e) === 'ENOTDIR') return undefined;
    throw e;
  }
  const out = { keyDirs: [] as string[], skipped: [] as SkippedEntry[] };
  for (const name of names) {
    const p = path.join(baseDir, name);
    const seen = look(p);
    if (!seen) continue;
    if ('unreadable' in seen) out.skipped.push({ path: p, reason: UNREADABLE });
    else if (seen.st.isSymbolicLink()) out.skipped.push({ path: p, reason: SYMLINK_DIR });
    else if (seen.st.isDirectory()) out.keyDirs.push(p);
  }
  return out;
}
