// The janitor against real kernel locks held by real processes: a live run is a process holding
// `flock` on the lock file, a dead run is that process after SIGKILL. Nothing is mocked; the
// janitor runs in-process, and as separate processes (bundled with ncc) where a test needs two
// at once or a different user.
import { spawn, execFileSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { inputRefusal } from './helpers/input-refusal.js';
import { inputsFrom } from '../src/action/input-source.js';
import { scanBaseDir, type Candidate } from '../src/reap/candidates.js';
import { parseDuration, parseReapConfig } from '../src/reap/reap-config.js';
import { isExcluded, runJanitor, type JanitorResult } from '../src/reap/janitor.js';
import { tryReapDir } from '../src/reap/reaper.js';
import { asRoot, describeWith, sudoUser } from './helpers/prereq.js';
import { testCli } from './helpers/bundle.js';
import { holdLock, killAndWait, ProcessPool } from './helpers/processes.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const CFG = { reapAfterSec: 3600, prReapAfterSec: 3 * 86400 };

let tmp: string;
let base: string;
let cliScript: string;
const pool = new ProcessPool();

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'runbox-janitor-test-'));
  fs.chmodSync(tmp, 0o755); // one test runs the janitor as runbox-ci
  cliScript = testCli('janitor');
  // Like dist/main.js, the janitor finds keeper.js next to itself: a non-root janitor runs it as
  // root (sudo) to see which processes use a dir. The bundled one: it runs on its own.
  fs.copyFileSync(path.join(process.cwd(), 'dist', 'keeper.js'), path.join(path.dirname(cliScript), 'keeper.js'));
});

beforeEach(() => {
  base = fs.mkdtempSync(path.join(tmp, 'base-'));
  fs.chmodSync(base, 0o755);
});

afterEach(async () => {
  await pool.killAll();
});

afterAll(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

// --- helpers -------------------------------------------------------------------------------

function setMtime(p: string, ageMs: number): void {
  const t = new Date(Date.now() - ageMs);
  fs.utimesSync(p, t, t);
}

interface DirOpts {
  /** Age of the lock file's mtime; 'none' = no lock file. */
  lockAge: number | 'none';
  /** Age of the dir's own mtime (set last, after its content). */
  dirAge?: number;
  bytes?: number;
}

/** `<base>/<key>/<name>` with one file of `bytes` bytes, and its lock file. Returns the dir. */
function makeDir(key: string, name: string, opts: DirOpts): string {
  const dir = path.join(base, key, name);
  fs.mkdirSync(path.join(dir, 'sub'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'sub', 'data'), Buffer.alloc(opts.bytes ?? 1000, 7));
  if (opts.lockAge !== 'none') {
    fs.writeFileSync(dir + '.lock', JSON.stringify({ runId: name, runAttempt: '1', runner: 'r', job: 'j', pid: 1, since: '' }) + '\n');
    setMtime(dir + '.lock', opts.lockAge);
  }
  if (opts.dirAge !== undefined) setMtime(dir, opts.dirAge);
  return dir;
}

const exists = (p: string) => fs.existsSync(p) || fs.lstatSync(p, { throwIfNoEntry: false }) !== undefined;
const rel = (p: string) => path.relative(base, p);

function janitorProcess(args: string[], opts: SpawnOptions = {}): { child: ChildProcess; result: Promise<JanitorResult> } {
  const child = spawn(process.execPath, [cliScript, ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, NODE_OPTIONS: '' },
    ...opts
  });
  pool.track(child);
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const result = new Promise<JanitorResult>((resolve, reject) =>
    child.once('exit', (code, signal) => {
      const line = out.split('\n').find((l) => l.startsWith('RESULT '));
      if (code === 0 && line) resolve(JSON.parse(line.slice('RESULT '.length)) as JanitorResult);
      else reject(new Error(`janitor process exited ${signal ?? code}: ${err}\n${out}`));
    })
  );
  return { child, result };
}

// --- inputs --------------------------------------------------------------------------------

describe('reap inputs', () => {
  test('defaults: reap-after 1h, pr-reap-after 3d, disk guard off', () => {
    expect(parseReapConfig(inputsFrom({}))).toEqual({ reapAfterSec: 3600, prReapAfterSec: 3 * 86400, diskLimit: undefined });
  });

  test.each([
    ['90s', 90],
    ['30m', 1800],
    ['1h', 3600],
    ['2d', 172800],
    ['3600', 3600],
    ['365d', 365 * 86400]
  ])('accepts %s', (raw, sec) => {
    expect(parseReapConfig(inputsFrom({ 'reap-after': raw, 'pr-reap-after': raw })).reapAfterSec).toBe(sec);
    expect(parseReapConfig(inputsFrom({ 'pr-reap-after': raw })).prReapAfterSec).toBe(sec);
  });

  test.each(['0', '0h', '-1h', '-5', '1.5h', 'soon', '1w', '1 hour', 'h', '366d', '99999999999999999999', '1h30m'])('refuses %s naming the input', (raw) => {
    for (const input of ['reap-after', 'pr-reap-after']) {
      const message = inputRefusal(() => parseReapConfig(inputsFrom({ [input]: raw })), { [input]: raw });
      expect(message).toContain(`Input '${input}'`);
      expect(message).toContain(`'${raw}'`);
      expect(message).toMatch(/'90s', '30m', '1h', '2d'/);
    }
  });

  test('parseDuration names the input it was given', () => {
    expect(() => parseDuration('lock-timeout', 'x')).toThrow(/Input 'lock-timeout'/);
  });
});

// --- janitor, in-process -------------------------------------------------------------------

describe('janitor', () => {
  test('reaps dead old dirs only: keeps locked, young, excluded, foreign dirs and everything behind symlinks', async () => {
    // A run that died: its lock holder was SIGKILLed, its lock file is 2 h old.
    const dead = makeDir('pr-1', 'run-100-1-build-r1', { lockAge: 0, bytes: 50_000 });
    await killAndWait(await holdLock(pool, dead + '.lock'));
    setMtime(dead + '.lock', 2 * HOUR);
    // A live run holding its lock, last acquired 5 h ago.
    const live = makeDir('pr-1', 'run-101-1-build-r1', { lockAge: 0 });
    await holdLock(pool, live + '.lock');
    setMtime(live + '.lock', 5 * HOUR);
    const young = makeDir('pr-1', 'run-102-1-build-r1', { lockAge: 10 * MIN });
    const own = makeDir('main', 'run-103-1-build-r2', { lockAge: 3 * HOUR });
    const foreign = makeDir('pr-1', 'notmine', { lockAge: 'none', dirAge: 30 * DAY });
    const warmPr = makeDir('main', 'cargo', { lockAge: 2 * DAY });
    const coldPr = makeDir('main', 'old-cache', { lockAge: 4 * DAY, bytes: 30_000 });
    const leftover = makeDir('main', 'run-104-1-x', { lockAge: 'none', dirAge: 3 * HOUR });
    fs.writeFileSync(path.join(base, 'main', 'gone.lock'), '');
    setMtime(path.join(base, 'main', 'gone.lock'), 2 * HOUR);
    // A lock file with no dir that a sibling main has just taken, a moment before it makes its dir.
    fs.writeFileSync(path.join(base, 'main', 'run-106-1-x.lock'), '');
    fs.writeFileSync(path.join(base, 'README'), 'a file at depth 1');

    // A symlink at depth 2 that looks like a dead run dir, pointing out of base-dir.
    const outside = fs.mkdtempSync(path.join(tmp, 'outside-'));
    fs.writeFileSync(path.join(outside, 'precious'), 'x');
    fs.symlinkSync(outside, path.join(base, 'pr-1', 'run-105-1-evil'));
    fs.writeFileSync(path.join(base, 'pr-1', 'run-105-1-evil.lock'), '');
    setMtime(path.join(base, 'pr-1', 'run-105-1-evil.lock'), 9 * DAY);
    // A symlink at depth 1 to a tree that looks exactly like base-dir content.
    const outside2 = fs.mkdtempSync(path.join(tmp, 'outside-'));
    fs.mkdirSync(path.join(outside2, 'run-1-1-a'));
    fs.writeFileSync(path.join(outside2, 'run-1-1-a', 'precious'), 'x');
    fs.writeFileSync(path.join(outside2, 'run-1-1-a.lock'), '');
    setMtime(path.join(outside2, 'run-1-1-a.lock'), 9 * DAY);
    fs.symlinkSync(outside2, path.join(base, 'linked'));

    const r = await runJanitor(base, CFG, { exclude: [path.join(own, 'target')] });

    expect(r.reaped.map((d) => rel(d.path)).sort()).toEqual(['main/old-cache', 'main/run-104-1-x', 'pr-1/run-100-1-build-r1']);
    expect(r.reaped.find((d) => d.path === dead)?.kind).toBe('run');
    expect(r.reaped.find((d) => d.path === coldPr)?.kind).toBe('pr');
    expect(r.reaped.find((d) => d.path === dead)?.bytes).toBeGreaterThanOrEqual(50_000);
    expect(r.reaped.find((d) => d.path === coldPr)?.bytes).toBeGreaterThanOrEqual(30_000);
    expect(r.bytes).toBe(r.reaped.reduce((s, d) => s + d.bytes, 0));
    expect(r.failed).toEqual([]);
    expect(r.inUse).toBe(1);
    expect(r.orphanLocksRemoved.map(rel)).toEqual(['main/gone.lock']);
    expect(exists(path.join(base, 'main', 'run-106-1-x.lock'))).toBe(true);
    expect(r.skipped.map((s) => rel(s.path)).sort()).toEqual(['linked', 'pr-1/run-105-1-evil']);

    for (const d of [dead, coldPr, leftover]) {
      expect(exists(d)).toBe(false);
      expect(exists(d + '.lock')).toBe(false);
    }
    expect(exists(path.join(base, 'main', 'gone.lock'))).toBe(false);
    for (const d of [live, young, own, warmPr]) {
      expect(fs.readFileSync(path.join(d, 'sub', 'data')).length).toBe(1000);
      expect(exists(d + '.lock')).toBe(true);
    }
    expect(fs.readFileSync(path.join(foreign, 'sub', 'data')).length).toBe(1000);
    expect(exists(foreign + '.lock')).toBe(false); // no lock file was planted next to someone else's dir
    expect(fs.readFileSync(path.join(outside, 'precious'), 'utf8')).toBe('x');
    expect(fs.lstatSync(path.join(base, 'pr-1', 'run-105-1-evil')).isSymbolicLink()).toBe(true);
    expect(fs.readFileSync(path.join(outside2, 'run-1-1-a', 'precious'), 'utf8')).toBe('x');
    expect(exists(path.join(outside2, 'run-1-1-a.lock'))).toBe(true);
    expect(fs.readFileSync(path.join(base, 'README'), 'utf8')).toBe('a file at depth 1');
  }, 20_000);

  test('a shorter reap-after and pr-reap-after reap sooner; nothing happens on an empty or missing base-dir', async () => {
    const young = makeDir('pr-1', 'run-102-1-b', { lockAge: 10 * MIN });
    const warmPr = makeDir('main', 'cargo', { lockAge: 2 * DAY });
    expect((await runJanitor(base, CFG, { exclude: [] })).reaped).toEqual([]);
    const r = await runJanitor(base, { reapAfterSec: 300, prReapAfterSec: 86400 }, { exclude: [] });
    expect(r.reaped.map((d) => d.path).sort()).toEqual([warmPr, young].sort());
    expect((await runJanitor(path.join(base, 'nope'), CFG, { exclude: [] })).reaped).toEqual([]);
  }, 20_000);

  test('`now` moves the cutoff', async () => {
    const d = makeDir('pr-1', 'run-1-1-a', { lockAge: 10 * MIN });
    expect((await runJanitor(base, CFG, { exclude: [], now: new Date(Date.now() + 30 * MIN) })).reaped).toEqual([]);
    expect((await runJanitor(base, CFG, { exclude: [], now: new Date(Date.now() + 2 * HOUR) })).reaped.map((x) => x.path)).toEqual([d]);
  }, 20_000);

  test('a leftover run dir younger than a minute is left for later even when its age limit is shorter', async () => {
    const d = makeDir('pr-1', 'run-1-1-a', { lockAge: 'none', dirAge: 5_000 });
    const r = await runJanitor(base, { reapAfterSec: 1, prReapAfterSec: 1 }, { exclude: [] });
    expect(r.reaped).toEqual([]);
    expect(exists(d)).toBe(true);
  }, 20_000);

  test('isExcluded matches the path, paths inside it and paths containing it, and nothing else', () => {
    expect(isExcluded('/b/k/run-1', ['/b/k/run-1/target'])).toBe(true);
    expect(isExcluded('/b/k/run-1', ['/b/k/run-1'])).toBe(true);
    expect(isExcluded('/b/k/run-1', ['/b/k'])).toBe(true);
    expect(isExcluded('/b/k/run-1', ['/b/k/run-10'])).toBe(false);
    expect(isExcluded('/b/k/run-10', ['/b/k/run-1'])).toBe(false);
  });
});

// --- the reaper's checks under the lock ------------------------------------------------------

describe('reaper re-verifies under the lock', () => {
  function candidateFor(dir: string): Candidate {
    const c = scanBaseDir(base).candidates.find((x) => x.path === dir);
    if (!c) throw new Error(`no candidate for ${dir}`);
    return c;
  }

  test('a dir used again after the scan is kept', async () => {
    const d = makeDir('pr-1', 'run-1-1-a', { lockAge: 3 * HOUR });
    const c = candidateFor(d);
    setMtime(d + '.lock', 0); // a run took and released it after our scan
    const r = await tryReapDir(c, { baseDir: base, idleBefore: new Date(Date.now() - HOUR) });
    expect(r.skipped).toMatch(/used at/);
    expect(exists(d)).toBe(true);
  });

  test('a dead dir whose lock is free but that a process still uses (cwd, open file) is kept, and reaped once it is let go', async () => {
    const d = makeDir('pr-1', 'run-1-1-a', { lockAge: 3 * HOUR });
    const e = makeDir('pr-1', 'shared', { lockAge: 4 * 86400 * 1000 });
    const inCwd = pool.track(spawn('sleep', ['1000'], { cwd: path.join(d, 'sub'), stdio: 'ignore' }));
    const withFd = pool.track(spawn('sh', ['-c', 'exec 3<"$1" && exec sleep 1000', 'sh', path.join(e, 'sub', 'data')], { stdio: 'ignore' }));
    await new Promise((r) => setTimeout(r, 300));
    for (const [dir, pid] of [
      [d, inCwd.pid],
      [e, withFd.pid]
    ] as const) {
      const r = await tryReapDir(candidateFor(dir), { baseDir: base });
      expect(r).toEqual({ skipped: expect.stringMatching(new RegExp(`still used by pid ${pid} \`sleep 1000\``)) as unknown, inUse: true });
      expect(exists(dir)).toBe(true);
    }
    await killAndWait(inCwd);
    await killAndWait(withFd);
    for (const dir of [d, e]) {
      expect((await tryReapDir(candidateFor(dir), { baseDir: base })).reaped?.path).toBe(dir);
      expect(exists(dir)).toBe(false);
    }
  });

  test('a dir reaped by someone else after the scan is skipped without touching its lock file', async () => {
    const d = makeDir('pr-1', 'run-1-1-a', { lockAge: 3 * HOUR });
    const c = candidateFor(d);
    fs.rmSync(d, { recursive: true });
    const r = await tryReapDir(c, { baseDir: base });
    expect(r.reaped).toBeUndefined();
    expect(r.skipped).toMatch(/gone/);
    // Now an orphan lock: the janitor's orphan pass removes it under its lock.
    expect(exists(d + '.lock')).toBe(true);
    expect(scanBaseDir(base).orphanLocks).toEqual([d + '.lock']);
  });

  test('a leftover whose lock a run created and wrote after the scan is judged by that lock', async () => {
    const d = makeDir('pr-1', 'run-1-1-a', { lockAge: 'none', dirAge: 3 * HOUR });
    const c = candidateFor(d);
    expect(c.hasLock).toBe(false);
    fs.writeFileSync(d + '.lock', '{"runId":"1"}\n'); // a run locked, wrote its holder info, and released
    const r = await tryReapDir(c, { baseDir: base, idleBefore: new Date(Date.now() - HOUR) });
    expect(r.skipped).toMatch(/used at/);
    expect(exists(d)).toBe(true);
  });

  test('a dir replaced by a symlink after the scan is not followed', async () => {
    const d = makeDir('pr-1', 'run-1-1-a', { lockAge: 3 * HOUR });
    const c = candidateFor(d);
    const outside = fs.mkdtempSync(path.join(tmp, 'outside-'));
    fs.writeFileSync(path.join(outside, 'precious'), 'x');
    fs.rmSync(d, { recursive: true });
    fs.symlinkSync(outside, d);
    const r = await tryReapDir(c, { baseDir: base });
    expect(r.skipped).toMatch(/symlink/);
    expect(fs.readFileSync(path.join(outside, 'precious'), 'utf8')).toBe('x');
    expect(fs.lstatSync(d).isSymbolicLink()).toBe(true);
  });

  test('paths that are not <base>/<key>/<name> are refused outright', async () => {
    const d = makeDir('pr-1', 'run-1-1-a', { lockAge: 3 * HOUR });
    const c = candidateFor(d);
    await expect(tryReapDir({ ...c, path: path.join(d, 'sub'), lockPath: path.join(d, 'sub') + '.lock' }, { baseDir: base })).rejects.toThrow(/refusing to reap/);
    await expect(tryReapDir({ ...c, path: path.join(base, 'pr-1') }, { baseDir: base })).rejects.toThrow(/refusing to reap/);
    await expect(tryReapDir(c, { baseDir: path.join(base, 'pr-1') })).rejects.toThrow(/refusing to reap/);
    await expect(tryReapDir({ ...c, lockPath: path.join(base, 'x.lock') }, { baseDir: base })).rejects.toThrow(/refusing to reap/);
    expect(exists(path.join(d, 'sub', 'data'))).toBe(true);
  });
});

// --- janitors as processes -------------------------------------------------------------------

describe('janitor processes', () => {
  test('two concurrent janitors reap each dead dir exactly once and leave live dirs alone', async () => {
    const dead: string[] = [];
    for (let i = 0; i < 40; i++) {
      const d = makeDir(`ref-${i % 4}`, `run-${i}-1-job`, { lockAge: 2 * HOUR });
      for (let f = 0; f < 30; f++) fs.writeFileSync(path.join(d, 'sub', `f${f}`), 'x'.repeat(100)); // make each delete take a moment
      dead.push(d);
    }
    for (let i = 0; i < 4; i++) dead.push(makeDir(`ref-${i}`, `cache-${i}`, { lockAge: 5 * DAY }));
    const live: string[] = [];
    for (let i = 0; i < 3; i++) {
      const d = makeDir(`ref-${i}`, `run-live-${i}`, { lockAge: 0 });
      await holdLock(pool, d + '.lock');
      setMtime(d + '.lock', 10 * HOUR);
      live.push(d);
    }

    const a = janitorProcess([base, '3600', String(3 * 86400)]);
    const b = janitorProcess([base, '3600', String(3 * 86400)]);
    const t0 = Date.now();
    a.child.stdin?.write('go\n');
    b.child.stdin?.write('go\n');
    const [ra, rb] = await Promise.all([a.result, b.result]);
    const elapsed = Date.now() - t0;

    const all = [...ra.reaped, ...rb.reaped].map((d) => d.path);
    // Exactly once: no dir counted by both, none missed.
    expect(new Set(all).size).toBe(all.length);
    expect([...all].sort()).toEqual([...dead].sort());
    // Both did real work, i.e. they did overlap (otherwise this would prove nothing).
    expect(ra.reaped.length + rb.reaped.length).toBe(44);
    console.log(`two janitors: ${ra.reaped.length} + ${rb.reaped.length} dirs in ${elapsed} ms`);
    expect(ra.failed).toEqual([]);
    expect(rb.failed).toEqual([]);
    for (const d of dead) {
      expect(exists(d)).toBe(false);
      expect(exists(d + '.lock')).toBe(false); // no orphan recreated by the janitor that lost a race
    }
    for (const d of live) {
      expect(fs.readdirSync(path.join(d, 'sub'))).toEqual(['data']);
      expect(exists(d + '.lock')).toBe(true);
    }
    // What is left in base-dir: the live dirs and their lock files, nothing else.
    const left = fs.readdirSync(base).flatMap((k) => fs.readdirSync(path.join(base, k)).map((n) => `${k}/${n}`));
    expect(left.sort()).toEqual(live.flatMap((d) => [rel(d), rel(d) + '.lock']).sort());
    // A budget for a loaded machine (it took 20 s beside other test files), not a speed check.
  }, 120_000);

  describeWith([asRoot(), sudoUserPrereq()])('as the non-root runner user', () => {
    test('root-owned content inside a dead run dir is deleted through sudo', async () => {
      const ci = sudoUser();
      if (!ci) throw new Error('unreachable: prereq checked');
      const d = makeDir('pr-2', 'run-200-1-x', { lockAge: 2 * HOUR });
      execFileSync('chown', ['-R', `${ci.uid}:${ci.gid}`, base]);
      // What a container running as root leaves behind: a 0700 root dir the runner cannot enter.
      fs.mkdirSync(path.join(d, 'target', 'deep'), { recursive: true });
      fs.writeFileSync(path.join(d, 'target', 'deep', 'out.o'), 'x'.repeat(5000));
      fs.chmodSync(path.join(d, 'target'), 0o700);
      fs.writeFileSync(path.join(d, 'root-file'), 'x');
      setMtime(d + '.lock', 2 * HOUR);
      expect(fs.statSync(path.join(d, 'target')).uid).toBe(0);

      const j = janitorProcess([base, '3600', String(3 * 86400)], { uid: ci.uid, gid: ci.gid, cwd: '/', env: { ...process.env, NODE_OPTIONS: '', HOME: tmp } });
      j.child.stdin?.write('go\n');
      const r = await j.result;
      expect(r.failed).toEqual([]);
      expect(r.reaped.map((x) => x.path)).toEqual([d]);
      expect(exists(d)).toBe(false);
      expect(exists(d + '.lock')).toBe(false);
    }, 20_000);
  });
});

function sudoUserPrereq(): { ok: boolean; reason: string } {
  return sudoUser() ? { ok: true, reason: '' } : { ok: false, reason: 'needs the user runbox-ci with passwordless sudo' };
}
