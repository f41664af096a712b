// How a step ends, the same for main and post: a failure fails the step and leads its summary,
// and the summary is written once, also on failure and on cancel.
import * as core from '@actions/core';
import { registerCleanup } from '../action/on-cancel.js';
import type { StepReport } from '../action/job-summary.js';
import { errorMessage } from '../common/errors.js';

/**
 * Runs a step's body. `cancelled`, when given, is the summary row a cancel adds before the
 * summary is written. The cleanup that writes it is registered before the body runs, so on
 * cancel it runs last (cleanups run newest first) and the summary shows what the body got to.
 */
export async function runStep(report: StepReport, cancelled: string | undefined, body: () => Promise<void>): Promise<void> {
  const summaryOnCancel = registerCleanup(() => {
    if (cancelled !== undefined) report.add('cancelled', cancelled);
    return report.write();
  });
  try {
    await body();
  } catch (e) {
    core.setFailed(errorMessage(e));
    report.fail(errorMessage(e));
  } finally {
    summaryOnCancel();
    await report.write();
  }
}
