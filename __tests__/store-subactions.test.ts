// The `restore` and `save` sub-actions (restore/action.yml, save/action.yml, built as
// dist/restore.js and dist/save.js) run the way steps of a composite action run them: each
// through its own action.yml (its defaults, its `runs.main`), with its own INPUT_* and file
// commands and no state shared with the other steps (tools/local-runner.mjs FakeJob.uses),
// against the loopback cache server, on a Guix-like store under a test root. And `lookup-only`,
// on the sub-action and on the main action: the outputs say hit or miss, nothing is downloaded.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import type { FakeJob, StepResult } from './helpers/action-runner.js';
import { asRoot, describeWith, probe } from './helpers/prereq.js';
import { startCacheServerProcess, type CacheServer } from './fixtures/cache.js';
import { buildGuixLayout, dbContents, itemName, q, registerPaths, removeTempDirs, sh, tempDir } from './fixtures/store.js';
import { contentManifest, describeStep, partialGuixStore, storeJob } from './helpers/store-e2e.js';

let server: CacheServer;
const jobs: FakeJob[] = [];
const tag = randomBytes(4).toString('hex');

function job(storeRoot: string): FakeJob {
  const j = storeJob(server.url, { storeRoot });
  jobs.push(j);
  return j;
}

function ok(r: StepResult): void {
  if (r.code !== 0 || r.errors.length > 0) throw new Error(`step failed: ${describeStep(r)}`);
}

function summaryRow(r: StepResult, what: string): string {
  return new RegExp(`<tr><td>${what}</td><td>([^<]*)</td></tr>`).exec(r.summary)?.[1] ?? '';
}

async function stats(): Promise<{ downloads: number; uploads: number; keys: string[] }> {
  // Once more when the loopback server closed the idle keep-alive socket fetch reused ('other side closed').
  const s = await server.stats().catch(() => server.stats());
  return { downloads: s.downloads, uploads: s.uploads, keys: s.entries.map((e) => e.key) };
}

/** A registered item of one file, added to a Guix-like store: what a build step of the job makes. */
function addItem(root: string, name: string): string {
  const item = `/gnu/store/${itemName(name)}`;
  sh(`printf '%s\\n' ${q(name)} > ${q(path.join(root, item))} && touch -h -d @1 ${q(path.join(root, item))} && chmod 444 ${q(path.join(root, item))}`);
  registerPaths(path.join(root, 'var/guix/db/db.sqlite'), [item]);
  return item;
}

const base = { store: 'guix', daemon: 'none' };

describeWith([asRoot(), probe('zstd', 'zstd'), probe('sqlite3', 'sqlite3', ['-version']), probe('GNU tar', 'tar')])('restore and save as separate steps', () => {
  let full: string;

  beforeAll(async () => {
    server = await startCacheServerProcess();
    full = tempDir('runbox-sub-full-');
    buildGuixLayout(full);
  });

  afterAll(async () => {
    await server?.stop();
    for (const j of jobs) j.cleanup();
    removeTempDirs();
  });

  test("restore then save in one job: a miss, then the save stores the snapshot under the restore step's primary key", async () => {
    const j = job(full);
    const key = `runbox-sub-${tag}-a`;
    const r = await j.uses('restore', { ...base, key });
    ok(r);
    expect(r.outputs).toEqual({ 'cache-primary-key': key, 'cache-matched-key': '', 'cache-hit': 'false' });
    expect(summaryRow(r, 'store snapshot')).toMatch(/^miss: nothing restored/);
    // As a composite passes it on: `key: ${{ steps.restore.outputs.cache-primary-key }}`.
    const s = await j.uses('save', { ...base, key: r.outputs['cache-primary-key'] });
    ok(s);
    expect(s.outputs['cache-primary-key']).toBe(key);
    expect(summaryRow(s, 'store snapshot')).toMatch(new RegExp(`^saved ${key}, a full snapshot`));
    expect((await stats()).keys).toContain(key);
  });

  test('the next job restores it into a store that lacks items (exact hit); its save then saves nothing, saying why', async () => {
    const root = partialGuixStore('runbox-sub-partial-');
    const j = job(root);
    const key = `runbox-sub-${tag}-a`;
    const r = await j.uses('restore', { ...base, key });
    ok(r);
    expect(r.outputs).toEqual({ 'cache-primary-key': key, 'cache-matched-key': key, 'cache-hit': 'true' });
    // The items the store lacked are back (restored items get canonical metadata, so only names are compared).
    expect(fs.readdirSync(path.join(root, 'gnu/store')).sort()).toEqual(fs.readdirSync(path.join(full, 'gnu/store')).sort());
    expect(dbContents(path.join(root, 'var/guix/db/db.sqlite')).paths).toEqual(dbContents(path.join(full, 'var/guix/db/db.sqlite')).paths);
    const before = await stats();
    const s = await j.uses('save', { ...base, key });
    ok(s);
    expect(summaryRow(s, 'store snapshot')).toBe(`not saved: ${key} is in the cache already (the restore step restored it exactly), and the cache service keeps the first entry under a key`);
    expect((await stats()).uploads).toBe(before.uploads);
  });

  test('a mid-job save: restore (a restore-key hit), a build adds an item, save under the primary key, the job goes on; the next job restores the item', async () => {
    const root = tempDir('runbox-sub-mid-');
    buildGuixLayout(root);
    const j = job(root);
    const key = `runbox-sub-${tag}-b`;
    const r = await j.uses('restore', { ...base, key, 'restore-keys': `runbox-sub-${tag}-` });
    ok(r);
    expect(r.outputs).toMatchObject({ 'cache-matched-key': `runbox-sub-${tag}-a`, 'cache-hit': 'false' });
    const item = addItem(root, `mid-${tag}`);
    const s = await j.uses('save', { ...base, key });
    ok(s);
    // The restore step's record told the save what it restored: the base it may build on.
    expect(summaryRow(s, 'store snapshot')).toMatch(new RegExp(`^saved ${key}, a (full snapshot|delta over runbox-sub-${tag}-a)`));
    // The job goes on after the save: its later steps still run against the same store.
    expect(fs.existsSync(path.join(root, item))).toBe(true);

    const next = tempDir('runbox-sub-next-');
    buildGuixLayout(next);
    const j2 = job(next);
    const r2 = await j2.uses('restore', { ...base, key });
    ok(r2);
    expect(r2.outputs['cache-hit']).toBe('true');
    expect(fs.readFileSync(path.join(next, item), 'utf8')).toBe(`mid-${tag}\n`);
    expect(dbContents(path.join(next, 'var/guix/db/db.sqlite')).paths).toContain(item);
  });

  test("a save with another key than the restore step's does not use its record: a full snapshot", async () => {
    const root = tempDir('runbox-sub-other-');
    buildGuixLayout(root);
    const j = job(root);
    ok(await j.uses('restore', { ...base, key: `runbox-sub-${tag}-a` }));
    addItem(root, `other-${tag}`);
    const key = `runbox-sub-${tag}-c`;
    const s = await j.uses('save', { ...base, key });
    ok(s);
    expect(s.stdout).toContain(`the restore step of this job was about runbox-sub-${tag}-a, not ${key}: saving as if nothing was restored`);
    expect(summaryRow(s, 'store snapshot')).toMatch(new RegExp(`^saved ${key}, a full snapshot \\(no delta: main restored nothing to build on\\)`));
  });

  test('lookup-only on the restore sub-action: hit and miss in the outputs, nothing downloaded, the store untouched', async () => {
    const root = partialGuixStore('runbox-sub-lookup-');
    const storeBefore = contentManifest(root);
    const j = job(root);
    const before = await stats();
    const hit = await j.uses('restore', { ...base, key: `runbox-sub-${tag}-a`, 'lookup-only': 'true' });
    ok(hit);
    expect(hit.outputs).toEqual({ 'cache-primary-key': `runbox-sub-${tag}-a`, 'cache-matched-key': `runbox-sub-${tag}-a`, 'cache-hit': 'true' });
    expect(summaryRow(hit, 'store snapshot')).toBe(`lookup only: runbox-sub-${tag}-a exists (exact hit); nothing downloaded or restored`);
    const prefix = await j.uses('restore', { ...base, key: `runbox-sub-${tag}-zzz`, 'restore-keys': `runbox-sub-${tag}-a`, 'lookup-only': 'true' });
    ok(prefix);
    expect(prefix.outputs).toEqual({ 'cache-primary-key': `runbox-sub-${tag}-zzz`, 'cache-matched-key': `runbox-sub-${tag}-a`, 'cache-hit': 'false' });
    // A key without a '-' has no default restore key.
    const miss = await j.uses('restore', { ...base, key: `runboxnone${tag}`, 'lookup-only': 'true' });
    ok(miss);
    expect(miss.outputs).toEqual({ 'cache-primary-key': `runboxnone${tag}`, 'cache-matched-key': '', 'cache-hit': 'false' });
    expect(summaryRow(miss, 'store snapshot')).toMatch(/^lookup only: no entry for /);
    expect((await stats()).downloads).toBe(before.downloads);
    expect(contentManifest(root)).toEqual(storeBefore);
    // With fail-on-cache-miss, a lookup that finds nothing fails the step.
    const failed = await j.uses('restore', { ...base, key: `runboxnone${tag}`, 'lookup-only': 'true', 'fail-on-cache-miss': 'true' });
    expect(failed.code).not.toBe(0);
    expect(failed.errors.join('\n')).toMatch(/fail-on-cache-miss is true and no store snapshot exists for/);
  });

  test('lookup-only on the main action: the outputs, no download, and post saves nothing over an existing key', async () => {
    const root = partialGuixStore('runbox-sub-main-');
    const storeBefore = contentManifest(root);
    const j = job(root);
    const before = await stats();
    const m = await j.main({ ...base, key: `runbox-sub-${tag}-a`, 'lookup-only': 'true' });
    ok(m);
    expect(m.outputs).toMatchObject({ 'cache-primary-key': `runbox-sub-${tag}-a`, 'cache-matched-key': `runbox-sub-${tag}-a`, 'cache-hit': 'true' });
    expect(m.warnings).toEqual([]);
    const p = await j.post();
    ok(p);
    expect(summaryRow(p, 'store snapshot')).toBe(`not saved: the cache holds runbox-sub-${tag}-a already (lookup-only found it; save: auto)`);
    const after = await stats();
    expect({ downloads: after.downloads, uploads: after.uploads }).toEqual({ downloads: before.downloads, uploads: before.uploads });
    expect(contentManifest(root)).toEqual(storeBefore);
  });

  test("a sub-action checks its inputs against its own action.yml: main's inputs it lacks fail the step, naming them", async () => {
    const j = job(full);
    const r = await j.uses('restore', { ...base, gc: '1G' });
    expect(r.code).not.toBe(0);
    expect(r.errors.join('\n')).toMatch(/Input 'gc': runbox has no input of this name.*Did you mean/);
    const s = await j.uses('save', { ...base, 'lookup-only': 'true' });
    expect(s.code).not.toBe(0);
    expect(s.errors.join('\n')).toMatch(/Input 'lookup-only': runbox has no input of this name/);
    const none = await j.uses('save', {});
    expect(none.code).not.toBe(0);
    expect(none.errors.join('\n')).toMatch(/Input 'store': it is empty, and the save sub-action is only about a store snapshot. Set 'store' to 'guix' or 'nix'/);
  });
});
