// Gives paths back to the runner user. Containers write root-owned files into the workspace and
// bind mounts; the next checkout's `git clean` then fails. Post heals it, and so does the next
// main, because a hard-killed job never runs its post.
import fs from 'node:fs';
import { chownTree, countForeign } from '../sys/privileged-fs.js';
import type { Ids } from '../sys/users.js';
import { symlinkedComponent } from '../sys/path-safety.js';

export interface ReclaimResult {
  path: string;
  healed: number;
}

export async function reclaimPaths(paths: string[], runner: Ids): Promise<ReclaimResult[]> {
  const out: ReclaimResult[] = [];
  for (const p of paths) {
    // Every component, not only the last: a symlinked parent would send the chown anywhere.
    // Checked while parsing the inputs too; again here, since post runs much later.
    const link = symlinkedComponent(p);
    if (link)
      throw new Error(`reclaim path ${p} passes through the symlink ${link.at} (to ${link.target}); nothing was chowned. List the real directory instead, or remove ${link.at} if you did not make it`);
    const st = fs.lstatSync(p, { throwIfNoEntry: false });
    if (!st) continue;
    const foreign = await countForeign(p, runner);
    if (foreign > 0) await chownTree(p, runner);
    out.push({ path: p, healed: foreign });
  }
  return out;
}
