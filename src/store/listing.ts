// One privileged walk of the store, sorted into what the member-by-member archives are made of:
// the store paths every archive holds as bare dirs, and the top-level items with their members.
// Dot-entries of a store dir (`.links`, the daemons' dedup dir; a restore's private dir) are left
// out, and so are top-level `<name>.lock` entries (the daemons' lock files, which restore never
// takes: members.ts isDaemonLockName). Files with several names (the daemons' dedup) are
// archived once per archive: in full at the first name tar meets, as a hard link at the others;
// the data sizes here count each file (device and inode) once per archive. Save lists the store once and plans from that.
import path from 'node:path';
import { run } from '../sys/exec.js';
import { isDaemonLockName } from './members.js';

export interface DirTime {
  /** Absolute: a store path or a dot-named dir directly in one. */
  path: string;
  /** Seconds since the epoch as find's %T@ prints it (fraction optional). */
  mtime: string;
}

export const MTIME = /^[0-9]{1,12}(\.[0-9]{1,10})?$/;

export interface Entry {
  /** `<device>:<inode>`: the same for every name of one file. */
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

export interface StoreListing {
  /** Store paths (relative): dirs every archive holds. */
  shared: string[];
  /** Top-level items by absolute path (`/gnu/store/<item>`): their members, weight and data bytes. */
  items: Map<string, { entries: Entry[]; bytes: number; dataBytes: number }>;
}

/** Every entry under one store path; read as root (parts may be unreadable to the runner user). */
async function listEntries(root: string, storePath: string): Promise<Entry[] | undefined> {
  const base = storePath.replace(/^\/+/, '');
  // The live store, read on the trusted side: a big store lists far past run()'s default bound.
  const r = await run('find', [path.join(root, storePath), '-printf', '%D:%i\\t%n\\t%s\\t%y\\t%T@\\t%P\\0'], { privileged: true, maxStdout: 400 * 1024 * 1024 });
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

/**
 * Lists and sorts the store paths. Undefined when the layout cannot be split member by member:
 * a store path that is not a dir, or names tar could not be given back.
 */
export async function listStore(root: string, storePaths: readonly string[], excluded: (absPath: string) => boolean): Promise<StoreListing | undefined> {
  const listing: StoreListing = { shared: [], items: new Map() };
  for (const sp of storePaths) {
    const entries = await listEntries(root, sp);
    if (!entries) return undefined;
    const spRel = sp.replace(/^\/+/, '');
    for (const e of entries) {
      if (excluded(`/${e.rel}`)) continue;
      if (e.top === '') {
        if (e.type !== 'd') return undefined;
        listing.shared.push(e.rel);
      } else if (!e.top.startsWith('.') && !isDaemonLockName(e.top)) {
        const key = `/${spRel}/${e.top}`;
        const item = listing.items.get(key) ?? { entries: [], bytes: 0, dataBytes: 0 };
        item.entries.push(e);
        // Per-member overhead: a 512-byte header and a file to create on restore.
        item.bytes += 512 + (e.type === 'f' ? e.size : 0);
        listing.items.set(key, item);
      }
    }
  }
  for (const item of listing.items.values()) item.dataBytes = dataBytesOf(item.entries);
  return listing;
}

/**
 * The data an archive of these entries holds: each file once, however many names it has there
 * (tar writes the later names as hard links). `seen` carries the files counted so far.
 */
export function dataBytesOf(entries: Iterable<Entry>, seen: Set<string> = new Set()): number {
  let n = 0;
  for (const e of entries) {
    if (e.type !== 'f') continue;
    if (e.nlink > 1) {
      if (seen.has(e.ino)) continue;
      seen.add(e.ino);
    }
    n += e.size;
  }
  return n;
}

/**
 * The link anchors of one archive made of `list` (in the order tar is given it): for each file
 * with several names in the list, the first one, which tar writes in full and the others link
 * to. Sorted. `byRel` names each listed entry.
 */
export function linkTargetsOf(list: readonly string[], byRel: ReadonlyMap<string, Entry>): string[] {
  const first = new Map<string, string>();
  const targets = new Set<string>();
  for (const rel of list) {
    const e = byRel.get(rel);
    if (!e || e.type !== 'f' || e.nlink < 2) continue;
    const f = first.get(e.ino);
    if (f === undefined) first.set(e.ino, rel);
    else targets.add(f);
  }
  return [...targets].sort(byteOrder);
}

/** Every item member of the listing by its relative path. */
export function entriesByRel(listing: StoreListing): Map<string, Entry> {
  const m = new Map<string, Entry>();
  for (const item of listing.items.values()) for (const e of item.entries) m.set(e.rel, e);
  return m;
}

export const byteOrder = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));

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
