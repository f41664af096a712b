// Issue 14's merge and composite cases through the built dist/ (tools/local-runner.mjs), against
// the loopback cache service (tools/cache-server.mjs) and the REST caches API stand-in
// (tools/caches-api.mjs), on Guix-like stores with real SQLite DBs under test roots:
// - two matrix legs save different parts of a store; one job restores both with
//   `restore-all-matches` (the main action, and the restore sub-action) and ends with the union,
//   identical to the legs' stores, DB included; without the API's permission, a warning and the
//   first match; at most MAX_MERGED entries, said;
// - the restore and save sub-actions inside a `using: composite` action
//   (fixtures/composite/action.yml), run step by step as the runner runs a composite.
// (The `gc` cap over ten growing jobs is store-gc.test.ts; purge over ten jobs is purge.test.ts.)
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { entryVersion } from '../src/store/cache-io.js';
import { MAX_MERGED } from '../src/store/restore-all.js';
import type { FakeJob, StepResult } from './helpers/action-runner.js';
import { startCachesApiProcess, type CachesApi } from './helpers/caches-api.js';
import { asRoot, describeWith, probe } from './helpers/prereq.js';
import { startCacheServerProcess, type CacheServer } from './fixtures/cache.js';
import { addRegisteredItems, buildGuixLayout, dbContents, itemName, itemsView, q, removeTempDirs, sh, sqlQuery, tempDir } from './fixtures/store.js';
import { describeStep, storeJob } from './helpers/store-e2e.js';

const tag = randomBytes(4).toString('hex');
const VERSION = entryVersion('guix', ['/gnu/store', '/var/guix/db']);
let server: CacheServer;
let api: CachesApi;
const jobs: FakeJob[] = [];

function job(storeRoot: string, env: Record<string, string | undefined> = {}): FakeJob {
  const j = storeJob(server.url, { storeRoot, env: { GITHUB_API_URL: api.url, GITHUB_TOKEN: api.token, ...env } });
  jobs.push(j);
  return j;
}

function ok(r: StepResult): StepResult {
  if (r.code !== 0 || r.errors.length > 0) throw new Error(`step failed: ${describeStep(r)}`);
  return r;
}

function summaryRow(r: StepResult, what: string): string {
  return new RegExp(`<tr><td>${what}</td><td>([^<]*)</td></tr>`).exec(r.summary)?.[1] ?? '';
}

/** A store as a restore leaves it (canonical metadata), the files' contents, and its DB's rows. */
function storeView(root: string, canonical: boolean): { items: string[]; sums: string[]; db: ReturnType<typeof dbContents>; rows: string[] } {
  const store = path.join(root, 'gnu/store');
  const db = path.join(root, 'var/guix/db/db.sqlite');
  return {
    items: itemsView(store, canonical),
    sums: sh(`cd ${q(store)} && find . -path './.*' -prune -o -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum`)
      .stdout.split('\n')
      .filter((l) => l !== '')
      .sort(),
    db: dbContents(db),
    rows: sqlQuery(db, 'SELECT path, hash, narSize FROM ValidPaths ORDER BY path')
  };
}

/** The union of several stores' views, sorted and without repeats. */
function union(views: ReturnType<typeof storeView>[]): ReturnType<typeof storeView> {
  const u = (f: (v: ReturnType<typeof storeView>) => string[]): string[] => [...new Set(views.flatMap(f))].sort();
  return {
    items: u((v) => v.items),
    sums: u((v) => v.sums),
    db: { paths: u((v) => v.db.paths), refs: u((v) => v.db.refs), outputs: u((v) => v.db.outputs) },
    rows: u((v) => v.rows)
  };
}

const base = { store: 'guix', daemon: 'none' };

beforeAll(async () => {
  server = await startCacheServerProcess();
  api = await startCachesApiProcess(server.url);
});

afterAll(async () => {
  await api?.stop();
  await server?.stop();
  for (const j of jobs) j.cleanup();
  removeTempDirs();
});

/** A host with Guix installed and nothing in its store yet (the DB is created by the first restore). */
function emptyStore(prefix: string): string {
  const root = tempDir(prefix);
  sh(`mkdir -p ${q(path.join(root, 'gnu/store'))} ${q(path.join(root, 'var/guix/db'))} && chmod 1775 ${q(path.join(root, 'gnu/store'))}`);
  return root;
}

describeWith([asRoot(), probe('zstd', 'zstd'), probe('sqlite3', 'sqlite3', ['-version']), probe('GNU tar', 'tar')])('restore-all-matches and composite actions through dist/', () => {
  const legKey = (leg: string): string => `merge-${tag}-part-${leg}`;
  let legs: Array<{ leg: string; root: string; items: string[] }> = [];
  let expected: ReturnType<typeof storeView>;

  test('two matrix legs each build and save their part of the store', async () => {
    legs = [];
    // The legs start from the same store (a store path's content is the same wherever it is built).
    const common = tempDir('runbox-merge-common-');
    const { items } = buildGuixLayout(common);
    for (const leg of ['a', 'b']) {
      const root = tempDir(`runbox-merge-leg-${leg}-`);
      sh(`cp -a ${q(common)}/. ${q(root)}/`);
      const j = job(root);
      // Each leg starts from the newest merged store (none yet: a miss), then builds its part.
      const m = ok(await j.main({ ...base, key: legKey(leg), 'restore-keys': `merge-${tag}-all-` }));
      expect(m.outputs['cache-matched-key']).toBe('');
      expect(m.outputs['matched-keys']).toBeUndefined();
      const added = addRegisteredItems(root, [`leg-${leg}-1-${tag}`, `leg-${leg}-2-${tag}`], items.hello);
      const p = ok(await j.post());
      expect(summaryRow(p, 'store snapshot')).toMatch(new RegExp(`^saved ${legKey(leg)}, a full snapshot`));
      legs.push({ leg, root, items: added });
    }
    // Apart: each leg's store lacks the other's part.
    expect(fs.existsSync(path.join(legs[0].root, legs[1].items[0]))).toBe(false);
    expect(fs.existsSync(path.join(legs[1].root, legs[0].items[0]))).toBe(false);
    expected = union(legs.map((l) => storeView(l.root, true)));
    expect(expected.db.paths).toEqual(expect.arrayContaining([...legs[0].items, ...legs[1].items]));
  });

  test('one job restores both with restore-all-matches (main): the union, identical to the legs, DB included; post saves it', async () => {
    const root = emptyStore('runbox-merge-all-');
    const j = job(root);
    const m = ok(await j.main({ ...base, key: `merge-${tag}-all-1`, 'restore-keys': `merge-${tag}-part-`, 'restore-all-matches': 'true' }));
    expect(m.warnings).toEqual([]);
    // Newest first: leg b saved last.
    expect(JSON.parse(m.outputs['matched-keys'])).toEqual([legKey('b'), legKey('a')]);
    expect(m.outputs).toMatchObject({ 'cache-matched-key': legKey('b'), 'cache-hit': 'false' });
    expect(summaryRow(m, 'store snapshot')).toMatch(new RegExp(`^restored 2 of 2 entries into one store \\(restore-all-matches, newest first\\): ${legKey('b')}, ${legKey('a')}; `));
    expect(summaryRow(m, 'store snapshot 1/2')).toMatch(new RegExp(`^restored ${legKey('b')} \\(restore-key hit\\)`));
    expect(summaryRow(m, 'store snapshot 2/2')).toMatch(new RegExp(`^restored ${legKey('a')} \\(restore-key hit\\)`));
    expect(storeView(root, false)).toEqual(expected);
    // The REST API was asked for the restore key's entries; the token never reached the log.
    expect((await api.log()).requests.some((r) => r.method === 'GET' && r.path.includes(`key=merge-${tag}-part-`))).toBe(true);
    expect(m.stdout.replace(`::add-mask::${api.token}`, '')).not.toContain(api.token);

    const p = ok(await j.post());
    expect(summaryRow(p, 'store snapshot')).toMatch(new RegExp(`^saved merge-${tag}-all-1, a (full snapshot|delta over ${legKey('a')}|delta over ${legKey('b')})`));

    // The merged entry restores alone, exactly, into an empty store: the union again.
    const next = emptyStore('runbox-merge-next-');
    const j2 = job(next);
    const m2 = ok(await j2.main({ ...base, key: `merge-${tag}-all-1`, 'restore-keys': `merge-${tag}-part-`, 'restore-all-matches': 'true', save: 'never' }));
    expect(m2.outputs).toMatchObject({ 'cache-matched-key': `merge-${tag}-all-1`, 'cache-hit': 'true', 'matched-keys': JSON.stringify([`merge-${tag}-all-1`]) });
    expect(m2.stdout).toContain(`merge-${tag}-all-1 matched exactly: it is restored alone`);
    expect(storeView(next, false)).toEqual(expected);
    ok(await j2.post());
  });

  test('the restore sub-action merges the same way, and the save sub-action saves the union', async () => {
    const root = emptyStore('runbox-merge-sub-');
    const j = job(root);
    const r = ok(await j.uses('restore', { ...base, key: `merge-${tag}-sub-1`, 'restore-keys': `merge-${tag}-part-`, 'restore-all-matches': 'true' }));
    expect(JSON.parse(r.outputs['matched-keys'])).toEqual([legKey('b'), legKey('a')]);
    expect(storeView(root, false)).toEqual(expected);
    const s = ok(await j.uses('save', { ...base, key: r.outputs['cache-primary-key'] }));
    expect(summaryRow(s, 'store snapshot')).toMatch(new RegExp(`^saved merge-${tag}-sub-1, `));
    const next = emptyStore('runbox-merge-sub-next-');
    ok(await job(next).uses('restore', { ...base, key: `merge-${tag}-sub-1` }));
    expect(storeView(next, false)).toEqual(expected);
  });

  test("without the API's permission: a warning naming it, and the first match only", async () => {
    const root = emptyStore('runbox-merge-forbidden-');
    await api.control({ fault: 'forbidden' });
    let m: StepResult;
    try {
      m = ok(await job(root).main({ ...base, key: `merge-${tag}-all-x`, 'restore-keys': `merge-${tag}-part-`, 'restore-all-matches': 'true', save: 'never' }));
    } finally {
      await api.control({ fault: null });
    }
    expect(m.warnings).toEqual([
      expect.stringMatching(
        new RegExp(
          `^runbox store: restore-all-matches could not list the entries matching merge-${tag}-part- \\(listing the caches .*HTTP 403.*'actions: read'.*\\); restoring the first match only\\. Give the job 'permissions: actions: read'`
        )
      )
    ]);
    expect(JSON.parse(m.outputs['matched-keys'])).toEqual([legKey('b')]);
    expect(fs.existsSync(path.join(root, legs[1].items[0]))).toBe(true);
    expect(fs.existsSync(path.join(root, legs[0].items[0]))).toBe(false);
  });

  test(`at most ${MAX_MERGED} entries, the newest; the others are named as left out`, async () => {
    // Newer than the legs' entries, listed by the API but not in the cache service (saved on a ref
    // this job cannot read, say): each is a miss of its own, and the legs' fall beyond the bound.
    const prefix = `merge-${tag}-part-`;
    const now = Date.now();
    await api.control({
      add: [
        ...Array.from({ length: MAX_MERGED }, (_, i) => ({ key: `${prefix}zz-${i}`, version: VERSION, created_at: new Date(now + 60_000 + i * 1000).toISOString() })),
        // Newer still, and never counted: another pull request's entry, another tool's, a key with a line break.
        { key: `${prefix}zz-pr`, version: VERSION, ref: 'refs/pull/99/merge', created_at: new Date(now + 120_000).toISOString() },
        { key: `${prefix}zz-other`, version: 'f'.repeat(64), created_at: new Date(now + 120_000).toISOString() },
        { key: `${prefix}zz-\nx`, version: VERSION, created_at: new Date(now + 120_000).toISOString() }
      ]
    });
    const root = emptyStore('runbox-merge-bound-');
    const m = ok(await job(root).main({ ...base, key: `merge-${tag}-all-y`, 'restore-keys': prefix, 'restore-all-matches': 'true', save: 'never' }));
    expect(summaryRow(m, 'store snapshots merged')).toBe(`the newest ${MAX_MERGED} matching entries are restored; 2 older ones are not`);
    expect(summaryRow(m, 'store snapshot 1/10')).toBe(`not restored: ${prefix}zz-${MAX_MERGED - 1} (see the log)`);
    expect(JSON.parse(m.outputs['matched-keys'])).toEqual([]);
    expect(summaryRow(m, 'store snapshot')).toMatch(/^miss: nothing restored/);
  });

  test("bad combinations fail main naming the input: restore-all-matches with lookup-only, with an empty token, without 'store'", async () => {
    const root = tempDir('runbox-merge-bad-');
    buildGuixLayout(root);
    for (const [inputs, pattern] of [
      [{ ...base, 'restore-all-matches': 'true', 'lookup-only': 'true' }, /Input 'restore-all-matches': it is true while 'lookup-only' is true/],
      [{ ...base, 'restore-all-matches': 'true', token: '' }, /Input 'token': it is empty while 'restore-all-matches' is true/],
      [{ 'restore-all-matches': 'true' }, /Input 'restore-all-matches': it is true while 'store' is empty/]
    ] as const) {
      const r = await job(root, { GITHUB_TOKEN: undefined }).main(inputs);
      expect(r.code).toBe(1);
      expect(r.errors.join('\n')).toMatch(pattern);
    }
  });

  test('the sub-actions inside a composite action: restore, a build step, save; the next run restores it exactly and saves nothing', async () => {
    const key = `composite-${tag}`;
    const item = itemName(`composite-item-${tag}`);
    const root = tempDir('runbox-composite-');
    buildGuixLayout(root);
    const c = await job(root).composite('__tests__/fixtures/composite', { key, item });
    expect({ code: c.code, steps: c.steps.map((s) => `${s.name} ${String(s.result.code)}`) }).toEqual({ code: 0, steps: ['./restore 0', 'build 0', './save 0'] });
    expect(c.outputs).toEqual({ 'cache-hit': 'false', 'saved-key': key });
    // The save step got the restore step's key through `${{ steps.restore.outputs.cache-primary-key }}`.
    expect(summaryRow(c.steps[2].result, 'store snapshot')).toMatch(new RegExp(`^saved ${key}, a full snapshot`));

    const next = tempDir('runbox-composite-next-');
    buildGuixLayout(next);
    const before = (await server.stats()).uploads;
    const c2 = await job(next).composite('__tests__/fixtures/composite', { key });
    expect(c2.code).toBe(0);
    expect(c2.outputs).toEqual({ 'cache-hit': 'true', 'saved-key': key });
    expect(fs.readFileSync(path.join(next, 'gnu/store', item), 'utf8')).toBe('built by the composite\n');
    expect(dbContents(path.join(next, 'var/guix/db/db.sqlite')).paths).toContain(`/gnu/store/${item}`);
    expect(summaryRow(c2.steps[2].result, 'store snapshot')).toMatch(/^not saved: .* is in the cache already \(the restore step restored it exactly\)/);
    expect((await server.stats()).uploads).toBe(before);

    // A failing step ends the composite there, as the runner does: the save never runs.
    const broken = tempDir('runbox-composite-broken-');
    buildGuixLayout(broken);
    sh(`rm -f ${q(path.join(broken, 'var/guix/db'))}/db.sqlite*`);
    const c3 = await job(broken).composite('__tests__/fixtures/composite', { key: `composite-${tag}-broken`, item: itemName(`broken-${tag}`) });
    expect(c3.code).not.toBe(0);
    expect(c3.steps.map((s) => s.name)).toEqual(['./restore', 'build']);
  });
});

// The same merge on real Nix stores under test roots (`nix-store --store local?root=R`, no host
// change, no daemon): Nix itself then finds every path of both legs valid and intact in the merged
// store, its DB rows the legs' own.
describeWith([asRoot(), probe('zstd', 'zstd'), probe('sqlite3', 'sqlite3', ['-version']), probe('GNU tar', 'tar'), probe('nix-store (Debian nix-bin)', 'nix-store', ['--version'])])(
  'restore-all-matches on real Nix stores under test roots',
  () => {
    const nixTag = randomBytes(4).toString('hex');
    const nix = (root: string, args: string): string => sh(`nix-store --store ${q(`local?root=${root}`)} ${args}`).stdout.trim();
    const rows = (root: string): string[] => sqlQuery(path.join(root, 'nix/var/nix/db/db.sqlite'), 'SELECT path, hash, narSize FROM ValidPaths ORDER BY path');

    /** A store path of `bytes` random bytes (or of `content`) in the Nix store under `root`. */
    function addPath(root: string, work: string, name: string, content: Buffer): string {
      const f = path.join(work, name);
      fs.writeFileSync(f, content);
      return nix(root, `--add ${q(f)}`);
    }

    test('two legs with a common path and two of their own each; the merged store holds all, valid, intact, with the legs DB rows', async () => {
      const work = tempDir('runbox-merge-nix-work-');
      const common = randomBytes(20_000);
      const legs: Array<{ root: string; paths: string[] }> = [];
      for (const leg of ['a', 'b']) {
        const root = tempDir(`runbox-merge-nix-${leg}-`);
        const paths = [
          addPath(root, work, `common-${nixTag}`, common),
          addPath(root, work, `nix-${leg}-1-${nixTag}`, randomBytes(30_000)),
          addPath(root, work, `nix-${leg}-2-${nixTag}`, randomBytes(30_000))
        ];
        const j = job(root);
        ok(await j.main({ store: 'nix', daemon: 'none', key: `nixmerge-${nixTag}-part-${leg}`, 'restore-keys': `nixmerge-${nixTag}-all-` }));
        ok(await j.post());
        legs.push({ root, paths });
      }
      expect(legs[0].paths[0]).toBe(legs[1].paths[0]);

      // The merging host has Nix and the common path already (a store without a DB gets one
      // through `nix-store --register-validity`, which under a test root looks for the paths
      // outside it: not what this test is about).
      const root = tempDir('runbox-merge-nix-all-');
      addPath(root, work, `common-${nixTag}`, common);
      const m = ok(await job(root).main({ store: 'nix', daemon: 'none', key: `nixmerge-${nixTag}-all-1`, 'restore-keys': `nixmerge-${nixTag}-part-`, 'restore-all-matches': 'true', save: 'never' }));
      expect(m.warnings).toEqual([]);
      expect(JSON.parse(m.outputs['matched-keys'])).toEqual([`nixmerge-${nixTag}-part-b`, `nixmerge-${nixTag}-part-a`]);
      const all = [...new Set(legs.flatMap((l) => l.paths))].sort();
      expect(all).toHaveLength(5);
      for (const p of all) expect(`${p} ${sh(`nix-store --store ${q(`local?root=${root}`)} --check-validity ${q(p)}`, { allowFailure: true }).code}`).toBe(`${p} 0`);
      const verify = sh(`nix-store --store ${q(`local?root=${root}`)} --verify --check-contents 2>&1`, { allowFailure: true });
      expect({ code: verify.code, problems: verify.stdout.split('\n').filter((l) => /error|invalid|corrupt|missing|modified|disappeared/i.test(l)) }).toEqual({ code: 0, problems: [] });
      expect(rows(root)).toEqual([...new Set([...rows(legs[0].root), ...rows(legs[1].root)])].sort());
      for (const p of all) expect(fs.readFileSync(path.join(root, p))).toEqual(fs.readFileSync(path.join(legs.find((l) => l.paths.includes(p))?.root ?? '', p)));
    });
  }
);
