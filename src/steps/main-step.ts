// The main step: validate everything, heal what a dead predecessor left, provision this run's
// dirs and mount sources, then (optionally) restore the store snapshot.
import * as core from '@actions/core';
import fs from 'node:fs';
import { checkStoreHostPaths, parseFoundationConfig } from '../dirs/dirs-config.js';
import { jobContext } from '../action/job-context.js';
import { errorMessage } from '../common/errors.js';
import { ensurePrivilege } from '../sys/exec.js';
import { actionInputs, type InputSource } from '../action/input-source.js';
import { computeLayout } from '../dirs/layout.js';
import { resolveOwner, runnerIds } from '../sys/users.js';
import { provisionDirs, provisionMounts } from '../dirs/provision.js';
import { reclaimPaths } from '../dirs/reclaim.js';
import { registerCleanup } from '../action/on-cancel.js';
import { setRestoreLockTimeout } from '../lock/restore-lock.js';
import { guardedDirs, handOver, lockDirs, releaseKeeper, releaseMarked } from '../dirs/liveness.js';
import { guardDisk, describeLimit, describeUsage } from '../reap/disk-guard.js';
import { parseReapConfig, type ReapConfig } from '../reap/reap-config.js';
import { runJanitor } from '../reap/janitor.js';
import { parseStoreConfig, restoreStore, StoreMissError } from '../store/index.js';
import { restartAbandonedDaemon } from '../store/daemon.js';
import { parseWarm, warmRunDirs } from '../dirs/warm.js';
import { saveRunState, type RunState } from '../action/step-state.js';
import { formatBytes, StepReport } from '../action/job-summary.js';

/** The janitor, then the disk guard: only dirs whose lock is free, never this run's own. */
async function sweep(baseDir: string, reap: ReapConfig, ours: string[], report: StepReport): Promise<void> {
  const j = await runJanitor(baseDir, reap, { exclude: ours });
  if (j.reaped.length > 0) report.add('reaped', `${j.reaped.length} dead dir(s), ${formatBytes(j.bytes)} freed: ${j.reaped.map((r) => r.path).join(', ')}`);
  if (!reap.diskLimit) return;
  const g = await guardDisk(baseDir, reap.diskLimit, { exclude: ours });
  const limit = describeLimit(reap.diskLimit);
  if (g.pruned.length > 0) report.add('disk guard', `pruned ${g.pruned.length} dir(s), ${formatBytes(g.bytes)} freed: ${g.pruned.map((r) => r.path).join(', ')}`);
  if (g.stillOverBy !== undefined && g.stillOverBy > 0) {
    const msg = `${baseDir} is still ${formatBytes(g.stillOverBy)} beyond disk-limit ${limit} (${describeUsage(g.after)}); nothing else under base-dir is prunable`;
    core.warning(`runbox disk guard: ${msg}`);
    report.add('disk guard', msg);
  } else if (g.pruned.length > 0) report.add('disk guard', `now within ${limit} (${describeUsage(g.after)})`);
}

export async function runMain(src: InputSource = actionInputs): Promise<void> {
  const report = new StepReport('runbox: main');
  // Registered first, so on cancel it runs last: the summary then shows what main got to.
  const summaryOnCancel = registerCleanup(() => {
    report.add('cancelled', 'main was stopped by a signal (the job was cancelled); post tears down what main made');
    return report.write();
  });
  try {
    // Everything that can be wrong with the inputs fails here, before any change on disk.
    const cfg = parseFoundationConfig(src);
    const reap = parseReapConfig(src);
    const storeCfg = parseStoreConfig(src);
    if (storeCfg) checkStoreHostPaths(storeCfg);
    setRestoreLockTimeout(cfg.lockTimeoutSec);
    const warm = parseWarm(src);
    const ctx = jobContext();
    const layout = computeLayout(cfg.baseDir, ctx, cfg.id);
    const owner = await resolveOwner(cfg.ownerSpec);
    const runner = runnerIds();
    if (owner.uid !== runner.uid || owner.gid !== runner.gid) await ensurePrivilege(`give dirs and mount sources to owner ${owner.uid}:${owner.gid}`);

    const state: RunState = {
      version: 1,
      baseDir: cfg.baseDir,
      runDir: cfg.dirs.some((d) => d.scope === 'run') ? layout.runDir : '',
      dirs: [],
      owner,
      runnerOwner: runner,
      reclaim: cfg.reclaim,
      // A warm run leaves its dirs for the next run of the ref to clone; the janitor reaps them.
      keep: cfg.keep || warm !== 'off'
    };
    // Registered before the first change so post tears down whatever main got to.
    saveRunState(state);

    // A restore killed with the store daemon stopped (here or by another job on this host).
    if (storeCfg) await restartAbandonedDaemon(storeCfg.daemon, report);

    for (const r of await reclaimPaths(cfg.reclaim, runner))
      if (r.healed > 0) report.add('reclaimed', `${r.path}: ${r.healed} entries given back to ${runner.uid}:${runner.gid}`);

    const ours = guardedDirs(layout, cfg.dirs);
    if (fs.existsSync(cfg.baseDir)) await sweep(cfg.baseDir, reap, ours, report);

    // Locks first: nothing may reap or reuse a dir between its creation and its registration.
    const { locks, token } = await lockDirs(ours, ctx, runner, cfg.lockTimeoutSec);
    state.held = { token, locks: locks.map((l) => l.path) };
    saveRunState(state);
    // Until the keeper has them: a cancel lets go of them on purpose (see releaseMarked).
    const letGoOnCancel = registerCleanup(() => locks.forEach(releaseMarked));
    let keeperPid: number | undefined;
    try {
      state.dirs = await provisionDirs(layout, cfg.dirs, owner, runner);
      // Before the hand-over: a dir being warmed is still under this process's lock.
      await warmRunDirs(warm, layout, state.dirs, owner, report);
      keeperPid = await handOver(locks);
      if (keeperPid !== undefined) {
        state.keeper = { pid: keeperPid, locks: locks.map((l) => l.path) };
        const pid = keeperPid;
        // Cancelled later in main (e.g. mid-restore): free the dirs now, post still tears down.
        registerCleanup(() => releaseKeeper(pid).then(() => undefined));
      }
    } finally {
      letGoOnCancel();
      // Without a keeper (main failed before the hand-over) the job lets go of its dirs here.
      for (const l of locks) if (keeperPid === undefined) releaseMarked(l);
      else l.release();
    }
    saveRunState(state);
    for (const d of state.dirs) report.add(`dir ${d.name}`, `${d.path} (${d.scope}, owner ${owner.uid}:${owner.gid})`);

    for (const m of await provisionMounts(cfg.mounts, owner))
      report.add('mount source', `${m.path} ${m.created ? 'created' : `exists, ${m.chowned} entries chowned`} to ${owner.uid}:${owner.gid}`);

    core.setOutput('run-dir', state.runDir);
    core.setOutput('dirs', JSON.stringify(Object.fromEntries(state.dirs.map((d) => [d.name, d.path]))));

    if (storeCfg) {
      try {
        state.store = await restoreStore(storeCfg, report);
      } catch (e) {
        // fail-on-cache-miss still leaves post the state it needs to save a snapshot.
        if (e instanceof StoreMissError) state.store = e.state;
        throw e;
      } finally {
        saveRunState(state);
      }
    }
  } catch (e) {
    core.setFailed(errorMessage(e));
  } finally {
    summaryOnCancel();
    await report.write();
  }
}
