// What scripts/bench.mjs measures besides wall time: CPU seconds of the processes it starts (and
// theirs), peak extra disk used while a step runs, and the tmpfs the benchmark works on.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/**
 * User + system CPU seconds of this process's children that have ended and been waited for,
 * each with its own waited-for descendants (cutime + cstime in /proc/self/stat, what
 * getrusage(RUSAGE_CHILDREN) gives). The benchmark starts one step at a time, so the difference
 * around a step is that step's processes: node, sudo, tar, zstd, sqlite3 and whatever they ran.
 * The cache stand-in and the throttling proxy run inside this process and are not counted.
 */
export function childCpuSeconds() {
  const stat = fs.readFileSync('/proc/self/stat', 'utf8');
  // Fields after the command name (which may hold spaces): state is field 3, cutime 16, cstime 17.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[16 - 3]) + Number(f[17 - 3])) / CLK_TCK;
}

function usedBytes(dir) {
  const s = fs.statfsSync(dir);
  return (s.blocks - s.bfree) * s.bsize;
}

/** Allocated bytes under dir (st_blocks), not following symlinks; 0 when it is gone. */
function treeBytes(dir) {
  let total = 0;
  let names;
  try {
    names = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const d of names) {
    const p = path.join(dir, d.name);
    try {
      total += fs.lstatSync(p).blocks * 512;
    } catch {
      continue; // removed while walked: the next sample sees the new state
    }
    if (d.isDirectory()) total += treeBytes(p);
  }
  return total;
}

/**
 * Samples, every `ms`, the space used on the filesystem holding `fsDir` and the size of the
 * `staging` dirs (the job's RUNNER_TEMP: where a snapshot is staged). stop() gives the peak
 * extra disk of the step: the most the filesystem held above both its state before and after the
 * step (for a save, above the store; for a restore, above the store plus what the restore left),
 * or the staging dirs' peak if larger. A restore's own items are not extra: a restore that stages
 * an entry of N bytes and deletes it once extracted shows N.
 * `exclude`: dirs on the same filesystem whose growth is not the step's (the cache stand-in's
 * blobs, with --disk). `shared`: the filesystem has other writers (--disk on a busy machine), so
 * its figure is kept aside and `extra` is the staging dirs' peak alone.
 * Samples run on the event loop: steps must be started asynchronously (spawn, not spawnSync).
 */
export function startDiskSampler(fsDir, { staging = [], exclude = [], shared = false, ms = 50 } = {}) {
  const used = () => usedBytes(fsDir) - exclude.reduce((n, d) => n + treeBytes(d), 0);
  const before = used();
  let peak = before;
  let stagingPeak = 0;
  let samples = 0;
  const sample = () => {
    samples++;
    peak = Math.max(peak, used());
    stagingPeak = Math.max(
      stagingPeak,
      staging.reduce((n, d) => n + treeBytes(d), 0)
    );
  };
  sample();
  const timer = setInterval(sample, ms);
  return {
    stop() {
      clearInterval(timer);
      sample();
      const after = used();
      const fsExtra = Math.max(0, peak - Math.max(before, after));
      return { extra: shared ? stagingPeak : Math.max(fsExtra, stagingPeak), fsExtra, stagingPeak, samples };
    }
  };
}

export function fsType(dir) {
  return spawnSync('stat', ['-f', '-c', '%T', dir], { encoding: 'utf8' }).stdout.trim() || 'unknown';
}

/** Mounts a tmpfs of at most `bytes` at dir (made if missing). Needs root (CAP_SYS_ADMIN). */
export function mountTmpfs(dir, bytes) {
  fs.mkdirSync(dir, { recursive: true });
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${Math.ceil(bytes / 2 ** 20)}m,mode=0755`, 'runbox-bench', dir], { encoding: 'utf8' });
  if (r.status !== 0) {
    throw new Error(
      `bench: could not mount a tmpfs at ${dir} (${(r.stderr || r.error?.message || '').trim()}). Mounting needs root (CAP_SYS_ADMIN): ` +
        'run `npm run bench` as root, or pass --disk to measure on the disk under --dir instead'
    );
  }
}

/** Unmounts a tmpfs mountTmpfs made; lazily if something still holds it (a leftover process). */
export function unmountTmpfs(dir) {
  if (spawnSync('mountpoint', ['-q', dir]).status !== 0) return;
  if (spawnSync('umount', [dir]).status === 0) return;
  const r = spawnSync('umount', ['-l', dir], { encoding: 'utf8' });
  if (r.status !== 0) console.error(`bench: could not unmount ${dir}: ${r.stderr.trim()}; unmount it by hand`);
}
