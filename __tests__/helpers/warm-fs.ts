// Filesystems and trees for the warm tests: a tmpfs (no reflink, so the "filesystem refuses"
// path is taken whatever the host's /tmp is), a btrfs on a loop device (reflink works), live runs
// as real flock holders, and a snapshot of a tree to compare copies by.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Prereq } from './prereq.js';

export interface Mount extends Prereq {
  /** The mount point; '' when not mounted. */
  dir: string;
  unmount(): void;
}

function failed(reason: string): Mount {
  return { ok: false, reason, dir: '', unmount: () => undefined };
}

function sh(cmd: string, args: string[]): { ok: boolean; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return { ok: r.status === 0, out: `${r.stderr ?? ''}${r.error?.message ?? ''}`.trim() };
}

function mounted(dir: string, cleanup: () => void): Mount {
  return {
    ok: true,
    reason: '',
    dir,
    unmount() {
      // Lazily when busy: a failed test may still hold a lock fd on it, and that failure, not a
      // busy umount, is what the run should report. The mount goes once that fd is closed.
      const r = sh('umount', [dir]);
      if (!r.ok && !sh('umount', ['-l', dir]).ok) throw new Error(`umount ${dir} failed: ${r.out}`);
      fs.rmdirSync(dir);
      cleanup();
    }
  };
}

/** Mounted at collection time, so that a failure skips the suite with its reason. */
export function mountTmpfs(sizeMiB: number): Mount {
  if (process.getuid?.() !== 0) return failed(`mounting a tmpfs needs root (running as uid ${process.getuid?.()})`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runbox-warm-tmpfs-'));
  const r = sh('mount', ['-t', 'tmpfs', '-o', `size=${sizeMiB}m,mode=0755`, 'runbox-warm-test', dir]);
  if (!r.ok) {
    fs.rmdirSync(dir);
    return failed(`cannot mount a tmpfs at ${dir}: ${r.out}`);
  }
  return mounted(dir, () => undefined);
}

/**
 * A btrfs (reflink-capable) on a loop device over a sparse image file. Needs root, free loop
 * devices, btrfs in the kernel and mkfs.btrfs (Debian package btrfs-progs).
 */
export function mountBtrfs(sizeMiB: number): Mount {
  if (process.getuid?.() !== 0) return failed(`mounting a loop device needs root (running as uid ${process.getuid?.()})`);
  if (!sh('mkfs.btrfs', ['--version']).ok) return failed('mkfs.btrfs is not installed (Debian package btrfs-progs)');
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'runbox-warm-btrfs-'));
  const img = path.join(work, 'fs.img');
  const dir = path.join(work, 'mnt');
  fs.mkdirSync(dir);
  const dropWork = (): void => fs.rmSync(work, { recursive: true, force: true });
  fs.writeFileSync(img, '');
  fs.truncateSync(img, sizeMiB * 2 ** 20);
  const mk = sh('mkfs.btrfs', ['-q', '-f', img]);
  if (!mk.ok) {
    dropWork();
    return failed(`mkfs.btrfs on ${img} failed: ${mk.out}`);
  }
  // -o loop picks a free loop device and detaches it again on umount (autoclear).
  const m = sh('mount', ['-o', 'loop', img, dir]);
  if (!m.ok) {
    dropWork();
    return failed(`cannot mount a btrfs loop image (are loop devices and btrfs available here?): ${m.out}`);
  }
  return mounted(dir, dropWork);
}

/** A live run: util-linux flock holding `lockPath` in a sleeping child. Resolves once held. */
export function holdLock(lockPath: string): Promise<ChildProcess> {
  // Its own process group: flock(1) passes the locked fd on to sleep, so both must be killed.
  const child = spawn('flock', ['-x', lockPath, 'sh', '-c', 'echo locked; exec sleep 60'], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  return new Promise((resolve, reject) => {
    let err = '';
    child.stderr?.on('data', (b: Buffer) => (err += b.toString()));
    child.stdout?.once('data', () => resolve(child));
    child.once('exit', (code) => reject(new Error(`lock holder exited ${code}: ${err}`)));
  });
}

/** The kernel's word: `flock -n` gets the lock at once. */
export function lockIsFree(lockPath: string): boolean {
  return spawnSync('flock', ['-n', lockPath, 'true']).status === 0;
}

export async function killGroup(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise((r) => child.once('exit', r));
  process.kill(-child.pid, 'SIGKILL');
  await exited;
}

export function setMtime(p: string, ageMs: number): void {
  const t = new Date(Date.now() - ageMs);
  fs.utimesSync(p, t, t);
}

export interface Entry {
  type: 'dir' | 'file' | 'symlink';
  mode: number;
  uid: number;
  gid: number;
  mtimeMs: number;
  size: number;
  sha256?: string;
  link?: string;
  /** For files with more than one link: the first relative path with the same inode. */
  hardlinkOf?: string;
}

/** Everything cp -a promises to keep, per relative path ('' is the root), without following symlinks. */
export function snapshot(root: string): Map<string, Entry> {
  const out = new Map<string, Entry>();
  const inodes = new Map<number, string>();
  const walk = (rel: string): void => {
    const p = path.join(root, rel);
    const st = fs.lstatSync(p);
    const base = { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtimeMs: st.mtimeMs, size: st.size };
    if (st.isSymbolicLink()) out.set(rel, { ...base, type: 'symlink', link: fs.readlinkSync(p) });
    else if (st.isDirectory()) {
      out.set(rel, { ...base, type: 'dir', size: 0 });
      for (const n of fs.readdirSync(p).sort()) walk(path.join(rel, n));
    } else {
      const e: Entry = { ...base, type: 'file', sha256: crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex') };
      if (st.nlink > 1) {
        e.hardlinkOf = inodes.get(st.ino) ?? rel;
        inodes.set(st.ino, e.hardlinkOf);
      }
      out.set(rel, e);
    }
  };
  walk('');
  return out;
}

/** `filefrag -v` flags every extent of `file` as shared (FIEMAP_EXTENT_SHARED). */
export function allExtentsShared(file: string): boolean {
  const r = spawnSync('filefrag', ['-v', file], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`filefrag -v ${file} failed: ${r.stderr}`);
  const extents = r.stdout.split('\n').filter((l) => /^\s*\d+:/.test(l));
  return extents.length > 0 && extents.every((l) => /\bshared\b/.test(l));
}
