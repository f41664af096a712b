// A host with many runners, end to end through dist/: eight runs share one base-dir while their
// build steps keep writing; a random subset is hard-killed (runner worker's process group and
// build step SIGKILLed); then more runs start at once, so their janitors sweep base-dir
// concurrently while the survivors are still writing. Nothing that is live may lose a file, and
// each dead run's dir must be reaped by exactly one of the janitors.
//
// Also here: SIGTERM to main after its keeper has taken over the locks (a cancel mid-restore).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { FakeJob, type StepResult } from './helpers/action-runner.js';
import { keepersHolding } from './helpers/keepers.js';
import { lockIsFree } from './helpers/processes.js';
import { WorkerJob } from './helpers/fleet-worker.js';
import { asRoot, describeWith, probe } from './helpers/prereq.js';
import { alive, checkWriter, prng, reapedInLog, reapedInSummary, parseBytes, runEntries, sleep, startWriter, stopWriter, until, type Writer } from './helpers/fleet-util.js';
import { startCacheServerProcess, type CacheServer } from './fixtures/cache.js';
import { buildGuixLayout, q, removeTempDirs, sh, tempDir } from './fixtures/store.js';

const jobs: FakeJob[] = [];
const workerJobs: WorkerJob[] = [];
const writers: Writer[] = [];
const roots: string[] = [];

afterAll(async () => {
  // Whatever a failed assertion left running: build steps, stand-in workers (their keepers follow).
  for (const w of writers) await stopWriter(w, 'SIGKILL');
  workerJobs.forEach((j) => j.cleanup());
  jobs.forEach((j) => j.cleanup());
  for (const r of roots) fs.rmSync(r, { recursive: true, force: true });
  removeTempDirs();
});

// --- the fleet -----------------------------------------------------------------------------------

interface Spec {
  runId: string;
  runner: string;
  job: string;
  /** PR number, or undefined for a push to main. */
  pr?: number;
  dirs: string;
}

interface Run {
  spec: Spec;
  /** The job, run by a stand-in runner worker: main now, post later, kill() for a hard kill. */
  wj: WorkerJob;
  done: Promise<StepResult>;
  result?: StepResult;
  /** The worker's stdout file: main's log as it is written. */
  logFile: string;
  runDir: string;
  dirs: Record<string, string>;
  writer?: Writer;
  killed: boolean;
}

// A fixed default, so a red run is red again on a rerun; FLEET_SEED=<n> tries another kill set
// and order (FLEET_SEED=random draws one). The seed in use is printed either way.
const SEED = fleetSeed(process.env.FLEET_SEED);

function fleetSeed(raw: string | undefined): number {
  const v = (raw ?? '').trim();
  if (v === '') return 20261201;
  if (v === 'random') return Math.floor(Math.random() * 2 ** 31);
  if (!/^\d{1,10}$/.test(v)) throw new Error(`FLEET_SEED '${v}' is not a number (or 'random')`);
  return Number(v);
}

function pickKillSet(rand: () => number): Set<number> {
  // Phase-1 runs 0-3 hold a pr dir, 4-7 only run dirs. Each group gets at least one killed and one
  // surviving run, so every outcome (dead holder, live holder, dead/live run-only) is covered.
  for (;;) {
    const kill = new Set([...Array(8).keys()].filter(() => rand() < 0.5));
    const inA = [0, 1, 2, 3].filter((i) => kill.has(i)).length;
    const inB = [4, 5, 6, 7].filter((i) => kill.has(i)).length;
    if (inA > 0 && inA < 4 && inB > 0 && inB < 4) return kill;
  }
}

function startRun(root: string, base: string, spec: Spec): Run {
  const wj = new WorkerJob({
    root: path.join(root, 'jobs', spec.runId),
    runId: spec.runId,
    runnerName: spec.runner,
    job: spec.job,
    ...(spec.pr !== undefined ? { ref: `refs/pull/${spec.pr}/merge`, event: 'pull_request' } : { ref: 'refs/heads/main', event: 'push' })
  });
  workerJobs.push(wj);
  // lock-timeout well beyond the test's own timeout: a wait is ended by a post, never by giving up.
  const step = wj.main({ 'base-dir': base, dirs: spec.dirs, 'reap-after': '1s', 'lock-timeout': '600' });
  const run: Run = { spec, wj, done: step.done, logFile: step.logFile, runDir: '', dirs: {}, killed: false };
  void step.done.then((r) => {
    run.result = r;
    run.runDir = r.outputs['run-dir'] ?? '';
    run.dirs = r.outputs.dirs ? (JSON.parse(r.outputs.dirs) as Record<string, string>) : {};
  });
  return run;
}

function mainLog(r: Run): string {
  return fs.existsSync(r.logFile) ? fs.readFileSync(r.logFile, 'utf8') : '';
}

function describeResult(r: Run): string {
  const res = r.result;
  if (!res) return `run ${r.spec.runId}: still running`;
  return `run ${r.spec.runId} (${r.spec.runner}): exit ${res.code}${res.errors.length ? `, errors: ${res.errors.join(' | ')}` : ''}`;
}

/** Fails with main's own error text, so a product bug reads as such in the test output. */
function expectMainOk(r: Run): void {
  expect({ run: r.spec.runId, code: r.result?.code, errors: r.result?.errors }).toEqual({ run: r.spec.runId, code: 0, errors: [] });
}

describe('a fleet of runs on one base-dir', () => {
  test('8 runs, random SIGKILLs, concurrent janitors: no live file lost, each dead run dir reaped exactly once', async () => {
    const t0 = Date.now();
    const rand = prng(SEED);
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'runbox-fleet-'));
    roots.push(root);
    const base = path.join(root, 'base');
    const kill = pickKillSet(rand);
    console.log(`fleet: seed ${SEED} (FLEET_SEED=${SEED} reproduces the kill set and order); killing phase-1 runs ${[...kill].join(', ')}`);

    // Phase 1: PR 1-4 each have one run holding a `cache` pr dir; PR 1 and 2 also have a `lint`
    // job with only a run dir (a run dir beside a pr dir in one key dir); two pushes to main.
    const withPr = 'target=CARGO_TARGET_DIR\ncache:pr=CARGO_HOME';
    const p1: Spec[] = [
      ...[1, 2, 3, 4].map((pr, i) => ({ runId: String(101 + i), runner: `host-r${i}`, job: 'build', pr, dirs: withPr })),
      { runId: '105', runner: 'host-r4', job: 'lint', pr: 1, dirs: 'target' },
      { runId: '106', runner: 'host-r5', job: 'lint', pr: 2, dirs: 'target' },
      { runId: '107', runner: 'host-r6', job: 'build', dirs: 'target\nout' },
      { runId: '108', runner: 'host-r7', job: 'build', dirs: 'target\nout' }
    ];
    const phase1 = p1.map((s) => startRun(root, base, s));
    await Promise.all(phase1.map((r) => r.done));
    await sleep(0); // let the .then above record each result
    // Eight janitors sweep while eight mains take their run-dir locks (see the focused test below).
    for (const r of phase1) expectMainOk(r);
    console.log(`fleet: phase 1 (8 mains) done after ${Date.now() - t0} ms`);

    for (const r of phase1) {
      r.writer = await startWriter(path.join(r.wj.job.root, 'writer.log'), Object.values(r.dirs));
      writers.push(r.writer);
    }
    await sleep(600);

    // Hard kills in a random order with random gaps: the worker's process group (main is gone,
    // its keeper is in its own session and must notice by itself) and the build step.
    const order = [...kill].sort(() => rand() - 0.5);
    for (const i of order) {
      const r = phase1[i];
      r.killed = true;
      r.wj.kill();
      await stopWriter(r.writer as Writer, 'SIGKILL');
      await sleep(Math.floor(rand() * 200));
    }
    const dead = phase1.filter((r) => r.killed);
    const live = phase1.filter((r) => !r.killed);
    const deadLocks = dead.flatMap((r) => [r.runDir + '.lock', ...(r.dirs.cache ? [r.dirs.cache + '.lock'] : [])]);
    const tFree = await until("the dead runs' keepers let go", () => deadLocks.every(lockIsFree), 5000);
    console.log(`fleet: dead runs' locks free ${tFree} ms after the last kill`);
    for (const r of live) expect(lockIsFree(r.runDir + '.lock')).toBe(false);
    // reap-after is 1s, measured from the keeper's release stamp on the lock file.
    const lastUse = Math.max(...deadLocks.map((l) => fs.statSync(l).mtimeMs));
    await sleep(Math.max(0, lastUse + 1300 - Date.now()));

    // Phase 2: six mains at once. PR 1 gets two (they contend with each other and with PR 1's
    // phase-1 holder), PR 2 and 3 one each, main two. PR 4 gets none: its pr dir just stays.
    const p2: Spec[] = [
      { runId: '201', runner: 'host-s0', job: 'build', pr: 1, dirs: withPr },
      { runId: '202', runner: 'host-s1', job: 'build', pr: 1, dirs: withPr },
      { runId: '203', runner: 'host-s2', job: 'build', pr: 2, dirs: withPr },
      { runId: '204', runner: 'host-s3', job: 'build', pr: 3, dirs: withPr },
      { runId: '205', runner: 'host-s4', job: 'build', dirs: 'target' },
      { runId: '206', runner: 'host-s5', job: 'build', dirs: 'target' }
    ];
    const t2 = Date.now();
    const phase2 = p2.map((s) => startRun(root, base, s));
    // Every phase-2 janitor has run once its main is done or waits for a pr dir (the sweep comes
    // before the locks).
    await until('every phase-2 main swept base-dir', () => phase2.every((r) => r.result !== undefined || mainLog(r).includes('waiting for ')), 30_000);
    console.log(`fleet: phase-2 janitors done ${Date.now() - t2} ms after the 6 mains started`);

    // Dead run dirs are gone with their lock files; pr dirs of dead holders stay (they are the
    // PR's, idle far less than pr-reap-after); live runs lost nothing, while still writing.
    for (const r of dead) {
      expect(fs.existsSync(r.runDir)).toBe(false);
      expect(fs.existsSync(r.runDir + '.lock')).toBe(false);
      if (r.dirs.cache) expect(fs.existsSync(r.dirs.cache)).toBe(true);
    }
    for (const r of live) {
      const c = checkWriter(r.writer as Writer);
      expect({ run: r.spec.runId, failed: c.failed, lost: c.lost.slice(0, 5) }).toEqual({ run: r.spec.runId, failed: [], lost: [] });
    }

    // A phase-2 run of a PR whose holder is live waits for it, naming it.
    const holderOf = (pr: number | undefined): Run | undefined => phase1.find((r) => r.spec.pr === pr && r.dirs.cache);
    for (const r of phase2) {
      const h = holderOf(r.spec.pr);
      if (h && !h.killed) {
        expect(r.result).toBeUndefined();
        expect(mainLog(r)).toContain(`waiting for ${h.dirs.cache}: held by run ${h.spec.runId} (${h.spec.runner})`);
      }
    }
    // Runs that nothing can block have finished: pushes to main, and PR 2/3 runs whose holder died.
    for (const r of phase2.filter((x) => x.spec.pr === undefined || ((x.spec.pr === 2 || x.spec.pr === 3) && holderOf(x.spec.pr)?.killed))) {
      await r.done;
      await sleep(0);
      expectMainOk(r);
      expect(mainLog(r)).not.toContain('waiting for ');
    }

    // The survivors stop writing; every file they completed is still there; then their posts.
    for (const r of live) {
      await stopWriter(r.writer as Writer);
      const c = checkWriter(r.writer as Writer);
      expect({ run: r.spec.runId, failed: c.failed, lost: c.lost.slice(0, 5) }).toEqual({ run: r.spec.runId, failed: [], lost: [] });
      expect(c.written).toBeGreaterThan(50);
    }
    const livePosts = await Promise.all(live.map((r) => r.wj.post()));
    for (const [i, p] of livePosts.entries()) expect({ run: live[i].spec.runId, errors: p.errors }).toEqual({ run: live[i].spec.runId, errors: [] });
    for (const r of live) expect(fs.existsSync(r.runDir)).toBe(false);

    // The remaining phase-2 runs get their pr dirs one at a time; each finds its PR's dir warm
    // with every file the phase-1 holder (dead or alive) completed.
    const pending = [...phase2];
    while (pending.length > 0) {
      const r = await Promise.race(pending.map((x) => x.done.then(() => x)));
      pending.splice(pending.indexOf(r), 1);
      await sleep(0);
      expectMainOk(r);
      const h = holderOf(r.spec.pr);
      if (h) {
        expect(r.dirs.cache).toBe(h.dirs.cache);
        const c = checkWriter(h.writer as Writer, h.dirs.cache);
        expect({ run: r.spec.runId, lost: c.lost.slice(0, 5) }).toEqual({ run: r.spec.runId, lost: [] });
        expect(c.written).toBeGreaterThan(0);
      }
      const p = await r.wj.post();
      expect({ run: r.spec.runId, errors: p.errors }).toEqual({ run: r.spec.runId, errors: [] });
    }

    // Exactly once: across every main's log and job summary, each dead run dir is reported reaped
    // by one janitor, and nothing else is.
    const all = [...phase1, ...phase2];
    const counts = new Map<string, number>();
    const byMain: string[] = [];
    for (const r of all) {
      const res = r.result as StepResult;
      const logged = reapedInLog(res.stdout);
      const summed = reapedInSummary(res.summary);
      expect([...(summed?.paths ?? [])].sort()).toEqual(logged.map((x) => x.path).sort());
      if (summed) {
        expect(summed.count).toBe(logged.length);
        expect(parseBytes(summed.bytesText)).toBeGreaterThan(0);
        byMain.push(`${r.spec.runId}:${logged.length}`);
      }
      for (const x of logged) {
        expect(x.kind).toBe('run');
        counts.set(x.path, (counts.get(x.path) ?? 0) + 1);
      }
    }
    console.log(`fleet: ${dead.length} dead run dirs reaped by main(s) ${byMain.join(', ')}`);
    expect(Object.fromEntries(counts)).toEqual(Object.fromEntries(dead.map((r) => [r.runDir, 1])));

    // Nothing of any run is left but the PRs' cache dirs and their (free) lock files; no keeper.
    // Post's forgetRunLock must see the lock free: stopKeeper waits until every keeper thread has
    // exited (an exiting node process drops its cmdline and its main thread turns zombie while
    // other threads still share the fd table that holds the flock).
    expect(runEntries(base)).toEqual([]);
    for (const pr of [1, 2, 3, 4]) {
      expect(fs.existsSync(path.join(base, `pr-${pr}`, 'cache'))).toBe(true);
      expect(lockIsFree(path.join(base, `pr-${pr}`, 'cache.lock'))).toBe(true);
    }
    expect(keepersHolding(base)).toEqual([]);
    for (const r of live) expect(alive(r.wj.pid)).toBe(true); // their keepers were stopped by post, not by the worker's death
    await Promise.all(all.map((r) => r.wj.stop()));
    expect(all.every((r) => !alive(r.wj.pid))).toBe(true);
    for (const w of writers) expect(alive(w.child.pid as number)).toBe(false);
    console.log(`fleet: ${Date.now() - t0} ms in all; ${describeResultList(all)}`);
  }, 90_000);
});

// Every main's janitor sees a sibling's `run-*.lock` whose dir does not exist yet (the moment
// between taking the lock and making the dir) as an orphan. The janitor leaves young lock files
// alone, and a main waits a few seconds for its own run-dir lock, so no main ever fails with
// "held by an unknown process". Before that fix, 8 concurrent mains failed in ~40% of rounds.
describe('concurrent mains on one base-dir', () => {
  test("a sibling main's janitor never makes a main fail to take its own run-dir lock (3 rounds of 8)", async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'runbox-fleet-burst-'));
    roots.push(root);
    const base = path.join(root, 'base');
    fs.mkdirSync(base); // the janitor only sweeps an existing base-dir
    const failures: string[] = [];
    for (let round = 0; round < 3; round++) {
      const js = [...Array(8).keys()].map((i) => new FakeJob({ root: path.join(root, `r${round}-${i}`), runId: String(1000 + 10 * round + i), runnerName: `burst-${i}` }));
      jobs.push(...js);
      const results = await Promise.all(js.map((j) => j.main({ 'base-dir': base, dirs: 'target' })));
      for (const [i, r] of results.entries()) if (r.code !== 0) failures.push(`round ${round} run ${js[i].opts.runId}: ${r.errors.join(' | ')}`);
      await Promise.all(js.filter((_, i) => results[i].code === 0).map((j) => j.post()));
    }
    expect(failures).toEqual([]);
    expect(keepersHolding(base)).toEqual([]);
  }, 180_000);
});

function describeResultList(runs: Run[]): string {
  return (
    runs
      .filter((r) => r.result?.code !== 0)
      .map(describeResult)
      .join('; ') || 'every main succeeded'
  );
}

// --- SIGTERM after the keeper took over ---------------------------------------------------------

describeWith([asRoot()])('SIGTERM to main after its keeper holds the locks', () => {
  const inputsFor = (base: string): Record<string, string> => ({ 'base-dir': base, dirs: 'target\ncache:pr', store: 'guix', key: 'runbox-fleet-sigterm-1', daemon: 'none' });

  /** A cache service that accepts connections and never answers: restore hangs in its first RPC. */
  async function hangingService(): Promise<{ url: string; connections: () => number; close: () => void }> {
    const socks: net.Socket[] = [];
    const server = net.createServer((s) => {
      s.on('error', () => undefined);
      socks.push(s);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return {
      url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/`,
      connections: () => socks.length,
      close: () => {
        socks.forEach((s) => s.destroy());
        server.close();
      }
    };
  }

  test('mid-restore (cache service not answering): exits 143 at once, locks free, no keeper, post succeeds', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'runbox-fleet-term-'));
    roots.push(root);
    const base = path.join(root, 'base');
    const storeRoot = path.join(root, 'store-root');
    fs.mkdirSync(storeRoot);
    const svc = await hangingService();
    try {
      const env = { ACTIONS_CACHE_SERVICE_V2: 'true', ACTIONS_RESULTS_URL: svc.url, ACTIONS_RUNTIME_TOKEN: 'dummy', RUNBOX_STORE_ROOT: storeRoot };
      const job = new FakeJob({ root: path.join(root, 'job'), runId: '301', ref: 'refs/pull/30/merge', event: 'pull_request', env });
      jobs.push(job);
      const started = job.start('main', inputsFor(base));
      await until('main reached the cache service', () => svc.connections() > 0 || started.child.exitCode !== null, 60_000);
      expect(started.child.exitCode).toBeNull();
      // The keeper holds this run's locks by now (the restore comes after the hand-over).
      expect(keepersHolding(base)).toHaveLength(1);
      const runLock = path.join(base, 'pr-30', 'run-301-1-build-runner-1.lock');
      const prLock = path.join(base, 'pr-30', 'cache.lock');
      expect(lockIsFree(runLock)).toBe(false);
      expect(lockIsFree(prLock)).toBe(false);

      const t0 = Date.now();
      started.child.kill('SIGTERM');
      const r = await started.done;
      const took = Date.now() - t0;
      expect(r.code).toBe(143);
      expect(took).toBeLessThan(3000);
      expect(r.warnings.join('\n')).toContain('received SIGTERM');
      expect(keepersHolding(base)).toEqual([]);
      expect(lockIsFree(runLock)).toBe(true);
      expect(lockIsFree(prLock)).toBe(true);

      // The next run of the PR gets the pr dir at once (lock-timeout 0 would fail otherwise).
      const next = new FakeJob({ root: path.join(root, 'next'), runId: '302', ref: 'refs/pull/30/merge', event: 'pull_request' });
      jobs.push(next);
      const m2 = await next.main({ 'base-dir': base, dirs: 'cache:pr', 'lock-timeout': '0' });
      expect(m2.errors).toEqual([]);

      // Post of the cancelled job still tears down its run dir, and leaves the pr dir to run 302.
      const p = await job.post();
      expect(p.errors).toEqual([]);
      expect(fs.existsSync(path.join(base, 'pr-30', 'run-301-1-build-runner-1'))).toBe(false);
      expect(fs.existsSync(runLock)).toBe(false);
      expect(lockIsFree(prLock)).toBe(false); // run 302 holds it
      expect((await next.post()).errors).toEqual([]);
      expect(keepersHolding(base)).toEqual([]);
      console.log(`SIGTERM mid-restore: main exited ${took} ms after the signal`);
    } finally {
      svc.close();
    }
  });

  describeWith([probe('GNU tar', 'tar'), probe('zstd', 'zstd'), probe('sqlite3', 'sqlite3', ['-version'])])('with the store daemon stopped', () => {
    let server: CacheServer;
    beforeAll(async () => {
      server = await startCacheServerProcess();
    });
    afterAll(async () => {
      await server?.stop();
    });

    test('mid-move (daemon stopped): the daemon is started again, locks free, no keeper, mv gone, post succeeds', async () => {
      const root = tempDir('runbox-fleet-daemon-');
      const base = path.join(root, 'base');
      const cacheEnv = { ACTIONS_CACHE_SERVICE_V2: 'true', ACTIONS_RESULTS_URL: server.url, ACTIONS_RUNTIME_TOKEN: 'dummy', SEGMENT_DOWNLOAD_TIMEOUT_MINS: '1' };

      // A first job saves a snapshot of a small Guix-like store.
      const storeA = path.join(root, 'store-a');
      fs.mkdirSync(storeA);
      buildGuixLayout(storeA);
      const saver = new FakeJob({ root: path.join(root, 'saver'), runId: '401', env: { ...cacheEnv, RUNBOX_STORE_ROOT: storeA } });
      jobs.push(saver);
      const inputs: Record<string, string> = { ...inputsFor(base), dirs: 'target' };
      expect((await saver.main(inputs)).errors).toEqual([]);
      expect((await saver.post()).errors).toEqual([]);
      expect((await server.stats()).entries.map((e) => e.key)).toContain(inputs.key);

      // A second job restores it with daemon-stop/-start commands that log, and an mv that, moving
      // the checked items from the private dir into the store (with the daemon stopped), announces
      // itself and takes its time: the window the SIGTERM lands in.
      const log = path.join(root, 'daemon.log');
      const bin = path.join(root, 'bin');
      fs.mkdirSync(bin);
      const realMv = sh('command -v mv').stdout.trim();
      const marker = '29.417'; // a sleep argument nobody else uses, to find leftovers
      fs.writeFileSync(
        path.join(bin, 'mv'),
        `#!/bin/sh\ncase "$*" in *.runbox-restore-*) sleep ${marker} & p=$!; trap 'kill $p; exit 143' TERM; echo move >> ${q(log)}; wait $p; exit 1;; esac\nexec ${realMv} "$@"\n`,
        { mode: 0o755 }
      );
      const storeB = path.join(root, 'store-b');
      fs.mkdirSync(storeB);
      const job = new FakeJob({
        root: path.join(root, 'restorer'),
        runId: '402',
        ref: 'refs/pull/40/merge',
        event: 'pull_request',
        env: { ...cacheEnv, RUNBOX_STORE_ROOT: storeB, PATH: `${bin}:${process.env.PATH ?? ''}` }
      });
      jobs.push(job);
      const started = job.start('main', {
        ...inputsFor(base),
        daemon: '',
        'daemon-stop': `echo stop >> ${q(log)}`,
        'daemon-start': `echo start >> ${q(log)}`
      });
      const readLog = (): string[] => (fs.existsSync(log) ? fs.readFileSync(log, 'utf8').split('\n').filter(Boolean) : []);
      await until('the move started', () => readLog().includes('move') || started.child.exitCode !== null, 30_000);
      expect(started.child.exitCode).toBeNull();
      expect(readLog()).toEqual(['stop', 'move']);
      expect(keepersHolding(base)).toHaveLength(1);

      const t0 = Date.now();
      started.child.kill('SIGTERM');
      const r = await started.done;
      const took = Date.now() - t0;
      expect(r.code).toBe(143);
      expect(took).toBeLessThan(5000);
      expect(readLog()).toEqual(['stop', 'move', 'start']); // started again, once
      expect(keepersHolding(base)).toEqual([]);
      const key = path.join(base, 'pr-40');
      expect(lockIsFree(path.join(key, 'run-402-1-build-runner-1.lock'))).toBe(true);
      expect(lockIsFree(path.join(key, 'cache.lock'))).toBe(true);
      await until('the slow mv is gone', () => spawnSync('pgrep', ['-f', `sleep ${marker}`]).status !== 0, 3000);
      // Nothing was registered in the DB after the kill.
      expect(fs.existsSync(path.join(storeB, 'var/guix/db/db.sqlite'))).toBe(false);

      const p = await job.post();
      expect(p.errors).toEqual([]);
      expect(readLog()).toEqual(['stop', 'move', 'start']); // post does not touch the daemon
      expect(fs.existsSync(path.join(key, 'run-402-1-build-runner-1'))).toBe(false);
      console.log(`SIGTERM mid-move: main exited ${took} ms after the signal`);
    }, 180_000);
  });
});
