// `restore-all-matches`: merge several snapshots into one store, e.g. the parts that the legs of
// a matrix saved. The cache service answers a lookup with one entry (the newest under the first
// matching key), so the entries are listed through the REST API (caches-rest.ts, `token` with
// `actions: read`), then each is fetched by its exact key through the cache service and applied
// exactly as a single restore is (restore.ts applyFetched: its signature, members and
// registrations checked, a delta together with its base). Restores are additive: an item the
// store has is skipped, so applying them one after another gives the union.
//
// On an exact hit of the key only that entry is restored (it is what a previous merge saved).
// Without a token the API takes, or without the permission, a warning and the first match, as
// without this input. One restore lock for the whole loop: no other restore into this store runs
// between two of the entries.
import * as core from '@actions/core';
import { errorMessage } from '../common/errors.js';
import { ensurePrivilege } from '../sys/exec.js';
import { prepareLauncher } from '../sys/launch.js';
import { formatBytes, type StepReport } from '../action/job-summary.js';
import { bytesUnder, withProgress } from '../action/progress.js';
import { withStoreRestoreLock } from '../lock/restore-lock.js';
import { defaultBranch } from '../action/job-context.js';
import { readableRef, type JobRefs } from './cache-scope.js';
import { isRefusal, listCaches, type CacheListing, type RestTarget } from './cache-service/caches-rest.js';
import { entryVersion, restoreEntry } from './cache-io.js';
import { keyProblem, realStoreDir, realStorePaths, type StoreConfig } from './config.js';
import { DaemonStartError } from './daemon.js';
import { writeBaseInfo } from './delta.js';
import { resolveKeys, type ResolvedKeys } from './key.js';
import {
  applyFetched,
  describeKeys,
  fetchDeltaBase,
  fetchSnapshot,
  initialState,
  removeStagings,
  restoreStore,
  restoreTimes,
  StoreMissError,
  type ApplyResult,
  type Fetched,
  type StoreOutputs
} from './restore.js';
import { createStaging } from './staging.js';
import type { StoreState } from './state.js';

/** Entries merged at most, newest first; the summary names how many matching ones were left out. */
export const MAX_MERGED = 10;

/** The store's restore: one snapshot, or with `restore-all-matches` every match (see above). */
export async function restoreStoreAll(cfg: StoreConfig, report: StepReport, setOutputs: (o: StoreOutputs) => void): Promise<StoreState> {
  if (!cfg.restoreAllMatches) return restoreStore(cfg, report, setOutputs);
  const token = cfg.restoreAllMatches.token;
  // As restoreStore: refused before the lock and any download.
  realStorePaths(cfg.root, cfg.storePaths);
  prepareLauncher();
  return withStoreRestoreLock(realStoreDir(cfg.root, cfg.kind), (busy) => restoreAllLocked(cfg, token, report, setOutputs, busy));
}

/**
 * The keys to merge, newest first: this store's runbox entries (the cache version) whose key
 * starts with a restore key, readable from this job's ref (cache-scope.ts), one per key, at most MAX_MERGED. A string when the API refused: the reason.
 */
export async function listMatches(
  cfg: StoreConfig,
  prefixes: readonly string[],
  token: string,
  env: NodeJS.ProcessEnv = process.env
): Promise<{ keys: string[]; leftOut: number; truncated: boolean } | string> {
  const job: JobRefs = { ref: (env.GITHUB_REF ?? '').trim(), baseRef: (env.GITHUB_BASE_REF ?? '').trim(), defaultBranch: defaultBranch(env) };
  const repository = (env.GITHUB_REPOSITORY ?? '').trim();
  if (!/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/.test(repository)) return 'GITHUB_REPOSITORY is not set as the runner sets it';
  const target: RestTarget = { apiUrl: (env.GITHUB_API_URL ?? '').trim() || 'https://api.github.com', repository, token };
  const version = entryVersion(cfg.kind, cfg.storePaths);
  const listed: CacheListing[] = [];
  let truncated = false;
  for (const p of prefixes) {
    const r = await listCaches(target, p, undefined, 'read');
    if (isRefusal(r)) return r.message;
    listed.push(...r.entries);
    truncated ||= r.truncated;
  }
  const newest = new Map<string, CacheListing>();
  for (const e of listed) {
    // Keys go into outputs, log lines and a lookup: the same checks as a key the service answers
    // with (printable ASCII, a key the service accepts), so they are shown as they are.
    if (e.version !== version || /[^\x20-\x7e]/.test(e.key) || keyProblem(e.key) !== undefined || !prefixes.some((p) => e.key.startsWith(p))) continue;
    if (!readableRef(e.ref, job)) continue;
    const seen = newest.get(e.key);
    if (!seen || e.createdAt > seen.createdAt) newest.set(e.key, e);
  }
  const keys = [...newest.values()].sort((a, b) => b.createdAt - a.createdAt || b.id - a.id).map((e) => e.key);
  return { keys: keys.slice(0, MAX_MERGED), leftOut: Math.max(0, keys.length - MAX_MERGED), truncated };
}

/** One entry by its exact key (and a delta's base); undefined, said, when it cannot be had. */
async function fetchExact(cfg: StoreConfig, key: string, stagings: string[]): Promise<Fetched | undefined> {
  const staging = createStaging(cfg.stagingBase);
  stagings.push(staging);
  const entry = await withProgress(
    `downloading the snapshot ${key}`,
    () => bytesUnder(staging),
    () => restoreEntry(staging, key, [], { kind: cfg.kind, storePaths: cfg.storePaths, trustedKeys: cfg.trustedKeys })
  );
  if (!entry) return undefined;
  // The service matches a key as a prefix too: a longer key is another entry (listed on its own if it matches).
  if (entry.matched !== key) {
    core.info(`the cache service answered ${key} with ${entry.matched}; ${key} itself is not restored`);
    return undefined;
  }
  const b = await fetchDeltaBase(cfg, entry, stagings);
  if ('missing' in b) {
    core.warning(
      `runbox store: ${key} is a delta over ${b.missing}, which could not be fetched (${b.space ?? 'evicted, or a cache service problem in the warnings above'}); the other matches are still restored`
    );
    return undefined;
  }
  return { matched: key, entry, ...b };
}

interface Applied {
  key: string;
  r: ApplyResult;
}

async function restoreAllLocked(cfg: StoreConfig, token: string, report: StepReport, setOutputs: (o: StoreOutputs) => void, busy?: string): Promise<StoreState> {
  const keys = await resolveKeys(cfg);
  report.add('cache key', describeKeys(keys));
  const state = initialState(cfg, keys);
  setOutputs({ primaryKey: keys.primary, matchedKey: '', exactHit: false, matchedKeys: [] });
  await ensurePrivilege('restore store snapshots into root-owned store paths');

  const stagings: string[] = [];
  const applied: Applied[] = [];
  try {
    if (busy) report.add('store snapshot', `miss: nothing restored (${busy})`);
    else await mergeMatches(cfg, keys, token, stagings, applied, report);
    state.matchedKey = applied[0]?.key ?? '';
    state.exactHit = state.matchedKey === keys.primary;
    // A delta saved after a merge holds everything its base lacks, so any restored full snapshot
    // will do as its base; the largest leaves the smallest delta.
    const largest = [...applied].sort((a, b) => b.r.full.bytes - a.r.full.bytes)[0];
    if (largest && cfg.delta === 'auto' && cfg.save !== 'never' && !(cfg.save === 'auto' && state.exactHit)) {
      const baseKey = largest.r.deltaOf ?? largest.key;
      state.base = { key: baseKey, ...writeBaseInfo(cfg.stagingBase, { key: baseKey, bytes: largest.r.full.bytes, items: largest.r.full.items }) };
    }
    setOutputs({ primaryKey: keys.primary, matchedKey: state.matchedKey, exactHit: state.exactHit, matchedKeys: applied.map((a) => a.key) });
    if (!state.matchedKey && cfg.failOnCacheMiss)
      throw new StoreMissError(`fail-on-cache-miss is true and no store snapshot was restored for ${keys.primary}${keys.restore.length ? ` or ${keys.restore.join(', ')}` : ''}`, state);
    return state;
  } finally {
    removeStagings(cfg, stagings);
  }
}

/** The exact key alone, else every listed match (else, refused, the first match); each applied in turn, `applied` newest first. */
async function mergeMatches(cfg: StoreConfig, keys: ResolvedKeys, token: string, stagings: string[], applied: Applied[], report: StepReport): Promise<void> {
  const exact = await fetchExact(cfg, keys.primary, stagings);
  const plan: Array<{ key: string; fetch: () => Promise<Fetched | undefined> }> = [];
  if (exact) {
    core.info(`${keys.primary} matched exactly: it is restored alone (restore-all-matches merges the restore keys' entries on a miss of the key)`);
    plan.push({ key: keys.primary, fetch: () => Promise.resolve(exact) });
  } else if (keys.restore.length > 0) {
    const listed = await listMatches(cfg, keys.restore, token);
    if (typeof listed === 'string') {
      core.warning(
        `runbox store: restore-all-matches could not list the entries matching ${keys.restore.join(', ')} (${listed}); restoring the first match only. Give the job 'permissions: actions: read' (or pass a token with it in 'token')`
      );
      report.add('store snapshots merged', `not listed (${listed}); the first match only`);
      const { fetched } = await fetchSnapshot(cfg, keys, stagings);
      if (fetched) plan.push({ key: fetched.matched, fetch: () => Promise.resolve(fetched) });
    } else {
      core.info(`restore-all-matches: ${listed.keys.length} entr${listed.keys.length === 1 ? 'y' : 'ies'} to restore, newest first: ${listed.keys.join(', ') || '(none)'}`);
      if (listed.leftOut > 0 || listed.truncated)
        report.add(
          'store snapshots merged',
          `the newest ${MAX_MERGED} matching entries are restored; ${listed.leftOut > 0 ? `${listed.leftOut} older ones are not` : 'the listing stopped at its page limit'}`
        );
      for (const key of listed.keys) plan.push({ key, fetch: () => fetchExact(cfg, key, stagings) });
    }
  }
  for (const [i, p] of plan.entries()) {
    const row = `store snapshot ${i + 1}/${plan.length}`;
    const fetched = await p.fetch();
    if (!fetched) {
      report.add(row, `not restored: ${p.key} (see the log)`);
      continue;
    }
    try {
      const { r, detail } = await applyFetched(cfg, fetched, stagings[stagings.length - 1]);
      applied.push({ key: fetched.matched, r });
      report.add(row, `restored ${fetched.matched} (${fetched.matched === keys.primary ? 'exact hit' : 'restore-key hit'}${detail}`);
      report.add(`store restore time ${i + 1}/${plan.length}`, restoreTimes(r));
    } catch (e) {
      if (e instanceof DaemonStartError) throw e;
      core.warning(`runbox store: the snapshot ${fetched.matched} was not restored, the other matches still are: ${errorMessage(e)}`);
      report.add(row, `not restored (${fetched.matched}): ${errorMessage(e)}`);
    }
  }
  const bytes = applied.reduce((n, a) => n + a.r.dataBytes, 0);
  report.add(
    'store snapshot',
    applied.length === 0
      ? `miss: nothing restored for ${keys.primary}${keys.restore.length ? ` or ${keys.restore.join(', ')}` : ''} (restore-all-matches; cache service problems, if any, are in the warnings)`
      : `restored ${applied.length} of ${plan.length} entr${plan.length === 1 ? 'y' : 'ies'} into one store (restore-all-matches, newest first): ${applied.map((a) => a.key).join(', ')}; ${formatBytes(bytes)} of files read`
  );
}
