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
import path from 'node:path';
import { run } from '../exec.js';

/** More archives than this buy nothing on today's runners and cost a process each. */
export const MAX_SHARDS = 64;
const AUTO_MAX = 8;
/** Below this, a second tar costs more than it saves; `auto` keeps one archive. */
const AUTO_MIN_BYTES = 64 * 1024 * 1024;

export interface DirTime {
  /** Absolute: a store path or a dot-named dir directly in one. */
  path: string;
  /** Seconds since the epoch as find's %T@ prints it (fraction optional). */
  mtime: string;
}

export interface ShardPlan {
  /** Per shard: member paths relative to the root, in tree order (see treeOrder). */
  lists: string[][];
  dirTimes: DirTime[];
}

export const MTIME = /^[0-9]{1,12}(\.[0-9]{1,10})?$/;

/** `shards: auto`: one archive per core, at most AUTO_MAX. */
export function autoShardCount(): number {
  return Math.max(1, Math.min(AUTO_MAX, os.availableParallelism()));
}

export interface Entry {
  ino: string;
  nlink: number;
  size: number;
  type: string;
  mtime: string;
  /** Relative to the root, e.g. `gnu/store/<item>/bin/x`. */
  rel: string;
  /** First component below the store path ('' for the store path itself). */
  top: string;
}

/** Every entry under one store path, with what the split needs; read as root (parts may be unreadable). */
export async function listEntries(root: string, storePath: string): Promise<Entry[] | undefined> {
  const base = storePath.replace(/^\/+/, '');
  const r = await run('find', [path.join(root, storePath), '-printf', '%i\\t%n\\t%s\\t%y\\t%T@\\t%P\\0'], { privileged: true });
  const out: Entry[] = [];
  for (const rec of r.stdout.split('\0')) {
    if (rec === '') continue;
    const f = rec.split('\t');
    // A name with a tab, or one that is not valid UTF-8 (decoded lossily), cannot be listed
    // back to tar exactly: such a store is archived in one piece instead.
    if (f.length !== 6 || f[5].includes('\uFFFD')) return undefined;
    const [ino, nlink, size, type, mtime, p] = f;
    out.push({ ino, nlink: Number(nlink), size: Number(size), type, mtime, rel: p === '' ? base : `${base}/${p}`, top: p.split('/')[0] });
  }
  return out;
}

const byteOrder = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));

/**
 * Tree order, as tar's own --sort=name walks: component by component, so a dir's members come
 * right after it. Plain byte order would put `loaders.cache` between `loaders` and
 * `loaders/x`, and tar sets a dir's mtime as soon as it meets a member outside that dir.
 */
export function treeOrder(a: string, b: string): number {
  const x = a.split('/');
  const y = b.split('/');
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const c = byteOrder(x[i], y[i]);
    if (c !== 0) return c;
  }
  return x.length - y.length;
}

/**
 * Splits the present store paths into `count` shards balanced by bytes (largest item first
 * onto the lightest shard). `auto`: undefined (one archive) for small stores. Also undefined
 * when the layout cannot be split safely: a dot-dir holding directories, or names tar could
 * not be given back exactly.
 */
export async function planShards(o: {
  root: string;
  storePaths: readonly string[];
  count: number;
  auto: boolean;
  excluded: (absPath: string) => boolean;
}): Promise<ShardPlan | undefined> {
  if (o.count <= 1) return undefined;
  const shared: string[] = [];
  const dirTimes: DirTime[] = [];
  const items = new Map<string, { entries: Entry[]; bytes: number }>();
  const dotEntries: Entry[] = [];
  for (const sp of o.storePaths) {
    const entries = await listEntries(o.root, sp);
    if (!entries) return undefined;
    for (const e of entries) {
      if (o.excluded(`/${e.rel}`)) continue;
      if (e.top === '' || (e.top.startsWith('.') && e.rel === `${sp.replace(/^\/+/, '')}/${e.top}`)) {
        if (e.type !== 'd') {
          if (e.top === '') return undefined;
          dotEntries.push(e); // a dot-named file directly in the store path: shard 0 keeps it
          continue;
        }
        shared.push(e.rel);
        dirTimes.push({ path: `/${e.rel}`, mtime: e.mtime });
      } else if (e.top.startsWith('.')) {
        if (e.type === 'd') return undefined;
        dotEntries.push(e);
      } else {
        const key = `${sp}\0${e.top}`;
        const item = items.get(key) ?? { entries: [], bytes: 0 };
        item.entries.push(e);
        // Per-member overhead: a 512-byte header and a file to create on restore.
        item.bytes += 512 + (e.type === 'f' ? e.size : 0);
        items.set(key, item);
      }
    }
  }
  const total = [...items.values()].reduce((n, i) => n + i.bytes, 0);
  if (o.auto && total < AUTO_MIN_BYTES) return undefined;
  const count = Math.min(o.count, items.size);
  if (count <= 1) return undefined;

  const lists: string[][] = Array.from({ length: count }, () => [...shared]);
  const load = new Array<number>(count).fill(0);
  const shardsOfInode = new Map<string, Set<number>>();
  const ordered = [...items.entries()].sort((a, b) => b[1].bytes - a[1].bytes || byteOrder(a[0], b[0]));
  for (const [, item] of ordered) {
    const s = load.indexOf(Math.min(...load));
    load[s] += item.bytes;
    for (const e of item.entries) {
      lists[s].push(e.rel);
      if (e.type === 'f' && e.nlink > 1) {
        const set = shardsOfInode.get(e.ino) ?? new Set<number>();
        set.add(s);
        shardsOfInode.set(e.ino, set);
      }
    }
  }
  for (const e of dotEntries) {
    const owners = e.type === 'f' ? shardsOfInode.get(e.ino) : undefined;
    for (const s of owners ?? [0]) lists[s].push(e.rel);
  }
  for (const l of lists) l.sort(treeOrder);
  return { lists, dirTimes };
}
