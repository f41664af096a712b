// A container running as root leaves root-owned files in the workspace; the next checkout's
// `git clean` then fails. Post gives them back, and so does the next main (a hard-killed job
// never runs post).
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { FakeJob } from './helpers/action-runner.js';
import { asRoot, describeWith, sudoUser } from './helpers/prereq.js';

const user = sudoUser();
const jobs: FakeJob[] = [];
afterAll(() => jobs.forEach((j) => j.cleanup()));

/** What a `docker run -v $WORKSPACE:/src` as root leaves behind. */
function containerWritesAsRoot(dir: string, tag: string): void {
  fs.mkdirSync(path.join(dir, `build-${tag}`, 'obj'), { recursive: true, mode: 0o700 });
  fs.writeFileSync(path.join(dir, `build-${tag}`, 'obj', 'a.o'), 'x', { mode: 0o600 });
  fs.symlinkSync('/etc/passwd', path.join(dir, `build-${tag}`, 'link'));
}

function foreignEntries(dir: string, uid: number): string[] {
  const r = spawnSync('find', [dir, '!', '-uid', String(uid)], { encoding: 'utf8' });
  return r.stdout.split('\n').filter(Boolean);
}

describeWith([asRoot(), user ? { ok: true, reason: '' } : { ok: false, reason: 'no non-root user with passwordless sudo (runbox-ci; .ci/run creates it)' }])('reclaim', () => {
  test('post heals the workspace, and the next main heals what a hard-killed job left', async () => {
    const u = user as NonNullable<typeof user>;
    const first = new FakeJob({ user: u, runId: '500' });
    jobs.push(first);
    const ws = first.workspace;
    const inputs = { 'base-dir': path.join(first.runnerTemp, 'runbox'), dirs: 'target', reclaim: ws };

    const m1 = await first.main(inputs);
    expect(m1.errors).toEqual([]);
    containerWritesAsRoot(ws, 'one');
    expect(foreignEntries(ws, u.uid).length).toBeGreaterThan(0);
    const p1 = await first.post();
    expect(p1.errors).toEqual([]);
    expect(foreignEntries(ws, u.uid)).toEqual([]);
    expect(p1.summary).toMatch(/reclaimed/);
    // The symlink itself changed owner; its target did not.
    expect(fs.statSync('/etc/passwd').uid).toBe(0);

    // A job that is hard-killed never runs post: the next job on this runner heals at main.
    containerWritesAsRoot(ws, 'two');
    const next = new FakeJob({ user: u, runId: '501', root: first.root });
    const m2 = await next.main(inputs);
    expect(m2.errors).toEqual([]);
    expect(foreignEntries(ws, u.uid)).toEqual([]);
    expect(m2.summary).toMatch(/reclaimed/);
    await next.post();
    // and the runner user can now delete everything, as `git clean -ffdx` would
    const rm = spawnSync('sudo', ['-n', '-u', u.name, 'rm', '-rf', path.join(ws, 'build-one'), path.join(ws, 'build-two')]);
    expect(rm.status).toBe(0);
  });
});
