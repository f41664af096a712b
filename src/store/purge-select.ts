// Which listed cache entries purge deletes, and why each other one stays. Pure: the listing
// comes from the REST API (caches-rest.ts), the facts about this job from post.
//
// Only runbox entries of this store are ever candidates: the cache version (entryVersion: format,
// store kind, store paths) must be this store's, the ref this job's (a pull request never touches
// its base branch's entries, nor one branch another's), and the key must start with a purge prefix.
//
// A delta names its base (a full snapshot) by key inside its manifest, which the listing does not
// show. Post knows the manifest of the entry it has just saved, and the base main restored. Every
// other entry that stays may be a delta whose base post cannot see, and a delta's base is always
// older than the delta (it was restored by the job that saved the delta). So no entry is deleted
// that is older than a kept entry of unknown content: that kept entry might be a delta over it.
// This keeps a kept delta's base however many jobs ran in between, at the price of deleting less
// while such an entry stays (see the README's Purge section).
import type { CacheListing } from './cache-service/caches-rest.js';
import { shown } from '../common/untrusted-text.js';

export interface PurgeFacts {
  /** The cache version of this store's runbox entries (entryVersion). */
  version: string;
  /** This job's GITHUB_REF, as the API names an entry's ref. */
  ref: string;
  prefixes: readonly string[];
  /** The key post saved under in this job, if it saved; and the full snapshot it is a delta over. */
  saved?: { key: string; base?: string };
  /** The key main restored, and the full snapshot under it when it was a delta (or itself when full) if main recorded one. */
  restored?: { key: string; base?: string };
  /** Epoch ms: only entries created before it may go (purge-created-before). */
  createdBefore?: number;
  /** Epoch ms: only entries last used before it may go (purge-last-accessed-before). */
  lastAccessedBefore?: number;
  maxDeletions: number;
}

export interface Kept {
  entry: CacheListing;
  why: string;
}

export interface PurgePlan {
  /** Newest first. */
  remove: CacheListing[];
  kept: Kept[];
  /** Listed under a prefix but not this store's runbox entries, or of another ref: never candidates. */
  foreign: { otherVersion: number; otherRef: number };
}

const newerFirst = (a: CacheListing, b: CacheListing): number => b.createdAt - a.createdAt || b.id - a.id;

export function planPurge(listed: readonly CacheListing[], f: PurgeFacts): PurgePlan {
  const byId = new Map<number, CacheListing>();
  for (const e of listed) byId.set(e.id, e);
  const all = [...byId.values()];
  const foreign = { otherVersion: 0, otherRef: 0 };
  const scope: CacheListing[] = [];
  for (const e of all) {
    if (!f.prefixes.some((p) => e.key.startsWith(p))) continue;
    if (e.version !== f.version) foreign.otherVersion++;
    else if (e.ref !== f.ref) foreign.otherRef++;
    else scope.push(e);
  }
  scope.sort(newerFirst);

  // Entries whose content post knows: the one it saved (its base is in its manifest), and the
  // bases themselves (always full snapshots). A restored entry is known when main recorded its base.
  const known = new Map<string, string | undefined>();
  const keepFor = new Map<string, string>();
  if (f.saved) {
    known.set(f.saved.key, f.saved.base);
    keepFor.set(f.saved.key, 'saved by this job');
    if (f.saved.base !== undefined && f.saved.base !== f.saved.key) {
      known.set(f.saved.base, undefined);
      keepFor.set(f.saved.base, `the base of ${f.saved.key}, the delta this job saved`);
    }
  } else if (f.restored) {
    keepFor.set(f.restored.key, 'restored by this job, which saved nothing newer');
    if (f.restored.base !== undefined) {
      known.set(f.restored.key, f.restored.base === f.restored.key ? undefined : f.restored.base);
      if (f.restored.base !== f.restored.key) {
        known.set(f.restored.base, undefined);
        keepFor.set(f.restored.base, `the base of ${f.restored.key}, the delta this job restored`);
      }
    }
  }
  for (const p of f.prefixes) {
    const newest = scope.find((e) => e.key.startsWith(p));
    if (newest && !keepFor.has(newest.key)) keepFor.set(newest.key, `the newest entry for ${p}`);
  }

  const kept: Kept[] = [];
  const candidates: CacheListing[] = [];
  for (const e of scope) {
    const why =
      keepFor.get(e.key) ??
      (f.createdBefore !== undefined && e.createdAt >= f.createdBefore
        ? 'created after the purge-created-before cut-off'
        : f.lastAccessedBefore !== undefined && e.lastAccessedAt >= f.lastAccessedBefore
          ? 'used after the purge-last-accessed-before cut-off'
          : undefined);
    if (why) kept.push({ entry: e, why });
    else candidates.push(e);
  }

  // The delta-base guard: a kept entry of unknown content shields every older entry.
  const unknown = kept.filter((k) => !known.has(k.entry.key)).map((k) => k.entry);
  const remove: CacheListing[] = [];
  for (const c of candidates) {
    const shield = unknown.filter((u) => newerFirst(u, c) < 0).pop();
    if (shield) kept.push({ entry: c, why: `older than ${shown(shield.key)}, which stays and may be a delta over it` });
    else remove.push(c);
  }
  // Newest first within the bound: what stays over it is older than everything deleted, so it
  // can name none of the deleted entries as its base.
  for (const e of remove.splice(f.maxDeletions)) kept.push({ entry: e, why: `over the ${f.maxDeletions} deletions one post makes; a later post goes on` });
  kept.sort((a, b) => newerFirst(a.entry, b.entry));
  return { remove, kept, foreign };
}
