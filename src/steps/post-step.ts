// The post step (runs always, also after failure and cancel): give reclaim paths back to the
// runner user and remove this run's dirs.
import * as core from '@actions/core';
import { errorMessage, InputError } from '../common/errors.js';
import { reclaimPaths } from '../dirs/reclaim.js';
import { forgetRunLock, keepLockedForLeftovers, keeperRunning, type LockAccount, lockPathOf, releaseKeeper, RUN_TEARDOWN_WAIT_SEC, settleLocks } from '../dirs/liveness.js';
import { DEFAULT_RELEASE_TIMEOUT_SEC } from '../dirs/dirs-config.js';
import { settleLeftovers } from '../dirs/leftovers.js';
import { parseStoreConfig, purgeAfterSave, saveStore, storeStateFrom } from '../store/index.js';
import { restartAbandonedDaemon } from '../store/daemon.js';
import { actionInputs } from '../action/input-source.js';
import { loadRunState } from '../action/step-state.js';
import { formatBytes, StepReport } from '../action/job-summary.js';
import { removeRunDir, removeRunDirLocked } from '../dirs/teardown.js';
import { runStep } from './run-step.js';

export async function runPost(): Promise<void> {
  const report = new StepReport('runbox: post');
  let daemonProblem: string | undefined;
  await runStep(report, undefined, async () => {
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
      report.add('nothing to tear down', 'main stopped before it provisioned anything (its error, if it failed, is in the main step)');
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
    if (state.store) {
      const store = storeStateFrom(state.store);
      const saved = await saveStore(store, report);
      // Purge (off by default): superseded snapshots of this store, after the save, never failing the job.
      await purgeAfterSave(store, saved, report);
    }

    await attempt('reclaim', async () => {
      for (const r of await reclaimPaths(state.reclaim, state.runnerOwner))
        if (r.healed > 0) report.add('reclaimed', `${r.path}: ${r.healed} entries given back to ${state.runnerOwner.uid}:${state.runnerOwner.gid}`);
    });

    // Before anything is removed or released: a container of this job may still be writing.
    let inUse = false;
    await attempt('leftovers', async () => {
      const guarded = [...(state.runDir ? [state.runDir] : []), ...state.dirs.filter((d) => d.scope === 'pr').map((d) => d.path)];
      const release = state.release ?? { timeoutSec: DEFAULT_RELEASE_TIMEOUT_SEC, leftovers: 'kill' };
      const { remaining } = await settleLeftovers(guarded, { timeoutSec: release.timeoutSec, mode: release.leftovers }, report);
      inUse = remaining.length > 0;
    });

    // Whether the keeper is still there decides who guards the run dir while post removes it.
    const keeperUp = keeperRunning(state.keeper?.pid);
    const locks = state.keeper?.locks ?? state.held?.locks ?? [];
    // No keeper to stop: what became of each lock, from the holder records (before teardown,
    // which removes the run dir's), taking none that is free: a second post, or a next run
    // about to take it, must not find it grabbed.
    let accounts: LockAccount[] = [];
    if (!keeperUp) await attempt('release locks', async () => void (accounts = await settleLocks(locks, state.held?.token)));
    if (state.keep || (inUse && state.runDir)) {
      if (state.runDir)
        report.add('kept', inUse ? `${state.runDir} (still in use; the janitor reaps it once nothing uses it)` : `${state.runDir} (keep: true, or warm: the next run of this ref may clone it)`);
    } else if (state.runDir) {
      await attempt('teardown', async () => {
        if (keeperUp) {
          const removed = await removeRunDir(state.runDir, state.baseDir);
          if (removed) report.add('removed', `${removed.path} (${formatBytes(removed.bytes)})`);
          return;
        }
        const t = await removeRunDirLocked(state.runDir, state.baseDir, lockPathOf(state.runDir), RUN_TEARDOWN_WAIT_SEC);
        if ('removed' in t) report.add('removed', `${t.removed.path} (${formatBytes(t.removed.bytes)})`);
        // Gone and never made (main stopped before it provisioned any dir) is nothing to report.
        else if ('gone' in t) {
          if (state.dirs.length > 0) report.add('already removed', `${state.runDir} (reaped by a janitor after main let go of it)`);
        } else report.add('left', `${state.runDir}: its lock is ${t.leftTo}; whoever holds it removes it`);
      });
    }
    // After teardown: the dirs stayed locked while they were being removed.
    await attempt('release locks', async () => {
      if (inUse) {
        if (keeperUp && (await keepLockedForLeftovers(state.keeper?.pid)) === 'lingering') {
          report.add('locks kept', `${locks.length}, held until nothing uses the dirs`);
          return;
        }
        core.warning('runbox post: the keeper had already exited, so the dirs are not locked while they are in use; the next run and the janitor still wait for their users');
      }
      const stopped = keeperUp ? await releaseKeeper(state.keeper?.pid) : 'gone';
      if (stopped === 'stopped') report.add('locks released', `${locks.length} (keeper stopped)`);
      else {
        const died = accounts.filter((a) => a.state === 'keeper-died');
        if (died.length > 0) {
          const who = state.keeper ? `this job's keeper (pid ${state.keeper.pid}) had died before post (killed on its own?)` : 'main ended before it handed its locks to a keeper';
          const msg = `${who}; the dirs stayed reserved for this job while its runner ran, and post released them now: ${died.map((a) => a.path).join(', ')}`;
          core.warning(`runbox post: ${msg}`);
          report.add('keeper died', msg);
        }
        const released = accounts.filter((a) => a.state === 'released').length;
        if (released > 0) report.add('locks released', `${released} (already let go: main was cancelled, or an earlier post)`);
        for (const a of accounts)
          if (a.state === 'taken') report.add('lock moved on', `${a.path}: let go earlier, now ${a.by}`);
          else if (a.state === 'unknown') report.add('lock', `${a.path}: no holder record to read; nothing taken`);
      }
      if (state.runDir && !state.keep) await forgetRunLock(state.runDir);
    });

    // Main failed after saving its state but before it made anything: say so, rather than a
    // bare "Nothing to do." under a failed main.
    if (report.entries.length === 0 && state.dirs.length === 0 && !state.keeper && !state.store)
      report.add('nothing to tear down', 'main stopped before it provisioned any dir (its error, if it failed, is in the main step)');
    if (problems.length > 0) throw new Error(problems.join('; '));
  });
}
