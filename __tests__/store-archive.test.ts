// Snapshot create/restore with the real tar, zstd and sqlite3 on a synthetic Guix-like store
// under temp roots: round trip to the store's canonical metadata (hard-link groups of one
// archive kept, no `.links`), additive restore onto an existing store, and refusals that leave
// the disk untouched.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, expect, test } from '@jest/globals';
import { runCleanups } from '../src/action/on-cancel.js';
import { createSnapshot } from '../src/store/archive.js';
import { byteOrder } from '../src/store/listing.js';
import type { SnapshotManifest } from '../src/store/manifest.js';
import type { DaemonControl } from '../src/store/config.js';
import { applySnapshot } from '../src/store/restore.js';
import { asRoot, describeWith, probe } from './helpers/prereq.js';
import {
  buildGuixLayout,
  dbContents,
  flockHeld,
  forgeSnapshot,
  GUIX_SCHEMA,
  holdFlock,
  itemName,
  itemsView,
  linkGroups,
  q,
  registerPaths,
  rejection,
  removeTempDirs,
  sh,
  sqliteInput,
  tempDir,
  treeManifest,
  warningsOf
} from './fixtures/store.js';

const STORE_PATHS = ['/gnu/store', '/var/guix/db'];
const DB_DIR = '/var/guix/db';
const MKSTORE = path.resolve('scripts', 'mkstore.sh');

async function snapshot(root: string): Promise<string> {
  const staging = tempDir('runbox-store-staging-');
  const snapshotDir = path.join(staging, 'runbox-snapshot');
  fs.mkdirSync(snapshotDir);
  fs.mkdirSync(path.join(staging, 'scratch'));
  await createSnapshot({ root, kind: 'guix', storePaths: STORE_PATHS, dbDir: DB_DIR, snapshotDir, scratchDir: path.join(staging, 'scratch') });
  return snapshotDir;
}

function apply(root: string, snapshotDir: string, daemon: DaemonControl = { kind: 'none' }): ReturnType<typeof applySnapshot> {
  const scratchDir = tempDir('runbox-store-scratch-');
  return applySnapshot({ root, kind: 'guix', storePaths: STORE_PATHS, dbDir: DB_DIR, daemon, snapshotDir, scratchDir });
}

/** Log-writing daemon commands, for checking the order of stop, extract and start. */
function loggingDaemon(log: string): DaemonControl {
  return { kind: 'commands', stop: `echo stop >> ${q(log)}`, start: `echo start >> ${q(log)}` };
}

function readLog(log: string): string[] {
  return fs.existsSync(log)
    ? fs
        .readFileSync(log, 'utf8')
        .split('\n')
        .filter((l) => l !== '')
    : [];
}

describeWith([probe('GNU tar', 'tar'), probe('zstd', 'zstd'), probe('sqlite3', 'sqlite3', ['-version']), asRoot()])('store snapshot archive', () => {
  afterAll(removeTempDirs);

  test('round trip into an empty root: every item with canonical metadata, hard links kept, no .links; store dirs made root 0755; the DB is created from the registrations', async () => {
    const a = buildGuixLayout(tempDir());
    const snap = await snapshot(a.root);
    const listing = sh(`zstd -dc ${q(snap)}/store.tar.zst | tar -tv`).stdout;
    expect(listing).not.toMatch(/var\/guix\/db/); // the DB dir never goes into the tar
    expect(listing).not.toContain('.links'); // dot-entries are never archived
    // The COPYING that hello and libfoo share (through .links): whole at hello's, a link at libfoo's.
    expect(
      listing
        .split('\n')
        .filter((l) => l.startsWith('h'))
        .map((l) => l.replace(/^.*? (gnu\/)/, '$1'))
    ).toEqual([`${a.items.lib.slice(1)}/lib/COPYING link to ${a.items.hello.slice(1)}/share/doc/hello/COPYING`]);
    const m = JSON.parse(fs.readFileSync(path.join(snap, 'manifest.json'), 'utf8')) as { archives: Array<{ dataBytes: number }> };
    // Each file counted once: the shared COPYING is in the archive once.
    expect(m.archives[0].dataBytes).toBe(Number(sh(`cd ${q(a.root)} && find gnu/store/*-* -type f -printf '%i %s\\n' | sort -u | cut -d' ' -f2 | paste -sd+ | bc`).stdout.trim()));
    expect(m.archives[0].dataBytes).toBeLessThan(Number(sh(`cd ${q(a.root)} && find gnu/store/*-* -type f -printf '%s\\n' | paste -sd+ | bc`).stdout.trim()));

    const b = tempDir();
    const r = await apply(b, snap);
    // Canonical: root-owned (the item owned by 30001:30002 too), mtime 1 (the sub-second one
    // too), dirs 0555, files 0555/0444; the hard-linked file one inode with both its names.
    expect(itemsView(path.join(b, 'gnu/store'))).toEqual(itemsView(path.join(a.root, 'gnu/store'), true));
    expect(linkGroups(path.join(b, 'gnu/store'))).toEqual([[`${a.items.hello.slice(11)}/share/doc/hello/COPYING`, `${a.items.lib.slice(11)}/lib/COPYING`]]);
    expect(linkGroups(path.join(b, 'gnu/store'))).toEqual(linkGroups(path.join(a.root, 'gnu/store')));
    expect(fs.statSync(path.join(b, a.items.lib, 'lib/COPYING')).nlink).toBe(2);
    expect(fs.existsSync(path.join(b, 'gnu/store/.links'))).toBe(false);
    expect(r.notRestored).toEqual([]);
    // The store dirs runbox made: root 0755 (the archive's 1775 for gnu/store is not taken).
    expect(
      sh(`cd ${q(b)} && stat -c '%n %a %u %g' gnu gnu/store var var/guix var/guix/db`)
        .stdout.trim()
        .split('\n')
    ).toEqual(['gnu', 'gnu/store', 'var', 'var/guix', 'var/guix/db'].map((d) => `${d} 755 0 0`));
    expect(fs.existsSync(path.join(b, 'var/guix/db/schema'))).toBe(false);
    expect(dbContents(path.join(b, 'var/guix/db/db.sqlite'))).toEqual(dbContents(path.join(a.root, 'var/guix/db/db.sqlite')));
    expect(sh(`stat -c '%a %u %g' ${q(path.join(b, 'var/guix/db/db.sqlite'))}`).stdout).toBe('644 0 0\n');
    expect(r.db).toEqual({ mode: 'created', registered: 4, alreadyValid: 0, skipped: 0 });
    expect(r.added).toBe(4); // the 4 items
    expect(r.bitsDropped).toBe(0);
  });

  test('additive restore never overwrites a registered item, replaces an unregistered leftover (the .drv) with its copy and registers it, keeps existing dirs, and merges the DB', async () => {
    const a = buildGuixLayout(tempDir());
    const snap = await snapshot(a.root);

    // The target: an installer put hello (registered) and the .drv (unregistered leftover)
    // there with other contents, plus an unrelated registered item and an unrelated .links entry.
    const c = tempDir();
    const other = `/gnu/store/${itemName('other-1')}`;
    sh(`
      mkdir -p ${q(c)}/gnu/store/.links ${q(c)}/var/guix/db ${q(c + a.items.hello)}/bin ${q(c + other)}
      chmod 755 ${q(c)}/gnu/store
      echo OLD > ${q(c + a.items.hello)}/bin/hello
      echo OLD-DRV > ${q(c + a.items.drv)}
      echo other > ${q(c + other)}/file
      echo unrelated > ${q(c)}/gnu/store/.links/unrelated
      echo 2 > ${q(c)}/var/guix/db/schema
      touch -d @5 ${q(c)}/gnu/store
    `);
    const liveDb = path.join(c, 'var/guix/db/db.sqlite');
    sqliteInput(liveDb, GUIX_SCHEMA);
    registerPaths(liveDb, [other, a.items.hello]);
    // The .drv is not in it: the live DB does not register it, so it is the snapshot's copy after.
    const existing = [a.items.hello, other, '/gnu/store/.links/unrelated'];
    const before = Object.fromEntries(existing.map((p) => [p, sh(`find ${q(c + p)} -printf '%P %y %m %U %G %T@ %n %s\\n' | sort; cat ${q(c + p)} 2>/dev/null || true`).stdout]));
    const rootBefore = sh(`stat -c '%a %U %G %Y' ${q(c)}/gnu/store`).stdout;

    const log = path.join(tempDir(), 'daemon.log');
    const r = await apply(c, snap, loggingDaemon(log));
    expect(readLog(log)).toEqual(['stop', 'start']);
    // Before: the installer's unregistered .drv stayed as it was, and unregistered, for good.
    expect(fs.readFileSync(c + a.items.drv)).toEqual(fs.readFileSync(a.root + a.items.drv));
    expect(sh(`stat -c '%h %a %u %g %Y' ${q(c + a.items.drv)}`).stdout).toBe('1 444 0 0 1\n');

    for (const p of existing) expect(sh(`find ${q(c + p)} -printf '%P %y %m %U %G %T@ %n %s\\n' | sort; cat ${q(c + p)} 2>/dev/null || true`).stdout).toBe(before[p]);
    expect(
      sh(`stat -c '%a %U %G %Y' ${q(c)}/gnu/store`)
        .stdout.split(' ')
        .slice(0, 3)
    ).toEqual(rootBefore.split(' ').slice(0, 3));
    // libfoo's COPYING is, in the snapshot, a hard link to hello's, which is on disk: the
    // manifest names hello's COPYING a link anchor, so it was written into the private dir (not
    // into the store) and libfoo's link landed on the snapshot's data. The anchor went with the
    // private dir: libfoo's COPYING has one name, hello's on disk is untouched (checked above).
    const m = JSON.parse(fs.readFileSync(path.join(snap, 'manifest.json'), 'utf8')) as { archives: Array<{ linkTargets?: string[] }> };
    expect(m.archives.map((x) => x.linkTargets)).toEqual([[`${a.items.hello.slice(1)}/share/doc/hello/COPYING`]]);
    expect(r.notRestored).toEqual([]);
    const copying = path.join(c, a.items.lib, 'lib/COPYING');
    expect(fs.readFileSync(copying)).toEqual(fs.readFileSync(path.join(a.root, a.items.hello, 'share/doc/hello/COPYING')));
    expect(sh(`stat -c '%h %a %u %g %Y' ${q(copying)}`).stdout).toBe('1 444 0 0 1\n');
    expect(itemsView(path.join(c, 'gnu/store')).filter((l) => l.startsWith(path.basename(a.items.lib)))).toEqual(
      itemsView(path.join(a.root, 'gnu/store'), true).filter((l) => l.startsWith(path.basename(a.items.lib)))
    );
    expect(fs.readdirSync(path.join(c, 'gnu/store')).sort()).toEqual(['.links', ...[a.items.hello, a.items.drv, other, a.items.profile, a.items.lib].map((i) => path.basename(i))].sort());
    // Nothing left beside the store: the private dir, with the anchor, is gone.
    expect(fs.readdirSync(c).sort()).toEqual(['gnu', 'var']);
    // .links on disk is neither read nor written.
    expect(fs.readdirSync(path.join(c, 'gnu/store/.links'))).toEqual(['unrelated']);
    expect(fs.readlinkSync(c + a.items.profile)).toBe(a.items.hello);

    const db = dbContents(liveDb);
    // Valid before: other, hello (its row kept as it was). Added: profile (its reference hello is
    // valid), libfoo and the .drv, whose copy replaced the unregistered leftover.
    expect(db.paths).toEqual([a.items.hello, other, a.items.profile, a.items.lib, a.items.drv].sort());
    expect(db.refs).toEqual([`${a.items.profile} -> ${a.items.hello}`]);
    expect(db.outputs).toEqual([`${a.items.drv} out ${a.items.hello}`]);
    expect(r.db).toEqual({ mode: 'inserted', registered: 3, alreadyValid: 1, skipped: 0 });
    expect(r.added).toBe(3);
  });

  test('additive restore of items that share files only among themselves: the new items keep their hard links', async () => {
    const a = buildGuixLayout(tempDir());
    const snap = await snapshot(a.root);
    const c = tempDir();
    // The .drv and profile on disk; hello and libfoo (which share COPYING) are new.
    sh(`mkdir -p ${q(c)}/gnu/store && echo OLD-DRV > ${q(c + a.items.drv)} && ln -s ${q(a.items.hello)} ${q(c + a.items.profile)}`);
    const r = await apply(c, snap);
    expect(r.notRestored).toEqual([]);
    expect(r.added).toBe(2);
    expect(linkGroups(path.join(c, 'gnu/store'))).toEqual([[`${a.items.hello.slice(11)}/share/doc/hello/COPYING`, `${a.items.lib.slice(11)}/lib/COPYING`]]);
    expect(fs.readFileSync(c + a.items.drv, 'utf8')).toBe('OLD-DRV\n');
  });

  test('a reference to a path that is not restored keeps its referrer unregistered (lib on disk, in a store without a DB: left as it is)', async () => {
    const a = buildGuixLayout(tempDir());
    const snap = await snapshot(a.root);
    const c = tempDir();
    // No live DB: nothing says lib is invalid, so it stays as it is and is not registered in the
    // DB runbox creates; hello (which references lib) must not be registered either.
    sh(`mkdir -p ${q(c + a.items.lib)}`);
    const r = await apply(c, snap);
    expect(fs.readdirSync(c + a.items.lib)).toEqual([]);
    expect(dbContents(path.join(c, 'var/guix/db/db.sqlite')).paths).toEqual([a.items.drv]);
    expect(r.db).toMatchObject({ mode: 'created', registered: 1, skipped: 3 });
  });

  test('an unregistered item whose daemon lock another process holds (a build in progress): left as it is, not registered, one warning; its referrer stays unregistered; the rest restored', async () => {
    const a = buildGuixLayout(tempDir());
    const snap = await snapshot(a.root);
    const c = tempDir();
    const liveDb = path.join(c, 'var/guix/db/db.sqlite');
    sh(`mkdir -p ${q(c + a.items.lib)}/lib ${q(c)}/var/guix/db && echo half > ${q(c + a.items.lib)}/lib/libfoo.so.1`);
    sqliteInput(liveDb, GUIX_SCHEMA);
    const lock = `${c}${a.items.lib}.lock`;
    const build = await holdFlock(lock);
    try {
      const before = treeManifest(c + a.items.lib);
      const { value: r, warnings } = await warningsOf(() => apply(c, snap));
      expect(treeManifest(c + a.items.lib)).toEqual(before);
      expect(warnings).toEqual([
        expect.stringMatching(
          /^::warning::runbox store: 1 item\(s\) on disk that the DB does not register are locked by another process \(a build or substitution in progress\), so they stay as they are, not registered: "\/gnu\/store\/\w+-libfoo-1\.0"$/
        )
      ]);
      // hello references lib: unregistered; profile references hello: unregistered.
      expect(dbContents(liveDb).paths).toEqual([a.items.drv]);
      expect(typeof r === 'string' ? r : { added: r.added, db: r.db }).toEqual({ added: 3, db: { mode: 'inserted', registered: 1, alreadyValid: 0, skipped: 3 } });
      // The build's lock file is its own: still there, still held by it.
      expect(flockHeld(lock)).toBe(true);
    } finally {
      await build.release();
    }
    expect(fs.readdirSync(path.join(c, 'gnu/store')).sort()).toEqual([...Object.values(a.items).map((i) => path.basename(i)), `${path.basename(a.items.lib)}.lock`].sort());
  });

  test("an unregistered item's <item>.lock that another user planted (a symlink, their own file) is refused, never followed: the item stays as it is, not registered, one warning; nothing written through it", async () => {
    const a = buildGuixLayout(tempDir());
    const snap = await snapshot(a.root);
    const c = tempDir();
    const outside = tempDir();
    const liveDb = path.join(c, 'var/guix/db/db.sqlite');
    const { drv, profile, hello, lib } = a.items;
    // The store dir as a multi-user install has it: the build users' group may write it.
    sh(`
      mkdir -p ${q(c)}/gnu/store ${q(c)}/var/guix/db && chmod 1775 ${q(c)}/gnu/store
      echo OLD-DRV > ${q(c + drv)} && ln -s /nowhere ${q(c + profile)} && mkdir ${q(c + hello)}
      echo precious > ${q(outside)}/victim && touch -d @7 ${q(outside)}/victim
      ln -s ${q(outside)}/victim ${q(c + drv)}.lock && ln -s ${q(outside)}/made ${q(c + profile)}.lock
      echo mine > ${q(c + hello)}.lock
      chown -h runbox-nosudo ${q(c + drv)}.lock ${q(c + profile)}.lock ${q(c + hello)}.lock
    `);
    sqliteInput(liveDb, GUIX_SCHEMA);
    const before = [drv, profile, hello].map((i) => sh(`stat -c '%F %s %Y' ${q(c + i)}; stat -c '%F %U %s %Y %N' ${q(c + i)}.lock`).stdout);
    const { value: r, warnings } = await warningsOf(() => apply(c, snap));
    expect([drv, profile, hello].map((i) => sh(`stat -c '%F %s %Y' ${q(c + i)}; stat -c '%F %U %s %Y %N' ${q(c + i)}.lock`).stdout)).toEqual(before);
    expect(fs.readdirSync(outside)).toEqual(['victim']);
    expect(sh(`stat -c '%s %Y' ${q(outside)}/victim; cat ${q(outside)}/victim`).stdout).toBe('9 7\nprecious\n');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(
      /^::warning::runbox store: 3 item\(s\) on disk that the DB does not register stay as they are, not registered: their lock file was refused, nothing was written through it: /
    );
    expect(warnings[0]).toContain(`"${drv}.lock" is a symbolic link`);
    expect(warnings[0]).toContain(`"${profile}.lock" is a symbolic link`);
    expect(warnings[0]).toMatch(new RegExp(`"${hello}\\.lock" belongs to uid \\d+, not to root or the store`));
    // lib alone was restored whole and registered (it references nothing).
    expect(dbContents(liveDb).paths).toEqual([lib]);
    expect(typeof r === 'string' ? r : r.added).toBe(1);
  });

  test('a symlink-then-file archive is refused with nothing written, inside or outside the store', async () => {
    const work = tempDir();
    const victim = path.join(work, 'victim');
    fs.mkdirSync(victim);
    sh(`
      mkdir -p ${q(work)}/src/gnu/store/aaaa-x && ln -s ${q(victim)} ${q(work)}/src/gnu/store/aaaa-x/out && echo evil > ${q(work)}/src/evil
      cd ${q(work)}/src && tar -cf ../evil.tar gnu/store/aaaa-x && tar -rf ../evil.tar --transform='s,^evil$,gnu/store/aaaa-x/out/planted,' evil
    `);
    const snap = forgeSnapshot(path.join(work, 'snap'), path.join(work, 'evil.tar'));
    const target = buildGuixLayout(tempDir()).root;
    const before = treeManifest(target);
    const log = path.join(work, 'daemon.log');
    expect(await rejection(apply(target, snap, loggingDaemon(log)))).toMatch(/UnsafeArchiveError: .*would be written through the symlink member 'gnu\/store\/aaaa-x\/out'/);
    // Checked while extracted into a private dir in gnu/: gone, and gnu/'s mtime put back.
    expect(treeManifest(target)).toEqual(before);
    expect(fs.readdirSync(victim)).toEqual([]);
    expect(readLog(log)).toEqual([]); // refused before the daemon was even stopped
  });

  test('a corrupt or truncated download is refused before the store is touched', async () => {
    const a = buildGuixLayout(tempDir());
    const snap = await snapshot(a.root);
    const archive = path.join(snap, 'store.tar.zst');
    const good = fs.readFileSync(archive);
    const target = tempDir();

    const corrupt = Buffer.from(good);
    corrupt[Math.floor(corrupt.length / 2)] ^= 0xff;
    fs.writeFileSync(archive, corrupt);
    expect(await rejection(apply(target, snap))).toMatch(/IntegrityError: store\.tar\.zst: sha256 [0-9a-f]+ differs from/);

    fs.writeFileSync(archive, good.subarray(0, good.length - 100));
    expect(await rejection(apply(target, snap))).toMatch(/ManifestError: .*store\.tar\.zst is \d+ bytes/);

    // Truncated with a manifest that agrees on the size: the checksum still catches it.
    const manifest = JSON.parse(fs.readFileSync(path.join(snap, 'manifest.json'), 'utf8')) as { archives: Array<{ bytes: number }> };
    manifest.archives[0].bytes = good.length - 100;
    fs.writeFileSync(path.join(snap, 'manifest.json'), JSON.stringify(manifest));
    expect(await rejection(apply(target, snap))).toMatch(/IntegrityError/);
    expect(fs.readdirSync(target)).toEqual([]);
  });

  // A parent link root made in a dir only root writes is followed (store-symlinked-parent.test.ts).
  test('a store path whose parent is a symlink another user owns is refused', async () => {
    const a = buildGuixLayout(tempDir());
    const snap = await snapshot(a.root);
    const target = tempDir();
    const elsewhere = tempDir();
    fs.symlinkSync(elsewhere, path.join(target, 'gnu'));
    fs.lchownSync(path.join(target, 'gnu'), 65534, 65534);
    expect(await rejection(apply(target, snap))).toMatch(/InputError: Input 'store-paths': '.*\/gnu\/store' resolves through a symlink \(.*\/gnu -> .*\).*it is owned by uid 65534, not root/);
    expect(fs.readdirSync(elsewhere)).toEqual([]);
  });

  test('a store dir that is a symlink on disk is refused, even one root made', async () => {
    const a = buildGuixLayout(tempDir());
    const snap = await snapshot(a.root);
    const target = tempDir();
    const elsewhere = tempDir();
    fs.mkdirSync(path.join(target, 'gnu'));
    fs.symlinkSync(elsewhere, path.join(target, 'gnu/store'));
    expect(await rejection(apply(target, snap))).toMatch(/InputError: Input 'store-paths': .*\/gnu\/store is the path itself, not its real dir/);
    expect(fs.readdirSync(elsewhere)).toEqual([]);
  });

  test('a hard link into an item already on disk: the linking item is not restored, the item on disk is untouched, the rest is', async () => {
    const work = tempDir();
    sh(`
      mkdir -p ${q(work)}/src/gnu/store/aaaa-host/lib ${q(work)}/src/gnu/store/bbbb-new/sub ${q(work)}/src/gnu/store/cccc-ok
      echo s > ${q(work)}/src/gnu/store/aaaa-host/lib/secret && ln ${q(work)}/src/gnu/store/aaaa-host/lib/secret ${q(work)}/src/gnu/store/bbbb-new/sub/x
      echo before > ${q(work)}/src/gnu/store/bbbb-new/a && echo ok > ${q(work)}/src/gnu/store/cccc-ok/f
      cd ${q(work)}/src && tar -cf ../t.tar --sort=name gnu/store/aaaa-host gnu/store/bbbb-new gnu/store/cccc-ok
    `);
    expect(sh(`tar -tvf ${q(work)}/t.tar`).stdout).toContain('gnu/store/bbbb-new/sub/x link to gnu/store/aaaa-host/lib/secret');
    const snap = forgeSnapshot(path.join(work, 'snap'), path.join(work, 't.tar'));
    const target = tempDir();
    fs.mkdirSync(path.join(target, 'gnu/store/aaaa-host/lib'), { recursive: true });
    fs.writeFileSync(path.join(target, 'gnu/store/aaaa-host/lib/secret'), 'on disk\n');
    const before = treeManifest(path.join(target, 'gnu/store/aaaa-host'));
    const r = await apply(target, snap);
    expect(r.notRestored).toEqual(['/gnu/store/bbbb-new']);
    expect(r.added).toBe(1);
    expect(r.existing).toBe(1);
    expect(fs.readdirSync(path.join(target, 'gnu/store')).sort()).toEqual(['aaaa-host', 'cccc-ok']);
    expect(treeManifest(path.join(target, 'gnu/store/aaaa-host'))).toEqual(before);
    expect(fs.statSync(path.join(target, 'gnu/store/aaaa-host/lib/secret')).nlink).toBe(1);
    expect(fs.readFileSync(path.join(target, 'gnu/store/aaaa-host/lib/secret'), 'utf8')).toBe('on disk\n');
    // Nothing left beside the store (the private dir, with bbbb-new's first members, is gone).
    expect(fs.readdirSync(target)).toEqual(['gnu']);
    expect(fs.readdirSync(path.join(target, 'gnu'))).toEqual(['store']);
  });

  test('a dot-entry of the store dir (.links) in a snapshot is refused; .links on disk is not touched', async () => {
    const work = tempDir();
    sh(`
      mkdir -p ${q(work)}/src/gnu/store/.links && echo x > ${q(work)}/src/gnu/store/.links/0123
      cd ${q(work)}/src && tar -cf ../t.tar gnu/store
    `);
    const snap = forgeSnapshot(path.join(work, 'snap'), path.join(work, 't.tar'));
    const target = tempDir();
    fs.mkdirSync(path.join(target, 'gnu/store/.links'), { recursive: true });
    fs.writeFileSync(path.join(target, 'gnu/store/.links/0123'), 'x');
    const before = treeManifest(target);
    expect(await rejection(apply(target, snap))).toMatch(/lies in 'gnu\/store\/\.links', a dot-entry of the store dir/);
    expect(treeManifest(target)).toEqual(before);
  });

  test('tar failing in the private dir: the daemon is never stopped, the private dir is gone, the store untouched', async () => {
    const a = buildGuixLayout(tempDir());
    const snap = await snapshot(a.root);
    const work = tempDir();
    const bin = path.join(work, 'bin');
    fs.mkdirSync(bin);
    // unshare, not tar: the extracting tar runs confined (sys/confined.ts), started by root's
    // unshare with tar's argv, and could not run a wrapper in this root-only dir.
    const realUnshare = sh('command -v unshare').stdout.trim();
    fs.writeFileSync(path.join(bin, 'unshare'), `#!/bin/sh\ncase " $* " in *" tar -x "*) echo 'tar: simulated failure' >&2; exit 2;; esac\nexec ${realUnshare} "$@"\n`, { mode: 0o755 });
    const target = buildGuixLayout(tempDir()).root;
    fs.rmSync(path.join(target, a.items.lib.slice(1)), { recursive: true, force: true });
    const before = treeManifest(target);
    const log = path.join(work, 'daemon.log');
    const savedPath = process.env.PATH;
    process.env.PATH = `${bin}:${savedPath ?? ''}`;
    try {
      expect(await rejection(apply(target, snap, loggingDaemon(log)))).toMatch(/simulated failure|tar stopped reading/);
    } finally {
      process.env.PATH = savedPath;
    }
    expect(readLog(log)).toEqual([]);
    expect(treeManifest(target)).toEqual(before);
  });

  test('the daemon is started again when moving the items in fails', async () => {
    const a = buildGuixLayout(tempDir());
    const snap = await snapshot(a.root);
    const target = tempDir();
    fs.mkdirSync(path.join(target, 'gnu/store'), { recursive: true });
    // An immutable store dir: even root's rename into it fails.
    if (sh(`chattr +i ${q(target)}/gnu/store`, { allowFailure: true }).code !== 0) return;
    const log = path.join(tempDir(), 'daemon.log');
    try {
      expect(await rejection(apply(target, snap, loggingDaemon(log)))).toMatch(/mv/);
    } finally {
      sh(`chattr -i ${q(target)}/gnu/store`);
    }
    expect(readLog(log)).toEqual(['stop', 'start']);
    expect(fs.readdirSync(path.join(target, 'gnu/store'))).toEqual([]);
  });

  /**
   * Restores a fresh snapshot into an empty root with an `unshare` (where: 'extract') or `mv` (where:
   * 'move') first on PATH that logs `stall` and takes its time (the window a SIGTERM lands in).
   * Then runs the cleanups, as the entry point's SIGTERM handler does.
   */
  async function terminateMid(where: 'extract' | 'move'): Promise<{ target: string; log: string; error: string; ms: number; atStall: string[] }> {
    const a = buildGuixLayout(tempDir());
    const snap = await snapshot(a.root);
    const work = tempDir();
    const log = path.join(work, 'daemon.log');
    const bin = path.join(work, 'bin');
    fs.mkdirSync(bin);
    // 'stall' is logged only once the trap can kill the sleep: a TERM before that would leave the
    // sleep holding tar's stderr open, and the test would wait for it, not for runbox.
    // The sleep dies with the wrapper (a parent-death signal): the confined tar's supervisor ends
    // a cancelled extract with SIGKILL of its unshare, which no trap sees.
    const stall = `setpriv --pdeathsig=KILL sleep 30 & p=$!; trap 'kill $p; exit 143' TERM; echo stall >> ${q(log)}; wait $p`;
    // The extract: root's unshare that starts the confined tar (sys/confined.ts) with tar's argv.
    const cmd = where === 'extract' ? 'unshare' : 'mv';
    const real = sh(`command -v ${cmd}`).stdout.trim();
    const when = where === 'extract' ? '*" tar -x "*' : '*.runbox-restore-*';
    fs.writeFileSync(path.join(bin, cmd), `#!/bin/sh\ncase " $* " in ${when}) ${stall};; esac\nexec ${real} "$@"\n`, { mode: 0o755 });
    const savedPath = process.env.PATH;
    process.env.PATH = `${bin}:${savedPath ?? ''}`;
    try {
      const target = tempDir();
      const t0 = Date.now();
      const failed = rejection(apply(target, snap, loggingDaemon(log)));
      while (!readLog(log).includes('stall')) {
        if (Date.now() - t0 > 20000) throw new Error(`${where} never started: ${readLog(log).join(',')}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      const atStall = fs.readdirSync(target);
      await runCleanups();
      return { target, log, error: await failed, ms: Date.now() - t0, atStall };
    } finally {
      process.env.PATH = savedPath;
    }
  }

  test('on termination during the extract, the cleanups kill tar and remove the private dir; the daemon is never stopped', async () => {
    const r = await terminateMid('extract');
    expect(r.atStall.filter((n) => n.startsWith('.runbox-restore-'))).toHaveLength(1);
    // Whichever stage of the lane is told first (the archive's zstd, or the confined tar), it was killed.
    expect(r.error).toMatch(/tar|was killed by SIG(TERM|KILL)/);
    expect(r.ms).toBeLessThan(20000); // tar was killed, not waited for, and not run again
    // Extracted into the private dir while the daemon ran; the store was never written.
    expect(readLog(r.log)).toEqual(['stall']);
    expect(fs.readdirSync(r.target)).toEqual([]);
  });

  test('on termination while the daemon is stopped (moving items in), the cleanups start the daemon once', async () => {
    const r = await terminateMid('move');
    expect(r.ms).toBeLessThan(20000); // mv was killed, not waited for
    expect(readLog(r.log)).toEqual(['stop', 'stall', 'start']); // started once, not again by finally
    expect(fs.existsSync(path.join(r.target, 'var/guix/db/db.sqlite'))).toBe(false); // no DB merge after a kill
    expect(fs.readdirSync(path.join(r.target, 'gnu/store'))).toEqual([]);
  });

  test("a private dir left by a killed restore is removed by the next one; a live restore's is kept", async () => {
    const a = buildGuixLayout(tempDir());
    const snap = await snapshot(a.root);
    const target = tempDir();
    fs.mkdirSync(path.join(target, 'gnu'));
    // A dead pid (a finished child's) and the start time of a live process that is not this one.
    const dead = sh("sh -c 'echo $$'").stdout.trim();
    const live = spawn('sleep', ['60']);
    const liveStart = fs.readFileSync(`/proc/${live.pid}/stat`, 'utf8').split(') ')[1].split(' ')[19];
    const leftover = path.join(target, 'gnu', `.runbox-restore-${dead}-1`);
    const running = path.join(target, 'gnu', `.runbox-restore-${live.pid}-${liveStart}`);
    const notOurs = path.join(target, 'gnu', '.runbox-restore-x');
    try {
      sh(`mkdir -p ${q(leftover)}/gnu/store/half-written ${q(running)} ${q(notOurs)} && chmod 700 ${q(leftover)} ${q(running)}`);
      const r = await apply(target, snap);
      expect(r.reaped).toEqual([leftover]);
      expect(fs.readdirSync(path.join(target, 'gnu')).sort()).toEqual([path.basename(running), '.runbox-restore-x', 'store'].sort());
      expect(fs.existsSync(path.join(target, 'gnu/store/half-written'))).toBe(false);
    } finally {
      live.kill();
    }
  });

  describeWith([probe('scripts/mkstore.sh', 'test', ['-x', MKSTORE])])('a store built by mkstore.sh from real files', () => {
    test('round trips to canonical metadata (hard-link groups kept, no .links)', async () => {
      const a = tempDir();
      sh(`${q(MKSTORE)} ${q(a)} 10 >/dev/null`);
      // Small stores have no file shared by two items (only with .links): one as `guix gc
      // --optimize` would leave it, an item whose every file is another's, by hard link.
      const dup = itemName('dup-1');
      const src = sh(`cd ${q(a)}/gnu/store && src=$(find . -mindepth 2 -path './.*' -prune -o -type f -printf '%h\\n' -quit | cut -d/ -f2) && cp -al "$src" ${q(dup)} && echo "$src"`).stdout.trim();
      // mkstore's db.sqlite is filler, not SQLite: give it a real one.
      fs.rmSync(path.join(a, 'var/guix/db/db.sqlite'));
      sqliteInput(path.join(a, 'var/guix/db/db.sqlite'), GUIX_SCHEMA);
      const items = fs.readdirSync(path.join(a, 'gnu/store')).filter((n) => n !== '.links');
      registerPaths(
        path.join(a, 'var/guix/db/db.sqlite'),
        items.map((n) => `/gnu/store/${n}`)
      );
      const snap = await snapshot(a);
      const b = tempDir();
      const r = await apply(b, snap);
      const want = treeManifest(path.join(a, 'gnu/store'));
      expect(want.length).toBeGreaterThan(100);
      expect(want.some((l) => / f \d+ \d+ \d+ \S+ [2-9] /.test(l))).toBe(true); // has hard links
      expect(itemsView(path.join(b, 'gnu/store'))).toEqual(itemsView(path.join(a, 'gnu/store'), true));
      // One archive: every group of names of one file (but .links) is one file again.
      expect((JSON.parse(fs.readFileSync(path.join(snap, 'manifest.json'), 'utf8')) as SnapshotManifest).archives).toHaveLength(1);
      const groups = linkGroups(path.join(a, 'gnu/store'));
      expect(groups.length).toBeGreaterThan(0);
      expect(linkGroups(path.join(b, 'gnu/store'))).toEqual(groups);
      expect(fs.existsSync(path.join(b, 'gnu/store/.links'))).toBe(false);
      expect(r.db).toMatchObject({ mode: 'created', registered: items.length });

      // Additive: the store has every item but the later (in tar's order) of the item and its
      // copy, whose files are then all links to the other's, on disk: written as link anchors
      // into the private dir, they let it be restored, with the snapshot's data.
      const later = [src, dup].sort(byteOrder)[1];
      const m = JSON.parse(fs.readFileSync(path.join(snap, 'manifest.json'), 'utf8')) as { archives: Array<{ linkTargets?: string[] }> };
      expect(m.archives[0].linkTargets?.length).toBeGreaterThan(0);
      expect(m.archives[0].linkTargets).toEqual([...(m.archives[0].linkTargets ?? [])].sort(byteOrder));
      const c = tempDir();
      sh(`mkdir -p ${q(c)}/gnu/store && cd ${q(b)}/gnu/store && cp -a $(ls | grep -vx ${q(later)}) ${q(c)}/gnu/store/`);
      const rc = await apply(c, snap);
      expect(rc.notRestored).toEqual([]);
      expect(rc.added).toBe(1);
      const view = (dir: string, canonical: boolean): string[] => itemsView(path.join(dir, 'gnu/store'), canonical).filter((l) => l.startsWith(later));
      expect(view(c, false)).toEqual(view(a, true));
      expect(sh(`cd ${q(c)}/gnu/store && find ${q(later)} -type f -exec sha256sum {} + | sort`).stdout).toBe(sh(`cd ${q(a)}/gnu/store && find ${q(later)} -type f -exec sha256sum {} + | sort`).stdout);
      expect(fs.readdirSync(c).sort()).toEqual(['gnu', 'var']); // no private dir left
    });
  });
});
