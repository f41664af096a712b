// Store snapshots, out of process: the built action run the way the runner runs it (`node
// dist/main.js`, then `node dist/post.js`, as separate processes with INPUT_*, STATE_* and the
// file commands; tools/local-runner.mjs) against the loopback cache server in its own process.
// - bad store inputs fail main before anything changes (no file, no daemon command, no RPC);
// - (a real Nix store at `/` with a real nix-daemon: store-nix-action.test.ts, a SYSTEM file that
//   runs one at a time, while this file runs beside the others;)
// - a Guix-like store from mkstore.sh under RUNBOX_STORE_ROOT: miss -> save -> exact hit on
//   another runner (no upload) -> restore-key hit; manifests identical after the round trip;
//   restore is additive over a store that already holds items.
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { snapshotTree, type FakeJob, type StepResult } from './helpers/action-runner.js';
import { asRoot, describeWith, probe } from './helpers/prereq.js';
import { startCacheServerProcess, type CacheServer } from './fixtures/cache.js';
import { buildGuixLayout, dbContents, GUIX_SCHEMA, itemName, itemsView, linkGroups, q, registerPaths, removeTempDirs, sh, sqliteInput, tempDir, treeManifest } from './fixtures/store.js';
import { contentManifest, describeStep, MKSTORE, mkstoreGuix, stagingLeft, storeJob, tempBytes, wipe, type StoreJobOptions } from './helpers/store-e2e.js';

const tag = randomBytes(4).toString('hex');
let server: CacheServer;
const jobs: FakeJob[] = [];

function job(o: StoreJobOptions = {}): FakeJob {
  const j = storeJob(server.url, o);
  jobs.push(j);
  return j;
}

async function uploads(): Promise<number> {
  return (await server.stats()).uploads;
}

async function rpcs(): Promise<number> {
  return ((await server.stats()) as unknown as { rpcs: number }).rpcs;
}

function ok(r: StepResult): void {
  if (r.code !== 0 || r.errors.length > 0) throw new Error(`step failed: ${describeStep(r)}`);
}

/** What @actions/glob's hashFiles gives for one file: sha256 over the file's sha256 digest. */
function hashOneFile(content: string): string {
  return createHash('sha256').update(createHash('sha256').update(content).digest()).digest('hex');
}

// Started at once: mkstore.sh takes ~20 s, during which the bad-input tests run.
let guixReady: Promise<{ root: string; items: string[] }> | undefined;

describeWith([asRoot(), probe('GNU tar', 'tar'), probe('zstd', 'zstd'), probe('sqlite3', 'sqlite3', ['-version']), probe('scripts/mkstore.sh', 'test', ['-r', MKSTORE])])(
  'store snapshots through dist/',
  () => {
    beforeAll(async () => {
      const root = path.join(tempDir('runbox-action-mkstore-'), 'root');
      guixReady = mkstoreGuix(root, 30).then((s) => ({ root, items: s.items }));
      guixReady.catch(() => undefined); // reported by the test that awaits it
      server = await startCacheServerProcess();
    });

    afterAll(async () => {
      await guixReady?.catch(() => undefined);
      await server?.stop();
      for (const j of jobs) j.cleanup();
      removeTempDirs();
    });

    // ------------------------------------------------------------------------------------------
    describe('bad store inputs fail main, naming the input, before anything changes', () => {
      const cases: Array<{ name: string; inputs: Record<string, string>; message: RegExp }> = [
        { name: 'relative store path', inputs: { 'store-paths': 'gnu/store' }, message: /Input 'store-paths': 'gnu\/store' is not an absolute path/ },
        { name: '/ as a store path', inputs: { 'store-paths': '/gnu/store\n/' }, message: /Input 'store-paths': '\/' is the root directory/ },
        { name: 'key over 512 characters', inputs: { key: 'k'.repeat(513) }, message: /Input 'key': 'k{60}\.\.\.': it is 513 characters long, more than the 512/ },
        { name: 'key with a comma', inputs: { key: 'runbox,guix' }, message: /Input 'key': 'runbox,guix': it contains a comma/ },
        { name: 'restore key with a comma', inputs: { key: 'k', 'restore-keys': 'a,b' }, message: /Input 'restore-keys': 'a,b': it contains a comma/ },
        {
          name: 'more than 10 keys',
          inputs: { key: 'k', 'restore-keys': Array.from({ length: 10 }, (_, i) => `r${i}-`).join('\n') },
          message: /Input 'restore-keys': 10 restore keys plus the key make 11 keys/
        }
      ];

      test.each(cases)('$name', async (c) => {
        const root = tempDir('runbox-action-badinput-');
        buildGuixLayout(root);
        const marker = path.join(root, 'daemon-touched');
        const j = job({ storeRoot: root });
        const jobBefore = snapshotTree(j.root).filter((l) => !l.startsWith('files'));
        const storeBefore = contentManifest(root);
        const rpcsBefore = await rpcs();
        const r = await j.main({ store: 'guix', 'daemon-stop': `touch ${q(marker)}`, 'daemon-start': `touch ${q(marker)}`, ...c.inputs });
        expect(r.code).not.toBe(0);
        expect(r.errors.join('\n')).toMatch(c.message);
        expect(snapshotTree(j.root).filter((l) => !l.startsWith('files'))).toEqual(jobBefore);
        expect(contentManifest(root)).toEqual(storeBefore);
        expect(fs.existsSync(marker)).toBe(false);
        expect(await rpcs()).toBe(rpcsBefore);
        // post after a refused main has nothing to save or tear down, and says so without failing.
        const p = await j.post();
        expect({ code: p.code, errors: p.errors }).toEqual({ code: 0, errors: [] });
        expect(contentManifest(root)).toEqual(storeBefore);
      });
    });

    // ------------------------------------------------------------------------------------------
    describe('a Guix-like store from mkstore.sh under RUNBOX_STORE_ROOT', () => {
      const INPUTS = { store: 'guix', daemon: 'none' };

      /** gnu/store manifests of the round trip: before the save, after run B's and run C's restores. */
      const roundTrip: { before: string[]; afterB: string[]; afterC: string[] } = { before: [], afterB: [], afterC: [] };
      /** Directory mtimes replaced by `*` (checked on their own, in the test after the round trip). */
      const dirMtimesAside = (lines: string[]): string[] => lines.map((l) => l.replace(/ d (\d+) (\d+) (\d+) \S+ /, ' d $1 $2 $3 * '));

      /** The DB dir minus the live DB file (created from the registrations): nothing else of it is carried. */
      const dbDirManifest = (root: string): string[] => itemsView(path.join(root, 'var/guix/db')).filter((l) => !/^db\.sqlite/.test(l));

      test('miss -> save -> exact hit on another runner (no upload) -> restore-key hit; every item with canonical metadata and the DB identical after each restore', async () => {
        if (!guixReady) throw new Error('mkstore.sh was not started');
        const { root, items } = await guixReady;
        expect(items.length).toBeGreaterThan(20);
        const workflow = `# runbox e2e guix ${tag}\non: push\n`;

        // Run A: a miss with the composed key, every part of it logged in a group.
        const a = job({ storeRoot: root, workflow });
        const ma = await a.main(INPUTS);
        ok(ma);
        const hash = hashOneFile(workflow);
        const key = `runbox-guix-${process.platform}-${process.arch}-${hash}`;
        expect(ma.outputs).toMatchObject({ 'cache-hit': 'false', 'cache-matched-key': '', 'cache-primary-key': key });
        const group = ma.stdout.split('::group::runbox store: cache key\n')[1]?.split('::endgroup::')[0] ?? '';
        for (const line of [
          'prefix: runbox (fixed)',
          "store: guix (the 'store' input)",
          `os: ${process.platform} (the runner OS)`,
          `arch: ${process.arch} (the runner architecture)`,
          'version: (none)',
          `files: ${hash} (sha256 of workflow file .github/workflows/ci.yml)`,
          `key: ${key}`,
          `restore keys: runbox-guix-${process.platform}-${process.arch}- (default: the key without its last part)`
        ])
          expect(group).toContain(line);
        expect(ma.summary).toContain(`miss: nothing restored for ${key}`);
        expect(stagingLeft(a)).toEqual([]);
        expect(tempBytes(a)).toBeLessThan(4096);

        const storeBefore = treeManifest(path.join(root, 'gnu/store'));
        const groupsBefore = linkGroups(path.join(root, 'gnu/store'));
        const canonicalBefore = itemsView(path.join(root, 'gnu/store'), true);
        const dbBefore = dbContents(path.join(root, 'var/guix/db/db.sqlite'));
        expect(storeBefore.filter((l) => / f \d+ \d+ \d+ \S+ [2-9] /.test(l)).length).toBeGreaterThan(10); // .links hard links
        expect(storeBefore.some((l) => / 30001 30002 /.test(l))).toBe(true);
        expect(storeBefore.some((l) => / 1234567890\.1234567890 /.test(l))).toBe(true); // sub-second mtime
        const up0 = await uploads();
        const pa = await a.post();
        ok(pa);
        expect(pa.summary).toMatch(new RegExp(`saved ${key}, a full snapshot \\(no delta: main restored nothing to build on\\): [0-9.]+ MiB compressed.*\\(${items.length} registrations\\)`));
        expect(pa.summary).toMatch(/store save time<\/td><td>DB read [0-9.]+ s, archive [0-9.]+ s, upload [0-9.]+ s/);
        expect(await uploads()).toBe(up0 + 1);
        expect((await server.stats()).entries).toContainEqual(expect.objectContaining({ key, finalized: true }));
        expect(stagingLeft(a)).toEqual([]);
        expect(tempBytes(a)).toBeLessThan(4096);

        // Run B: the store wiped; another runner (own RUNNER_TEMP and workspace path) restores it exactly.
        wipe(root, ['gnu/store', 'var/guix/db']);
        const b = job({ storeRoot: root, workflow });
        expect(b.runnerTemp).not.toBe(a.runnerTemp);
        expect(b.workspace).not.toBe(a.workspace);
        const mb = await b.main(INPUTS);
        ok(mb);
        expect(mb.warnings).toEqual([]);
        expect(mb.outputs).toMatchObject({ 'cache-hit': 'true', 'cache-matched-key': key, 'cache-primary-key': key });
        expect(mb.summary).toMatch(new RegExp(`restored ${key} \\(exact hit\\): [0-9.]+ MiB compressed`));
        expect(mb.summary).toMatch(
          /store restore time<\/td><td>index \+ manifest [0-9.]+ s, download \+ check \+ extract [0-9.]+ s \(one streamed pass, into a private dir\), move in [0-9.]+ s, DB [0-9.]+ s/
        );
        roundTrip.before = canonicalBefore;
        roundTrip.afterB = itemsView(path.join(root, 'gnu/store'));
        expect(dirMtimesAside(roundTrip.afterB)).toEqual(dirMtimesAside(canonicalBefore));
        expect(fs.existsSync(path.join(root, 'gnu/store/.links'))).toBe(false);
        // Names of one file in the source are one file again where they went into the same shard.
        const groupsB = linkGroups(path.join(root, 'gnu/store'));
        for (const g of groupsB) expect(groupsBefore.some((w) => g.every((n) => w.includes(n)))).toBe(true);
        expect(groupsB.length > 0).toBe(groupsBefore.length > 0);
        expect(dbDirManifest(root)).toEqual([]); // the DB dir is never archived: it holds only the DB runbox created
        expect(dbContents(path.join(root, 'var/guix/db/db.sqlite'))).toEqual(dbBefore);
        expect(stagingLeft(b)).toEqual([]);
        expect(tempBytes(b)).toBeLessThan(4096);
        const pb = await b.post();
        ok(pb);
        expect(pb.summary).toContain(`not saved: main restored ${key} exactly (save: auto)`);
        expect(await uploads()).toBe(up0 + 1);
        expect(stagingLeft(b)).toEqual([]);
        expect(tempBytes(b)).toBeLessThan(4096);

        // Run C: the workflow changed, so the key did; the default restore key finds the old entry.
        const rootC = tempDir('runbox-action-guix-c-');
        const c = job({ storeRoot: rootC, workflow: `${workflow}# changed\n` });
        const mc = await c.main(INPUTS);
        ok(mc);
        const keyC = mc.outputs['cache-primary-key'];
        expect(keyC).not.toBe(key);
        expect(keyC.startsWith(`runbox-guix-${process.platform}-${process.arch}-`)).toBe(true);
        expect(mc.outputs).toMatchObject({ 'cache-hit': 'false', 'cache-matched-key': key });
        expect(mc.summary).toContain(`restored ${key} (restore-key hit)`);
        roundTrip.afterC = itemsView(path.join(rootC, 'gnu/store'));
        expect(dirMtimesAside(roundTrip.afterC)).toEqual(dirMtimesAside(canonicalBefore));
        expect(dbContents(path.join(rootC, 'var/guix/db/db.sqlite'))).toEqual(dbBefore);
        const pc = await c.post();
        ok(pc);
        expect(pc.summary).toContain(`saved ${keyC}`);
        expect(await uploads()).toBe(up0 + 2);
        expect((await server.stats()).entries).toContainEqual(expect.objectContaining({ key: keyC, finalized: true }));
        expect(stagingLeft(c)).toEqual([]);
        expect(tempBytes(c)).toBeLessThan(4096);
      });

      // Directory mtimes on their own, so a failure here does not hide the rest of the round trip.
      // A sharded snapshot (mkstore's store splits in 2 on a 2-core host) is where they break: the
      // shard member lists once were sorted by plain byte order, which puts `.../loaders.cache`
      // between `.../loaders` and `.../loaders/x.so`; tar (fed the list, --no-recursion) then set
      // `loaders`' recorded mtime on leaving it and bumped it again creating `loaders/x.so`, so
      // `gdk-pixbuf-2.0/2.10.0/loaders` and `gtk-2.0/2.10.0/immodules` came back with the restore
      // time. Fixed by sorting component-wise (src/store/shards.ts treeOrder); this guards it.
      test('the round trip above restores directory mtimes exactly too', () => {
        expect(roundTrip.before.length).toBeGreaterThan(0);
        expect(roundTrip.afterB).toEqual(roundTrip.before);
        expect(roundTrip.afterC).toEqual(roundTrip.before);
      });

      test('restore is additive: items already in the store, one of them with other content, stay untouched; an item sharing a file with one of them is restored through a link anchor', async () => {
        const key = `additive_${tag}`;
        const src = tempDir('runbox-action-additive-src-');
        const { items } = buildGuixLayout(src);
        const s = job({ storeRoot: src });
        ok(await s.main({ ...INPUTS, key }));
        ok(await s.post());

        // The target store: `hello` under the same name with other content, plus an item of its own.
        const root = tempDir('runbox-action-additive-');
        const local = `/gnu/store/${itemName(`local-only-${tag}`)}`;
        const r = (p: string): string => q(path.join(root, p));
        sh(`
        mkdir -p ${r(items.hello + '/bin')} ${r(local)} ${r('var/guix/db')}
        chmod 1775 ${r('gnu/store')}
        printf '#!/bin/sh\\necho local hello\\n' > ${r(items.hello + '/bin/hello')}
        printf 'local only\\n' > ${r(local + '/file')}
        chown 30003:30004 ${r(local + '/file')}
        find ${r('gnu/store')} -mindepth 1 -exec touch -h -d @7 {} +
        chmod -R a-w ${r(items.hello)} ${r(local)}
      `);
        const db = path.join(root, 'var/guix/db/db.sqlite');
        sqliteInput(db, GUIX_SCHEMA);
        registerPaths(db, [items.hello, local]);
        const rowsBefore = sqliteInput(db, `SELECT id, path, hash, registrationTime FROM ValidPaths ORDER BY id;\n`);
        const helloBefore = contentManifest(path.join(root, items.hello));
        const localBefore = contentManifest(path.join(root, local));

        const t = job({ storeRoot: root });
        const m = await t.main({ ...INPUTS, key });
        ok(m);
        expect(m.outputs).toMatchObject({ 'cache-hit': 'true', 'cache-matched-key': key });
        // libfoo's COPYING is, in the snapshot, a hard link to hello's (one file through .links in
        // the source), and hello is the store's own: hello's COPYING was written from the snapshot
        // into the private dir as a link anchor, libfoo linked to it and moved in; the anchor went
        // with the private dir (libfoo's COPYING has one name), hello on disk untouched.
        expect(m.summary).not.toContain('not restored');
        expect(m.summary).toContain('DB: 3 paths registered, 1 already valid');
        const copying = path.join(root, items.lib, 'lib/COPYING');
        expect(fs.readFileSync(copying)).toEqual(fs.readFileSync(path.join(src, items.hello, 'share/doc/hello/COPYING')));
        expect(sh(`stat -c '%h %a %u %g %Y' ${q(copying)}`).stdout).toBe('1 444 0 0 1\n');
        expect(contentManifest(path.join(root, items.hello))).toEqual(helloBefore);
        expect(fs.readFileSync(path.join(root, items.hello, 'bin/hello'), 'utf8')).toBe('#!/bin/sh\necho local hello\n');
        expect(contentManifest(path.join(root, local))).toEqual(localBefore);
        // The snapshot's other items arrive with the store's canonical metadata.
        const item = (r0: string, it: string, canonical: boolean): string[] => itemsView(path.join(r0, 'gnu/store'), canonical).filter((l) => l.startsWith(path.basename(it)));
        for (const it of [items.profile, items.drv, items.lib]) expect(item(root, it, false)).toEqual(item(src, it, true));
        // The DB knows both: the rows that were there unchanged, the restored ones added.
        expect(sqliteInput(db, `SELECT id, path, hash, registrationTime FROM ValidPaths WHERE path IN ('${items.hello}', '${local}') ORDER BY id;\n`)).toBe(rowsBefore);
        expect(dbContents(db).paths).toEqual([items.hello, items.profile, items.drv, items.lib, local].sort());
        ok(await t.post());
        expect(stagingLeft(t)).toEqual([]);
      });

      test('three jobs restoring one snapshot at once on a host without a DB: all items registered, one DB, no journal left', async () => {
        const key = `concurrent_${tag}`;
        const src = tempDir('runbox-action-concurrent-src-');
        buildGuixLayout(src);
        const s = job({ storeRoot: src });
        ok(await s.main({ ...INPUTS, key }));
        ok(await s.post());
        for (let round = 0; round < 3; round++) {
          const root = tempDir('runbox-action-concurrent-');
          const js = [0, 1, 2].map(() => job({ storeRoot: root }));
          const ms = await Promise.all(js.map((j) => j.main({ ...INPUTS, key })));
          for (const m of ms) {
            ok(m);
            expect(m.warnings).toEqual([]);
            expect(m.outputs).toMatchObject({ 'cache-hit': 'true', 'cache-matched-key': key });
          }
          // Whoever moved an item in registered it; the others found it on disk (and maybe valid).
          expect(dbContents(path.join(root, 'var/guix/db/db.sqlite'))).toEqual(dbContents(path.join(src, 'var/guix/db/db.sqlite')));
          expect(fs.readdirSync(path.join(root, 'var/guix/db')).filter((n) => !/^db\.sqlite-(wal|shm)$/.test(n))).toEqual(['db.sqlite']);
          for (const j of js) ok(await j.post());
        }
      });
    });
  }
);
