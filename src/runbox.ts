// The one bundle of the action's four steps (dist/runbox.js): main and post, and the sub-actions'
// restore and save, share nearly all their code, so ncc builds it once instead of four times.
// dist/main.js, dist/post.js, dist/restore.js and dist/save.js, the files the runner runs, are
// stubs that call runStep (written by scripts/flatten-dist.mjs). The keeper is its own bundle.
import { exitOnTermination } from './action/on-cancel.js';
import { asCleanup, stopChildren } from './sys/exec.js';
import { stopLauncher } from './sys/launch.js';
import { runMain } from './steps/main-step.js';
import { runPost } from './steps/post-step.js';
import { runRestore } from './steps/restore-step.js';
import { runSave } from './steps/save-step.js';

const STEPS = { main: runMain, post: runPost, restore: runRestore, save: runSave } as const;

export type StepName = keyof typeof STEPS;

/** Runs one step in this process: signal handling first, then the step's orchestration. */
export async function runStep(step: StepName): Promise<void> {
  exitOnTermination(step, { stopWork: () => stopChildren(), asCleanup });
  try {
    await STEPS[step]();
  } finally {
    await stopLauncher();
  }
}
