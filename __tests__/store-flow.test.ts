// restoreStore / saveStore end to end in-process: the real @actions/cache against the loopback
// cache service, the real tar/zstd/sqlite3, a synthetic Guix store under temp roots
// (RUNBOX_STORE_ROOT), and "runners" whose RUNNER_TEMP and workspace paths differ.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { inputsFrom } from '../src/action/input-source.js';
import { parseStoreConfig, restoreStore, saveStore, StoreMissError, type StoreState } from '../src/store/index.js';
import { StepReport } from '../src/action/job-summary.js';
import { setStoreOutputs } from '../src/steps/store-outputs.js';
import { parseFileCommands } from './helpers/action-runner.js';
import { asRoot, describeWith, probe } from './helpers/prereq.js';
import { startCacheServerProcess, useCacheService, withFastRetries, type CacheServer } from './fixtures/cache.js';
import { buildGuixLayout, dbContents, itemsView, removeTempDirs, tempDir } from './fixtures/store.js';

/** As main calls it: the step's outputs are set through the callback. */
const restoreWithOutputs = (cfg: Parameters<typeof restoreStore>[0], report: StepReport) => restoreStore(cfg, report, setStoreOutputs);

interface Runner {
  temp: string;
  workspace: string;
  root: string;
  output: string;
}

let server: CacheServer;
const savedEnv = { ...process.env };
let printed: string[] = [];
const realWrite = process.stdout.write.bind(process.stdout);

function runner(workflow = 'on: push\n'): Runner {
  const base = tempDir('runbox-flow-runner-');
  const r = { temp: path.join(base, '_temp'), workspace: path.join(base, 'work', 'repo', 'repo'), root: path.join(base, 'root'), output: path.join(base, 'output') };
  fs.mkdirSync(r.temp, { recursive: true });
  fs.mkdirSync(path.join(r.workspace, '.github/workflows'), { recursive: true });
  fs.mkdirSync(r.root);
  fs.writeFileSync(path.join(r.workspace, '.github/workflows/ci.yml'), workflow);
  return r;
}

/** What the runner sets for a JavaScript action step, for runner r. */
function onRunner(r: Runner): void {
  Object.assign(process.env, {
    RUNNER_TEMP: r.temp,
    GITHUB_WORKSPACE: r.workspace,
    GITHUB_OUTPUT: r.output,
    GITHUB_WORKFLOW_REF: 'octo/repo/.github/workflows/ci.yml@refs/heads/main',
    RUNBOX_STORE_ROOT: r.root
  });
  fs.writeFileSync(r.output, '');
  printed = [];
}

function config(inputs: Record<string, string> = {}) {
  const cfg = parseStoreConfig(inputsFrom({ store: 'guix', daemon: 'none', ...inputs }), process.env);
  if (!cfg) throw new Error('no store config');
  return cfg;
}

function outputs(r: Runner): Record<string, string> {
  return parseFileCommands(fs.readFileSync(r.output, 'utf8'));
}

function warnings(): string[] {
  return printed.filter((l) => l.startsWith('::warning::'));
}

function stagingLeft(r: Runner): string[] {
  return fs.readdirSync(r.temp).filter((n) => n.startsWith('runbox-store-'));
}

describeWith([probe('GNU tar', 'tar'), probe('zstd', 'zstd'), probe('sqlite3', 'sqlite3', ['-version']), asRoot()])('store restore/save through the cache service', () => {
  beforeAll(async () => {
    server = await startCacheServerProcess();
    useCacheService(server.url);
    process.stdout.write = (chunk: string | Uint8Array, ...rest: unknown[]) => {
      printed.push(...String(chunk).split('\n'));
      return (realWrite as (c: string | Uint8Array, ...r: unknown[]) => boolean)(chunk, ...rest);
    };
  });
  afterAll(async () => {
    process.stdout.write = realWrite;
    await server.stop();
    for (const k of Object.keys(process.env)) if (!(k in savedEnv)) delete process.env[k];
    Object.assign(process.env, savedEnv);
    removeTempDirs();
  });

  let first: StoreState;

  test('miss, then save, then an exact hit on another runner (no second upload), then a restore-key hit', async () => {
    const a = runner();
    buildGuixLayout(a.root);
    onRunner(a);
    const cfgA = config();
    const state = await restoreWithOutputs(cfgA, new StepReport('t'));
    const key = state.primaryKey;
    expect(key).toMatch(new RegExp(`^runbox-guix-${process.platform}-${process.arch}-[0-9a-f]{64}$`));
    expect(outputs(a)).toEqual({ 'cache-primary-key': key, 'cache-matched-key': '', 'cache-hit': 'false' });
    expect(state).toMatchObject({ matchedKey: '', exactHit: false, save: 'auto' });
    // The state crosses to post as JSON.
    first = JSON.parse(JSON.stringify(state)) as StoreState;

    const saveReport = new StepReport('t');
    await saveStore(first, saveReport);
    expect(warnings()).toEqual([]);
    expect(saveReport.entries.map((e) => e.detail).join('\n')).toContain(`saved ${key}`);
    expect((await server.stats()).uploads).toBe(1);
    expect(stagingLeft(a)).toEqual([]);

    // Another runner: other RUNNER_TEMP, other workspace path, same workflow file.
    const b = runner();
    onRunner(b);
    const report = new StepReport('t');
    const hit = await restoreWithOutputs(config(), report);
    expect(outputs(b)).toEqual({ 'cache-primary-key': key, 'cache-matched-key': key, 'cache-hit': 'true' });
    expect(hit).toMatchObject({ primaryKey: key, matchedKey: key, exactHit: true });
    // Every item, with the store's canonical metadata (the source's hard links become copies).
    expect(itemsView(path.join(b.root, 'gnu/store'))).toEqual(itemsView(path.join(a.root, 'gnu/store'), true));
    expect(dbContents(path.join(b.root, 'var/guix/db/db.sqlite'))).toEqual(dbContents(path.join(a.root, 'var/guix/db/db.sqlite')));
    expect(report.entries.map((e) => e.what)).toEqual(['cache key', 'store snapshot', 'store restore time']);
    await saveStore(hit, new StepReport('t'));
    expect((await server.stats()).uploads).toBe(1);
    expect(stagingLeft(b)).toEqual([]);

    // A changed workflow: a new key, found through the default restore key (its prefix).
    const c = runner('on: [push, pull_request]\n');
    onRunner(c);
    const prefix = await restoreWithOutputs(config(), new StepReport('t'));
    expect(prefix.primaryKey).not.toBe(key);
    expect(outputs(c)).toEqual({ 'cache-primary-key': prefix.primaryKey, 'cache-matched-key': key, 'cache-hit': 'false' });
    expect(itemsView(path.join(c.root, 'gnu/store'))).toEqual(itemsView(path.join(a.root, 'gnu/store'), true));
    await saveStore(prefix, new StepReport('t'));
    expect((await server.stats()).entries.map((e) => e.key).sort()).toEqual([key, prefix.primaryKey].sort());
  });

  test.each(['429', '500', 'down', 'corrupt-blob', 'truncate-blob'])('cache fault %s: a warning, a miss, the store untouched', async (fault) => {
    const r = runner();
    onRunner(r);
    await server.fault(fault);
    try {
      const state = await withFastRetries(() => restoreWithOutputs(config(), new StepReport('t')));
      expect(state).toMatchObject({ matchedKey: '', exactHit: false });
    } finally {
      await server.fault(null);
    }
    expect(outputs(r)['cache-hit']).toBe('false');
    expect(warnings().length).toBeGreaterThan(0);
    expect(fs.readdirSync(r.root)).toEqual([]);
    expect(stagingLeft(r)).toEqual([]);
  });

  test('fail-on-cache-miss fails the restore on a miss, after setting the outputs', async () => {
    const r = runner('a workflow nobody saved\n');
    onRunner(r);
    const err = await restoreWithOutputs(config({ 'fail-on-cache-miss': 'true', 'restore-keys': 'no-such-prefix-' }), new StepReport('t'))
      .then(() => undefined)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreMissError);
    expect((err as StoreMissError).message).toMatch(/fail-on-cache-miss is true and no store snapshot was restored/);
    // post can still save what the job builds
    expect((err as StoreMissError).state).toMatchObject({ matchedKey: '', exactHit: false, save: 'auto' });
    expect(outputs(r)['cache-hit']).toBe('false');
    expect(fs.readdirSync(r.root)).toEqual([]);
  });

  test('an upload failure in post is a warning, not an error', async () => {
    const r = runner('another workflow\n');
    buildGuixLayout(r.root);
    onRunner(r);
    const state = await restoreWithOutputs(config(), new StepReport('t'));
    await server.fault('upload-500');
    const report = new StepReport('t');
    try {
      await withFastRetries(() => saveStore(state, report));
    } finally {
      await server.fault(null);
    }
    expect(warnings().length).toBeGreaterThan(0);
    expect(report.entries[0].detail).toMatch(/not saved/);
    expect((await server.stats()).entries.some((e) => e.key === state.primaryKey && e.finalized)).toBe(false);
    expect(stagingLeft(r)).toEqual([]);
  });

  test('save: never and an exact hit under save: auto upload nothing', async () => {
    const r = runner();
    onRunner(r);
    const before = (await server.stats()).uploads;
    const report = new StepReport('t');
    await saveStore({ ...first, save: 'never' }, report);
    await saveStore({ ...first, exactHit: true, matchedKey: first.primaryKey }, report);
    expect(report.entries.map((e) => e.detail)).toEqual(['not saved (save: never)', `not saved: main restored ${first.primaryKey} exactly (save: auto)`]);
    expect((await server.stats()).uploads).toBe(before);
  });
});
