// Sharded snapshots: the store's top-level items split into archives ("frames") that are
// created and extracted in parallel (one tar + zstd per core), all inside the one cache entry.
// By default (planFrames) a frame holds at most about FRAME_BYTES of items, newest registrations first,
// so that a partial restore (restore.ts selectFrames) onto a store that has most items fetches
// the few frames holding what it lacks: items a build added together were registered together
// and land in the same frames, and hash-named store items sorted by name would be scattered
// over all of them. `shards: N` keeps the older split into N frames balanced by bytes.
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
  /** Per shard: its top-level items (absolute), the manifest's items. */
  items: string[][];
}

/**
 * At most about this much item data per frame (BENCHMARKS.md, "Frames"): a partial restore
 * fetches at most about one frame beyond the items it lacks, and each frame costs a restore one
 * zstd and one ranged GET (the tar is per lane, not per frame). 32 MiB keeps a 400 MiB store at
 * about 10 frames, several per lane, and reaches MAX_FRAMES at about 3 GiB.
 */
export const FRAME_BYTES = 32 * 2 ** 20;
/**
 * At most this many frames in a full snapshot: within the entry's MAX_FILES (256, with the
 * manifest and registrations) and, with a delta's few, within the manifest's MAX_ARCHIVES (128)
 * for a delta and its base together. A store bigger than MAX_FRAMES * FRAME_BYTES gets bigger frames.
 */
export const MAX_FRAMES = 96;

/**
 * Each registered path's place in registration order (larger: newer), for planFrames: by
 * registrationTime, then by the DB's row id (`rowIds`; ids only grow), then by name. Times are
 * whole seconds, and a build registers its outputs (a bench store, its every item) many to the
 * second: by time and name alone, the newest items would be hash-ordered among their second's
 * and scattered over the frames of all the items registered that second.
 */
export function registrationRank(paths: ReadonlyArray<{ path: string; registrationTime: number }>, rowIds?: ReadonlyMap<string, number>): Map<string, number> {
  const id = (p: string): number => rowIds?.get(p) ?? -1;
  const ordered = [...paths].sort((a, b) => a.registrationTime - b.registrationTime || id(a.path) - id(b.path) || byteOrder(a.path, b.path));
  return new Map(ordered.map((r, i) => [r.path, i]));
}

/**
 * Frames of at most about FRAME_BYTES each (at most MAX_FRAMES), items ordered by registration,
 * newest first (items with no registration last, by name), each frame filled in that order and
 * closed before the item that would take it past the size: an item bigger than a frame gets one
 * of its own. Items are never split. So the newest items a store lacks are in the first frames,
 * and a partial restore fetches their bytes and at most one frame's worth more. (Cutting the
 * order at multiples of total / n instead put a big item and the small ones after it in one
 * frame, and a partial restore onto the bench store fetched 59% of the data for a lack of 33%.)
 * `registeredAt` gives an item's (absolute path) registration time or rank (registrationRank):
 * larger is newer. When the store needs more than MAX_FRAMES of `frameBytes`, the frames grow.
 */
export function planFrames(listing: StoreListing, registeredAt: (item: string) => number | undefined, frameBytes = FRAME_BYTES): ShardPlan {
  const { shared, items } = listing;
  const time = (i: string): number => registeredAt(i) ?? -1;
  const ordered = [...items.keys()].sort((a, b) => time(b) - time(a) || byteOrder(a, b));
  // What an item adds to its frame's archive: its files once each (tar writes a file's later
  // names as links), and a header per member.
  const weight = ordered.map((i) => {
    const it = items.get(i) as { entries: Entry[]; dataBytes: number };
    return it.dataBytes + 512 * it.entries.length;
  });
  const cut = (size: number): string[][] => {
    const frames: string[][] = [];
    let cur: string[] = [];
    let load = 0;
    ordered.forEach((item, k) => {
      if (cur.length > 0 && load + weight[k] > size) {
        frames.push(cur);
        cur = [];
        load = 0;
      }
      cur.push(item);
      load += weight[k];
    });
    if (cur.length > 0 || frames.length === 0) frames.push(cur);
    return frames;
  };
  let frames = cut(frameBytes);
  if (frames.length > MAX_FRAMES) {
    // The smallest frame size that gives at most MAX_FRAMES (fewer frames as the size grows):
    // the whole store in one frame always fits.
    let lo = frameBytes;
    let hi = Math.max(
      frameBytes,
      weight.reduce((n, w) => n + w, 0)
    );
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      if (cut(mid).length > MAX_FRAMES) lo = mid;
      else hi = mid;
    }
    frames = cut(hi);
  }
  return framesOf(shared, items, frames);
}

/** Every item in one frame (`shards: 1`). */
export function oneFrame(listing: StoreListing): ShardPlan {
  return framesOf(listing.shared, listing.items, [[...listing.items.keys()]]);
}

function framesOf(shared: readonly string[], items: StoreListing['items'], frames: readonly string[][]): ShardPlan {
  const lists = frames.map((f) => [...shared, ...f.flatMap((i) => (items.get(i) as { entries: Entry[] }).entries.map((e) => e.rel))].sort(treeOrder));
  const dataBytes = frames.map((f) => dataBytesOf(f.flatMap((i) => (items.get(i) as { entries: Entry[] }).entries)));
  return { lists, dataBytes, items: frames.map((f) => [...f].sort(byteOrder)) };
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

  const load = new Array<number>(n).fill(0);
  const files = Array.from({ length: n }, () => new Set<string>());
  const frames: string[][] = Array.from({ length: n }, () => []);
  const ordered = [...items.entries()].sort((a, b) => b[1].bytes - a[1].bytes || byteOrder(a[0], b[0]));
  for (const [key, item] of ordered) {
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
    frames[best].push(key);
    for (const e of item.entries) if (e.type === 'f' && e.nlink > 1) files[best].add(e.ino);
  }
  return framesOf(shared, items, frames);
}
