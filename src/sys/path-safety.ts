// Checks every host path that runbox may create, chown, delete or extract into. runbox often
// runs with root rights on hosts shared by many runners, so a typo or an unset variable in a
// path must be refused before anything is touched, never "fixed up".
import fs from 'node:fs';
import path from 'node:path';
import { InputError } from '../common/errors.js';

/** Paths that are never a valid target themselves. */
const SYSTEM_DIRS = new Set([
  '/',
  '/bin',
  '/boot',
  '/dev',
  '/etc',
  '/home',
  '/lib',
  '/lib32',
  '/lib64',
  '/libx32',
  '/media',
  '/mnt',
  '/opt',
  '/proc',
  '/root',
  '/run',
  '/sbin',
  '/srv',
  '/sys',
  '/tmp',
  '/usr',
  '/var',
  '/snap',
  '/nix',
  '/gnu',
  '/var/lib',
  '/var/cache',
  '/var/tmp',
  '/var/log',
  '/var/run',
  '/run/user',
  '/usr/local'
]);

/** Trees nothing of runbox's may live in at any depth. */
const FORBIDDEN_TREES = ['/bin', '/boot', '/dev', '/etc', '/lib', '/lib32', '/lib64', '/libx32', '/proc', '/sbin', '/sys', '/usr'];

export function isUnder(child: string, parent: string): boolean {
  if (parent === '/') return child !== '/' && child.startsWith('/');
  return child.startsWith(parent + '/');
}

/**
 * Why `p` is not an acceptable host path, or undefined when it is. Pure string checks:
 * absolute, normalised (no '', '.' or '..' components), not a system dir, not inside one.
 */
export function pathProblem(p: string): string | undefined {
  if (p === '') return 'it is empty';
  if (!path.isAbsolute(p)) return `'${p}' is not an absolute path`;
  if (p !== '/' && p.endsWith('/')) p = p.slice(0, -1);
  const parts = p.split('/').slice(1);
  if (p !== '/' && parts.some((c) => c === '' || c === '.' || c === '..')) return `'${p}' has an empty, '.' or '..' component`;
  if (/[\0\n\r]/.test(p)) return `'${p}' contains a control character`;
  if (SYSTEM_DIRS.has(p)) return `'${p}' is ${p === '/' ? 'the root directory' : 'a system directory'}`;
  const tree = FORBIDDEN_TREES.find((t) => isUnder(p, t));
  if (tree) return `'${p}' lies inside the system directory ${tree}`;
  return undefined;
}

/** Strips one trailing slash; callers have validated the path already. */
export function normalise(p: string): string {
  return p.length > 1 && p.endsWith('/') ? p.slice(0, -1) : p;
}

/**
 * The longest existing prefix of `p`, resolved through symlinks, with the not-yet-existing rest
 * appended. Lets us check where a path really lands before we create it.
 */
export function resolveExisting(p: string): string {
  let existing = p;
  const rest: string[] = [];
  for (;;) {
    try {
      const real = fs.realpathSync(existing);
      return rest.length ? path.join(real, ...rest.reverse()) : real;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT' && (e as NodeJS.ErrnoException).code !== 'ENOTDIR') throw e;
      rest.push(path.basename(existing));
      existing = path.dirname(existing);
    }
  }
}

/** A symlink met walking a path from `/`: where it is and what it points to. */
export interface SymlinkedComponent {
  at: string;
  target: string;
}

/**
 * Walks `p` from `/` component by component with lstat and returns the first component that is
 * a symlink; undefined when there is none up to the first missing component. Checking only the
 * last component (or resolving with realpath and checking the result) misses a symlinked parent,
 * through which a create or a chown lands wherever its owner points it.
 * `allowRootMade`: a symlink owned by root in a dir only root may write to was put there by
 * root, like the dir itself, and is followed (for store paths such as a /nix moved to another disk).
 */
export function symlinkedComponent(p: string, opts: { allowRootMade?: boolean } = {}): SymlinkedComponent | undefined {
  let cur = '';
  for (const c of p.split('/').filter(Boolean)) {
    cur = `${cur}/${c}`;
    let st: fs.Stats | undefined;
    try {
      st = fs.lstatSync(cur, { throwIfNoEntry: false });
    } catch (e) {
      // A dir the runner user may not search: only its owner could have put a symlink inside.
      if ((e as NodeJS.ErrnoException).code === 'EACCES' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
      throw e;
    }
    if (!st) return undefined;
    if (!st.isSymbolicLink()) continue;
    if (opts.allowRootMade && st.uid === 0 && onlyRootWrites(path.dirname(cur))) continue;
    return { at: cur, target: fs.readlinkSync(cur) };
  }
  return undefined;
}

function onlyRootWrites(dir: string): boolean {
  const st = fs.statSync(dir);
  return st.uid === 0 && (st.mode & 0o022) === 0;
}

/** Throws (naming `what`) when `p` passes through a symlink: the check right before a change on disk. */
export function assertNoSymlink(p: string, what: string): void {
  const link = symlinkedComponent(p);
  if (link) throw new Error(`refusing to ${what} ${p}: ${link.at} is a symlink (to ${link.target}); runbox never creates or chowns anything through a symlink`);
}

/**
 * Validates a host path input value, on disk too: no component may be a symlink (another user
 * may have planted it, and where it points can change after any check). Runs while parsing the
 * inputs, so nothing is created, chowned or deleted before every input path passed.
 */
export function checkHostPath(input: string, p: string, fix: string, opts: { allowRootMade?: boolean } = {}): string {
  const problem = pathProblem(p);
  if (problem) throw new InputError(input, problem, fix);
  const clean = normalise(p);
  const link = symlinkedComponent(clean, opts);
  if (link) {
    const real = resolveExisting(clean);
    const realProblem = pathProblem(real);
    throw new InputError(
      input,
      `'${clean}' resolves through a symlink (${link.at} -> ${link.target}) to ${realProblem ? realProblem.replace(/^'[^']*' /, '') : real}; ` +
        'runbox never creates, chowns or deletes anything through a symlink',
      `${fix}. Give the real path (see \`realpath ${clean}\`), or remove ${link.at} if you did not make it`
    );
  }
  return clean;
}

/**
 * Before a destructive operation: `target` must be a real directory (not a symlink) whose
 * resolved location is strictly inside the resolved `root`.
 */
export function assertOwnedSubdir(target: string, root: string): void {
  const st = fs.lstatSync(target);
  if (st.isSymbolicLink()) throw new Error(`refusing to touch ${target}: it is a symlink`);
  if (!st.isDirectory()) throw new Error(`refusing to touch ${target}: it is not a directory`);
  const realTarget = fs.realpathSync(target);
  const realRoot = fs.realpathSync(root);
  if (!isUnder(realTarget, realRoot)) throw new Error(`refusing to touch ${target}: it resolves to ${realTarget}, outside ${realRoot}`);
}

/** A path component made from free text (refs, job names): safe, short, never empty. */
export function sanitizeComponent(raw: string, maxLength = 60): string {
  let s = raw
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/-+/g, '-')
    .replace(/^[-.]+|[-.]+$/g, '');
  if (s.length > maxLength) s = s.slice(0, maxLength).replace(/[-.]+$/, '');
  return s;
}
