// Partial and streamed restore through the real cache stand-in (tools/cache-server.mjs, its own
// blobs, so it counts every byte it serves), real tar, zstd and sudo: only the frames holding an
// item the store lacks are downloaded, and the result is the store and DB a full restore makes;
// a tampered chunk never reaches zstd; a manifest whose item lists lie is refused, or at worst
// costs the liar its own items.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { createSnapshot } from '../src/store/archive.js';
import { entryVersion } from '../src/store/cache-io.js';
import { readManifest } from '../src/store/manifest.js';
import { applySnapshot, type ApplyResult } from '../src/store/restore.js';
import { parseTrustedKey, publicKeyLine, type TrustedKey } from '../src/store/entry/signing.js';
import { entryRange, planEntry } from '../src/store/entry/writer.js';
import { asRoot, describeWith, probe } from './helpers/prereq.js';
import { startCacheServerProcess, useCacheService, type CacheServer } from './fixtures/cache.js';
import { buildGuixLayout, dbContents, itemName, itemsView, q, rejection, removeTempDirs, sh, sqliteInput, tempDir } from './fixtures/store.js';
import { DB_DIR, dbOf, OPTS, restoreInto, stagedSave, storeState, STORE_PATHS, storeWithItems } from './fixtures/guix-snapshot.js';

const PKGS = 20;
const pkg = (i: number): string => `/gnu/store/${itemName(`pkg-${String(i).padStart(2, '0')}`)}`;

let server: CacheServer;
afterAll(async () => {
  await server?.stop();
  removeTempDirs();
});

/** The guix layout plus PKGS items of 200 kB of random data and their names, registered at times 1..PKGS (pkg PKGS newest). */
const buildStore = (): string => storeWithItems(pkg, PKGS, 200_000, (i) => ({ name: `pkg ${i}\n` }));

/** createSnapshot with small frames, saved under `key` through the stand-in; the snapshot dir. */
const saveSnapshot = (root: string, key: string, o: { shards?: number; signWith?: ReturnType<typeof generateKeyPairSync>['privateKey'] } = {}): Promise<string> =>
  stagedSave(root, key, { prefix: 'runbox-partial', frameBytes: 450_000, ...(o.shards ? { shards: o.shards } : {}), ...(o.signWith ? { signingKey: o.signWith } : {}) });

/** restoreInto, and the bytes the stand-in served for it. */
async function restoreFromCache(root: string, key: string, trustedKeys: TrustedKey[] = []): Promise<{ r: ApplyResult; served: number }> {
  const before = (await server.stats()).downloadBytes;
  const r = await restoreInto(root, key, { prefix: 'runbox-partial', trustedKeys });
  return { r, served: (await server.stats()).downloadBytes - before };
}

const state = storeState;

describeWith([probe('GNU tar', 'tar'), probe('zstd', 'zstd'), probe('sqlite3', 'sqlite3', ['-version']), asRoot()])('partial and streamed restore', () => {
  let source: string;
  let snapshotDir: string;
  let size: number;
  beforeAll(async () => {
    server = await startCacheServerProcess();
    useCacheService(server.url);
    source = buildStore();
    snapshotDir = await saveSnapshot(source, 'partial-1');
    size = (await server.stats()).entries.find((e) => e.key === 'partial-1')!.size;
  }, 120_000);

  test('frames: about frameBytes each, newest registrations first, each listing its items', () => {
    const m = readManifest(snapshotDir, { ...OPTS, dbDir: DB_DIR });
    expect(m.archives.length).toBeGreaterThanOrEqual(8);
    // The newest items share the first frame; every item is listed exactly once.
    expect(m.archives[0].items).toEqual(expect.arrayContaining([pkg(PKGS), pkg(PKGS - 1)]));
    const all = m.archives.flatMap((a) => a.items ?? []);
    expect(new Set(all).size).toBe(all.length);
    expect(all.length).toBe(PKGS + 4);
  });

  test('onto a store holding most items: only the frames with a missing item are downloaded; same store and DB as a full restore', async () => {
    const full = tempDir();
    const a = await restoreFromCache(full, 'partial-1');
    expect(a.r.frames.read).toBe(a.r.frames.total);
    // Each byte of the entry once: trailer, index, manifest, registrations, every frame.
    expect(a.served).toBe(size);
    const want = state(full);
    expect(want.db.paths).toHaveLength(PKGS + 4);

    // The same store without the two newest items (gone from disk and DB).
    const partial = tempDir();
    sh(`cp -a ${q(full)}/. ${q(partial)}/`);
    const gone = [pkg(PKGS), pkg(PKGS - 1)];
    sh(`rm -rf ${gone.map((g) => q(path.join(partial, g))).join(' ')}`);
    const list = gone.map((g) => `'${g}'`).join(',');
    sqliteInput(
      dbOf(partial),
      `DELETE FROM Refs WHERE referrer IN (SELECT id FROM ValidPaths WHERE path IN (${list})) OR reference IN (SELECT id FROM ValidPaths WHERE path IN (${list}));\nDELETE FROM ValidPaths WHERE path IN (${list});\n`
    );
    const b = await restoreFromCache(partial, 'partial-1');
    expect(b.r.frames.read).toBe(1);
    expect(b.r.added).toBe(2);
    expect(b.r.existing).toBe(PKGS + 2);
    // One frame of ~10, plus trailer, index, manifest, registrations.
    expect(b.served).toBeLessThan(size * 0.2);
    expect(b.served).toBe(size - b.r.skippedBytes);
    expect(state(partial)).toEqual(want);

    // Everything present and valid: no frame at all.
    const c = await restoreFromCache(partial, 'partial-1');
    expect(c.r.frames.read).toBe(0);
    expect(c.served).toBeLessThan(size * 0.05);
    expect(state(partial)).toEqual(want);
  }, 120_000);

  test("an item on disk but not valid in the live DB counts as lacking: its frame is fetched, the snapshot's copy replaces it and is registered, and the next restore fetches nothing", async () => {
    const root = tempDir();
    await restoreFromCache(root, 'partial-1');
    const want = state(root);
    sqliteInput(dbOf(root), `DELETE FROM Refs WHERE referrer IN (SELECT id FROM ValidPaths WHERE path = '${pkg(1)}');\nDELETE FROM ValidPaths WHERE path = '${pkg(1)}';\n`);
    const r = await restoreFromCache(root, 'partial-1');
    expect(r.r.frames.read).toBe(1);
    expect(r.served).toBeGreaterThan(200_000);
    // Before: it stayed unregistered, and every later restore fetched its frame again for nothing.
    expect({ added: r.r.added, registered: r.r.db?.registered }).toEqual({ added: 1, registered: 1 });
    expect(state(root)).toEqual(want);
    expect((await restoreFromCache(root, 'partial-1')).r.frames.read).toBe(0);
  }, 120_000);

  test('a tampered chunk under the original signed index: refused before a byte of that chunk reaches zstd; nothing in the store', async () => {
    const { privateKey } = generateKeyPairSync('ed25519');
    // One item of 6 MiB of random data in one frame: chunk 0 is good, chunk 1 carries the flip.
    const root = tempDir();
    const big = `/gnu/store/${itemName('big-1.0')}`;
    fs.mkdirSync(path.join(root, big), { recursive: true });
    fs.mkdirSync(path.join(root, 'var/guix/db'), { recursive: true });
    fs.writeFileSync(path.join(root, big, 'blob'), randomBytes(6 * 2 ** 20));
    const staging = tempDir('runbox-partial-staging-');
    const dir = path.join(staging, 'runbox-snapshot');
    fs.mkdirSync(dir);
    fs.mkdirSync(path.join(staging, 'scratch'));
    await createSnapshot({ root, kind: 'guix', storePaths: STORE_PATHS, dbDir: DB_DIR, snapshotDir: dir, scratchDir: path.join(staging, 'scratch'), shards: 1 });
    fs.rmSync(path.join(staging, 'scratch'), { recursive: true });
    const plan = await planEntry(dir, privateKey);
    const parts: Buffer[] = [];
    for await (const c of entryRange(plan, 0, plan.size)) parts.push(c as Buffer);
    const blob = Buffer.concat(parts);
    const frame = plan.files.find((f) => f.name === 'store.tar.zst')!;
    expect(frame.chunks.length).toBe(2);
    blob[frame.offset + 2 ** 22 + 1000] ^= 0x01;
    const rpc = async (m: string, body: object): Promise<Record<string, unknown>> =>
      (await (
        await fetch(`${server.url}twirp/github.actions.results.api.v1.CacheService/${m}`, { method: 'POST', headers: { authorization: 'Bearer t' }, body: JSON.stringify(body) })
      ).json()) as Record<string, unknown>;
    const version = entryVersion(OPTS.kind, OPTS.storePaths);
    const created = await rpc('CreateCacheEntry', { key: 'tampered-1', version });
    expect((await fetch(created.signed_upload_url as string, { method: 'PUT', headers: { 'x-ms-blob-type': 'BlockBlob' }, body: blob })).status).toBe(201);
    expect(await rpc('FinalizeCacheEntryUpload', { key: 'tampered-1', version, size_bytes: String(blob.length) })).toMatchObject({ ok: true });

    // zstd as restore runs it, with what it reads on stdin counted on the way in.
    const bin = tempDir('runbox-partial-bin-');
    const seen = path.join(bin, 'stdin-bytes');
    const realZstd = sh('command -v zstd').stdout.trim();
    fs.writeFileSync(path.join(bin, 'zstd'), `#!/bin/sh\ncase " $* " in *" -d "*) tee -a ${q(seen)} | ${realZstd} "$@"; exit $?;; esac\nexec ${realZstd} "$@"\n`, { mode: 0o755 });
    const target = tempDir();
    fs.mkdirSync(path.join(target, 'gnu/store'), { recursive: true });
    const before = itemsView(path.join(target, 'gnu/store'));
    const savedPath = process.env.PATH;
    process.env.PATH = `${bin}:${savedPath ?? ''}`;
    try {
      const trusted = parseTrustedKey(publicKeyLine(privateKey));
      if (typeof trusted === 'string') throw new Error(trusted);
      expect(await rejection(restoreFromCache(target, 'tampered-1', [trusted]))).toMatch(
        /store.tar.zst: chunk 1 \(bytes 4194304-\d+\) has sha256 [0-9a-f]{64}, the index says [0-9a-f]{64}; none of it was used/
      );
    } finally {
      process.env.PATH = savedPath;
    }
    // zstd got at most chunk 0 (proven; how much of it it read before it was stopped varies),
    // never a byte of chunk 1.
    expect(fs.statSync(seen).size).toBeLessThanOrEqual(2 ** 22);
    expect(itemsView(path.join(target, 'gnu/store'))).toEqual(before);
    expect(fs.readdirSync(path.join(target, 'gnu'))).toEqual(['store']);
    expect(fs.existsSync(path.join(target, 'var/guix/db/db.sqlite'))).toBe(false);
  }, 120_000);
});

describeWith([probe('GNU tar', 'tar'), probe('zstd', 'zstd'), probe('sqlite3', 'sqlite3', ['-version']), asRoot()])('item lists that lie', () => {
  /** A local snapshot of the guix layout in 4 frames (one item each), its manifest edited by `edit`. */
  async function lyingSnapshot(edit: (archives: Array<{ items?: string[] }>) => void): Promise<string> {
    const { root } = buildGuixLayout(tempDir());
    const staging = tempDir('runbox-partial-staging-');
    const dir = path.join(staging, 'runbox-snapshot');
    fs.mkdirSync(dir);
    await createSnapshot({ root, kind: 'guix', storePaths: STORE_PATHS, dbDir: DB_DIR, snapshotDir: dir, scratchDir: tempDir('runbox-partial-scratch-'), shards: 4 });
    const file = path.join(dir, 'manifest.json');
    const m = JSON.parse(fs.readFileSync(file, 'utf8')) as { archives: Array<{ items?: string[] }> };
    edit(m.archives);
    fs.writeFileSync(file, JSON.stringify(m));
    return dir;
  }
  const apply = (root: string, dir: string): Promise<ApplyResult> =>
    applySnapshot({ root, ...OPTS, dbDir: DB_DIR, daemon: { kind: 'none' }, snapshotDir: dir, scratchDir: tempDir('runbox-partial-scratch-') });

  test('an archive holding an item its record does not list is refused; nothing in the store', async () => {
    const dir = await lyingSnapshot((a) => {
      a[1].items = [...(a[0].items ?? []), ...(a[1].items ?? [])];
      a[0].items = [];
    });
    // Frame 0 lists nothing, so it is fetched; what it holds is not listed.
    const target = tempDir();
    const msg = await rejection(apply(target, dir));
    expect(msg).toMatch(/is held by archive 0, (whose manifest record does not list it|but the manifest lists it in archive 1)/);
    expect(fs.existsSync(path.join(target, 'gnu'))).toBe(false);
  });

  test('an item listed twice, listed but not held, or not a store item name: refused', async () => {
    const target = tempDir();
    const twice = await lyingSnapshot((a) => void (a[1].items = [...(a[1].items ?? []), ...(a[0].items ?? [])]));
    expect(await rejection(apply(target, twice))).toMatch(/is listed twice/);
    const extra = await lyingSnapshot((a) => void (a[0].items = [...(a[0].items ?? []), `/gnu/store/${itemName('not-there')}`]));
    expect(await rejection(apply(target, extra))).toMatch(/is listed by the manifest record of archive 0, which does not hold it/);
    for (const bad of ['/gnu/store/../etc', '/gnu/store/a/b', '/gnu/store/.links', '/etc/passwd', '/gnu/store/x.lock', '/gnu/store/', 7]) {
      const dir = await lyingSnapshot((a) => void ((a[0] as { items: unknown[] }).items = [bad]));
      expect(await rejection(apply(target, dir))).toMatch(/is not a store item directly in one of the archive's store paths|is not a string/);
    }
    expect(fs.existsSync(path.join(target, 'gnu'))).toBe(false);
  }, 120_000);

  test("a frame naming another archive's item is refused once that archive is read", async () => {
    // lib's frame claims drv, whose own frame lists nothing (so it is read, and shows drv).
    const dir = await lyingSnapshot(() => undefined);
    const m = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as { archives: Array<{ items?: string[] }> };
    const { items } = buildGuixLayout(tempDir());
    const libFrame = m.archives.findIndex((a) => a.items?.includes(items.lib));
    const drvFrame = m.archives.findIndex((a) => a.items?.includes(items.drv));
    m.archives[libFrame].items = [items.drv];
    delete m.archives[drvFrame].items;
    fs.writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(m));
    const target = tempDir();
    expect(await rejection(apply(target, dir))).toMatch(/is held by archive \d, (but the manifest lists it in archive \d|whose manifest record does not list it)/);
    expect(fs.existsSync(path.join(target, 'gnu'))).toBe(false);
  }, 120_000);

  test('a frame hiding a missing item behind an item the store has from elsewhere is skipped: that item is not restored, its registration not inserted', async () => {
    const dir = await lyingSnapshot(() => undefined);
    const m = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as { archives: Array<{ items?: string[] }> };
    const { root, items } = buildGuixLayout(tempDir());
    // The target: lib gone from disk and DB, and an item of its own that no snapshot holds.
    const own = `/gnu/store/${itemName('own-1.0')}`;
    fs.mkdirSync(path.join(root, own));
    sqliteInput(dbOf(root), `INSERT INTO ValidPaths (path, hash, registrationTime, narSize) VALUES ('${own}', 'sha256:${'0'.repeat(52)}', 1, 1);\n`);
    sh(`chmod -R u+w ${q(path.join(root, items.lib))} && rm -rf ${q(path.join(root, items.lib))}`);
    sqliteInput(
      dbOf(root),
      `DELETE FROM Refs WHERE reference IN (SELECT id FROM ValidPaths WHERE path = '${items.lib}') OR referrer IN (SELECT id FROM ValidPaths WHERE path = '${items.lib}');\nDELETE FROM ValidPaths WHERE path = '${items.lib}';\n`
    );
    const libFrame = m.archives.findIndex((a) => a.items?.includes(items.lib));
    m.archives[libFrame].items = [own];
    fs.writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(m));
    const r = await apply(root, dir);
    expect(r.frames).toEqual({ read: 0, total: 4 });
    expect(fs.existsSync(path.join(root, items.lib))).toBe(false);
    expect(dbContents(dbOf(root)).paths).not.toContain(items.lib);
  }, 120_000);
});
