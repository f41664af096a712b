// Hands held locks to a detached runbox-keeper (src/keeper.ts) so they outlive the main step's
// node process, and stops that keeper again in post.
//
// The keeper inherits our lock fds as its fds 3..N. Each inherited fd refers to the same open
// file description as ours, and flock(2) locks belong to the description, so after the handover
// the keeper alone keeps the locks held, for as long as it lives.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { errnoOf, isErrno } from '../sys/errno.js';
import { startProcess } from '../sys/exec.js';
import { procStat } from '../sys/proc-stat.js';
import type { HeldLock, LockHolder } from './flock.js';

export interface StartKeeperOptions {
  /** The process whose death frees the locks: the runner worker, i.e. main's process.ppid. */
  watchPid: number;
  /** Defaults to keeper.js next to the running bundle (dist/runbox.js, dist/keeper.js). */
  keeperScript?: string;
  /** How long the keeper may take to report ready. */
  readyTimeoutMs?: number;
}

/**
 * Starts a keeper holding `locks` and, once it reports ready, closes our own fds: from then on
 * the keeper owns the locks and `locks` must not be used any more (write holder info first).
 * If the keeper fails to start, our fds stay open and the caller still holds the locks.
 */
export async function startKeeper(locks: readonly HeldLock[], opts: StartKeeperOptions): Promise<{ pid: number }> {
  if (locks.length === 0) throw new Error('startKeeper: no locks to keep');
  const script = opts.keeperScript ?? keeperScript();
  const childFds = locks.map((_, i) => 3 + i);
  const readyFd = 3 + locks.length;
  const args = ['--watch-pid', String(opts.watchPid), '--fds', childFds.join(','), '--ready-fd', String(readyFd)];
  const { child } = startProcess(process.execPath, [script, ...args], {
    // Own session: not killed with main's process group, and no controlling terminal.
    detached: true,
    cwd: '/',
    // A long-lived process gets no more than it needs: not the step's INPUT_* values (which may be
    // secrets). RUNNER_TRACKING_ID lets the runner's end-of-job orphan cleanup kill a leftover keeper.
    env: keeperEnv(),
    // No stdio: holding the runner's pipes open would keep the step's log stream from ending.
    stdio: ['ignore', 'ignore', 'ignore'],
    extraFds: [...locks.map((l) => l.fd), 'pipe']
  });
  const ready = child.stdio[readyFd] as Readable;
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`runbox-keeper (${script}) did not report ready within ${opts.readyTimeoutMs ?? 10000} ms`));
      }, opts.readyTimeoutMs ?? 10000);
      const fail = (e: Error) => {
        clearTimeout(timer);
        reject(e);
      };
      ready.once('data', () => {
        clearTimeout(timer);
        resolve();
      });
      child.once('error', (e) => fail(new Error(`cannot start runbox-keeper (${script}): ${e.message}`)));
      child.once('exit', (code, signal) => fail(new Error(`runbox-keeper (${script}) exited (${signal ?? `code ${code}`}) before it was ready${exitHint(code)}`)));
    });
  } finally {
    ready.destroy();
  }
  child.removeAllListeners();
  child.unref();
  // Only closes our copies; the keeper's copies keep the locks held.
  for (const lock of locks) lock.release();
  return { pid: child.pid as number };
}

/** dist/keeper.js, next to the running bundle (dist/runbox.js). */
export function keeperScript(): string {
  return path.join(path.dirname(fileURLToPath(import.meta.url)), 'keeper.js');
}

function keeperEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH };
  if (process.env.RUNNER_TRACKING_ID) env.RUNNER_TRACKING_ID = process.env.RUNNER_TRACKING_ID;
  if (process.env.RUNBOX_TEST_KEEPER_POLL_MS) env.RUNBOX_TEST_KEEPER_POLL_MS = process.env.RUNBOX_TEST_KEEPER_POLL_MS;
  return env;
}

function exitHint(code: number | null): string {
  if (code === 2) return ': bad arguments or lock fds';
  if (code === 3) return ': the watched process is not running';
  return '';
}

export interface StopKeeperOptions {
  /** How long to wait after SIGTERM before SIGKILL. */
  timeoutMs: number;
  /** When given, the keeper must also be the one watching this pid (i.e. belong to this job). */
  watchPid?: number;
}

/**
 * Stops the keeper, which frees its locks. A pid that is not (or no longer) a runbox keeper is
 * never signalled — pids get reused — and counts as 'gone': our keeper has exited already.
 */
export async function stopKeeper(pid: number, opts: StopKeeperOptions): Promise<'stopped' | 'gone'> {
  if (!isKeeper(pid, opts.watchPid)) return 'gone';
  // Taken while it is still a keeper: from here on, the same start time means the same process.
  const started = procStat(pid)?.startTime;
  if (started === undefined || !signal(pid, 'SIGTERM')) return 'gone';
  if (await waitExited(pid, started, opts.timeoutMs)) return 'stopped';
  if (signal(pid, 'SIGKILL') && !(await waitExited(pid, started, 5000))) throw new Error(`runbox-keeper ${pid} is still running after SIGKILL`);
  return 'stopped';
}

/**
 * `leftovers: wait` with a dir still in use: the keeper hands its locks to a successor that holds
 * them until nothing uses the dirs (see keeper.ts), and exits. 'gone' as for stopKeeper.
 */
export async function lingerKeeper(pid: number, opts: StopKeeperOptions): Promise<'lingering' | 'gone'> {
  if (!isKeeper(pid, opts.watchPid)) return 'gone';
  const started = procStat(pid)?.startTime;
  if (started === undefined || !signal(pid, 'SIGUSR2')) return 'gone';
  if (!(await waitExited(pid, started, opts.timeoutMs))) throw new Error(`runbox-keeper ${pid} did not hand its locks over within ${opts.timeoutMs} ms`);
  return 'lingering';
}

/**
 * Reads /proc/<pid>/cmdline. The keeper sets its title to "runbox-keeper --watch-pid N ..."
 * (one string with spaces); before that it is "node …/keeper.js --watch-pid N ..." (NUL-separated).
 * An exiting process has an empty cmdline too: stopKeeper waits for the exit itself (waitExited).
 */
export function isKeeper(pid: number, watchPid?: number): boolean {
  let cmdline: string;
  try {
    cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch (e) {
    if (errnoOf(e) === 'ENOENT') return false;
    throw e;
  }
  const argv = cmdline.split(/[\0 ]+/).filter(Boolean);
  const keeper = argv[0] === 'runbox-keeper' || (argv.slice(0, 2).some((a) => path.basename(a) === 'keeper.js') && argv.includes('--watch-pid'));
  if (!keeper) return false;
  return watchPid === undefined || argv[argv.indexOf('--watch-pid') + 1] === String(watchPid);
}

/** false when the process no longer exists. */
function signal(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch (e) {
    if (errnoOf(e) === 'ESRCH') return false;
    throw e;
  }
}

/**
 * Waits until the process has let go of its fds, and so of its locks. Not the keeper check:
 * an exiting process drops its memory (and with it /proc/<pid>/cmdline) before it closes its
 * files, and node is multi-threaded: the main thread can be a zombie while worker threads still
 * share the fd table. The locks are free once every thread is a zombie, or the pid is gone or reused.
 */
async function waitExited(pid: number, startTime: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const st = procStat(pid);
    if (!st || st.startTime !== startTime || allThreadsDead(pid)) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
}

function allThreadsDead(pid: number): boolean {
  let tids: string[];
  try {
    tids = fs.readdirSync(`/proc/${pid}/task`);
  } catch (e) {
    if (isErrno(e, 'ENOENT', 'ESRCH')) return true;
    throw e;
  }
  return tids.every((tid) => {
    const st = procStat(pid, tid);
    return !st || st.state === 'Z' || st.state === 'X';
  });
}

/** The runner process a holder record names, as /proc shows it now: its pid and start time, for a new record. */
export function runnerProcess(pid = process.ppid): { runnerPid: number; runnerStart?: string | undefined } {
  return { runnerPid: pid, runnerStart: procStat(pid)?.startTime };
}

/**
 * True while the job that wrote `h` may still use the dir although nothing holds its lock: the
 * record was not released on purpose (by its keeper or main) and its runner process, the same
 * one (start time), still runs. That is a keeper killed on its own; the job's later steps and
 * its post still count on the dir.
 */
export function jobStillRuns(h: LockHolder | undefined): boolean {
  if (!h || h.released || h.reaping || !h.runnerPid || !h.runnerStart) return false;
  const st = procStat(h.runnerPid);
  return st !== undefined && st.state !== 'Z' && st.state !== 'X' && st.startTime === h.runnerStart;
}
