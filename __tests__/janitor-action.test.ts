// The janitor, the disk guard and their inputs as a workflow sees them: `node dist/main.js` and
// `node dist/post.js` as separate processes, the dirs left by real runs that were hard-killed
// (their stand-in runner worker SIGKILLed, so their keepers let go by themselves), ages set on
// the lock files (the janitor's "last use"), and what main reports in its log and job summary.
// The module-level behaviour (scan, reaper races, arithmetic) is in janitor.test.ts and
// disk-guard.test.ts; this file checks that main wires it up as documented.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FakeJob, snapshotTree, type StepResult } from './helpers/action-runner.js';
import { keepersHolding } from './helpers/keepers.js';
import { lockIsFree } from './helpers/processes.js';
import { describeWith } from './helpers/prereq.js';
import { mountTmpfs } from './helpers/tmpfs.js';
import { WorkerJob } from './helpers/fleet-worker.js';
import { age, parseBytes, prunedInSummary, reapedInLog, reapedInSummary, summaryRows, unescapeCommand, until } from './helpers/fleet-util.js';

const MiB = 2 ** 20;
const HOUR = 3600_000;
const DAY = 24 * HOUR;

const workerJobs: WorkerJob[] = [];
const jobs: FakeJob[] = [];
const roots: string[] = [];
afterAll(() => {
  workerJobs.forEach((j) => j.cleanup());
  jobs.forEach((j) => j.cleanup());
  for (const r of roots) fs.rmSync(r, { recursive: true, force: true });
});

interface Identity {
  runId: string;
  pr?: number;
  runner?: string;
}

function identity(id: Identity, root: string) {
  return {
    root: path.join(root, 'jobs', `${id.runId}-${workerJobs.length + jobs.length}`),
    runId: id.runId,
    runnerName: id.runner ?? `runner-${id.runId}`,
    ...(id.pr !== undefined ? { ref: `refs/pull/${id.pr}/merge`, event: 'pull_request' } : { ref: 'refs/heads/main', event: 'push' })
  };
}

interface Started {
  wj: WorkerJob;
  result: StepResult;
  dirs: Record<string, string>;
  runDir: string;
}

/** A run whose main went through (under a stand-in worker); `fill` puts content in its dirs. */
async function runMain(root: string, id: Identity, inputs: Record<string, string>, fill: Record<string, number> = {}): Promise<Started> {
  const wj = new WorkerJob(identity(id, root));
  workerJobs.push(wj);
  const result = await wj.main(inputs).done;
  expect({ run: id.runId, errors: result.errors }).toEqual({ run: id.runId, errors: [] });
  const dirs = JSON.parse(result.outputs.dirs) as Record<string, string>;
  for (const [name, bytes] of Object.entries(fill)) fs.writeFileSync(path.join(dirs[name], 'blob'), Buffer.alloc(bytes, 1));
  return { wj, result, dirs, runDir: result.outputs['run-dir'] };
}

/** Hard-kills runs and waits until their keepers have let go of every lock (then the keeper's release stamp is on them). */
async function hardKill(runs: Started[]): Promise<void> {
  for (const r of runs) r.wj.kill();
  // A run holds its run dir's lock (covering its `run` dirs) and one per `pr` dir.
  const guarded = (r: Started): string[] => (r.runDir ? [r.runDir, ...Object.values(r.dirs).filter((d) => !d.startsWith(r.runDir + '/'))] : Object.values(r.dirs));
  const locks = runs.flatMap(guarded).map((d) => d + '.lock');
  await until("the killed runs' keepers let go", () => locks.every((l) => fs.existsSync(l) && lockIsFree(l)), 5000);
}

function expectOk(r: StepResult, what: string): void {
  expect({ what, code: r.code, errors: r.errors }).toEqual({ what, code: 0, errors: [] });
}

// --- the janitor -------------------------------------------------------------------------------

describe('janitor at the start of main (through dist/)', () => {
  test('reaps a dead run dir past reap-after and a pr dir past pr-reap-after, reports bytes; keeps live, younger and its own dirs', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'runbox-janitor-action-'));
    roots.push(root);
    const base = path.join(root, 'base');
    const inputs = (dirs: string, extra: Record<string, string> = {}) => ({ 'base-dir': base, dirs, ...extra });

    // One at a time, so each dir's age is set before the next main's janitor sweeps.
    const deadOld = await runMain(root, { runId: '501' }, inputs('target'), { target: 100 * 1024 });
    const deadYoung = await runMain(root, { runId: '502' }, inputs('target'), { target: 1024 });
    const live = await runMain(root, { runId: '503' }, inputs('target'), { target: 1024 });
    const prOld = await runMain(root, { runId: '504', pr: 5 }, inputs('cache:pr'), { cache: 50 * 1024 });
    const prYoung = await runMain(root, { runId: '505', pr: 6 }, inputs('cache:pr'), { cache: 1024 });
    // An earlier incarnation of the very job that runs next (same run, attempt, job, runner).
    const own = { runId: '510', pr: 7, runner: 'runner-own' };
    const ownBefore = await runMain(root, own, inputs('target\ncache:pr'), { target: 1024, cache: 1024 });
    await hardKill([deadOld, deadYoung, prOld, prYoung, ownBefore]);

    const lock = (d: string) => d + '.lock';
    age(lock(deadOld.runDir), 2 * HOUR); // past the default reap-after (1h)
    age(lock(live.runDir), 2 * HOUR); // just as old, but its lock is held
    age(lock(prOld.dirs.cache), 4 * DAY); // past the default pr-reap-after (3d)
    age(lock(prYoung.dirs.cache), 2 * DAY);
    age(lock(ownBefore.runDir), 2 * HOUR); // would qualify, but it is the next run's own
    age(lock(ownBefore.dirs.cache), 4 * DAY);
    const deadOldAt = fs.statSync(lock(deadOld.runDir)).mtime;

    const m = await runMain(root, own, inputs('target\ncache:pr'));
    const reaped = reapedInSummary(m.result.summary);
    expect(reaped).toBeDefined();
    expect(new Set(reaped?.paths)).toEqual(new Set([deadOld.runDir, prOld.dirs.cache]));
    expect(reaped?.count).toBe(2);
    expect(parseBytes(reaped?.bytesText ?? '')).toBeGreaterThanOrEqual(150 * 1024); // the two blobs at least
    const logged = reapedInLog(m.result.stdout);
    expect(logged.map((x) => `${x.kind} ${x.path}`).sort()).toEqual([`pr ${prOld.dirs.cache}`, `run ${deadOld.runDir}`]);
    expect(parseBytes(logged.find((x) => x.path === deadOld.runDir)?.bytesText ?? '')).toBeGreaterThanOrEqual(100 * 1024);
    expect(m.result.stdout).toContain(`reaped run dir ${deadOld.runDir} (idle since ${deadOldAt.toISOString()}`);

    for (const gone of [deadOld.runDir, prOld.dirs.cache]) {
      expect(fs.existsSync(gone)).toBe(false);
      expect(fs.existsSync(lock(gone))).toBe(false);
    }
    for (const kept of [deadYoung.runDir, live.runDir, prYoung.dirs.cache]) expect(fs.existsSync(path.join(kept, kept === prYoung.dirs.cache ? 'blob' : 'target/blob'))).toBe(true);
    // Its own dirs: not reaped, taken over with their content.
    expect(m.dirs).toEqual(ownBefore.dirs);
    expect(fs.existsSync(path.join(m.dirs.target, 'blob'))).toBe(true);
    expect(fs.existsSync(path.join(m.dirs.cache, 'blob'))).toBe(true);

    // A shorter pr-reap-after reaps the 2-day-old pr dir; nothing else qualifies now.
    const n = await runMain(root, { runId: '511' }, inputs('target', { 'pr-reap-after': '1d' }));
    expect(reapedInSummary(n.result.summary)?.paths).toEqual([prYoung.dirs.cache]);
    expect(fs.existsSync(prYoung.dirs.cache)).toBe(false);
    // And one that finds nothing says nothing about reaping.
    const o = await runMain(root, { runId: '512' }, inputs('target'));
    expect(reapedInSummary(o.result.summary)).toBeUndefined();
    expect(reapedInLog(o.result.stdout)).toEqual([]);

    for (const r of [m, n, o, live]) expectOk(await r.wj.post(), `post ${r.result.outputs['run-dir']}`);
    expect(keepersHolding(base)).toEqual([]);
  }, 60_000);
});

// --- the disk guard on a real filesystem of known size -----------------------------------------

const FS_SIZE = 128 * MiB;
const BLOB = 8 * MiB;
const tmpfs = mountTmpfs('runbox-guard-action-test', FS_SIZE);
const mounted = tmpfs.prereq;
const mnt = tmpfs.dir;

afterAll(() => {
  // The jobs' workers (and so any keeper holding a lock file on it) must be gone first.
  workerJobs.forEach((j) => j.kill());
  tmpfs.unmount();
});

describeWith([mounted])('disk guard at main on a tmpfs base-dir (through dist/)', () => {
  test('over the limit: prunes dead run dirs oldest first, then idle pr dirs, stops under it; when it cannot get under, warns how far it stayed', async () => {
    const base = path.join(mnt, 'base');
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'runbox-guard-action-jobs-'));
    roots.push(root);
    // Not base-dir's: never pruned, however far over the limit the filesystem stays.
    fs.mkdirSync(path.join(mnt, 'outside'));
    fs.writeFileSync(path.join(mnt, 'outside', 'blob'), Buffer.alloc(BLOB, 1));
    // The janitor must not take any of these: everything is younger than reap-after / pr-reap-after.
    const quiet = { 'reap-after': '1d', 'pr-reap-after': '30d' };
    const inputs = (dirs: string, extra: Record<string, string> = {}) => ({ 'base-dir': base, dirs, ...quiet, ...extra });

    const r1 = await runMain(root, { runId: '601' }, inputs('target'), { target: BLOB });
    const r2 = await runMain(root, { runId: '602' }, inputs('target'), { target: BLOB });
    const r3 = await runMain(root, { runId: '603' }, inputs('target'), { target: BLOB });
    const p1 = await runMain(root, { runId: '604', pr: 1 }, inputs('cache:pr'), { cache: BLOB });
    const p2 = await runMain(root, { runId: '605', pr: 2 }, inputs('cache:pr'), { cache: BLOB });
    const live = await runMain(root, { runId: '606' }, inputs('target'), { target: BLOB });
    await hardKill([r1, r2, r3, p1, p2]);
    // Ages chosen so that age alone would order them differently: the pr dirs are the oldest
    // and the live run older still, but dead run dirs go first and a live one never.
    age(r1.runDir + '.lock', 5 * HOUR);
    age(r2.runDir + '.lock', 3 * HOUR);
    age(r3.runDir + '.lock', 1 * HOUR);
    age(p1.dirs.cache + '.lock', 2 * DAY);
    age(p2.dirs.cache + '.lock', 1 * DAY);
    age(live.runDir + '.lock', 10 * HOUR);
    const before = fs.statfsSync(base);
    const availBefore = before.bavail * before.bsize;
    expect(availBefore).toBeLessThan(FS_SIZE - 7 * BLOB + MiB);
    expect(availBefore).toBeGreaterThan(FS_SIZE - 7 * BLOB - MiB);

    // 100M free wanted, ~72 MiB free: four 8 MiB dirs must go (three are not enough).
    const g = await runMain(root, { runId: '610' }, inputs('target', { 'disk-limit': '100M' }));
    expect(reapedInSummary(g.result.summary)).toBeUndefined();
    const pruned = prunedInSummary(g.result.summary);
    expect(pruned?.paths).toEqual([r1.runDir, r2.runDir, r3.runDir, p1.dirs.cache]);
    expect(parseBytes(pruned?.bytesText ?? '')).toBeGreaterThanOrEqual(4 * BLOB);
    expect([...g.result.stdout.matchAll(/^runbox disk guard: pruned (\S+) dir (\S+) /gm)].map((x) => `${x[1]} ${x[2]}`)).toEqual([
      `run ${r1.runDir}`,
      `run ${r2.runDir}`,
      `run ${r3.runDir}`,
      `pr ${p1.dirs.cache}`
    ]);
    expect(summaryRows(g.result.summary)).toContainEqual(['disk guard', expect.stringMatching(/^now within at least 100\.0 MiB free \(/)]);
    expect(g.result.warnings).toEqual([]);
    const after = fs.statfsSync(base);
    expect(after.bavail * after.bsize).toBeGreaterThanOrEqual(100 * MiB);
    expect(after.bavail * after.bsize).toBeLessThan(100 * MiB + BLOB); // stopped: p2 not pruned too
    for (const d of [r1.runDir, r2.runDir, r3.runDir, p1.dirs.cache]) {
      expect(fs.existsSync(d)).toBe(false);
      expect(fs.existsSync(d + '.lock')).toBe(false);
    }
    for (const f of [path.join(p2.dirs.cache, 'blob'), path.join(live.dirs.target, 'blob'), path.join(mnt, 'outside', 'blob')]) expect(fs.statSync(f).size).toBe(BLOB);

    // 10% used at most cannot be reached: the live run's 8 MiB and the outside 8 MiB stay.
    const h = await runMain(root, { runId: '611' }, inputs('target', { 'disk-limit': '10%' }));
    expect(prunedInSummary(h.result.summary)?.paths).toEqual([p2.dirs.cache]);
    const st = fs.statfsSync(base);
    const used = (st.blocks - st.bfree) * st.bsize;
    const wantOver = used - Math.floor(((used + st.bavail * st.bsize) * 10) / 100);
    expect(h.result.warnings).toHaveLength(1);
    const warning = unescapeCommand(h.result.warnings[0]);
    const w = /^runbox disk guard: (\S+) is still (.+?) beyond disk-limit at most 10% used \(([\d.]+)% used, .+ free\); nothing else under base-dir is prunable; dirs held by live runs: (.*)$/.exec(
      warning
    );
    expect(w).not.toBeNull();
    // The space it could not free is named by whom holds it: the live runs, nothing dead.
    expect(w?.[4]).toBe(`${live.runDir} (run 606 (runner-606, job build)), ${g.runDir} (run 610 (runner-610, job build))`);
    expect(w?.[1]).toBe(base);
    // How far it stayed, as main saw it (its own dirs are made after the guard: a few KiB).
    expect(Math.abs(parseBytes(w?.[2] ?? '') - wantOver)).toBeLessThan(256 * 1024);
    expect(wantOver).toBeGreaterThan(2 * BLOB - FS_SIZE / 10 - MiB);
    expect(summaryRows(h.result.summary)).toContainEqual(['disk guard', warning.replace(/^runbox disk guard: /, '')]);
    expect(fs.statSync(path.join(live.dirs.target, 'blob')).size).toBe(BLOB);
    expect(fs.statSync(path.join(mnt, 'outside', 'blob')).size).toBe(BLOB);
    expect(h.result.code).toBe(0); // a warning, not a failure

    for (const r of [g, h, live]) expectOk(await r.wj.post(), `post ${r.result.outputs['run-dir']}`);
    expect(keepersHolding(base)).toEqual([]);
  }, 60_000);
});

// --- malformed inputs --------------------------------------------------------------------------

describe('malformed janitor, disk guard and lock inputs fail main before anything changes (through dist/)', () => {
  const cases: Array<[string, string]> = [
    ['lock-timeout', '-1'],
    ['lock-timeout', 'abc'],
    ['lock-timeout', '99999999'],
    ['lock-timeout', '21601'],
    ['lock-timeout', '1.5'],
    ['reap-after', '0'],
    ['reap-after', '1x'],
    ['reap-after', '400d'],
    ['reap-after', '-1h'],
    ['pr-reap-after', '0'],
    ['pr-reap-after', '2w'],
    ['pr-reap-after', '366d'],
    ['disk-limit', '100%'],
    ['disk-limit', '0%'],
    ['disk-limit', '20Q'],
    ['disk-limit', '5'],
    ['disk-limit', '85.5%']
  ];

  test.each(cases)('%s: %s', async (name, raw) => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'runbox-janitor-inputs-'));
    roots.push(root);
    const base = path.join(root, 'base');
    // Something a valid main would reap (reap-after 1s, and old enough for the default 1h too),
    // so a check that came after the sweep would show up as a change.
    const dead = path.join(base, 'main', 'run-1-1-build-gone');
    fs.mkdirSync(path.join(dead, 'target'), { recursive: true });
    fs.writeFileSync(path.join(dead, 'target', 'blob'), 'x'.repeat(1000));
    fs.writeFileSync(dead + '.lock', '');
    age(dead + '.lock', 2 * HOUR);
    const deadPr = path.join(base, 'pr-4', 'cache');
    fs.mkdirSync(deadPr, { recursive: true });
    fs.writeFileSync(deadPr + '.lock', '');
    age(deadPr + '.lock', 10 * DAY);
    const mtimes = () => [dead + '.lock', deadPr + '.lock'].map((p) => fs.statSync(p).mtimeMs);

    const j = new FakeJob({ root: path.join(root, 'job'), ref: 'refs/pull/3/merge', event: 'pull_request' });
    jobs.push(j);
    const snap = () => [...snapshotTree(base), ...snapshotTree(j.root).filter((l) => !l.startsWith('files'))];
    const before = snap();
    const t = mtimes();
    const r = await j.main({ 'base-dir': base, dirs: 'target\ncache:pr', 'reap-after': '1s', 'pr-reap-after': '1s', [name]: raw });
    expect(r.code).not.toBe(0);
    expect(r.errors).toHaveLength(1);
    expect(unescapeCommand(r.errors[0])).toContain(`Input '${name}': '${raw}'`);
    expect(snap()).toEqual(before);
    expect(mtimes()).toEqual(t);
    expect(keepersHolding(base)).toEqual([]);
  });
});
