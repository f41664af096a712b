// The store daemon is stopped across extraction and DB merge (it must not register, build into
// or garbage-collect the store while items and rows appear under it), and started again in
// every case: on success, on failure (finally) and on SIGTERM (a registered cleanup, which the
// entry point's signal handler runs). The restart is wrapped so it runs exactly once whichever
// path gets there first.
//
// A SIGKILL (or a crash of node itself) runs none of those. So while the daemon is stopped a
// root-owned marker in /run/runbox says so, with the pid and start time of the restore; post,
// and the next main on the host, start the daemon again when the marker's process is gone.
import crypto from 'node:crypto';
import path from 'node:path';
import * as core from '@actions/core';
import { registerCleanup } from '../action/on-cancel.js';
import { errorMessage } from '../common/errors.js';
import { run } from '../sys/exec.js';
import { procStat } from '../lock/keeper-client.js';
import { readRootRecord, rootFile, RUN_DIR } from '../lock/root-files.js';
import type { StepReport } from '../action/job-summary.js';
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
 * The marker for this daemon: per unit, or per start command (hashed: the same command from
 * another job finds the same marker; a command is never read back from a file).
 */
export function daemonMarkerPath(ctl: DaemonControl, dir = RUN_DIR): string | undefined {
  if (ctl.kind === 'none') return undefined;
  const name = ctl.kind === 'systemd' ? ctl.unit : `cmd-${crypto.createHash('sha256').update(ctl.start).digest('hex').slice(0, 16)}`;
  return path.join(dir, `daemon-stopped-${name}`);
}

interface Marker {
  pid: number;
  startTime: string;
  since: string;
}

function markerOf(raw: Record<string, unknown> | undefined): Marker | undefined {
  if (!raw || typeof raw.pid !== 'number' || typeof raw.startTime !== 'string' || typeof raw.since !== 'string') return undefined;
  return { pid: raw.pid, startTime: raw.startTime, since: raw.since };
}

/**
 * Post, and main before anything else touches the store: a marker whose restore is gone means
 * the daemon was left stopped by a killed restore. Start it, drop the marker, say so. A marker
 * whose process still runs is a restore in progress (another job's): left alone.
 */
export async function restartAbandonedDaemon(ctl: DaemonControl, report: StepReport, dir = RUN_DIR): Promise<void> {
  const file = daemonMarkerPath(ctl, dir);
  const ops = daemonOps(ctl);
  if (!file || !ops) return;
  let raw: Record<string, unknown> | undefined;
  try {
    raw = readRootRecord(file);
  } catch (e) {
    // No /run/runbox yet (ENOENT) means no restore ever stopped a daemon here.
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  if (raw === undefined) return;
  const m = markerOf(raw);
  if (m && procStat(m.pid)?.startTime === m.startTime) {
    core.info(`runbox store: the store daemon (${ops.describe}) is stopped by a restore still running (pid ${m.pid}, since ${m.since}); leaving it to that restore`);
    return;
  }
  const who = m ? `a restore (pid ${m.pid}, since ${m.since}) that was killed` : 'a restore that was killed';
  core.warning(`runbox store: the store daemon (${ops.describe}) was left stopped by ${who}; starting it again`);
  try {
    await ops.start();
  } catch (e) {
    throw new DaemonStartError(`the store daemon (${ops.describe}), left stopped by ${who}, could not be started again: ${errorMessage(e)}`);
  }
  await rootFile('remove', file);
  report.add('store daemon', `started again (${ops.describe}): it had been left stopped by ${who}`);
}

/**
 * Runs fn with the daemon stopped. The restart is registered before the stop is attempted (a
 * stop that fails half-way may still have stopped it). A failing restart is an error: a job
 * whose store daemon is down would fail later in a far more confusing way.
 */
export async function withDaemonStopped<T>(ctl: DaemonControl, fn: () => Promise<T>, markerDir = RUN_DIR): Promise<T> {
  const ops = daemonOps(ctl);
  if (!ops) return fn();
  const marker = daemonMarkerPath(ctl, markerDir) as string;
  let restart: Promise<void> | undefined;
  // Until the stop is attempted there is nothing to start again.
  let needed = false;
  // Removed only once the daemon runs again: a failed start leaves it for post or the next main.
  const dropMarker = (): Promise<void> => rootFile('remove', marker).catch((e: unknown) => core.warning(`runbox store: could not remove the daemon marker ${marker}: ${errorMessage(e)}`));
  const startOnce = (): Promise<void> => (restart ??= needed ? ops.start().then(dropMarker) : dropMarker());
  const unregister = registerCleanup(startOnce);
  let result: T;
  try {
    // Before the stop, which may stop it half-way and then fail.
    const self = procStat(process.pid);
    await rootFile('write', marker, JSON.stringify({ pid: process.pid, startTime: self?.startTime ?? '', since: new Date().toISOString(), describe: ops.describe }));
    core.info(`stopping the store daemon (${ops.describe})`);
    needed = true;
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
