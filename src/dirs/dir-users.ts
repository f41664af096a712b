// Who on this host uses a dir right now, read from /proc. A free lock says that no runbox job
// holds a dir; it says nothing about a process that outlived its job (a container whose PID 1
// ignored the cancel, a backgrounded build). Those are found here, by what the kernel shows:
//   - in our mount namespace: cwd, root, an open fd or a mapped file under the dir;
//   - in any other mount namespace (containers): a mount whose source is the dir or a path
//     under it, matched by device and path within that filesystem (`/proc/<pid>/mountinfo`
//     fields 3 and 4), since paths inside a container are not host paths.
// A mount of a parent of the dir (a monitoring agent with `-v /:/host`) is deliberately not a
// use: counting it would make every dir on the host "in use" forever.
//
// Dependency-free on purpose: dist/keeper.js bundles it too (`keeper.js --dir-users`), which is
// how a runner that is not root runs the scan as root (other users' fds and cwds are hidden).
import fs from 'node:fs';
import path from 'node:path';

export interface DirUser {
  pid: number;
  /** Field 22 of /proc/<pid>/stat: with the pid, names one process even if the pid is reused. */
  startTime: string;
  /** The command line (NULs as spaces, cut), or the comm name when cmdline is empty. */
  command: string;
  /** The watched dir it uses. */
  dir: string;
  /** How: 'cwd', 'root', 'fd', 'mapped file', 'mount'. */
  how: string;
  /** Docker/Podman/containerd container id (64 hex) from /proc/<pid>/cgroup, when it is in one. */
  containerId?: string;
}

export interface ScanResult {
  users: DirUser[];
  /** Processes whose cwd/fds this process may not read (another user's, when not root). */
  unreadable: number;
}

interface MountRef {
  /** major:minor of the filesystem. */
  dev: string;
  /** The dir's path within that filesystem (mountinfo's root field for a bind mount of it). */
  fsPath: string;
}

const CONTAINER_ID = /(?:docker|libpod|crio|cri-containerd|containerd)[-/]([0-9a-f]{64})/;

export function scanDirUsers(dirsIn: readonly string[], opts: { except?: ReadonlySet<number> } = {}): ScanResult {
  const dirs = dirsIn.map((d) => path.resolve(d));
  const out: ScanResult = { users: [], unreadable: 0 };
  if (dirs.length === 0) return out;
  const ownMountinfo = readText('/proc/self/mountinfo') ?? '';
  const ownNs = readLink('/proc/self/ns/mnt');
  const refs = new Map(dirs.map((d) => [d, mountRef(d, ownMountinfo)]));
  const me = process.pid;

  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (pid === me || opts.except?.has(pid)) continue;
    const startTime = statStartTime(pid);
    if (startTime === undefined) continue; // exited meanwhile, or a kernel thread's oddity
    const found: { dir: string; how: string }[] = [];
    const ns = readLink(`/proc/${pid}/ns/mnt`);
    const mountinfo = readText(`/proc/${pid}/mountinfo`);
    if (mountinfo === undefined) continue; // gone
    // Without the ns link (another user's process, we are not root) the mount table tells.
    const sameNs = ns !== undefined && ownNs !== undefined ? ns === ownNs : mountinfo === ownMountinfo;
    if (sameNs) {
      const paths = processPaths(pid);
      if (paths === undefined) out.unreadable++;
      else for (const p of paths) for (const d of dirs) if (isAtOrUnder(d, p.path)) found.push({ dir: d, how: p.how });
    } else {
      for (const d of dirs) {
        const ref = refs.get(d);
        if (ref && mountsOf(mountinfo).some((m) => m.dev === ref.dev && isAtOrUnder(ref.fsPath, m.root))) found.push({ dir: d, how: 'mount' });
      }
    }
    if (found.length === 0) continue;
    const command = commandOf(pid);
    const containerId = CONTAINER_ID.exec(readText(`/proc/${pid}/cgroup`) ?? '')?.[1];
    const seen = new Set<string>();
    for (const f of found) {
      if (seen.has(f.dir)) continue; // one line per process and dir: the first way it uses it
      seen.add(f.dir);
      out.users.push({ pid, startTime, command, dir: f.dir, how: f.how, ...(containerId ? { containerId } : {}) });
    }
  }
  return out;
}

/** The process's cwd, root, fds and mapped files as host paths; undefined when we may not read them. */
function processPaths(pid: number): { path: string; how: string }[] | undefined {
  const out: { path: string; how: string }[] = [];
  const cwd = readLink(`/proc/${pid}/cwd`);
  if (cwd === undefined) return fs.existsSync(`/proc/${pid}`) ? undefined : [];
  out.push({ path: cwd, how: 'cwd' });
  const root = readLink(`/proc/${pid}/root`);
  if (root !== undefined && root !== '/') out.push({ path: root, how: 'root' });
  let fds: string[] = [];
  try {
    fds = fs.readdirSync(`/proc/${pid}/fd`);
  } catch (e) {
    if (denied(e)) return undefined;
    if (!gone(e)) throw e;
  }
  for (const fd of fds) {
    const target = readLink(`/proc/${pid}/fd/${fd}`);
    if (target?.startsWith('/')) out.push({ path: target, how: 'fd' });
  }
  // The path is the last field, after five fixed ones; it may contain spaces.
  for (const line of (readText(`/proc/${pid}/maps`) ?? '').split('\n')) {
    const m = /^\S+ \S+ \S+ \S+ \d+\s+(\/.*)$/.exec(line);
    if (m) out.push({ path: m[1], how: 'mapped file' });
  }
  return out.map((p) => ({ ...p, path: p.path.replace(/ \(deleted\)$/, '') }));
}

interface MountLine {
  dev: string;
  root: string;
  mountPoint: string;
}

function mountsOf(mountinfo: string): MountLine[] {
  const out: MountLine[] = [];
  for (const line of mountinfo.split('\n')) {
    const f = line.split(' ');
    if (f.length < 5) continue;
    out.push({ dev: f[2], root: unescapeMountPath(f[3]), mountPoint: unescapeMountPath(f[4]) });
  }
  return out;
}

/** mountinfo escapes space, tab, newline and backslash as \\ooo. */
function unescapeMountPath(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/**
 * Where `dir` lives in our own mount table: the mount with the longest mount point containing it
 * (the last one listed wins a tie: it is stacked on top), and the dir's path within that mount's
 * filesystem. A container's bind mount of the dir carries the same device and that path as root.
 */
function mountRef(dir: string, ownMountinfo: string): MountRef | undefined {
  let best: MountLine | undefined;
  for (const m of mountsOf(ownMountinfo)) if (isAtOrUnder(m.mountPoint, dir) && (!best || m.mountPoint.length >= best.mountPoint.length)) best = m;
  if (!best) return undefined;
  const rel = path.relative(best.mountPoint, dir);
  return { dev: best.dev, fsPath: rel === '' ? best.root : path.posix.join(best.root, rel) };
}

function isAtOrUnder(dir: string, p: string): boolean {
  return p === dir || p.startsWith(dir === '/' ? '/' : `${dir}/`);
}

function commandOf(pid: number): string {
  const argv = (readText(`/proc/${pid}/cmdline`) ?? '').split('\0').filter(Boolean).join(' ');
  const cmd = argv || `[${(readText(`/proc/${pid}/comm`) ?? '?').trim()}]`;
  return cmd.length > 120 ? `${cmd.slice(0, 117)}...` : cmd;
}

function statStartTime(pid: number): string | undefined {
  const text = readText(`/proc/${pid}/stat`);
  if (text === undefined) return undefined;
  return text.slice(text.lastIndexOf(')') + 2).split(' ')[19];
}

function readText(p: string): string | undefined {
  try {
    return fs.readFileSync(p, 'utf8');
  } catch (e) {
    if (gone(e) || denied(e)) return undefined;
    throw e;
  }
}

function readLink(p: string): string | undefined {
  try {
    return fs.readlinkSync(p);
  } catch (e) {
    if (gone(e) || denied(e)) return undefined;
    throw e;
  }
}

// A process can exit between readdir(/proc) and any read of its entries.
function gone(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ESRCH' || code === 'EINVAL';
}

function denied(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return code === 'EACCES' || code === 'EPERM';
}
