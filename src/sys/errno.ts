// Errno checks and the one "lstat, or nothing there" of runbox.
import fs from 'node:fs';

// Not `instanceof Error`: errors thrown by node core come from another realm under jest's vm modules.
export function errnoOf(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null ? (e as NodeJS.ErrnoException).code : undefined;
}

export function isErrno(e: unknown, ...codes: readonly string[]): boolean {
  const code = errnoOf(e);
  return code !== undefined && codes.includes(code);
}

/**
 * lstat, or undefined when the path names nothing: ENOENT, and ENOTDIR, which is the same answer
 * for a path whose parent was replaced by a file (a concurrent reap or a planted file). Any other
 * errno is not "missing" and is thrown: EACCES in particular means "there may be something we
 * cannot see", and only a caller that can treat such an entry as not its own says so with
 * `hiddenIsMissing` (warm, which never copies from a dir another runner user closed).
 */
export function lstatOrUndefined(p: string, opts: { hiddenIsMissing?: boolean } = {}): fs.Stats | undefined {
  try {
    return fs.lstatSync(p);
  } catch (e) {
    if (isErrno(e, 'ENOENT', 'ENOTDIR') || (opts.hiddenIsMissing === true && isErrno(e, 'EACCES'))) return undefined;
    throw e;
  }
}
