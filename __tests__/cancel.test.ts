// A cancelled job gets SIGTERM, then SIGKILL a few seconds later. Main must stop promptly,
// release its locks and leave no keeper behind.
import fs from 'node:fs';
import path from 'node:path';
import { FakeJob } from './helpers/action-runner.js';
import { keepersHolding } from './helpers/keepers.js';
import { lockIsFree } from './helpers/processes.js';

const jobs: FakeJob[] = [];
afterAll(() => jobs.forEach((j) => j.cleanup()));

describe('SIGTERM to main', () => {
  test('while waiting for a pr dir: exits non-zero at once, its own locks free, no keeper left', async () => {
    const root = fs.mkdtempSync('/tmp/runbox-cancel-');
    const base = path.join(root, 'base');
    const inputs = { 'base-dir': base, dirs: 'registry:pr\ntarget' };
    const holder = new FakeJob({ runId: '1', ref: 'refs/pull/9/merge', event: 'pull_request', root: path.join(root, 'a') });
    const waiter = new FakeJob({ runId: '2', ref: 'refs/pull/9/merge', event: 'pull_request', root: path.join(root, 'b') });
    jobs.push(holder, waiter);
    expect((await holder.main(inputs)).errors).toEqual([]);

    const started = waiter.start('main', inputs);
    let out = '';
    started.child.stdout?.on('data', (b: Buffer) => (out += b.toString()));
    for (let i = 0; !out.includes('waiting for'); i++) {
      if (i > 400 || started.child.exitCode !== null) throw new Error(`main never waited (exit ${String(started.child.exitCode)}):\n${out}\n${(await started.done).stderr}`);
      await new Promise((r) => setTimeout(r, 25));
    }
    const t0 = Date.now();
    started.child.kill('SIGTERM');
    const r = await started.done;
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(r.code).toBe(143);
    // The job summary still says what happened.
    expect(r.summary).toContain('runbox: main');
    expect(r.summary).toContain('main was stopped by a signal');
    expect(keepersHolding(base).length).toBe(1); // only the holder's
    const runLock = fs.readdirSync(path.join(base, 'pr-9')).find((f) => f.startsWith('run-2-') && f.endsWith('.lock'));
    expect(runLock).toBeDefined();
    expect(lockIsFree(path.join(base, 'pr-9', runLock as string))).toBe(true);

    // post after the cancelled main still tears down and succeeds
    const p = await waiter.post();
    expect(p.errors).toEqual([]);
    await holder.post();
    expect(keepersHolding(base)).toEqual([]);
    fs.rmSync(root, { recursive: true, force: true });
  });
});
