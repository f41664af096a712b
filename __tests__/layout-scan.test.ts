// The one scanner of the on-disk layout (src/dirs/scan.ts), which the janitor, the disk guard
// and warm share, and its one policy: no symlink is followed, what runbox may not read is left
// alone as in use (never taken as empty or missing), what vanished is simply not there. Real
// dirs, symlinks and modes; the unreadable cases look as the runner user runbox-ci (the scan's
// process takes that effective uid for the call, as root would see everything).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, test } from '@jest/globals';
import type { JobContext } from '../src/action/job-context.js';
import { computeLayout } from '../src/dirs/layout.js';
import { scanKeyDir } from '../src/dirs/scan.js';
import { findWarmSource } from '../src/dirs/warm.js';
import { scanBaseDir } from '../src/reap/candidates.js';
import { asRoot, describeWith, sudoUser } from './helpers/prereq.js';

const roots: string[] = [];
afterAll(() => roots.forEach((r) => fs.rmSync(r, { recursive: true, force: true })));

function tempRoot(): string {
  const r = fs.mkdtempSync(path.join(os.tmpdir(), 'runbox-scan-'));
  fs.chmodSync(r, 0o755);
  roots.push(r);
  return r;
}

function dir(p: string, mode = 0o755): string {
  fs.mkdirSync(p, { recursive: true });
  fs.chmodSync(p, mode);
  return p;
}

function file(p: string): string {
  fs.writeFileSync(p, '');
  return p;
}

const CTX: JobContext = { runId: '9', runAttempt: '1', job: 'build', runnerName: 'r1', ref: 'refs/heads/main', runnerTemp: '/nonexistent', workspace: '/nonexistent' };

describe('scanKeyDir', () => {
  test('dirs with their lock files, orphan locks, and every symlink skipped with its reason', () => {
    const key = dir(path.join(tempRoot(), 'refs-heads-main'));
    const outside = dir(path.join(tempRoot(), 'outside'));
    dir(path.join(key, 'run-1-1-build-r1'));
    file(path.join(key, 'run-1-1-build-r1.lock'));
    dir(path.join(key, 'run-2-1-build-r1')); // a leftover without a lock file
    dir(path.join(key, 'cache'));
    file(path.join(key, 'cache.lock'));
    dir(path.join(key, 'foreign')); // neither run-* nor locked: reported, its caller decides
    file(path.join(key, 'gone.lock')); // an orphan
    fs.symlinkSync(outside, path.join(key, 'run-3-1-build-r1')); // a symlinked "run dir"
    dir(path.join(key, 'run-4-1-build-r1'));
    fs.symlinkSync(path.join(outside, 'x'), path.join(key, 'run-4-1-build-r1.lock')); // a symlinked lock
    fs.symlinkSync(path.join(outside, 'y'), path.join(key, 'linked.lock')); // a symlinked orphan lock
    dir(path.join(key, 'odd'));
    dir(path.join(key, 'odd.lock')); // a lock path that is a dir: not a lock, not followed
    file(path.join(key, 'README'));

    const s = scanKeyDir(key);
    expect(s?.dirs.map((d) => [path.basename(d.path), d.isRun, d.lockStat !== undefined, d.lockPath === `${d.path}.lock`])).toEqual([
      ['cache', false, true, true],
      ['foreign', false, false, true],
      ['run-1-1-build-r1', true, true, true],
      ['run-2-1-build-r1', true, false, true]
    ]);
    expect(s?.orphanLocks).toEqual([path.join(key, 'gone.lock')]);
    expect(s?.skipped).toEqual([
      { path: path.join(key, 'linked.lock'), reason: 'it is a symlink, and runbox only manages real files' },
      { path: path.join(key, 'run-3-1-build-r1'), reason: 'it is a symlink, and runbox only manages real directories' },
      { path: path.join(key, 'run-4-1-build-r1.lock'), reason: 'it is a symlink, and runbox only manages real files' }
    ]);
  });

  test('a key dir that is gone is nothing; an empty one is empty', () => {
    const r = tempRoot();
    expect(scanKeyDir(path.join(r, 'missing'))).toBeUndefined();
    expect(scanKeyDir(file(path.join(r, 'a-file')))).toBeUndefined();
    expect(scanKeyDir(dir(path.join(r, 'empty')))).toEqual({ dirs: [], orphanLocks: [], skipped: [] });
  });
});

const ci = sudoUser();
describeWith([asRoot(), ci ? { ok: true, reason: '' } : { ok: false, reason: 'no user runbox-ci (.ci/run creates it)' }])(
  'what the runner user may not read is left alone, never taken as empty',
  () => {
    /** Runs fn with runbox-ci's effective uid and gid, as a runner without root would scan. */
    async function asRunner<T>(fn: () => T | Promise<T>): Promise<T> {
      if (!ci) throw new Error('unreachable: prereq checked');
      process.setegid?.(ci.gid);
      process.seteuid?.(ci.uid);
      try {
        return await fn();
      } finally {
        process.seteuid?.(0);
        process.setegid?.(0);
      }
    }

    /** A base-dir with one ref dir that holds a finished run (lock free) with a non-empty target. */
    function base(refMode: number): { base: string; ref: string } {
      const b = dir(path.join(tempRoot(), 'base'));
      const ref = dir(path.join(b, 'refs-heads-main'));
      dir(path.join(ref, 'run-1-1-build-r1', 'target'));
      file(path.join(ref, 'run-1-1-build-r1', 'target', 'out'));
      file(path.join(ref, 'run-1-1-build-r1.lock'));
      // Long unused, so a janitor would reap it if it could see it.
      const old = new Date(Date.now() - 30 * 86400_000);
      fs.utimesSync(path.join(ref, 'run-1-1-build-r1.lock'), old, old);
      fs.chmodSync(ref, refMode);
      return { base: b, ref };
    }

    test('a ref dir another user closed (0700): skipped as not readable by the janitor and by warm', async () => {
      const { base: b, ref } = base(0o700);
      expect(await asRunner(() => scanKeyDir(ref))).toEqual({ dirs: [], orphanLocks: [], skipped: [{ path: ref, reason: 'it is not readable' }] });
      expect(await asRunner(() => scanBaseDir(b))).toEqual({ candidates: [], orphanLocks: [], skipped: [{ path: ref, reason: 'it is not readable' }] });
      const layout = computeLayout(b, { ...CTX, runId: '2' }, '');
      expect(layout.refDir).toBe(ref);
      const found = await asRunner(() => findWarmSource(layout, 'target', layout.runDir));
      expect(found).toBeUndefined();
      // As root, the same tree is a candidate: the skip above is the permission, not the layout.
      expect(scanBaseDir(b).candidates.map((c) => c.path)).toEqual([path.join(ref, 'run-1-1-build-r1')]);
    });

    test('a ref dir that can be listed but not searched (0744): each entry is skipped as not readable, nothing throws, nothing is offered', async () => {
      const { base: b, ref } = base(0o744);
      const s = await asRunner(() => scanKeyDir(ref));
      expect(s).toEqual({
        dirs: [],
        orphanLocks: [],
        skipped: [{ path: path.join(ref, 'run-1-1-build-r1'), reason: 'it is not readable' }]
      });
      const j = await asRunner(() => scanBaseDir(b));
      expect(j.candidates).toEqual([]);
      expect(j.skipped).toEqual([{ path: path.join(ref, 'run-1-1-build-r1'), reason: 'it is not readable' }]);
    });
  }
);
