// Main's dir work: this run's dirs under base-dir and the bind-mount sources, created with the
// right owner so Docker never creates them as root.
import { chownTree, countForeign, ensureDir } from '../sys/privileged-fs.js';
import type { DirSpec, Layout } from './layout.js';
import { dirPath } from './layout.js';
import type { Ids } from '../sys/users.js';
import { symlinkedComponent } from '../sys/path-safety.js';
import type { ProvisionedDir } from '../action/step-state.js';

/** base-dir and the run/pr parents belong to the runner user; the dirs themselves to `owner`. */
export async function provisionDirs(layout: Layout, specs: DirSpec[], owner: Ids, runner: Ids): Promise<ProvisionedDir[]> {
  if (specs.length === 0) return [];
  await ensureDir(layout.baseDir, runner, { shared: true });
  if (specs.some((s) => s.scope === 'run')) await ensureDir(layout.runDir, runner);
  if (specs.some((s) => s.scope === 'pr')) await ensureDir(layout.prDir, runner, { shared: true });
  const out: ProvisionedDir[] = [];
  for (const spec of specs) {
    const p = dirPath(layout, spec);
    await ensureDir(p, owner);
    out.push({ name: spec.name, path: p, scope: spec.scope });
  }
  return out;
}

export interface MountResult {
  path: string;
  created: boolean;
  /** Entries whose ownership was corrected (existing mounts only). */
  chowned: number;
}

/**
 * Missing sources are created owned by `owner`; existing ones are chowned to it, recursively,
 * on their own filesystem, never through a symlink (a symlinked component anywhere is refused).
 */
export async function provisionMounts(mounts: string[], owner: Ids): Promise<MountResult[]> {
  const out: MountResult[] = [];
  for (const m of mounts) {
    const link = symlinkedComponent(m);
    if (link)
      throw new Error(
        `mount source ${m} passes through the symlink ${link.at} (to ${link.target}); nothing was created or chowned. List the real directory instead, or remove ${link.at} if you did not make it`
      );
    const made = await ensureDir(m, owner);
    if (made.length > 0) {
      out.push({ path: m, created: true, chowned: 0 });
      continue;
    }
    const foreign = await countForeign(m, owner);
    if (foreign > 0) await chownTree(m, owner);
    out.push({ path: m, created: false, chowned: foreign });
  }
  return out;
}
