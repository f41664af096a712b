// Once a step is stopping (a cancel: stopChildren ran), nothing new starts outside a cleanup,
// whichever way it is started: run(), a flock on a held fd, a pipeline stage, the keeper. A
// cancelled main's own code runs on while the cleanups do; before this held for run() alone, and
// such a main went on to take its locks with flock and start a keeper that outlived it. A file
// of its own: the stopping state is the process's, for good.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, test } from '@jest/globals';
import { flockFd } from '../src/lock/flock.js';
import { runPipeline } from '../src/store/pipeline.js';
import { asCleanup, run, startProcess, stopChildren, StoppingError } from '../src/sys/exec.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runbox-stopping-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

test('after stopChildren: run, startProcess, flockFd and runPipeline refuse to start; a cleanup may still run a command', async () => {
  const marker = path.join(dir, 'started');
  // Before the cancel, all of them start.
  const lock = fs.openSync(path.join(dir, 'lock'), 'w');
  expect(await flockFd(lock, 0)).toBe(true);
  await run('true', []);

  await stopChildren();

  await expect(run('touch', [marker])).rejects.toThrow(StoppingError);
  expect(() => startProcess('touch', [marker])).toThrow(StoppingError);
  expect(() => startProcess('touch', [marker], { detached: true })).toThrow(StoppingError);
  await expect(flockFd(fs.openSync(path.join(dir, 'lock2'), 'w'), 0)).rejects.toThrow(StoppingError);
  await expect(runPipeline([{ cmd: 'touch', args: [marker] }])).rejects.toThrow(StoppingError);
  expect(fs.existsSync(marker)).toBe(false);

  // A cleanup (a daemon started again, say) still runs its commands.
  await asCleanup(() => run('touch', [marker]));
  expect(fs.existsSync(marker)).toBe(true);
  fs.closeSync(lock);
});
