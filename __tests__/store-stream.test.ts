// Streamed save (issue 13): the snapshot goes from zstd straight into the cache upload, frames
// side by side and placed in the order they finish, through the real stand-in
// (tools/cache-server.mjs), real tar, zstd and sudo. Nothing of the snapshot is written to disk;
// an upload that breaks midway leaves no entry and no process behind; what was uploaded restores
// to the store and DB a save through a staged copy (the old path) restores to, over v2 and v1.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { createSnapshot, type SnapshotSink } from '../src/store/archive.js';
import { beginEntry } from '../src/store/cache-io.js';
import { UploadError } from '../src/store/entry/writer.js';
import { asRoot, describeWith, probe } from './helpers/prereq.js';
import { startCacheServerProcess, useCacheService, type CacheServer } from './fixtures/cache.js';
import { buildGuixLayout, dbContents, itemName, removeTempDirs, tempDir } from './fixtures/store.js';
import { DB_DIR, dbOf, OPTS, restoreInto, stagedSave, storeState, storeWithItems } from './fixtures/guix-snapshot.js';

const PKGS = 12;
/** Random, so the compressed snapshot is about as big as the store: ~12 MB. */
const PKG_BYTES = 1_000_000;
const FRAME_BYTES = 2_500_000;
const BLOCK_BYTES = 256 * 1024;
const pkg = (i: number): string => `/gnu/store/${itemName(`stream-${String(i).padStart(2, '0')}`)}`;

let server: CacheServer;
afterAll(async () => {
  await server?.stop();
  removeTempDirs();
});

const buildStore = (): string => storeWithItems(pkg, PKGS, PKG_BYTES);

function useV1(url: string): void {
  useCacheService(url);
  Object.assign(process.env, { ACTIONS_CACHE_URL: url, GITHUB_SERVER_URL: 'http://ghes.example' });
  delete process.env.ACTIONS_CACHE_SERVICE_V2;
}

/** Bytes of every file under dir (what the save wrote to disk). */
function bytesUnder(dir: string): number {
  let n = 0;
  for (const d of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) if (d.isFile()) n += fs.statSync(path.join(d.parentPath, d.name), { throwIfNoEntry: false })?.size ?? 0;
  return n;
}

/** The streamed save as save.ts does it, with small frames and blocks; the most bytes seen on disk under its staging dir. */
async function streamSave(root: string, key: string, wrap: (s: SnapshotSink) => SnapshotSink = (s) => s): Promise<{ id: string | undefined; peak: number }> {
  const staging = tempDir('runbox-stream-staging-');
  const scratchDir = path.join(staging, 'scratch');
  fs.mkdirSync(scratchDir);
  const up = await beginEntry(key, { ...OPTS, blockBytes: BLOCK_BYTES });
  if (!up) throw new Error(`no upload for ${key}`);
  let peak = 0;
  const timer = setInterval(() => (peak = Math.max(peak, bytesUnder(staging))), 5);
  try {
    await createSnapshot({ root, ...OPTS, dbDir: DB_DIR, sink: wrap(up.stream), scratchDir, frameBytes: FRAME_BYTES });
  } finally {
    clearInterval(timer);
  }
  peak = Math.max(peak, bytesUnder(staging));
  return { id: await up.finish(), peak };
}

/** The store and DB a restore of `key` into a fresh root makes, and how many frames it read. */
async function restored(key: string): Promise<{ items: string[]; db: ReturnType<typeof dbContents>; frames: number }> {
  const root = tempDir();
  const r = await restoreInto(root, key, { prefix: 'runbox-stream' });
  return { ...storeState(root), frames: r.frames.total };
}

/** Child processes of this test (tar, zstd, sudo) still running. */
function children(): string[] {
  try {
    return execFileSync('pgrep', ['-a', '-P', String(process.pid)], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => /\b(tar|zstd|sudo)\b/.test(l));
  } catch {
    // pgrep exits 1 when nothing matches.
    return [];
  }
}

describeWith([probe('GNU tar', 'tar'), probe('zstd', 'zstd'), probe('sqlite3', 'sqlite3', ['-version']), asRoot()])('streamed save', () => {
  let source: string;
  let want: Awaited<ReturnType<typeof restored>>;
  beforeAll(async () => {
    server = await startCacheServerProcess();
    useCacheService(server.url);
    source = buildStore();
    // The old path: the snapshot written to a staging dir, then uploaded from there.
    await stagedSave(source, 'staged-1', { prefix: 'runbox-stream', frameBytes: FRAME_BYTES });
    want = await restored('staged-1');
    expect(want.frames).toBeGreaterThanOrEqual(4);
    expect(want.db.paths).toHaveLength(PKGS + 4);
  }, 120_000);

  test('v2: no copy of the snapshot on disk, several blocks per frame, restores as the staged save does', async () => {
    useCacheService(server.url);
    const { id, peak } = await streamSave(source, 'stream-v2');
    expect(id).toBeDefined();
    const entry = (await server.stats()).entries.find((e) => e.key === 'stream-v2');
    expect(entry?.finalized).toBe(true);
    expect(entry!.size).toBeGreaterThan(PKGS * PKG_BYTES);
    // The member lists and raw registrations only: a few KiB, against the ~12 MB entry.
    expect(peak).toBeLessThan(256 * 1024);
    expect(await restored('stream-v2')).toEqual(want);
  });

  test('v1 (offsets known before each block is sent): restores as the staged save does', async () => {
    useV1(server.url);
    try {
      const { id } = await streamSave(source, 'stream-v1');
      expect(id).toMatch(/^\d+$/);
      expect(await restored('stream-v1')).toEqual(want);
    } finally {
      useCacheService(server.url);
    }
  });

  test.each(['v2', 'v1'])('%s: a save failing while reading the DB reserves nothing; the next save of the key succeeds', async (protocol) => {
    if (protocol === 'v1') useV1(server.url);
    const key = `stream-early-${protocol}`;
    // As the real services: a reservation never finalized keeps the key taken (until it expires).
    await server.reservations('strict');
    try {
      const broken = buildGuixLayout(tempDir()).root;
      fs.writeFileSync(dbOf(broken), 'not a SQLite database, so reading the registrations fails\n'.repeat(200));
      await expect(streamSave(broken, key)).rejects.toThrow(/./);
      expect((await server.stats()).entries.filter((e) => e.key === key)).toEqual([]);
      const { id } = await streamSave(source, key);
      expect(id).toBeDefined();
      expect((await server.stats()).entries.filter((e) => e.key === key).map((e) => e.finalized)).toEqual([true]);
    } finally {
      await server.reservations('lenient');
      useCacheService(server.url);
    }
  });

  test.each(['v2', 'v1'])('%s: an upload failing midway fails the snapshot with an UploadError, finalizes nothing, leaves no process', async (protocol) => {
    if (protocol === 'v1') useV1(server.url);
    const key = `stream-fault-${protocol}`;
    const uploads = (await server.stats()).uploads;
    let seen = 0;
    let broke = false;
    // The fault is switched on once 3 MB went through: after the first blocks were sent.
    const breaking = (s: SnapshotSink): SnapshotSink => ({
      put: (name, src) =>
        s.put(
          name,
          (async function* () {
            for await (const b of src) {
              seen += b.length;
              if (!broke && seen > 3_000_000) {
                broke = true;
                await server.fault('upload-500');
              }
              yield b;
            }
          })()
        )
    });
    let err: unknown;
    try {
      await streamSave(source, key, breaking);
    } catch (e) {
      err = e;
    } finally {
      await server.fault(null);
      useCacheService(server.url);
    }
    expect(broke).toBe(true);
    expect(err).toBeInstanceOf(UploadError);
    expect(String((err as Error).message)).toMatch(/upload-500|HTTP 500|failed after 5 attempts/);
    const stats = await server.stats();
    expect(stats.entries.filter((e) => e.key === key && e.finalized)).toEqual([]);
    expect(stats.uploads).toBe(uploads);
    expect(children()).toEqual([]);
  });
});
