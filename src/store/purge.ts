// Post, after the save: delete this store's superseded snapshots from the repository's Actions
// cache (`purge: true`), so that the service's own eviction, in whatever order it picks, never
// has to make room by dropping the base of a delta runbox still relies on. What goes is decided
// in purge-select.ts; this module lists, deletes and reports. Nothing here fails the job: a
// refusal (no permission, a rate limit, an API that stays down) is a warning.
import * as core from '@actions/core';
import { errorMessage } from '../common/errors.js';
import { shown } from '../common/untrusted-text.js';
import { actionInputs } from '../action/input-source.js';
import { formatBytes, type StepReport } from '../action/job-summary.js';
import { deleteCache, isRefusal, listCaches, type CacheListing, type Refusal, type RestTarget } from './cache-service/caches-rest.js';
import { entryVersion } from './cache-io.js';
import { parseStoreConfig } from './config.js';
import { defaultRestoreKey } from './key.js';
import { MAX_DELETIONS, parsePurgeConfig, type PurgeConfig } from './purge-config.js';
import { planPurge, type PurgeFacts } from './purge-select.js';
import type { StoreState } from './state.js';

/** What post saved in this job: the key, and the full snapshot it is a delta over. */
export interface SavedEntry {
  key: string;
  base?: string;
}

const ADVICE: Record<Refusal['kind'], string> = {
  permission: "give the job 'permissions: actions: write' (or pass a token with it in 'token')",
  'rate-limit': 'a later post purges what is left',
  auth: "check the 'token' input",
  unavailable: 'a later post purges what is left',
  malformed: 'a later post purges what is left'
};

function refused(report: StepReport, r: Refusal, deleted: string): void {
  core.warning(`runbox purge: ${r.message}; ${deleted}; ${ADVICE[r.kind]}. The job goes on.`);
  report.add('store purge', `stopped: ${r.message}; ${deleted}`);
}

function listKeys(entries: readonly CacheListing[], max = 10): string {
  const shownKeys = entries.slice(0, max).map((e) => shown(e.key));
  return `${shownKeys.join(', ')}${entries.length > max ? ` and ${entries.length - max} more` : ''}`;
}

/** Runs purge when the inputs ask for it; every problem is a warning. */
export async function purgeAfterSave(state: StoreState, saved: SavedEntry | undefined, report: StepReport, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  let cfg: PurgeConfig | undefined;
  let restoreKeys: string[] | undefined;
  try {
    const store = parseStoreConfig(actionInputs, env);
    cfg = parsePurgeConfig(actionInputs, store);
    restoreKeys = store?.restoreKeys;
  } catch (e) {
    // Main refused the same inputs before it restored anything; post has nothing to add.
    core.info(`runbox purge: not run (${errorMessage(e)})`);
    return;
  }
  if (!cfg) return;
  try {
    await purge(state, saved, cfg, restoreKeys, report, env);
  } catch (e) {
    core.warning(`runbox purge: ${errorMessage(e)}. The job goes on.`);
    report.add('store purge', `failed: ${errorMessage(e)}`);
  }
}

async function purge(state: StoreState, saved: SavedEntry | undefined, cfg: PurgeConfig, restoreKeys: string[] | undefined, report: StepReport, env: NodeJS.ProcessEnv): Promise<void> {
  const ref = (env.GITHUB_REF ?? '').trim();
  const repository = (env.GITHUB_REPOSITORY ?? '').trim();
  if (ref === '' || !/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/.test(repository)) {
    core.warning('runbox purge: GITHUB_REF or GITHUB_REPOSITORY is not set as the runner sets it; nothing purged');
    report.add('store purge', 'not run: GITHUB_REF or GITHUB_REPOSITORY is not set');
    return;
  }
  const target: RestTarget = { apiUrl: (env.GITHUB_API_URL ?? '').trim() || 'https://api.github.com', repository, token: cfg.token };
  const restore = restoreKeys ?? defaultRestoreKey(state.primaryKey);
  const prefixes = cfg.prefixes ?? (restore.length > 0 ? restore : [state.primaryKey]);
  const now = Date.now();

  const listed: CacheListing[] = [];
  let truncated = false;
  for (const p of prefixes) {
    const r = await listCaches(target, p, ref);
    if (isRefusal(r)) return refused(report, r, 'nothing deleted');
    listed.push(...r.entries);
    truncated ||= r.truncated;
  }
  const facts: PurgeFacts = {
    version: entryVersion(state.kind, state.storePaths),
    ref,
    prefixes,
    ...(saved ? { saved } : {}),
    ...(state.matchedKey ? { restored: { key: state.matchedKey, ...(state.base ? { base: state.base.key } : {}) } } : {}),
    ...(cfg.createdBeforeSec !== undefined ? { createdBefore: now - cfg.createdBeforeSec * 1000 } : {}),
    ...(cfg.lastAccessedBeforeSec !== undefined ? { lastAccessedBefore: now - cfg.lastAccessedBeforeSec * 1000 } : {}),
    maxDeletions: MAX_DELETIONS
  };
  const plan = planPurge(listed, facts);

  const deleted: CacheListing[] = [];
  let gone = 0;
  let stop: Refusal | undefined;
  for (const e of plan.remove) {
    const r = await deleteCache(target, e.id);
    if (r === 'deleted') deleted.push(e);
    else if (r === 'gone') gone++;
    else {
      stop = r;
      break;
    }
  }
  const bytes = deleted.reduce((n, e) => n + e.sizeInBytes, 0);
  const what = `deleted ${deleted.length} entr${deleted.length === 1 ? 'y' : 'ies'} (${formatBytes(bytes)})${deleted.length > 0 ? `: ${listKeys(deleted)}` : ''}`;
  if (stop) refused(report, stop, what);
  else
    report.add(
      'store purge',
      `${what}${gone > 0 ? `; ${gone} already gone` : ''} (prefixes ${prefixes.map((p) => shown(p)).join(', ')}, ref ${shown(ref)})${truncated ? `; the listing stopped after its page limit, a later post sees the rest` : ''}`
    );
  if (plan.kept.length > 0)
    report.add(
      'store purge kept',
      plan.kept
        .slice(0, 10)
        .map((k) => `${shown(k.entry.key)} (${k.why})`)
        .join('; ') + (plan.kept.length > 10 ? `; and ${plan.kept.length - 10} more` : '')
    );
  const { otherVersion, otherRef } = plan.foreign;
  if (otherVersion + otherRef > 0)
    report.add(
      'store purge skipped',
      `${otherRef} entr${otherRef === 1 ? 'y' : 'ies'} of other refs and ${otherVersion} that are not runbox ${state.kind} snapshots of these store paths; purge never touches those`
    );
}
