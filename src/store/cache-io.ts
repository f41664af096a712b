// The only place that talks to @actions/cache. Two facts of that library shape this module:
// - the `paths` strings feed the entry's version hash (sha256 of `paths.join('|')`, the
//   compression and a salt), so save and restore must pass identical strings on every runner;
// - it tars the paths relative to GITHUB_WORKSPACE (paths themselves are globbed relative to
//   process.cwd()) and extracts relative to GITHUB_WORKSPACE again.
// So we always pass the fixed relative path `runbox-snapshot`, and for the duration of the call
// point both the cwd and GITHUB_WORKSPACE at the per-run staging dir. The entry then holds
// `runbox-snapshot/...` whatever RUNNER_TEMP is, and a snapshot saved on one runner restores
// on another with different RUNNER_TEMP and workspace paths. Nothing else in the action runs
// while the cwd is switched (main and post are sequential).
//
// The cache service is optional by nature: every failure here is a warning and a miss.
import * as cache from '@actions/cache';
import * as core from '@actions/core';
import { errorMessage } from '../errors.js';

export const SNAPSHOT_DIR = 'runbox-snapshot';

async function inStaging<T>(parent: string, fn: () => Promise<T>): Promise<T> {
  const cwd = process.cwd();
  const workspace = process.env.GITHUB_WORKSPACE;
  process.chdir(parent);
  process.env.GITHUB_WORKSPACE = parent;
  try {
    return await fn();
  } finally {
    process.chdir(cwd);
    if (workspace === undefined) delete process.env.GITHUB_WORKSPACE;
    else process.env.GITHUB_WORKSPACE = workspace;
  }
}

function available(what: string): boolean {
  if (cache.isFeatureAvailable()) return true;
  core.warning(`runbox store: the Actions cache service is not available to this job (no ACTIONS_RESULTS_URL / ACTIONS_CACHE_URL); ${what}`);
  return false;
}

/** Downloads the newest entry matching key / restore keys into `<parent>/runbox-snapshot`; the matched key, or undefined. */
export async function restoreEntry(parent: string, primaryKey: string, restoreKeys: string[]): Promise<string | undefined> {
  if (!available('no snapshot is restored')) return undefined;
  try {
    return await inStaging(parent, () => cache.restoreCache([SNAPSHOT_DIR], primaryKey, restoreKeys));
  } catch (e) {
    core.warning(`runbox store: cache lookup failed, continuing without a snapshot: ${errorMessage(e)}`);
    return undefined;
  }
}

/** Uploads `<parent>/runbox-snapshot` under key; the entry id, or undefined when nothing was saved. */
export async function saveEntry(parent: string, key: string): Promise<number | undefined> {
  if (!available('the snapshot is not saved')) return undefined;
  try {
    const id = await inStaging(parent, () => cache.saveCache([SNAPSHOT_DIR], key));
    // -1: reservation or finalisation refused (a concurrent job saved the key first, quota,
    // service down). The library logs why as plain info, which nobody sees in a green job.
    if (id !== -1) return id;
    core.warning(
      `runbox store: the cache service did not take the snapshot under ${key} (a concurrent job may have saved this key first, or the service refused or failed; the lines above say which). The job goes on.`
    );
    return undefined;
  } catch (e) {
    core.warning(`runbox store: saving the snapshot failed, the job goes on without it: ${errorMessage(e)}`);
    return undefined;
  }
}
