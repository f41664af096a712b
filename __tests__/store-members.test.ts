// The member checks that stand between an untrusted cache entry and root's tar: archives built
// with GNU tar itself (--transform, --absolute-names, mknod, ...) so the parser is tested on
// what tar really writes, not on what we think it writes; hand-built bytes where GNU tar and a
// lax parser would disagree; and the canonical writer, read back by GNU tar itself.
import fs from 'node:fs';
import path from 'node:path';
import { expect, test, afterAll, beforeAll } from '@jest/globals';
import { asRoot, describeWith, probe } from './helpers/prereq.js';
import { q, removeTempDirs, sh, tempDir } from './fixtures/store.js';
import { MAX_TRAILER_BYTES, TarParser, validateMembers, type ArchiveSummary, type TarMember } from '../src/store/members.js';
import { endOfArchive, memberHeader, padding, type CheckedMember } from '../src/store/canonical-tar.js';
import { makeTar, paxRecords } from './helpers/store-tar.js';
import { isLiveDbFile } from '../src/store/manifest.js';

const RULES = {
  storePaths: ['/gnu/store', '/var/guix/db'],
  reserved: (p: string) => isLiveDbFile(p, '/var/guix/db')
};

let work: string;
let src: string;

function tarFile(name: string, script: string): string {
  const file = path.join(work, name);
  sh(`cd ${q(src)} && ${script.replace(/OUT/g, q(file))}`);
  return file;
}

function validate(file: string): Promise<ArchiveSummary> {
  return validateMembers(fs.createReadStream(file), RULES);
}

function members(file: string): TarMember[] {
  const out: TarMember[] = [];
  const p = new TarParser((m) => out.push(m));
  p.write(fs.readFileSync(file));
  p.end();
  return out;
}

async function refusal(file: string): Promise<string> {
  try {
    await validate(file);
  } catch (e) {
    return `${(e as Error).name}: ${(e as Error).message}`;
  }
  throw new Error(`${path.basename(file)} was accepted`);
}

describeWith([probe('GNU tar', 'tar')])('store snapshot members', () => {
  beforeAll(() => {
    work = tempDir();
    src = path.join(work, 'src');
    const item = `${src}/gnu/store/aaaa-hello`;
    sh(`
      mkdir -p ${q(item)}/bin ${q(item)}/share ${q(src)}/gnu/store/.links ${q(src)}/var/guix/db ${q(src)}/gnu/store/bbbb-link
      echo hi > ${q(item)}/bin/hello && chmod 555 ${q(item)}/bin/hello
      echo same > ${q(item)}/share/a && ln ${q(item)}/share/a ${q(src)}/gnu/store/.links/0123 && ln ${q(item)}/share/a ${q(item)}/share/b
      ln -s ../bin/hello ${q(item)}/share/hello-link
      ln -s /etc ${q(src)}/gnu/store/bbbb-link/etc
      echo evil > ${q(src)}/evil
      echo 2 > ${q(src)}/var/guix/db/schema
      echo fake > ${q(src)}/var/guix/db/db.sqlite
    `);
  });
  afterAll(removeTempDirs);

  test('a store archive as save writes it passes, with its top-level items and roots, and its hard link to a file of the same archive', async () => {
    const file = tarFile('good.tar', `tar -cf OUT --format=posix --sort=name --anchored --exclude='gnu/store/.*' gnu/store`);
    // tar writes the file at its first name and a link at the other (`.links` left out).
    expect(
      members(file)
        .filter((m) => m.type === '1')
        .map((m) => `${m.name} -> ${m.linkname}`)
    ).toEqual(['gnu/store/aaaa-hello/share/b -> gnu/store/aaaa-hello/share/a']);
    const s = await validate(file);
    expect(s.roots).toEqual(['gnu/store']);
    expect([...s.tops].sort()).toEqual(['gnu/store/aaaa-hello', 'gnu/store/bbbb-link']);
    expect(s.members).toBe(members(file).length);
    expect(s.links).toBe(1);
    expect(s.dataBytes).toBe(['hi\n', 'same\n'].reduce((n, d) => n + d.length, 0));
  });

  test('the dedup dir .links (any dot-entry of a store dir) is refused', async () => {
    const file = tarFile('links.tar', `tar -cf OUT --format=posix --sort=name gnu/store`);
    expect(await refusal(file)).toMatch(/lies in 'gnu\/store\/\.links', a dot-entry of the store dir/);
  });

  test('long names are read from pax, GNU long-name and ustar-prefix headers alike', async () => {
    const long = `gnu/store/aaaa-hello/${'d'.repeat(90)}/${'f'.repeat(60)}`;
    sh(`mkdir -p ${q(path.dirname(`${src}/${long}`))} && echo x > ${q(`${src}/${long}`)}`);
    for (const format of ['posix', 'gnu', 'ustar']) {
      const file = tarFile(`long-${format}.tar`, `tar -cf OUT --format=${format} --no-recursion gnu/store/aaaa-hello ${q(path.dirname(long))} ${q(long)}`);
      expect(members(file).map((m) => m.name)).toContain(long);
      await expect(validate(file)).resolves.toBeDefined();
      // The same long name moved outside the store must be caught: proves the long name is
      // what gets checked, not the truncated 100-byte field.
      const outside = tarFile(`long-out-${format}.tar`, `tar -cf OUT --format=${format} --transform='s,^gnu/store/,etc/,' ${q(long)}`);
      expect(await refusal(outside)).toMatch(/outside the store paths/);
    }
  });

  test('an absolute member path is refused', async () => {
    const file = tarFile('abs.tar', `tar -cf OUT --absolute-names --transform='s,^evil$,/gnu/store/evil,' evil`);
    expect(members(file)[0].name).toBe('/gnu/store/evil');
    expect(await refusal(file)).toMatch(/UnsafeArchiveError: member '\/gnu\/store\/evil' has an absolute path/);
  });

  test("a '..' component is refused, even when the path starts inside the store", async () => {
    const file = tarFile('dotdot.tar', `tar -cf OUT --transform='s,^evil$,gnu/store/../../etc/evil,' evil`);
    expect(await refusal(file)).toMatch(/has a '\.\.' component/);
  });

  test('a member outside the store paths is refused', async () => {
    const file = tarFile('outside.tar', `tar -cf OUT --format=posix gnu/store/aaaa-hello evil`);
    expect(await refusal(file)).toMatch(/member 'evil' path 'evil' lies outside the store paths/);
  });

  test('a symlink followed by a file through it is refused', async () => {
    const file = tarFile('through-symlink.tar', `tar -cf OUT gnu/store/bbbb-link && tar -rf OUT --transform='s,^evil$,gnu/store/bbbb-link/etc/cron.d/evil,' evil`);
    expect(members(file).map((m) => m.name)).toEqual(['gnu/store/bbbb-link/', 'gnu/store/bbbb-link/etc', 'gnu/store/bbbb-link/etc/cron.d/evil']);
    expect(await refusal(file)).toMatch(/would be written through the symlink member 'gnu\/store\/bbbb-link\/etc'/);
  });

  test('a hard link whose target lies outside the store paths is refused', async () => {
    sh(`mkdir -p ${q(src)}/gnu/store/cccc-h && echo a > ${q(src)}/gnu/store/cccc-h/a && ln -f ${q(src)}/gnu/store/cccc-h/a ${q(src)}/gnu/store/cccc-h/b`);
    const file = tarFile('hardlink-out.tar', `tar -cf OUT --sort=name --transform='flags=h;s,^gnu/store/cccc-h/a$,etc/shadow,' gnu/store/cccc-h`);
    expect(members(file).find((m) => m.type === '1')?.linkname).toBe('etc/shadow');
    expect(await refusal(file)).toMatch(/member 'gnu\/store\/cccc-h\/b' is a hard link to 'etc\/shadow', a path outside the store paths/);
  });

  test('a hard link whose target goes through a symlink member is refused', async () => {
    const file = tarFile(
      'hardlink-through.tar',
      `tar -cf OUT gnu/store/bbbb-link && tar -rf OUT --sort=name --transform='flags=h;s,^gnu/store/cccc-h/a$,gnu/store/bbbb-link/etc/shadow,' gnu/store/cccc-h`
    );
    expect(await refusal(file)).toMatch(/is a hard link to 'gnu\/store\/bbbb-link\/etc\/shadow', through the symlink member 'gnu\/store\/bbbb-link\/etc'/);
  });

  test('a FIFO is refused', async () => {
    sh(`mkdir -p ${q(src)}/gnu/store/dddd-fifo && mkfifo ${q(src)}/gnu/store/dddd-fifo/p`);
    const file = tarFile('fifo.tar', `tar -cf OUT gnu/store/dddd-fifo`);
    expect(await refusal(file)).toMatch(/'gnu\/store\/dddd-fifo\/p' is a FIFO/);
  });

  describeWith([asRoot()])('as root', () => {
    test('a device node is refused', async () => {
      sh(`mkdir -p ${q(src)}/gnu/store/eeee-dev && mknod ${q(src)}/gnu/store/eeee-dev/null c 1 3`);
      const file = tarFile('device.tar', `tar -cf OUT gnu/store/eeee-dev`);
      expect(await refusal(file)).toMatch(/'gnu\/store\/eeee-dev\/null' is a character device/);
    });

    test('setuid, setgid and sticky bits are counted (restore drops them)', async () => {
      sh(`mkdir -p ${q(src)}/gnu/store/ffff-suid && cp /bin/true ${q(src)}/gnu/store/ffff-suid/true && chmod 6755 ${q(src)}/gnu/store/ffff-suid/true && chmod 1755 ${q(src)}/gnu/store/ffff-suid`);
      const file = tarFile('setuid.tar', `tar -cf OUT gnu/store/ffff-suid`);
      const s = await validate(file);
      expect(s.bitsDropped).toBe(3);
      expect(s.bitsDroppedIn).toEqual(['gnu/store/ffff-suid', 'gnu/store/ffff-suid/true']);
    });
  });

  test('a store path itself as a symlink is refused', async () => {
    sh(`mkdir -p ${q(work)}/sym/gnu && ln -s /tmp ${q(work)}/sym/gnu/store`);
    const file = path.join(work, 'root-symlink.tar');
    sh(`tar -cf ${q(file)} -C ${q(work)}/sym gnu/store`);
    expect(await refusal(file)).toMatch(/is the store path itself but not a directory/);
  });

  test("the daemon's DB dir is refused, its DB file and every other file in it (registrations travel as data)", async () => {
    const file = tarFile('db.tar', `tar -cf OUT var/guix/db/db.sqlite`);
    expect(await refusal(file)).toMatch(/'var\/guix\/db\/db.sqlite' is the daemon's live database/);
    const schema = tarFile('schema.tar', `tar -cf OUT var/guix/db/schema`);
    expect(await refusal(schema)).toMatch(/'var\/guix\/db\/schema' is the daemon's live database/);
    const wal = tarFile('wal.tar', `tar -cf OUT --transform='s,db.sqlite$,db.sqlite-wal,' var/guix/db/db.sqlite`);
    expect(await refusal(wal)).toMatch(/live database/);
  });

  test('a name that is not valid UTF-8 is refused (it could not be checked byte for byte)', async () => {
    sh(`mkdir -p ${q(src)}/gnu/store/gggg-bytes && touch ${q(src)}/gnu/store/gggg-bytes/$'bad\\xff'`);
    for (const format of ['posix', 'gnu']) {
      const file = tarFile(`bytes-${format}.tar`, `tar -cf OUT --format=${format} gnu/store/gggg-bytes`);
      expect(await refusal(file)).toMatch(/TarFormatError: a member name is not valid UTF-8/);
    }
    sh(`rm -rf ${q(src)}/gnu/store/gggg-bytes`);
  });

  test('a pax global header is refused', async () => {
    const file = tarFile('global.tar', `tar -cf OUT --format=posix --pax-option='comment=hi' gnu/store/aaaa-hello`);
    expect(await refusal(file)).toMatch(/TarFormatError: pax global header/);
  });

  test('truncated, corrupted and trailing-garbage archives are refused', async () => {
    const good = tarFile('base.tar', `tar -cf OUT --format=posix gnu/store/aaaa-hello`);
    const bytes = fs.readFileSync(good);

    const truncated = path.join(work, 'truncated.tar');
    fs.writeFileSync(truncated, bytes.subarray(0, 512 * 3 + 100));
    expect(await refusal(truncated)).toMatch(/TarFormatError: archive ends early/);

    const corrupt = path.join(work, 'corrupt.tar');
    const c = Buffer.from(bytes);
    c[512 * 2 + 10] ^= 0x20; // a name byte of the second real header
    fs.writeFileSync(corrupt, c);
    expect(await refusal(corrupt)).toMatch(/TarFormatError: header checksum mismatch/);

    // Data after the end-of-archive block: GNU tar would stop at the zero block; refusing
    // keeps the parser from ever disagreeing with tar about what comes after it.
    const trailing = path.join(work, 'trailing.tar');
    const evil = fs.readFileSync(tarFile('evil-only.tar', `tar -cf OUT evil`));
    fs.writeFileSync(trailing, Buffer.concat([bytes, evil]));
    expect(await refusal(trailing)).toMatch(/TarFormatError: non-zero data after the end-of-archive block/);

    // Zeros after it: what tar pads with, up to its largest record (blocking factor 2048);
    // past that a frame of a few MB could hold TBs of them, which no data bound counts.
    const padded = tarFile('padded.tar', `tar -cf OUT -b 2048 --format=posix gnu/store/aaaa-hello`);
    expect(fs.statSync(padded).size).toBe(MAX_TRAILER_BYTES);
    await validate(padded);
    const bomb = path.join(work, 'zeros.tar');
    fs.writeFileSync(bomb, Buffer.concat([bytes, Buffer.alloc(MAX_TRAILER_BYTES)]));
    expect(await refusal(bomb)).toMatch(new RegExp(`TarFormatError: more than ${MAX_TRAILER_BYTES} bytes after the end-of-archive block`));
  });

  // Where GNU tar 1.34 and a lax reader of the same bytes disagree: refused, so they never do.
  const item = 'gnu/store/hhhh-item';
  const hidden = makeTar([{ name: `${item}/hidden`, type: '0', mode: 0o4755, data: 'hidden\n' }]).subarray(0, 1024);
  const STRICT: Array<[string, Parameters<typeof makeTar>[0], RegExp]> = [
    [
      'two pax x headers in a row (tar keeps only the last)',
      [
        { name: `${item}/`, type: '5' },
        { name: 'PaxHeaders/a', type: 'x', data: paxRecords({ path: `${item}/harmless` }) },
        { name: 'PaxHeaders/b', type: 'x', data: paxRecords({ mtime: '1' }) },
        { name: 'etc/pwned', type: '0', data: 'pwned\n' }
      ],
      /TarFormatError: a 'x' header follows another extended header/
    ],
    [
      'a pax x header followed by a GNU long name',
      [
        { name: `${item}/`, type: '5' },
        { name: 'PaxHeaders/a', type: 'x', data: paxRecords({ path: `${item}/harmless` }) },
        { name: '././@LongLink', type: 'L', data: 'etc/pwned\0' },
        { name: 'x', type: '0', data: 'pwned\n' }
      ],
      /TarFormatError: a 'L' header follows another extended header/
    ],
    [
      'two GNU long names in a row',
      [
        { name: '././@LongLink', type: 'L', data: `${item}\0` },
        { name: '././@LongLink', type: 'L', data: 'etc\0' },
        { name: 'x', type: '5' }
      ],
      /TarFormatError: two 'L' long-name records in a row/
    ],
    [
      'a pax key runbox never writes',
      [
        { name: 'PaxHeaders/a', type: 'x', data: paxRecords({ 'SCHILY.xattr.security.capability': 'x' }) },
        { name: `${item}/`, type: '5' }
      ],
      /TarFormatError: pax record 'SCHILY\.xattr\.security\.capability' is not one/
    ],
    [
      'a regular file named with a trailing / whose data looks like headers (tar makes a dir and reads them)',
      [{ name: `${item}/`, type: '0', data: hidden }],
      /member 'gnu\/store\/hhhh-item\/' has a name ending in \/ but is not a directory/
    ],
    [
      'the same path twice',
      [
        { name: `${item}/`, type: '5' },
        { name: `${item}/f`, type: '0', data: 'checked\n' },
        { name: `${item}/f`, type: '0', data: 'replaced\n' }
      ],
      /member 'gnu\/store\/hhhh-item\/f' appears twice/
    ],
    ['a member before its parent dir', [{ name: `${item}/sub/f`, type: '0', data: 'x' }], /comes before its parent dir 'gnu\/store\/hhhh-item\/sub'/],
    [
      'a hard link to a symlink member',
      [
        { name: `${item}/`, type: '5' },
        { name: `${item}/s`, type: '2', linkname: '/etc/shadow' },
        { name: `${item}/g`, type: '1', linkname: `${item}/s` }
      ],
      /'gnu\/store\/hhhh-item\/g' is a hard link to 'gnu\/store\/hhhh-item\/s', a symlink member/
    ],
    [
      'a hard link to a dir member',
      [
        { name: `${item}/`, type: '5' },
        { name: `${item}/d/`, type: '5' },
        { name: `${item}/g`, type: '1', linkname: `${item}/d` }
      ],
      /is a hard link to 'gnu\/store\/hhhh-item\/d', a dir member/
    ],
    [
      'a hard link to the store dir itself',
      [
        { name: 'gnu/store/', type: '5' },
        { name: `${item}/`, type: '5' },
        { name: `${item}/g`, type: '1', linkname: 'gnu/store' }
      ],
      /is a hard link to 'gnu\/store', a dir member/
    ],
    [
      'a hard link to a path not seen yet (tar would link to whatever is on disk by then)',
      [
        { name: `${item}/`, type: '5' },
        { name: `${item}/g`, type: '1', linkname: `${item}/f` },
        { name: `${item}/f`, type: '0', data: 'x' }
      ],
      /is a hard link to 'gnu\/store\/hhhh-item\/f', no earlier regular file of this archive/
    ],
    [
      'a hard link to an item only on disk',
      [
        { name: `${item}/`, type: '5' },
        { name: `${item}/g`, type: '1', linkname: 'gnu/store/aaaa-host/secret' }
      ],
      /is a hard link to 'gnu\/store\/aaaa-host\/secret', no earlier regular file of this archive/
    ],
    [
      'a hard link to a hard link (a chain: tar links every name to the first)',
      [
        { name: `${item}/`, type: '5' },
        { name: `${item}/f`, type: '0', data: 'x' },
        { name: `${item}/g`, type: '1', linkname: `${item}/f` },
        { name: `${item}/h`, type: '1', linkname: `${item}/g` }
      ],
      /'gnu\/store\/hhhh-item\/h' is a hard link to 'gnu\/store\/hhhh-item\/g', a member that is not a regular file written in full/
    ],
    [
      'a hard link to itself',
      [
        { name: `${item}/`, type: '5' },
        { name: `${item}/g`, type: '1', linkname: `${item}/g` }
      ],
      /is a hard link to itself/
    ],
    [
      'a hard link to a name that is not normalised',
      [
        { name: `${item}/`, type: '5' },
        { name: `${item}/f`, type: '0', data: 'x' },
        { name: `${item}/g`, type: '1', linkname: `${item}//f` }
      ],
      /has a '\/\/' component in its hard link target/
    ],
    [
      'a hard link with a .. in its target',
      [
        { name: `${item}/`, type: '5' },
        { name: `${item}/f`, type: '0', data: 'x' },
        { name: `${item}/g`, type: '1', linkname: `${item}/../hhhh-item/f` }
      ],
      /has a '\.\.' component in its hard link target/
    ],
    [
      'a hard link whose own path goes through a symlink member',
      [
        { name: `${item}/`, type: '5' },
        { name: `${item}/f`, type: '0', data: 'x' },
        { name: `${item}/s`, type: '2', linkname: '/etc' },
        { name: `${item}/s/shadow`, type: '1', linkname: `${item}/f` }
      ],
      /would be written through the symlink member 'gnu\/store\/hhhh-item\/s'/
    ],
    [
      'a hard link carrying data',
      [
        { name: `${item}/`, type: '5' },
        { name: `${item}/f`, type: '0', data: 'x' },
        { name: `${item}/g`, type: '1', linkname: `${item}/f`, data: 'more' }
      ],
      /of type '1' claims 4 bytes of data/
    ]
  ];
  test.each(STRICT)('%s: refused', async (_name, entries, reason) => {
    const file = path.join(work, `strict-${STRICT.findIndex((c) => c[0] === _name)}.tar`);
    fs.writeFileSync(file, makeTar(entries));
    expect(await refusal(file)).toMatch(reason);
  });

  test('a hard link to an earlier regular file of the same archive is accepted, and the canonical writer emits it as a link to the checked path', async () => {
    const file = path.join(work, 'link-ok.tar');
    const long = `${item}/${'l'.repeat(120)}`;
    fs.writeFileSync(
      file,
      makeTar([
        { name: `${item}/`, type: '5' },
        { name: `${item}/f`, type: '0', mode: 0o755, data: 'x' },
        { name: `${item}/g`, type: '1', mode: 0o6777, linkname: `${item}/f` }
      ])
    );
    const s = await validate(file);
    expect(s.links).toBe(1);
    expect(s.dataBytes).toBe(1);
    const canon = path.join(work, 'link-canonical.tar');
    const ms: CheckedMember[] = [
      { path: item, kind: 'dir', size: 0, executable: false },
      { path: `${item}/f`, kind: 'file', size: 1, executable: true },
      { path: `${item}/g`, kind: 'link', size: 0, executable: true, target: `${item}/f` },
      { path: long, kind: 'link', size: 0, executable: true, target: `${item}/f` },
      { path: `${item}/h`, kind: 'link', size: 0, executable: true, target: long }
    ];
    fs.writeFileSync(canon, Buffer.concat([...ms.flatMap((m) => [memberHeader(m), Buffer.alloc(m.size, 0x61), padding(m.size)]), endOfArchive()]));
    expect(members(canon).map((m) => `${m.type} ${m.name} ${m.size} ${m.linkname} ${m.mode.toString(8)}`)).toEqual([
      `5 ${item}/ 0  555`,
      `0 ${item}/f 1  555`,
      `1 ${item}/g 0 ${item}/f 555`,
      `1 ${long} 0 ${item}/f 555`,
      `1 ${item}/h 0 ${long} 555`
    ]);
    expect(sh(`tar -tvf ${q(canon)} --numeric-owner`).stdout).toContain(`${item}/g link to ${item}/f`);
  });

  test('the canonical writer: GNU tar reads back exactly the checked members (long names, long targets, empty and big files)', () => {
    const long = `gnu/store/iiii-${'n'.repeat(120)}`;
    const ms: CheckedMember[] = [
      { path: 'gnu/store/iiii-a', kind: 'dir', size: 0, executable: false },
      { path: 'gnu/store/iiii-a/x', kind: 'file', size: 3, executable: true },
      { path: 'gnu/store/iiii-a/e', kind: 'file', size: 0, executable: false },
      { path: 'gnu/store/iiii-a/l', kind: 'symlink', size: 0, executable: false, target: `/gnu/store/${'t'.repeat(150)}` },
      { path: long, kind: 'file', size: 1000, executable: false }
    ];
    const parts: Buffer[] = [];
    for (const m of ms) parts.push(memberHeader(m), Buffer.alloc(m.size, 0x61), padding(m.size));
    parts.push(endOfArchive());
    const file = path.join(work, 'canonical.tar');
    fs.writeFileSync(file, Buffer.concat(parts));
    expect(
      sh(`tar -tvf ${q(file)} --numeric-owner`)
        .stdout.trim()
        .split('\n')
        .map((l) => l.replace(/\s+/g, ' '))
    ).toEqual([
      'dr-xr-xr-x 0/0 0 1970-01-01 00:00 gnu/store/iiii-a/',
      '-r-xr-xr-x 0/0 3 1970-01-01 00:00 gnu/store/iiii-a/x',
      '-r--r--r-- 0/0 0 1970-01-01 00:00 gnu/store/iiii-a/e',
      `lrwxrwxrwx 0/0 0 1970-01-01 00:00 gnu/store/iiii-a/l -> /gnu/store/${'t'.repeat(150)}`,
      `-r--r--r-- 0/0 1000 1970-01-01 00:00 ${long}`
    ]);
    // And node's own parser reads the same.
    expect(members(file).map((m) => `${m.type} ${m.name} ${m.size} ${m.linkname}`)).toEqual([
      '5 gnu/store/iiii-a/ 0 ',
      '0 gnu/store/iiii-a/x 3 ',
      '0 gnu/store/iiii-a/e 0 ',
      `2 gnu/store/iiii-a/l 0 /gnu/store/${'t'.repeat(150)}`,
      `0 ${long} 1000 `
    ]);
    // Sizes past the 11 octal digits of a header field (8 GiB) are written base-256, as GNU tar reads them.
    const big = memberHeader({ path: 'gnu/store/iiii-big', kind: 'file', size: 9 * 1024 ** 3, executable: false });
    const p = new TarParser((m) => expect(m.size).toBe(9 * 1024 ** 3));
    p.write(big);
  });

  test('the parser handles any chunking of the stream', () => {
    const file = tarFile('chunks.tar', `tar -cf OUT --format=posix --sort=name gnu/store/aaaa-hello`);
    const bytes = fs.readFileSync(file);
    const whole = members(file).map((m) => `${m.type} ${m.name} ${m.size}`);
    for (const size of [1, 7, 511, 513, 4096]) {
      const got: string[] = [];
      const p = new TarParser((m) => got.push(`${m.type} ${m.name} ${m.size}`));
      for (let i = 0; i < bytes.length; i += size) p.write(bytes.subarray(i, i + size));
      p.end();
      expect(got).toEqual(whole);
    }
  });

  test('the parser keeps nothing of a chunk once write() returns: a restore reads into one buffer again and again', () => {
    const long = `gnu/store/aaaa-hello/${'n'.repeat(180)}`;
    const bytes = Buffer.concat([
      makeTar([
        { name: 'gnu/store/aaaa-hello/', type: '5', mode: 0o555 },
        { name: 'PaxHeaders/x', type: 'x', mode: 0o644, data: paxRecords({ path: long }) },
        { name: 'short', type: '0', mode: 0o444, data: 'data\n' },
        { name: 'L', type: 'L', mode: 0o644, data: `${long}-2\0` },
        { name: 'short', type: '0', mode: 0o444, data: 'more\n' }
      ]),
      endOfArchive()
    ]);
    const whole: string[] = [];
    const p0 = new TarParser((m) => whole.push(`${m.type} ${m.name} ${m.size}`));
    p0.write(bytes);
    p0.end();
    expect(whole).toEqual(['5 gnu/store/aaaa-hello/ 0', `0 ${long} 5`, `0 ${long}-2 5`]);
    // Small reads, so that each long-name payload spans several; the buffer is scribbled over
    // after each write, as the next read would.
    const buf = Buffer.alloc(100);
    const got: string[] = [];
    const p = new TarParser((m) => got.push(`${m.type} ${m.name} ${m.size}`));
    for (let i = 0; i < bytes.length; i += buf.length) {
      const n = bytes.copy(buf, 0, i, i + buf.length);
      p.write(buf.subarray(0, n));
      buf.fill(0xff);
    }
    p.end();
    expect(got).toEqual(whole);
  });
});
