// Work that must be undone even when the step is cancelled: a stopped daemon restarted, a
// half-made dir unregistered, a lock released. The runner sends SIGINT/SIGTERM on cancel and
// SIGKILL a few seconds later, so handlers run the registered cleanups promptly and exit.
import * as core from '@actions/core';
import { errorMessage } from '../common/errors.js';

type Cleanup = () => Promise<void> | void;

const cleanups: Cleanup[] = [];

/** Registers `fn` to run on termination; returns the function that unregisters it. */
export function registerCleanup(fn: Cleanup): () => void {
  cleanups.push(fn);
  return () => {
    const i = cleanups.indexOf(fn);
    if (i >= 0) cleanups.splice(i, 1);
  };
}

/** Runs the registered cleanups newest first; every one runs even if another fails. */
export async function runCleanups(): Promise<void> {
  while (cleanups.length > 0) {
    const fn = cleanups.pop() as Cleanup;
    try {
      await fn();
    } catch (e) {
      core.warning(`cleanup failed: ${errorMessage(e)}`);
    }
  }
}

let terminating = false;

/** True once a termination signal arrived: work in flight should stop, not start anything new. */
export function isTerminating(): boolean {
  return terminating;
}

export interface TerminationHooks {
  /** Runs first, before any cleanup: ends the step's child processes (sys/exec stopChildren). */
  stopWork?(): Promise<void>;
  /** Wraps the cleanups: what they start is allowed although the step is stopping (sys/exec asCleanup). */
  asCleanup?<T>(fn: () => T): T;
}

/**
 * On SIGINT/SIGTERM/SIGHUP: end the work in flight, run the cleanups, then exit non-zero (the
 * step was cancelled). Children first: a cleanup that frees a lock while an rm started under
 * it still runs would hand a half-deleted dir to the next run.
 */
export function exitOnTermination(step: string, hooks: TerminationHooks = {}): void {
  const onSignal = (signal: NodeJS.Signals): void => {
    if (terminating) return;
    terminating = true;
    core.warning(`runbox ${step}: received ${signal}, cleaning up before exit`);
    const stopWork = hooks.stopWork?.() ?? Promise.resolve();
    const cleanups = (): Promise<void> => (hooks.asCleanup ? hooks.asCleanup(runCleanups) : runCleanups());
    void stopWork
      .catch((e: unknown) => core.warning(`stopping child processes failed: ${errorMessage(e)}`))
      .then(cleanups)
      .finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(s, onSignal);
}
