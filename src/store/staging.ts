// The per-run staging dir: runner-owned, under RUNNER_TEMP (which the runner wipes between jobs),
// named so that removal can prove it is ours before deleting anything. Each one is also
// registered as a cleanup: a cancelled step exits from its signal handler, where the callers'
// `finally` blocks never run.
import fs from 'node:fs';
import path from 'node:path';
import { registerCleanup } from '../action/on-cancel.js';
import { formatBytes } from '../action/job-summary.js';

export const STAGING_PREFIX = 'runbox-store-';

const unregisters = new Map<string, () => void>();

export function createStaging(base: string): string {
  fs.mkdirSync(base, { recursive: true });
  const dir = fs.mkdtempSync(path.join(base, STAGING_PREFIX));
  unregisters.set(
    dir,
    registerCleanup(() => removeStaging(dir, base))
  );
  return dir;
}

/**
 * Removes a staging dir made by createStaging. Refuses anything else: a path that is not a
 * direct child of `base` named runbox-store-*, or a symlink.
 */
export function removeStaging(dir: string, base: string): void {
  unregisters.get(dir)?.();
  unregisters.delete(dir);
  const resolvedBase = fs.realpathSync(base);
  if (path.dirname(dir) !== base && path.dirname(dir) !== resolvedBase) throw new Error(`refusing to remove ${dir}: not directly in ${base}`);
  if (!path.basename(dir).startsWith(STAGING_PREFIX)) throw new Error(`refusing to remove ${dir}: not a runbox staging dir`);
  const st = fs.lstatSync(dir, { throwIfNoEntry: false });
  if (!st) return;
  if (!st.isDirectory()) throw new Error(`refusing to remove ${dir}: not a real directory`);
  fs.rmSync(dir, { recursive: true, force: true });
}

/**
 * When `e` is the staging filesystem running out of space, what to tell the user: the path, how
 * full it is and what was being written, instead of a bare ENOSPC (or, on restore, a snapshot
 * that looks evicted). undefined for any other error.
 */
export function stagingSpaceProblem(e: unknown, base: string, writing: string): string | undefined {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  const message = e instanceof Error ? e.message : String(e);
  // The entry reader checks the free space before it writes ("not enough free space in"); the
  // rest is the kernel's ENOSPC as node, tar or zstd report it.
  if (code !== 'ENOSPC' && !/ENOSPC|No space left on device|not enough free space in/.test(message)) return undefined;
  let fsState = '';
  try {
    const s = fs.statfsSync(base);
    fsState = ` (${formatBytes(s.bavail * s.bsize)} free of ${formatBytes(s.blocks * s.bsize)} once runbox removed its files)`;
  } catch (err) {
    fsState = ` (its size could not be read: ${(err as Error).message})`;
  }
  return (
    `no space left on the filesystem of ${base} (RUNNER_TEMP, where runbox stages ${writing})${fsState}. ` +
    `Free space there, or give the runner a RUNNER_TEMP on a filesystem with room for the compressed snapshot`
  );
}
