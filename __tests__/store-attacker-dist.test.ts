// Hostile cache entries against the built action, out of process (`node dist/main.js`, then
// `node dist/post.js`), for the classes that were tested only in-process before: the store dir
// as a mount point, the outer entry format (trailer, index, signature), log injection through
// strings an entry carries, registration size limits, the manifest's linkTargets, and what a
// review as the attacker found (an unbounded manifest, member names longer than the kernel
// takes). Every case asserts what helpers/hostile-dist.ts asserts: nothing outside the store
// root changed, no existing item changed, the DB holds only validated rows (its schema
// unchanged), the daemon runs when main and post are done, no staging or private dir is left.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, test } from '@jest/globals';
import { encodeIndex, encodeTrailer, MAX_INDEX_BYTES, TRAILER_BYTES, type IndexFile } from '../src/store/entry/format.js';
import { publicKeyLine } from '../src/store/entry/signing.js';
import { asRoot, describeWith, probe, type Prereq } from './helpers/prereq.js';
import { q, sh, tempDir, type ForgedArchives } from './fixtures/store.js';
import { dir, entryBytes, file, HostileHarness, link, publishBlob, reg, regDoc } from './helpers/hostile-dist.js';
import { makeTar, type TarEntry } from './helpers/store-tar.js';

const tag = randomBytes(4).toString('hex');
const at = new HostileHarness('at', tag);
const item = (what: string): string => at.item(what);

/** A member whose name or link target may be longer than a plain header holds: GNU 'K' and 'L' records first. */
function long(e: TarEntry): TarEntry[] {
  const out: TarEntry[] = [];
  let m = e;
  if (m.linkname !== undefined && Buffer.byteLength(m.linkname) > 100) {
    out.push({ name: '././@LongLink', type: 'K', data: Buffer.from(`${m.linkname}\0`) });
    m = { ...m, linkname: m.linkname.slice(0, 99) };
  }
  if (Buffer.byteLength(m.name) > 100) {
    out.push({ name: '././@LongLink', type: 'L', data: Buffer.from(`${m.name}\0`) });
    m = { ...m, name: m.name.slice(0, 99) };
  }
  return [...out, m];
}

// ---- the store dir as a mount point ----------------------------------------------------

/** A tmpfs mounted on `<root>/gnu/store` of a fresh root (the root itself on the test's own filesystem). */
function storeMount(): { prereq: Prereq; root: string; unmount: () => void } {
  if (process.getuid?.() !== 0) return { prereq: { ok: false, reason: 'mounting a tmpfs needs root' }, root: '', unmount: () => undefined };
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'runbox-at-mnt-'));
  const store = path.join(root, 'gnu/store');
  fs.mkdirSync(store, { recursive: true });
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64m,mode=0755', 'runbox-at-store', store], { encoding: 'utf8' });
  if (r.status !== 0) return { prereq: { ok: false, reason: `cannot mount a tmpfs at ${store}: ${r.stderr}` }, root: '', unmount: () => undefined };
  return {
    prereq: { ok: true, reason: '' },
    root,
    unmount() {
      for (let i = 0; spawnSync('umount', [store]).status !== 0; i++) {
        if (i > 40) throw new Error(`umount ${store} failed`);
        spawnSync('sleep', ['0.1']);
      }
      sh(`chmod -R u+w ${q(root)}; rm -rf ${q(root)}`);
    }
  };
}
const mounted = storeMount();
afterAll(() => mounted.unmount());

/**
 * `unshare` and `mv` first on PATH: each logs the device of the dir tar extracts into (the dir
 * unshare confines tar to, after `runbox-confined` in its argv: sys/confined.ts) and of every
 * existing path mv is given, then runs the real one. Not `tar` itself: confined, it could not
 * write the log.
 */
function deviceLoggers(): { binDir: string; log: string } {
  const binDir = tempDir('runbox-at-bin-');
  const log = path.join(binDir, 'devices.log');
  const realUnshare = sh('command -v unshare').stdout.trim();
  const realMv = sh('command -v mv').stdout.trim();
  fs.writeFileSync(
    path.join(binDir, 'unshare'),
    `#!/bin/sh\nprev=\nfor a in "$@"; do [ "$prev" = runbox-confined ] && echo "tar $(stat -c %d -- "$a") $a" >> ${q(log)}; prev=$a; done\nexec ${q(realUnshare)} "$@"\n`,
    { mode: 0o755 }
  );
  fs.writeFileSync(path.join(binDir, 'mv'), `#!/bin/sh\nfor a in "$@"; do [ -e "$a" ] && echo "mv $(stat -c %d -- "$a") $a" >> ${q(log)}; done\nexec ${q(realMv)} "$@"\n`, {
    mode: 0o755
  });
  return { binDir, log };
}

// ---- the outer entry format ------------------------------------------------------------

interface Blob {
  data: Buffer;
  files: IndexFile[];
  signature: Buffer;
}

/** A well-formed entry taken apart: the files' bytes, the index's file list, the signature block. */
function split(b: Buffer): Blob {
  const trailer = b.subarray(b.length - TRAILER_BYTES);
  const indexLength = Number(trailer.readBigUInt64LE(8));
  const signatureLength = trailer.readUInt32LE(16);
  const dataBytes = b.length - TRAILER_BYTES - signatureLength - indexLength;
  const index = JSON.parse(b.subarray(dataBytes, dataBytes + indexLength).toString('utf8')) as { files: IndexFile[] };
  return { data: b.subarray(0, dataBytes), files: index.files, signature: b.subarray(dataBytes + indexLength, dataBytes + indexLength + signatureLength) };
}

/** The entry put together again; `index` replaces the encoded index, `trailer` edits the trailer's lengths. */
function join(p: Blob, o: { index?: Buffer; trailer?: (t: { indexLength: number; signatureLength: number }) => { indexLength: number; signatureLength: number } } = {}): Buffer {
  const index = o.index ?? encodeIndex(p.files);
  const lengths = { indexLength: index.length, signatureLength: p.signature.length };
  return Buffer.concat([p.data, index, p.signature, encodeTrailer(o.trailer ? o.trailer(lengths) : lengths)]);
}

describeWith([asRoot(), probe('GNU tar', 'tar'), probe('zstd', 'zstd'), probe('sqlite3', 'sqlite3', ['-version'])])('an attacker who can write the cache, through dist/', () => {
  at.useStandIn();

  // ---- (a) the store dir is a mount point ------------------------------------------------

  describeWith([mounted.prereq])('the store dir is a tmpfs mount point', () => {
    test("the private dir is on the store's filesystem, items are renamed in, nothing lands outside the mount", async () => {
      const h = at.host({ root: mounted.root });
      const storeDev = fs.statSync(path.join(h.root, 'gnu/store')).dev;
      expect(storeDev).not.toBe(fs.statSync(h.root).dev);
      const rootMtime = fs.statSync(h.root).mtimeMs;
      const gnuMtime = fs.statSync(path.join(h.root, 'gnu')).mtimeMs;
      const key = `at_mount_${tag}`;
      await at.publish(key, [makeTar([...at.plain('mnt'), dir(item('mnt2')), file(`${item('mnt2')}/g`, 'g\n')])], { registrations: regDoc([reg(item('mnt'))]) });
      const { binDir, log } = deviceLoggers();
      await at.expectAdded(h, key, [item('mnt'), item('mnt2')], [item('mnt')], { job: { env: { PATH: `${binDir}:${process.env.PATH ?? ''}` } } });
      const lines = fs.readFileSync(log, 'utf8').trim().split('\n');
      // tar extracted only into the private dir inside the store dir, on the store's filesystem...
      const tars = lines.filter((l) => l.startsWith('tar '));
      expect(tars.length).toBeGreaterThan(0);
      for (const l of tars) expect(l).toMatch(new RegExp(`^tar ${storeDev} ${h.root}/gnu/store/\\.runbox-restore-\\d+-\\d+/tree/0$`));
      // ...and every path mv was handed (the items and the store dir) is on it too: a rename, never a copy.
      const mvs = lines.filter((l) => l.startsWith('mv '));
      expect(mvs.length).toBeGreaterThan(0);
      for (const l of mvs) expect(l.split(' ')[1]).toBe(String(storeDev));
      expect(fs.statSync(path.join(h.root, item('mnt'))).dev).toBe(storeDev);
      // The root and the mount point's parent, on the other filesystem, never saw a private dir.
      expect(fs.statSync(h.root).mtimeMs).toBe(rootMtime);
      expect(fs.statSync(path.join(h.root, 'gnu')).mtimeMs).toBe(gnuMtime);
      expect(fs.readdirSync(path.join(h.root, 'gnu'))).toEqual(['store']);
    });
  });

  // ---- (b) the outer entry format ----------------------------------------------------------

  describe('the outer entry format', () => {
    const keyA = generateKeyPairSync('ed25519').privateKey;
    const keyB = generateKeyPairSync('ed25519').privateKey;

    test.each<[string, (p: Blob) => Buffer, RegExp]>([
      ['the trailer puts the index before the blob starts', (p) => join(p, { trailer: (t) => ({ ...t, indexLength: 1 << 20 }) }), /do not fit in the \d+-byte blob/],
      [
        'a file whose length runs into the index',
        (p) => join({ ...p, files: p.files.map((f, i) => (i === p.files.length - 1 ? { ...f, length: f.length + 64 } : f)) }),
        /does not fit before the index/
      ],
      ['two files that overlap', (p) => join({ ...p, files: p.files.map((f, i) => (i === 1 ? { ...f, offset: 0 } : f)) }), /starts at 0, not at \d+ where the previous file ends/],
      ['a name with ..', (p) => join({ ...p, files: p.files.map((f, i) => (i === 0 ? { ...f, name: '../../../tmp/runbox-pwned' } : f)) }), /not a plain snapshot file name/],
      ['an absolute name', (p) => join({ ...p, files: p.files.map((f, i) => (i === 0 ? { ...f, name: '/etc/cron.d/runbox' } : f)) }), /not a plain snapshot file name/],
      ['a name with a /', (p) => join({ ...p, files: p.files.map((f, i) => (i === 0 ? { ...f, name: 'sub/manifest.json' } : f)) }), /not a plain snapshot file name/],
      ['a file listed twice', (p) => join({ ...p, files: p.files.map((f, i) => (i === 1 ? { ...f, name: p.files[0].name } : f)) }), /is listed twice/],
      [
        'an index past the bound',
        (p) => join(p, { index: Buffer.concat([encodeIndex(p.files), Buffer.alloc(MAX_INDEX_BYTES, 0x20)]) }),
        new RegExp(`the index is \\d+ bytes, more than the ${MAX_INDEX_BYTES} allowed`)
      ],
      [
        'a file whose bytes differ from its digest',
        (p) => {
          const data = Buffer.from(p.data);
          data[Math.floor(data.length / 2)] ^= 1;
          return join({ ...p, data });
        },
        /has sha256 [0-9a-f]{64}, the index says/
      ]
    ])('%s: a miss with a warning, nothing written', async (what, edit, reason) => {
      const key = `at_outer_${what.replace(/[^a-z]/g, '')}_${tag}`;
      const p = split(await entryBytes([makeTar(at.plain('outer'))]));
      expect(p.files.length).toBeGreaterThan(1);
      await publishBlob(key, edit(p));
      const h = at.host();
      await at.expectRefused(h, key, reason, { refusal: `the snapshot ${key} ` });
    });

    test.each<[string, (p: Blob) => Buffer, RegExp]>([
      ['signed by a key not in trusted-keys', (p) => join(p), /is signed by ed25519:\S+, which is not in trusted-keys/],
      ['signed by the trusted key, the index changed after signing', (p) => join(p, { index: Buffer.concat([encodeIndex(p.files), Buffer.from(' ')]) }), /does not match the entry's index/],
      ['unsigned', (p) => join({ ...p, signature: Buffer.alloc(0) }), /is not signed, and trusted-keys is set/]
    ])('trusted-keys set and an entry %s: a miss with a warning, nothing written', async (what, edit, reason) => {
      const key = `at_sig_${what.replace(/[^a-z]/g, '')}_${tag}`;
      const signer = what.startsWith('signed by a key not') ? keyA : keyB;
      const p = split(await entryBytes([makeTar(at.plain('sig'))], {}, signer));
      await publishBlob(key, edit(p));
      await at.expectRefused(at.host(), key, reason, { refusal: `the snapshot ${key} `, inputs: { 'trusted-keys': publicKeyLine(keyB) } });
    });

    test('control: the same blob, untouched and signed by the trusted key, is restored', async () => {
      const key = `at_sig_control_${tag}`;
      await publishBlob(key, join(split(await entryBytes([makeTar(at.plain('sigok'))], {}, keyB))));
      await at.expectAdded(at.host(), key, [item('sigok')], [], { inputs: { 'trusted-keys': publicKeyLine(keyB) } });
    });
  });

  // ---- (c) log injection -----------------------------------------------------------------

  test('strings from the entry (item names, a refused member, manifest fields, registrations) never start a line of the runner log', async () => {
    const h = at.host();
    const key = `at_inject_${tag}`;
    const pwn = `PWN${tag}`;
    const evil = (what: string): string => `\r::error::${pwn}-${what}%0A\u001b[31m<b>${pwn}<i>\r##[error]${pwn}`;
    // A new item hard-linking into an item on disk: not restored, and named in the log.
    const linker = `gnu/store/${'0'.repeat(32)}-x${evil('linker')}`;
    const hello = h.items.hello.slice(1);
    const lock = `gnu/store/${'1'.repeat(32)}-y${evil('lock')}.lock`;
    const suid = `${item('suid')}/s${evil('suid')}`;
    await at.publish(
      key,
      [
        makeTar([
          ...at.plain('clean'),
          dir(hello),
          dir(`${hello}/bin`),
          file(`${hello}/bin/hello`, 'snapshot copy\n'),
          ...long(dir(linker)),
          ...long(link(`${linker}/hello`, `${hello}/bin/hello`)),
          ...long(file(lock, 'held\n')),
          dir(item('suid')),
          ...long({ name: suid, type: '0', mode: 0o4755, data: 'x\n' })
        ])
      ],
      { manifestExtra: { toolVersion: evil('toolVersion'), createdAt: evil('createdAt') }, registrations: regDoc([reg(item('clean'))]) }
    );
    const main = await at.expectAdded(h, key, [item('clean'), item('suid')], [item('clean')]);
    // Each of them was said (escaped) somewhere: the test would pass vacuously otherwise.
    expect(main.stdout).toContain(`${pwn}-linker`);
    expect(main.stdout).toContain(`${pwn}-lock`);
    expect(main.stdout).toContain(`${pwn}-suid`);
    expectNoInjection(main.stdout, main.summary, pwn);

    // A refused member and a refused manifest field carrying the same strings.
    const refused: Array<[string, Buffer, ForgedArchives]> = [
      [`at_inject_member_${tag}`, makeTar([...at.plain('m'), ...long({ name: `etc/${evil('outside')}`, type: '0', data: 'x' })]), {}],
      [`at_inject_manifest_${tag}`, makeTar(at.plain('mf')), { linkTargets: [[`etc/${evil('linkTargets')}`]] }],
      [`at_inject_reg_${tag}`, makeTar(at.plain('rg')), { registrations: regDoc([reg(item('rg'), { deriver: `/gnu/store/${evil('deriver')}.drv` })]) }]
    ];
    for (const [k, tar, f] of refused) {
      await at.publish(k, [tar], f);
      const m = await at.expectRefused(at.host(), k, /./);
      expect(m.stdout).toContain(pwn);
      expectNoInjection(m.stdout, m.summary, pwn);
    }
  });

  // ---- (d) registration size limits ----------------------------------------------------------

  const row = (p: string): string => JSON.stringify(reg(p));
  test.each<[string, () => unknown, RegExp]>([
    [
      'a row with 20,001 references',
      () => regDoc([reg(item('refs'), { references: Array.from({ length: 20_001 }, (_, i) => `/${refPath(i)}`) })]),
      /paths\[0\]\.references is not a list of at most 20000/
    ],
    [
      'a deriver of 100 KB',
      () => regDoc([reg(item('refs'), { deriver: `/gnu/store/${'a'.repeat(32)}-${'d'.repeat(100_000)}.drv` })]),
      /paths\[0\]\.deriver "\/gnu\/store\/a+.*\.\.\." is not a \.drv store path/
    ],
    [
      '200,001 rows',
      () => `{"format":"runbox-registrations","version":1,"storeDir":"/gnu/store","paths":[${`${row(item('refs'))},`.repeat(200_000)}${row(item('refs'))}]}`,
      /200001 paths, more than the 200000 allowed/
    ],
    [
      'a million rows (170 MB of JSON)',
      () => `{"format":"runbox-registrations","version":1,"storeDir":"/gnu/store","paths":[${`${row(item('refs'))},`.repeat(999_999)}${row(item('refs'))}]}`,
      /decompresses to more than 134217728 bytes/
    ]
  ])('registrations with %s: refused before the daemon is stopped, nothing registered', async (what, doc, reason) => {
    const key = `at_reglimit_${what.replace(/[^a-z0-9]/g, '')}_${tag}`;
    await at.publish(key, [makeTar(at.plain('refs'))], { registrations: doc() });
    await at.expectRefused(at.host(), key, reason);
  });

  // ---- (e) linkTargets in the manifest -------------------------------------------------------

  test.each<[string, () => unknown, RegExp]>([
    ['not a list', () => 'gnu/store/x', /archives\[0\]\.linkTargets is not a list/],
    ['a number', () => [5], /linkTargets\[0\] is not a string/],
    ['a .. component', () => [`${item('lt')}/../../../etc/passwd`], /is not a normalised relative path/],
    ['an absolute path', () => ['/etc/passwd'], /is not a normalised relative path/],
    ['an empty string', () => [''], /is not a normalised relative path/],
    ['a NUL', () => [`${item('lt')}/f\0x`], /is not a normalised relative path/],
    ['a path outside the store paths', () => ['etc/shadow'], /is not inside the archive's store paths/],
    ['1,000,001 paths', () => Array.from({ length: 1_000_001 }, () => `${item('lt')}/f`), /lists 1000001 paths, more than the 1000000 an archive may/]
  ])('linkTargets with %s: refused', async (what, targets, reason) => {
    const key = `at_lt_${what.replace(/[^a-z0-9]/g, '')}_${tag}`;
    await at.publish(key, [makeTar(at.plain('lt'))], { linkTargets: [targets()] });
    await at.expectRefused(at.host(), key, reason);
  });

  test('linkTargets naming a file of an item on disk: the snapshot copy anchors the new item in the private dir only; the item on disk untouched', async () => {
    const h = at.host();
    const key = `at_lt_anchor_${tag}`;
    const hello = h.items.hello.slice(1);
    const bystander = h.items.lib.slice(1);
    await at.publish(key, [makeTar([dir(hello), dir(`${hello}/bin`), file(`${hello}/bin/hello`, 'the snapshot copy\n'), dir(item('anch')), link(`${item('anch')}/hello`, `${hello}/bin/hello`)])], {
      // The anchor, and a file of another item on disk that this archive does not even carry.
      linkTargets: [[`${hello}/bin/hello`, `${bystander}/lib/libfoo.so`]]
    });
    await at.expectAdded(h, key, [item('anch')], []);
    const anchored = path.join(h.root, item('anch'), 'hello');
    expect(fs.readFileSync(anchored, 'utf8')).toBe('the snapshot copy\n');
    expect(fs.statSync(anchored).nlink).toBe(1);
  });

  // ---- found reviewing the restore as the attacker ------------------------------------------

  // The manifest was parsed whole, whatever its size: JSON.parse's time and memory go by the
  // number of values (180 MB of `{},` kept node busy for over two minutes, holding the host's restore lock).
  test.each<[string, () => unknown, RegExp]>([
    ['10,000 empty objects', () => Array.from({ length: 10_000 }, () => ({})), /holds more than the 8192 objects and lists a manifest may hold/],
    ['4,000,001 numbers', () => new Array<number>(4_000_001).fill(0), /holds more than the 4000000 values a manifest may hold/]
  ])('a manifest padded with %s: refused before it is parsed', async (what, pad, reason) => {
    const key = `at_manifest_${what.replace(/[^a-z0-9]/g, '')}_${tag}`;
    await at.publish(key, [makeTar(at.plain('pad'))], { manifestExtra: { pad: pad() } });
    await at.expectRefused(at.host(), key, reason);
  });

  // Names tar cannot create were handed to it (it fails on each and reads on), after node had
  // kept every such name, up to 1 MiB each, in the checks' bookkeeping: refused by the checker now.
  test.each<[string, (i: string) => TarEntry[], RegExp]>([
    ['a path component of 256 bytes', (i) => long(file(`${i}/${'c'.repeat(256)}`)), /has a component of 256 bytes in its path, longer than the 255 Linux takes/],
    [
      'a path of 4,600 bytes',
      (i) => {
        const dirs = Array.from({ length: 18 }, (_, n) => `${i}/${Array.from({ length: n + 1 }, () => 'd'.repeat(250)).join('/')}`);
        return [...dirs.flatMap((d) => long(dir(d))), ...long(file(`${dirs[dirs.length - 1]}/f`))];
      },
      /has a path of \d{4} bytes, longer than the 4095 Linux takes/
    ],
    ['a name of 600 KB', (i) => long(file(`${i}/${'n/'.repeat(300_000)}x`)), /has a path of 600\d{3} bytes, longer than the 4095 Linux takes/],
    ['a symlink target of 5,000 bytes', (i) => long({ name: `${i}/l`, type: '2', linkname: 'a/'.repeat(2500) }), /is a symlink whose target is 5000 bytes, longer than the 4095 Linux takes/]
  ])('a member with %s: refused by the checker, before tar reads it', async (what, members, reason) => {
    const key = `at_len_${what.replace(/[^a-z0-9]/g, '')}_${tag}`;
    const i = item('len');
    await at.publish(key, [makeTar([...at.plain('lenok'), dir(i), ...members(i)])]);
    await at.expectRefused(at.host(), key, reason);
  });
});

/** A store path of the registrations' references (none exist: refused before they are looked at). */
function refPath(i: number): string {
  return `gnu/store/${String(i).padStart(32, '0')}-r`;
}

/**
 * No line of main's stdout, split where the runner splits lines (\n and \r), starts a workflow
 * command or a `##[` marker with the injected marker in it, unless it is one that @actions/core
 * itself wrote (a warning, whose data it escaped); none starts with an escape sequence; the
 * summary (HTML) holds no tag the entry wrote.
 */
function expectNoInjection(stdout: string, summary: string, pwn: string): void {
  const bad = stdout
    .split(/\r\n|\r|\n/)
    .filter((l) => l.includes(pwn))
    .filter((l) => /^\s*(::|##\[|\u001b)/.test(l) && !/^::(warning|debug)::/.test(l));
  expect(bad).toEqual([]);
  for (const l of stdout.split(/\r\n|\r|\n/).filter((x) => x.includes(pwn))) expect(l).not.toMatch(/\u001b/);
  expect(summary).not.toContain(`<b>${pwn}`);
}
