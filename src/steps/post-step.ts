// The post step (runs always, also after failure and cancel): give reclaim paths back to the
// runner user and remove this run's dirs.
import * as core from '@actions/core';
import { registerCleanup } from '../action/on-cancel.js';
import { errorMessage, InputError } from '../common/errors.js';
import { reclaimPaths } from '../dirs/reclaim.js';
import { forgetRunLock, heldLocks, releaseKeeper } from '../dirs/liveness.js';
import { parseStoreConfig, saveStore, storeStateFrom } from '../store/index.js';
import { restartAbandonedDaemon } from '../store/daemon.js';
import { actionInputs } from '../action/input-source.js';
import { loadRunState } from '../action/step-state.js';
import { formatBytes, StepReport } from '../action/job-summary.js';
import { removeRunDir } from '../dirs/teardown.js';

export async function runPost(): Promise<void> {
  const report = new StepReport('runbox: post');
  const summaryOnCancel = registerCleanup(() => report.write());
  let daemonProblem: string | undefined;
  try {
    // First, and also when main got nowhere: main killed (SIGKILL, OOM) with the store daemon
    // stopped never started it again. Post gets the same inputs as main.
    try {
      const storeCfg = parseStoreConfig(actionInputs);
      if (storeCfg) await restartAbandonedDaemon(storeCfg.daemon, report);
    } catch (e) {
      // Inputs main refused already (and then it stopped no daemon): nothing to say twice.
      if (!(e instanceof InputError)) daemonProblem = `store daemon: ${errorMessage(e)}`;
    }
    const state = loadRunState();
    if (!state) {
      core.info('runbox main did not get far enough to provision anything; nothing to tear down');
      if (daemonProblem) throw new Error(daemonProblem);
      return;
    }
    const problems: string[] = daemonProblem ? [daemonProblem] : [];
    const attempt = async (what: string, fn: () => Promise<void>): Promise<void> => {
      try {
        await fn();
      } catch (e) {
        problems.push(`${what}: ${errorMessage(e)}`);
      }
    };

    // First: the snapshot is worth most, and it needs nothing that teardown removes.
    if (state.store) await saveStore(storeStateFrom(state.store), report);

    await attempt('reclaim', async () => {
      for (const r of await reclaimPaths(state.reclaim, state.runnerOwner))
        if (r.healed > 0) report.add('reclaimed', `${r.path}: ${r.healed} entries given back to ${state.runnerOwner.uid}:${state.runnerOwner.gid}`);
    });

    if (state.keep) {
      if (state.runDir) report.add('kept', `${state.runDir} (keep: true, or warm: the next run of this ref may clone it)`);
    } else if (state.runDir) {
      await attempt('teardown', async () => {
        const removed = await removeRunDir(state.runDir, state.baseDir);
        if (removed) report.add('removed', `${removed.path} (${formatBytes(removed.bytes)})`);
      });
    }
    // After teardown: the dirs stayed locked while they were being removed.
    await attempt('release locks', async () => {
      const stopped = await releaseKeeper(state.keeper?.pid);
      const locks = state.keeper?.locks ?? [];
      if (stopped === 'stopped') report.add('locks released', `${locks.length} (keeper stopped)`);
      if (stopped === 'gone') {
        // Not ours to signal (its pid belongs to another process, or it watches another worker):
        // say whether the locks are free rather than claim we released them.
        const held = await heldLocks(locks);
        if (held.length === 0) report.add('locks released', `${locks.length} (the keeper had already exited)`);
        else core.warning(`runbox post: ${held.length} lock(s) still held by a process that is not this job's keeper: ${held.join(', ')}; they are freed when it exits`);
      }
      if (state.runDir && !state.keep) await forgetRunLock(state.runDir);
    });

    if (problems.length > 0) throw new Error(problems.join('; '));
  } catch (e) {
    core.setFailed(errorMessage(e));
  } finally {
    summaryOnCancel();
    await report.write();
  }
}
