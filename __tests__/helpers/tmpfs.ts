// A real filesystem of known size for the disk-guard tests: a tmpfs on a fresh temp dir,
// mounted at collection time so that a failure skips the suite (or, under CI=true, fails it)
// with its reason.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Prereq } from './prereq.js';

export interface Tmpfs {
  prereq: Prereq;
  /** The mount point; '' when the mount failed. */
  dir: string;
  /** Unmounts (retrying while processes still hold files on it) and removes the mount point. */
  unmount(): void;
}

export function mountTmpfs(name: string, sizeBytes: number): Tmpfs {
  const none: Tmpfs = { prereq: { ok: false, reason: '' }, dir: '', unmount: () => undefined };
  if (process.getuid?.() !== 0) return { ...none, prereq: { ok: false, reason: `mounting a tmpfs needs root (running as uid ${process.getuid?.()})` } };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${name}-`));
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeBytes},mode=0755`, name, dir], { encoding: 'utf8' });
  if (r.status !== 0) {
    fs.rmdirSync(dir);
    return { ...none, prereq: { ok: false, reason: `cannot mount a tmpfs at ${dir}: ${(r.stderr || r.error?.message || '').trim()}` } };
  }
  return {
    prereq: { ok: true, reason: '' },
    dir,
    unmount() {
      for (let i = 0; ; i++) {
        const u = spawnSync('umount', [dir], { encoding: 'utf8' });
        if (u.status === 0) break;
        if (i > 40) throw new Error(`umount ${dir} failed: ${u.stderr}`);
        spawnSync('sleep', ['0.1']);
      }
      fs.rmdirSync(dir);
    }
  };
}
