// Sharded snapshots: the store's top-level items split into N archives that are created and
// extracted in parallel (one tar + zstd per core), all inside the one cache entry.
//
// Each shard lists its items' members in tree order (a dir before what is in it, which restore
// requires), after the store paths themselves as bare dirs. No member ever goes with more than
// one shard. Hard links never cross archives (each is its own tar): a file with names in two
// shards is archived whole in each, so items sharing files are kept together where that does
// not unbalance the shards (see planShards).
import os from 'node:os';
import { byteOrder, dataBytesOf, treeOrder, type Entry, type StoreListing } from './listing.js';

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
  const files = Array.from({ length: n }, () => new Set<string>());
  const members: Entry[][] = Array.from({ length: n }, () => []);
  const ordered = [...items.entries()].sort((a, b) => b[1].bytes - a[1].bytes || byteOrder(a[0], b[0]));
  for (const [, item] of ordered) {
    // What the item would add to each shard: files that shard already holds under another name
    // cost a header only. The lightest shard after adding wins, so an item goes where its
    // shared files are unless that makes the shard the heaviest.
    const cost = (s: number): number => item.entries.reduce((c, e) => c + 512 + (e.type === 'f' && !(e.nlink > 1 && files[s].has(e.ino)) ? e.size : 0), 0);
    let best = 0;
    let bestLoad = Infinity;
    for (let s = 0; s < n; s++) {
      const l = load[s] + cost(s);
      if (l < bestLoad) [best, bestLoad] = [s, l];
    }
    load[best] = bestLoad;
    for (const e of item.entries) {
      lists[best].push(e.rel);
      members[best].push(e);
      if (e.type === 'f' && e.nlink > 1) files[best].add(e.ino);
    }
  }
  const dataBytes = members.map((m) => dataBytesOf(m));
  for (const l of lists) l.sort(treeOrder);
  return { lists, dataBytes };
}
