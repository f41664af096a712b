// Snapshot create/restore with the real tar, zstd and sqlite3 on a synthetic Guix-like store
// under temp roots: exact round trip (modes, owners, mtimes, hard links, symlinks), additive
// restore onto an existing store, and refusals that leave the disk untouched.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, expect, test } from '@jest/globals';
import { runCleanups } from '../src/cleanup.js';
import { createSnapshot } from '../src/store/archive.js';
import type { DaemonControl } from '../src/store/config.js';
import { applySnapshot } from '../src/store/restore.js';
import { asRoot, describeWith, probe } from './helpers/prereq.js';
import { buildGuixLayout, dbContents, forgeSnapshot, GUIX_SCHEMA, itemName, q, registerPaths, rejection, removeTempDirs, sh, sqliteInput, tempDir, treeManifest } from './fixtures/store.js';

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
  return fs.existsSync(log) ? fs.readFileSync(log, 'utf8').split('\n').filter((l) => l !== '') : [];
}

describeWith([probe('GNU tar', 'tar'), probe('zstd', 'zstd'), probe('sqlite3', 'sqlite3', ['-version']), asRoot()])('store snapshot archive', () => {
  afterAll(removeTempDirs);

  test('round trip into an empty root keeps modes, owners, mtimes, hard links and symlinks; the DB is created from the registrations', async () => {
    const a = buildGuixLayout(tempDir());
    const snap = await snapshot(a.root);
    const listing = sh(`zstd -dc ${q(snap)}/store.tar.zst | tar -t`).stdout;
    expect(listing).not.toMatch(/var\/guix\/db/); // the DB dir never goes into the tar

    const b = tempDir();
    const r = await apply(b, snap);
    expect(treeManifest(path.join(b, 'gnu/store'))).toEqual(treeManifest(path.join(a.root, 'gnu/store')));
    // The hard-link groups survived: .links entry + 2 users = 3 names for one inode.
    expect(treeManifest(path.join(b, 'gnu/store')).filter((l) => / f \d+ 0 0 1\.0+ 3 /.test(l))).toHaveLength(3);
    expect(treeManifest(path.join(b, 'gnu/store')).find((l) => l.includes('/lib/owned'))).toMatch(/ f 444 30001 30002 /);
    expect(treeManifest(path.join(b, 'gnu/store')).find((l) => l.includes('/lib/libfoo.so.1 '))).toContain('1234567890.1234567890');
    expect(fs.existsSync(path.join(b, 'var/guix/db/schema'))).toBe(false);
    expect(dbContents(path.join(b, 'var/guix/db/db.sqlite'))).toEqual(dbContents(path.join(a.root, 'var/guix/db/db.sqlite')));
    expect(sh(`stat -c '%a %u %g' ${q(path.join(b, 'var/guix/db'))} ${q(path.join(b, 'var/guix/db/db.sqlite'))}`).stdout).toBe('755 0 0\n644 0 0\n');
    expect(r.db).toEqual({ mode: 'created', registered: 4, alreadyValid: 0, skipped: 0 });
    expect(r.added).toBe(5); // 4 items and .links
  });

  test('additive restore never overwrites an existing item, keeps existing dirs, and merges the DB', async () => {
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
    const existing = [a.items.hello, a.items.drv, other, '/gnu/store/.links/unrelated'];
    const before = Object.fromEntries(existing.map((p) => [p, sh(`find ${q(c + p)} -printf '%P %y %m %U %G %T@ %n %s\\n' | sort; cat ${q(c + p)} 2>/dev/null || true`).stdout]));
    const rootBefore = sh(`stat -c '%a %U %G %Y' ${q(c)}/gnu/store`).stdout;

    const log = path.join(tempDir(), 'daemon.log');
    const r = await apply(c, snap, loggingDaemon(log));
    expect(readLog(log)).toEqual(['stop', 'start']);

    for (const p of existing) expect(sh(`find ${q(c + p)} -printf '%P %y %m %U %G %T@ %n %s\\n' | sort; cat ${q(c + p)} 2>/dev/null || true`).stdout).toBe(before[p]);
    expect(sh(`stat -c '%a %U %G %Y' ${q(c)}/gnu/store`).stdout.split(' ').slice(0, 3)).toEqual(rootBefore.split(' ').slice(0, 3));
    // What was missing is there exactly as saved, including the new .links entry.
    // (COPYING has one name less: hello's copy of it is the old one, which was left alone.)
    expect(treeManifest(c + a.items.lib)).toEqual(treeManifest(a.root + a.items.lib).map((l) => (l.startsWith('lib/COPYING ') ? l.replace(' 3 13 ', ' 2 13 ') : l)));
    expect(fs.readlinkSync(c + a.items.profile)).toBe(a.items.hello);
    const linkName = fs.readdirSync(path.join(a.root, 'gnu/store/.links'))[0];
    expect(fs.statSync(path.join(c, 'gnu/store/.links', linkName)).ino).toBe(fs.statSync(c + a.items.lib + '/lib/COPYING').ino);

    const db = dbContents(liveDb);
    // Valid before: other, hello. Added: lib, profile (its reference hello is valid). Not the
    // .drv: the item on disk is the old leftover, not the snapshot's.
    expect(db.paths).toEqual([a.items.hello, a.items.lib, other, a.items.profile].sort());
    expect(db.refs).toEqual([`${a.items.profile} -> ${a.items.hello}`]);
    expect(db.outputs).toEqual([]);
    expect(r.db).toEqual({ mode: 'inserted', registered: 2, alreadyValid: 1, skipped: 1 });
    expect(r.added).toBe(2);
  });

  test('a reference to a path that is not restored keeps its referrer unregistered', async () => {
    const a = buildGuixLayout(tempDir());
    const snap = await snapshot(a.root);
    const c = tempDir();
    // lib exists on disk but unregistered: hello (which references lib) must not be registered.
    sh(`mkdir -p ${q(c + a.items.lib)} ${q(c)}/var/guix/db`);
    sqliteInput(path.join(c, 'var/guix/db/db.sqlite'), GUIX_SCHEMA);
    const r = await apply(c, snap);
    expect(dbContents(path.join(c, 'var/guix/db/db.sqlite')).paths).toEqual([a.items.drv]);
    expect(r.db).toMatchObject({ registered: 1, skipped: 3 });
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

  test('a store path whose parent is a symlink on disk is refused', async () => {
    const a = buildGuixLayout(tempDir());
    const snap = await snapshot(a.root);
    const target = tempDir();
    const elsewhere = tempDir();
    fs.symlinkSync(elsewhere, path.join(target, 'gnu'));
    expect(await rejection(apply(target, snap))).toMatch(/UnsafeArchiveError: member '\/gnu\/store' would be written through \/gnu, a symlink on disk/);
    expect(fs.readdirSync(elsewhere)).toEqual([]);
  });

  test('a hard link into an existing item through a symlink on disk is refused', async () => {
    const work = tempDir();
    const victim = path.join(work, 'victim');
    fs.mkdirSync(victim);
    fs.writeFileSync(path.join(victim, 'secret'), 'secret\n');
    // In the archive, aaaa-host/lib is a plain dir; on the target, the existing aaaa-host has
    // lib -> victim. Linking bbbb-new/x to aaaa-host/lib/secret would link the victim's file.
    sh(`
      mkdir -p ${q(work)}/src/gnu/store/aaaa-host/lib ${q(work)}/src/gnu/store/bbbb-new
      echo s > ${q(work)}/src/gnu/store/aaaa-host/lib/secret && ln ${q(work)}/src/gnu/store/aaaa-host/lib/secret ${q(work)}/src/gnu/store/bbbb-new/x
      cd ${q(work)}/src && tar -cf ../t.tar --sort=name gnu/store/aaaa-host gnu/store/bbbb-new
    `);
    const snap = forgeSnapshot(path.join(work, 'snap'), path.join(work, 't.tar'));
    const target = tempDir();
    fs.mkdirSync(path.join(target, 'gnu/store/aaaa-host'), { recursive: true });
    fs.symlinkSync(victim, path.join(target, 'gnu/store/aaaa-host/lib'));
    expect(await rejection(apply(target, snap))).toMatch(/member 'gnu\/store\/aaaa-host\/lib\/secret' would be written through \/gnu\/store\/aaaa-host\/lib, a symlink on disk/);
    expect(fs.existsSync(path.join(target, 'gnu/store/bbbb-new'))).toBe(false);
    expect(fs.statSync(path.join(victim, 'secret')).nlink).toBe(1);
  });

  test('a member inside an existing dot-dir, under a symlink on disk, is refused', async () => {
    const work = tempDir();
    const victim = path.join(work, 'victim');
    fs.mkdirSync(victim);
    sh(`
      mkdir -p ${q(work)}/src/gnu/store/.links/sub && echo x > ${q(work)}/src/gnu/store/.links/sub/x
      cd ${q(work)}/src && tar -cf ../t.tar gnu/store/.links
    `);
    const snap = forgeSnapshot(path.join(work, 'snap'), path.join(work, 't.tar'));
    const target = tempDir();
    fs.mkdirSync(path.join(target, 'gnu/store/.links'), { recursive: true });
    fs.symlinkSync(victim, path.join(target, 'gnu/store/.links/sub'));
    expect(await rejection(apply(target, snap))).toMatch(/would be written through \/gnu\/store\/\.links\/sub, a symlink on disk/);
    expect(fs.readdirSync(victim)).toEqual([]);
  });

  test('the daemon is started again when the extract fails', async () => {
    const work = tempDir();
    // Valid by every member rule, but tar cannot make the hard link (its target is nowhere).
    sh(`
      mkdir -p ${q(work)}/src/gnu/store/aaaa-x && echo a > ${q(work)}/src/gnu/store/aaaa-x/a && ln ${q(work)}/src/gnu/store/aaaa-x/a ${q(work)}/src/gnu/store/aaaa-x/b
      cd ${q(work)}/src && tar -cf ../bad.tar --sort=name --transform='flags=h;s,^gnu/store/aaaa-x/a$,gnu/store/zzzz-gone/a,' gnu/store/aaaa-x
    `);
    const snap = forgeSnapshot(path.join(work, 'snap'), path.join(work, 'bad.tar'));
    const log = path.join(work, 'daemon.log');
    expect(await rejection(apply(tempDir(), snap, loggingDaemon(log)))).toMatch(/PipelineError: `tar -x .*Cannot hard link/s);
    expect(readLog(log)).toEqual(['stop', 'start']);
  });

  /**
   * Restores a fresh snapshot into an empty root with a `tar` first on PATH that, extracting into
   * `where`, logs `extract` and takes its time (the window a SIGTERM lands in); with `where` the
   * store, tar fails at once in the private dir, so restore extracts into the store itself. Then
   * runs the cleanups, as the entry point's SIGTERM handler does.
   */
  async function terminateMidExtract(where: 'private dir' | 'store'): Promise<{ target: string; log: string; error: string; ms: number; atStall: string[] }> {
    const a = buildGuixLayout(tempDir());
    const snap = await snapshot(a.root);
    const work = tempDir();
    const log = path.join(work, 'daemon.log');
    const bin = path.join(work, 'bin');
    fs.mkdirSync(bin);
    const realTar = sh('command -v tar').stdout.trim();
    const stall = `echo extract >> ${q(log)}; trap 'kill $p; exit 143' TERM; sleep 30 & p=$!; wait $p`;
    fs.writeFileSync(
      path.join(bin, 'tar'),
      `#!/bin/sh\ncase " $* " in *" -x "*) case "$*" in *.runbox-restore-*) ${where === 'store' ? 'exit 2' : stall};; *) ${where === 'store' ? stall : 'true'};; esac;; esac\nexec ${realTar} "$@"\n`,
      { mode: 0o755 }
    );
    const savedPath = process.env.PATH;
    process.env.PATH = `${bin}:${savedPath ?? ''}`;
    try {
      const target = tempDir();
      const t0 = Date.now();
      const failed = rejection(apply(target, snap, loggingDaemon(log)));
      while (!readLog(log).includes('extract')) {
        if (Date.now() - t0 > 20000) throw new Error(`extract never started: ${readLog(log).join(',')}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      const atStall = fs.readdirSync(target);
      await runCleanups();
      return { target, log, error: await failed, ms: Date.now() - t0, atStall };
    } finally {
      process.env.PATH = savedPath;
    }
  }

  test('on termination during the one-pass extract, the cleanups kill tar and remove the private dir; the daemon is never stopped', async () => {
    const r = await terminateMidExtract('private dir');
    expect(r.atStall.filter((n) => n.startsWith('.runbox-restore-'))).toHaveLength(1);
    expect(r.error).toMatch(/tar/);
    expect(r.ms).toBeLessThan(20000); // tar was killed, not waited for, and not run again
    // Extracted into the private dir while the daemon ran; the store was never written.
    expect(readLog(r.log)).toEqual(['extract']);
    expect(fs.readdirSync(r.target)).toEqual([]);
  });

  test('on termination while the daemon is stopped (extracting into the store itself), the cleanups kill tar and start the daemon once', async () => {
    const r = await terminateMidExtract('store');
    expect(r.error).toMatch(/tar/);
    expect(r.ms).toBeLessThan(20000); // tar was killed, not waited for
    expect(readLog(r.log)).toEqual(['stop', 'extract', 'start']); // started once, not again by finally
    expect(fs.existsSync(path.join(r.target, 'var/guix/db/db.sqlite'))).toBe(false); // no DB merge after a kill
  });

  test('a dedup file on disk that differs from the snapshot\'s: written afresh by extracting into the store itself', async () => {
    const a = buildGuixLayout(tempDir());
    const snap = await snapshot(a.root);
    const target = tempDir();
    const links = path.join(a.root, 'gnu/store/.links');
    const name = fs.readdirSync(links)[0];
    const size = fs.statSync(path.join(links, name)).size;
    // A truncated copy, as an extract cut off in the store itself leaves one.
    fs.mkdirSync(path.join(target, 'gnu/store/.links'), { recursive: true });
    fs.writeFileSync(path.join(target, 'gnu/store/.links', name), fs.readFileSync(path.join(links, name)).subarray(0, 3));
    const r = await apply(target, snap);
    expect(r.onePass).toBe(false);
    expect(fs.statSync(path.join(target, 'gnu/store/.links', name)).size).toBe(size);
    // The dirs the target had beforehand keep their own mode and mtime (additive restore).
    const ownDirs = (m: string[]): string[] => m.filter((l) => !/^(\.links)? d /.test(l));
    expect(ownDirs(treeManifest(path.join(target, 'gnu/store')))).toEqual(ownDirs(treeManifest(path.join(a.root, 'gnu/store'))));
    expect(fs.readdirSync(path.join(target, 'gnu')).filter((n) => n.startsWith('.runbox-restore-'))).toEqual([]);
  });

  test('a private dir left by a killed restore is removed by the next one; a live restore\'s is kept', async () => {
    const a = buildGuixLayout(tempDir());
    const snap = await snapshot(a.root);
    const target = tempDir();
    fs.mkdirSync(path.join(target, 'gnu'));
    // A dead pid (a finished child's) and the start time of a live process that is not this one.
    const dead = sh('sh -c \'echo $$\'').stdout.trim();
    const live = spawn('sleep', ['60']);
    const liveStart = fs.readFileSync(`/proc/${live.pid}/stat`, 'utf8').split(') ')[1].split(' ')[19];
    const leftover = path.join(target, 'gnu', `.runbox-restore-${dead}-1`);
    const running = path.join(target, 'gnu', `.runbox-restore-${live.pid}-${liveStart}`);
    const notOurs = path.join(target, 'gnu', '.runbox-restore-x');
    try {
      sh(`mkdir -p ${q(leftover)}/gnu/store/half-written ${q(running)} ${q(notOurs)} && chmod 700 ${q(leftover)} ${q(running)}`);
      const r = await apply(target, snap);
      expect(r.onePass).toBe(true);
      expect(r.reaped).toEqual([leftover]);
      expect(fs.readdirSync(path.join(target, 'gnu')).sort()).toEqual([path.basename(running), '.runbox-restore-x', 'store'].sort());
      expect(fs.existsSync(path.join(target, 'gnu/store/half-written'))).toBe(false);
    } finally {
      live.kill();
    }
  });

  describeWith([probe('scripts/mkstore.sh', 'test', ['-x', MKSTORE])])('a store built by mkstore.sh from real files', () => {
    test('round trips exactly (hard links, modes, mtimes)', async () => {
      const a = tempDir();
      sh(`${q(MKSTORE)} ${q(a)} 10 >/dev/null`);
      // mkstore's db.sqlite is filler, not SQLite: give it a real one.
      fs.rmSync(path.join(a, 'var/guix/db/db.sqlite'));
      sqliteInput(path.join(a, 'var/guix/db/db.sqlite'), GUIX_SCHEMA);
      const items = fs.readdirSync(path.join(a, 'gnu/store')).filter((n) => n !== '.links');
      registerPaths(path.join(a, 'var/guix/db/db.sqlite'), items.map((n) => `/gnu/store/${n}`));
      const snap = await snapshot(a);
      const b = tempDir();
      const r = await apply(b, snap);
      const want = treeManifest(path.join(a, 'gnu/store'));
      expect(want.length).toBeGreaterThan(100);
      expect(want.some((l) => / f \d+ \d+ \d+ \S+ [2-9] /.test(l))).toBe(true); // has hard links
      expect(treeManifest(path.join(b, 'gnu/store'))).toEqual(want);
      expect(r.db).toMatchObject({ mode: 'created', registered: items.length });
    });
  });
});
