// A store path whose parent is a symlink, as on hosts where /gnu and /var/guix (or /nix) were
// moved to a bigger disk and linked back: real paths under temp roots (RUNBOX_STORE_ROOT), real
// tar/zstd/sqlite3, the loopback cache service. A link only root could have made (root's, in a
// dir only root writes) is the host's setup: save reads through it, and restore resolves it up
// front and writes at the real paths. Any other link is refused, naming store-paths and the fix,
// before anything is made or removed.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { inputsFrom } from '../src/action/input-source.js';
import { StepReport } from '../src/action/job-summary.js';
import { checkStoreHostPaths } from '../src/dirs/dirs-config.js';
import { realStoreDir, realStorePaths } from '../src/store/config.js';
import { restoreLockPath } from '../src/lock/restore-lock.js';
import { parseStoreConfig, restoreStore, saveStore, type StoreConfig, type StoreState } from '../src/store/index.js';
import { privatePlace } from '../src/store/private-extract.js';
import { asRoot, describeWith, probe, sudoUser, type Prereq } from './helpers/prereq.js';
import { startCacheServerProcess, useCacheService, type CacheServer } from './fixtures/cache.js';
import { buildGuixLayout, dbContents, itemsView, removeTempDirs, tempDir } from './fixtures/store.js';

let server: CacheServer;
const savedEnv = { ...process.env };
const runnerUser = sudoUser();
const hasRunner: Prereq = runnerUser ? { ok: true, reason: '' } : { ok: false, reason: 'the runner account runbox-ci does not exist' };
function runner(): { uid: number; gid: number } {
  if (!runnerUser) throw new Error('no runner account (the suite is skipped without one)');
  return runnerUser;
}
const PLAIN_KEY = 'plain-store';
/** Saved on a host without links in beforeAll: what the refused hosts would restore. */
let plainState: StoreState;

interface Host {
  /** RUNBOX_STORE_ROOT: where `/` is for the store paths. */
  root: string;
  /** The bigger disk the store dirs were moved to. */
  disk: string;
  temp: string;
}

/**
 * A host whose /gnu and /var/guix are absolute symlinks (as an admin writes them) to dirs on
 * `disk`: root's, in root-owned 0755 dirs, which only root can make. `store: true` puts a built
 * store there; else a fresh install (an empty store dir, no DB dir yet).
 */
function host(o: { store: boolean }): Host {
  const base = tempDir('runbox-symlinked-parent-');
  const h = { root: path.join(base, 'root'), disk: path.join(base, 'data'), temp: path.join(base, '_temp') };
  for (const d of [h.root, h.disk, h.temp, path.join(h.root, 'var')]) fs.mkdirSync(d, { recursive: true, mode: 0o755 });
  if (o.store) buildGuixLayout(h.disk);
  else {
    fs.mkdirSync(path.join(h.disk, 'gnu/store'), { recursive: true, mode: 0o755 });
    fs.mkdirSync(path.join(h.disk, 'var/guix'), { recursive: true, mode: 0o755 });
  }
  fs.symlinkSync(path.join(h.disk, 'gnu'), path.join(h.root, 'gnu'));
  fs.symlinkSync(path.join(h.disk, 'var/guix'), path.join(h.root, 'var/guix'));
  return h;
}

function onHost(h: { root: string; temp: string }, key: string): StoreConfig {
  Object.assign(process.env, {
    RUNNER_TEMP: h.temp,
    GITHUB_WORKSPACE: h.temp,
    GITHUB_WORKFLOW_REF: 'octo/repo/.github/workflows/ci.yml@refs/heads/main',
    RUNBOX_STORE_ROOT: h.root
  });
  const cfg = parseStoreConfig(inputsFrom({ store: 'guix', daemon: 'none', key, save: 'always' }), process.env);
  if (!cfg) throw new Error('no store config');
  return cfg;
}

/** Every path under `dir` with its type, owner, mode and mtime: what a refusal must leave as it was. */
function treeOf(dir: string): string[] {
  const out: string[] = [];
  const walk = (p: string): void => {
    const st = fs.lstatSync(p);
    out.push(`${path.relative(dir, p) || '.'} ${st.isSymbolicLink() ? `-> ${fs.readlinkSync(p)}` : st.isDirectory() ? 'd' : 'f'} ${st.uid} ${st.mode.toString(8)} ${st.mtimeMs}`);
    if (st.isDirectory()) for (const n of fs.readdirSync(p).sort()) walk(path.join(p, n));
  };
  walk(dir);
  return out;
}

describeWith([probe('GNU tar', 'tar'), probe('zstd', 'zstd'), probe('sqlite3', 'sqlite3', ['-version']), asRoot(), hasRunner])('store paths under a symlinked parent', () => {
  beforeAll(async () => {
    server = await startCacheServerProcess();
    useCacheService(server.url);
    const plain = tempDir('runbox-symlinked-parent-plain-');
    const h = { root: path.join(plain, 'root'), temp: path.join(plain, '_temp') };
    fs.mkdirSync(h.root);
    fs.mkdirSync(h.temp);
    buildGuixLayout(h.root);
    plainState = await restoreStore(onHost(h, PLAIN_KEY), new StepReport('t'), () => undefined);
    const saved = new StepReport('t');
    await saveStore(plainState, saved);
    expect(saved.entries.map((e) => e.detail).join('\n')).toContain(`saved ${PLAIN_KEY}`);
  });
  afterAll(async () => {
    await server.stop();
    for (const k of Object.keys(process.env)) if (!(k in savedEnv)) delete process.env[k];
    Object.assign(process.env, savedEnv);
    removeTempDirs();
  });

  test("root's symlinked /gnu and /var/guix: the inputs pass, save reads through them, restore writes at the real paths and leaves the links as they were", async () => {
    const key = 'moved-store';
    const a = host({ store: true });
    const cfgA = onHost(a, key);
    checkStoreHostPaths(cfgA);
    const saved = new StepReport('t');
    await saveStore(await restoreStore(cfgA, new StepReport('t'), () => undefined), saved);
    expect(saved.entries.map((e) => e.detail).join('\n')).toContain(`saved ${key}`);

    const b = host({ store: false });
    const cfgB = onHost(b, key);
    checkStoreHostPaths(cfgB);
    const realParent = path.join(b.disk, 'gnu');
    expect(privatePlace(cfgB.root, realStorePaths(cfgB.root, cfgB.storePaths)).parent).toBe(realParent);
    const links = [path.join(b.root, 'gnu'), path.join(b.root, 'var/guix')].map((l) => ({ l, st: fs.lstatSync(l), to: fs.readlinkSync(l) }));
    const parentMtime = fs.statSync(realParent).mtimeMs;
    const report = new StepReport('t');
    const hit = await restoreStore(cfgB, report, () => undefined);
    expect(report.entries.find((e) => e.what === 'store snapshot')?.detail).toMatch(/^restored moved-store \(exact hit\)/);
    expect(hit.exactHit).toBe(true);
    // The items and the DB are on the disk the links point to.
    expect(itemsView(path.join(b.disk, 'gnu/store'))).toEqual(itemsView(path.join(a.disk, 'gnu/store'), true));
    expect(dbContents(path.join(b.disk, 'var/guix/db/db.sqlite'))).toEqual(dbContents(path.join(a.disk, 'var/guix/db/db.sqlite')));
    // The links are still the admin's, untouched (their own mtime too); the private dir was made
    // beside the real store dir and left no trace there (its mtime restored), nor beside the link.
    for (const { l, st, to } of links) {
      const now = fs.lstatSync(l);
      expect({ l, link: now.isSymbolicLink(), to: fs.readlinkSync(l), mtime: now.mtimeMs, uid: now.uid }).toEqual({ l, link: true, to, mtime: st.mtimeMs, uid: 0 });
    }
    expect(fs.readdirSync(realParent)).toEqual(['store']);
    expect(fs.statSync(realParent).mtimeMs).toBe(parentMtime);
    expect(fs.readdirSync(b.root).sort()).toEqual(['gnu', 'var']);
  });

  test('one store reached through a root link and through its real path takes one restore lock', () => {
    // Two jobs (one with RUNBOX_STORE_ROOT at the linked root, one at the disk) must not restore
    // into, or collect garbage in, the same store at once.
    const h = host({ store: false });
    expect(realStoreDir(h.root, 'guix')).toBe(path.join(h.disk, 'gnu/store'));
    expect(restoreLockPath(realStoreDir(h.root, 'guix'))).toBe(restoreLockPath(realStoreDir(h.disk, 'guix')));
    expect(restoreLockPath(path.join(h.root, 'gnu/store'))).not.toBe(restoreLockPath(path.join(h.disk, 'gnu/store')));
  });

  test('a link that appears at the resolved path after the resolution: the no-follow check below it refuses', () => {
    const h = host({ store: false });
    const cfg = onHost(h, PLAIN_KEY);
    const disk = realStorePaths(cfg.root, cfg.storePaths);
    expect(disk.get('/gnu/store')).toBe(path.join(h.disk, 'gnu/store'));
    fs.renameSync(path.join(h.disk, 'gnu'), path.join(h.disk, 'gnu-moved'));
    fs.symlinkSync(path.join(h.disk, 'gnu-moved'), path.join(h.disk, 'gnu'));
    expect(() => privatePlace(cfg.root, disk)).toThrow(`member '/gnu/store' would be written through ${h.disk}/gnu, a symlink on disk`);
  });

  test("root's relative links resolve as the kernel resolves them; a loop of root's links is refused", () => {
    const h = host({ store: false });
    fs.unlinkSync(path.join(h.root, 'gnu'));
    fs.unlinkSync(path.join(h.root, 'var/guix'));
    fs.symlinkSync('../data/./gnu', path.join(h.root, 'gnu'));
    fs.symlinkSync('../../data/var/guix', path.join(h.root, 'var/guix'));
    const disk = realStorePaths(h.root, ['/gnu/store', '/var/guix/db', '/var/guix/new/dir']);
    expect([...disk.values()]).toEqual([fs.realpathSync(path.join(h.root, 'gnu/store')), path.join(fs.realpathSync(path.join(h.root, 'var/guix')), 'db'), path.join(h.disk, 'var/guix/new/dir')]);
    expect(disk.get('/gnu/store')).toBe(path.join(h.disk, 'gnu/store'));

    fs.unlinkSync(path.join(h.root, 'gnu'));
    fs.symlinkSync('loop', path.join(h.root, 'gnu'));
    fs.symlinkSync('gnu', path.join(h.root, 'loop'));
    expect(() => realStorePaths(h.root, ['/gnu/store'])).toThrow(/is not one: it is one of more than 40 symlinks on the way/);
  });

  const FOLLOWS_ONLY = 'runbox follows only symlinks root made in a dir only root may write to, and [^;]*';
  const planted: Array<[string, (h: Host) => void, RegExp]> = [
    ["the runner user's symlink", (h) => fs.lchownSync(path.join(h.root, 'gnu'), runner().uid, runner().gid), new RegExp(`${FOLLOWS_ONLY}/gnu is not one: it is owned by uid \\d+, not root`)],
    ["root's symlink in a dir every user may write to", (h) => fs.chmodSync(h.root, 0o1777), new RegExp(`${FOLLOWS_ONLY}/gnu is not one: it is in .*/root, which users other than root may write to`)],
    [
      "root's symlink to a path through the runner user's symlink",
      (h) => {
        // <root>/gnu -> <disk>/gnu is root's; <disk>/gnu is now the runner's link to where the store is.
        fs.renameSync(path.join(h.disk, 'gnu'), path.join(h.disk, 'moved-gnu'));
        fs.symlinkSync(path.join(h.disk, 'moved-gnu'), path.join(h.disk, 'gnu'));
        fs.lchownSync(path.join(h.disk, 'gnu'), runner().uid, runner().gid);
      },
      new RegExp(`${FOLLOWS_ONLY}data/gnu is not one: it is owned by uid \\d+, not root`)
    ],
    // The runner user, owning the disk the link points into, could swap what lies below it
    // (the store dir for a link to /etc) between runbox's checks and root's renames into it.
    ["root's symlink into a dir the runner user owns", (h) => fs.chownSync(h.disk, runner().uid, runner().gid), /a symlink on the way leads through .*\/data is owned by uid \d+/],
    // A writable dir above the link's root-only dir: its whole subtree can be replaced.
    [
      "root's symlink below a dir every user may write to",
      (h) => fs.chmodSync(path.dirname(h.root), 0o777),
      /runbox follows root's symlinks only where every dir above them is root's alone, and .* may be written by users other than root/
    ],
    // A link to a disk that is not mounted: runbox would make the store on the dir under the mount point.
    [
      "root's symlink to a path that does not exist",
      (h) => fs.renameSync(path.join(h.disk, 'gnu'), path.join(h.disk, 'unmounted')),
      /a symlink on the way points at .*\/data\/gnu, which does not exist/
    ]
  ];

  test.each(planted)('%s: refused at the inputs, naming store-paths and the fix; restore and save make and remove nothing', async (_what, plant, why) => {
    const h = host({ store: false });
    plant(h);
    const cfg = onHost(h, PLAIN_KEY);
    const refusal = new RegExp(`^Input 'store-paths': '${h.root}/gnu/store' resolves through a symlink \\(.*\\) to .*; ${why.source}.*\\. List the real store dirs\\. .*realpath`, 's');
    expect(() => checkStoreHostPaths(cfg)).toThrow(refusal);
    const before = treeOf(path.dirname(h.root));
    const uploads = (await server.stats()).uploads;

    const restoreErr = await restoreStore(cfg, new StepReport('t'), () => undefined).then(
      () => 'restored',
      (e: unknown) => (e as Error).message
    );
    expect(restoreErr).toMatch(refusal);
    const saved = new StepReport('t');
    await saveStore({ ...plainState, root: h.root, stagingBase: h.temp, primaryKey: `${PLAIN_KEY}-${path.basename(path.dirname(h.root))}` }, saved);
    expect(saved.entries.map((e) => e.detail)).toEqual([expect.stringMatching(/^not saved: Input 'store-paths': .*resolves through a symlink/)]);

    expect(treeOf(path.dirname(h.root))).toEqual(before);
    expect((await server.stats()).uploads).toBe(uploads);
  });
});
