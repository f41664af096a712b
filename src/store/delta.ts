// Delta snapshots: when main restored a full snapshot (the base) and the job added only a few
// store items, post uploads just those items plus the DB copy, in an entry whose manifest
// names the base by key. Restore fetches both and applies them as one sharded snapshot would
// be applied (see shard-rules.ts): the delta's items must not overlap the base's; each archive
// extracts into its own sub-dir of the private dir, so neither can write through the other.
//
// Chains never grow: a delta always refers to a FULL snapshot. When main restored a delta
// (base + delta), post's base is that same full base, and the new delta holds every item the
// full base lacks.
//
// The item set of the base travels from main to post in a runner-owned file under RUNNER_TEMP
// (the run state goes through GITHUB_STATE and must stay small); the state holds its path and
// its sha256, so a file changed in between is ignored (post then saves a full snapshot).
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { dataBytesOf, treeOrder, type StoreListing } from './listing.js';

/** New items must be fewer than this fraction of the items on disk for a delta. */
export const DELTA_MAX_NEW_FRACTION = 0.05;

export const BASE_FILE_PREFIX = 'runbox-base-items-';

/** What main knows about the full snapshot it restored (directly or under a delta). */
export interface BaseInfo {
  /** Cache key of the full snapshot. */
  key: string;
  /** Compressed bytes of the full snapshot (archives + DB copies). */
  bytes: number;
  /** Top-level entries (absolute, e.g. /gnu/store/<item>) the full snapshot's archives hold. */
  items: string[];
}

export interface DeltaPlan {
  /** Members relative to the root, in tree order, for `tar --no-recursion -T`. */
  list: string[];
  /** The sum of its files' sizes (the manifest's dataBytes). */
  dataBytes: number;
  /** Top-level items on disk (dot-entries such as `.links` not counted). */
  items: number;
  /** Items on disk that the base lacks (absolute). */
  newItems: string[];
}

/** Writes the base info next to the staging dirs; returns its path and sha256 for the state. */
export function writeBaseInfo(stagingBase: string, info: BaseInfo): { file: string; sha256: string } {
  fs.mkdirSync(stagingBase, { recursive: true });
  const file = path.join(stagingBase, `${BASE_FILE_PREFIX}${crypto.randomUUID()}.json`);
  const text = JSON.stringify({ key: info.key, bytes: info.bytes, items: [...info.items].sort() });
  fs.writeFileSync(file, text, { flag: 'wx', mode: 0o600 });
  return { file, sha256: crypto.createHash('sha256').update(text).digest('hex') };
}

/** Reads the base info back; undefined (with the reason) when it is gone or was changed. */
export function readBaseInfo(file: string, sha256: string): BaseInfo | string {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    return `the base item list ${file} cannot be read (${(e as Error).message})`;
  }
  if (crypto.createHash('sha256').update(text).digest('hex') !== sha256) return `the base item list ${file} changed since main wrote it`;
  const o = JSON.parse(text) as Partial<BaseInfo>;
  if (typeof o.key !== 'string' || typeof o.bytes !== 'number' || !Array.isArray(o.items)) return `the base item list ${file} is malformed`;
  return { key: o.key, bytes: o.bytes, items: o.items.filter((i): i is string => typeof i === 'string') };
}

/** Removes the base info file (post, whatever it saved); only a file of ours in stagingBase. */
export function removeBaseInfo(file: string, stagingBase: string): void {
  if (path.dirname(file) !== stagingBase || !path.basename(file).startsWith(BASE_FILE_PREFIX)) return;
  fs.rmSync(file, { force: true });
}

/**
 * Picks what a delta over `baseItems` holds: every member of an item the base lacks, and the
 * store paths themselves (as directory entries only). A file a new item shares with a base item
 * is archived whole (links never cross archives); one shared by new items, once.
 */
export function planDelta(listing: StoreListing, baseItems: ReadonlySet<string>): DeltaPlan {
  const newItems = [...listing.items.keys()].filter((i) => !baseItems.has(i)).sort();
  const list = [...listing.shared];
  for (const i of newItems) for (const e of listing.items.get(i)?.entries ?? []) list.push(e.rel);
  list.sort(treeOrder);
  const dataBytes = dataBytesOf(newItems.flatMap((i) => listing.items.get(i)?.entries ?? []));
  return { list, dataBytes, items: listing.items.size, newItems };
}

/** True when a delta is worth it: fewer new items than DELTA_MAX_NEW_FRACTION of the items. */
export function deltaDue(plan: Pick<DeltaPlan, 'items' | 'newItems'>): boolean {
  return plan.items > 0 && plan.newItems.length < DELTA_MAX_NEW_FRACTION * plan.items;
}
