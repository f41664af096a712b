// Warm per-run dirs, module level with real files, real locks held by real processes and real
// cp: which finished run dir is chosen, what a copy keeps, and what a reflink does on a
// filesystem that refuses it (tmpfs) and on one that supports it (btrfs on a loop device).
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { JobContext } from '../src/action/job-context.js';
import { InputError } from '../src/common/errors.js';
import { inputsFrom } from '../src/action/input-source.js';
import { computeLayout, type Layout } from '../src/dirs/layout.js';
import type { ProvisionedDir } from '../src/action/step-state.js';
import { StepReport } from '../src/action/job-summary.js';
import { findWarmSource, parseWarm, warmDir, warmRunDirs } from '../src/dirs/warm.js';
import { describeWith, probe } from './helpers/prereq.js';
import { allExtentsShared, holdLock, killGroup, lockIsFree, mountBtrfs, mountTmpfs, setMtime, snapshot, type Entry } from './helpers/warm-fs.js';

const MiB = 2 ** 20;
const HOUR = 3_600_000;
const NAME = 'target';
const OWNER = { uid: 4242, gid: 4343 };

describe('warm input', () => {
  test.each([
    ['', 'off'],
    ['off', 'off'],
    ['reflink', 'reflink'],
    ['copy', 'copy'],
    ['Reflink', 'reflink']
  ])("'%s' is %s", (raw, mode) => {
    expect(parseWarm(inputsFrom({ warm: raw }))).toBe(mode);
  });

  test.each(['on', 'true', 'clone', 'reflink,copy', 'auto'])('refuses %s naming the input and the accepted values', (raw) => {
    let err: unknown;
    try {
      parseWarm(inputsFrom({ warm: raw }));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toContain("Input 'warm'");
    expect((err as Error).message).toContain(`'${raw}'`);
    expect((err as Error).message).toMatch(/'off'.*'reflink'.*'copy'/);
  });
});

// --- on real filesystems ----------------------------------------------------------------------

const tmpfs = mountTmpfs(256);
const btrfs = mountBtrfs(512);
const filefrag = probe('filefrag (e2fsprogs)', 'filefrag', ['-V']);

afterAll(() => {
  try {
    if (tmpfs.ok) tmpfs.unmount();
  } finally {
    if (btrfs.ok) btrfs.unmount();
  }
});

const printed: string[] = [];
const realWrite = process.stdout.write.bind(process.stdout);
beforeAll(() => {
  process.stdout.write = (chunk: string | Uint8Array, ...rest: unknown[]) => {
    printed.push(...String(chunk).split('\n'));
    return (realWrite as (c: string | Uint8Array, ...r: unknown[]) => boolean)(chunk, ...rest);
  };
});
afterAll(() => {
  process.stdout.write = realWrite;
});

function ctx(runId: string): JobContext {
  return { runId, runAttempt: '1', job: 'build', runnerName: 'runner-1', ref: 'main', runnerTemp: '/unused', workspace: '/unused' };
}

/** Fresh base-dir on `mnt` and this run's layout (run 9), with its run dir and empty target made as main would. */
function freshBase(mnt: string): { layout: Layout; target: ProvisionedDir } {
  for (const e of fs.readdirSync(mnt)) fs.rmSync(path.join(mnt, e), { recursive: true, force: true });
  const layout = computeLayout(path.join(mnt, 'base'), ctx('9'), '');
  const p = path.join(layout.runDir, NAME);
  fs.mkdirSync(p, { recursive: true });
  fs.chownSync(p, OWNER.uid, OWNER.gid);
  fs.writeFileSync(layout.runDir + '.lock', '');
  return { layout, target: { name: NAME, path: p, scope: 'run' } };
}

/** A previous run's dir `<ref>/run-<id>-1-build-runner-1/target` with one marker file, its lock last released `ageMs` ago. */
function finishedRun(layout: Layout, id: string, ageMs: number | 'no lock', opts: { withName?: boolean } = {}): string {
  const runDir = computeLayout(layout.baseDir, ctx(id), '').runDir;
  const dir = path.join(runDir, NAME);
  fs.mkdirSync(opts.withName === false ? runDir : dir, { recursive: true });
  if (opts.withName !== false) fs.writeFileSync(path.join(dir, 'from'), id);
  if (ageMs === 'no lock') return dir;
  fs.writeFileSync(runDir + '.lock', '');
  setMtime(runDir + '.lock', ageMs);
  return dir;
}

describeWith([tmpfs])('choosing the warm source', () => {
  const children: ChildProcess[] = [];
  let layout: Layout;

  beforeEach(() => {
    ({ layout } = freshBase(tmpfs.dir));
  });
  afterEach(async () => {
    for (const c of children.splice(0)) await killGroup(c);
  });

  test('the newest finished run dir of the ref, held under its lock until released', async () => {
    finishedRun(layout, '1', 3 * HOUR);
    const newest = finishedRun(layout, '2', HOUR);
    finishedRun(layout, '3', 2 * HOUR);
    const s = await findWarmSource(layout, NAME, layout.runDir);
    expect(s?.path).toBe(newest);
    // While we copy, no janitor may take it: its lock is ours.
    expect(lockIsFree(path.dirname(newest) + '.lock')).toBe(false);
    s?.release();
    s?.release();
    expect(lockIsFree(path.dirname(newest) + '.lock')).toBe(true);
  });

  test('a live (locked) newer run dir is skipped', async () => {
    const finished = finishedRun(layout, '2', HOUR);
    const live = finishedRun(layout, '3', 0);
    children.push(await holdLock(path.dirname(live) + '.lock'));
    const s = await findWarmSource(layout, NAME, layout.runDir);
    expect(s?.path).toBe(finished);
    s?.release();
  });

  test("never this run's own dir, even when it is newest and unlocked", async () => {
    const older = finishedRun(layout, '2', HOUR);
    fs.writeFileSync(path.join(layout.runDir, NAME, 'from'), 'own');
    const s = await findWarmSource(layout, NAME, layout.runDir);
    expect(s?.path).toBe(older);
    s?.release();
  });

  test('never through a symlink: a symlinked run dir, NAME dir, lock file or ref dir', async () => {
    const real = finishedRun(layout, '2', 5 * HOUR);
    // Outside base-dir, with all a source needs; newer than anything real.
    const outside = path.join(tmpfs.dir, 'outside');
    fs.mkdirSync(path.join(outside, NAME), { recursive: true });
    fs.writeFileSync(path.join(outside, NAME, 'from'), 'outside');
    const linkRun = path.join(layout.refDir, 'run-5-1-build-runner-1');
    fs.symlinkSync(outside, linkRun);
    fs.writeFileSync(linkRun + '.lock', '');
    const linkName = finishedRun(layout, '6', 0, { withName: false });
    fs.symlinkSync(path.join(outside, NAME), linkName);
    const linkLock = path.dirname(finishedRun(layout, '7', 'no lock'));
    fs.symlinkSync(path.join(outside, 'some.lock'), linkLock + '.lock');

    const s = await findWarmSource(layout, NAME, layout.runDir);
    expect(s?.path).toBe(real);
    s?.release();
    expect(fs.existsSync(path.join(outside, 'some.lock'))).toBe(false);

    // A ref dir that is itself a symlink is not looked into at all.
    const other = computeLayout(layout.baseDir, { ...ctx('9'), ref: 'linked' }, '');
    fs.symlinkSync(layout.refDir, other.refDir);
    expect(await findWarmSource(other, NAME, other.runDir)).toBeUndefined();
  });

  test('a run dir without a lock file counts as finished, by its mtime; the lock file made to claim it goes again', async () => {
    finishedRun(layout, '2', HOUR);
    const noLock = finishedRun(layout, '4', 'no lock');
    setMtime(path.dirname(noLock), 0);
    const s = await findWarmSource(layout, NAME, layout.runDir);
    expect(s?.path).toBe(noLock);
    expect(lockIsFree(path.dirname(noLock) + '.lock')).toBe(false);
    s?.release();
    expect(fs.existsSync(path.dirname(noLock) + '.lock')).toBe(false);
  });

  test('run dirs without the NAME dir, or with an empty one, are passed over', async () => {
    const older = finishedRun(layout, '2', 2 * HOUR);
    finishedRun(layout, '3', 0, { withName: false });
    const empty = finishedRun(layout, '4', 0);
    fs.rmSync(path.join(empty, 'from'));
    const s = await findWarmSource(layout, NAME, layout.runDir);
    expect(s?.path).toBe(older);
    s?.release();
  });

  test('no source: nothing happens', async () => {
    const { target } = freshBase(tmpfs.dir);
    finishedRun(layout, '3', 0, { withName: false });
    const report = new StepReport('t');
    expect(await findWarmSource(layout, NAME, layout.runDir)).toBeUndefined();
    expect(await warmRunDirs('copy', layout, [target], OWNER, report)).toEqual([]);
    expect(fs.readdirSync(target.path)).toEqual([]);
    expect(fs.readdirSync(layout.runDir)).toEqual([NAME]);
    expect(report.entries).toEqual([]);
    // And nothing at all with warm off, sources or not.
    finishedRun(layout, '2', HOUR);
    expect(await warmRunDirs('off', layout, [target], OWNER, report)).toEqual([]);
    expect(fs.readdirSync(target.path)).toEqual([]);
  });
});

/** A source tree with what a build dir holds: modes, old mtimes, symlinks, a hardlink, an empty dir, a foreign owner. */
function buildTree(dir: string): void {
  fs.mkdirSync(path.join(dir, 'debug/deps'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'debug/empty'));
  fs.writeFileSync(path.join(dir, 'debug/deps/libfoo.rlib'), Buffer.alloc(3 * MiB, 7));
  fs.writeFileSync(path.join(dir, 'debug/app'), '#!/bin/sh\necho hi\n', { mode: 0o755 });
  fs.writeFileSync(path.join(dir, 'debug/secret'), 'x', { mode: 0o600 });
  fs.chmodSync(path.join(dir, 'debug/secret'), 0o600);
  fs.linkSync(path.join(dir, 'debug/app'), path.join(dir, 'debug/app-hardlink'));
  fs.symlinkSync('deps/libfoo.rlib', path.join(dir, 'debug/libfoo-link'));
  fs.symlinkSync('/nonexistent/anywhere', path.join(dir, 'debug/dangling'));
  fs.writeFileSync(path.join(dir, 'from'), 'src');
  for (const rel of ['', 'debug', 'debug/deps', 'debug/empty', 'debug/deps/libfoo.rlib', 'debug/app', 'debug/secret', 'from']) fs.lchownSync(path.join(dir, rel), OWNER.uid, OWNER.gid);
  fs.lchownSync(path.join(dir, 'debug/libfoo-link'), OWNER.uid, OWNER.gid);
  // Left behind by a container step running as root: must end up the owner's too.
  fs.writeFileSync(path.join(dir, 'debug/by-root'), 'r');
  fs.lchownSync(path.join(dir, 'debug/dangling'), 0, 0);
  // Old, distinct mtimes, deepest first so a dir's own time is not bumped by its children.
  const rels = [...snapshot(dir).keys()].sort((a, b) => b.length - a.length);
  rels.forEach((rel, i) => {
    const t = new Date(Date.UTC(2024, 0, 1) + i * 1234567);
    fs.lutimesSync(path.join(dir, rel), t, t);
  });
}

/** What the target must look like: the source, every entry owned by `owner`. */
function asOwnedBy(snap: Map<string, Entry>, owner: { uid: number; gid: number }): Map<string, Entry> {
  return new Map([...snap].map(([k, e]) => [k, { ...e, uid: owner.uid, gid: owner.gid }]));
}

describeWith([tmpfs])('copy and reflink on a filesystem without reflink (tmpfs)', () => {
  let layout: Layout;
  let target: ProvisionedDir;

  beforeEach(() => {
    ({ layout, target } = freshBase(tmpfs.dir));
    printed.length = 0;
  });

  test('copy: contents, modes, mtimes, symlinks and hardlinks kept, everything owned by the owner, staging gone', async () => {
    const src = finishedRun(layout, '2', HOUR);
    buildTree(src);
    const before = snapshot(src);
    expect([...before.values()].some((e) => e.uid === 0)).toBe(true);
    const report = new StepReport('t');
    const [r] = await warmRunDirs('copy', layout, [target], OWNER, report);
    expect(r).toMatchObject({ mode: 'copy', source: src, files: 8 });
    expect(r.bytes).toBe([...before.values()].filter((e) => e.type === 'file').reduce((n, e) => n + e.size, 0));
    expect(snapshot(target.path)).toEqual(asOwnedBy(before, OWNER));
    // The source is untouched and free again.
    expect(snapshot(src)).toEqual(before);
    expect(lockIsFree(path.dirname(src) + '.lock')).toBe(true);
    expect(fs.readdirSync(layout.runDir)).toEqual([NAME]);
    expect(report.entries).toEqual([{ what: `warm ${NAME}`, detail: expect.stringMatching(new RegExp(`^copy of ${src}: 3\\.0 MiB in 8 files in \\d+\\.\\d s$`)) as unknown }]);
  });

  test('reflink where the filesystem refuses: one log line saying why, then off, target empty, nothing left behind', async () => {
    const src = finishedRun(layout, '2', HOUR);
    buildTree(src);
    const report = new StepReport('t');
    const [r] = await warmRunDirs('reflink', layout, [target], OWNER, report);
    expect(r.mode).toBe('off');
    expect(r.reason).toMatch(/reflink refused: (Operation not supported|Invalid cross-device link|Inappropriate ioctl for device)/);
    expect(fs.readdirSync(target.path)).toEqual([]);
    expect(fs.statSync(target.path)).toMatchObject(OWNER);
    expect(fs.readdirSync(layout.runDir)).toEqual([NAME]);
    const lines = printed.filter((l) => l.includes('reflink not possible'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(src);
    expect(printed.some((l) => l.startsWith('::warning::'))).toBe(false);
    expect(report.entries[0].detail).toMatch(/^cold \(reflink from .*: reflink refused: /);
    expect(lockIsFree(path.dirname(src) + '.lock')).toBe(true);
  });

  test('a target that is not empty is refused', async () => {
    const src = finishedRun(layout, '2', HOUR);
    fs.writeFileSync(path.join(target.path, 'mine'), '');
    await expect(warmDir('copy', src, target.path, OWNER)).rejects.toThrow(/not empty/);
    expect(fs.readdirSync(target.path)).toEqual(['mine']);
  });
});

describeWith([btrfs, filefrag])('reflink on a reflink-capable filesystem (btrfs on a loop device)', () => {
  test('clones: extents shared with the source, same tree, owned by the owner, fast', async () => {
    const { layout, target } = freshBase(btrfs.dir);
    const src = finishedRun(layout, '2', HOUR);
    buildTree(src);
    const big = path.join(src, 'debug/deps/big.rlib');
    fs.writeFileSync(big, Buffer.alloc(64 * MiB, 3));
    fs.chownSync(big, OWNER.uid, OWNER.gid);
    const before = snapshot(src);
    const report = new StepReport('t');
    const [r] = await warmRunDirs('reflink', layout, [target], OWNER, report);
    expect(r).toMatchObject({ mode: 'reflink', source: src, files: 9 });
    expect(snapshot(target.path)).toEqual(asOwnedBy(before, OWNER));
    expect(allExtentsShared(path.join(target.path, 'debug/deps/big.rlib'))).toBe(true);
    expect(allExtentsShared(path.join(target.path, 'debug/deps/libfoo.rlib'))).toBe(true);
    // A clone only writes metadata; a 67 MiB copy on a loop device is far slower than this bound.
    expect(r.ms).toBeLessThan(5000);
    expect(report.entries[0].detail).toMatch(/^reflink of .*: 67\.0 MiB in 9 files in /);
  });
});
