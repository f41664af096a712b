// Liveness under cancels and deaths, through dist/ (issue 11): a janitor cancelled mid-reap, a
// keeper killed on its own, two runs listing the same `pr` dirs in different orders, post and a
// janitor both after a cancelled main's run dir, a second post, empty key dirs.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FakeJob, type StepResult } from './helpers/action-runner.js';
import { keepersHolding } from './helpers/keepers.js';
import { holdLock, killAndWait, lockIsFree, ProcessPool } from './helpers/processes.js';
import { WorkerJob } from './helpers/fleet-worker.js';
import { age, alive, sleep, until, within } from './helpers/fleet-util.js';
import { asRoot, describeWith, sudoUser } from './helpers/prereq.js';

const HOUR = 3600_000;
const DAY = 24 * HOUR;

const jobs: FakeJob[] = [];
const workerJobs: WorkerJob[] = [];
const roots: string[] = [];
const pool = new ProcessPool();
afterAll(async () => {
  await pool.killAll();
  workerJobs.forEach((j) => j.cleanup());
  jobs.forEach((j) => j.cleanup());
  for (const r of roots) fs.rmSync(r, { recursive: true, force: true });
});

function tempRoot(name: string): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), `runbox-${name}-`));
  roots.push(root);
  return root;
}

function job(root: string, runId: string, pr?: number): FakeJob {
  const j = new FakeJob({
    runId,
    runnerName: `runner-${runId}`,
    root: path.join(root, 'jobs', runId),
    ...(pr !== undefined ? { ref: `refs/pull/${pr}/merge`, event: 'pull_request' } : { ref: 'refs/heads/main', event: 'push' })
  });
  jobs.push(j);
  return j;
}

function workerJob(root: string, runId: string, pr?: number): WorkerJob {
  const j = new WorkerJob({
    runId,
    runnerName: `runner-${runId}`,
    root: path.join(root, 'jobs', runId),
    ...(pr !== undefined ? { ref: `refs/pull/${pr}/merge`, event: 'pull_request' } : { ref: 'refs/heads/main', event: 'push' })
  });
  workerJobs.push(j);
  return j;
}

/** Processes whose parent is `pid`, as [pid, comm]. */
function childrenOf(pid: number): Array<[number, string]> {
  const out: Array<[number, string]> = [];
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ESRCH') continue;
      throw err;
    }
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid === pid) out.push([Number(e), comm]);
  }
  return out;
}

/** Fills `dir` with `n` small files in sub dirs: enough that `rm -rf` takes a while. */
function fill(dir: string, n: number): void {
  for (let i = 0; i < n; i++) {
    const sub = path.join(dir, `d${i % 200}`);
    if (i < 200) fs.mkdirSync(sub, { recursive: true });
    fs.writeFileSync(path.join(sub, `f${i}`), 'x');
  }
}

/** Runs a step of `j`, failing after `ms` with its output so far and what every process was doing. */
async function stepWithin(what: string, j: FakeJob, step: 'main' | 'post', inputs: Record<string, string> | undefined, ms: number): Promise<StepResult> {
  const started = j.start(step, inputs);
  return watched(what, started, ms);
}

/** Waits for a started step, as stepWithin does. */
async function watched(what: string, started: ReturnType<FakeJob['start']>, ms: number): Promise<StepResult> {
  let out = '';
  started.child.stdout?.on('data', (b: Buffer) => (out += b.toString()));
  started.child.stderr?.on('data', (b: Buffer) => (out += b.toString()));
  return within(what, started.done, ms, () => `${what} (pid ${started.child.pid}) printed so far:\n${out}`);
}

/**
 * No keeper holds a lock under `base` any more. A lingering keeper (post's `leftovers: wait`)
 * lets go once nothing uses its dirs, a moment after post: given 20 s. Past that, the failure
 * names each one, its command line and the lock files it holds.
 */
async function expectNoKeeperHolds(base: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (let left = keepersHolding(base); left.length > 0; left = keepersHolding(base)) {
    if (Date.now() > deadline) {
      const describe = (pid: number): string => {
        const read = (f: string): string => (fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : '(gone)');
        const fds = fs.existsSync(`/proc/${pid}/fd`) ? fs.readdirSync(`/proc/${pid}/fd`).map((fd) => fs.readlinkSync(`/proc/${pid}/fd/${fd}`)) : [];
        return `${pid}: ${read(`/proc/${pid}/cmdline`).replaceAll('\0', ' ')} holding ${fds.filter((f) => f.startsWith(base)).join(', ')}`;
      };
      throw new Error(`keepers still hold locks under ${base} 20 s after the last post:\n${left.map(describe).join('\n')}`);
    }
    await sleep(200);
  }
}

/** Run 1's `pr` dir, filled and left idle for days: what the next janitor reaps. */
async function idlePrDir(first: FakeJob, base: string): Promise<string> {
  const m1 = await stepWithin("the first run's main", first, 'main', { 'base-dir': base, dirs: 'cache:pr' }, 60_000);
  expect(m1.errors).toEqual([]);
  const cache = (JSON.parse(m1.outputs.dirs) as Record<string, string>).cache;
  fill(cache, 60_000);
  expect((await stepWithin("the first run's post", first, 'post', undefined, 60_000)).errors).toEqual([]);
  age(cache + '.lock', 4 * DAY);
  return cache;
}

/** Another job's main, caught while its janitor runs `command` on the idle dir (sudo: with its rm started under it). */
async function janitorMidDelete(janitor: FakeJob, base: string, command: 'rm' | 'sudo', timeoutMs: number): Promise<{ started: ReturnType<FakeJob['start']>; pid: number }> {
  const started = janitor.start('main', { 'base-dir': base, dirs: 'target' });
  const mainPid = started.child.pid as number;
  let pid: number | undefined;
  await until(
    `the janitor started ${command}`,
    () => {
      pid = childrenOf(mainPid).find(([, c]) => c === command)?.[0];
      return (pid !== undefined && (command !== 'sudo' || childrenOf(pid).length > 0)) || started.child.exitCode !== null;
    },
    timeoutMs
  );
  expect(pid).toBeDefined();
  return { started, pid: pid as number };
}

/** The next run's files in the pr dir are all still there a moment later: no delete runs under them. */
async function expectFreshFilesKept(cache: string): Promise<void> {
  const fresh = Array.from({ length: 345 }, (_, i) => path.join(cache, `fresh-${i}`));
  for (const f of fresh) fs.writeFileSync(f, 'mine');
  await sleep(1500);
  expect(fresh.filter((f) => !fs.existsSync(f)).length).toBe(0);
}

describe('a cancel never leaves work running unlocked', () => {
  test('a janitor cancelled while removing a large idle pr dir: its rm ends with it, and the next run of the PR keeps its fresh files', async () => {
    const root = tempRoot('cut-reap');
    const base = path.join(root, 'base');
    const prInputs = { 'base-dir': base, dirs: 'cache:pr' };
    const cache = await idlePrDir(job(root, '1', 40), base);

    // Another job's main: its janitor takes the idle pr dir and starts rm -rf on it.
    const { started, pid: rmPid } = await janitorMidDelete(job(root, '2'), base, 'rm', 30_000);
    const stopped = watched("the cancelled janitor's main", started, 30_000);
    started.child.kill('SIGTERM');
    const r = await stopped;
    expect(r.code).toBe(143);
    // Nothing main started runs on after it: the rm is gone when main is.
    expect(alive(rmPid)).toBe(false);
    expect(r.summary).not.toMatch(/reaped/);

    // The next run of the PR takes the dir (finishing the cut-short delete first) and writes.
    const next = job(root, '3', 40);
    const m3 = await stepWithin("the next run's main", next, 'main', prInputs, 120_000);
    expect(m3.errors).toEqual([]);
    expect(m3.stdout).toContain('was cut short');
    await expectFreshFilesKept(cache);
    expect(fs.readdirSync(cache).filter((n) => !n.startsWith('fresh-'))).toEqual([]);
    expect((await stepWithin("the next run's post", next, 'post', undefined, 60_000)).errors).toEqual([]);
    await expectNoKeeperHolds(base);
    // Each wait above has its own deadline and says where it stuck; this one only bounds them all.
  }, 400_000);
});

describe('a reaper killed outright', () => {
  test('a janitor SIGKILLed during rm of an idle pr dir: the dir stays locked until rm is done, the next run starts it afresh and keeps its files', async () => {
    const root = tempRoot('killed-reap');
    const base = path.join(root, 'base');
    const prInputs = { 'base-dir': base, dirs: 'cache:pr' };
    const cache = await idlePrDir(job(root, '1', 48), base);

    const { started, pid: rmPid } = await janitorMidDelete(job(root, '2'), base, 'rm', 30_000);
    const killed = watched("the killed janitor's main (its output closes once the orphaned rm is done)", started, 120_000);
    started.child.kill('SIGKILL');
    await killed;

    const next = job(root, '3', 48);
    const m3 = await stepWithin("the next run's main", next, 'main', prInputs, 120_000);
    expect(m3.errors).toEqual([]);
    // It got the lock only once the orphaned rm was done with the old content.
    expect(alive(rmPid)).toBe(false);
    await expectFreshFilesKept(cache);
    expect((await stepWithin("the next run's post", next, 'post', undefined, 60_000)).errors).toEqual([]);
  }, 400_000);
});

describeWith([asRoot()])('a cancel never leaves sudo work running', () => {
  test('a runbox-ci janitor cancelled during its sudo rm of root-owned content: sudo relays the stop, no rm is left', async () => {
    const u = sudoUser();
    if (!u) throw new Error('runbox-ci (with passwordless sudo) is needed: .ci/run creates it');
    const root = tempRoot('cut-sudo-reap');
    fs.chmodSync(root, 0o755);
    const base = path.join(root, 'base');
    const as = { uid: u.uid, gid: u.gid };
    const mk = (runId: string, pr?: number): FakeJob => {
      const j = new FakeJob({
        runId,
        runnerName: `runner-${runId}`,
        root: path.join(root, 'jobs', runId),
        user: as,
        ...(pr !== undefined ? { ref: `refs/pull/${pr}/merge`, event: 'pull_request' } : {})
      });
      jobs.push(j);
      return j;
    };
    // As a container running as root leaves it: the runner user cannot delete this without sudo.
    await idlePrDir(mk('1', 47), base);

    const { started, pid: sudoPid } = await janitorMidDelete(mk('2'), base, 'sudo', 60_000);
    const under = childrenOf(sudoPid).map(([p]) => p);
    started.child.kill('SIGTERM');
    const r = await started.done;
    expect(r.code).toBe(143);
    expect(alive(sudoPid)).toBe(false);
    // sudo may run the command under a pty helper: whatever it started is gone too.
    for (const p of under) expect(alive(p)).toBe(false);
    expect(r.stdout).not.toMatch(/exec: sudo -n -- rm .*\n[\s\S]*exec: sudo -n -- rm /);
  }, 180_000);
});

describe('pr dirs: one order, one budget', () => {
  test('a run listing b before a waits for a while holding nothing (sorted order)', async () => {
    const root = tempRoot('lock-order');
    const base = path.join(root, 'base');
    const a = path.join(base, 'pr-41', 'a');
    fs.mkdirSync(path.dirname(a), { recursive: true });
    const holder = await holdLock(pool, a + '.lock');
    const j = job(root, '1', 41);
    const started = j.start('main', { 'base-dir': base, dirs: 'b:pr\na:pr', 'lock-timeout': '20' });
    let out = '';
    started.child.stdout?.on('data', (b: Buffer) => (out += b.toString()));
    await until('main waits', () => out.includes('waiting for'), 15_000);
    expect(out).toContain(`waiting for ${a}:`);
    // Sorted: b comes after a, so it is not held while a is waited for.
    expect(fs.existsSync(path.join(base, 'pr-41', 'b.lock')) ? lockIsFree(path.join(base, 'pr-41', 'b.lock')) : true).toBe(true);
    await killAndWait(holder);
    const m = await started.done;
    expect(m.errors).toEqual([]);
    expect((await j.post()).errors).toEqual([]);
  }, 60_000);

  test('lock-timeout is one budget for all pr dirs together', async () => {
    const root = tempRoot('lock-budget');
    const base = path.join(root, 'base');
    const dir = path.join(base, 'pr-42');
    fs.mkdirSync(dir, { recursive: true });
    const ha = await holdLock(pool, path.join(dir, 'a.lock'));
    await holdLock(pool, path.join(dir, 'b.lock'));
    const j = job(root, '1', 42);
    const t0 = Date.now();
    const started = j.start('main', { 'base-dir': base, dirs: 'a:pr\nb:pr', 'lock-timeout': '12' });
    setTimeout(() => void killAndWait(ha), 10_000);
    const m = await started.done;
    const took = Date.now() - t0;
    expect(m.code).not.toBe(0);
    expect(m.errors.join('\n')).toMatch(/b\.lock is held by an unknown process; gave up after 12s/);
    // One budget: about 12 s. Per dir it would be 10 s for a, then 12 more for b: 22 s. The 6 s
    // between the bound and 12 s are for node's start on a loaded machine (it took 14 s once
    // when the budget was 4 s and the bound 6 s).
    expect(took).toBeGreaterThanOrEqual(12_000);
    expect(took).toBeLessThan(18_000);
  }, 60_000);
});

describe('a keeper that dies alone', () => {
  test('its live job keeps its dirs: no janitor reaps them, no other run takes its pr dir; post says the keeper died', async () => {
    const root = tempRoot('keeper-dies');
    const base = path.join(root, 'base');
    const inputs = { 'base-dir': base, dirs: 'target\ncache:pr' };
    const victim = workerJob(root, '1', 43);
    const m1 = await victim.main(inputs).done;
    expect(m1.errors).toEqual([]);
    const dirs = JSON.parse(m1.outputs.dirs) as Record<string, string>;
    const runDir = m1.outputs['run-dir'];
    fs.writeFileSync(path.join(dirs.target, 'live'), 'x');
    fs.writeFileSync(path.join(dirs.cache, 'live'), 'x');
    const [keeper] = keepersHolding(base);
    process.kill(keeper, 'SIGKILL');
    await until('the keeper let go', () => lockIsFree(runDir + '.lock') && lockIsFree(dirs.cache + '.lock'), 5000);
    age(runDir + '.lock', 2 * HOUR);
    age(dirs.cache + '.lock', 4 * DAY);

    // Another job's janitor (and disk guard) leave both dirs alone.
    const other = job(root, '2');
    const m2 = await other.main({ 'base-dir': base, dirs: 'target', 'reap-after': '1s', 'pr-reap-after': '1s', 'disk-limit': '99%' });
    expect(m2.errors).toEqual([]);
    expect(fs.existsSync(path.join(dirs.target, 'live'))).toBe(true);
    expect(fs.existsSync(path.join(dirs.cache, 'live'))).toBe(true);
    expect((await other.post()).errors).toEqual([]);

    // Another run of the PR does not take the pr dir; it waits, saying why.
    const rival = job(root, '3', 43);
    const m3 = await rival.main({ ...inputs, 'lock-timeout': '2' });
    expect(m3.code).not.toBe(0);
    expect(m3.stdout).toContain('its keeper is gone but its job still runs (run 1');
    expect((await rival.post()).errors).toEqual([]);

    // The victim's post says so, removes its run dir and lets go of the pr dir.
    const p1 = await victim.post();
    expect(p1.errors).toEqual([]);
    expect(p1.warnings.join('\n')).toMatch(/keeper \(pid \d+\) had died before post/);
    expect(fs.existsSync(runDir)).toBe(false);
    const again = job(root, '4', 43);
    const m4 = await again.main({ ...inputs, 'lock-timeout': '2' });
    expect(m4.errors).toEqual([]);
    expect(fs.existsSync(path.join(dirs.cache, 'live'))).toBe(true);
    expect((await again.post()).errors).toEqual([]);
  }, 120_000);
});

describe('who removes a dead dir, and who says so', () => {
  test('post after a cancelled main whose run dir a janitor is removing: removed once, reported by the janitor only', async () => {
    const root = tempRoot('post-vs-janitor');
    const base = path.join(root, 'base');
    const victim = workerJob(root, '1');
    const inputs = { 'base-dir': base, dirs: 'target' };
    const m1 = await victim.main(inputs).done;
    expect(m1.errors).toEqual([]);
    const runDir = m1.outputs['run-dir'];
    fill(path.join(runDir, 'target'), 40_000);
    // As main's cancel cleanup does: stop the keeper (the lock is free, the record released).
    const [keeper] = keepersHolding(base);
    process.kill(keeper, 'SIGTERM');
    await until('the keeper let go', () => lockIsFree(runDir + '.lock'), 5000);
    age(runDir + '.lock', 2 * HOUR);

    const janitor = job(root, '2');
    const started = janitor.start('main', { 'base-dir': base, dirs: 'target' });
    await until('the janitor started rm', () => childrenOf(started.child.pid as number).some(([, c]) => c === 'rm') || started.child.exitCode !== null, 30_000);
    const p1 = await victim.post();
    const m2 = await started.done;
    expect(m2.errors).toEqual([]);
    expect(m2.stdout).toContain(`reaped run dir ${runDir} `);
    expect(p1.errors).toEqual([]);
    expect(p1.stdout).not.toMatch(new RegExp(`^removed: ${runDir}`, 'm'));
    expect(p1.stdout).toContain(`already removed: ${runDir}`);
    expect(fs.existsSync(runDir)).toBe(false);
    expect((await janitor.post()).errors).toEqual([]);
  }, 120_000);

  test('a second post, after the next run of the PR took the dir, neither warns nor claims the lock', async () => {
    const root = tempRoot('second-post');
    const base = path.join(root, 'base');
    const inputs = { 'base-dir': base, dirs: 'cache:pr' };
    const j = job(root, '1', 44);
    expect((await j.main(inputs)).errors).toEqual([]);
    expect((await j.post()).errors).toEqual([]);
    const next = job(root, '2', 44);
    expect((await next.main(inputs)).errors).toEqual([]);
    const second = await j.post();
    expect(second.errors).toEqual([]);
    expect(second.warnings).toEqual([]);
    expect(second.stdout).toMatch(/now held by run 2 \(runner-2\)/);
    expect((await next.post()).errors).toEqual([]);
  }, 60_000);

  test('a run that gives up while a janitor holds the lock does not name the finished run as the holder', async () => {
    const root = tempRoot('waiter-names');
    const base = path.join(root, 'base');
    const inputs = { 'base-dir': base, dirs: 'cache:pr' };
    const first = job(root, '1', 46);
    const m1 = await first.main(inputs);
    expect(m1.errors).toEqual([]);
    expect((await first.post()).errors).toEqual([]);
    // What a janitor probing or reaping the free dir looks like from outside: a flock, no record of its own.
    const janitor = await holdLock(pool, (JSON.parse(m1.outputs.dirs) as Record<string, string>).cache + '.lock');
    const second = job(root, '2', 46);
    const m2 = await second.main({ ...inputs, 'lock-timeout': '1' });
    expect(m2.code).not.toBe(0);
    expect(m2.errors.join('\n')).not.toMatch(/held by run 1 \(runner-1\);/);
    expect(m2.errors.join('\n')).toMatch(/held by a process that is not a run \(run 1 \(runner-1\) let go at /);
    await killAndWait(janitor);
    expect((await second.post()).errors).toEqual([]);
  }, 60_000);

  test('empty <base>/<ref-key> dirs go with their last dir', async () => {
    const root = tempRoot('empty-key');
    const base = path.join(root, 'base');
    const empty = path.join(base, 'pr-45');
    fs.mkdirSync(empty, { recursive: true });
    age(empty, 2 * HOUR);
    const j = job(root, '1');
    expect((await j.main({ 'base-dir': base, dirs: 'target' })).errors).toEqual([]);
    expect(fs.existsSync(empty)).toBe(false);
    expect((await j.post()).errors).toEqual([]);
  }, 60_000);
});

describeWith([asRoot()])('runner users of one group on one base-dir', () => {
  test('root and runbox-ci share a group-shared base-dir: no shared parent re-chowned, each writes its own holder record, nothing leaks', async () => {
    const u = sudoUser();
    if (!u) throw new Error('runbox-ci (with passwordless sudo) is needed: .ci/run creates it');
    const root = tempRoot('mixed-users');
    fs.chmodSync(root, 0o755);
    const base = path.join(root, 'base');
    fs.mkdirSync(base);
    // The admin's set-up: base-dir of the runners' group, 2775.
    fs.chownSync(base, 0, u.gid);
    fs.chmodSync(base, 0o2775);
    const inputs = { 'base-dir': base, dirs: 'target\ncache:pr' };
    const key = path.join(base, 'pr-60');
    const mk = (runId: string, user?: { uid: number; gid: number }): FakeJob => {
      const j = new FakeJob({ runId, runnerName: `runner-${runId}`, root: path.join(root, 'jobs', runId), ref: 'refs/pull/60/merge', event: 'pull_request', ...(user ? { user } : {}) });
      jobs.push(j);
      return j;
    };
    const holderOf = (lock: string): string => (JSON.parse(fs.readFileSync(lock, 'utf8')) as { runId: string }).runId;

    const a = mk('1');
    const ma = await a.main(inputs);
    expect(ma.errors).toEqual([]);
    const keySt = fs.statSync(key);
    expect({ uid: keySt.uid, gid: keySt.gid, mode: (keySt.mode & 0o7777).toString(8) }).toEqual({ uid: 0, gid: u.gid, mode: '2775' });
    expect((await a.post()).errors).toEqual([]);

    const b = mk('2', { uid: u.uid, gid: u.gid });
    const mb = await b.main(inputs);
    expect(mb.errors).toEqual([]);
    // The key dir stays root's; the pr dir's lock file (root made it) carries runbox-ci's record.
    expect(fs.statSync(key).uid).toBe(0);
    expect(fs.statSync(base).uid).toBe(0);
    expect(holderOf(path.join(key, 'cache.lock'))).toBe('2');
    const pb = await b.post();
    expect(pb.errors).toEqual([]);

    const c = mk('3');
    expect((await c.main(inputs)).errors).toEqual([]);
    expect(holderOf(path.join(key, 'cache.lock'))).toBe('3');
    expect((await c.post()).errors).toEqual([]);
    // No run lock file left behind by either user.
    expect(fs.readdirSync(key).sort()).toEqual(['cache', 'cache.lock']);
    expect(fs.statSync(key).uid).toBe(0);
  }, 120_000);
});
