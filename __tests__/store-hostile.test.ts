// Hostile snapshots against the restore itself (applySnapshot, in-process, real zstd, tar, mv as
// root): each entry is what a cache writer could upload (hand-built bytes, a manifest with
// correct digests), aimed at a store that already holds items. Each test asserts what the
// attacker got: nothing outside the store, no existing item changed, and where a snapshot is
// accepted, only new items with the store's canonical metadata.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, test } from '@jest/globals';
import { applySnapshot } from '../src/store/restore.js';
import { CONFINED_IDS } from '../src/sys/confined.js';
import { asRoot, describeWith, probe } from './helpers/prereq.js';
import { contentManifest } from './helpers/store-e2e.js';
import { makeTar, paxRecords, type TarEntry } from './helpers/store-tar.js';
import { mountTmpfs } from './helpers/tmpfs.js';
import { buildGuixLayout, forgeArchives, itemName, fileData, itemsView, q, rejection, removeTempDirs, sh, tempDir, type ForgedArchives } from './fixtures/store.js';

const STORE_PATHS = ['/gnu/store', '/var/guix/db'];

interface Forged extends ForgedArchives {
  tars: Buffer[];
}

function forge(f: Forged): string {
  return forgeArchives(path.join(tempDir('runbox-hostile-snap-'), 'runbox-snapshot'), f.tars, f);
}

function apply(root: string, snapshotDir: string): ReturnType<typeof applySnapshot> {
  return applySnapshot({ root, kind: 'guix', storePaths: STORE_PATHS, dbDir: '/var/guix/db', daemon: { kind: 'none' }, snapshotDir, scratchDir: tempDir('runbox-hostile-scratch-') });
}

interface Host {
  root: string;
  /** Outside the store root: must stay empty. */
  outside: string;
  before: string[];
}

function host(root = tempDir('runbox-hostile-root-')): Host {
  buildGuixLayout(root);
  return { root, outside: tempDir('runbox-hostile-outside-'), before: contentManifest(root) };
}

/** A host whose store has the fixture's hello item, and that item's content as it was. */
function hostWithHello(): { h: Host; hello: string; helloBefore: string[] } {
  const h = host();
  const hello = `gnu/store/${fs.readdirSync(path.join(h.root, 'gnu/store')).find((n) => n.includes('hello')) as string}`;
  return { h, hello, helloBefore: contentManifest(path.join(h.root, hello)) };
}

/** Refused: the store root exactly as before (mtimes of the dirs on the way too), nothing outside. */
async function expectRefused(h: Host, snap: string, reason: RegExp): Promise<void> {
  expect(await rejection(apply(h.root, snap))).toMatch(reason);
  expect(contentManifest(h.root)).toEqual(h.before);
  expect(fs.readdirSync(h.outside)).toEqual([]);
}

/** Accepted: every line of the store root as before except the store dir's own (its mtime) and the new items'. */
function expectOnlyAdded(h: Host, added: string[]): void {
  const keep = (l: string): boolean => !/^gnu\/store /.test(l) && !added.some((a) => l.startsWith(`${a} `) || l.startsWith(`${a}/`) || l.includes(` ./${a}`));
  expect(contentManifest(h.root).filter(keep)).toEqual(h.before.filter(keep));
  expect(fs.readdirSync(h.outside)).toEqual([]);
  expect(fs.readdirSync(path.join(h.root, 'gnu')).filter((n) => n.startsWith('.runbox-restore-'))).toEqual([]);
}

const evil = (what: string): string => `gnu/store/${itemName(`hostile-${what}`)}`;
/** A header block and its data, as raw bytes: what a lax reader skips as file data and tar reads as a member. */
const hiddenMember = (name: string): Buffer => makeTar([{ name, type: '0', mode: 0o4755, data: '#!/bin/sh\nid\n' }]).subarray(0, 1024);

// Mounted at collection time (describeWith needs to know whether it worked); unmounted in the
// file's own afterAll, which runs whichever of its tests a -t filter picked.
const SMALL_FS = 8 * 1024 * 1024;
const smallFs = mountTmpfs('runbox-hostile-enospc', SMALL_FS);
afterAll(() => smallFs.unmount());

describeWith([asRoot(), probe('GNU tar', 'tar'), probe('zstd', 'zstd'), probe('sqlite3', 'sqlite3', ['-version'])])('hostile snapshots', () => {
  afterAll(removeTempDirs);

  test('two pax x headers in a row (node merged them, tar keeps the last): refused, nothing written', async () => {
    const h = host();
    const item = evil('pax');
    const entries: TarEntry[] = [
      { name: `${item}/`, type: '5', mode: 0o555 },
      { name: 'PaxHeaders/1', type: 'x', data: paxRecords({ path: `${item}/harmless` }) },
      { name: 'PaxHeaders/2', type: 'x', data: paxRecords({ mtime: '1' }) },
      // What tar reads: the ustar name, a setuid file the checker never saw.
      { name: `${item}/hidden`, type: '0', mode: 0o4755, data: '#!/bin/sh\nid\n' }
    ];
    await expectRefused(h, forge({ tars: [makeTar(entries)] }), /a 'x' header follows another extended header/);
  });

  test('a regular file named with a trailing / whose data is a header (tar makes a dir and reads it): refused, nothing written', async () => {
    const h = host();
    const item = evil('slash');
    await expectRefused(h, forge({ tars: [makeTar([{ name: `${item}/`, type: '0', mode: 0o444, data: hiddenMember(`${item}/hidden`) }])] }), /has a name ending in \/ but is not a directory/);
  });

  test('the same member twice (checked once, replaced by the second): refused, nothing written', async () => {
    const h = host();
    const item = evil('dup');
    const entries: TarEntry[] = [
      { name: `${item}/`, type: '5', mode: 0o555 },
      { name: `${item}/f`, type: '0', mode: 0o444, data: 'checked\n' },
      { name: `${item}/f`, type: '2', linkname: '/etc/shadow' }
    ];
    await expectRefused(h, forge({ tars: [makeTar(entries)] }), /appears twice/);
  });

  test('a hard link into an item only on disk (not in the archive), and a device: refused, nothing written', async () => {
    const h = host();
    const existing = fs.readdirSync(path.join(h.root, 'gnu/store')).find((n) => n.includes('hello')) as string;
    const item = evil('hl');
    const hl: TarEntry[] = [
      { name: `${item}/`, type: '5', mode: 0o555 },
      { name: `${item}/bin`, type: '1', linkname: `gnu/store/${existing}/bin/hello` }
    ];
    await expectRefused(h, forge({ tars: [makeTar(hl)] }), /is a hard link to 'gnu\/store\/[^']*hello[^']*\/bin\/hello', no earlier regular file of this archive/);
    const dev: TarEntry[] = [{ name: evil('dev'), type: '3', mode: 0o666, devmajor: 1, devminor: 3 }];
    await expectRefused(h, forge({ tars: [makeTar(dev)] }), /is a character device/);
  });

  describe('hard links', () => {
    const dir = (name: string): TarEntry => ({ name: `${name}/`, type: '5', mode: 0o555 });
    const file = (name: string, data = 'x\n'): TarEntry => ({ name, type: '0', mode: 0o444, data });
    const link = (name: string, target: string): TarEntry => ({ name, type: '1', mode: 0o6777, linkname: target });

    test('to a file of the same archive written earlier: accepted, one inode with canonical metadata', async () => {
      const h = host();
      const a = evil('link-a');
      const b = evil('link-b');
      const r = await apply(h.root, forge({ tars: [makeTar([dir(a), { ...file(`${a}/f`, 'shared\n'), mode: 0o755 }, link(`${a}/g`, `${a}/f`), dir(b), link(`${b}/h`, `${a}/f`)])] }));
      expectOnlyAdded(h, [a, b]);
      expect(r.notRestored).toEqual([]);
      const st = (p: string): string => sh(`stat -c '%i %h %a %u %g %Y %s' ${q(path.join(h.root, p))}`).stdout;
      expect(st(`${a}/g`)).toBe(st(`${a}/f`));
      expect(st(`${b}/h`)).toBe(st(`${a}/f`));
      expect(st(`${a}/f`).split(' ').slice(1).join(' ')).toBe('3 555 0 0 1 7\n');
    });

    test('to a file another archive of the snapshot wrote: refused, nothing written', async () => {
      const h = host();
      const a = evil('arch-a');
      const b = evil('arch-b');
      await expectRefused(
        h,
        forge({ tars: [makeTar([dir(a), file(`${a}/f`)]), makeTar([dir(b), link(`${b}/g`, `${a}/f`)])] }),
        /member 'gnu\/store\/[^']*-hostile-arch-b\/g' is a hard link to '[^']*\/f', no earlier regular file of this archive/
      );
    });

    test.each([
      ['a symlink member (to a file outside the store)', (i: string): TarEntry[] => [dir(i), { name: `${i}/s`, type: '2', linkname: '/etc/shadow' }, link(`${i}/g`, `${i}/s`)], /a symlink member/],
      ['a dir member', (i: string): TarEntry[] => [dir(i), dir(`${i}/d`), link(`${i}/g`, `${i}/d`)], /a dir member/],
      ['a path the archive writes later', (i: string): TarEntry[] => [dir(i), link(`${i}/g`, `${i}/f`), file(`${i}/f`)], /no earlier regular file of this archive/],
      ['a hard link member (a chain)', (i: string): TarEntry[] => [dir(i), file(`${i}/f`), link(`${i}/g`, `${i}/f`), link(`${i}/h`, `${i}/g`)], /not a regular file written in full/],
      [
        'a path through a symlink member',
        (i: string): TarEntry[] => [dir(i), { name: `${i}/s`, type: '2', linkname: '/etc' }, link(`${i}/g`, `${i}/s/shadow`)],
        /through the symlink member '[^']*\/s'/
      ],
      ['a path outside the store', (i: string): TarEntry[] => [dir(i), link(`${i}/g`, 'etc/shadow')], /a path outside the store paths/],
      ['an absolute path', (i: string): TarEntry[] => [dir(i), link(`${i}/g`, '/etc/shadow')], /has an absolute hard link target/]
    ])('to %s: refused, nothing written', async (_what, entries, reason) => {
      const h = host();
      await expectRefused(h, forge({ tars: [makeTar(entries(evil('link')))] }), reason);
    });

    test('to a file of an item the store already has (checked, never written): the linking item is not restored, the item on disk untouched, the others restored', async () => {
      const { h, hello, helloBefore } = hostWithHello();
      const linking = evil('shares');
      const other = evil('other');
      const r = await apply(
        h.root,
        forge({
          tars: [
            makeTar([
              dir(hello),
              dir(`${hello}/bin`),
              file(`${hello}/bin/hello`, 'the snapshot copy\n'),
              dir(linking),
              file(`${linking}/before`),
              link(`${linking}/hello`, `${hello}/bin/hello`),
              file(`${linking}/after`),
              dir(other),
              file(`${other}/f`)
            ])
          ]
        })
      );
      expect(r.notRestored).toEqual([`/${linking}`]);
      expect(r.added).toBe(1);
      expectOnlyAdded(h, [other]);
      expect(fs.existsSync(path.join(h.root, linking))).toBe(false);
      expect(contentManifest(path.join(h.root, hello))).toEqual(helloBefore);
      expect(fs.statSync(path.join(h.root, hello, 'bin/hello')).nlink).toBe(1);
    });

    test('to a file of an item the store already has that the manifest names a link anchor: the linking item is restored with the snapshot data, the item on disk untouched; extra anchors are harmless', async () => {
      const { h, hello, helloBefore } = hostWithHello();
      const linking = evil('anchored');
      const other = evil('other');
      const r = await apply(
        h.root,
        forge({
          tars: [
            makeTar([
              dir(hello),
              dir(`${hello}/share`),
              dir(`${hello}/share/doc`),
              { ...file(`${hello}/share/doc/COPYING`, 'the snapshot copy\n'), mode: 0o755 },
              dir(`${hello}/bin`),
              file(`${hello}/bin/hello`, 'not an anchor\n'),
              dir(linking),
              file(`${linking}/before`),
              link(`${linking}/COPYING`, `${hello}/share/doc/COPYING`),
              dir(`${linking}/sub`),
              link(`${linking}/sub/again`, `${hello}/share/doc/COPYING`),
              dir(other),
              file(`${other}/f`)
            ])
          ],
          // Besides the real one: a dir, a new item's file, paths the archive does not have.
          linkTargets: [[`${hello}/share/doc/COPYING`, `${hello}/share`, `${other}/f`, `${hello}/nowhere`, 'gnu/store/absent-item/f']]
        })
      );
      expect(r.notRestored).toEqual([]);
      expect(r.added).toBe(2);
      expectOnlyAdded(h, [linking, other]);
      expect(contentManifest(path.join(h.root, hello))).toEqual(helloBefore);
      const st = (p: string): string => sh(`stat -c '%i %h %a %u %g %Y %s' ${q(path.join(h.root, p))}`).stdout;
      // One inode for the two links (the anchor, its third name, went with the private dir).
      expect(st(`${linking}/sub/again`)).toBe(st(`${linking}/COPYING`));
      expect(st(`${linking}/COPYING`).split(' ').slice(1).join(' ')).toBe('2 555 0 0 1 18\n');
      expect(fs.readFileSync(path.join(h.root, linking, 'COPYING'), 'utf8')).toBe('the snapshot copy\n');
    });

    test.each([
      ['a path outside the store paths', ['etc/shadow'], /archives\[0\]\.linkTargets\[0\] 'etc\/shadow' is not inside the archive's store paths/],
      ['a store path itself', ['gnu/store'], /'gnu\/store' is not inside the archive's store paths/],
      ['an absolute path', ['/gnu/store/x-y/f'], /'\/gnu\/store\/x-y\/f' is not a normalised relative path/],
      ['a .. component', ['gnu/store/x-y/../../../etc/shadow'], /is not a normalised relative path/],
      ['a . component', ['gnu/store/./x-y/f'], /is not a normalised relative path/],
      ['an empty component', ['gnu/store//x-y'], /is not a normalised relative path/],
      ['a trailing /', ['gnu/store/x-y/'], /is not a normalised relative path/],
      ['a NUL', ['gnu/store/x-y/f\0g'], /is not a normalised relative path/],
      ['a number', [42], /archives\[0\]\.linkTargets\[0\] is not a string/],
      ['no list', 'gnu/store/x-y/f', /archives\[0\]\.linkTargets is not a list/],
      ['more than 1,000,000 paths', Array.from({ length: 1_000_001 }, (_, i) => `gnu/store/x-y/${i}`), /lists 1000001 paths, more than the 1000000 an archive may/]
    ])('a manifest whose linkTargets hold %s: refused, nothing written', async (_what, targets, reason) => {
      const h = host();
      const a = evil('targets');
      await expectRefused(h, forge({ tars: [makeTar([dir(a), file(`${a}/f`)])], linkTargets: [targets] }), reason);
    });
  });

  test('setuid, world-writable and foreign-owned members are restored root-owned with canonical modes; the bits are counted', async () => {
    const h = host();
    const item = evil('modes');
    const entries: TarEntry[] = [
      { name: `${item}/`, type: '5', mode: 0o1777, uid: 1234, gid: 1234 },
      { name: `${item}/suid`, type: '0', mode: 0o6755, data: '#!/bin/sh\nid\n' },
      { name: `${item}/writable`, type: '0', mode: 0o666, uid: 1234, gid: 1234, data: 'anyone\n' },
      { name: `${item}/writable-x`, type: '0', mode: 0o777, uid: 1234, gid: 1234, data: 'anyone\n' },
      { name: `${item}/sub/`, type: '5', mode: 0o777, uid: 1234 },
      { name: `${item}/sub/link`, type: '2', linkname: '../suid', uid: 1234 }
    ];
    const r = await apply(h.root, forge({ tars: [makeTar(entries)] }));
    expect(r.added).toBe(1);
    expect(r.bitsDropped).toBe(3); // sticky on the dir, setuid and setgid on the file
    expect(itemsView(path.join(h.root, item))).toEqual([
      'sub d 555 0 0 1 - ',
      'sub/link l 777 0 0 1 - ../suid',
      `suid f 555 0 0 1 ${fileData('#!/bin/sh\nid\n')} `,
      `writable f 444 0 0 1 ${fileData('anyone\n')} `,
      `writable-x f 555 0 0 1 ${fileData('anyone\n')} `
    ]);
    expect(sh(`stat -c '%a %u %g %Y' ${q(path.join(h.root, item))}`).stdout.trim()).toBe('555 0 0 1');
    expectOnlyAdded(h, [item]);
  });

  test('a zstd frame that asks for a 128 MiB window (what zstd alone accepts): refused before zstd allocates it (each archive is bounded to 64 MiB)', async () => {
    const h = host();
    const item = evil('window');
    const tar = makeTar([
      { name: `${item}/`, type: '5', mode: 0o555 },
      { name: `${item}/f`, type: '0', mode: 0o444, data: 'x\n' }
    ]);
    await expectRefused(h, forge({ tars: [tar], zstd: '--long=27' }), /Frame requires too much memory|Window size larger than maximum/);
  });

  test('a tar stream that ends mid-file (valid zstd): refused, nothing written', async () => {
    const h = host();
    const item = evil('cut');
    const tar = makeTar([
      { name: `${item}/`, type: '5', mode: 0o555 },
      { name: `${item}/f`, type: '0', mode: 0o444, data: Buffer.alloc(4096, 0x61) }
    ]);
    await expectRefused(h, forge({ tars: [tar.subarray(0, 512 * 3)], dataBytes: [4096] }), /TarFormatError: archive ends early/);
  });

  test('300 archives in a manifest: refused before any process starts', async () => {
    const h = host();
    const item = evil('many');
    const snap = forge({ tars: [makeTar([{ name: `${item}/`, type: '5' }])], padArchives: 299 });
    await expectRefused(h, snap, /ManifestError: .*lists 300 archives, more than the 128/);
  });

  describe('on a small tmpfs', () => {
    const fsys = smallFs;
    const big = (item: string): Buffer =>
      makeTar([
        { name: `${item}/`, type: '5', mode: 0o555 },
        { name: `${item}/small`, type: '0', mode: 0o444, data: 'fits\n' },
        { name: `${item}/huge`, type: '0', mode: 0o444, data: Buffer.alloc(16 * 1024 * 1024) }
      ]);

    describeWith([fsys.prereq])('the store root', () => {
      test('a snapshot that records more data than the filesystem holds: refused before extracting, naming the filesystem, bytes needed and free', async () => {
        const h = host(fs.mkdtempSync(path.join(fsys.dir, 'a-')));
        h.before = contentManifest(h.root);
        await expectRefused(
          h,
          forge({ tars: [big(evil('big1'))] }),
          /SpaceError: the snapshot needs about \d+ bytes on runbox-hostile-enospc mounted on .*, which has \d+ free; nothing was extracted/
        );
      });

      test('one that records no size (or a false one) and expands past the free space: ENOSPC, the private dir removed, the store untouched', async () => {
        const h = host(fs.mkdtempSync(path.join(fsys.dir, 'b-')));
        h.before = contentManifest(h.root);
        await expectRefused(h, forge({ tars: [big(evil('big2'))], dataBytes: 'none' }), /ManifestError: .*dataBytes is missing/);
        await expectRefused(h, forge({ tars: [big(evil('big3'))], dataBytes: [100] }), /takes the archive's data past the 100 bytes its manifest records/);
        expect(sh(`df --output=used -B1 ${q(fsys.dir)} | tail -1`).stdout.trim()).not.toBe(String(SMALL_FS));
      });
    });
  });

  test('a store dir that is a mount point: the private dir goes inside it (one filesystem), dead restores are reaped there too', async () => {
    const h = host();
    const store = path.join(h.root, 'gnu/store');
    const saved = tempDir('runbox-hostile-saved-');
    sh(`cp -a ${q(store)}/. ${q(saved)}/ && rm -rf ${q(store)}/* ${q(store)}/.links`);
    const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64m,mode=0755', 'runbox-hostile-store', store], { encoding: 'utf8' });
    if (m.status !== 0) throw new Error(`mount: ${m.stderr}`);
    try {
      sh(`cp -a ${q(saved)}/. ${q(store)}/`);
      const dead = sh("sh -c 'echo $$'").stdout.trim();
      const leftover = path.join(store, `.runbox-restore-${dead}-1`);
      sh(`mkdir -m 700 ${q(leftover)} && mkdir -p ${q(leftover)}/0/gnu/store/half-written`);
      h.before = contentManifest(h.root).filter((l) => !l.includes('.runbox-restore-'));
      const item = evil('mounted');
      const tar = makeTar([
        { name: `${item}/`, type: '5', mode: 0o755 },
        { name: `${item}/f`, type: '0', mode: 0o644, data: 'on the mount\n' }
      ]);
      const out: string[] = [];
      const write = process.stdout.write.bind(process.stdout);
      process.stdout.write = (chunk: string | Uint8Array) => {
        out.push(String(chunk));
        return true;
      };
      let r;
      try {
        r = await apply(h.root, forge({ tars: [tar] }));
      } finally {
        process.stdout.write = write;
      }
      expect(r.reaped).toEqual([leftover]);
      // The dir tar is confined to, then the confined ids and tar's argv (sys/confined.ts).
      expect(out.join('')).toMatch(new RegExp(`${store.replace(/[/.]/g, '\\$&')}/\\.runbox-restore-\\d+-\\d+/tree/0 ${CONFINED_IDS.uid} ${CONFINED_IDS.gid} tar -x -f - `));
      expect(fs.readFileSync(path.join(store, item.slice('gnu/store/'.length), 'f'), 'utf8')).toBe('on the mount\n');
      expect(fs.readdirSync(store).filter((n) => n.startsWith('.runbox-restore-'))).toEqual([]);
      expectOnlyAdded(h, [item]);
    } finally {
      spawnSync('umount', [store]);
    }
  });
});
