// claimDeadDir (lock/claim.ts), the one "claim a dead dir under its lock" of the janitor, the
// disk guard and warm: real files, real kernel locks, a live run stood in for by util-linux flock
// in another process. The races with a concurrent reap happen in onLocked, right after the lock
// is taken and before the re-checks, where a real one would land.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { claimDeadDir, type ClaimOutcome } from '../src/lock/claim.js';
import { holdLock, lockIsFree, ProcessPool } from './helpers/processes.js';

const pool = new ProcessPool();
let tmp: string;
let key: string;
let dir: string;
let lockPath: string;

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'runbox-claim-'));
});

beforeEach(() => {
  key = fs.mkdtempSync(path.join(tmp, 'key-'));
  dir = path.join(key, 'run-1-1-a');
  lockPath = dir + '.lock';
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'data'), 'x');
});

afterEach(() => pool.killAll());

afterAll(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

const create = { withoutLockFile: 'create' } as const;

function claimedOf(o: ClaimOutcome) {
  if (!o.claimed) throw new Error(`not claimed: ${o.skipped}`);
  return o.claimed;
}

describe('a free dir is claimed', () => {
  test('with its lock file: held until released, the lock file left, the stats taken under the lock', async () => {
    fs.writeFileSync(lockPath, '{"runId":"1"}\n');
    const c = claimedOf(await claimDeadDir(dir, lockPath, create));
    expect(c.path).toBe(dir);
    expect(c.createdLockFile).toBe(false);
    expect(c.dirStat.isDirectory()).toBe(true);
    expect(c.lockStat.ino).toBe(fs.lstatSync(lockPath).ino);
    expect(lockIsFree(lockPath)).toBe(false);
    c.release();
    c.release(); // idempotent
    expect(lockIsFree(lockPath)).toBe(true);
    expect(fs.readFileSync(lockPath, 'utf8')).toBe('{"runId":"1"}\n');
    expect(c.releaseAndRemoveLockFile()).toBe(false); // already let go: nothing is unlinked
    expect(fs.existsSync(lockPath)).toBe(true);
  });

  test('without one: tryLock makes it, and releaseAndRemoveLockFile takes it away again', async () => {
    const c = claimedOf(await claimDeadDir(dir, lockPath, create));
    expect(c.createdLockFile).toBe(true);
    expect(fs.existsSync(lockPath)).toBe(true);
    expect(c.releaseAndRemoveLockFile()).toBe(true);
    expect(fs.existsSync(lockPath)).toBe(false);
    expect(fs.existsSync(path.join(dir, 'data'))).toBe(true);
  });

  test('without one, when the caller says so, it is skipped before any file is made', async () => {
    expect(await claimDeadDir(dir, lockPath, { withoutLockFile: { skip: 'no lock, not a run dir' } })).toEqual({ skipped: 'no lock, not a run dir', inUse: false });
    expect(fs.existsSync(lockPath)).toBe(false);
  });
});

describe('what is not claimed', () => {
  test('a dir whose lock a live run holds is in use, and waited for by no one', async () => {
    fs.writeFileSync(lockPath, '');
    await holdLock(pool, lockPath);
    const started = Date.now();
    expect(await claimDeadDir(dir, lockPath, create)).toEqual({ skipped: 'its lock is held', inUse: true });
    expect(Date.now() - started).toBeLessThan(3000);
  });

  test('a dir that is gone: no lock file is made for it', async () => {
    fs.rmSync(dir, { recursive: true });
    expect(await claimDeadDir(dir, lockPath, create)).toEqual({ skipped: 'it is gone', inUse: false });
    expect(fs.existsSync(lockPath)).toBe(false);
  });

  test('a symlinked lock path is never opened', async () => {
    const target = path.join(tmp, `elsewhere-${path.basename(key)}`);
    fs.writeFileSync(target, 'not a lock');
    fs.symlinkSync(target, lockPath);
    expect(await claimDeadDir(dir, lockPath, create)).toEqual({ skipped: 'its lock path is not a regular file', inUse: false });
    expect(fs.readFileSync(target, 'utf8')).toBe('not a lock');
  });

  test('a dir that is a symlink is not followed, and its lock is let go', async () => {
    const outside = fs.mkdtempSync(path.join(tmp, 'outside-'));
    fs.rmSync(dir, { recursive: true });
    fs.symlinkSync(outside, dir);
    expect(await claimDeadDir(dir, lockPath, create)).toEqual({ skipped: 'it is now a symlink', inUse: false });
    expect(lockIsFree(lockPath)).toBe(true);
  });

  test('a dir reached through a symlinked parent is not claimed', async () => {
    const linked = path.join(tmp, `linked-${path.basename(key)}`);
    fs.symlinkSync(key, linked);
    const o = await claimDeadDir(path.join(linked, 'run-1-1-a'), path.join(linked, 'run-1-1-a.lock'), create);
    expect(o).toEqual({ skipped: 'its parent is not a real directory', inUse: false });
  });

  (process.getuid?.() === 0 ? test : test.skip)("another user's lock file (a plant) is not opened: in use by someone we cannot see", async () => {
    fs.writeFileSync(lockPath, '');
    fs.chownSync(lockPath, 65534, 65534);
    expect(await claimDeadDir(dir, lockPath, create)).toEqual({ skipped: 'its lock file cannot be opened (EACCES)', inUse: true });
  });
});

describe('races under the lock', () => {
  test('reaped by someone else just before our lock: skipped, and the lock file our tryLock recreated is removed', async () => {
    const o = await claimDeadDir(dir, lockPath, { ...create, onLocked: () => fs.rmSync(dir, { recursive: true }) });
    expect(o).toEqual({ skipped: 'it is gone (reaped by someone else)', inUse: false });
    expect(fs.existsSync(lockPath)).toBe(false);
  });

  test('turned into a symlink just before our lock: not followed', async () => {
    const outside = fs.mkdtempSync(path.join(tmp, 'outside-'));
    fs.writeFileSync(path.join(outside, 'precious'), 'x');
    const swap = () => {
      fs.rmSync(dir, { recursive: true });
      fs.symlinkSync(outside, dir);
    };
    expect(await claimDeadDir(dir, lockPath, { ...create, onLocked: swap })).toEqual({ skipped: 'it is now a symlink', inUse: false });
    expect(fs.readFileSync(path.join(outside, 'precious'), 'utf8')).toBe('x');
    expect(lockIsFree(lockPath)).toBe(true);
  });

  test('its lock file replaced just after our lock (our fd names a nameless inode): not claimed, the new file untouched', async () => {
    fs.writeFileSync(lockPath, 'old');
    const replace = () => {
      fs.renameSync(lockPath, lockPath + '.old');
      fs.writeFileSync(lockPath, 'new');
    };
    expect(await claimDeadDir(dir, lockPath, { ...create, onLocked: replace })).toEqual({ skipped: 'its lock file was replaced', inUse: false });
    expect(fs.readFileSync(lockPath, 'utf8')).toBe('new');
    expect(lockIsFree(lockPath + '.old')).toBe(true);
    expect(fs.existsSync(path.join(dir, 'data'))).toBe(true);
  });

  test('a symlink put in the lock file’s place, pointing at our own inode, is still another file', async () => {
    fs.writeFileSync(lockPath, '');
    const relink = () => {
      fs.renameSync(lockPath, lockPath + '.real');
      fs.symlinkSync(lockPath + '.real', lockPath);
    };
    expect(await claimDeadDir(dir, lockPath, { ...create, onLocked: relink })).toEqual({ skipped: 'its lock file was replaced', inUse: false });
  });
});
