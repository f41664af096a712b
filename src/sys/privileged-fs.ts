// Privileged-when-needed filesystem changes. Each one tries as the runner user first and borrows
// root (directly or through `sudo -n`, see exec.runElseRoot) only when the runner's own rights
// are not enough, so a runner without sudo still works for dirs it owns.
import fs from 'node:fs';
import path from 'node:path';
import { lstatOrUndefined } from './errno.js';
import { ensurePrivilege, isRoot, run, runElseRoot } from './exec.js';
import { assertNoSymlink } from './path-safety.js';
import type { Ids } from './users.js';
import { runnerIds } from './users.js';

function sameIds(a: Ids, b: Ids): boolean {
  return a.uid === b.uid && a.gid === b.gid;
}

/** The components of `p` that do not exist yet, outermost first. */
function missingComponents(p: string): string[] {
  const missing: string[] = [];
  for (let cur = p; !lstatOrUndefined(cur); cur = path.dirname(cur)) missing.unshift(cur);
  return missing;
}

export async function chown(paths: string[], ids: Ids, opts: { recursive?: boolean } = {}): Promise<void> {
  if (paths.length === 0) return;
  // -R -P: never traverse a symlink met on the way (GNU's default, spelled out); -h: chown the link itself.
  const args = [...(opts.recursive ? ['-R', '-P'] : []), '-h', `${ids.uid}:${ids.gid}`, '--', ...paths];
  // Giving ourselves files that are ours anyway works unprivileged; files a container wrote
  // as root or as its own uid need root, and so does giving anything to another user.
  await runElseRoot('chown', args, `chown ${paths.join(', ')} to ${ids.uid}:${ids.gid}`, { tryRunnerFirst: sameIds(ids, runnerIds()) });
}

export interface EnsureDirOptions {
  /**
   * A parent that other runs share (base-dir, `<base>/<ref-key>`): made when missing, but an
   * existing one keeps its owner. Runners of different users share it, and re-chowning it to
   * each in turn would take it away from the others while they use it.
   */
  shared?: boolean;
}

/**
 * Creates `p` (and missing parents) owned by `ids`; an existing dir is chowned to `ids` when
 * it is not already (unless `shared`). Returns the components it created. A symlink or a
 * non-dir is refused.
 */
export async function ensureDir(p: string, ids: Ids, opts: EnsureDirOptions = {}): Promise<string[]> {
  const st = lstatOrUndefined(p);
  if (st) {
    if (st.isSymbolicLink()) throw new Error(`${p} is a symlink; runbox only manages real directories`);
    if (!st.isDirectory()) throw new Error(`${p} exists and is not a directory`);
    if (!opts.shared && (st.uid !== ids.uid || st.gid !== ids.gid)) await chown([p], ids);
    return [];
  }
  const missing = missingComponents(p);
  // A sibling run made it since the check above (shared parents such as <base-dir>/<ref-key>).
  if (missing.length === 0) return ensureDir(p, ids, opts);
  const parent = path.dirname(missing[0]);
  // mkdir -p would create through a symlinked parent, wherever it points.
  assertNoSymlink(parent, 'create dirs under');
  const pst = fs.statSync(parent);
  if (!pst.isDirectory()) throw new Error(`${parent} is not a directory`);
  let writable = true;
  try {
    fs.accessSync(parent, fs.constants.W_OK | fs.constants.X_OK);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EACCES' && (e as NodeJS.ErrnoException).code !== 'EROFS') throw e;
    writable = false;
  }
  if (writable) fs.mkdirSync(p, { recursive: true, mode: 0o755 });
  else {
    await ensurePrivilege(`create ${p} (its parent ${parent} is not writable by the runner user)`);
    await run('mkdir', ['-p', '-m', '0755', '--', p], { privileged: true });
  }
  // A shared parent made inside a group-shared dir (g+w, no o+w: the admin's set-up for runner
  // users of one group on one base-dir) is group-shared too: the group's, 2775, so that every
  // runner user of the group can make its lock files and dirs in it (lock/flock.ts groupShared).
  const share = opts.shared === true && (pst.mode & 0o020) !== 0 && (pst.mode & 0o002) === 0;
  const want = share ? { uid: ids.uid, gid: pst.gid } : ids;
  const wrong = missing.filter((c) => {
    const s = fs.lstatSync(c);
    return s.uid !== want.uid || s.gid !== want.gid;
  });
  if (share) {
    // A member of the group may give its own dirs to it; root is needed only when not a member.
    const chownArgs = ['-h', `${want.uid}:${want.gid}`, '--', ...wrong];
    if (wrong.length > 0) await runElseRoot('chown', chownArgs, `give ${wrong.join(', ')} to ${want.uid}:${want.gid}`);
    await run('chmod', ['2775', '--', ...missing], { privileged: !isRoot() && fs.lstatSync(missing[0]).uid !== runnerIds().uid });
  } else await chown(wrong, ids);
  return missing;
}

/** Paths under `p` (itself included) not owned by `ids`, without following symlinks, on p's filesystem only. */
export async function countForeign(p: string, ids: Ids): Promise<number> {
  const args = [p, '-xdev', '(', '!', '-uid', String(ids.uid), '-o', '!', '-gid', String(ids.gid), ')', '-printf', '.'];
  // One byte per entry; a tree of millions of entries is still far below this.
  const maxStdout = 256 * 1024 * 1024;
  // Unreadable dirs (root-owned 0700, say) hide their contents from the runner user.
  const r = await runElseRoot('find', args, `inspect ownership under ${p}`, { maxStdout });
  return r.stdout.length;
}

/**
 * Gives every entry under `p` (itself included) not owned by `ids` to `ids`, as countForeign
 * counts them: symlinks themselves, never their targets, and on p's own filesystem only (a
 * mount point inside, say a bind mount of a system dir, is neither entered nor chowned).
 * `find -execdir` runs `chown -h ./name` from the entry's own dir, which find reached without
 * following a symlink, so a dir swapped for a symlink during the walk cannot redirect a chown.
 */
export async function chownTree(p: string, ids: Ids): Promise<void> {
  assertNoSymlink(p, 'chown');
  const args = [p, '-xdev', '(', '!', '-uid', String(ids.uid), '-o', '!', '-gid', String(ids.gid), ')', '-execdir', 'chown', '-h', `${ids.uid}:${ids.gid}`, '--', '{}', '+'];
  // -execdir refuses a PATH with relative entries (they would resolve in each visited dir).
  const env = {
    ...process.env,
    PATH: (process.env.PATH ?? '/usr/bin:/bin')
      .split(':')
      .filter((d) => d.startsWith('/'))
      .join(':')
  };
  // Files a container wrote as root or as its own uid need root; ours alone do not.
  await runElseRoot('find', args, `chown ${p} to ${ids.uid}:${ids.gid}`, { env, tryRunnerFirst: sameIds(ids, runnerIds()) });
}

/**
 * Deletes a dir tree, root-owned contents included, staying on its filesystem. The caller has
 * checked that `p` is a real dir inside the tree runbox owns (paths.assertOwnedSubdir).
 */
export async function removeTree(p: string, opts: { holdFd?: number } = {}): Promise<void> {
  // The lock guarding `p` goes along with rm: if this process dies mid-delete, the dir stays
  // locked until rm is done, so nobody starts using a half-deleted dir.
  await runElseRoot('rm', ['-rf', '--one-file-system', '--', p], `remove ${p} (it holds files the runner user cannot delete)`, {
    ...(opts.holdFd === undefined ? {} : { holdFds: [opts.holdFd] })
  });
}

/** Bytes used by a tree (du); what the runner user cannot read is not counted. */
export async function treeBytes(p: string): Promise<number> {
  const r = await run('du', ['-sxb', '--', p], { allowFailure: true });
  const n = Number(r.stdout.split('\t')[0]);
  return Number.isFinite(n) ? n : 0;
}
