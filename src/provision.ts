// Main's dir work: this run's dirs under base-dir and the bind-mount sources, created with the
// right owner so Docker never creates them as root.
import * as core from '@actions/core';
import { chown, countForeign, ensureDir } from './fs-ops.js';
import type { DirSpec, Layout } from './layout.js';
import { dirPath } from './layout.js';
import type { Ids } from './owner.js';
import type { ProvisionedDir } from './state.js';

/** base-dir and the run/pr parents belong to the runner user; the dirs themselves to `owner`. */
export async function provisionDirs(layout: Layout, specs: DirSpec[], owner: Ids, runner: Ids): Promise<ProvisionedDir[]> {
  if (specs.length === 0) return [];
  await ensureDir(layout.baseDir, runner);
  if (specs.some((s) => s.scope === 'run')) await ensureDir(layout.runDir, runner);
  if (specs.some((s) => s.scope === 'pr')) await ensureDir(layout.prDir, runner);
  const out: ProvisionedDir[] = [];
  for (const spec of specs) {
    const p = dirPath(layout, spec);
    await ensureDir(p, owner);
    out.push({ name: spec.name, path: p, scope: spec.scope });
    if (spec.envVar) core.exportVariable(spec.envVar, p);
  }
  return out;
}

export interface MountResult {
  path: string;
  created: boolean;
  /** Entries whose ownership was corrected (existing mounts only). */
  chowned: number;
}

/** Missing sources are created owned by `owner`; existing ones are chowned to it, recursively. */
export async function provisionMounts(mounts: string[], owner: Ids): Promise<MountResult[]> {
  const out: MountResult[] = [];
  for (const m of mounts) {
    const made = await ensureDir(m, owner);
    if (made.length > 0) {
      out.push({ path: m, created: true, chowned: 0 });
      continue;
    }
    const foreign = await countForeign(m, owner);
    if (foreign > 0) await chown([m], owner, { recursive: true });
    out.push({ path: m, created: false, chowned: foreign });
  }
  return out;
}
