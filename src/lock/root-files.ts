// Small root-owned files in one root-only dir (/run/runbox): the host-wide store restore lock
// and the daemon-stopped markers. Root writes them (directly, or through `sudo -n` running this
// node with a fixed script), so no runner user can plant or change them; the runner user only
// opens them read-only and checks that they are what root made. /run is per boot, like the
// processes these files speak about.
import fs from 'node:fs';
import path from 'node:path';
import { ensurePrivilege, isRoot, run } from '../sys/exec.js';
import { symlinkedComponent } from '../sys/path-safety.js';

export const RUN_DIR = '/run/runbox';

/**
 * Creates (if missing), writes or removes `file` directly in `dir`, as root. The dir is made 0755
 * when missing and must then be a root-owned dir no one else can write to; files are created
 * O_EXCL|O_NOFOLLOW, written through a temp name and renamed, so a reader never sees half a record.
 * Runs in this process when runbox is root; otherwise its own source is the `node -e` script sudo
 * runs (SCRIPT): so it uses nothing but its parameters.
 */
function applyRootFile(fs: typeof import('node:fs'), dirname: (p: string) => string, mode: string, dir: string, file: string, data: string): void {
  const fail = (m: string): never => {
    throw new Error(m);
  };
  try {
    fs.mkdirSync(dir, { mode: 0o755 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  const st = fs.lstatSync(dir);
  if (!st.isDirectory() || st.uid !== 0 || (st.mode & 0o022) !== 0) fail(`${dir} is not a root-owned dir that only root can write to`);
  if (dirname(file) !== dir) fail(`${file} is not directly in ${dir}`);
  const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = fs.constants;
  const create = (p: string): number => {
    const fd = fs.openSync(p, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o644);
    fs.fchmodSync(fd, 0o644);
    return fd;
  };
  if (mode === 'create') {
    try {
      fs.closeSync(create(file));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  } else if (mode === 'write') {
    // A fresh name per write: in-process, the pid is the same for every write of the step, and a
    // temp file left by a write that failed (ENOSPC) must not fail the next ones.
    const tmp = `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
    const fd = create(tmp);
    fs.writeSync(fd, data);
    fs.closeSync(fd);
    fs.renameSync(tmp, file);
  } else if (mode === 'remove') {
    try {
      fs.unlinkSync(file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  } else fail(`unknown mode ${mode}`);
}

// What sudo runs when runbox is not root: applyRootFile's own source, argv mode dir file [data].
// The message alone on stderr (the last lines of a stack would hide it in the CommandError).
const SCRIPT = `try { (${applyRootFile.toString()})(require('node:fs'), require('node:path').dirname, ...process.argv.slice(1)); } catch (e) { process.stderr.write(String(e && e.message || e) + '\\n'); process.exit(3); }`;

/** Creates (if missing), writes or removes a root-owned file directly in the root-only dir `dir`. */
export async function rootFile(mode: 'create' | 'write' | 'remove', file: string, data = '', dir = path.dirname(file)): Promise<void> {
  const link = symlinkedComponent(dir);
  if (link) throw new Error(`${dir} passes through the symlink ${link.at} (to ${link.target}); runbox keeps its root-only files in a real dir`);
  // As root: no process (a node started for a few syscalls cost a restore about 0.1 s a file).
  if (isRoot()) return applyRootFile(fs, (p) => path.dirname(p), mode, dir, file, data);
  await ensurePrivilege(`keep runbox's host-wide records in ${dir}`);
  await run(process.execPath, ['-e', SCRIPT, mode, dir, file, data], { privileged: true });
}

/**
 * Opens a file that root must have made, read-only and never through a link, and checks it:
 * a regular file with one link, owned by root, writable by root alone, in a dir that is the same.
 * Returns the fd (the caller closes it), or undefined when it does not exist.
 */
export function openRootFile(file: string): number | undefined {
  const dst = fs.lstatSync(path.dirname(file));
  if (!dst.isDirectory() || dst.uid !== 0 || (dst.mode & 0o022) !== 0) throw new Error(`${path.dirname(file)} is not a root-owned dir that only root can write to`);
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    if ((e as NodeJS.ErrnoException).code === 'ELOOP') throw new Error(`${file} is a symlink, not the file root made`);
    throw e;
  }
  const st = fs.fstatSync(fd);
  if (!st.isFile() || st.nlink !== 1 || st.uid !== 0 || (st.mode & 0o022) !== 0) {
    fs.closeSync(fd);
    throw new Error(`${file} is not a root-owned regular file that only root can write to`);
  }
  return fd;
}

/** A small JSON record root wrote; undefined when missing or unreadable as JSON. */
export function readRootRecord(file: string): Record<string, unknown> | undefined {
  const fd = openRootFile(file);
  if (fd === undefined) return undefined;
  try {
    const buf = Buffer.alloc(16 * 1024);
    const text = buf.subarray(0, fs.readSync(fd, buf, 0, buf.length, 0)).toString('utf8');
    const v: unknown = JSON.parse(text);
    return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : undefined;
  } catch (e) {
    if (e instanceof SyntaxError) return undefined;
    throw e;
  } finally {
    fs.closeSync(fd);
  }
}
