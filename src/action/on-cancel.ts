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

/** On SIGINT/SIGTERM/SIGHUP: run the cleanups, then exit non-zero (the step was cancelled). */
export function exitOnTermination(step: string): void {
  const onSignal = (signal: NodeJS.Signals): void => {
    if (terminating) return;
    terminating = true;
    core.warning(`runbox ${step}: received ${signal}, cleaning up before exit`);
    void runCleanups().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(s, onSignal);
}
