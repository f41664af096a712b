// The `restore` sub-action (restore/action.yml): the store part of main alone, for composite
// actions and jobs that restore and save in steps of their own. Same inputs and code as main's
// restore; what it did goes to a record under RUNNER_TEMP for the `save` sub-action (store/record.ts),
// since the steps of a composite share no state. No dirs, locks or post.
import { InputError } from '../common/errors.js';
import { actionInputs, type InputSource } from '../action/input-source.js';
import { checkUnknownInputs, declaredInputs } from '../action/known-inputs.js';
import { StepReport } from '../action/job-summary.js';
import { runStep } from './run-step.js';
import { checkStoreHostPaths, parseLockTimeout } from '../dirs/dirs-config.js';
import { setRestoreLockTimeout } from '../lock/restore-lock.js';
import { parseStoreConfig, restoreStore, StoreMissError, writeRestoreRecord, type StoreConfig, type StoreState } from '../store/index.js';
import { restartAbandonedDaemon } from '../store/daemon.js';
import { setStoreOutputs, warnAboutDbDir, warnAboutMissingStore } from './store-outputs.js';

/** The store inputs of a sub-action, checked before anything happens; `store` is required there. */
export function subActionConfig(src: InputSource, subAction: 'restore' | 'save'): StoreConfig {
  if (src === actionInputs) {
    const declared = declaredInputs(process.argv[1], subAction);
    if (declared) checkUnknownInputs(declared);
  }
  const cfg = parseStoreConfig(src);
  if (!cfg) throw new InputError('store', `it is empty, and the ${subAction} sub-action is only about a store snapshot`, "Set 'store' to 'guix' or 'nix'");
  setRestoreLockTimeout(parseLockTimeout(src));
  checkStoreHostPaths(cfg);
  return cfg;
}

export async function runRestore(src: InputSource = actionInputs): Promise<void> {
  const report = new StepReport('runbox: restore');
  await runStep(report, 'the restore was stopped by a signal (the job was cancelled)', async () => {
    const cfg = subActionConfig(src, 'restore');
    warnAboutDbDir(cfg);
    await restartAbandonedDaemon(cfg.daemon, report);
    let state: StoreState | undefined;
    try {
      state = await restoreStore(cfg, report, setStoreOutputs);
      if (!state.matchedKey && !cfg.lookupOnly) warnAboutMissingStore(cfg, src);
    } catch (e) {
      // fail-on-cache-miss: a later save step still learns that nothing was restored.
      if (e instanceof StoreMissError) state = e.state;
      throw e;
    } finally {
      if (state) writeRestoreRecord(cfg, state);
    }
  });
}
