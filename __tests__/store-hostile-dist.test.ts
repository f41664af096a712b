// Hostile cache entries against the built action, out of process (`node dist/main.js`, then
// `node dist/post.js`), for the classes that store-hostile, attack-review and
// store-registrations check in-process: parser disagreements, hard links, archive metadata, a
// fresh host, existing items, forged registrations, an old-format DB file, resource bounds on a
// small filesystem. Each entry is forged with fixtures/store.ts forgeArchives (correct digests)
// and published through runbox's own cache client under the key the job looks up. The store
// daemon is a stand-in process that daemon-stop/daemon-start stop and start by pid. Every case
// asserts (helpers/hostile-dist.ts): nothing outside the store root changed, no existing item changed, the DB holds only
// validated rows (and its schema is unchanged), and the daemon runs when main and post are done.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, expect, test } from '@jest/globals';
import { asRoot, describeWith, probe, sudoUser, type SudoUser } from './helpers/prereq.js';
import { dbContents, fileData, flockHeld, holdFlock, itemsView, q, sh, sqlQuery, sqliteInput, tempDir, type ForgedArchives } from './fixtures/store.js';
import { DB, dbState, dir, file, HostileHarness, itemLines, link, reg, regDoc, type Registration } from './helpers/hostile-dist.js';
import { contentManifest } from './helpers/store-e2e.js';
import { makeTar, paxRecords, type TarEntry } from './helpers/store-tar.js';
import { mountTmpfs } from './helpers/tmpfs.js';

const tag = randomBytes(4).toString('hex');
const hd = new HostileHarness('hd', tag);
const item = (what: string): string => hd.item(what);
const plain = (what: string): TarEntry[] => hd.plain(what);
const host = hd.host.bind(hd);
const publish = hd.publish.bind(hd);
const expectRefused = hd.expectRefused.bind(hd);
const expectAdded = hd.expectAdded.bind(hd);
const runnerUser = sudoUser();

const SMALL_FS = 8 * 1024 * 1024;
const smallFs = mountTmpfs('runbox-hd-enospc', SMALL_FS);
afterAll(() => smallFs.unmount());

describeWith([asRoot(), probe('GNU tar', 'tar'), probe('zstd', 'zstd'), probe('sqlite3', 'sqlite3', ['-version'])])('hostile entries through dist/', () => {
  hd.useStandIn();

  // ---- the parser: what GNU tar would read differently, refused ---------------------------

  test.each<[string, () => TarEntry[], RegExp]>([
    [
      'a pax header followed by a long-name record (a merging reader and tar disagree on the name)',
      () => [
        ...plain('pl'),
        dir(item('pl2')),
        { name: 'PaxHeaders/1', type: 'x', data: paxRecords({ path: `${item('pl2')}/a` }) },
        { name: '././@LongLink', type: 'L', data: Buffer.from(`${item('pl2')}/b\0`) },
        file(`${item('pl2')}/c`)
      ],
      /a 'L' header follows another extended header/
    ],
    [
      'a pax record runbox never writes (a file capability as an xattr)',
      () => [
        ...plain('xa'),
        dir(item('xa2')),
        { name: 'PaxHeaders/1', type: 'x', data: paxRecords({ 'SCHILY.xattr.security.capability': 'AQAAAgAgAAAAAAAAAAAAAAAAAAA=' }) },
        file(`${item('xa2')}/cap`)
      ],
      /pax record 'SCHILY\.xattr\.security\.capability' is not one runbox's archives hold/
    ],
    ['a GNU sparse member', () => [...plain('sp'), dir(item('sp2')), { name: `${item('sp2')}/s`, type: 'S', mode: 0o444 }], /is a sparse file/],
    ['a member before its parent dir', () => [...plain('or'), file(`${item('or2')}/f`), dir(item('or2'))], /comes before its parent dir/]
  ])('%s: refused', async (_what, entries, reason) => {
    const key = `hd_parse_${reason.source.length}_${tag}`;
    await publish(key, [makeTar(entries())]);
    await expectRefused(host(), key, reason);
  });

  // ---- hard links ----------------------------------------------------------------------

  test('a hard link into an item that is only on disk: refused', async () => {
    const h = host();
    const key = `hd_hl_disk_${tag}`;
    await publish(key, [makeTar([...plain('hl'), dir(item('hl2')), link(`${item('hl2')}/sh`, `${h.items.hello.slice(1)}/bin/hello`)])]);
    await expectRefused(h, key, /is a hard link to '[^']*hello[^']*\/bin\/hello', no earlier regular file of this archive/);
  });

  test('a hard link to a file another archive of the snapshot writes: refused', async () => {
    const key = `hd_hl_arch_${tag}`;
    await publish(key, [makeTar([...plain('ha'), file(`${item('ha')}/g`)]), makeTar([dir(item('hb')), link(`${item('hb')}/g`, `${item('ha')}/g`)])]);
    await expectRefused(host(), key, /is a hard link to '[^']*\/g', no earlier regular file of this archive/);
  });

  test('a hard link to a file of an item the store has (no link anchor): the linking item is not restored, the item on disk untouched, the rest restored', async () => {
    const h = host();
    const key = `hd_hl_existing_${tag}`;
    const hello = h.items.hello.slice(1);
    await publish(key, [
      makeTar([dir(hello), dir(`${hello}/bin`), file(`${hello}/bin/hello`, 'the snapshot copy\n'), dir(item('hx')), link(`${item('hx')}/hello`, `${hello}/bin/hello`), ...plain('ok')])
    ]);
    const main = await expectAdded(h, key, [item('ok')], []);
    expect(main.summary).toMatch(/1 items not restored: they share files with items already in the store/);
    expect(fs.statSync(path.join(h.root, hello, 'bin/hello')).nlink).toBe(1);
  });

  // ---- metadata, a fresh host, existing items -------------------------------------------

  test('setuid, world-writable and foreign-owned members: restored root-owned with canonical modes', async () => {
    const h = host();
    const key = `hd_modes_${tag}`;
    const i = item('modes');
    await publish(key, [
      makeTar([
        { name: `${i}/`, type: '5', mode: 0o1777, uid: 1234, gid: 1234 },
        { name: `${i}/suid`, type: '0', mode: 0o6755, data: '#!/bin/sh\nid\n' },
        { name: `${i}/writable`, type: '0', mode: 0o666, uid: 1234, gid: 1234, data: 'anyone\n' },
        { name: `${i}/sub/`, type: '5', mode: 0o777, uid: 1234 },
        { name: `${i}/sub/link`, type: '2', linkname: '../suid', uid: 1234 }
      ])
    ]);
    const main = await expectAdded(h, key, [i], []);
    expect(itemsView(path.join(h.root, i))).toEqual([
      'sub d 555 0 0 1 - ',
      'sub/link l 777 0 0 1 - ../suid',
      `suid f 555 0 0 1 ${fileData('#!/bin/sh\nid\n')} `,
      `writable f 444 0 0 1 ${fileData('anyone\n')} `
    ]);
    expect(main.summary).toMatch(/3 setuid\/setgid\/sticky bit\(s\) dropped/);
  });

  test("a fresh host: the store dirs are made root:root 0755 whatever the archive's dir members say; the DB is created with the daemon's schema and only the checked rows", async () => {
    const h = host({ fresh: true });
    const key = `hd_fresh_${tag}`;
    await publish(key, [makeTar([{ name: 'gnu/store/', type: '5', mode: 0o1777, uid: 1234, gid: 1234 }, ...plain('fresh')])], {
      registrations: regDoc([reg(item('fresh'))])
    });
    await expectAdded(h, key, [item('fresh')], [item('fresh')]);
    for (const d of ['gnu', 'gnu/store', 'var/guix', 'var/guix/db']) {
      const st = fs.statSync(path.join(h.root, d));
      expect(`${d} ${st.uid}:${st.gid} ${(st.mode & 0o7777).toString(8)}`).toBe(`${d} 0:0 755`);
    }
    expect(sqlQuery(path.join(h.root, DB), "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'FailedPaths'")).toEqual(['FailedPaths']);
  });

  test('an item the store has, with other content and its own registration in the snapshot: untouched, its row too; the new item restored and registered', async () => {
    const h = host();
    const key = `hd_existing_${tag}`;
    const hello = h.items.hello.slice(1);
    await publish(key, [makeTar([dir(hello), dir(`${hello}/bin`), { name: `${hello}/bin/hello`, type: '0', mode: 0o755, data: '#!/bin/sh\nid\n' }, file(`${hello}/planted`), ...plain('new')])], {
      registrations: regDoc([reg(hello, { hash: `sha256:${'1'.repeat(64)}`, references: [] }), reg(item('new'))])
    });
    await expectAdded(h, key, [item('new')], [item('new')]);
  });

  // ---- items on disk the DB does not register ---------------------------------------------

  test.each<[string, SudoUser | undefined]>([
    ['root', undefined],
    ['the runner user through sudo', runnerUser]
  ])(
    "items on disk the DB does not register, as %s: one replaced by the entry's copy under its daemon lock and registered; one whose lock a build holds and one whose lock file another user planted as a symlink left as they are, unregistered, with a warning each; a registered item never replaced",
    async (who, user) => {
      if (who !== 'root' && user === undefined) throw new Error('no runner account runbox-ci with passwordless sudo');
      const h = host();
      // The runner user reads the store as on a real host (the temp root is 0700).
      fs.chmodSync(h.root, 0o755);
      const key = `hd_leftovers_${who.length}_${tag}`;
      const [free, busy, planted, fresh] = [item('lo-free'), item('lo-busy'), item('lo-planted'), item('lo-new')];
      const hello = h.items.hello.slice(1);
      const at = (rel: string): string => path.join(h.root, rel);
      sh(`for d in ${[free, busy, planted].map((d) => q(at(d))).join(' ')}; do mkdir "$d" && echo old > "$d/f"; done`);
      fs.symlinkSync(path.join(h.outside, 'made'), `${at(planted)}.lock`);
      const other = sudoUser('runbox-nosudo');
      if (!other) throw new Error('no user runbox-nosudo');
      fs.lchownSync(`${at(planted)}.lock`, other.uid, other.gid);
      await publish(key, [makeTar([dir(hello), file(`${hello}/planted`), ...plain('lo-free'), ...plain('lo-busy'), ...plain('lo-planted'), ...plain('lo-new')])], {
        registrations: regDoc([reg(hello, { hash: `sha256:${'1'.repeat(64)}` }), reg(free), reg(busy), reg(planted), reg(fresh)])
      });
      const build = await holdFlock(`${at(busy)}.lock`);
      try {
        h.before = contentManifest(h.root);
        // runJob checks these (and the registered items) are exactly as they were.
        for (const p of [busy, planted]) h.itemsBefore[`/${p}`] = itemLines(h.before, `/${p}`);
        const rowsBefore = dbState(h.root)?.rows ?? [];
        // The runner user's PATH without root's own dirs (which it may not search: a warning of its own).
        const main = await hd.runJob(h, key, user ? { job: { user, env: { PATH: '/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin' } } } : {});
        expect(main.outputs).toMatchObject({ 'cache-hit': 'true', 'cache-matched-key': key });
        expect(main.warnings).toEqual([
          expect.stringMatching(new RegExp(`^runbox store: 1 item\\(s\\) on disk that the DB does not register are locked by another process .*: "/${busy}"$`)),
          expect.stringMatching(
            new RegExp(
              `^runbox store: 1 item\\(s\\) on disk that the DB does not register stay as they are, not registered: their lock file was refused, nothing was written through it: "/${planted}\\.lock" is a symbolic link$`
            )
          )
        ]);
        // Before: 'old', unregistered, for good.
        expect([free, fresh].map((i) => fs.readFileSync(path.join(at(i), 'f'), 'utf8'))).toEqual(['lo-free\n', 'lo-new\n']);
        expect(sh(`stat -c '%U %a %Y' ${q(at(free))} ${q(at(free))}/f`).stdout).toBe('root 555 1\nroot 444 1\n');
        expect(
          dbState(h.root)
            ?.rows.filter((r) => !rowsBefore.includes(r))
            .map((r) => r.split(' ')[0])
        ).toEqual([`/${free}`, `/${fresh}`].sort());
        // The lock file runbox made is gone; the build's and the planted link are as they were.
        expect([free, busy, planted].map((i) => fs.lstatSync(`${at(i)}.lock`, { throwIfNoEntry: false })?.isSymbolicLink())).toEqual([undefined, false, true]);
        expect(flockHeld(`${at(busy)}.lock`)).toBe(true);
        expect(h.daemon.events()).toEqual(['stop', 'start']);
      } finally {
        await build.release();
      }
    }
  );

  // ---- registrations --------------------------------------------------------------------

  test.each<[string, (reg0: Registration) => Registration]>([
    ['SQL in the hash', (r) => ({ ...r, hash: "sha256:'); DELETE FROM ValidPaths; --" })],
    ['a hash Nix and Guix cannot parse (260 bits)', (r) => ({ ...r, hash: `sha256:${'z'.repeat(52)}` })],
    ['a quote in the path', (r) => ({ ...r, path: `${r.path}'` })],
    ['a reference outside the store', (r) => ({ ...r, references: ['/etc/shadow'] })],
    ['an unknown field', (r) => ({ ...r, trigger: 'x' }) as Registration]
  ])('registrations with %s: refused before the daemon is stopped', async (what, edit) => {
    const key = `hd_reg_${what.length}_${tag}`;
    await publish(key, [makeTar(plain('regbad'))], { registrations: regDoc([edit(reg(item('regbad')))]) });
    await expectRefused(host(), key, /snapshot registrations: paths\[0\]/);
  });

  test('registrations: a reference cycle, a reference to nothing, a row for an item not in the archive: none registered, the items on disk; a clean item registered', async () => {
    const h = host();
    const key = `hd_reg_graph_${tag}`;
    const [a, b, c, ok] = [item('cyc-a'), item('cyc-b'), item('dangling'), item('clean')];
    await publish(key, [makeTar([...plain('cyc-a'), ...plain('cyc-b'), ...plain('dangling'), ...plain('clean')])], {
      registrations: regDoc([
        reg(a, { references: [`/${b}`] }),
        reg(b, { references: [`/${a}`] }),
        reg(c, { references: [`/${item('nowhere')}`] }),
        reg(item('ghost')),
        reg(ok, { references: [`/${ok}`, h.items.hello] })
      ])
    });
    await expectAdded(h, key, [a, b, c, ok], [ok]);
    expect(dbContents(path.join(h.root, DB)).refs.filter((r) => r.includes(tag))).toEqual([`/${ok} -> ${h.items.hello}`, `/${ok} -> /${ok}`].sort());
  });

  test('an old-format DB file shipped in the entry (a view and a trigger that run a command): never opened', async () => {
    const h = host();
    const key = `hd_olddb_${tag}`;
    const canary = path.join(h.outside, 'canary');
    const evilDb = path.join(tempDir('runbox-hd-evildb-'), 'db.sqlite');
    sqliteInput(
      evilDb,
      `CREATE VIEW ValidPaths AS SELECT 1 AS id, edit('', 'touch ${canary};true') AS path;
       CREATE TABLE t(x); CREATE TRIGGER tt AFTER INSERT ON t BEGIN SELECT edit('', 'touch ${canary};true'); END;\n`
    );
    const zst = tempDir('runbox-hd-evildb-zst-');
    const { spawnSync } = await import('node:child_process');
    expect(spawnSync('zstd', ['-q', '-o', path.join(zst, 'db.sqlite.zst'), evilDb]).status).toBe(0);
    const bytes = fs.readFileSync(path.join(zst, 'db.sqlite.zst'));
    const { createHash } = await import('node:crypto');
    await publish(key, [makeTar(plain('olddb'))], {
      files: { 'db/db.sqlite.zst': bytes },
      manifestExtra: { dbs: [{ file: 'db/db.sqlite.zst', sha256: createHash('sha256').update(bytes).digest('hex'), bytes: bytes.length, compression: 'zstd', path: '/var/guix/db/db.sqlite' }] },
      registrations: regDoc([reg(item('olddb'))])
    });
    await expectAdded(h, key, [item('olddb')], [item('olddb')]);
    expect(fs.existsSync(canary)).toBe(false);
  });

  // ---- resources -----------------------------------------------------------------------

  test('a zstd frame asking for a 128 MiB window: refused before zstd allocates it', async () => {
    const key = `hd_window_${tag}`;
    await publish(key, [makeTar(plain('window'))], { zstd: '--long=27' });
    await expectRefused(host(), key, /Frame requires too much memory|Window size larger than maximum/);
  });

  test('a tar stream cut short mid-file: refused', async () => {
    const key = `hd_cut_${tag}`;
    const tar = makeTar([dir(item('cut')), file(`${item('cut')}/f`, 'a'.repeat(4096))]);
    await publish(key, [tar.subarray(0, 512 * 3)], { dataBytes: [4096] });
    await expectRefused(host(), key, /archive ends early/);
  });

  test('300 archives in the manifest: refused before any process starts', async () => {
    const key = `hd_many_${tag}`;
    await publish(key, [makeTar(plain('many'))], { padArchives: 299 });
    await expectRefused(host(), key, /lists 300 archives, more than the 128/);
  });

  test.each<[string, ForgedArchives['dataBytes'], RegExp]>([
    ['no data size', 'none', /dataBytes is missing/],
    ['a data size below the data', [100], /takes the archive's data past the 100 bytes its manifest records/]
  ])('a manifest recording %s: refused', async (_what, dataBytes, reason) => {
    const key = `hd_size_${reason.source.length}_${tag}`;
    await publish(key, [makeTar([dir(item('size')), file(`${item('size')}/big`, 'b'.repeat(64 * 1024))])], { dataBytes });
    await expectRefused(host(), key, reason);
  });

  describeWith([smallFs.prereq])('a store root on an 8 MiB tmpfs', () => {
    test('more data than the filesystem holds, recorded honestly: refused before extracting', async () => {
      const key = `hd_big_${tag}`;
      await publish(key, [makeTar([dir(item('big')), { name: `${item('big')}/huge`, type: '0', mode: 0o444, data: Buffer.alloc(16 * 1024 * 1024) }])]);
      await expectRefused(host({ root: fs.mkdtempSync(path.join(smallFs.dir, 'a-')) }), key, /the snapshot needs about \d+ bytes on runbox-hd-enospc mounted on/);
    });

    test('2,500 one-byte files (2.5 KB of data, a block and an inode each): stopped at the last 5% of the filesystem, nothing reaches the store', async () => {
      const key = `hd_tiny_${tag}`;
      const i = item('tiny');
      const entries: TarEntry[] = [dir(i)];
      for (let n = 0; n < 2500; n++) entries.push(file(`${i}/${n}`, 'x'));
      await publish(key, [makeTar(entries)], { dataBytes: [2500] });
      await expectRefused(host({ root: fs.mkdtempSync(path.join(smallFs.dir, 'b-')) }), key, /the store's filesystem is nearly full while extracting/);
    });
  });
});
