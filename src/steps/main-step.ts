// The main step: validate everything, heal what a dead predecessor left, provision this run's
// dirs and mount sources, then (optionally) restore the store snapshot.
import * as core from '@actions/core';
import fs from 'node:fs';
import path from 'node:path';
import { checkStoreHostPaths, parseFoundationConfig } from '../dirs/dirs-config.js';
import { jobContext } from '../action/job-context.js';
import { errorMessage } from '../common/errors.js';
import { ensurePrivilege } from '../sys/exec.js';
import { actionInputs, type InputSource } from '../action/input-source.js';
import { checkUnknownInputs, declaredInputs } from '../action/known-inputs.js';
import { isUnder } from '../sys/path-safety.js';
import { computeLayout } from '../dirs/layout.js';
import { resolveOwner, runnerIds, type Ids } from '../sys/users.js';
import { provisionDirs, provisionMounts } from '../dirs/provision.js';
import { reclaimPaths } from '../dirs/reclaim.js';
import { registerCleanup } from '../action/on-cancel.js';
import { setRestoreLockTimeout } from '../lock/restore-lock.js';
import { holdMountSources } from '../lock/mount-holds.js';
import type { HeldLock } from '../lock/flock.js';
import type { JobContext } from '../action/job-context.js';
import { guardedDirs, handOver, lockDirs, releaseKeeper, releaseMarked, type LockWait } from '../dirs/liveness.js';
import { guardDisk, describeLimit, describeUsage } from '../reap/disk-guard.js';
import { parseReapConfig, type ReapConfig } from '../reap/reap-config.js';
import { runJanitor } from '../reap/janitor.js';
import { parsePurgeConfig, parseStoreConfig, restoreStore, StoreMissError, type StoreConfig, type StoreOutputs } from '../store/index.js';
import { PRESETS } from '../store/presets.js';
import { restartAbandonedDaemon } from '../store/daemon.js';
import { parseWarm, warmRunDirs } from '../dirs/warm.js';
import { saveRunState, type RunState } from '../action/step-state.js';
import { formatBytes, StepReport } from '../action/job-summary.js';
import { runStep } from './run-step.js';

/** The janitor, then the disk guard: only dirs whose lock is free, never this run's own. */
async function sweep(baseDir: string, reap: ReapConfig, ours: string[], report: StepReport): Promise<void> {
  const j = await runJanitor(baseDir, reap, { exclude: ours });
  if (j.reaped.length > 0) report.add('reaped', `${j.reaped.length} dead dir(s), ${formatBytes(j.bytes)} freed: ${j.reaped.map((r) => r.path).join(', ')}`);
  if (!reap.diskLimit) return;
  const g = await guardDisk(baseDir, reap.diskLimit, { exclude: ours });
  const limit = describeLimit(reap.diskLimit);
  if (g.pruned.length > 0) report.add('disk guard', `pruned ${g.pruned.length} dir(s), ${formatBytes(g.bytes)} freed: ${g.pruned.map((r) => r.path).join(', ')}`);
  if (g.stillOverBy !== undefined && g.stillOverBy > 0) {
    // Who holds the space is what an admin needs next: those runs, or space outside base-dir.
    const live = g.live.map((l) => `${l.path}${l.holder ? ` (${l.holder})` : ''}`);
    const msg =
      `${baseDir} is still ${formatBytes(g.stillOverBy)} beyond disk-limit ${limit} (${describeUsage(g.after)}); nothing else under base-dir is prunable` +
      `; dirs held by live runs: ${live.join(', ') || 'none'}`;
    core.warning(`runbox disk guard: ${msg}`);
    report.add('disk guard', msg);
  } else if (g.pruned.length > 0) report.add('disk guard', `now within ${limit} (${describeUsage(g.after)})`);
}

/** restoreStore calls it as soon as the key is known, so the outputs exist whatever fails later, and again with what it restored. */
export function setStoreOutputs(o: StoreOutputs): void {
  core.setOutput('cache-primary-key', o.primaryKey);
  core.setOutput('cache-matched-key', o.matchedKey);
  core.setOutput('cache-hit', o.exactHit ? 'true' : 'false');
  if (o.matchedKeys) core.setOutput('matched-keys', JSON.stringify(o.matchedKeys));
}

/**
 * Holds the mount sources for the job (shared with jobs of the same owner), so that no job with
 * another owner chowns them under this job's containers. The holds are root's files: a runner
 * without root rights goes on without them, as before, and says so.
 */
async function holdMounts(mounts: string[], owner: Ids, timeoutSec: number, ctx: JobContext): Promise<HeldLock[]> {
  if (mounts.length === 0) return [];
  try {
    await ensurePrivilege('hold mount sources for the job');
  } catch (e) {
    core.warning(`runbox: mount sources are not held for this job, so a job with another owner may chown them meanwhile: ${errorMessage(e)}`);
    return [];
  }
  return holdMountSources(mounts, owner, timeoutSec, { runId: ctx.runId, runner: ctx.runnerName, job: ctx.job });
}

/**
 * A DB dir left out of `store-paths`: restored items are never registered, and the daemon treats
 * them as invalid. Said at main, before anything is restored.
 */
export function warnAboutDbDir(cfg: StoreConfig): void {
  const preset = PRESETS[cfg.kind];
  if (!cfg.dbDir)
    core.warning(
      `runbox store: 'store-paths' leaves out the ${cfg.kind} DB dir ${preset.dbDir}: items a restore adds are not registered, and the daemon treats them as invalid. Add ${preset.dbDir} to 'store-paths'`
    );
}

/**
 * After a miss, store paths that still do not exist mean post has nothing to save: no Guix or
 * Nix on this host, or a wrong `store-paths`. (A fresh host that restores its first store has
 * none either, so this waits for the restore.) Said at main rather than as post's warning.
 */
export function warnAboutMissingStore(cfg: StoreConfig, src: InputSource): void {
  const missing = cfg.storePaths.filter((p) => !fs.existsSync(path.join(cfg.root, p)));
  if (missing.length === 0) return;
  core.warning(
    `runbox store: ${missing.join(', ')} ${missing.length > 1 ? 'do' : 'does'} not exist on this host and nothing was restored into ${missing.length > 1 ? 'them' : 'it'}: unless a later step of this job installs ${cfg.kind === 'guix' ? 'Guix' : 'Nix'}, post will have nothing to save` +
      (src.lines('store-paths').length > 0 ? `; check 'store-paths'` : ` (is ${cfg.kind === 'guix' ? 'Guix' : 'Nix'} installed on the runner host?); install it, or remove 'store: ${cfg.kind}'`)
  );
}

export async function runMain(src: InputSource = actionInputs): Promise<void> {
  const report = new StepReport('runbox: main');
  await runStep(report, 'main was stopped by a signal (the job was cancelled); post tears down what main made', async () => {
    // Everything that can be wrong with the inputs fails here, before any change on disk.
    if (src === actionInputs) {
      const declared = declaredInputs();
      if (declared) checkUnknownInputs(declared);
    }
    const cfg = parseFoundationConfig(src);
    const reap = parseReapConfig(src);
    const storeCfg = parseStoreConfig(src);
    // Purge runs in post; its inputs (and the token) are checked here, before anything happens.
    parsePurgeConfig(src, storeCfg);
    if (storeCfg) {
      checkStoreHostPaths(storeCfg);
      warnAboutDbDir(storeCfg);
    }
    setRestoreLockTimeout(cfg.lockTimeoutSec);
    const warm = parseWarm(src);
    const ctx = jobContext();
    if (cfg.dirs.some((d) => d.scope === 'pr') && (cfg.baseDir === ctx.runnerTemp || isUnder(cfg.baseDir, ctx.runnerTemp)))
      core.warning(
        `runbox: base-dir ${cfg.baseDir} is inside RUNNER_TEMP, which the runner wipes after every job, so the pr dirs (${cfg.dirs
          .filter((d) => d.scope === 'pr')
          .map((d) => d.name)
          .join(', ')}) start cold every time. Set base-dir to one shared path such as /srv/runbox`
      );
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
      keep: cfg.keep || warm !== 'off',
      release: { timeoutSec: cfg.releaseTimeoutSec, leftovers: cfg.leftovers }
    };
    // Registered before the first change so post tears down whatever main got to.
    saveRunState(state);

    // A restore killed with the store daemon stopped (here or by another job on this host).
    if (storeCfg) await restartAbandonedDaemon(storeCfg.daemon, report);

    for (const r of await reclaimPaths(cfg.reclaim, runner)) if (r.healed > 0) report.add('reclaimed', `${r.path}: ${r.healed} entries given back to ${runner.uid}:${runner.gid}`);

    const ours = guardedDirs(layout, cfg.dirs);
    if (fs.existsSync(cfg.baseDir)) await sweep(cfg.baseDir, reap, ours, report);

    // Locks first: nothing may reap or reuse a dir between its creation and its registration.
    const waits: LockWait[] = [];
    const { locks, token } = await lockDirs(ours, ctx, runner, cfg.lockTimeoutSec, waits);
    for (const w of waits) report.add('waited', `${Math.round(w.waitedSec)} s for ${w.dir}${w.holder ? `, held by ${w.holder}` : ''}`);
    state.held = { token, locks: locks.map((l) => l.path) };
    saveRunState(state);
    // Until the keeper has them: a cancel lets go of them on purpose (see releaseMarked).
    const letGoOnCancel = registerCleanup(() => locks.forEach(releaseMarked));
    let keeperPid: number | undefined;
    try {
      // After the dir locks, in every job: a fixed order, so no two jobs wait for each other in a circle.
      locks.push(...(await holdMounts(cfg.mounts, owner, cfg.lockTimeoutSec, ctx)));
      state.dirs = await provisionDirs(layout, cfg.dirs, owner, runner);
      for (const spec of cfg.dirs) {
        const made = state.dirs.find((d) => d.name === spec.name);
        if (spec.envVar && made) core.exportVariable(spec.envVar, made.path);
      }
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
      for (const l of locks)
        if (keeperPid === undefined) releaseMarked(l);
        else l.release();
    }
    saveRunState(state);
    for (const d of state.dirs) report.add(`dir ${d.name}`, `${d.path} (${d.scope}, owner ${owner.uid}:${owner.gid})`);

    for (const m of await provisionMounts(cfg.mounts, owner)) report.add('mount source', `${m.path} ${m.created ? 'created' : `exists, ${m.chowned} entries chowned`} to ${owner.uid}:${owner.gid}`);

    core.setOutput('run-dir', state.runDir);
    core.setOutput('dirs', JSON.stringify(Object.fromEntries(state.dirs.map((d) => [d.name, d.path]))));

    if (storeCfg) {
      try {
        state.store = await restoreStore(storeCfg, report, setStoreOutputs);
        if (!state.store.matchedKey && !storeCfg.lookupOnly) warnAboutMissingStore(storeCfg, src);
      } catch (e) {
        // fail-on-cache-miss still leaves post the state it needs to save a snapshot.
        if (e instanceof StoreMissError) state.store = e.state;
        throw e;
      } finally {
        saveRunState(state);
      }
    }
  });
}
