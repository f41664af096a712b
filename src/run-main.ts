// The main step: validate everything, heal what a dead predecessor left, provision this run's
// dirs and mount sources, then (optionally) restore the store snapshot.
import * as core from '@actions/core';
import { parseFoundationConfig } from './config.js';
import { jobContext } from './context.js';
import { errorMessage } from './errors.js';
import { ensurePrivilege } from './exec.js';
import { actionInputs, type InputSource } from './input-source.js';
import { computeLayout } from './layout.js';
import { resolveOwner, runnerIds } from './owner.js';
import { provisionDirs, provisionMounts } from './provision.js';
import { reclaimPaths } from './reclaim.js';
import { registerCleanup } from './cleanup.js';
import { guardedDirs, handOver, lockDirs, releaseKeeper } from './liveness.js';
import { saveRunState, type RunState } from './state.js';
import { StepReport } from './summary.js';

export async function runMain(src: InputSource = actionInputs): Promise<void> {
  const report = new StepReport('runbox: main');
  try {
    // Everything that can be wrong with the inputs fails here, before any change on disk.
    const cfg = parseFoundationConfig(src);
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
      keep: cfg.keep
    };
    // Registered before the first change so post tears down whatever main got to.
    saveRunState(state);

    for (const r of await reclaimPaths(cfg.reclaim, runner))
      if (r.healed > 0) report.add('reclaimed', `${r.path}: ${r.healed} entries given back to ${runner.uid}:${runner.gid}`);

    // Locks first: nothing may reap or reuse a dir between its creation and its registration.
    const locks = await lockDirs(guardedDirs(layout, cfg.dirs), ctx, runner, cfg.lockTimeoutSec);
    try {
      state.dirs = await provisionDirs(layout, cfg.dirs, owner, runner);
      const keeperPid = await handOver(locks);
      if (keeperPid !== undefined) {
        state.keeper = { pid: keeperPid, locks: locks.map((l) => l.path) };
        // Cancelled later in main (e.g. mid-restore): free the dirs now, post still tears down.
        registerCleanup(() => releaseKeeper(keeperPid).then(() => undefined));
      }
    } finally {
      for (const l of locks) l.release();
    }
    saveRunState(state);
    for (const d of state.dirs) report.add(`dir ${d.name}`, `${d.path} (${d.scope}, owner ${owner.uid}:${owner.gid})`);

    for (const m of await provisionMounts(cfg.mounts, owner))
      report.add('mount source', `${m.path} ${m.created ? 'created' : `exists, ${m.chowned} entries chowned`} to ${owner.uid}:${owner.gid}`);

    core.setOutput('run-dir', state.runDir);
    core.setOutput('dirs', JSON.stringify(Object.fromEntries(state.dirs.map((d) => [d.name, d.path]))));
  } catch (e) {
    core.setFailed(errorMessage(e));
  } finally {
    await report.write();
  }
}
