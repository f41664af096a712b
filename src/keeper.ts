// runbox-keeper: holds runbox's dir locks from the main step until the post step.
//
// The main step's node process exits when the step ends, and with it its fds — and so its flock
// locks. This tiny process is spawned detached by main with the lock fds inherited at fds 3..N
// (see lock/keeper-client.ts); merely staying alive keeps those locks held. It exits, freeing
// them, when post asks (SIGTERM) or when the runner worker it watches is gone, so a crashed or
// cancelled job cannot leave a dir locked.
//
// Bundled on its own (dist/keeper.js): keep it dependency-free, no @actions/*.
//
// Usage: keeper.js --watch-pid <pid> --fds 3,4,5 [--ready-fd <n>]
// Exit codes before ready: 2 = bad arguments or fds, 3 = watched pid not running.
import * as fs from 'node:fs';

const POLL_MS = 1000;

interface Args {
  watchPid: number;
  fds: number[];
  readyFd: number | undefined;
}

function parseArgs(argv: readonly string[]): Args | undefined {
  const value = (flag: string): string | undefined => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const int = (s: string | undefined): number | undefined => (s && /^\d+$/.test(s) ? Number(s) : undefined);
  const watchPid = int(value('--watch-pid'));
  const fds = (value('--fds') ?? '').split(',').map(int);
  const readyFd = int(value('--ready-fd'));
  if (!watchPid || fds.some((fd) => fd === undefined || fd < 3)) return undefined;
  return { watchPid, fds: fds as number[], readyFd };
}

interface ProcStat {
  state: string;
  startTime: string;
}

/** State and start time from /proc/<pid>/stat; undefined when there is no such entry. */
function procStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch (e) {
    if (errno(e) === 'ENOENT' || errno(e) === 'ESRCH') return undefined;
    throw e;
  }
  // comm (field 2) may contain spaces and ')'; fields after the last ')' start at field 3.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { state: fields[0], startTime: fields[19] };
}

/**
 * kill(pid, 0) alone is not enough: a dead worker stays a zombie until its parent reaps it,
 * and a reused pid looks alive. /proc tells both apart (when /proc is mounted).
 */
function isGone(pid: number, startTime: string | undefined): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if (errno(e) === 'ESRCH') return true;
    // EPERM: it exists but belongs to another user; still alive.
    if (errno(e) !== 'EPERM') throw e;
  }
  const st = procStat(pid);
  if (!st) return startTime !== undefined; // /proc knew it before, so it is gone now
  return st.state === 'Z' || (startTime !== undefined && st.startTime !== startTime);
}

function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | undefined)?.code;
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
      if (errno(e) !== 'EPERM' && errno(e) !== 'EACCES' && errno(e) !== 'EBADF') throw e;
    }
  }
  process.exit(0);
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
  const args = parseArgs(process.argv.slice(2));
  if (!args) process.exit(2);
  // Recognisable in ps and to stopKeeper, which checks /proc/<pid>/cmdline before signalling.
  process.title = `runbox-keeper --watch-pid ${args.watchPid} --fds ${args.fds.join(',')}`;
  // Don't pin the workspace (or whatever dir main ran in) as our cwd.
  process.chdir('/');

  for (const fd of args.fds) {
    try {
      fs.fstatSync(fd);
    } catch (e) {
      if (errno(e) === 'EBADF') process.exit(2);
      throw e;
    }
  }
  const startTime = procStat(args.watchPid)?.startTime;
  if (isGone(args.watchPid, startTime)) process.exit(3);

  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(sig, () => release(args.fds));
  setInterval(() => {
    if (isGone(args.watchPid, startTime)) release(args.fds);
  }, POLL_MS);

  // Tell the spawner we are up and hold the fds; it may close its copies now.
  if (args.readyFd !== undefined) {
    fs.writeSync(args.readyFd, 'R');
    fs.closeSync(args.readyFd);
  }
}

main();
