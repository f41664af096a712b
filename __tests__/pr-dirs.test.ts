// Per-PR dirs are shared by the successive runs of one PR, one run at a time, with the lock as
// the only notion of "in use".
import fs from 'node:fs';
import path from 'node:path';
import { FakeJob } from './helpers/action-runner.js';

const jobs: FakeJob[] = [];
afterAll(() => jobs.forEach((j) => j.cleanup()));

function prJob(root: string, runId: string): FakeJob {
  const j = new FakeJob({ runId, ref: 'refs/pull/31/merge', event: 'pull_request', runnerName: `runner-${runId}`, root: path.join(root, runId) });
  jobs.push(j);
  return j;
}

const until = async (cond: () => boolean, ms: number): Promise<number> => {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
  return Date.now() - t0;
};

describe('pr dirs', () => {
  const root = fs.mkdtempSync('/tmp/runbox-pr-');
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
  const base = path.join(root, 'base');
  const inputs = { 'base-dir': base, dirs: 'registry:pr=CARGO_HOME\ntarget' };

  test('the next run waits while the previous holds the dir, and proceeds the moment its post ends', async () => {
    const first = prJob(root, '1');
    const m1 = await first.main(inputs);
    expect(m1.errors).toEqual([]);
    expect(m1.env.CARGO_HOME).toBe(path.join(base, 'pr-31', 'registry'));
    fs.writeFileSync(path.join(m1.env.CARGO_HOME, 'index'), 'warm');

    const second = prJob(root, '2');
    const started = second.start('main', inputs);
    let out = '';
    started.child.stdout?.on('data', (b: Buffer) => (out += b.toString()));
    await until(() => out.includes('waiting for'), 10000);
    expect(out).toContain(`waiting for ${path.join(base, 'pr-31', 'registry')}: held by run 1 (runner-1)`);
    await new Promise((r) => setTimeout(r, 500));
    expect(started.child.exitCode).toBeNull(); // still waiting

    const p1 = await first.post();
    expect(p1.errors).toEqual([]);
    const t0 = Date.now();
    const m2 = await started.done;
    expect(Date.now() - t0).toBeLessThan(7000);
    expect(m2.errors).toEqual([]);
    expect(fs.readFileSync(path.join(m2.env.CARGO_HOME, 'index'), 'utf8')).toBe('warm'); // the PR dir stays warm
    await second.post();
  });

  test('a hard-killed holder frees the dir at once: the keeper follows the runner worker', async () => {
    const holder = prJob(root, '3');
    const { workerPid, done } = await holder.mainUnderWorker(inputs);
    expect((await done).errors).toEqual([]);
    const waiter = prJob(root, '4');
    const started = waiter.start('main', { ...inputs, 'lock-timeout': '60' });
    await new Promise((r) => setTimeout(r, 1500));
    expect(started.child.exitCode).toBeNull();
    process.kill(-workerPid, 'SIGKILL'); // the whole job's process group, as a runner crash would
    const t0 = Date.now();
    const m = await started.done;
    expect(m.errors).toEqual([]);
    expect(Date.now() - t0).toBeLessThan(7000);
    await waiter.post();
  });

  test('lock-timeout gives up naming the holder', async () => {
    const holder = prJob(root, '5');
    expect((await holder.main(inputs)).errors).toEqual([]);
    const m = await prJob(root, '6').main({ ...inputs, 'lock-timeout': '1' });
    expect(m.code).not.toBe(0);
    expect(m.errors.join('\n')).toMatch(/held by run 5 \(runner-5\); gave up after 1s/);
    await holder.post();
  });
});
