// runbox-keeper: holds runbox's dir locks from the main step until the post step.
//
// The main step's node process exits when the step ends, and with it its fds — and so its flock
// locks. This tiny process is started detached by main with the lock fds inherited at fds 3..N
// (see lock/keeper-client.ts); merely staying alive keeps those locks held. It exits, freeing
// them, when post asks (SIGTERM) or when the runner worker it watches is gone, so a crashed or
// cancelled job cannot leave a dir locked.
//
// With `leftovers: wait`, post sends SIGUSR2 instead: a process of the finished job (a container
// that ignored the cancel) still uses a dir. The keeper then hands the fds to a successor that no
// longer follows the runner worker (the job is over) and holds the locks until nothing uses the
// dirs any more (`--linger`). The successor does not carry RUNNER_TRACKING_ID, or the runner's
// end-of-job orphan cleanup would kill it and free the dirs under the leftover.
//
// Bundled on its own (dist/keeper.js): keep it dependency-free, no @actions/* (sys/errno,
// sys/proc-stat and dirs/dir-users import node: modules only).
//
// Usage: keeper.js --watch-pid <pid> --fds 3,4,5 [--ready-fd <n>]
//        keeper.js --linger --fds 3,4,5 [--ready-fd <n>]
//        keeper.js --dir-users [--except <pid,...>] -- <dir>...   (prints the scan as JSON)
// Exit codes before ready: 2 = bad arguments or fds, 3 = watched pid not running.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { errnoOf } from './sys/errno.js';
import { procStat } from './sys/proc-stat.js';
import { scanDirUsers, type ScanResult } from './dirs/dir-users.js';

/**
 * How often the watched worker is checked. RUNBOX_TEST_KEEPER_POLL_MS is for tests only (like
 * RUNBOX_TEST_RETRY_MS): a shorter poll, so a test sees a killed worker's locks freed at once.
 * Read once, at start; the client passes it on only when it is set.
 */
const POLL_MS = pollMs(process.env.RUNBOX_TEST_KEEPER_POLL_MS);

function pollMs(raw: string | undefined): number {
  const v = (raw ?? '').trim();
  return /^[1-9][0-9]{0,4}$/.test(v) ? Number(v) : 1000;
}
/** A lingering keeper scans /proc (through sudo when not root): less often than the worker check. */
const LINGER_POLL_MS = 2000;

interface Args {
  /** undefined: --linger */
  watchPid: number | undefined;
  fds: number[];
  readyFd: number | undefined;
}

function parseArgs(argv: readonly string[]): Args | undefined {
  const value = (flag: string): string | undefined => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const int = (s: string | undefined): number | undefined => (s && /^\d+$/.test(s) ? Number(s) : undefined);
  const linger = argv.includes('--linger');
  const watchPid = int(value('--watch-pid'));
  const fds = (value('--fds') ?? '').split(',').map(int);
  const readyFd = int(value('--ready-fd'));
  if (linger === (watchPid !== undefined) || watchPid === 0 || fds.some((fd) => fd === undefined || fd < 3)) return undefined;
  return { watchPid, fds: fds as number[], readyFd };
}

/**
 * kill(pid, 0) alone is not enough: a dead worker stays a zombie until its parent reaps it,
 * and a reused pid looks alive. /proc tells both apart (when /proc is mounted).
 */
function isGone(pid: number, startTime: string | undefined): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if (errnoOf(e) === 'ESRCH') return true;
    // EPERM: it exists but belongs to another user; still alive.
    if (errnoOf(e) !== 'EPERM') throw e;
  }
  const st = procStat(pid);
  if (!st) return startTime !== undefined; // /proc knew it before, so it is gone now
  return st.state === 'Z' || (startTime !== undefined && st.startTime !== startTime);
}

/**
 * The janitor reads a lock file's mtime as the guarded dir's last use, so stamp it as we let go,
 * and mark the holder record `released`: a free lock whose record is not released means this
 * keeper died alone, and the dir stays the job's while its runner process lives (see
 * lock/keeper-client.ts jobStillRuns). Best effort: a lock file owned by another user (we only
 * hold a read-only fd) keeps its time and record.
 */
function release(fds: number[]): never {
  const now = new Date();
  for (const fd of fds) {
    try {
      markReleased(fd, now);
      fs.futimesSync(fd, now, now);
    } catch (e) {
      if (errnoOf(e) !== 'EPERM' && errnoOf(e) !== 'EACCES' && errnoOf(e) !== 'EBADF') throw e;
    }
  }
  process.exit(0);
}

/** The dirs our lock fds guard: each lock file is `<dir>.lock`. */
function guardedDirs(fds: number[]): string[] {
  return fds
    .map((fd) => fs.readlinkSync(`/proc/self/fd/${fd}`))
    .filter((p) => p.endsWith('.lock'))
    .map((p) => p.slice(0, -'.lock'.length));
}

/**
 * Other users' cwds and fds are hidden from a non-root keeper, so it asks its own script, run as
 * root through `sudo -n` (argv, never a shell string). Without sudo it sees what it can: mounts
 * (containers) and its own user's processes.
 */
function dirUsers(dirs: string[]): ScanResult {
  if (process.getuid?.() === 0) return scanDirUsers(dirs);
  const r = spawnSync('sudo', ['-n', '--', process.execPath, process.argv[1], '--dir-users', '--', ...dirs], { encoding: 'utf8', timeout: 60000 });
  if (r.status === 0) return JSON.parse(r.stdout) as ScanResult;
  return scanDirUsers(dirs);
}

let handingOver = false;

/** SIGUSR2: start a --linger successor on the same fds, wait until it holds them, then exit without releasing. */
function handToLingerer(fds: number[]): void {
  // A second request while the first successor starts would make two of them.
  if (handingOver) return;
  handingOver = true;
  const readyFd = 3 + fds.length;
  const child = spawn(process.execPath, [process.argv[1], '--linger', '--fds', fds.map((_, i) => 3 + i).join(','), '--ready-fd', String(readyFd)], {
    detached: true,
    cwd: '/',
    env: { PATH: process.env.PATH },
    stdio: ['ignore', 'ignore', 'ignore', ...fds, 'pipe']
  });
  const ready = child.stdio[readyFd] as NodeJS.ReadableStream;
  const giveUp = setTimeout(() => release(fds), 10000);
  ready.once('data', () => {
    clearTimeout(giveUp);
    // The successor holds every lock now; exiting closes only our copies.
    process.exit(0);
  });
  // No successor: let go as if post had asked, rather than keep following a finished job.
  child.once('error', () => release(fds));
  child.once('exit', () => release(fds));
}

function linger(args: Args): void {
  const dirs = guardedDirs(args.fds);
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(sig, () => release(args.fds));
  const check = (): void => {
    if (dirUsers(dirs).users.length === 0) release(args.fds);
  };
  setInterval(check, LINGER_POLL_MS);
}

function dirUsersMain(argv: string[]): void {
  const sep = argv.indexOf('--');
  const flags = sep >= 0 ? argv.slice(0, sep) : argv;
  const dirs = sep >= 0 ? argv.slice(sep + 1) : [];
  const exceptAt = flags.indexOf('--except');
  const except = exceptAt >= 0 ? (flags[exceptAt + 1] ?? '').split(',') : [];
  if (dirs.length === 0 || dirs.some((d) => !d.startsWith('/')) || except.some((p) => !/^\d+$/.test(p))) process.exit(2);
  process.stdout.write(JSON.stringify(scanDirUsers(dirs, { except: new Set(except.map(Number)) })));
}

function markReleased(fd: number, now: Date): void {
  const buf = Buffer.alloc(64 * 1024);
  const text = buf.subarray(0, fs.readSync(fd, buf, 0, buf.length, 0)).toString('utf8');
  let record: unknown;
  try {
    record = JSON.parse(text);
  } catch (e) {
    if (e instanceof SyntaxError) return; // no record (a read-only lock file main could not write)
    throw e;
  }
  if (typeof record !== 'object' || record === null) return;
  const data = Buffer.from(JSON.stringify({ ...record, released: now.toISOString() }) + '\n');
  fs.ftruncateSync(fd, 0);
  fs.writeSync(fd, data, 0, data.length, 0);
}

function main(): void {
  if (process.argv[2] === '--dir-users') return dirUsersMain(process.argv.slice(3));
  const args = parseArgs(process.argv.slice(2));
  if (!args) process.exit(2);
  // Recognisable in ps and to stopKeeper, which checks /proc/<pid>/cmdline before signalling.
  process.title = args.watchPid === undefined ? `runbox-keeper --linger --fds ${args.fds.join(',')}` : `runbox-keeper --watch-pid ${args.watchPid} --fds ${args.fds.join(',')}`;
  // Don't pin the workspace (or whatever dir main ran in) as our cwd.
  process.chdir('/');

  for (const fd of args.fds) {
    try {
      fs.fstatSync(fd);
    } catch (e) {
      if (errnoOf(e) === 'EBADF') process.exit(2);
      throw e;
    }
  }
  const watchPid = args.watchPid;
  if (watchPid === undefined) linger(args);
  else {
    const startTime = procStat(watchPid)?.startTime;
    if (isGone(watchPid, startTime)) process.exit(3);

    for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(sig, () => release(args.fds));
    process.on('SIGUSR2', () => handToLingerer(args.fds));
    setInterval(() => {
      if (isGone(watchPid, startTime)) release(args.fds);
    }, POLL_MS);
  }

  // Tell main we are up and hold the fds; it may close its copies now.
  if (args.readyFd !== undefined) {
    fs.writeSync(args.readyFd, 'R');
    fs.closeSync(args.readyFd);
  }
}

main();
