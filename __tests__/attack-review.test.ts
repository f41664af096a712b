// Attack review of the restore path (issue 9 claim: a cache writer gets "new store items exist"
// and nothing more). Each test is an attack with real tar, zstd, sudo and sqlite3, in-process as
// store-hostile.test.ts does. Each test is a finding that is fixed (it fails without the fix).
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, expect, test } from '@jest/globals';
import { createSnapshot } from '../src/store/archive.js';
import { registerPaths } from '../src/store/db.js';
import { applySnapshot } from '../src/store/restore.js';
import { parseRegistrations, type Registration } from '../src/store/registrations.js';
import { StepReport } from '../src/action/job-summary.js';
import { errorMessage } from '../src/common/errors.js';
import { asRoot, describeWith, probe } from './helpers/prereq.js';
import { spawnSync } from 'node:child_process';
import { makeTar, type TarEntry } from './helpers/store-tar.js';
import { mountTmpfs } from './helpers/tmpfs.js';
import { buildGuixLayout, dbContents, forgeArchives, itemName, rejection, removeTempDirs, tempDir } from './fixtures/store.js';

const STORE_PATHS = ['/gnu/store', '/var/guix/db'];
const S = '/gnu/store';

/** A snapshot dir as a cache writer uploads it: zstd archives and a version 3 manifest with correct digests. */
function forge(tars: Buffer[], dataBytes?: number[], kind: 'guix' | 'nix' = 'guix', storePaths = STORE_PATHS): string {
  return forgeArchives(path.join(tempDir('runbox-attack-snap-'), 'runbox-snapshot'), tars, { kind, storePaths, ...(dataBytes ? { dataBytes } : {}) });
}

function apply(root: string, snapshotDir: string): ReturnType<typeof applySnapshot> {
  return applySnapshot({ root, kind: 'guix', storePaths: STORE_PATHS, dbDir: '/var/guix/db', daemon: { kind: 'none' }, snapshotDir, scratchDir: tempDir('runbox-attack-scratch-') });
}

const SMALL_FS = 8 * 1024 * 1024;
const smallFs = mountTmpfs('runbox-attack-enospc', SMALL_FS);
afterAll(() => smallFs.unmount());

describeWith([asRoot(), probe('GNU tar', 'tar'), probe('zstd', 'zstd'), probe('sqlite3', 'sqlite3', ['-version'])])('attack review', () => {
  afterAll(removeTempDirs);

  test('summary injection: a member name with blank lines and markdown (quoted raw into the error) stays inside its table cell, on one line', async () => {
    const root = tempDir('runbox-attack-root-');
    buildGuixLayout(root);
    // checkMemberPath refuses the name, but quotes it raw into the error, which restoreLocked
    // puts into a summary row; html() escapes <>& but keeps the newlines, and a blank line ends
    // GFM's HTML block: what follows is markdown again (images, links the attacker chose).
    const name = `${S.slice(1)}/${itemName('md')}\n\n![pwned](https://attacker.example/x.png)\n\n`;
    const snap = forge([makeTar([{ name, type: '0', mode: 0o444, data: 'x' }])]);
    const e = await rejection(apply(root, snap));
    expect(e).toMatch(/NUL or newline/);
    const summary = path.join(tempDir('runbox-attack-summary-'), 'summary.md');
    fs.writeFileSync(summary, '');
    const saved = process.env.GITHUB_STEP_SUMMARY;
    process.env.GITHUB_STEP_SUMMARY = summary;
    try {
      const report = new StepReport('runbox: main');
      // Exactly what restoreLocked adds when applySnapshot throws.
      report.add('store snapshot', `not restored (guix-key): ${errorMessage(new Error(e.replace(/^[A-Za-z]+: /, '')))}`);
      await report.write();
    } finally {
      if (saved === undefined) delete process.env.GITHUB_STEP_SUMMARY;
      else process.env.GITHUB_STEP_SUMMARY = saved;
    }
    const md = fs.readFileSync(summary, 'utf8');
    const table = md.slice(md.indexOf('<table>'), md.indexOf('</table>'));
    expect(table).toContain('attacker.example');
    // No line break inside the table: the HTML block holds to its end.
    expect(table).not.toMatch(/[\r\n]/);
  });

  test('verifyLanded: a legit item with many multi-byte file names is not refused (find output split mid-character)', async () => {
    const root = tempDir('runbox-attack-root-');
    buildGuixLayout(root);
    const item = `${S.slice(1)}/${itemName('utf8-names')}`;
    const entries: TarEntry[] = [{ name: `${item}/`, type: '5', mode: 0o555 }];
    // Names of 3-byte characters (80 of them, 244 bytes with the number: a GNU long name): the
    // walk's output is read in pipe-sized chunks, and each chunk was decoded on its own, so a
    // chunk ending inside a character turned it into U+FFFD and the item into "never emitted".
    for (let i = 0; i < 3000; i++) {
      const name = `${item}/${String(i).padStart(4, '0')}${'日'.repeat(80)}`;
      entries.push({ name: '././@LongLink', type: 'L', data: Buffer.from(`${name}\0`) });
      entries.push({ name: 'placeholder', type: '0', mode: 0o444, data: '' });
    }
    const snap = forge([makeTar(entries)]);
    const r = await apply(root, snap);
    expect(r.added).toBe(1);
    expect(fs.readdirSync(path.join(root, item))).toHaveLength(3000);
  });

  test('held: names and symlink targets at the 100-byte field edges, 255-byte components, trailing spaces, backslashes, tabs and \\r land exactly as checked', async () => {
    const root = tempDir('runbox-attack-root-');
    buildGuixLayout(root);
    const item = `${S.slice(1)}/${itemName('edges')}`;
    const entries: TarEntry[] = [{ name: `${item}/`, type: '5', mode: 0o555 }];
    const long = (name: string, e: Omit<TarEntry, 'name'>): TarEntry[] =>
      Buffer.byteLength(name) > 100 || Buffer.byteLength(e.linkname ?? '') > 100
        ? [
            ...(Buffer.byteLength(e.linkname ?? '') > 100 ? [{ name: '././@LongLink', type: 'K' as const, data: Buffer.from(`${e.linkname}\0`) }] : []),
            ...(Buffer.byteLength(name) > 100 ? [{ name: '././@LongLink', type: 'L' as const, data: Buffer.from(`${name}\0`) }] : []),
            { ...e, name: Buffer.byteLength(name) > 100 ? 'x' : name, linkname: Buffer.byteLength(e.linkname ?? '') > 100 ? 'y' : e.linkname }
          ]
        : [{ ...e, name }];
    const names: string[] = [];
    for (let n = 97; n <= 102; n++) names.push(`${item}/${'n'.repeat(n - item.length - 1)}`);
    names.push(`${item}/${'c'.repeat(255)}`, `${item}/trailing space `, `${item}/back\\slash`, `${item}/tab\there`, `${item}/cr\rhere`, `${item}/dir/`);
    for (const n of names) entries.push(...long(n, n.endsWith('/') ? { type: '5', mode: 0o755 } : { type: '0', mode: 0o644, data: n }));
    for (const t of [99, 100, 101, 200]) entries.push(...long(`${item}/link${t}`, { type: '2', linkname: `/abs/${'t'.repeat(t - 5)}` }));
    entries.push(...long(`${item}/dotdot`, { type: '2', linkname: '../../etc/shadow' }));
    const r = await apply(root, forge([makeTar(entries)]));
    expect(r.added).toBe(1);
    for (const n of names.filter((x) => !x.endsWith('/'))) expect(fs.readFileSync(path.join(root, n), 'utf8')).toBe(n);
    for (const t of [99, 100, 101, 200]) expect(fs.readlinkSync(path.join(root, `${item}/link${t}`))).toBe(`/abs/${'t'.repeat(t - 5)}`);
    expect(fs.readlinkSync(path.join(root, `${item}/dotdot`))).toBe('../../etc/shadow');
  });

  test('registrations: a reference cycle between two restored items is not registered (Nix and Guix refuse cycles: topoSortPaths)', async () => {
    const root = tempDir('runbox-attack-root-');
    buildGuixLayout(root);
    const [a, b] = ['cyc-a', 'cyc-b'].map((n) => `${S}/${itemName(n)}`);
    const reg = (p: string, refs: string[]): Registration => ({ path: p, hash: `sha256:${'0'.repeat(64)}`, registrationTime: 1, narSize: 1, deriver: null, references: refs, outputs: [] });
    const before = dbContents(path.join(root, 'var/guix/db/db.sqlite'));
    await registerPaths({
      kind: 'guix',
      root,
      dbDir: '/var/guix/db',
      storeDir: S,
      registrations: [reg(a, [b]), reg(b, [a])],
      added: new Set([a, b]),
      scratchDir: tempDir('runbox-attack-scratch-')
    });
    const after = dbContents(path.join(root, 'var/guix/db/db.sqlite'));
    // A cycle A -> B -> A in Refs is a DB state the daemons never make: their registerValidPaths
    // topo-sorts and throws "cycle detected"; their GC cannot delete either path (each is the
    // other's live referrer), so it would stay for good.
    expect(after.refs.filter((r) => r.includes('cyc-'))).toEqual([]);
    expect(after.paths.filter((p) => !before.paths.includes(p))).toEqual([]);
  });

  describeWith([probe('nix-store', 'nix-store')])('with nix-store', () => {
    const NIX_PATHS = ['/nix/store', '/nix/var/nix/db'];
    test('a top-level symlink named <item>.lock: left out; else root nix-store, locking <item>, creates and writes a file outside the store through it', async () => {
      // Only temp roots (nix-store --store local?root=...): the host's /nix is never touched.
      const scratch = tempDir('runbox-attack-nix-scratch-');
      const src = path.join(scratch, 'hello.txt');
      fs.writeFileSync(src, 'hello\n');
      // The path `nix-store --add` gives this file (deterministic: what a CI job would add or build).
      const add = (root: string): ReturnType<typeof spawnSync> => spawnSync('nix-store', ['--store', `local?root=${root}`, '--add', src], { encoding: 'utf8', timeout: 60_000 });
      const learned = add(path.join(scratch, 'learn'));
      expect(learned.status).toBe(0);
      const target = String(learned.stdout).trim();
      expect(target).toMatch(/^\/nix\/store\/[0-9a-z]{32}-hello\.txt$/);

      const root = tempDir('runbox-attack-nix-root-');
      fs.mkdirSync(path.join(root, 'nix/store'), { recursive: true });
      fs.mkdirSync(path.join(root, 'nix/var/nix/db'), { recursive: true });
      const outside = tempDir('runbox-attack-outside-');
      const planted = path.join(outside, 'created-by-root');
      const snap = forge([makeTar([{ name: `${target.slice(1)}.lock`, type: '2', linkname: planted }])], undefined, 'nix', NIX_PATHS);
      const outcome = await applySnapshot({
        root,
        kind: 'nix',
        storePaths: NIX_PATHS,
        dbDir: '/nix/var/nix/db',
        daemon: { kind: 'none' },
        snapshotDir: snap,
        scratchDir: tempDir('runbox-attack-scratch-')
      }).then(
        (r) => `restored, left out: ${r.lockDropped.join(' ')}`,
        (e: unknown) => errorMessage(e)
      );
      // Whatever the restore did: a later root nix-store that locks the path writes nothing outside.
      expect(add(root).status).toBe(0);
      expect(fs.readdirSync(outside)).toEqual([]);
      expect(outcome).toBe(`restored, left out: ${target}.lock`);
    });
  });

  describeWith([probe('nix-store', 'nix-store')])('with nix-store (lock files)', () => {
    test('a top-level regular file <item>.lock with content: left out (else root nix-store spins forever on "lock file has become stale" whenever it locks <item>)', async () => {
      const scratch = tempDir('runbox-attack-nix-scratch-');
      const src = path.join(scratch, 'hello.txt');
      fs.writeFileSync(src, 'hello\n');
      // SIGKILL: the spinning nix-store takes minutes to notice a SIGTERM.
      const add = (root: string, timeout: number): ReturnType<typeof spawnSync> =>
        spawnSync('nix-store', ['--store', `local?root=${root}`, '--add', src], { encoding: 'utf8', timeout, killSignal: 'SIGKILL' });
      const target = String(add(path.join(scratch, 'learn'), 60_000).stdout).trim();
      expect(target).toMatch(/^\/nix\/store\/[0-9a-z]{32}-hello\.txt$/);
      const root = tempDir('runbox-attack-nix-root-');
      fs.mkdirSync(path.join(root, 'nix/store'), { recursive: true });
      fs.mkdirSync(path.join(root, 'nix/var/nix/db'), { recursive: true });
      // A regular, non-empty file: what a Cargo.lock or flake.lock item also is, so the .lock rule lets it through.
      const snap = forge([makeTar([{ name: `${target.slice(1)}.lock`, type: '0', mode: 0o444, data: 'x' }])], undefined, 'nix', ['/nix/store', '/nix/var/nix/db']);
      const outcome = await applySnapshot({
        root,
        kind: 'nix',
        storePaths: ['/nix/store', '/nix/var/nix/db'],
        dbDir: '/nix/var/nix/db',
        daemon: { kind: 'none' },
        snapshotDir: snap,
        scratchDir: tempDir('runbox-attack-scratch-')
      }).then(
        (r) => `restored, left out: ${r.lockDropped.join(' ')}`,
        (e: unknown) => errorMessage(e)
      );
      expect(outcome).toBe(`restored, left out: ${target}.lock`);
      expect(fs.existsSync(path.join(root, `${target}.lock`))).toBe(false);
      // With the file in place, the path is never added: nix-store holds the CPU until killed.
      expect(add(root, 5_000).status).toBe(0);
    });
  });

  test.each([
    ['listed member by member', ''],
    ['archived whole (a name with a tab makes the store unlistable)', 'tab\there']
  ])('save never archives a top-level <name>.lock entry, %s', async (_how, odd) => {
    const root = tempDir('runbox-attack-root-');
    const { items } = buildGuixLayout(root);
    const lockFile = `${S}/${itemName('hello-2.12')}.lock`;
    const cargoLock = `${S}/${itemName('src')}-Cargo.lock`;
    fs.chmodSync(path.join(root, items.hello), 0o755);
    fs.writeFileSync(path.join(root, lockFile), '');
    fs.writeFileSync(path.join(root, cargoLock), '[[package]]\n');
    if (odd) fs.writeFileSync(path.join(root, items.hello, odd), 'x');
    fs.chmodSync(path.join(root, items.hello), 0o555);
    const snapshotDir = path.join(tempDir('runbox-attack-save-'), 'runbox-snapshot');
    fs.mkdirSync(snapshotDir);
    const { manifest } = await createSnapshot({ root, kind: 'guix', storePaths: STORE_PATHS, dbDir: '/var/guix/db', snapshotDir, scratchDir: tempDir('runbox-attack-scratch-'), shards: 1 });
    const members = manifest.archives.flatMap((a) => String(spawnSync('sh', ['-c', 'zstd -dc "$1" | tar -t', 'sh', path.join(snapshotDir, a.file)], { encoding: 'utf8' }).stdout).split('\n'));
    expect(members).toContain(`${items.hello.slice(1)}/bin/hello`);
    if (odd) expect(members).toContain(`${items.hello.slice(1)}/tab\\there`);
    expect(members.filter((m) => m.endsWith('.lock'))).toEqual([]);
    // What the restore bounds by and checks the free space against, whichever way it was archived.
    for (const a of manifest.archives) expect(a.dataBytes).toBeGreaterThan(200_000);
  });

  describeWith([probe('nix-store', 'nix-store')])('with nix-store (registrations)', () => {
    test('registrations: NAR hashes and content addresses Nix cannot parse are refused (one such row made nix-store --gc fail for the whole store)', async () => {
      const scratch = tempDir('runbox-attack-nix-scratch-');
      const root = tempDir('runbox-attack-nix-root-');
      fs.writeFileSync(path.join(scratch, 'garbage.txt'), 'collect me\n');
      // nix-store makes the DB (Nix's schema) and an unrooted item the GC must delete.
      const added = spawnSync('nix-store', ['--store', `local?root=${root}`, '--add', path.join(scratch, 'garbage.txt')], { encoding: 'utf8' });
      expect(added.status).toBe(0);
      const garbage = String(added.stdout).trim();
      const ok = `sha256:${'0'.repeat(64)}`;
      const variants: Array<Partial<Registration>> = [
        { hash: `sha256:${'z'.repeat(52)}` }, // 260 bits: the 4 beyond sha256 set
        { hash: ok, ca: `fixed:sha1:${'0'.repeat(26)}` }, // an md5's length for a sha1
        { hash: ok, ca: `fixed:r:sha256:${'z'.repeat(52)}` },
        { hash: ok, ca: `text:sha256:${'z'.repeat(52)}` }
      ];
      let refused = 0;
      for (const [i, v] of variants.entries()) {
        const p = `/nix/store/${'0'.repeat(31)}${i}-restored`;
        fs.mkdirSync(path.join(root, p));
        const doc = JSON.stringify({
          format: 'runbox-registrations',
          version: 1,
          storeDir: '/nix/store',
          paths: [{ path: p, hash: ok, registrationTime: 1, narSize: 8, deriver: null, references: [], outputs: [], ...v }]
        });
        let regs: Registration[];
        try {
          regs = parseRegistrations(doc, '/nix/store').paths;
        } catch (e) {
          expect(errorMessage(e)).toMatch(/snapshot registrations: .*(not a sha256 hash|not a content address)/);
          refused++;
          continue;
        }
        await registerPaths({ kind: 'nix', root, dbDir: '/nix/var/nix/db', storeDir: '/nix/store', registrations: regs, added: new Set([p]), scratchDir: tempDir('runbox-attack-scratch-') });
      }
      const gc = spawnSync('nix-store', ['--store', `local?root=${root}`, '--gc'], { encoding: 'utf8', timeout: 60_000 });
      expect(`${gc.status} ${String(gc.stderr).trim().split('\n').pop()}`).toMatch(/^0 /);
      expect(fs.existsSync(path.join(root, garbage))).toBe(false);
      expect(refused).toBe(variants.length);
    });
  });

  describe('on a small tmpfs', () => {
    describeWith([smallFs.prereq])('the store root', () => {
      test('free-space check: 1-byte files cost a block each; a snapshot recording 2 KB of data is stopped before it fills an 8 MiB filesystem', async () => {
        const root = fs.mkdtempSync(path.join(smallFs.dir, 'a-'));
        buildGuixLayout(root);
        const item = `${S.slice(1)}/${itemName('tiny-files')}`;
        const entries: TarEntry[] = [{ name: `${item}/`, type: '5', mode: 0o555 }];
        for (let i = 0; i < 2500; i++) entries.push({ name: `${item}/${i}`, type: '0', mode: 0o444, data: 'x' });
        const tar = makeTar(entries);
        // dataBytes honest: 2500 bytes of file data (the tar itself is some 2.5 MB of headers).
        const snap = forge([tar], [2500]);
        const e = await rejection(apply(root, snap));
        // The check before extracting counts bytes only; the filesystem is asked as the stream
        // goes on, and runbox stops at its last 5% instead of tar running into ENOSPC.
        expect(e).toMatch(/SpaceError: the store's filesystem is nearly full while extracting/);
        expect(fs.readdirSync(path.join(root, S.slice(1))).some((n) => n.includes('tiny-files'))).toBe(false);
      });

      test('free-space check: a version 3 manifest that leaves dataBytes out is refused (save always writes it)', async () => {
        const root = fs.mkdtempSync(path.join(smallFs.dir, 'b-'));
        buildGuixLayout(root);
        const item = `${S.slice(1)}/${itemName('no-size')}`;
        const snap = forge([
          makeTar([
            { name: `${item}/`, type: '5', mode: 0o555 },
            { name: `${item}/huge`, type: '0', mode: 0o444, data: Buffer.alloc(16 * 1024 * 1024) }
          ])
        ]);
        const manifest = JSON.parse(fs.readFileSync(path.join(snap, 'manifest.json'), 'utf8')) as { archives: Array<Record<string, unknown>> };
        for (const a of manifest.archives) delete a.dataBytes;
        fs.writeFileSync(path.join(snap, 'manifest.json'), JSON.stringify(manifest));
        const e = await rejection(apply(root, snap));
        expect(e).toMatch(/ManifestError: .*dataBytes is missing/);
      });
    });
  });
});
