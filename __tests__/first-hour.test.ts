// What a new user meets first, through the built dist/: a failed step's summary that says what
// failed, misconfigurations that fail or warn at main instead of passing silently, and waits
// that say who is waited for and for how long.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FakeJob, snapshotTree } from './helpers/action-runner.js';
import { asRoot, describeWith, sudoUser } from './helpers/prereq.js';
import { buildGuixLayout } from './fixtures/store.js';
import { startCacheServerProcess, type CacheServer } from './fixtures/cache.js';
import { storeJob } from './helpers/store-e2e.js';
import { mountTmpfs } from './helpers/tmpfs.js';
import { until } from './helpers/fleet-util.js';

const jobs: FakeJob[] = [];
afterAll(() => jobs.forEach((j) => j.cleanup()));

function job(opts: ConstructorParameters<typeof FakeJob>[0] = {}): FakeJob {
  const j = new FakeJob(opts);
  jobs.push(j);
  return j;
}

/** The runner escapes `%`, CR and LF in annotations; the tests compare the text. */
const unescape = (s: string): string => s.replace(/%0A/g, '\n').replace(/%0D/g, '\r').replace(/%25/g, '%');

describe('a failed step says so in its summary', () => {
  test('main: the error, naming the input and the fix, instead of "Nothing to do."', async () => {
    const j = job();
    const r = await j.main({ 'base-dir': path.join(j.root, 'b'), dirs: 'target CARGO_TARGET_DIR' });
    expect(r.code).not.toBe(0);
    expect(r.summary).not.toContain('Nothing to do.');
    expect(r.summary).toMatch(/failed:.*Input 'dirs': line 'target CARGO_TARGET_DIR' is not NAME\[:scope\]\[=ENV_VAR\]/);
    const p = await j.post();
    expect(p.code).toBe(0);
    expect(p.summary).not.toContain('Nothing to do.');
    expect(p.summary).toMatch(/nothing to tear down.*main stopped before it provisioned anything/);
  });
});

const nosudo = sudoUser('runbox-nosudo');
describeWith([asRoot(), nosudo ? { ok: true, reason: '' } : { ok: false, reason: 'no user runbox-nosudo (.ci/run creates it)' }])('a user who cannot create base-dir', () => {
  test('main fails naming the dir; post adds no "release locks: ENOENT"', async () => {
    const u = nosudo as NonNullable<typeof nosudo>;
    const j = job({ user: u });
    // Root's dir, not writable by the runner user, and no sudo to fall back on.
    const parent = fs.mkdtempSync(path.join(os.tmpdir(), 'runbox-rootonly-'));
    fs.chmodSync(parent, 0o755);
    const base = path.join(parent, 'base');
    const m = await j.main({ 'base-dir': base, dirs: 'target' });
    expect(m.code).not.toBe(0);
    expect(m.summary).toMatch(/failed:/);
    const p = await j.post();
    expect(p.stdout).not.toMatch(/release locks: ENOENT/);
    expect(p.errors).toEqual([]);
    expect(p.summary).not.toContain('Nothing to do.');
    expect(p.summary).toMatch(/nothing to tear down.*main stopped before it provisioned any dir/);
    fs.rmSync(parent, { recursive: true, force: true });
  });
});

describe('misconfigurations are caught at main', () => {
  test.each([
    ['disk_limit', '85%', "'disk-limit'"],
    ['reap-afer', '1h', "'reap-after'"],
    ['keep_dirs', 'true', "'keep'"]
  ])('unknown input %s (= %s) fails naming %s before anything is created', async (name, value, closest) => {
    const j = job();
    const before = snapshotTree(j.root).filter((l) => !l.startsWith('files'));
    const r = await j.main({ 'base-dir': path.join(j.root, 'b'), dirs: 'target', [name]: value });
    expect(r.code).not.toBe(0);
    expect(r.errors.join('\n')).toContain(`Input '${name.toLowerCase()}': runbox has no input of this name`);
    expect(r.errors.join('\n')).toContain(`Did you mean ${closest}?`);
    expect(snapshotTree(j.root).filter((l) => !l.startsWith('files'))).toEqual(before);
  });

  test('base-dir passed but empty (an unset variable) fails; left out, it is RUNNER_TEMP/runbox', async () => {
    const j = job();
    const r = await j.main({ 'base-dir': '', dirs: 'target' });
    expect(r.code).not.toBe(0);
    expect(r.errors.join('\n')).toMatch(/Input 'base-dir': it is empty: the workflow passes it, but its value expanded to nothing/);
    expect(fs.existsSync(path.join(j.runnerTemp, 'runbox'))).toBe(false);

    const k = job();
    const ok = await k.main({ dirs: 'target' });
    expect(ok.errors).toEqual([]);
    expect(ok.outputs['run-dir'].startsWith(path.join(k.runnerTemp, 'runbox') + '/')).toBe(true);
    expect(ok.warnings).toEqual([]);
    await k.post();
  });

  test('pr dirs under RUNNER_TEMP warn that they will not stay warm', async () => {
    const j = job();
    const r = await j.main({ dirs: 'registry:pr\ntarget' });
    expect(r.errors).toEqual([]);
    expect(unescape(r.warnings.join('\n'))).toMatch(/base-dir .* is inside RUNNER_TEMP, which the runner wipes after every job, so the pr dirs \(registry\) start cold/);
    await j.post();
  });

  test('lock-timeout takes the same durations as reap-after', async () => {
    const j = job();
    const r = await j.main({ 'base-dir': path.join(j.root, 'b'), dirs: 'cache:pr', 'lock-timeout': '30m', 'reap-after': '30m' });
    expect(r.errors).toEqual([]);
    await j.post();
    const k = job();
    const bad = await k.main({ 'base-dir': path.join(k.root, 'b'), dirs: 'cache:pr', 'lock-timeout': '7h' });
    expect(bad.errors.join('\n')).toMatch(/Input 'lock-timeout': '7h' is longer than 6h/);
  });

  test('store: Guix says the values are lower case', async () => {
    const j = job();
    const r = await j.main({ 'base-dir': path.join(j.root, 'b'), store: 'Guix' });
    expect(r.errors.join('\n')).toMatch(/Input 'store': 'Guix' is not one of guix, nix or empty: the values are lower case\. Write 'guix'/);
  });

  test('two runbox steps of one job listing the same pr dir: the second fails at once, saying why', async () => {
    // Two FakeJobs with the defaults are one job to runbox: same run, attempt, job and runner.
    const step1 = job();
    const step2 = job();
    const base = path.join(step1.root, 'b');
    expect((await step1.main({ 'base-dir': base, dirs: 'cache:pr' })).errors).toEqual([]);
    const t0 = Date.now();
    const second = await step2.main({ 'base-dir': base, dirs: 'cache:pr', 'lock-timeout': '60' });
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(second.code).not.toBe(0);
    expect(second.errors.join('\n')).toMatch(/is held by an earlier runbox step of this same job \(run 1001, job build\).*one runbox step per job/);
    expect(second.summary).toMatch(/failed:.*earlier runbox step of this same job/);
    expect((await step2.post()).code).toBe(0);
    expect((await step1.post()).errors).toEqual([]);
  });
});

describe('a run waiting for a pr dir is not silent', () => {
  test('it says who holds the dir and how long it has waited, and the summary shows the wait', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'runbox-wait-'));
    const base = path.join(root, 'base');
    const prJob = (runId: string) =>
      job({ runId, ref: 'refs/pull/9/merge', event: 'pull_request', runnerName: `runner-${runId}`, root: path.join(root, runId), env: { RUNBOX_TEST_WAIT_PROGRESS_SEC: '4' } });
    const holder = prJob('71');
    expect((await holder.main({ 'base-dir': base, dirs: 'cache:pr' })).errors).toEqual([]);
    const waiter = prJob('72');
    const started = waiter.start('main', { 'base-dir': base, dirs: 'cache:pr', 'lock-timeout': '60' });
    // The holder lets go once the waiter has said it is still waiting (its first lock-wait slice
    // ends after 5 s), not after a fixed sleep.
    let out = '';
    started.child.stdout?.on('data', (b: Buffer) => (out += b.toString()));
    await until('the waiter says it is still waiting', () => out.includes('still waiting for'), 30_000);
    await holder.post();
    const m = await started.done;
    expect(m.errors).toEqual([]);
    const dir = path.join(base, 'pr-9', 'cache');
    expect(m.stdout).toMatch(new RegExp(`still waiting for ${dir}: held by run 71 \\(runner-71\\), \\d+ s of 60`));
    expect(m.summary).toMatch(new RegExp(`waited.*\\d+ s for ${dir}, held by run 71 \\(runner-71\\)`));
    await waiter.post();
    fs.rmSync(root, { recursive: true, force: true });
  }, 60_000);
});

describe('store misconfigurations are said at main', () => {
  test('store-paths that do not exist, and a DB dir left out, warn at main naming the fix', async () => {
    const storeRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'runbox-nostore-'));
    const j = job({ env: { RUNBOX_STORE_ROOT: storeRoot } });
    const r = await j.main({ 'base-dir': path.join(j.root, 'b'), store: 'guix' });
    const w = unescape(r.warnings.join('\n'));
    expect(w).toMatch(/\/gnu\/store, \/var\/guix\/db do not exist on this host.*is Guix installed on the runner host\?\); install it, or remove 'store: guix'/);
    await j.post();

    fs.mkdirSync(path.join(storeRoot, 'gnu/store'), { recursive: true });
    const k = job({ env: { RUNBOX_STORE_ROOT: storeRoot } });
    const r2 = await k.main({ 'base-dir': path.join(k.root, 'b'), store: 'guix', 'store-paths': '/gnu/store' });
    const w2 = unescape(r2.warnings.join('\n'));
    expect(w2).not.toMatch(/do not exist|does not exist/);
    expect(w2).toMatch(/'store-paths' leaves out the guix DB dir \/var\/guix\/db: items a restore adds are not registered.*Add \/var\/guix\/db to 'store-paths'/);
    await k.post();
    fs.rmSync(storeRoot, { recursive: true, force: true });
  });

  test('a guix on PATH that cannot be run names the PATH entry instead of "spawn guix EACCES"', async () => {
    const storeRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'runbox-eacces-'));
    buildGuixLayout(storeRoot);
    const bin = path.join(storeRoot, 'badbin');
    fs.mkdirSync(bin);
    fs.writeFileSync(path.join(bin, 'guix'), '#!/bin/sh\necho guix 1.0\n', { mode: 0o644 });
    const j = job({ env: { RUNBOX_STORE_ROOT: storeRoot, PATH: `${bin}:${process.env.PATH ?? ''}` } });
    const r = await j.main({ 'base-dir': path.join(j.root, 'b'), store: 'guix' });
    expect(r.errors.join('\n')).not.toMatch(/spawn guix EACCES/);
    expect(unescape(r.warnings.join('\n'))).toContain(`cannot run guix to read its version (EACCES): ${bin}/guix is not an executable file (mode 644)`);
    await j.post();
    fs.rmSync(storeRoot, { recursive: true, force: true });
  });
});

const tinyTemp = mountTmpfs('runbox-tiny-temp', 64 * 1024);
describeWith([tinyTemp.prereq])('a RUNNER_TEMP without room for the snapshot', () => {
  let server: CacheServer | undefined;
  beforeAll(async () => {
    server = await startCacheServerProcess();
  });
  afterAll(async () => {
    await server?.stop();
    tinyTemp.unmount();
  });

  test('neither save nor restore stages an archive there: both work with 64 KiB of RUNNER_TEMP', async () => {
    const storeRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'runbox-enospc-'));
    buildGuixLayout(storeRoot);
    const url = (server as CacheServer).url;
    const workflow = 'on: push\n';
    // A snapshot in the cache, saved by a runner with room.
    const a = storeJob(url, { storeRoot, workflow });
    jobs.push(a);
    expect((await a.main({ 'base-dir': path.join(a.root, 'b'), store: 'guix' })).errors).toEqual([]);
    expect((await a.post()).summary).toMatch(/store snapshot<\/td><td>saved /);

    const b = storeJob(url, { storeRoot, workflow, env: { RUNNER_TEMP: tinyTemp.dir } });
    jobs.push(b);
    // delta: off: a full snapshot (~200 KiB), more than RUNNER_TEMP holds.
    const m = await b.main({ 'base-dir': path.join(b.root, 'b'), store: 'guix', key: 'other-key', 'restore-keys': 'runbox-guix-', delta: 'off' });
    expect(m.errors).toEqual([]);
    // The archives stream from the cache into a private dir on the store's filesystem; RUNNER_TEMP
    // holds only the manifest and the registrations (a few KiB), so 64 KiB is room enough.
    expect(unescape(m.warnings.join('\n'))).not.toMatch(/no space left/);
    expect(m.outputs['cache-matched-key']).toMatch(/^runbox-guix-/);
    // The snapshot streams from zstd into the upload; RUNNER_TEMP holds the tar member lists only.
    const p = await b.post();
    expect(unescape(p.warnings.join('\n'))).not.toMatch(/no space left/);
    expect(p.summary).toMatch(/store snapshot<\/td><td>saved other-key, a full snapshot/);
    fs.rmSync(storeRoot, { recursive: true, force: true });
  }, 120_000);
});

describe('long store work prints progress', () => {
  let server: CacheServer | undefined;
  beforeAll(async () => {
    server = await startCacheServerProcess();
  });
  afterAll(async () => {
    await server?.stop();
  });

  test('archive, upload, download and extract each say how far they got', async () => {
    const storeRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'runbox-progress-'));
    buildGuixLayout(storeRoot);
    const url = (server as CacheServer).url;
    // Test-only: a tick every few ms instead of every 10 s, so the small fixture store shows them.
    const env = { RUNBOX_TEST_PROGRESS_MS: '2' };
    const a = storeJob(url, { storeRoot, workflow: 'on: [push]\n', env });
    jobs.push(a);
    expect((await a.main({ 'base-dir': path.join(a.root, 'b'), store: 'guix' })).errors).toEqual([]);
    const saved = await a.post();
    // One phase: the blocks go up as zstd makes them.
    expect(saved.stdout).toMatch(/^archiving and uploading the store \(compressed so far\): [\d.]*[1-9][\d.]* (B|KiB|MiB) after \d+ s \([\d.]+ (B|KiB|MiB)\/s\)$/m);

    const restoreRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'runbox-progress-b-'));
    fs.mkdirSync(path.join(restoreRoot, 'gnu/store'), { recursive: true });
    fs.cpSync(path.join(storeRoot, 'var'), path.join(restoreRoot, 'var'), { recursive: true });
    const b = storeJob(url, { storeRoot: restoreRoot, workflow: 'on: [push]\n', env });
    jobs.push(b);
    const m = await b.main({ 'base-dir': path.join(b.root, 'b'), store: 'guix', daemon: 'none' });
    expect(m.errors).toEqual([]);
    expect(m.outputs['cache-hit']).toBe('true');
    expect(m.stdout).toMatch(/^downloading the snapshot for runbox-guix-\S+: [\d.]+ (B|KiB|MiB) after \d+ s/m);
    expect(m.stdout).toMatch(/^checking and extracting 1 archive\(s\): [\d.]+ (B|KiB|MiB) of [\d.]+ (B|KiB|MiB) after \d+ s \([\d.]+ (B|KiB|MiB)\/s\)$/m);
    await b.post();
    for (const r of [storeRoot, restoreRoot]) fs.rmSync(r, { recursive: true, force: true });
  }, 120_000);
});
