// Sharded snapshots: the store's top-level items split into N archives that are created and
// extracted in parallel (one tar + zstd per core), all inside the one cache entry.
//
// Why the split is done member by member rather than by handing tar a few item dirs: Guix and
// Nix dedup files through hard links into a dot-dir (`.links`). tar only records a hard link
// to a file it archived earlier in the same archive, so an item whose files live in `.links`
// must travel with those `.links` entries, or the restore gets copies instead of links. Each
// shard therefore lists, in name order (so `.links/<x>` precedes the item files linking to it),
// its items' members plus every dot-dir entry that one of its items links to. An entry shared
// by items of several shards is stored in each of them; at restore the first tar to create it
// wins (tar opens with O_EXCL under --skip-old-files) and the others link to the file on disk.
//
// Directories that every shard holds (the store paths themselves, dot-dirs) are written by
// whichever tar is first, then changed by the others, so their recorded mtimes are kept in the
// manifest (dirTimes) and put back once all shards are in.
import os from 'node:os';
import { byteOrder, linkedInodes, treeOrder, type DirTime, type StoreListing } from './listing.js';

/** More archives than this buy nothing on today's runners and cost a process each. */
export const MAX_SHARDS = 64;
const AUTO_MAX = 8;
/** Below this, a second tar costs more than it saves; `auto` keeps one archive. */
const AUTO_MIN_BYTES = 64 * 1024 * 1024;

export interface ShardPlan {
  /** Per shard: member paths relative to the root, in tree order (see treeOrder). */
  lists: string[][];
  dirTimes: DirTime[];
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
  const { shared, dirTimes, items, dotEntries } = listing;
  const total = [...items.values()].reduce((n, i) => n + i.bytes, 0);
  if (auto && total < AUTO_MIN_BYTES) return undefined;
  const n = Math.min(count, items.size);
  if (n <= 1) return undefined;

  const lists: string[][] = Array.from({ length: n }, () => [...shared]);
  const load = new Array<number>(n).fill(0);
  const shardsOfInode = new Map<string, Set<number>>();
  const ordered = [...items.entries()].sort((a, b) => b[1].bytes - a[1].bytes || byteOrder(a[0], b[0]));
  for (const [, item] of ordered) {
    const s = load.indexOf(Math.min(...load));
    load[s] += item.bytes;
    for (const e of item.entries) lists[s].push(e.rel);
    for (const ino of linkedInodes(item.entries)) shardsOfInode.set(ino, (shardsOfInode.get(ino) ?? new Set<number>()).add(s));
  }
  // A dot-dir entry goes with every shard whose items link to it; one nobody links to, to shard 0.
  for (const e of dotEntries) {
    const owners = e.type === 'f' ? shardsOfInode.get(e.ino) : undefined;
    for (const s of owners ?? [0]) lists[s].push(e.rel);
  }
  for (const l of lists) l.sort(treeOrder);
  return { lists, dirTimes };
}
