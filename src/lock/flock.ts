// "Is this dir in use?" is answered by the kernel: a dir is in use while someone holds an
// exclusive flock(2) on its lock file. The lock dies with the last fd that refers to it, so a
// crashed or killed run frees it without pid files, heartbeats or TTLs.
//
// Node has no flock API. We open the lock file ourselves and hand that fd to util-linux
// `flock -x 3` as the child's fd 3. flock(2) locks belong to the open file description, which
// the child's fd 3 shares with ours, so once the child exits 0 the lock is held by our fd and
// stays held until every copy of that description is closed (ours, or a keeper's — see
// keeper-client.ts). The fd is opened O_CLOEXEC by node, so no other child inherits it by accident.
import * as fs from 'node:fs';
import { isErrno, lstatOrUndefined } from '../sys/errno.js';
import { startProcess } from '../sys/exec.js';

/** Who holds a lock: written as JSON into the lock file so that waiters can say whom they wait for. */
export interface LockHolder {
  runId: string;
  runAttempt: string;
  runner: string;
  job: string;
  pid: number;
  /** ISO 8601 time the lock was taken. */
  since: string;
  /**
   * The job's runner process (main's parent) and its start time (/proc/<pid>/stat field 22).
   * While it runs and the record is not `released`, the dir is the job's even if its lock is
   * free: a keeper killed alone frees the lock, not the dir.
   */
  runnerPid?: number;
  runnerStart?: string | undefined;
  /** Random id of this holding; post keeps it to recognise its own records. */
  token?: string;
  /** ISO time the holder let go on purpose (keeper stopped or its runner gone, main gave up). */
  released?: string;
  /** ISO time a reaper started deleting the dir: whoever takes the lock next finishes the delete. */
  reaping?: string;
}

/** How a waiter names whoever holds a lock, from what the last writer of the record said. */
export function describeHolder(h: LockHolder | undefined): string {
  if (!h) return 'held by an unknown process';
  if (h.reaping) return `held by a janitor removing it (pid ${h.pid}, since ${h.reaping})`;
  // The record is the last run's, but that run let go: whoever holds it now wrote nothing (a
  // janitor or disk guard checking it, a post making sure it is free).
  if (h.released) return `held by a process that is not a run (run ${h.runId} (${h.runner}) let go at ${h.released}; likely a janitor checking it)`;
  return `held by run ${h.runId} (${h.runner})`;
}

export interface HeldLock {
  readonly path: string;
  /** This process's fd; the lock lives as long as it (or a copy of it, e.g. in the keeper) is open. */
  readonly fd: number;
  /** Replaces the lock file's content with `info`. Returns false when the file is read-only to us (see openLockFile). */
  writeHolder(info: LockHolder): boolean;
  /** Closes our fd. The lock is freed once no other process holds a copy of it. Idempotent. */
  release(): void;
}

export class LockTimeoutError extends Error {
  constructor(
    readonly path: string,
    readonly holder: LockHolder | undefined,
    readonly timeoutSec: number
  ) {
    super(`Lock ${path} is ${describeHolder(holder)}; gave up after ${timeoutSec}s`);
    this.name = 'LockTimeoutError';
  }
}

export interface AcquireOptions {
  /** How long to wait for the holder to let go; 0 = try once. */
  timeoutSec: number;
  /** Called once, before the first wait, with whatever the holder wrote into the lock file. */
  onWait?(holder: LockHolder | undefined): void;
  /** Called after each wait slice that did not get the lock, with the holder and the seconds waited so far. */
  onStillWaiting?(holder: LockHolder | undefined, waitedSec: number): void;
}

/**
 * Each wait is cut into short `flock -w` slices so that (a) a lock file that got unlinked or
 * replaced while we waited is noticed and reopened, and (b) if this process is killed, an
 * orphaned flock child waits at most one slice instead of grabbing the lock much later.
 */
const WAIT_SLICE_SEC = 5;

export async function acquireLock(path: string, opts: AcquireOptions): Promise<HeldLock> {
  const started = Date.now();
  const deadline = started + opts.timeoutSec * 1000;
  let waited = false;
  for (;;) {
    const { fd, writable } = openLockFile(path);
    let locked: boolean;
    try {
      locked = await flockFd(fd, 0);
      if (!locked && !waited && opts.timeoutSec > 0) {
        waited = true;
        opts.onWait?.(readHolder(path));
      }
      while (!locked && Date.now() < deadline && sameFile(fd, path)) {
        locked = await flockFd(fd, Math.min(WAIT_SLICE_SEC, (deadline - Date.now()) / 1000));
        if (!locked) opts.onStillWaiting?.(readHolder(path), (Date.now() - started) / 1000);
      }
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
    // The inode check must come after locking: the previous holder may have unlinked (and someone
    // recreated) the path while we waited, and a lock on a nameless inode guards nothing.
    if (locked && sameFile(fd, path)) return heldLock(path, fd, writable);
    fs.closeSync(fd);
    // A lock on a replaced inode is retried even past the deadline: the new file is usually free.
    if (!locked && Date.now() >= deadline) throw new LockTimeoutError(path, readHolder(path), opts.timeoutSec);
  }
}

/** Takes the lock only if nobody holds it (janitors, disk guard). */
export async function tryLock(path: string): Promise<HeldLock | undefined> {
  try {
    return await acquireLock(path, { timeoutSec: 0 });
  } catch (e) {
    if (e instanceof LockTimeoutError) return undefined;
    throw e;
  }
}

/** What the current (or last) holder wrote; undefined when the file is missing, empty, mid-write, or not a plain lock file. */
export function readHolder(path: string): LockHolder | undefined {
  let fd: number;
  try {
    // Never through a symlink, never blocking on a FIFO someone put there.
    fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  } catch (e) {
    if (isErrno(e, 'ENOENT', 'ELOOP', 'EACCES')) return undefined;
    throw e;
  }
  let text: string;
  try {
    if (!fs.fstatSync(fd).isFile()) return undefined;
    const buf = Buffer.alloc(MAX_HOLDER_BYTES);
    text = buf.subarray(0, fs.readSync(fd, buf, 0, buf.length, 0)).toString('utf8');
  } finally {
    fs.closeSync(fd);
  }
  try {
    const info: unknown = JSON.parse(text);
    return typeof info === 'object' && info !== null && 'runId' in info ? (info as LockHolder) : undefined;
  } catch (e) {
    // The holder truncates and rewrites the file; a reader can land in between.
    if (e instanceof SyntaxError) return undefined;
    throw e;
  }
}

/** Holder records are a few hundred bytes; a bigger file is not one of ours and is not read whole. */
const MAX_HOLDER_BYTES = 64 * 1024;

/**
 * For a reaper that deleted the guarded dir: unlinks the lock file, but only if the path still
 * names the inode we hold (someone may already have replaced it), then releases. Waiters on the
 * old inode notice the unlink when they get it and reopen the path.
 */
export function removeLockFile(held: HeldLock): boolean {
  let removed = false;
  try {
    if (sameFile(held.fd, held.path)) {
      fs.unlinkSync(held.path);
      removed = true;
    }
  } finally {
    held.release();
  }
  return removed;
}

function heldLock(path: string, fd: number, writable: boolean): HeldLock {
  let open = true;
  return {
    path,
    fd,
    writeHolder(info) {
      // After release the fd number may already belong to another file.
      if (!writable || !open) return false;
      const data = Buffer.from(JSON.stringify(info) + '\n');
      fs.ftruncateSync(fd, 0);
      fs.writeSync(fd, data, 0, data.length, 0);
      return true;
    },
    release() {
      // Closing twice could close an unrelated fd that reused the number.
      if (!open) return;
      open = false;
      fs.closeSync(fd);
    }
  };
}

/**
 * A lock file is refused, with nothing read, truncated or written, when it is not what runbox
 * makes: base-dir may be shared with other local users, and lock names are predictable, so
 * another user can plant a symlink (to make runbox write through it) or a file of their own.
 * `code` is EACCES so that janitors, which skip lock files they may not open, skip these too.
 */
export class LockFileError extends Error {
  readonly code = 'EACCES';
  constructor(
    readonly path: string,
    problem: string
  ) {
    super(
      `lock file ${path} ${problem}; runbox refuses it and wrote nothing to it. Another local user may have put it there: ` +
        `remove it (\`rm ${path}\`) and give base-dir to the runner user alone (a dir no other user can write to, e.g. '\${{ runner.temp }}/runbox'), ` +
        `or, for runner users of one group, to that group with mode 2775 (no write for others)`
    );
    this.name = 'LockFileError';
  }
}

/**
 * Opens the lock file, creating it when missing. Never follows a symlink (O_NOFOLLOW; a new file
 * is made with O_EXCL, which does not follow one either), never blocks on a FIFO (O_NONBLOCK),
 * and node opens every fd O_CLOEXEC. The open file is then checked by fstat:
 * - a regular file with one link (a hard link to someone else's file would carry its owner);
 * - owned by this user, or by root when this user is not root (a root runner or janitor made
 *   it), or by another user when its dir is group-shared (see groupShared): then its maker is a
 *   member of the group the host's admin gave base-dir to, a fellow runner user, and no one
 *   outside that group could have planted it.
 * In a group-shared dir lock files are made 0664, so every runner user of the group writes the
 * holder record and stamps the last use; elsewhere 0644, and a lock file we can only read is
 * used read-only (flock(2) works on a read-only fd; only the holder record is not written).
 */
function openLockFile(path: string): { fd: number; writable: boolean } {
  const { O_RDWR, O_RDONLY, O_CREAT, O_EXCL, O_NOFOLLOW, O_NONBLOCK } = fs.constants;
  const safe = O_NOFOLLOW | O_NONBLOCK;
  let denied: unknown;
  try {
    const fd = fs.openSync(path, O_RDWR | O_CREAT | O_EXCL | safe, 0o644);
    // umask would take the group's write bit away; ours to give (we made it).
    if (groupShared(pathDirname(path))) fs.fchmodSync(fd, 0o664);
    return { fd, writable: checkLockFd(fd, path) };
  } catch (e) {
    if (e instanceof LockFileError) throw e;
    if (isErrno(e, 'EACCES')) denied = e;
    else if (!isErrno(e, 'EEXIST')) throw e;
  }
  for (const flags of [O_RDWR | safe, O_RDONLY | safe]) {
    let fd: number;
    try {
      fd = fs.openSync(path, flags);
    } catch (e) {
      if (isErrno(e, 'ELOOP')) throw new LockFileError(path, 'is a symbolic link');
      if (isErrno(e, 'EISDIR')) throw new LockFileError(path, 'is a directory');
      if (isErrno(e, 'EACCES')) {
        denied ??= e;
        continue;
      }
      // ENOENT after EACCES: the file does not exist and we may not create it; the EACCES says why.
      throw isErrno(e, 'ENOENT') && denied ? denied : e;
    }
    return { fd, writable: checkLockFd(fd, path) && (flags & O_RDWR) !== 0 };
  }
  throw denied;
}

function pathDirname(p: string): string {
  const i = p.lastIndexOf('/');
  return i <= 0 ? '/' : p.slice(0, i);
}

/**
 * A dir runner users of one group share (set up by the host's admin: base-dir owned by root or
 * a runner user, group = the runners' group, mode 2775): group-writable, not writable by others,
 * and so is its parent (base-dir, for a key dir). Everything in it was made by its owner, root
 * or a member of its group: another local user cannot plant a file there. Without the group
 * bit, another user's lock file is refused, as before; a world-writable dir never qualifies.
 */
export function groupShared(dir: string): boolean {
  const ok = (d: string): boolean => {
    const st = fs.lstatSync(d, { throwIfNoEntry: false });
    return st !== undefined && st.isDirectory() && (st.mode & 0o020) !== 0 && (st.mode & 0o002) === 0;
  };
  return ok(dir) && ok(pathDirname(dir));
}

/** Closes `fd` and throws LockFileError unless it is an acceptable lock file; true when we may write it. */
function checkLockFd(fd: number, path: string): boolean {
  const st = fs.fstatSync(fd);
  const me = process.getuid?.() ?? 0;
  let problem: string | undefined;
  if (!st.isFile()) problem = 'is not a regular file';
  else if (st.nlink !== 1) problem = `has ${st.nlink} hard links (a lock file has one)`;
  else if (st.uid !== me && !(st.uid === 0 && me !== 0) && !groupShared(pathDirname(path))) problem = `belongs to uid ${st.uid}, not to the runner user (uid ${me})${me !== 0 ? ' or root' : ''}`;
  if (problem) {
    fs.closeSync(fd);
    throw new LockFileError(path, problem);
  }
  return true;
}

/** True when `path` still names the inode behind `fd`. */
function sameFile(fd: number, path: string): boolean {
  const held = fs.fstatSync(fd);
  // lstat: a symlink put in the lock file's place is another file, even if it points at ours.
  const now = lstatOrUndefined(path);
  return now !== undefined && now.ino === held.ino && now.dev === held.dev;
}

/**
 * `flock -x` (or `-s` when `shared`) on our fd, passed to the child as its fd 3. waitSec 0 = don't wait.
 * Resolves true when locked, false when someone else holds it (flock's conflict exit code).
 * Not via run(): that one cannot pass extra fds.
 */
export function flockFd(fd: number, waitSec: number, shared = false): Promise<boolean> {
  const CONFLICT = 75; // chosen with -E so a conflict cannot be mistaken for a flock error
  const wait = waitSec > 0 ? ['-w', waitSec.toFixed(2)] : ['-n'];
  return new Promise((resolve, reject) => {
    const { child } = startProcess('flock', [shared ? '-s' : '-x', '-E', String(CONFLICT), ...wait, '3'], { stdio: ['ignore', 'ignore', 'pipe'], extraFds: [fd] });
    // Tracked by startProcess: a cancelled step must not leave a flock behind that takes the lock after the step is gone.
    let stderr = '';
    child.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('error', (e) => reject(new Error(`cannot run util-linux flock: ${e.message}`)));
    child.on('close', (code, signal) => {
      if (code === 0) resolve(true);
      else if (code === CONFLICT) resolve(false);
      else reject(new Error(`flock on fd for lock failed (${signal ?? `exit ${code}`}): ${stderr.trim()}`));
    });
  });
}
