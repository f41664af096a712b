// The daemons' own lock on a store item. Nix and guix-daemon take an exclusive flock(2) on
// `<item>.lock` beside the item (in the store dir) before they build or substitute it, and
// delete an invalid item only under that lock. A restore that replaces an item on disk the DB
// does not register must hold the same lock, or it could rename away a path a build is still
// writing (the daemon restarted by socket activation, or a build its stop left running).
//
// The store dir is root's (1775 in multi-user installs, the build users' group may write it),
// so the lock files are opened by a root helper (itemLockHelper's own source run by `node -e`,
// through `sudo -n` when runbox is not root, like root-files.ts), which holds them until its
// stdin closes: killed with runbox, the locks go with it. flock(2) through util-linux
// `flock -n 3` on the opened fd, as flock.ts does.
import * as core from '@actions/core';
import { startProcess } from '../sys/exec.js';

/** What the helper says of one name. */
type LockAnswer = { state: 'locked' } | { state: 'busy'; why?: string } | { state: 'refused'; why: string };

/**
 * The lock helper, run as root: its own source is the script `node -e` runs (through `sudo -n`
 * when runbox is not root), so it uses nothing but its parameters. `dir`: the store dir (its
 * real location). stdin: one line, a JSON array of item names; then stdin stays open while the
 * locks are held. stdout: one JSON line per name (a LockAnswer and the name), then
 * {"ready":true}. A lock file is opened O_NOFOLLOW|O_NONBLOCK (O_CREAT only with O_EXCL, which
 * follows no link either) and kept only when fstat says: a regular file, one link, owned by
 * root or by the store dir's owner. After flock, the path must still name that inode and it
 * must be empty: the daemons write a byte into a lock file they delete (a stale lock). Files
 * it made are marked stale and removed the same way before the locks are released.
 */
function itemLockHelper(fs: typeof import('node:fs'), spawnSync: typeof import('node:child_process').spawnSync, proc: NodeJS.Process, dir: string): void {
  type Opened = { p: string; fd: number; made: boolean; ino: number; dev: number };
  const { O_RDWR, O_CREAT, O_EXCL, O_NOFOLLOW, O_NONBLOCK } = fs.constants;
  const d = fs.lstatSync(dir);
  if (!d.isDirectory()) {
    proc.stderr.write(`${dir} is not a directory\n`);
    proc.exit(3);
  }
  const held: Opened[] = [];
  const refused = (why: string): LockAnswer => ({ state: 'refused', why });
  const codeOf = (e: unknown): string => String((e as NodeJS.ErrnoException).code);
  // The lock file of one name, opened and checked; an answer when refused, undefined to try again.
  const openOne = (name: unknown): Opened | LockAnswer | undefined => {
    if (typeof name !== 'string' || name === '' || name === '.' || name === '..' || /[/\0]/.test(name)) return refused('not a store item name');
    const p = `${dir}/${name}.lock`;
    let fd: number;
    let made = false;
    try {
      fd = fs.openSync(p, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_NONBLOCK, 0o600);
      made = true;
    } catch (e) {
      if (codeOf(e) !== 'EEXIST') return refused(`cannot be made (${codeOf(e)})`);
      const st = fs.lstatSync(p, { throwIfNoEntry: false });
      if (st === undefined) return undefined;
      if (st.isSymbolicLink()) return refused('is a symbolic link');
      if (!st.isFile()) return refused('is not a regular file');
      try {
        fd = fs.openSync(p, O_RDWR | O_NOFOLLOW | O_NONBLOCK);
      } catch (e2) {
        if (codeOf(e2) === 'ENOENT') return undefined;
        return refused(codeOf(e2) === 'ELOOP' ? 'is a symbolic link' : `cannot be opened (${codeOf(e2)})`);
      }
    }
    const st = fs.fstatSync(fd);
    const bad = !st.isFile()
      ? 'is not a regular file'
      : st.nlink !== 1
        ? `has ${st.nlink} hard links`
        : st.uid !== 0 && st.uid !== d.uid
          ? `belongs to uid ${st.uid}, not to root or the store`
          : undefined;
    if (bad !== undefined) {
      fs.closeSync(fd);
      return refused(bad);
    }
    return { p, fd, made, ino: st.ino, dev: st.dev };
  };
  // flock -n on each fd (util-linux, as lock/flock.ts), 128 fds to one sh: a spawn from node per
  // fd cost about 10 ms of CPU, with the daemon stopped. Each exit code (or why flock did not run), in order.
  const flockAll = (fds: number[]): Array<number | string> => {
    const codes: Array<number | string> = [];
    for (let i = 0; i < fds.length; i += 128) {
      const batch = fds.slice(i, i + 128);
      const r = spawnSync('sh', ['-c', 'for fd do flock -x -n -E 75 "$fd"; echo $?; done', 'sh', ...batch.map((_, k) => String(3 + k))], {
        stdio: ['ignore', 'pipe', 'pipe', ...batch],
        encoding: 'utf8'
      });
      const got = String(r.stdout)
        .split('\n')
        .filter((l) => l !== '');
      batch.forEach((_, k) => codes.push(got[k] === undefined ? `flock did not run (${r.error ? r.error.message : `exit ${r.status}`}): ${String(r.stderr).trim()}` : Number(got[k])));
    }
    return codes;
  };
  const lockAll = (names: unknown[]): Array<LockAnswer & { name: unknown }> => {
    const results = new Map<unknown, LockAnswer>();
    let pending = names;
    for (let attempt = 0; attempt < 5 && pending.length > 0; attempt++) {
      const again: unknown[] = [];
      const opened: Array<Opened & { name: unknown }> = [];
      for (const name of pending) {
        const o = openOne(name);
        if (o === undefined) again.push(name);
        else if ('state' in o) results.set(name, o);
        else opened.push({ name, ...o });
      }
      const codes = flockAll(opened.map((o) => o.fd));
      opened.forEach((o, k) => {
        const code = codes[k];
        if (code !== 0) {
          fs.closeSync(o.fd);
          results.set(o.name, code === 75 ? { state: 'busy' } : refused(typeof code === 'string' ? code : `flock failed (exit ${code})`));
          return;
        }
        const now = fs.lstatSync(o.p, { throwIfNoEntry: false });
        // Deleted or marked stale by its holder meanwhile: a lock on it guards nothing.
        if (now === undefined || now.ino !== o.ino || now.dev !== o.dev || fs.fstatSync(o.fd).size !== 0) {
          fs.closeSync(o.fd);
          again.push(o.name);
          return;
        }
        held.push(o);
        results.set(o.name, { state: 'locked' });
      });
      pending = again;
    }
    for (const name of pending) results.set(name, { state: 'busy', why: 'its lock file was replaced again and again' });
    return names.map((name) => ({ name, ...(results.get(name) as LockAnswer) }));
  };
  let input = '';
  let started = false;
  proc.stdin.setEncoding('utf8');
  proc.stdin.on('data', (s: string) => {
    if (started) return;
    input += s;
    const nl = input.indexOf('\n');
    if (nl < 0) return;
    started = true;
    const asked: unknown = JSON.parse(input.slice(0, nl));
    if (!Array.isArray(asked)) {
      proc.stderr.write('expected a JSON array of item names\n');
      proc.exit(3);
    }
    const out = lockAll(asked as unknown[]).map((r) => `${JSON.stringify(r)}\n`);
    proc.stdout.write(`${out.join('')}${JSON.stringify({ ready: true })}\n`);
  });
  proc.stdin.on('end', () => {
    for (const h of held) {
      const now = fs.lstatSync(h.p, { throwIfNoEntry: false });
      if (h.made && now !== undefined && now.ino === h.ino && now.dev === h.dev) {
        fs.writeSync(h.fd, 'd');
        fs.unlinkSync(h.p);
      }
      fs.closeSync(h.fd);
    }
    proc.exit(0);
  });
}

const SCRIPT = `(${itemLockHelper.toString()})(require('node:fs'), require('node:child_process').spawnSync, process, process.argv[1]);`;

export interface ItemLocks {
  /** Names whose lock this restore holds. */
  locked: ReadonlySet<string>;
  /** Names whose lock another process holds (a build or substitution in progress). */
  busy: string[];
  /** Names whose lock file was refused (a symlink, another user's file, ...), with why. */
  refused: Array<{ name: string; why: string }>;
  /** Lets every lock go (and removes the lock files it made). Rejects when the helper failed. */
  release(): Promise<void>;
}

/** Most bytes of answer read from the helper: a line of a few hundred bytes per name. */
const answerBytes = (names: readonly string[]): number => 64 * 1024 + names.reduce((n, s) => n + 2 * Buffer.byteLength(s) + 512, 0);

/**
 * Tries (never waits) to take the daemons' lock `<storeDir>/<name>.lock` of each item `name`
 * (top-level names in the store dir `storeDir`, its real location). Resolves once each was
 * tried; the locks stay held until release(). Rejects, holding nothing, when the helper could
 * not run or answered something else.
 */
export async function lockStoreItems(storeDir: string, names: readonly string[]): Promise<ItemLocks> {
  const { child, shown } = startProcess(process.execPath, ['-e', SCRIPT, storeDir], { privileged: true });
  let stderr = '';
  child.stderr?.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-4096)));
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
  const failed = (what: string): Error => new Error(`the store item lock helper (${shown}) ${what}${stderr.trim() ? `: ${stderr.trim().split('\n').slice(-3).join(' | ')}` : ''}`);
  const release = async (): Promise<void> => {
    child.stdin?.end();
    const end = await closed;
    if (end.code !== 0) throw failed(`ended with ${end.signal ?? `exit ${end.code}`}`);
  };
  // EPIPE when the helper is gone early: its exit says why.
  child.stdin?.on('error', () => undefined);
  child.stdin?.write(`${JSON.stringify(names)}\n`);
  const lines: string[] = [];
  const ready = await new Promise<boolean>((resolve) => {
    let rest = '';
    let bytes = 0;
    const limit = answerBytes(names);
    // Decoded as a stream: a chunk may end inside a multi-byte character of a name.
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (text: string) => {
      bytes += Buffer.byteLength(text);
      if (bytes > limit) {
        child.kill('SIGKILL');
        return resolve(false);
      }
      const parts = (rest + text).split('\n');
      rest = parts.pop() ?? '';
      lines.push(...parts);
      if (parts.includes('{"ready":true}')) resolve(true);
    });
    void closed.then(
      () => resolve(false),
      () => resolve(false)
    );
  });
  if (!ready) {
    child.stdin?.end();
    const end = await closed.catch((e: unknown) => ({ code: null, signal: null, error: e }));
    throw failed('error' in end ? `could not be run (${String(end.error)})` : `ended before it answered (${end.signal ?? `exit ${end.code}`})`);
  }
  const locked = new Set<string>();
  const busy: string[] = [];
  const refused: Array<{ name: string; why: string }> = [];
  const asked = new Set(names);
  try {
    for (const line of lines.slice(0, lines.indexOf('{"ready":true}'))) {
      const a = JSON.parse(line) as { name?: unknown; state?: unknown; why?: unknown };
      if (typeof a.name !== 'string' || !asked.has(a.name)) throw failed('answered for a name it was not asked about');
      if (a.state === 'locked') locked.add(a.name);
      else if (a.state === 'busy') busy.push(a.name);
      else refused.push({ name: a.name, why: typeof a.why === 'string' ? a.why : 'refused' });
    }
  } catch (e) {
    // Nothing of an answer not understood is used: the locks go at once.
    await release().catch((r: unknown) => core.info(`runbox store: ${r instanceof Error ? r.message : String(r)}`));
    throw e;
  }
  return { locked, busy, refused, release };
}
