// The `save` sub-action (save/action.yml): post's snapshot alone, at any point of a job (a
// mid-job save, or the end of a composite action). Under `key` (default: composed as main
// composes it); what a `restore` step of the same job did is read from its record under
// RUNNER_TEMP when it was about the same key (store/record.ts): an exact hit is not saved again,
// and a restored full snapshot is the base a delta may be saved over.
import fs from 'node:fs';
import * as core from '@actions/core';
import { actionInputs, type InputSource } from '../action/input-source.js';
import { StepReport } from '../action/job-summary.js';
import { runStep } from './run-step.js';
import { initialState, readRestoreRecord, saveStore } from '../store/index.js';
import { restartAbandonedDaemon } from '../store/daemon.js';
import { resolveKeys } from '../store/key.js';
import { subActionConfig } from './restore-step.js';

export async function runSave(src: InputSource = actionInputs): Promise<void> {
  const report = new StepReport('runbox: save');
  await runStep(report, 'the save was stopped by a signal (the job was cancelled)', async () => {
    const cfg = subActionConfig(src, 'save');
    await restartAbandonedDaemon(cfg.daemon, report);
    const keys = await resolveKeys(cfg);
    core.setOutput('cache-primary-key', keys.primary);
    const restored = readRestoreRecord(cfg);
    const same = restored?.primaryKey === keys.primary ? restored : undefined;
    if (restored && !same) core.info(`the restore step of this job was about ${restored.primaryKey}, not ${keys.primary}: saving as if nothing was restored`);
    if (same?.exactHit) {
      report.add(
        'store snapshot',
        `not saved: ${keys.primary} is in the cache already (the restore step ${same.matchedKey ? 'restored it exactly' : 'found it'}), and the cache service keeps the first entry under a key`
      );
      return;
    }
    const state = initialState(cfg, keys);
    // The sub-action saves whenever it runs (as actions/cache/save does); `save` is main's input.
    state.save = 'always';
    if (same) {
      state.matchedKey = same.matchedKey;
      // A base list removed by an earlier save of this job (saveStore drops it) is no base: a full snapshot.
      if (same.base && fs.existsSync(same.base.file)) state.base = same.base;
    }
    await saveStore(state, report);
  });
}
