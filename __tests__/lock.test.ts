// Real processes, real kernel locks, no mocks. The keeper and a small CLI around the lock API
// (__tests__/clis/lock.ts) are built once per run, so other processes run runbox's own code.
import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { acquireLock, tryLock, readHolder, removeLockFile, LockTimeoutError, type HeldLock, type LockHolder } from '../src/lock/flock.js';
import { startKeeper, stopKeeper, isKeeper } from '../src/lock/keeper-client.js';
import { testCli, testKeeper } from './helpers/bundle.js';
import { firstLine, killAndWait, lockIsFree } from './helpers/processes.js';
import { sudoUser } from './helpers/prereq.js';

const rootOnlyTest = process.getuid?.() === 0 ? test : test.skip;

const NOBODY = 65534;
let tmp: string;
let keeperScript: string;
let cliScript: string;
let lockDir: string;

const children: ChildProcess[] = [];
const keepers: number[] = [];
const locks: HeldLock[] = [];

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'runbox-lock-test-'));
  fs.chmodSync(tmp, 0o755); // one test runs the CLI as nobody
  keeperScript = testKeeper();
  cliScript = testCli('lock');
});

beforeEach(() => {
  lockDir = fs.mkdtempSync(path.join(tmp, 'locks-'));
  fs.chmodSync(lockDir, 0o755);
});

afterEach(async () => {
  for (const pid of keepers.splice(0)) await stopKeeper(pid, { timeoutMs: 2000 });
  for (const lock of locks.splice(0)) lock.release();
  for (const child of children.splice(0)) await killAndWait(child);
});

afterAll(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

// --- helpers -------------------------------------------------------------------------------

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const childEnv = { ...process.env, NODE_OPTIONS: '' }; // no --experimental-vm-modules warnings

function track<T extends ChildProcess>(child: T): T {
  children.push(child);
  return child;
}

function holder(runId: string, runner = 'runner-a'): LockHolder {
  return { runId, runAttempt: '1', runner, job: 'test', pid: process.pid, since: new Date().toISOString() };
}

/** util-linux flock holding `p` in a `sleep` process (no node involved); resolves once held. */
async function holdWithFlock(p: string, info?: LockHolder): Promise<ChildProcess> {
  if (info) fs.writeFileSync(p, JSON.stringify(info));
  const child = track(
    spawn('bash', ['-c', 'exec 3<>"$1" && flock -x 3 && echo locked && exec sleep 1000', '_', p], {
      stdio: ['ignore', 'pipe', 'pipe']
    })
  );
  await firstLine(child);
  return child;
}

function cli(args: string[], opts: SpawnOptions = {}): ChildProcess {
  return track(spawn(process.execPath, [cliScript, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: childEnv, ...opts }));
}

function runCli(args: string[], opts: SpawnOptions = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = cli(args, opts);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdin?.end();
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}

function fakeWorker(): ChildProcess {
  return track(spawn('sleep', ['1000'], { stdio: 'ignore' }));
}

async function waitFor(cond: () => boolean, timeoutMs: number): Promise<number> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(50);
  }
  return Date.now() - start;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw e;
  }
}

// --- flock.ts ------------------------------------------------------------------------------

describe('acquireLock / tryLock', () => {
  test('the lock is a kernel lock: outsiders see it held, and free after release', async () => {
    const p = path.join(lockDir, 'a.lock');
    const lock = await acquireLock(p, { timeoutSec: 0 });
    expect(fs.statSync(p).mode & 0o777).toBe(0o644);
    expect(lockIsFree(p)).toBe(false);
    lock.release();
    lock.release(); // idempotent
    expect(lockIsFree(p)).toBe(true);
  });

  test('excludes another node process, both ways; timeout names the holder', async () => {
    const p = path.join(lockDir, 'a.lock');
    const other = cli(['hold', p, '0']);
    expect(JSON.parse(await firstLine(other))).toEqual({ wrote: true });

    expect(await tryLock(p)).toBeUndefined();
    const start = Date.now();
    const err = await acquireLock(p, { timeoutSec: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LockTimeoutError);
    expect((err as Error).message).toContain(`held by run ${other.pid} (cli-runner)`);
    expect(Date.now() - start).toBeGreaterThanOrEqual(1000);
    expect(Date.now() - start).toBeLessThan(4000);

    const exited = new Promise((r) => other.once('exit', r));
    other.stdin?.end();
    await exited;
    const mine = await tryLock(p);
    expect(mine).toBeDefined();
    locks.push(mine as HeldLock);
    (mine as HeldLock).writeHolder(holder('4242', 'jest-runner'));

    const refused = await runCli(['hold', p, '0']);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('held by run 4242 (jest-runner)');
  });

  test('waits, calls onWait once with the holder, and proceeds the moment the holder lets go', async () => {
    const p = path.join(lockDir, 'a.lock');
    const h = await holdWithFlock(p, holder('777', 'runner-x'));
    const seen: (LockHolder | undefined)[] = [];
    let gotAt = 0;
    const pending = acquireLock(p, { timeoutSec: 30, onWait: (who) => seen.push(who) }).then((l) => {
      gotAt = Date.now();
      return l;
    });
    await sleep(1500);
    expect(gotAt).toBe(0);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ runId: '777', runner: 'runner-x' });

    const releasedAt = Date.now();
    await killAndWait(h);
    const lock = await pending;
    locks.push(lock);
    expect(gotAt - releasedAt).toBeLessThan(1000);
    expect(seen).toHaveLength(1);
  });

  test('a waiter whose lock file was unlinked and recreated ends up holding the current inode', async () => {
    const p = path.join(lockDir, 'a.lock');
    const a = await acquireLock(p, { timeoutSec: 0 });
    const oldIno = fs.fstatSync(a.fd).ino;
    let b: HeldLock | undefined;
    const pending = acquireLock(p, { timeoutSec: 30 }).then((l) => (b = l));
    await sleep(300);
    expect(b).toBeUndefined();

    // A reaps: unlinks the lock file while holding it; meanwhile another run recreates the path
    // and locks the new inode. Then A lets go of the old one.
    fs.unlinkSync(p);
    const c = await holdWithFlock(p);
    const newIno = fs.statSync(p).ino;
    expect(newIno).not.toBe(oldIno);
    a.release();

    // B gets the old, nameless inode now, but must not settle for it: C holds the real one.
    await sleep(1000);
    expect(b).toBeUndefined();
    await killAndWait(c);
    await pending;
    locks.push(b as HeldLock);
    expect(fs.fstatSync((b as HeldLock).fd).ino).toBe(newIno);
    expect(fs.statSync(p).ino).toBe(newIno);
    expect(lockIsFree(p)).toBe(false);
  });

  test('holder info round-trips through the lock file', async () => {
    const p = path.join(lockDir, 'a.lock');
    expect(readHolder(p)).toBeUndefined();
    const lock = await acquireLock(p, { timeoutSec: 0 });
    locks.push(lock);
    expect(readHolder(p)).toBeUndefined(); // empty file
    lock.writeHolder(holder('1', 'a-much-longer-runner-name'));
    lock.writeHolder(holder('2', 'short')); // truncates: no leftovers of the longer JSON
    expect(readHolder(p)).toMatchObject({ runId: '2', runner: 'short' });
  });

  test('removeLockFile unlinks only the inode it holds', async () => {
    const p = path.join(lockDir, 'a.lock');
    const lock = await acquireLock(p, { timeoutSec: 0 });
    expect(removeLockFile(lock)).toBe(true);
    expect(fs.existsSync(p)).toBe(false);

    const stale = await acquireLock(p, { timeoutSec: 0 });
    fs.unlinkSync(p);
    fs.writeFileSync(p, 'someone else'); // path replaced behind our back
    expect(removeLockFile(stale)).toBe(false);
    expect(fs.readFileSync(p, 'utf8')).toBe('someone else');
    expect(lockIsFree(p)).toBe(true);
  });

  const rootOnly = process.getuid?.() === 0 ? test : test.skip;
  rootOnly('a lock file created by root can be locked by another user (read-only, no holder info)', async () => {
    const p = path.join(lockDir, 'a.lock');
    const mine = await acquireLock(p, { timeoutSec: 0 });
    mine.writeHolder(holder('1'));
    mine.release();

    const other = cli(['hold', p, '0'], { uid: NOBODY, gid: NOBODY });
    expect(JSON.parse(await firstLine(other))).toEqual({ wrote: false });
    expect(await tryLock(p)).toBeUndefined();
    expect(readHolder(p)).toMatchObject({ runId: '1' }); // root's info stays: nobody could not write

    const exited = new Promise((r) => other.once('exit', r));
    other.stdin?.end();
    await exited;
    const again = await tryLock(p);
    expect(again).toBeDefined();
    locks.push(again as HeldLock);

    // nobody may not create a lock file in root's 0755 dir; the error says so, not ENOENT.
    const denied = await runCli(['hold', path.join(lockDir, 'new.lock'), '0'], { uid: NOBODY, gid: NOBODY });
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toContain('EACCES');
  });
});

// --- hostile lock files ---------------------------------------------------------------------

// base-dir may be shared by several local users and lock names are predictable: another user
// plants something where runbox will open its lock file. Nothing may be followed or written.
describe('planted lock files', () => {
  const ci = sudoUser();
  const asCi = process.getuid?.() === 0 && ci ? test : test.skip;
  let shared: string;
  beforeEach(() => {
    // A sticky, world-writable dir: what a base-dir shared by runner users looks like.
    shared = fs.mkdtempSync(path.join(tmp, 'shared-'));
    fs.chmodSync(shared, 0o1777);
  });

  /** A file of the runner user's that an attacker wants overwritten. */
  function victim(uid: number, gid: number): string {
    const v = path.join(tmp, `victim-${path.basename(shared)}`);
    fs.writeFileSync(v, 'precious');
    fs.chownSync(v, uid, gid);
    return v;
  }

  asCi("a symlink planted by another user is not followed: the runner user's file keeps its content", async () => {
    const u = ci as NonNullable<typeof ci>;
    const v = victim(u.uid, u.gid);
    const p = path.join(shared, 'pr-1-build.lock');
    fs.symlinkSync(v, p);
    fs.lchownSync(p, NOBODY, NOBODY);
    const r = await runCli(['hold', p, '0'], { uid: u.uid, gid: u.gid });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`lock file ${p} is a symbolic link; runbox refuses it and wrote nothing to it`);
    expect(r.stderr).toContain(`rm ${p}`);
    expect(fs.readFileSync(v, 'utf8')).toBe('precious');
    expect(fs.lstatSync(p).isSymbolicLink()).toBe(true);
  });

  asCi("another user's regular lock file is refused, not truncated", async () => {
    const u = ci as NonNullable<typeof ci>;
    const p = path.join(shared, 'pr-1-build.lock');
    fs.writeFileSync(p, 'theirs', { mode: 0o666 });
    fs.chmodSync(p, 0o666);
    fs.chownSync(p, NOBODY, NOBODY);
    const r = await runCli(['hold', p, '0'], { uid: u.uid, gid: u.gid });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`lock file ${p} belongs to uid ${NOBODY}, not to the runner user (uid ${u.uid}) or root`);
    expect(fs.readFileSync(p, 'utf8')).toBe('theirs');
  });

  rootOnlyTest('as root: a symlink to a root file, a hard link to one, a FIFO and a foreign file are all refused, untouched', async () => {
    const target = path.join(tmp, 'root-secret');
    fs.writeFileSync(target, 'root data');
    const sym = path.join(shared, 'a.lock');
    fs.symlinkSync(target, sym);
    await expect(acquireLock(sym, { timeoutSec: 0 })).rejects.toThrow(`lock file ${sym} is a symbolic link`);
    // A symlink to a file that does not exist yet: O_CREAT would have created the target.
    const dangling = path.join(shared, 'b.lock');
    fs.symlinkSync(path.join(tmp, 'created-through-link'), dangling);
    await expect(acquireLock(dangling, { timeoutSec: 0 })).rejects.toThrow('is a symbolic link');
    expect(fs.existsSync(path.join(tmp, 'created-through-link'))).toBe(false);
    const hard = path.join(shared, 'c.lock');
    fs.linkSync(target, hard);
    await expect(acquireLock(hard, { timeoutSec: 0 })).rejects.toThrow('has 2 hard links');
    const fifo = path.join(shared, 'd.lock');
    execFileSync('mkfifo', [fifo]);
    await expect(acquireLock(fifo, { timeoutSec: 0 })).rejects.toThrow('is not a regular file');
    expect(readHolder(fifo)).toBeUndefined(); // and reading the holder does not hang on it
    const foreign = path.join(shared, 'e.lock');
    fs.writeFileSync(foreign, 'x');
    fs.chownSync(foreign, NOBODY, NOBODY);
    await expect(acquireLock(foreign, { timeoutSec: 0 })).rejects.toThrow(`belongs to uid ${NOBODY}, not to the runner user (uid 0);`);
    expect(fs.readFileSync(target, 'utf8')).toBe('root data');
    expect(fs.readFileSync(foreign, 'utf8')).toBe('x');
    expect(readHolder(sym)).toBeUndefined();
    // The janitor skips lock files it may not open; these read as such.
    await expect(tryLock(sym)).rejects.toMatchObject({ code: 'EACCES' });
  });

  test('a lock file swapped for a symlink to it while held no longer counts as the held file', async () => {
    const p = path.join(shared, 'f.lock');
    const real = path.join(shared, 'f.real');
    const held = await acquireLock(p, { timeoutSec: 0 });
    locks.push(held);
    fs.renameSync(p, real);
    fs.symlinkSync(real, p);
    // removeLockFile checks the path still names our inode: a symlink to it does not.
    expect(removeLockFile(held)).toBe(false);
    expect(fs.lstatSync(p).isSymbolicLink()).toBe(true);
  });
});

// --- keeper --------------------------------------------------------------------------------

describe('keeper', () => {
  test('keeps the lock after the process that took it has exited; stopKeeper frees it', async () => {
    const p = path.join(lockDir, 'a.lock');
    const worker = fakeWorker();
    const r = await runCli(['keep', p, String(worker.pid), keeperScript]);
    expect(r.code).toBe(0); // and it did exit: the keeper does not keep main alive
    const { keeperPid } = JSON.parse(r.stdout) as { keeperPid: number };
    keepers.push(keeperPid);

    expect(isKeeper(keeperPid, worker.pid)).toBe(true);
    expect(fs.readFileSync(`/proc/${keeperPid}/cmdline`, 'utf8')).toContain('runbox-keeper');
    expect(lockIsFree(p)).toBe(false);
    expect(await tryLock(p)).toBeUndefined();
    expect(readHolder(p)).toMatchObject({ runner: 'cli-runner', job: 'keep' });
    // The lock fd is its fd 3; its stdio is /dev/null, not the spawner's pipes; the ready socket is closed.
    const fd = (n: number | string) => fs.readlinkSync(`/proc/${keeperPid}/fd/${n}`);
    expect([0, 1, 2, 3].map(fd)).toEqual(['/dev/null', '/dev/null', '/dev/null', p]);
    expect(
      fs
        .readdirSync(`/proc/${keeperPid}/fd`)
        .map(fd)
        .filter((t) => t === p || t.startsWith('socket:'))
    ).toEqual([p]);

    expect(await stopKeeper(keeperPid, { timeoutMs: 5000, watchPid: worker.pid as number })).toBe('stopped');
    keepers.pop();
    expect(lockIsFree(p)).toBe(true);
    expect(await stopKeeper(keeperPid, { timeoutMs: 5000 })).toBe('gone');
  });

  test('releases by itself when the watched runner worker is SIGKILLed', async () => {
    const p = path.join(lockDir, 'a.lock');
    const worker = fakeWorker();
    const lock = await acquireLock(p, { timeoutSec: 0 });
    const { pid } = await startKeeper([lock], { watchPid: worker.pid as number, keeperScript });
    keepers.push(pid);
    await sleep(1200); // a few polls: the keeper must not exit while the worker lives
    expect(lockIsFree(p)).toBe(false);

    await killAndWait(worker);
    const took = await waitFor(() => lockIsFree(p), 5000);
    expect(took).toBeLessThan(2500);
    expect(isKeeper(pid)).toBe(false);
  });

  test('treats a dead but unreaped (zombie) worker as gone', async () => {
    // The worker's parent is a `sleep` that never reaps it, like a runner listener that has not
    // waited for its dead worker yet: kill(pid, 0) still succeeds on the zombie.
    const parent = track(spawn('bash', ['-c', 'sleep 1000 & echo $!; exec sleep 1000'], { stdio: ['ignore', 'pipe', 'ignore'] }));
    const workerPid = Number(await firstLine(parent));
    const p = path.join(lockDir, 'a.lock');
    const lock = await acquireLock(p, { timeoutSec: 0 });
    const { pid } = await startKeeper([lock], { watchPid: workerPid, keeperScript });
    keepers.push(pid);

    process.kill(workerPid, 'SIGKILL');
    await waitFor(() => fs.readFileSync(`/proc/${workerPid}/stat`, 'utf8').includes(') Z '), 2000);
    expect(alive(workerPid)).toBe(true);
    expect(await waitFor(() => lockIsFree(p), 5000)).toBeLessThan(2500);
  });

  test('holds several locks at once', async () => {
    const ps = ['a', 'b', 'c'].map((n) => path.join(lockDir, `${n}.lock`));
    const held = await Promise.all(ps.map((p) => acquireLock(p, { timeoutSec: 0 })));
    const worker = fakeWorker();
    const { pid } = await startKeeper(held, { watchPid: worker.pid as number, keeperScript });
    keepers.push(pid);
    expect(ps.map(lockIsFree)).toEqual([false, false, false]);
    expect(await stopKeeper(pid, { timeoutMs: 5000 })).toBe('stopped');
    expect(ps.map(lockIsFree)).toEqual([true, true, true]);
  });

  test('fails to start when the watched pid is not running, leaving the locks with the caller', async () => {
    const p = path.join(lockDir, 'a.lock');
    const worker = fakeWorker();
    const deadPid = worker.pid as number;
    await killAndWait(worker);
    const lock = await acquireLock(p, { timeoutSec: 0 });
    locks.push(lock);
    await expect(startKeeper([lock], { watchPid: deadPid, keeperScript })).rejects.toThrow(/not running/);
    expect(lockIsFree(p)).toBe(false);
    lock.release();
    expect(lockIsFree(p)).toBe(true);
  });

  test('stopKeeper never signals a pid that is not a keeper, or not ours', async () => {
    const decoy = fakeWorker();
    expect(await stopKeeper(decoy.pid as number, { timeoutMs: 500 })).toBe('gone');
    await sleep(200);
    expect(alive(decoy.pid as number)).toBe(true);
    expect(decoy.exitCode).toBeNull();

    const p = path.join(lockDir, 'a.lock');
    const worker = fakeWorker();
    const lock = await acquireLock(p, { timeoutSec: 0 });
    const { pid } = await startKeeper([lock], { watchPid: worker.pid as number, keeperScript });
    keepers.push(pid);
    expect(await stopKeeper(pid, { timeoutMs: 500, watchPid: decoy.pid as number })).toBe('gone');
    await sleep(200);
    expect(isKeeper(pid)).toBe(true);
    expect(lockIsFree(p)).toBe(false);
  });
});
