// Purge (issue 14, item 2) through the built action: `node dist/main.js` and `node dist/post.js`
// as separate processes (tools/local-runner.mjs), the loopback cache service
// (tools/cache-server.mjs) holding the real entries, and the REST caches API stand-in
// (tools/caches-api.mjs) listing and deleting them, with its token, page size and refusals.
// The selection itself is unit-tested in unit/purge-select.test.ts.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { entryVersion } from '../src/store/cache-io.js';
import { FakeJob, type StepResult } from './helpers/action-runner.js';
import { startCacheServices, type CacheServices, type CachesApi } from './helpers/caches-api.js';
import { asRoot, describeWith, probe } from './helpers/prereq.js';
import type { CacheServer } from './fixtures/cache.js';
import { addRegisteredItems, buildGuixLayout, removeTempDirs, tempDir } from './fixtures/store.js';

const STORE_PATHS = ['/gnu/store', '/var/guix/db'];
const VERSION = entryVersion('guix', STORE_PATHS);
const LONG_AGO = '2020-01-01T00:00:00Z';

let server: CacheServer;
let api: CachesApi;
const jobs: FakeJob[] = [];

function job(root: string, token = api.token): FakeJob {
  const j = new FakeJob({
    env: {
      ACTIONS_CACHE_SERVICE_V2: 'true',
      ACTIONS_RESULTS_URL: server.url,
      ACTIONS_RUNTIME_TOKEN: 'dummy',
      GITHUB_SERVER_URL: undefined,
      GITHUB_API_URL: api.url,
      GITHUB_TOKEN: token,
      RUNBOX_STORE_ROOT: root,
      RUNBOX_TEST_RETRY_MS: '5'
    }
  });
  jobs.push(j);
  return j;
}

const inputs = (prefix: string, n: number, extra: Record<string, string> = {}) => ({ store: 'guix', daemon: 'none', key: `${prefix}${n}`, 'restore-keys': prefix, purge: 'true', ...extra });

function ok(r: StepResult, what: string, allowWarnings = false): StepResult {
  if (r.code !== 0 || (!allowWarnings && r.warnings.length > 0)) throw new Error(`${what}: exit ${r.code}, warnings ${JSON.stringify(r.warnings)}\n${r.stdout.slice(-4000)}\n${r.stderr.slice(-2000)}`);
  return r;
}

/** Finalized runbox entries under `prefix` in the cache service, sorted. */
async function entries(prefix: string): Promise<string[]> {
  return (await server.stats()).entries
    .filter((e) => e.finalized && e.key.startsWith(prefix))
    .map((e) => e.key)
    .sort();
}

/** The base named by post's summary when it saved a delta. */
function savedBase(post: StepResult, key: string): string | undefined {
  return new RegExp(`saved ${key}, a delta over (\\S+) `).exec(post.summary)?.[1];
}

/** One job on a host whose store persists: restore, one new item, save, purge. */
async function runJob(root: string, prefix: string, n: number, extra: Record<string, string> = {}): Promise<{ main: StepResult; post: StepResult; base?: string }> {
  const j = job(root);
  const main = ok(await j.main(inputs(prefix, n, extra)), `job ${n} main`);
  addRegisteredItems(root, [`${prefix}item-${n}`]);
  const post = ok(await j.post(), `job ${n} post`);
  const base = savedBase(post, `${prefix}${n}`);
  return { main, post, ...(base ? { base } : {}) };
}

describeWith([probe('GNU tar', 'tar'), probe('zstd', 'zstd'), probe('sqlite3', 'sqlite3', ['-version']), asRoot()])('purge through dist/', () => {
  let services: CacheServices | undefined;
  beforeAll(async () => {
    services = await startCacheServices();
    ({ server, api } = services);
  });
  afterAll(async () => {
    await services?.stop();
    for (const j of jobs) j.cleanup();
    removeTempDirs();
  });

  test('after 10 jobs with purge on, only the newest entry per prefix (and the base a kept delta needs) remains; a foreign ref and another tool are never touched', async () => {
    const prefix = 'purge-e2e-';
    // Under the same prefix, older than everything: a pull request's runbox entry and another tool's entry.
    await api.control({
      add: [
        { key: `${prefix}from-a-pr`, version: VERSION, ref: 'refs/pull/7/merge', created_at: LONG_AGO, last_accessed_at: LONG_AGO, size_in_bytes: 5 },
        { key: `${prefix}not-runbox`, version: 'f'.repeat(64), created_at: LONG_AGO, last_accessed_at: LONG_AGO, size_in_bytes: 7 }
      ]
    });
    const root = tempDir();
    buildGuixLayout(root);
    addRegisteredItems(
      root,
      Array.from({ length: 40 }, (_, i) => `pkg-${i}`)
    );
    const kinds: string[] = [];
    for (let n = 1; n <= 10; n++) {
      const r = await runJob(root, prefix, n);
      kinds.push(r.base ? `delta over ${r.base}` : 'full');
      // After every job: its own entry, plus its base when it is a delta.
      expect(await entries(prefix)).toEqual([`${prefix}${n}`, ...(r.base ? [r.base] : [])].sort());
      expect(r.post.summary).toMatch(/store purge<\/td><td>deleted \d+ entr(y|ies) \(\d[^)]*\)/);
      if (r.base) expect(r.post.summary).toMatch(new RegExp(`"${r.base}" \\(the base of ${prefix}${n}, the delta this job saved\\)`));
      expect(r.post.summary).toMatch(/store purge skipped<\/td><td>0 entries of other refs and 1 that are not runbox guix snapshots/);
    }
    // Both kinds happened: deltas whose base stayed through later jobs, and full snapshots.
    expect(kinds.filter((k) => k === 'full').length).toBeGreaterThanOrEqual(2);
    expect(kinds.filter((k) => k.startsWith('delta')).length).toBeGreaterThanOrEqual(2);
    const deleted = (await api.log()).deleted.map((d) => d.key).filter((k) => k.startsWith(prefix));
    expect(deleted).not.toContain(`${prefix}from-a-pr`);
    expect(deleted).not.toContain(`${prefix}not-runbox`);
    // Every job's entry went except the last and, when it is a delta, its base.
    expect(new Set(deleted).size).toBe(deleted.length);
    expect(deleted.length).toBe(10 - (await entries(prefix)).length);
    // The next job restores from what remains.
    const j = job(root);
    const m = ok(await j.main(inputs(prefix, 11)), 'job 11 main');
    expect(m.outputs['cache-matched-key']).toBe(`${prefix}10`);
    ok(await j.post(), 'job 11 post');
  }, 900_000);

  test('pagination: candidates on pages 2 and 3 (2 entries a page) are found and deleted', async () => {
    const prefix = 'purge-pages-';
    const root = tempDir();
    buildGuixLayout(root);
    // Three jobs without purge leave three entries (delta: off, so none needs a base).
    for (let n = 1; n <= 3; n++) await runJob(root, prefix, n, { purge: 'false', delta: 'off' });
    expect(await entries(prefix)).toHaveLength(3);
    await api.control({ pageSize: 2, add: [{ key: `${prefix}other-tool`, version: 'e'.repeat(64), created_at: LONG_AGO, last_accessed_at: LONG_AGO }] });
    const before = (await api.log()).requests.length;
    try {
      const r = await runJob(root, prefix, 4, { delta: 'off' });
      expect(r.post.summary).toMatch(/deleted 3 entries/);
    } finally {
      await api.control({ pageSize: 100 });
    }
    expect(await entries(prefix)).toEqual([`${prefix}4`]);
    const pages = (await api.log()).requests
      .slice(before)
      .filter((x) => x.method === 'GET')
      .map((x) => new URL(x.path, 'http://x').searchParams.get('page'));
    expect(pages).toEqual(['1', '2', '3']);
  }, 600_000);

  test('refusals only warn: 403 without actions: write, rate limits, a bad token, a 5xx that stays; one 5xx is retried', async () => {
    const prefix = 'purge-refused-';
    const root = tempDir();
    buildGuixLayout(root);
    await runJob(root, prefix, 1, { purge: 'false' });
    const attempt = async (n: number, fault: string | null, token?: string): Promise<StepResult> => {
      await api.control({ fault });
      try {
        const j = job(root, token);
        ok(await j.main(inputs(prefix, n, { delta: 'off' })), `job ${n} main`);
        addRegisteredItems(root, [`${prefix}item-${n}`]);
        const post = await j.post();
        expect({ code: post.code, errors: post.errors }).toEqual({ code: 0, errors: [] });
        expect(post.summary).toMatch(new RegExp(`saved ${prefix}${n}`));
        return post;
      } finally {
        await api.control({ fault: null });
      }
    };
    const forbidden = await attempt(2, 'forbidden');
    expect(forbidden.warnings).toEqual([
      expect.stringMatching(/^runbox purge: listing the caches .*HTTP 403.*actions: write.*nothing deleted; give the job 'permissions: actions: write'.*The job goes on\.$/)
    ]);
    expect(forbidden.summary).toMatch(/store purge<\/td><td>stopped: /);
    const deleteForbidden = await attempt(3, 'delete-forbidden');
    expect(deleteForbidden.warnings).toEqual([expect.stringMatching(/^runbox purge: deleting cache entry \d+: HTTP 403.*deleted 0 entries/)]);
    const limited = await attempt(4, 'rate-limit');
    expect(limited.warnings).toEqual([expect.stringMatching(/rate limit is exhausted \(HTTP 429; retry after 60 s\).*a later post purges what is left/)]);
    const limited403 = await attempt(5, 'rate-limit-403');
    expect(limited403.warnings).toEqual([expect.stringMatching(/rate limit is exhausted \(HTTP 403; the limit resets at /)]);
    const down = await attempt(6, '500');
    expect(down.warnings).toEqual([expect.stringMatching(/failed after 5 attempts: .*HTTP 500/)]);
    const badToken = await attempt(7, null, 'ghs_wrong');
    expect(badToken.warnings).toEqual([expect.stringMatching(/does not accept the token \(HTTP 401\).*check the 'token' input/)]);
    // Nothing was deleted by any of them: entries 1..7 are all there.
    expect(await entries(prefix)).toHaveLength(7);
    // One 500, then the API answers: retried, and the purge goes through.
    const once = await attempt(8, '500-once');
    expect(once.warnings).toEqual([]);
    expect(await entries(prefix)).toEqual([`${prefix}8`]);
  }, 600_000);

  test('the token is masked, never printed, never in the state; bad purge inputs fail main before anything, naming the input', async () => {
    const prefix = 'purge-token-';
    const root = tempDir();
    buildGuixLayout(root);
    const j = job(root);
    const main = ok(await j.main(inputs(prefix, 1)), 'main');
    const post = ok(await j.post(), 'post');
    for (const r of [main, post]) {
      const out = `${r.stdout}\n${r.stderr}\n${r.summary}`.replace(`::add-mask::${api.token}`, '');
      expect(out).not.toContain(api.token);
      expect(r.stdout).toContain(`::add-mask::${api.token}`);
    }
    expect(JSON.stringify(main.state)).not.toContain(api.token);
    const files = path.join(j.root, 'files');
    for (const f of fs.readdirSync(files)) expect(fs.readFileSync(path.join(files, f), 'utf8')).not.toContain(api.token);

    for (const [extra, pattern] of [
      [{ 'purge-created-before': 'soon' }, /purge-created-before.*'soon' is not a duration/],
      [{ 'purge-prefixes': 'a,b' }, /purge-prefixes.*comma/],
      [{ purge: 'false', 'purge-last-accessed-before': '1d' }, /purge-last-accessed-before.*while 'purge' is false/]
    ] as const) {
      const bad = job(root);
      const r = await bad.main(inputs(prefix, 2, extra));
      expect(r.code).toBe(1);
      expect(r.errors.join('\n')).toMatch(pattern);
      // Refused before anything: no store restore, no key computed.
      expect(r.summary).not.toMatch(/cache key/);
    }
  }, 300_000);
});
