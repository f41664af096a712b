// Per-run dirs, end to end through the built dist/: paths, owners, outputs, env, teardown.
import fs from 'node:fs';
import path from 'node:path';
import { FakeJob, type JobOptions } from './helpers/action-runner.js';
import { asRoot, describeWith, sudoUser } from './helpers/prereq.js';

const jobs: FakeJob[] = [];
function job(opts: JobOptions = {}): FakeJob {
  const j = new FakeJob(opts);
  jobs.push(j);
  return j;
}
afterAll(() => jobs.forEach((j) => j.cleanup()));

describe('per-run dirs (as the current user)', () => {
  test('creates each dir under <base>/<ref>/run-<id>-<attempt>-<job-key>, exports and outputs them', async () => {
    const j = job({ runId: '4242', attempt: '2', job: 'test', runnerName: 'host-a 3', ref: 'refs/heads/feature/x' });
    const base = path.join(j.root, 'base');
    const main = await j.main({ 'base-dir': base, dirs: 'target=CARGO_TARGET_DIR\ncache', id: 'linux, stable' });
    expect(main.errors).toEqual([]);
    expect(main.code).toBe(0);
    const runDir = path.join(base, 'feature-x', 'run-4242-2-test-host-a-3-linux-stable');
    expect(main.outputs['run-dir']).toBe(runDir);
    expect(JSON.parse(main.outputs.dirs)).toEqual({ target: path.join(runDir, 'target'), cache: path.join(runDir, 'cache') });
    expect(main.env.CARGO_TARGET_DIR).toBe(path.join(runDir, 'target'));
    expect(main.env.cache).toBeUndefined();
    for (const d of ['target', 'cache']) {
      const st = fs.statSync(path.join(runDir, d));
      expect(st.isDirectory()).toBe(true);
      expect([st.uid, st.gid]).toEqual([process.getuid?.(), process.getgid?.()]);
    }
    expect(main.summary).toContain('runbox: main');
    expect(main.summary).toContain(path.join(runDir, 'target'));

    fs.writeFileSync(path.join(runDir, 'target', 'artifact'), 'x');
    const post = await j.post();
    expect(post.errors).toEqual([]);
    expect(fs.existsSync(runDir)).toBe(false);
    expect(fs.existsSync(path.join(base, 'feature-x'))).toBe(true); // never the parent
    expect(post.summary).toContain('removed');
  });

  test('pull requests use pr-<number>; other runs, attempts, runners and ids get other dirs', async () => {
    const base = path.join(job().root, 'shared-base');
    const variants: JobOptions[] = [
      { runId: '1', ref: 'refs/pull/17/merge', event: 'pull_request' },
      { runId: '2', ref: 'refs/pull/17/merge', event: 'pull_request' },
      { runId: '1', attempt: '2', ref: 'refs/pull/17/merge', event: 'pull_request' },
      { runId: '1', runnerName: 'runner-2', ref: 'refs/pull/17/merge', event: 'pull_request' },
      { runId: '1', job: 'lint', ref: 'refs/pull/17/merge', event: 'pull_request' }
    ];
    const seen = new Set<string>();
    for (const v of variants) {
      const r = await job(v).main({ 'base-dir': base, dirs: 'target' });
      expect(r.errors).toEqual([]);
      expect(r.outputs['run-dir'].startsWith(path.join(base, 'pr-17', 'run-'))).toBe(true);
      seen.add(r.outputs['run-dir']);
    }
    const withId = await job({ runId: '1', ref: 'refs/pull/17/merge', event: 'pull_request' }).main({ 'base-dir': base, dirs: 'target', id: 'arm64' });
    seen.add(withId.outputs['run-dir']);
    expect(seen.size).toBe(variants.length + 1);
  });

  test("post removes only this run's dir; a sibling run and keep: true survive", async () => {
    const base = path.join(job().root, 'base');
    const a = job({ runId: '10' });
    const b = job({ runId: '11' });
    const ra = await a.main({ 'base-dir': base, dirs: 'target' });
    const rb = await b.main({ 'base-dir': base, dirs: 'target', keep: 'true' });
    await a.post();
    expect(fs.existsSync(ra.outputs['run-dir'])).toBe(false);
    expect(fs.existsSync(rb.outputs['run-dir'])).toBe(true);
    const postB = await b.post();
    expect(postB.errors).toEqual([]);
    expect(fs.existsSync(path.join(rb.outputs['run-dir'], 'target'))).toBe(true);
  });

  test('post does not follow a run dir replaced by a symlink out of base-dir', async () => {
    const j = job({ runId: '12' });
    const base = path.join(j.root, 'base');
    const victim = path.join(j.root, 'victim');
    fs.mkdirSync(victim);
    fs.writeFileSync(path.join(victim, 'precious'), 'keep me');
    const r = await j.main({ 'base-dir': base, dirs: 'target' });
    fs.rmSync(r.outputs['run-dir'], { recursive: true });
    fs.symlinkSync(victim, r.outputs['run-dir']);
    const post = await j.post();
    expect(post.code).not.toBe(0);
    expect(post.errors.join('\n')).toMatch(/symlink/);
    expect(fs.readFileSync(path.join(victim, 'precious'), 'utf8')).toBe('keep me');
  });

  test('post after a main that failed validation does nothing and succeeds', async () => {
    const j = job();
    const m = await j.main({ 'base-dir': 'relative/path', dirs: 'target' });
    expect(m.code).not.toBe(0);
    const p = await j.post();
    expect(p.code).toBe(0);
  });
});

const user = sudoUser();
describeWith([asRoot(), user ? { ok: true, reason: '' } : { ok: false, reason: 'no non-root user with passwordless sudo (runbox-ci; .ci/run creates it)' }])('as a non-root runner with sudo', () => {
  test('dirs and mount sources are owned by the container uid:gid, and post removes what the container wrote', async () => {
    const u = user as NonNullable<typeof user>;
    const j = job({ user: u, runId: '77' });
    const base = path.join(j.runnerTemp, 'runbox');
    const mount = path.join(j.root, 'mounts', 'cargo-home');
    const existingMount = path.join(j.root, 'mounts', 'existing');
    fs.mkdirSync(path.join(existingMount, 'sub'), { recursive: true }); // root-owned, as docker makes it
    fs.writeFileSync(path.join(existingMount, 'sub', 'f'), 'x');
    const m = await j.main({ 'base-dir': base, dirs: 'target=CARGO_TARGET_DIR', owner: '2000:3000', mounts: `${mount}\n${existingMount}` });
    expect(m.errors).toEqual([]);
    const target = m.env.CARGO_TARGET_DIR;
    expect([fs.statSync(target).uid, fs.statSync(target).gid]).toEqual([2000, 3000]);
    expect([fs.statSync(m.outputs['run-dir']).uid]).toEqual([u.uid]);
    for (const p of [mount, existingMount, path.join(existingMount, 'sub', 'f')]) expect([fs.statSync(p).uid, fs.statSync(p).gid]).toEqual([2000, 3000]);

    // The container (uid 2000) and a root process write into the dir; the runner user cannot delete these alone.
    fs.mkdirSync(path.join(target, 'debug', 'deps'), { recursive: true, mode: 0o700 });
    fs.writeFileSync(path.join(target, 'debug', 'deps', 'libfoo.rlib'), 'x');
    const p = await j.post();
    expect(p.errors).toEqual([]);
    expect(fs.existsSync(m.outputs['run-dir'])).toBe(false);
    expect(fs.existsSync(mount)).toBe(true); // mount sources are the user's, not runbox's to delete
  });

  test('owner by name resolves through getent', async () => {
    const u = user as NonNullable<typeof user>;
    const j = job({ user: u, runId: '78' });
    const m = await j.main({ 'base-dir': path.join(j.runnerTemp, 'rb'), dirs: 'x', owner: 'nobody:nogroup' });
    expect(m.errors).toEqual([]);
    const st = fs.statSync((JSON.parse(m.outputs.dirs) as Record<string, string>).x);
    expect(st.uid).toBe(65534);
    await j.post();
  });
});

describe('warm run dirs through dist/', () => {
  test('warm: copy starts the next run of the ref from the previous finished run, never a live one', async () => {
    const root = job().root;
    const base = path.join(root, 'base');
    const inputs = { 'base-dir': base, dirs: 'target=CARGO_TARGET_DIR', warm: 'copy' };
    const first = job({ runId: '301', root: path.join(root, 'a') });
    const m1 = await first.main(inputs);
    expect(m1.errors).toEqual([]);
    fs.mkdirSync(path.join(m1.env.CARGO_TARGET_DIR, 'debug', 'incremental'), { recursive: true });
    fs.writeFileSync(path.join(m1.env.CARGO_TARGET_DIR, 'debug', 'incremental', 'state.bin'), 'warm');

    // While run 301 is live, a concurrent run must not clone its dir.
    const concurrent = job({ runId: '302', root: path.join(root, 'b') });
    const m2 = await concurrent.main(inputs);
    expect(fs.readdirSync(m2.env.CARGO_TARGET_DIR)).toEqual([]);
    await concurrent.post();

    const p1 = await first.post();
    expect(p1.summary).toMatch(/kept/);
    expect(fs.existsSync(m1.env.CARGO_TARGET_DIR)).toBe(true);

    const next = job({ runId: '303', root: path.join(root, 'c') });
    const m3 = await next.main(inputs);
    expect(m3.errors).toEqual([]);
    expect(fs.readFileSync(path.join(m3.env.CARGO_TARGET_DIR, 'debug', 'incremental', 'state.bin'), 'utf8')).toBe('warm');
    expect(m3.summary).toMatch(/warm target/);
    await next.post();
  });
});
