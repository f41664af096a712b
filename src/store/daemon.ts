// The store daemon is stopped across extraction and DB merge (it must not register, build into
// or garbage-collect the store while items and rows appear under it), and started again in
// every case: on success, on failure (finally) and on SIGTERM (a registered cleanup, which the
// entry point's signal handler runs). The restart is wrapped so it runs exactly once whichever
// path gets there first.
import * as core from '@actions/core';
import { registerCleanup } from '../cleanup.js';
import { errorMessage } from '../errors.js';
import { run } from '../exec.js';
import type { DaemonControl } from './config.js';

/** The daemon is down and could not be brought back: the job must fail, not warn. */
export class DaemonStartError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DaemonStartError';
  }
}

export interface DaemonOps {
  /** Stops the daemon; resolves to false when there was nothing to stop (so nothing to start). */
  stop(): Promise<boolean>;
  start(): Promise<void>;
  describe: string;
}

// User commands get root rights like the systemd calls they replace: stopping a root daemon
// needs them, and a command that uses sudo itself still works as root.
function shell(cmd: string): Promise<unknown> {
  return run('sh', ['-c', cmd], { privileged: true });
}

export function daemonOps(ctl: DaemonControl): DaemonOps | undefined {
  switch (ctl.kind) {
    case 'none':
      return undefined;
    case 'commands':
      return {
        describe: `daemon-stop/daemon-start commands`,
        stop: async () => {
          await shell(ctl.stop);
          return true;
        },
        start: async () => {
          await shell(ctl.start);
        }
      };
    case 'systemd':
      return {
        describe: `systemd unit ${ctl.unit}`,
        stop: async () => {
          let active;
          try {
            active = await run('systemctl', ['is-active', '--quiet', ctl.unit], { allowFailure: true });
          } catch (e) {
            if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
            core.warning(
              `runbox store: systemctl not found, so the daemon (${ctl.unit}) is not stopped during the restore. ` +
                "Set 'daemon-stop' and 'daemon-start' for hosts without systemd, or 'daemon: none'."
            );
            return false;
          }
          if (active.code !== 0) {
            core.info(`${ctl.unit} is not running; nothing to stop or start`);
            return false;
          }
          await run('systemctl', ['stop', ctl.unit], { privileged: true });
          return true;
        },
        start: async () => {
          await run('systemctl', ['start', ctl.unit], { privileged: true });
        }
      };
  }
}

/**
 * Runs fn with the daemon stopped. The restart is registered before the stop is attempted (a
 * stop that fails half-way may still have stopped it). A failing restart is an error: a job
 * whose store daemon is down would fail later in a far more confusing way.
 */
export async function withDaemonStopped<T>(ctl: DaemonControl, fn: () => Promise<T>): Promise<T> {
  const ops = daemonOps(ctl);
  if (!ops) return fn();
  let restart: Promise<void> | undefined;
  let needed = true;
  const startOnce = (): Promise<void> => (restart ??= needed ? ops.start() : Promise.resolve());
  const unregister = registerCleanup(startOnce);
  let result: T;
  try {
    core.info(`stopping the store daemon (${ops.describe})`);
    needed = await ops.stop();
    result = await fn();
  } catch (e) {
    try {
      await startOnce();
    } catch (startError) {
      throw new DaemonStartError(`the store daemon could not be started again: ${errorMessage(startError)} (after: ${errorMessage(e)})`);
    } finally {
      unregister();
    }
    throw e;
  }
  if (needed) core.info(`starting the store daemon (${ops.describe})`);
  try {
    await startOnce();
  } catch (e) {
    throw new DaemonStartError(`the store daemon could not be started again: ${errorMessage(e)}`);
  } finally {
    // Only now: a SIGTERM during the start makes the cleanups await this same start.
    unregister();
  }
  return result;
}
