// Sharded snapshots: the store's top-level items split into N archives that are created and
// extracted in parallel (one tar + zstd per core), all inside the one cache entry.
//
// Each shard lists its items' members in tree order (a dir before what is in it, which restore
// requires), after the store paths themselves as bare dirs. Items are self-contained (no hard
// links, no dot-dirs; see listing.ts), so no member ever goes with more than one shard.
import os from 'node:os';
import { byteOrder, treeOrder, type StoreListing } from './listing.js';

/** More archives than this buy nothing on today's runners and cost a process each. */
export const MAX_SHARDS = 64;
const AUTO_MAX = 8;
/** Below this, a second tar costs more than it saves; `auto` keeps one archive. */
const AUTO_MIN_BYTES = 64 * 1024 * 1024;

export interface ShardPlan {
  /** Per shard: member paths relative to the root, in tree order (see treeOrder). */
  lists: string[][];
  /** Per shard: the sum of its files' sizes (the manifest's dataBytes). */
  dataBytes: number[];
}

/** `shards: auto`: one archive per core, at most AUTO_MAX. */
export function autoShardCount(): number {
  return Math.max(1, Math.min(AUTO_MAX, os.availableParallelism()));
}

/**
 * Splits the listed items into `count` shards balanced by bytes (largest item first onto the
 * lightest shard). `auto`: undefined (one archive) for small stores.
 */
export function planShards(listing: StoreListing, count: number, auto: boolean): ShardPlan | undefined {
  if (count <= 1) return undefined;
  const { shared, items } = listing;
  const total = [...items.values()].reduce((n, i) => n + i.bytes, 0);
  if (auto && total < AUTO_MIN_BYTES) return undefined;
  const n = Math.min(count, items.size);
  if (n <= 1) return undefined;

  const lists: string[][] = Array.from({ length: n }, () => [...shared]);
  const load = new Array<number>(n).fill(0);
  const dataBytes = new Array<number>(n).fill(0);
  const ordered = [...items.entries()].sort((a, b) => b[1].bytes - a[1].bytes || byteOrder(a[0], b[0]));
  for (const [, item] of ordered) {
    const s = load.indexOf(Math.min(...load));
    load[s] += item.bytes;
    dataBytes[s] += item.dataBytes;
    for (const e of item.entries) lists[s].push(e.rel);
  }
  for (const l of lists) l.sort(treeOrder);
  return { lists, dataBytes };
}
