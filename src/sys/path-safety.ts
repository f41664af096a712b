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
  /** Why it is not followed where root-made links above a path are (see walk), and what else may fix it. */
  why?: string;
  fix?: string;
}

/** Symlinks one path may pass through, as the kernel's limit (ELOOP): a loop of root's links ends here. */
const MAX_LINKS = 40;

/**
 * Walks `p` from `/` component by component with lstat. Without `followParents`, the first
 * symlink met is returned. With it, a symlink above `p` owned by root in a dir only root may
 * write to is part of the host's setup (a /nix moved to another disk and linked back) and is
 * resolved: its target is walked the same way, so a root-made link to a path through a link
 * anyone else made is refused too; any other symlink, and `p` itself being one, is returned,
 * with why. Once a link is followed, every real dir on the way, before and after it, must be
 * root's and writable by root alone (a root-owned sticky dir, like /tmp, only where the entry in
 * it is root's), and the link must point at something that exists: a root link into a dir a
 * user owns (a runner's home on the bigger disk) would let that user swap what lies below it
 * between runbox's checks and root's renames into it. Otherwise `real` is the path with those
 * links resolved: realpath's answer for the part that exists, the rest appended. A dir the
 * caller may not search ends the walk (only its owner could have put a link inside).
 */
function walk(p: string, followParents: boolean): { real: string; link?: undefined } | { link: SymlinkedComponent } {
  const todo = p.split('/').filter((c) => c !== '' && c !== '.');
  let cur = '';
  let links = 0;
  // The real dirs walked so far, each with the entry in it that the walk went on to.
  const chain: Array<{ dir: string; entry: fs.Stats }> = [];
  // How many of the next components come from a followed link's target (they must exist).
  let fromTarget = 0;
  // The last link followed: what a refusal further down names.
  let followed = { at: '', target: '' };
  for (let c = todo.shift(); c !== undefined; c = todo.shift()) {
    fromTarget = Math.max(0, fromTarget - 1);
    if (c === '..') {
      // `cur` has no symlink in it, so its parent is the kernel's `..`.
      cur = cur === '' ? '' : path.dirname(cur).replace(/^\/$/, '');
      continue;
    }
    const next = `${cur}/${c}`;
    let st: fs.Stats | undefined;
    try {
      st = fs.lstatSync(next, { throwIfNoEntry: false });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EACCES' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return { real: path.resolve(next, ...todo) };
      throw e;
    }
    if (!st) {
      if (links > 0 && fromTarget > 0)
        return { link: { ...followed, why: `a symlink on the way points at ${next}, which does not exist (a disk not mounted?)`, fix: 'mount what the link points at, or list the real path' } };
      return { real: path.resolve(next, ...todo) };
    }
    const trust = links > 0 ? untrustedDir(cur || '/', st) : undefined;
    if (trust) return { link: { ...followed, why: `a symlink on the way leads through ${trust}`, fix: ROOT_ONLY_FIX } };
    chain.push({ dir: cur || '/', entry: st });
    if (!st.isSymbolicLink()) {
      cur = next;
      continue;
    }
    const target = fs.readlinkSync(next);
    if (!followParents) return { link: { at: next, target } };
    // The path itself must be the real dir: what is made, archived or listed there is the dir, never a link.
    if (todo.length === 0) return { link: { at: next, target, why: `runbox follows root's symlinks only above the path, and ${next} is the path itself, not its real dir` } };
    const problem = rootMadeProblem(st, cur || '/') ?? (++links > MAX_LINKS ? `it is one of more than ${MAX_LINKS} symlinks on the way` : undefined);
    if (problem)
      return {
        link: {
          at: next,
          target,
          why: `runbox follows only symlinks root made in a dir only root may write to, and ${next} is not one: ${problem}`,
          fix: "a link of the host's setup must be root's (`chown -h root`), in a dir only root may write to"
        }
      };
    // The first link followed: the dirs above it must be root's alone too (from here on each
    // dir is checked as it is walked).
    if (links === 1)
      for (const { dir, entry } of chain) {
        const bad = untrustedDir(dir, entry);
        if (bad) return { link: { at: next, target, why: `runbox follows root's symlinks only where every dir above them is root's alone, and ${bad}`, fix: ROOT_ONLY_FIX } };
      }
    const parts = target.split('/').filter((t) => t !== '' && t !== '.');
    todo.unshift(...parts);
    fromTarget = parts.length + 1;
    followed = { at: next, target };
    if (target.startsWith('/')) cur = '';
  }
  return { real: cur || '/' };
}

const ROOT_ONLY_FIX = 'every dir from / down to the store must be owned by root and writable by root alone (`chown root`, `chmod go-w`), or list a store path that needs no symlink';

/**
 * Why root may not make something in `dir` and trust it to stay there, or undefined: a component
 * is a symlink or missing, or a dir on the way lets another user replace what follows it (a
 * root-owned sticky dir like /tmp is fine: nobody else may rename root's entries in it).
 * `upToMissing`: the path need not exist yet; its existing part is checked, down to the dir in
 * which root would make the rest (or the last one this process may search).
 */
export function rootOnlyProblem(dir: string, opts: { upToMissing?: boolean } = {}): string | undefined {
  let cur = '/';
  // Where root would make the first missing component (root's, 0755, and so the rest): nobody
  // else may write there at all, a sticky bit included, or they could make that name first.
  const makesIn = (d: string): string | undefined => {
    const st = fs.statSync(d);
    if (st.uid !== 0) return `${d} is owned by uid ${st.uid}`;
    return (st.mode & 0o022) === 0 ? undefined : `${d} may be written by users other than root, who could make what root would make there first`;
  };
  for (const part of normalise(dir).split('/').filter(Boolean)) {
    const next = path.join(cur, part);
    let st: fs.Stats | undefined;
    try {
      st = fs.lstatSync(next, { throwIfNoEntry: false });
    } catch (e) {
      // `cur` is not searchable by this (non-root) process: only what `cur` itself allows matters.
      if (!opts.upToMissing || (e as NodeJS.ErrnoException).code !== 'EACCES') throw e;
      return makesIn(cur);
    }
    if (!st) return opts.upToMissing ? makesIn(cur) : `${next} does not exist`;
    if (st.isSymbolicLink()) return `${next} is a symlink`;
    const bad = untrustedDir(cur, st);
    if (bad) return bad;
    cur = next;
  }
  // What root makes in it is root's.
  return untrustedDir(cur, { uid: 0 } as fs.Stats);
}

/**
 * Why the real dir `dir` lets someone other than root change `entry` (the lstat of what the walk
 * goes on to inside it), or undefined: owned by root, writable by root alone; a sticky dir
 * writable by all (like /tmp) only protects entries that root owns.
 */
function untrustedDir(dir: string, entry: fs.Stats): string | undefined {
  const d = fs.statSync(dir);
  if (d.uid !== 0) return `${dir} is owned by uid ${d.uid}`;
  if ((d.mode & 0o022) === 0) return undefined;
  if ((d.mode & 0o1000) !== 0 && entry.uid === 0) return undefined;
  return `${dir} may be written by users other than root`;
}

/** Why the symlink `st` in the real dir `dir` may have been made by someone other than root, or undefined. */
function rootMadeProblem(st: fs.Stats, dir: string): string | undefined {
  if (st.uid !== 0) return `it is owned by uid ${st.uid}, not root`;
  const d = fs.statSync(dir);
  if (d.uid !== 0 || (d.mode & 0o022) !== 0) return `it is in ${dir}, which ${d.uid !== 0 ? `uid ${d.uid} owns` : 'users other than root may write to'}`;
  return undefined;
}

/**
 * The first component of `p` that is a symlink, walking from `/` with lstat; undefined when there
 * is none up to the first missing component. Checking only the last component (or resolving with
 * realpath and checking the result) misses a symlinked parent, through which a create or a
 * chown lands wherever its owner points it.
 */
export function symlinkedComponent(p: string): SymlinkedComponent | undefined {
  return walk(p, false).link;
}

/** Throws (naming `what`) when `p` passes through a symlink: the check right before a change on disk. */
export function assertNoSymlink(p: string, what: string): void {
  const link = symlinkedComponent(p);
  if (link) throw new Error(`refusing to ${what} ${p}: ${link.at} is a symlink (to ${link.target}); runbox never creates or chowns anything through a symlink`);
}

/**
 * Validates a host path input value, on disk too: no component may be a symlink (another user
 * may have planted it, and where it points can change after any check), or with
 * `rootMadeParents` (store paths) none but those root made above the path (see walk), and every
 * existing dir on the way to the real path, and that path itself, root's alone (rootOnlyProblem). Runs while parsing the inputs, so
 * nothing is created, chowned or deleted before every input path passed. Returns the path as
 * given, normalised, and where it really is.
 */
export function checkHostPathOnDisk(input: string, p: string, fix: string, opts: { rootMadeParents?: boolean } = {}): { clean: string; real: string } {
  const problem = pathProblem(p);
  if (problem) throw new InputError(input, problem, fix);
  const clean = normalise(p);
  const r = walk(clean, opts.rootMadeParents === true);
  if (r.link === undefined) {
    // Root's links may point anywhere, but not into what no input may name.
    const realProblem = r.real === clean ? undefined : pathProblem(r.real);
    if (realProblem)
      throw new InputError(input, `'${clean}' resolves through root's symlinks to ${realProblem.replace(/^'[^']*' /, `${r.real}, which `)}`, `${fix}. Give a path that is not a system dir`);
    // Root renames items into it and writes its DB by path: a user who may change a dir on the
    // way could swap the store dir (or the DB dir) for a link to /etc between runbox's checks and
    // those writes. Refused rather than worked around: every step would have to be fd-relative.
    const shared = opts.rootMadeParents ? rootOnlyProblem(r.real, { upToMissing: true }) : undefined;
    if (shared)
      throw new InputError(
        input,
        `'${clean}'${r.real === clean ? '' : ` (really ${r.real})`} lies in a tree another user may change: ${shared}; root restores into it by path, so that user could swap what runbox checked for a link between the check and root's write`,
        `${fix}. Make every dir from / down to it owned by root and writable by root alone (\`chown root\`, \`chmod go-w\`; a root-owned sticky dir like /tmp or the store dir's 1775 is fine); a single-user Nix install (/nix owned by its user) is not supported: use a multi-user (daemon) install`
      );
    return { clean, real: r.real };
  }
  const { link } = r;
  throw new InputError(
    input,
    `'${clean}' resolves through a symlink (${link.at} -> ${link.target}) to ${whereItLands(clean)}; ` + (link.why ?? 'runbox never creates, chowns or deletes anything through a symlink'),
    `${fix}. Give the real path (see \`realpath ${clean}\`), or remove ${link.at} if you did not make it` + (link.fix ? `; ${link.fix}` : '')
  );
}

/** Where `p` lands through every link, for a message (links root did not make included). */
function whereItLands(p: string): string {
  let real: string;
  try {
    real = resolveExisting(p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ELOOP') return 'a loop of symlinks';
    throw e;
  }
  const problem = pathProblem(real);
  return problem ? problem.replace(/^'[^']*' /, '') : real;
}

/** checkHostPathOnDisk's normalised path: for inputs runbox works on as given. */
export function checkHostPath(input: string, p: string, fix: string, opts: { rootMadeParents?: boolean } = {}): string {
  return checkHostPathOnDisk(input, p, fix, opts).clean;
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
