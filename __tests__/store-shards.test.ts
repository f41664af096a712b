// Sharded snapshots: a store split into several archives (created and extracted in parallel)
// restores to exactly the tree one archive gives, and a member of any shard is held to the
// same rules as in a single archive, also across shards (one shard's symlink cannot redirect
// another shard's write, one shard's link cannot reach another shard's file).
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, expect, test } from '@jest/globals';
import { InputError } from '../src/common/errors.js';
import { inputsFrom } from '../src/action/input-source.js';
import { createSnapshot } from '../src/store/archive.js';
import { parseStoreConfig } from '../src/store/config.js';
import { dataBytesOf, linkTargetsOf, type Entry, type StoreListing } from '../src/store/listing.js';
import { readManifest } from '../src/store/manifest.js';
import { planShards } from '../src/store/shards.js';
import { applySnapshot } from '../src/store/restore.js';
import { asRoot, describeWith, probe } from './helpers/prereq.js';
import { buildGuixLayout, dbContents, itemName, itemsView, linkGroups, q, rejection, removeTempDirs, sh, tempDir, treeManifest } from './fixtures/store.js';

const STORE_PATHS = ['/gnu/store', '/var/guix/db'];
const DB_DIR = '/var/guix/db';

async function snapshot(root: string, shards: number): Promise<string> {
  const staging = tempDir('runbox-store-staging-');
  const snapshotDir = path.join(staging, 'runbox-snapshot');
  fs.mkdirSync(snapshotDir);
  fs.mkdirSync(path.join(staging, 'scratch'));
  await createSnapshot({ root, kind: 'guix', storePaths: STORE_PATHS, dbDir: DB_DIR, snapshotDir, scratchDir: path.join(staging, 'scratch'), shards });
  return snapshotDir;
}

function apply(root: string, snapshotDir: string): ReturnType<typeof applySnapshot> {
  return applySnapshot({ root, kind: 'guix', storePaths: STORE_PATHS, dbDir: DB_DIR, daemon: { kind: 'none' }, snapshotDir, scratchDir: tempDir('runbox-store-scratch-') });
}

/**
 * The restored store paths, as `find -printf` lines. Left out: the temp root and the store dirs
 * and their parents (made by the restore, mtime when), and the live DB, which the merge writes.
 */
function restored(root: string): string[] {
  return treeManifest(root).filter((l) => !/^(|gnu|gnu\/store|var|var\/guix|var\/guix\/db|var\/guix\/db\/db\.sqlite) /.test(l));
}

/** A snapshot of hand-made tars, one archive each, with a correct manifest: what an attacker can upload. */
function forgeShards(dir: string, tars: string[]): string {
  fs.mkdirSync(dir, { recursive: true });
  const archives = tars.map((tar, i) => {
    const file = `store-${i}.tar.zst`;
    sh(`zstd -q -c ${q(tar)} > ${q(path.join(dir, file))}`);
    const sha256 = sh(`sha256sum ${q(path.join(dir, file))} | cut -d' ' -f1`).stdout.trim();
    return { file, sha256, bytes: fs.statSync(path.join(dir, file)).size, compression: 'zstd', storePaths: STORE_PATHS, dataBytes: fs.statSync(tar).size };
  });
  fs.writeFileSync(
    path.join(dir, 'manifest.json'),
    JSON.stringify({ format: 'runbox-store-snapshot', version: 3, kind: 'guix', createdAt: new Date().toISOString(), storePaths: STORE_PATHS, archives })
  );
  return dir;
}

test('the shards input: auto by default, a count from 1 to 64, anything else refused naming the input', () => {
  const parse = (shards?: string) => parseStoreConfig(inputsFrom({ store: 'guix', ...(shards === undefined ? {} : { shards }) }), {})?.shards;
  expect(parse()).toBe(0);
  expect(parse('auto')).toBe(0);
  expect(parse('1')).toBe(1);
  expect(parse('64')).toBe(64);
  for (const bad of ['0', '65', '-1', '2.5', 'many']) {
    expect(() => parse(bad)).toThrow(InputError);
    expect(() => parse(bad)).toThrow(/shards/);
  }
});

test('the shard plan keeps items that share a file together unless that unbalances the shards; data bytes count each file once per shard', () => {
  const entry = (top: string, name: string, size: number, ino: string, nlink = 1): Entry => ({ ino, nlink, size, type: 'f', mtime: '1', rel: `gnu/store/${top}/${name}`, top });
  const items: Array<[string, Entry[]]> = [
    ['a-big', [entry('a-big', 'x', 1000, '1:1'), entry('a-big', 'lic', 900, '1:9', 3)]],
    ['b-big', [entry('b-big', 'x', 3000, '1:2')]],
    ['c-shares', [entry('c-shares', 'lic', 900, '1:9', 3), entry('c-shares', 'y', 10, '1:3')]],
    ['d-shares', [entry('d-shares', 'lic', 900, '1:9', 3), entry('d-shares', 'y', 10, '1:4')]]
  ];
  const listing: StoreListing = {
    shared: ['gnu/store'],
    items: new Map(items.map(([t, es]) => [`/gnu/store/${t}`, { entries: es, bytes: es.reduce((n, e) => n + 512 + e.size, 0), dataBytes: dataBytesOf(es) }]))
  };
  const plan = planShards(listing, 2, false);
  if (!plan) throw new Error('no plan');
  const shardOf = (top: string): number => plan.lists.findIndex((l) => l.includes(`gnu/store/${top}/x`) || l.includes(`gnu/store/${top}/y`));
  // b-big and a-big (with the shared file) take a shard each; c and d, sharing a-big's file,
  // cost a-big's shard only their headers and 10 bytes, which keeps it the lighter one (on the
  // other shard they would cost the 900 bytes again).
  expect(shardOf('c-shares')).toBe(shardOf('a-big'));
  expect(shardOf('d-shares')).toBe(shardOf('a-big'));
  expect(shardOf('b-big')).not.toBe(shardOf('a-big'));
  expect(plan.dataBytes[shardOf('a-big')]).toBe(1000 + 900 + 10 + 10);
  expect(plan.dataBytes[shardOf('b-big')]).toBe(3000);
});

test("an archive's link anchors: the first listed name of each file with more names in the list, sorted; files with one name there, dirs and symlinks are none", () => {
  const e = (rel: string, ino: string, nlink: number, type = 'f'): Entry => ({ ino, nlink, size: 1, type, mtime: '1', rel, top: rel.split('/')[2] });
  const entries = [
    e('gnu/store/b-x/lic', '1:9', 3),
    e('gnu/store/c-x/lic', '1:9', 3),
    e('gnu/store/a-x/z', '1:5', 2),
    e('gnu/store/a-x/y', '1:5', 2),
    e('gnu/store/d-x/alone', '1:7', 2), // its other name is in another shard
    e('gnu/store/a-x/d', '1:8', 2, 'd'),
    e('gnu/store/a-x/s', '1:6', 2, 'l'),
    e('gnu/store/a-x/s2', '1:6', 2, 'l')
  ];
  const byRel = new Map(entries.map((x) => [x.rel, x]));
  // In the order given (tar's): z before y, so z has the data and is the anchor.
  expect(
    linkTargetsOf(['gnu/store/b-x/lic', 'gnu/store/c-x/lic', 'gnu/store/a-x/z', 'gnu/store/a-x/y', 'gnu/store/d-x/alone', 'gnu/store/a-x/d', 'gnu/store/a-x/s', 'gnu/store/a-x/s2'], byRel)
  ).toEqual(['gnu/store/a-x/z', 'gnu/store/b-x/lic']);
  expect(linkTargetsOf(['gnu/store/c-x/lic', 'gnu/store/d-x/alone'], byRel)).toEqual([]);
});

describeWith([probe('GNU tar', 'tar'), probe('zstd', 'zstd'), probe('sqlite3', 'sqlite3', ['-version']), asRoot()])('sharded store snapshots', () => {
  afterAll(removeTempDirs);

  test('3 shards restore the same tree as 1 but for link counts: canonical metadata, symlinks, DB; hard links kept within a shard, whole copies across shards', async () => {
    const a = buildGuixLayout(tempDir());
    // Two more items sharing a file through .links with hello, so linked files cross shards,
    // and a dir next to a same-prefixed file (`loaders`, `loaders.cache`): tree order matters.
    const extra = [itemName('bash-5.2'), itemName('coreutils-9.1')];
    sh(`
      cd ${q(a.root)}/gnu/store
      for i in ${extra.join(' ')}; do chmod u+w . ; mkdir -p $i/share/loaders; head -c 50000 /dev/urandom > $i/share/data; echo x > $i/share/loaders/x.so; echo c > $i/share/loaders.cache; done
      sum=$(ls .links | head -n1)
      for i in ${extra.join(' ')}; do ln -f .links/$sum $i/share/COPYING; done
      find ${extra.join(' ')} -exec touch -h -d @1 {} +
      chmod -R a-w ${extra.join(' ')}
      touch -d @1 . .links
    `);
    const one = await snapshot(a.root, 1);
    const three = await snapshot(a.root, 3);
    const m3 = readManifest(three, { kind: 'guix', storePaths: STORE_PATHS, dbDir: DB_DIR });
    expect(readManifest(one, { kind: 'guix', storePaths: STORE_PATHS, dbDir: DB_DIR }).archives).toHaveLength(1);
    expect(m3.archives.map((x) => x.file)).toEqual(['store-0.tar.zst', 'store-1.tar.zst', 'store-2.tar.zst']);
    // No shard holds .links; each records its data bytes: its files' data, each file once (a
    // hard-link member carries none), so the shards add up to at least the one archive's.
    const listings = m3.archives.map((x) => sh(`zstd -dc ${q(path.join(three, x.file))} | tar -tv`).stdout);
    for (const [i, x] of m3.archives.entries()) {
      expect(listings[i]).not.toMatch(/\.links/);
      const sizes = listings[i]
        .split('\n')
        .filter((l) => l.startsWith('-'))
        .map((l) => Number(l.split(/\s+/)[2]));
      expect(x.dataBytes).toBe(sizes.reduce((n, v) => n + v, 0));
    }
    expect(m3.archives.reduce((n, x) => n + (x.dataBytes ?? 0), 0)).toBeGreaterThanOrEqual(readManifest(one, { kind: 'guix', storePaths: STORE_PATHS, dbDir: DB_DIR }).archives[0].dataBytes);

    const b1 = tempDir();
    const b3 = tempDir();
    const r1 = await apply(b1, one);
    const r3 = await apply(b3, three);
    const noCount = (l: string): string => l.replace(/^(\S+ f \S+ \S+ \S+ \S+) \d+/, '$1 -');
    expect(restored(b3).map(noCount)).toEqual(restored(b1).map(noCount));
    expect(itemsView(path.join(b3, 'gnu/store'))).toEqual(itemsView(path.join(a.root, 'gnu/store'), true));
    // One archive: the one inode with 5 names (.links + hello + lib + 2 extra) is one inode with
    // 4. Three: one inode per shard holding some of the names, each with that shard's names.
    const source = linkGroups(path.join(a.root, 'gnu/store'));
    expect(source).toHaveLength(1);
    expect(source[0]).toHaveLength(4);
    expect(linkGroups(path.join(b1, 'gnu/store'))).toEqual(source);
    const shardOf = (name: string): number => listings.findIndex((l) => l.includes(`gnu/store/${name}\n`) || l.includes(`gnu/store/${name} link to`));
    const want = [0, 1, 2].map((i) => source[0].filter((n) => shardOf(n) === i)).filter((g) => g.length > 0);
    const got = source[0].map((n) => fs.statSync(path.join(b3, 'gnu/store', n)));
    expect(new Set(got.map((st) => st.ino)).size).toBe(want.length);
    for (const g of want) expect(new Set(g.map((n) => fs.statSync(path.join(b3, 'gnu/store', n)).ino)).size).toBe(1);
    for (const g of want) expect(fs.statSync(path.join(b3, 'gnu/store', g[0])).nlink).toBe(g.length);
    expect(dbContents(path.join(b3, 'var/guix/db/db.sqlite'))).toEqual(dbContents(path.join(b1, 'var/guix/db/db.sqlite')));
    expect(r3.added).toBe(r1.added);
  });

  test('a member of one shard cannot leave the store paths: the whole snapshot is refused, nothing written', async () => {
    const w = tempDir();
    const outside = tempDir('runbox-outside-');
    sh(`
      cd ${q(w)} && mkdir -p good/gnu/store/${itemName('ok')} && echo ok > good/gnu/store/${itemName('ok')}/f
      tar -C good -cf good.tar gnu/store
      echo evil > evil-file
      tar -cPf bad.tar ${q(path.join(w, 'evil-file'))}
    `);
    const snap = forgeShards(path.join(w, 'snap'), [path.join(w, 'good.tar'), path.join(w, 'bad.tar')]);
    const target = tempDir();
    expect(await rejection(apply(target, snap))).toMatch(/UnsafeArchiveError: .*absolute/);
    expect(fs.readdirSync(target)).toEqual([]);
    expect(fs.readdirSync(outside)).toEqual([]);
  });

  test("one shard's symlink cannot redirect another shard's write; a dot-dir in a shard is refused", async () => {
    const w = tempDir();
    const outside = tempDir('runbox-outside-');
    const evil = itemName('evil');
    sh(`
      cd ${q(w)} && mkdir -p a/gnu/store b/gnu/store/${evil}
      ln -s ${q(outside)} a/gnu/store/${evil}
      echo pwned > b/gnu/store/${evil}/pwned
      tar -C a -cf a.tar gnu/store
      tar -C b -cf b.tar gnu/store/${evil}/pwned
      mkdir -p c/gnu/store/.links && ln -s ${q(outside)} c/gnu/store/.links/d
      mkdir -p d/gnu/store/.links/d && echo pwned > d/gnu/store/.links/d/pwned
      tar -C c -cf c.tar gnu/store
      tar -C d -cf d.tar gnu/store/.links/d/pwned
    `);
    const target = tempDir();
    const item = forgeShards(path.join(w, 'snap1'), [path.join(w, 'a.tar'), path.join(w, 'b.tar')]);
    // b's member has no parent dir in its own archive; made with one, the item is in two archives.
    expect(await rejection(apply(target, item))).toMatch(/UnsafeArchiveError: .*comes before its parent dir/);
    sh(`cd ${q(w)} && tar -C b -cf b2.tar gnu/store/${evil}`);
    const item2 = forgeShards(path.join(w, 'snap3'), [path.join(w, 'a.tar'), path.join(w, 'b2.tar')]);
    expect(await rejection(apply(target, item2))).toMatch(/UnsafeArchiveError: .*two archives/);
    const dot = forgeShards(path.join(w, 'snap2'), [path.join(w, 'c.tar'), path.join(w, 'd.tar')]);
    expect(await rejection(apply(target, dot))).toMatch(/UnsafeArchiveError: .*a dot-entry of the store dir/);
    expect(fs.readdirSync(target)).toEqual([]);
    expect(fs.readdirSync(outside)).toEqual([]);
  });
});
