// The cache service failing, seen from the built action run the way the runner runs it
// (`node dist/main.js`, then `node dist/post.js`, separate processes) against the loopback cache
// server in its own process. With a good entry saved under the key, each fault mode must leave
// main green with a warning, count as a miss and leave the store byte-for-byte as it was; post
// must still tear down and exit 0. A control run without a fault restores that same entry, so
// the "untouched" checks are known to be able to fail.
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import type { StepResult } from './helpers/action-runner.js';
import { asRoot, describeWith, probe } from './helpers/prereq.js';
import { startCacheServerProcess, type CacheServer } from './fixtures/cache.js';
import { buildGuixLayout, removeTempDirs, tempDir, treeManifest } from './fixtures/store.js';
import { contentManifest, partialGuixStore, stagingLeft, storeJobPool } from './helpers/store-e2e.js';

const tag = randomBytes(4).toString('hex');
// No '-' in the keys: no default restore key, so only the exact entry can match.
const KEY = `faults_${tag}`;
const INPUTS = { store: 'guix', daemon: 'none', key: KEY };

let server: CacheServer;
const { job, cleanup: cleanupJobs } = storeJobPool(() => server.url);

const partialStore = (): string => partialGuixStore('runbox-faults-root-');

/**
 * Post's save copies the live DB with `sqlite3 -readonly ... .backup`; on a WAL-mode DB that
 * read-only connection leaves an empty db.sqlite-wal and a db.sqlite-shm behind (and so bumps the
 * DB dir's mtime). Everything else, the DB file's bytes included, must stay as it was.
 */
function withoutWalFiles(lines: string[]): string[] {
  return lines.filter((l) => !/^var\/guix\/db d /.test(l) && !/var\/guix\/db\/db\.sqlite-(wal|shm)\b/.test(l));
}

// What runbox's cache client says for each fault; all of them end up as a warning and a miss.
const FAULTS: Array<{ mode: string; warning: RegExp }> = [
  { mode: 'down', warning: /cache lookup failed, continuing without a snapshot: .*failed after 5 attempts: socket hang up/ },
  { mode: '500', warning: /cache lookup failed, continuing without a snapshot: .*GetCacheEntryDownloadURL failed after 5 attempts: .*HTTP 500/ },
  { mode: '429', warning: /cache lookup failed, continuing without a snapshot: .*rate limited/ },
  // The flipped last byte lies in the entry's trailer: refused before any file is written.
  { mode: 'corrupt-blob', warning: /the snapshot \S+ (is not a well-formed runbox entry|does not match its own index), continuing as on a cache miss/ },
  { mode: 'truncate-blob', warning: /the snapshot \S+ could not be downloaded, continuing as on a cache miss: .*after 5 attempts/ }
];

describeWith([asRoot(), probe('GNU tar', 'tar'), probe('zstd', 'zstd'), probe('sqlite3', 'sqlite3', ['-version'])])('cache service faults through dist/', () => {
  beforeAll(async () => {
    server = await startCacheServerProcess();
    const root = tempDir('runbox-faults-saved-');
    buildGuixLayout(root);
    const j = job(root);
    const m = await j.main(INPUTS);
    expect(m.code).toBe(0);
    expect(m.outputs['cache-hit']).toBe('false');
    const p = await j.post();
    expect(p.code).toBe(0);
    expect(p.summary).toContain(`saved ${KEY}`);
    expect((await server.stats()).entries).toEqual([expect.objectContaining({ key: KEY, finalized: true })]);
  });

  afterAll(async () => {
    await server?.stop();
    cleanupJobs();
    removeTempDirs();
  });

  test('control: without a fault the saved entry is restored and changes the store', async () => {
    const root = partialStore();
    const before = contentManifest(root);
    const j = job(root);
    const m = await j.main(INPUTS);
    expect(m.code).toBe(0);
    expect(m.outputs).toMatchObject({ 'cache-hit': 'true', 'cache-matched-key': KEY });
    expect(contentManifest(root)).not.toEqual(before);
    expect((await j.post()).code).toBe(0);
  });

  test.each(FAULTS)('fault $mode: main green with a warning, a miss, the store byte-for-byte untouched; post exits 0', async ({ mode, warning }) => {
    const root = partialStore();
    const before = contentManifest(root);
    const j = job(root);
    await server.fault(mode);
    try {
      const m = await j.main(INPUTS);
      expect({ code: m.code, errors: m.errors }).toEqual({ code: 0, errors: [] });
      expect(m.warnings.join('\n')).toMatch(warning);
      expect(m.outputs).toMatchObject({ 'cache-hit': 'false', 'cache-matched-key': '', 'cache-primary-key': KEY });
      expect(m.summary).toContain(`miss: nothing restored for ${KEY}`);
      expect(contentManifest(root)).toEqual(before);
      expect(stagingLeft(j)).toEqual([]);

      // Post runs with the service back in the 500 mode (its own retries add nothing the main
      // step did not show); every other mode stays on for post as well.
      if (mode === '500') await server.fault(null);
      const p = await j.post();
      expect({ code: p.code, errors: p.errors }).toEqual({ code: 0, errors: [] });
      expect(withoutWalFiles(contentManifest(root))).toEqual(withoutWalFiles(before));
      expect(stagingLeft(j)).toEqual([]);
    } finally {
      await server.fault(null);
    }
  });

  test('upload-500 during the post save: a warning, exit 0, nothing finalized', async () => {
    const root = tempDir('runbox-faults-upload-');
    buildGuixLayout(root);
    const before = treeManifest(path.join(root, 'gnu/store'));
    const key = `faults_upload_${tag}`;
    const j = job(root);
    const m = await j.main({ ...INPUTS, key });
    expect(m.code).toBe(0);
    expect(m.outputs['cache-hit']).toBe('false');
    const uploads = (await server.stats()).uploads;
    await server.fault('upload-500');
    let p;
    try {
      p = await j.post();
    } finally {
      await server.fault(null);
    }
    expect({ code: p.code, errors: p.errors }).toEqual({ code: 0, errors: [] });
    expect(p.warnings.join('\n')).toMatch(/saving the snapshot failed, the job goes on without it: .*upload-500/);
    expect(p.summary).toContain(`not saved under ${key}`);
    const stats = await server.stats();
    expect(stats.entries.filter((e) => e.key === key && e.finalized)).toEqual([]);
    expect(stats.uploads).toBe(uploads);
    expect(treeManifest(path.join(root, 'gnu/store'))).toEqual(before);
    expect(stagingLeft(j)).toEqual([]);
  });

  let downPost: StepResult | undefined;
  const downKey = `faults_downpost_${tag}`;

  test('the service down during the post save: exit 0, nothing saved, the summary says it was not saved', async () => {
    const root = tempDir('runbox-faults-downpost-');
    buildGuixLayout(root);
    const j = job(root);
    const m = await j.main({ ...INPUTS, key: downKey });
    expect(m.code).toBe(0);
    const uploads = (await server.stats()).uploads;
    await server.fault('down');
    try {
      downPost = await j.post();
    } finally {
      await server.fault(null);
    }
    expect({ code: downPost.code, errors: downPost.errors }).toEqual({ code: 0, errors: [] });
    expect(downPost.summary).toContain(`not saved under ${downKey}; see the warnings above`);
    expect((await server.stats()).uploads).toBe(uploads);
    expect(stagingLeft(j)).toEqual([]);
  });

  // A failed CreateCacheEntry must still raise a warning, as the summary points to the warnings.
  test('the service down during the post save shows up as a warning', () => {
    expect(downPost?.warnings ?? []).not.toEqual([]);
  });
});
