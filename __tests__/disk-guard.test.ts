// The disk guard on a real filesystem of known size: a tmpfs the test mounts (root only), so the
// usage figures come from statfs(2) exactly as in production, and real locks held by real
// processes decide what is prunable. The pure parts (limit parsing, arithmetic, order) are tested
// without a mount.
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { inputRefusal } from './helpers/input-refusal.js';
import { inputsFrom } from '../src/action/input-source.js';
import type { Candidate } from '../src/reap/candidates.js';
import { parseDiskLimit, parseReapConfig } from '../src/reap/reap-config.js';
import { bytesOverLimit, guardDisk, pruneOrder, statfsProbe, usedPercent, type DiskUsage } from '../src/reap/disk-guard.js';
import { describeWith } from './helpers/prereq.js';
import { mountTmpfs } from './helpers/tmpfs.js';
import { holdLock, killAndWait, ProcessPool } from './helpers/processes.js';

const MiB = 2 ** 20;
const GiB = 2 ** 30;
const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const FS_SIZE = 128 * MiB;
const BLOB = 8 * MiB;

// --- pure parts ----------------------------------------------------------------------------

describe('disk-limit input', () => {
  test.each([
    ['85%', { kind: 'max-used-percent', percent: 85 }],
    ['1%', { kind: 'max-used-percent', percent: 1 }],
    ['99%', { kind: 'max-used-percent', percent: 99 }],
    ['20G', { kind: 'min-free-bytes', bytes: 20 * GiB }],
    ['500M', { kind: 'min-free-bytes', bytes: 500 * MiB }],
    ['1T', { kind: 'min-free-bytes', bytes: 1024 * GiB }],
    ['20g', { kind: 'min-free-bytes', bytes: 20 * GiB }],
    ['20GiB', { kind: 'min-free-bytes', bytes: 20 * GiB }]
  ])('accepts %s', (raw, limit) => {
    expect(parseDiskLimit('disk-limit', raw)).toEqual(limit);
    expect(parseReapConfig(inputsFrom({ 'disk-limit': raw })).diskLimit).toEqual(limit);
  });

  test('empty is off', () => {
    expect(parseReapConfig(inputsFrom({ 'disk-limit': '' })).diskLimit).toBeUndefined();
  });

  test.each(['0%', '100%', '150%', '-5%', '85.5%', '0G', '20', '20K', '20 gigs', 'G', '%', 'lots', '-1G', '99999999999999999T'])('refuses %s naming the input and the accepted forms', (raw) => {
    const message = inputRefusal(() => parseReapConfig(inputsFrom({ 'disk-limit': raw })), raw);
    expect(message).toContain("Input 'disk-limit'");
    expect(message).toContain(`'${raw}'`);
    expect(message).toMatch(/'85%'.*'20G'/);
  });
});

describe('limit arithmetic and prune order', () => {
  const u = (used: number, avail: number): DiskUsage => ({ totalBytes: used + avail, usedBytes: used, availBytes: avail });

  test('max used percent: the bytes to free so that used / (used + avail) is within it', () => {
    expect(usedPercent(u(90, 10))).toBe(90);
    expect(bytesOverLimit(u(90, 10), { kind: 'max-used-percent', percent: 85 })).toBe(5);
    expect(bytesOverLimit(u(85, 15), { kind: 'max-used-percent', percent: 85 })).toBe(0);
    expect(bytesOverLimit(u(10, 90), { kind: 'max-used-percent', percent: 85 })).toBe(0);
  });

  test('min free: the bytes missing from avail', () => {
    expect(bytesOverLimit(u(90, 10), { kind: 'min-free-bytes', bytes: 25 })).toBe(15);
    expect(bytesOverLimit(u(90, 30), { kind: 'min-free-bytes', bytes: 25 })).toBe(0);
  });

  test('run dirs before pr dirs, least recently used first', () => {
    const c = (p: string, kind: 'run' | 'pr', ageMs: number): Candidate => ({
      path: p,
      lockPath: p + '.lock',
      kind,
      lastUse: new Date(1e12 - ageMs),
      hasLock: true
    });
    const order = pruneOrder([c('/b/k/cargo', 'pr', 10 * DAY), c('/b/k/run-2', 'run', HOUR), c('/b/k/reg', 'pr', DAY), c('/b/k/run-1', 'run', 5 * HOUR)]);
    expect(order.map((x) => x.path)).toEqual(['/b/k/run-1', '/b/k/run-2', '/b/k/cargo', '/b/k/reg']);
  });
});

// --- on a real tmpfs ---------------------------------------------------------------------------

const tmpfs = mountTmpfs('runbox-disk-guard-test', FS_SIZE);
const mounted = tmpfs.prereq;
const mnt = tmpfs.dir;

afterAll(() => {
  tmpfs.unmount();
});

describeWith([mounted])('disk guard on a tmpfs', () => {
  const pool = new ProcessPool();
  let liveHolder: ChildProcess;
  let base: string;
  let outside: string;
  let d: Record<string, string>;

  function setMtime(p: string, ageMs: number): void {
    const t = new Date(Date.now() - ageMs);
    fs.utimesSync(p, t, t);
  }

  /** `<base>/<key>/<name>` holding one 8 MiB file (really allocated: tmpfs counts written pages). */
  function makeDir(key: string, name: string, lockAge: number | 'none', dirAge = 0): string {
    const dir = path.join(base, key, name);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'blob'), Buffer.alloc(BLOB, 1));
    if (lockAge !== 'none') {
      fs.writeFileSync(dir + '.lock', '');
      setMtime(dir + '.lock', lockAge);
    }
    setMtime(dir, dirAge);
    return dir;
  }

  beforeEach(async () => {
    for (const e of fs.readdirSync(mnt)) fs.rmSync(path.join(mnt, e), { recursive: true });
    base = path.join(mnt, 'base');
    fs.mkdirSync(base);
    // Not base-dir's: the guard must never free space here, however far over the limit it stays.
    outside = path.join(mnt, 'outside');
    fs.mkdirSync(outside);
    fs.writeFileSync(path.join(outside, 'blob'), Buffer.alloc(BLOB, 1));

    d = {
      run1: makeDir('ref-a', 'run-1-1-j', 5 * HOUR),
      leftover: makeDir('ref-a', 'run-7-1-j', 'none', 3 * HOUR), // main died before taking its lock
      run2: makeDir('ref-b', 'run-2-1-j', HOUR),
      live: makeDir('ref-b', 'run-3-1-j', 10 * HOUR),
      own: makeDir('ref-c', 'run-9-1-j', 6 * HOUR), // this run's: excluded
      notmine: makeDir('ref-a', 'notmine', 'none', 30 * DAY), // no lock, not run-*: someone else's
      cargo: makeDir('ref-a', 'cargo', 10 * DAY),
      reg: makeDir('ref-b', 'reg', DAY),
      held: makeDir('ref-b', 'held', 20 * DAY),
      young: makeDir('ref-c', 'young', MIN)
    };
    // run1 is a run that was SIGKILLed while holding its lock.
    await killAndWait(await holdLock(pool, d.run1 + '.lock'));
    setMtime(d.run1 + '.lock', 5 * HOUR);
    liveHolder = await holdLock(pool, d.live + '.lock');
    await holdLock(pool, d.held + '.lock');
    // A symlink that looks like the oldest dead run dir, pointing at the outside data.
    fs.symlinkSync(outside, path.join(base, 'ref-c', 'run-0-1-link'));
    fs.writeFileSync(path.join(base, 'ref-c', 'run-0-1-link.lock'), '');
    setMtime(path.join(base, 'ref-c', 'run-0-1-link.lock'), 50 * DAY);

    const u = statfsProbe(base);
    expect(u.totalBytes).toBe(FS_SIZE);
    expect(u.usedBytes).toBeGreaterThanOrEqual(11 * BLOB);
    expect(u.usedBytes).toBeLessThan(11 * BLOB + MiB);
  });

  afterEach(async () => {
    await pool.killAll();
  });

  function expectUntouched(...keys: string[]): void {
    for (const k of keys) expect(fs.statSync(path.join(d[k], 'blob')).size).toBe(BLOB);
    expect(fs.statSync(path.join(outside, 'blob')).size).toBe(BLOB);
    expect(fs.lstatSync(path.join(base, 'ref-c', 'run-0-1-link')).isSymbolicLink()).toBe(true);
  }

  function countingProbe(): { probe: typeof statfsProbe; calls: () => number } {
    let n = 0;
    return {
      probe: (dir) => {
        n++;
        return statfsProbe(dir);
      },
      calls: () => n
    };
  }

  test('prunes dead run dirs oldest first, then idle pr dirs, and stops once within the limit', async () => {
    const { probe, calls } = countingProbe();
    // 88 MiB of 128 MiB used, 40 MiB free; want 70 MiB free: four 8 MiB dirs must go.
    const r = await guardDisk(base, { kind: 'min-free-bytes', bytes: 70 * MiB }, { exclude: [path.join(d.own, 'target')], probe });

    expect(r.pruned.map((p) => p.path)).toEqual([d.run1, d.leftover, d.run2, d.cargo]);
    expect(r.pruned.map((p) => p.kind)).toEqual(['run', 'run', 'run', 'pr']);
    for (const p of r.pruned) expect(p.bytes).toBeGreaterThanOrEqual(BLOB);
    expect(r.stillOverBy).toBeUndefined();
    expect(r.failed).toEqual([]);
    expect(r.before.availBytes).toBeLessThan(40 * MiB + 1);
    expect(r.after.availBytes).toBeGreaterThanOrEqual(70 * MiB);
    expect(r.after.availBytes).toBeLessThan(80 * MiB); // stopped: did not prune a fifth dir
    expect(calls()).toBe(1 + 4); // re-probed after each prune
    for (const k of ['run1', 'leftover', 'run2', 'cargo']) {
      expect(fs.existsSync(d[k])).toBe(false);
      expect(fs.existsSync(d[k] + '.lock')).toBe(false);
    }
    expectUntouched('live', 'own', 'notmine', 'reg', 'held', 'young');
  }, 20_000);

  test('cannot get under the limit: prunes everything unlocked and says how far it stayed', async () => {
    const limit = { kind: 'max-used-percent', percent: 10 } as const;
    const r = await guardDisk(base, limit, { exclude: [d.own] });

    expect(r.pruned.map((p) => p.path)).toEqual([d.run1, d.leftover, d.run2, d.cargo, d.reg, d.young]);
    // Left: outside, live, own, notmine, held = 40 MiB used; 10% of 128 MiB = 12.8 MiB allowed.
    expect(r.stillOverBy).toBe(bytesOverLimit(r.after, limit));
    expect(r.stillOverBy).toBeGreaterThanOrEqual(40 * MiB - Math.floor(FS_SIZE / 10));
    expect(r.stillOverBy).toBeLessThan(40 * MiB - Math.floor(FS_SIZE / 10) + MiB);
    expect(usedPercent(r.after)).toBeCloseTo(31.25, 0);
    expectUntouched('live', 'own', 'notmine', 'held');
    for (const k of ['live', 'held']) expect(fs.existsSync(d[k] + '.lock')).toBe(true);
  }, 20_000);

  test('within the limit: nothing is pruned', async () => {
    const r = await guardDisk(base, { kind: 'max-used-percent', percent: 85 }, { exclude: [] });
    expect(r.pruned).toEqual([]);
    expect(r.stillOverBy).toBeUndefined();
    expect(r.after).toEqual(r.before);
    expectUntouched('run1', 'leftover', 'run2', 'live', 'own', 'notmine', 'cargo', 'reg', 'held', 'young');
  }, 20_000);

  test('a dead run freed by SIGKILL mid-test becomes prunable; a lock taken mid-test protects', async () => {
    // Swap roles: the live run dies, and someone starts using the oldest dead one.
    await killAndWait(liveHolder);
    await holdLock(pool, d.run1 + '.lock');
    const r = await guardDisk(base, { kind: 'min-free-bytes', bytes: 50 * MiB }, { exclude: [d.own] });
    expect(r.pruned.map((p) => p.path)).toEqual([d.live, d.leftover]);
    expectUntouched('run1', 'run2', 'held');
  }, 20_000);
});
