// Gives paths back to the runner user. Containers write root-owned files into the workspace and
// bind mounts; the next checkout's `git clean` then fails. Post heals it, and so does the next
// main, because a hard-killed job never runs its post.
import fs from 'node:fs';
import { chown, countForeign } from './fs-ops.js';
import type { Ids } from './owner.js';

export interface ReclaimResult {
  path: string;
  healed: number;
}

export async function reclaimPaths(paths: string[], runner: Ids): Promise<ReclaimResult[]> {
  const out: ReclaimResult[] = [];
  for (const p of paths) {
    const st = fs.lstatSync(p, { throwIfNoEntry: false });
    if (!st) continue;
    if (st.isSymbolicLink()) throw new Error(`reclaim path ${p} is a symlink; list the real directory instead`);
    const foreign = await countForeign(p, runner);
    if (foreign > 0) await chown([p], runner, { recursive: true });
    out.push({ path: p, healed: foreign });
  }
  return out;
}
