// A mount source shared by jobs of different owners: the second owner's job must not chown the
// tree under the first job (its container would get "Permission denied" mid-build). Jobs of one
// owner share it; another owner waits, naming the holder, within lock-timeout.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { FakeJob } from './helpers/action-runner.js';
import { asRoot, describeWith, sudoUser, systemOptIn } from './helpers/prereq.js';

const user = sudoUser();
const jobs: FakeJob[] = [];
const root = fs.mkdtempSync('/tmp/runbox-mounts-');
afterAll(() => {
  for (const j of jobs) j.cleanup();
  fs.rmSync(root, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function job(runId: string): FakeJob {
  const u = user as NonNullable<typeof user>;
  const j = new FakeJob({ user: u, runId, runnerName: `runner-${runId}`, root: path.join(root, `job-${runId}`) });
  jobs.push(j);
  return j;
}

function uidsUnder(dir: string): string[] {
  return [...new Set(spawnSync('find', [dir, '-printf', '%U:%G\n'], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean))];
}

const userPrereq = user ? { ok: true, reason: '' } : { ok: false, reason: 'no non-root user with passwordless sudo (runbox-ci; .ci/run creates it)' };

describeWith([systemOptIn('records in /run/runbox'), asRoot(), userPrereq])('shared mount sources', () => {
  test('another owner waits (naming the holder) instead of re-chowning under a live job; the same owner shares it', async () => {
    fs.chmodSync(root, 0o755);
    const u = user as NonNullable<typeof user>;
    fs.chownSync(root, u.uid, u.gid);
    const mount = path.join(root, 'sccache');
    const base = (j: FakeJob) => path.join(j.runnerTemp, 'runbox');

    const a = job('8001');
    expect((await a.main({ 'base-dir': base(a), dirs: 't', owner: '1000:1000', mounts: mount })).errors).toEqual([]);
    fs.writeFileSync(path.join(mount, 'obj'), 'x');
    fs.chownSync(path.join(mount, 'obj'), 1000, 1000);

    const b = job('8002');
    const rb = await b.main({ 'base-dir': base(b), dirs: 't', owner: '1002:1002', mounts: mount, 'lock-timeout': '2' });
    expect(rb.code).not.toBe(0);
    expect(rb.errors.join('\n')).toMatch(new RegExp(`mount source ${mount} is in use by run 8001 \\(runner-8001\\) as owner 1000:1000; gave up after 2s`));
    expect(uidsUnder(mount)).toEqual(['1000:1000']);
    await b.post();

    // The same owner shares it at once.
    const c = job('8003');
    const t0 = Date.now();
    expect((await c.main({ 'base-dir': base(c), dirs: 't', owner: '1000:1000', mounts: mount })).errors).toEqual([]);
    // A wait would last lock-timeout (default 1800 s); room for a loaded machine (it took 13.8 s once).
    expect(Date.now() - t0).toBeLessThan(60_000);

    // Another owner's job gets it once every job of the first owner is done.
    const d = job('8004');
    const started = d.start('main', { 'base-dir': base(d), dirs: 't', owner: '1002:1002', mounts: mount });
    let out = '';
    started.child.stdout?.on('data', (x: Buffer) => (out += x.toString()));
    for (let i = 0; !out.includes(`waiting for mount source ${mount}`); i++) {
      if (i > 400) throw new Error(`job 8004 never waited:\n${out}`);
      await sleep(25);
    }
    expect(out).toMatch(/in use by run 800[13] \(runner-800[13]\) as owner 1000:1000, and this job's owner is 1002:1002/);
    expect((await a.post()).errors).toEqual([]);
    await sleep(1500);
    expect(started.child.exitCode).toBeNull(); // job 8003 still has it
    expect(uidsUnder(mount)).toEqual(['1000:1000']);
    expect((await c.post()).errors).toEqual([]);
    const rd = await started.done;
    expect(rd.errors).toEqual([]);
    expect(uidsUnder(mount)).toEqual(['1002:1002']);
    expect((await d.post()).errors).toEqual([]);
  });
});
