// Checks every host path that runbox may create, chown, delete or extract into. runbox often
// runs with root rights on hosts shared by many runners, so a typo or an unset variable in a
// path must be refused before anything is touched, never "fixed up".
import fs from 'node:fs';
import path from 'node:path';
import { InputError } from './errors.js';

/** Paths that are never a valid target themselves. */
const SYSTEM_DIRS = new Set([
  '/', '/bin', '/boot', '/dev', '/etc', '/home', '/lib', '/lib32', '/lib64', '/libx32', '/media', '/mnt',
  '/opt', '/proc', '/root', '/run', '/sbin', '/srv', '/sys', '/tmp', '/usr', '/var', '/snap', '/nix', '/gnu',
  '/var/lib', '/var/cache', '/var/tmp', '/var/log', '/var/run', '/run/user', '/usr/local'
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
  if (p !== '/' && parts.some((c) => c === '' || c === '.' || c === '..'))
    return `'${p}' has an empty, '.' or '..' component`;
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

/** Validates a host path input value, also where it really lands through symlinks. */
export function checkHostPath(input: string, p: string, fix: string): string {
  const problem = pathProblem(p);
  if (problem) throw new InputError(input, problem, fix);
  const clean = normalise(p);
  const real = resolveExisting(clean);
  const realProblem = real === clean ? undefined : pathProblem(real);
  if (realProblem) throw new InputError(input, `'${clean}' resolves through a symlink to ${realProblem.replace(/^'[^']*' /, '')}`, fix);
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
  let s = raw.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/-+/g, '-').replace(/^[-.]+|[-.]+$/g, '');
  if (s.length > maxLength) s = s.slice(0, maxLength).replace(/[-.]+$/, '');
  return s;
}
