// Delta saves (issue 5): post uploads only the new items plus the DB when main restored a
// snapshot under another key and few items are new; restore fetches base and delta. Driven
// through the built action (`node dist/main.js`, then `node dist/post.js`) against the loopback
// cache service, with real tar/zstd/sqlite3 and store roots under temp dirs. The malicious
// deltas are applied in-process (applySnapshot), as an attacker's upload would be.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { InputError } from '../src/common/errors.js';
import { inputsFrom } from '../src/action/input-source.js';
import { createSnapshot } from '../src/store/archive.js';
import { parseStoreConfig } from '../src/store/config.js';
import { storeStateFrom } from '../src/store/state.js';
import { readManifest } from '../src/store/manifest.js';
import { applySnapshot } from '../src/store/restore.js';
import { FakeJob, type StepResult } from './helpers/action-runner.js';
import { asRoot, describeWith, probe } from './helpers/prereq.js';
import { mountTmpfs } from './helpers/tmpfs.js';
import { startCacheServerProcess, type CacheServer } from './fixtures/cache.js';
import { buildGuixLayout, dbContents, itemName, itemsView, q, registerPaths, rejection, removeTempDirs, sh, tempDir, treeManifest } from './fixtures/store.js';

const STORE_PATHS = ['/gnu/store', '/var/guix/db'];
const DB_DIR = '/var/guix/db';
const PREFIX = 'delta-test-';

let server: CacheServer;
const jobs: FakeJob[] = [];

/** Adds store items (16 KiB of random data each, one file hard-linked into .links, as the daemon's
 * optimiser leaves them), registered in the DB. */
function addItems(root: string, names: string[], refTo?: string): string[] {
  const items = names.map((n) => `/gnu/store/${itemName(n)}`);
  const base = items.map((i) => path.basename(i));
  sh(`
    cd ${q(path.join(root, 'gnu/store'))}
    mkdir -p .links
    for i in ${base.join(' ')}; do
      mkdir -p $i/share
      head -c 16384 /dev/urandom > $i/share/data
      printf 'text shared by %s\\n' "$i" > $i/share/linked
      sum=$(sha256sum $i/share/linked | cut -c1-52)
      ln $i/share/linked .links/$sum
      find $i -exec touch -h -d @1 {} +
      chmod -R a-w $i
    done
  `);
  registerPaths(path.join(root, 'var/guix/db/db.sqlite'), items, refTo ? items.map((i): [string, string] => [i, refTo]) : []);
  return items;
}

/** The fixture store plus `n` more items, so that one or two new items are under 5%. */
function buildStore(root: string, n: number): ReturnType<typeof buildGuixLayout> {
  const layout = buildGuixLayout(root);
  addItems(
    root,
    Array.from({ length: n }, (_, i) => `pkg-${String(i).padStart(3, '0')}`),
    layout.items.lib
  );
  return layout;
}

/**
 * Restored store paths without the store dirs and their parents (made by the restore, mtime
 * when) and the live DB (compared by content), and without directory sizes (a dir's blocks
 * depend on its history, not its entries).
 */
function restored(root: string): string[] {
  return treeManifest(root)
    .filter((l) => !/^(|gnu|gnu\/store|var|var\/guix|var\/guix\/db|var\/guix\/db\/db\.sqlite) /.test(l))
    .map((l) => l.replace(/^(\S+ d \S+ \S+ \S+ \S+ \S+) \d+/, '$1 -'));
}

function job(root: string): FakeJob {
  const j = new FakeJob({
    env: { ACTIONS_CACHE_SERVICE_V2: 'true', ACTIONS_RESULTS_URL: server.url, ACTIONS_RUNTIME_TOKEN: 'dummy', RUNBOX_STORE_ROOT: root, GITHUB_SERVER_URL: undefined }
  });
  jobs.push(j);
  return j;
}

const inputs = (key: string, extra: Record<string, string> = {}) => ({ store: 'guix', daemon: 'none', key, 'restore-keys': PREFIX, ...extra });

function ok(r: StepResult, what: string, allowWarnings = false): StepResult {
  if (r.code !== 0 || (!allowWarnings && r.warnings.length > 0)) throw new Error(`${what}: exit ${r.code}, warnings ${JSON.stringify(r.warnings)}\n${r.stdout.slice(-4000)}\n${r.stderr.slice(-2000)}`);
  return r;
}

async function entrySize(key: string): Promise<number> {
  const e = (await server.stats()).entries.find((x) => x.key === key && x.finalized);
  if (!e) throw new Error(`no entry ${key}`);
  return e.size;
}

test('the delta input: auto by default, off, anything else refused naming the input; state from an older main means auto without a base', () => {
  const parse = (delta?: string) => parseStoreConfig(inputsFrom({ store: 'guix', ...(delta === undefined ? {} : { delta }) }), {})?.delta;
  expect(parse()).toBe('auto');
  expect(parse('off')).toBe('off');
  expect(() => parse('always')).toThrow(InputError);
  expect(() => parse('always')).toThrow(/delta/);
  const old = { version: 1, kind: 'guix', root: '/', storePaths: ['/gnu/store'], dbDir: '', stagingBase: '/tmp', save: 'auto', primaryKey: 'k', matchedKey: 'j', exactHit: false, toolVersion: '' };
  const s = storeStateFrom(old);
  expect(s.delta).toBe('auto');
  expect(s.base).toBeUndefined();
  expect(() => storeStateFrom({ ...old, base: { key: 'j' } })).toThrow(/base/);
});

describeWith([probe('GNU tar', 'tar'), probe('zstd', 'zstd'), probe('sqlite3', 'sqlite3', ['-version']), asRoot()])('delta saves', () => {
  beforeAll(async () => {
    server = await startCacheServerProcess();
  });
  afterAll(async () => {
    await server.stop();
    for (const j of jobs) j.cleanup();
    removeTempDirs();
  });

  test('few new items: post saves a delta (<= 10% of the full upload); restoring it gives the tree and DB a full snapshot gives', async () => {
    // A: a miss, a full snapshot.
    const rA = tempDir();
    const layout = buildStore(rA, 40);
    const a = job(rA);
    ok(await a.main(inputs(`${PREFIX}1`)), 'A main');
    const pa = ok(await a.post(), 'A post');
    expect(pa.summary).toMatch(/a full snapshot \(no delta: main restored nothing to build on\)/);
    const full = await entrySize(`${PREFIX}1`);

    // B: a restore-key hit on the full snapshot, one new item: a delta.
    const rB = tempDir();
    const b = job(rB);
    const mb = ok(await b.main(inputs(`${PREFIX}2`)), 'B main');
    expect(mb.outputs).toMatchObject({ 'cache-matched-key': `${PREFIX}1`, 'cache-hit': 'false' });
    const fresh = addItems(rB, ['newpkg-1'], layout.items.hello);
    const pb = ok(await b.post(), 'B post');
    expect(pb.summary).toMatch(new RegExp(`saved ${PREFIX}2, a delta over ${PREFIX}1 \\(1 new of 45 items`));
    const delta = await entrySize(`${PREFIX}2`);
    expect(delta).toBeLessThanOrEqual(0.1 * full);
    // No runner-owned leftovers: the base item list is gone with post.
    expect(fs.readdirSync(b.runnerTemp).filter((n) => n.startsWith('runbox-'))).toEqual([]);

    // C: an exact hit on the delta: base and delta fetched, applied together.
    const rC = tempDir();
    const c = job(rC);
    const downloads = (await server.stats()).downloads;
    const mc = ok(await c.main(inputs(`${PREFIX}2`)), 'C main');
    expect(mc.outputs).toMatchObject({ 'cache-matched-key': `${PREFIX}2`, 'cache-hit': 'true' });
    expect(mc.summary).toMatch(new RegExp(`a delta over ${PREFIX}1, fetched too`));
    expect((await server.stats()).downloads - downloads).toBe(2);
    // rB's new item has its .links name (left out of snapshots); restored, it is a canonical copy with one name.
    expect(itemsView(path.join(rC, 'gnu/store'))).toEqual(itemsView(path.join(rB, 'gnu/store'), true));
    expect(dbContents(path.join(rC, 'var/guix/db/db.sqlite'))).toEqual(dbContents(path.join(rB, 'var/guix/db/db.sqlite')));
    expect(dbContents(path.join(rC, 'var/guix/db/db.sqlite')).paths).toEqual(expect.arrayContaining(fresh));
    const uploads = (await server.stats()).uploads;
    ok(await c.post(), 'C post');
    expect((await server.stats()).uploads).toBe(uploads);

    // The same store saved whole (delta: off) and restored: the same tree and DB as base + delta.
    const f = job(rB);
    ok(await f.main(inputs(`${PREFIX}2-full`, { delta: 'off' })), 'F main');
    expect((await f.post()).summary).toMatch(/a full snapshot \(no delta: delta: off\)/);
    const rG = tempDir();
    ok(await job(rG).main(inputs(`${PREFIX}2-full`)), 'G main');
    expect(restored(rC)).toEqual(restored(rG));
    expect(dbContents(path.join(rC, 'var/guix/db/db.sqlite'))).toEqual(dbContents(path.join(rG, 'var/guix/db/db.sqlite')));

    // H: 5 new items of 50 (more than 5%; the DB dir holds no items): a full snapshot.
    const rH = tempDir();
    const h = job(rH);
    expect(ok(await h.main(inputs(`${PREFIX}3`)), 'H main').outputs['cache-matched-key']).toBe(`${PREFIX}2-full`);
    addItems(rH, ['many-1', 'many-2', 'many-3', 'many-4', 'many-5'], layout.items.lib);
    expect(ok(await h.post(), 'H post').summary).toMatch(/saved delta-test-3, a full snapshot \(no delta: 5 of 50 items are new/);
    expect(await entrySize(`${PREFIX}3`)).toBeGreaterThan(full);
  }, 600_000);

  test('a delta whose base was evicted: a warning naming the base, then the restore keys as on a miss', async () => {
    // J: a delta over the newest full snapshot (delta-test-3), then that base is evicted.
    const rJ = tempDir();
    const j = job(rJ);
    expect(ok(await j.main(inputs(`${PREFIX}4`)), 'J main').outputs['cache-matched-key']).toBe(`${PREFIX}3`);
    addItems(rJ, ['late-1'], undefined);
    expect(ok(await j.post(), 'J post').summary).toMatch(new RegExp(`a delta over ${PREFIX}3`));
    expect(await server.evict(`${PREFIX}3`)).toBe(1);

    // D: the restore key finds the delta (the newest), its base is gone: a miss, post saves full.
    const rD = tempDir();
    const d = job(rD);
    const md = ok(await d.main(inputs(`${PREFIX}5`)), 'D main', true);
    expect(md.warnings).toEqual([
      expect.stringMatching(new RegExp(`${PREFIX}4 is a delta snapshot over ${PREFIX}3, which could not be fetched.*continuing as on a cache miss`)),
      // Nothing restored onto a host without a store (this job builds one before its post).
      expect.stringMatching(/\/gnu\/store, \/var\/guix\/db do not exist on this host and nothing was restored into them: unless a later step of this job installs Guix/)
    ]);
    expect(md.outputs).toMatchObject({ 'cache-matched-key': '', 'cache-hit': 'false' });
    expect(md.summary).toMatch(/miss: nothing restored/);
    expect(fs.existsSync(path.join(rD, 'gnu'))).toBe(false);
    buildStore(rD, 2);
    expect(ok(await d.post(), 'D post').summary).toMatch(/saved delta-test-5, a full snapshot/);

    // E: the delta matches the key exactly, its base is gone: the restore keys are looked up
    // and find the newest full snapshot.
    const rE = tempDir();
    const me = ok(await job(rE).main(inputs(`${PREFIX}4`)), 'E main', true);
    expect(me.warnings).toEqual([expect.stringMatching(new RegExp(`${PREFIX}4 is a delta snapshot over ${PREFIX}3, which could not be fetched.*looking up the restore keys \\(${PREFIX}\\)`))]);
    expect(me.outputs).toMatchObject({ 'cache-matched-key': `${PREFIX}5`, 'cache-hit': 'false' });
    expect(itemsView(path.join(rE, 'gnu/store'))).toEqual(itemsView(path.join(rD, 'gnu/store'), true));
  }, 300_000);

  test('a delta whose base is bigger than RUNNER_TEMP: restored, as the frames are streamed and never staged there', async () => {
    const tiny = mountTmpfs('runbox-delta-tiny', 256 * 1024);
    if (!tiny.prereq.ok) throw new Error(tiny.prereq.reason);
    try {
      const P = 'space-test-';
      const spaceInputs = (key: string) => inputs(key, { 'restore-keys': P });
      const rA = tempDir();
      buildStore(rA, 40);
      const a = job(rA);
      ok(await a.main(spaceInputs(`${P}1`)), 'A main');
      ok(await a.post(), 'A post');
      const rB = tempDir();
      const b = job(rB);
      ok(await b.main(spaceInputs(`${P}2`)), 'B main');
      addItems(rB, ['late-space'], undefined);
      expect(ok(await b.post(), 'B post').summary).toMatch(new RegExp(`a delta over ${P}1`));

      // C: a 256 KiB RUNNER_TEMP; the base's ~800 KiB of frames go straight into the private dir.
      const rC = tempDir();
      const c = new FakeJob({
        env: { ACTIONS_CACHE_SERVICE_V2: 'true', ACTIONS_RESULTS_URL: server.url, ACTIONS_RUNTIME_TOKEN: 'dummy', RUNBOX_STORE_ROOT: rC, GITHUB_SERVER_URL: undefined, RUNNER_TEMP: tiny.dir }
      });
      jobs.push(c);
      const mc = ok(await c.main({ ...spaceInputs(`${P}2`), 'base-dir': path.join(c.root, 'b') }), 'C main');
      expect(mc.warnings).toEqual([]);
      expect(mc.outputs).toMatchObject({ 'cache-matched-key': `${P}2` });
      expect(mc.summary).toMatch(new RegExp(`restored ${P}2 .*a delta over ${P}1, fetched too`));
      expect(itemsView(path.join(rC, 'gnu/store'))).toEqual(itemsView(path.join(rB, 'gnu/store'), true));
      ok(await c.post(), 'C post', true);
    } finally {
      tiny.unmount();
    }
  }, 300_000);
});

// ---- malicious deltas, applied in-process -----------------------------------------------------

async function fullSnapshot(root: string): Promise<string> {
  const staging = tempDir('runbox-store-staging-');
  const snapshotDir = path.join(staging, 'runbox-snapshot');
  fs.mkdirSync(snapshotDir);
  fs.mkdirSync(path.join(staging, 'scratch'));
  await createSnapshot({ root, kind: 'guix', storePaths: STORE_PATHS, dbDir: DB_DIR, snapshotDir, scratchDir: path.join(staging, 'scratch'), shards: 1 });
  return snapshotDir;
}

/** A delta around a hand-made tar with a correct manifest: what an attacker can upload. */
function forgeDelta(dir: string, tar: string, manifest: Record<string, unknown> = {}): string {
  fs.mkdirSync(dir, { recursive: true });
  sh(`zstd -q -c ${q(tar)} > ${q(path.join(dir, 'delta.tar.zst'))}`);
  const sha256 = sh(`sha256sum ${q(path.join(dir, 'delta.tar.zst'))} | cut -d' ' -f1`).stdout.trim();
  const archives = [{ file: 'delta.tar.zst', sha256, bytes: fs.statSync(path.join(dir, 'delta.tar.zst')).size, compression: 'zstd', storePaths: STORE_PATHS, dataBytes: fs.statSync(tar).size }];
  fs.writeFileSync(
    path.join(dir, 'manifest.json'),
    JSON.stringify({ format: 'runbox-store-snapshot', version: 4, kind: 'guix', createdAt: '', storePaths: STORE_PATHS, archives, base: { key: 'k-base' }, ...manifest })
  );
  return dir;
}

function apply(root: string, snapshotDir: string, baseDir?: string): ReturnType<typeof applySnapshot> {
  return applySnapshot({
    root,
    kind: 'guix',
    storePaths: STORE_PATHS,
    dbDir: DB_DIR,
    daemon: { kind: 'none' },
    snapshotDir,
    ...(baseDir ? { baseDir } : {}),
    scratchDir: tempDir('runbox-store-scratch-')
  });
}

describeWith([probe('GNU tar', 'tar'), probe('zstd', 'zstd'), probe('sqlite3', 'sqlite3', ['-version']), asRoot()])('malicious deltas', () => {
  afterAll(removeTempDirs);

  test('a delta that overlaps its base, escapes the store paths or writes through a base symlink is refused whole, nothing written', async () => {
    const src = tempDir();
    const layout = buildGuixLayout(src);
    const outside = tempDir('runbox-outside-');
    const evil = itemName('evil');
    const base = await fullSnapshot(src);
    const hello = path.basename(layout.items.hello);
    const profile = path.basename(layout.items.profile);
    const w = tempDir();
    sh(`
      cd ${q(w)}
      mkdir -p over/gnu/store/${hello}/bin && echo trojan > over/gnu/store/${hello}/bin/hello
      tar -C over -cf over.tar gnu/store
      mkdir -p through/gnu/store/${profile} && echo pwned > through/gnu/store/${profile}/pwned
      tar -C through -cf through.tar gnu/store
      echo evil > evil-file && tar -cPf abs.tar ${q(path.join(w, 'evil-file'))}
      mkdir -p links/gnu/store/.links/sub && echo x > links/gnu/store/.links/sub/x && mkdir -p links/gnu/store/${evil} && echo ok > links/gnu/store/${evil}/f
      tar -C links -cf links.tar gnu/store
      mkdir -p good/gnu/store/${evil} && echo ok > good/gnu/store/${evil}/f
      tar -C good -cf good.tar gnu/store
    `);
    const target = tempDir();
    // An item the base holds, shipped again with other content.
    expect(await rejection(apply(target, forgeDelta(path.join(w, 's1'), path.join(w, 'over.tar')), base))).toMatch(
      /UnsafeArchiveError: .*hello-2\.12' (is a store item in two archives|is held by archive 1, but the manifest lists it in archive 0)/
    );
    // Into the base's top-level symlink (profile -> hello): an item in two archives, and a write through a symlink.
    expect(await rejection(apply(target, forgeDelta(path.join(w, 's2'), path.join(w, 'through.tar')), base))).toMatch(
      /UnsafeArchiveError: .*(two archives|symlink|but the manifest lists it in archive 0)/
    );
    // Outside the store paths.
    expect(await rejection(apply(target, forgeDelta(path.join(w, 's3'), path.join(w, 'abs.tar')), base))).toMatch(/UnsafeArchiveError: .*absolute/);
    // A dot-dir, which a snapshot never holds.
    expect(await rejection(apply(target, forgeDelta(path.join(w, 's4'), path.join(w, 'links.tar')), base))).toMatch(/UnsafeArchiveError: .*a dot-entry of the store dir/);
    // A base that is itself a delta: chains are refused.
    const deltaAsBase = forgeDelta(path.join(w, 's5'), path.join(w, 'good.tar'));
    expect(await rejection(apply(target, forgeDelta(path.join(w, 's6'), path.join(w, 'good.tar')), deltaAsBase))).toMatch(/ManifestError: .*itself a delta/);
    // A delta without its base, and a full snapshot claiming a base.
    expect(await rejection(apply(target, forgeDelta(path.join(w, 's7'), path.join(w, 'good.tar'))))).toMatch(/ManifestError: .*that base was not fetched/);
    expect(await rejection(apply(target, forgeDelta(path.join(w, 's8'), path.join(w, 'good.tar'), { version: 3 }), base))).toMatch(/ManifestError: .*cannot name a base/);
    expect(await rejection(apply(target, forgeDelta(path.join(w, 's9'), path.join(w, 'good.tar'), { base: undefined }), base))).toMatch(/ManifestError: .*names no base/);
    expect(fs.readdirSync(target)).toEqual([]);
    expect(fs.readdirSync(outside)).toEqual([]);

    // The well-formed delta over the same base applies: the base's items plus its own.
    const r = await apply(target, forgeDelta(path.join(w, 'ok'), path.join(w, 'good.tar')), base);
    expect(r.deltaOf).toBe('k-base');
    expect(fs.readFileSync(path.join(target, 'gnu/store', evil, 'f'), 'utf8')).toBe('ok\n');
    expect(itemsView(path.join(target, 'gnu/store')).filter((l) => l.startsWith(hello))).toEqual(itemsView(path.join(src, 'gnu/store'), true).filter((l) => l.startsWith(hello)));
    expect(readManifest(base, { kind: 'guix', storePaths: STORE_PATHS, dbDir: DB_DIR }).version).toBe(3);
  });
  test("a taken-over tar of the delta cannot change its base's files: each entry has its own tree, writable by its own tars only", async () => {
    const src = tempDir();
    const layout = buildGuixLayout(src);
    const base = await fullSnapshot(src);
    const hello = path.basename(layout.items.hello);
    const fresh = itemName('fresh');
    const w = tempDir();
    sh(`cd ${q(w)} && mkdir -p d/gnu/store/${fresh} && echo fresh > d/gnu/store/${fresh}/f && tar -C d -cf delta.tar gnu/store`);
    // tar on PATH: extracting, it first takes its whole stream, extracts it, then, if the stream
    // is the delta's (it names the fresh item), spends 5 s trying to rewrite the base's files
    // (same size, mode and mtime, so only their data differs) wherever it can reach them.
    const bin = tempDir('runbox-delta-bin-');
    fs.chmodSync(bin, 0o755);
    const realTar = sh('command -v tar').stdout.trim();
    fs.writeFileSync(
      path.join(bin, 'tar'),
      `#!/bin/sh
case " $* " in *" -x "*) ;; *) exec ${q(realTar)} "$@" ;; esac
# Its own name: two tars of one entry share its tree, and each is pid 1 of its namespace.
s=$(mktemp .taken-over-XXXXXX)
cat > "$s"
${q(realTar)} "$@" < "$s"
st=$?
if grep -q ${q(fresh)} "$s"; then
  for i in $(seq 50); do
    for f in $(find . .. "$PWD/.." -path "*${hello}*" -type f 2>/dev/null); do
      [ "$(stat -c %s "$f")" -ge 5 ] || continue
      m=$(stat -c %a "$f")
      chmod u+w "$f" 2>/dev/null && printf PWNED | dd of="$f" conv=notrunc status=none 2>/dev/null && touch -d @1 "$f" && chmod "$m" "$f" && done=1
    done
    [ -n "\${done:-}" ] && break
    sleep 0.1
  done
fi
rm -f "$s"
exit $st
`,
      { mode: 0o755 }
    );
    const target = tempDir();
    const path0 = process.env.PATH;
    process.env.PATH = `${bin}:${path0 ?? ''}`;
    let r;
    try {
      r = await apply(target, forgeDelta(path.join(w, 'snap'), path.join(w, 'delta.tar')), base);
    } finally {
      process.env.PATH = path0;
    }
    expect(r.deltaOf).toBe('k-base');
    expect(fs.readFileSync(path.join(target, 'gnu/store', fresh, 'f'), 'utf8')).toBe('fresh\n');
    // Every file of the base's item as the base holds it: none rewritten by the delta's tar.
    const files = sh(`cd ${q(path.join(src, 'gnu/store', hello))} && find . -type f`)
      .stdout.split('\n')
      .filter((l) => l !== '');
    expect(files.length).toBeGreaterThan(2);
    const digest = (p: string): string => createHash('sha256').update(fs.readFileSync(p)).digest('hex');
    for (const f of files) expect(`${f}: ${digest(path.join(target, 'gnu/store', hello, f))}`).toBe(`${f}: ${digest(path.join(src, 'gnu/store', hello, f))}`);
  }, 120_000);
});
