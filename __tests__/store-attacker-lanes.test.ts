// The restore's lanes (several confined tars side by side, restore.ts extractConcurrency) as an
// attacker who can write the cache, or act on the host, would go at them, through the built
// dist/ out of process: main hard-killed while the lanes extract; three jobs restoring one
// snapshot into one store at once; the store's filesystem filling up under two lanes; a frame
// decompressing to terabytes of what tar calls padding; frames whose manifest lists another
// frame's items, or claims sizes no host has; `.runbox-restore-*` names planted where private
// dirs go. The frames come through a throttled link (tools/throttle-proxy.mjs) where a test
// must act while the lanes are mid-stream. Every case asserts what helpers/hostile-dist.ts
// does: nothing outside the store root changed, no existing item changed, the DB holds only
// validated rows, the daemon runs.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, expect, test } from '@jest/globals';
import { entryVersion, SNAPSHOT_DIR } from '../src/store/cache-io.js';
import { MAX_MERGED } from '../src/store/restore-all.js';
import { MAX_TRAILER_BYTES } from '../src/store/members.js';
import { ROOT, type FakeJob, type StepResult } from './helpers/action-runner.js';
import { startCachesApiProcess, type CachesApi } from './helpers/caches-api.js';
import { asRoot, describeWith, probe, type Prereq } from './helpers/prereq.js';
import { publishEntry, startCacheServerProcess, useCacheService, type CacheServer } from './fixtures/cache.js';
import { keepProcessEnv } from './fixtures/process-env.js';
import { forgeArchives, q, removeTempDirs, sh, sqlQuery, tempDir, type ForgedArchives } from './fixtures/store.js';
import { DB, dbState, dir, file, HostileHarness, reg, regDoc, type Host } from './helpers/hostile-dist.js';
import { contentManifest, describeStep, processesMentioning, stagingLeft, storeJob, waitFor } from './helpers/store-e2e.js';
import { makeTar } from './helpers/store-tar.js';
import { mountTmpfs } from './helpers/tmpfs.js';

const tag = randomBytes(4).toString('hex');
const al = new HostileHarness('al', tag);
const item = (what: string): string => al.item(what);
let server: CacheServer;
let api: CachesApi | undefined;
let proxy: ChildProcessWithoutNullStreams | undefined;
/** The cache service's URL through the throttled link. */
let slowUrl = '';
const processEnv = keepProcessEnv();
/** The link's rate: a 512 KiB frame takes half a second, long enough to act mid-stream. */
const RATE = 1024 * 1024;

const SMALL_FS = 16 * 1024 * 1024;
const smallFs = mountTmpfs('runbox-al-enospc', SMALL_FS);
afterAll(() => smallFs.unmount());

/** Two lanes at least: extractConcurrency() is min(8, cores). */
const lanes: Prereq = os.availableParallelism() >= 2 ? { ok: true, reason: '' } : { ok: false, reason: 'one core: the restore runs one lane' };

/** An item of one file of `bytes` random bytes (incompressible: the frame is as big on the wire). */
function bigItem(what: string, bytes: number): Buffer {
  return makeTar([dir(item(what)), file(`${item(what)}/blob`, randomBytes(bytes))]);
}

/**
 * Forges and publishes a snapshot like HostileHarness.publish, then lets `edit` change the
 * manifest (items lists, sizes) before it is published: the writer's index is computed over the
 * files as they are then, so every digest matches.
 */
async function publishEdited(key: string, tars: Buffer[], f: ForgedArchives, edit: (m: { archives: Array<Record<string, unknown>> }, snap: string) => void): Promise<void> {
  const parent = tempDir('runbox-al-entry-');
  const snap = forgeArchives(path.join(parent, SNAPSHOT_DIR), tars, f);
  const manifest = JSON.parse(fs.readFileSync(path.join(snap, 'manifest.json'), 'utf8')) as { archives: Array<Record<string, unknown>> };
  edit(manifest, snap);
  fs.writeFileSync(path.join(snap, 'manifest.json'), JSON.stringify(manifest));
  await publishEntry(parent, key);
}

function inputs(h: Host, key: string): Record<string, string> {
  return { store: 'guix', key, save: 'never', 'daemon-stop': h.daemon.stop, 'daemon-start': h.daemon.start };
}

function slowJob(h: Host): FakeJob {
  const j = storeJob(slowUrl, { storeRoot: h.root });
  al.jobs.push(j);
  return j;
}

interface Proc {
  pid: number;
  start: string;
  comm: string;
}

function procOf(pid: number): Proc | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = stat.lastIndexOf(')');
    const f = stat.slice(close + 2).split(' ');
    if (f[0] === 'Z') return undefined;
    return { pid, comm: stat.slice(stat.indexOf('(') + 1, close), start: f[19] };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ESRCH') return undefined;
    throw e;
  }
}

/** Every live process below `pid` (children, theirs, ...), from each one's parent in /proc. */
function descendants(pid: number): Proc[] {
  const kids = new Map<number, number[]>();
  for (const n of fs.readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${n}/stat`, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ESRCH') continue; // exited meanwhile
      throw e;
    }
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    kids.set(ppid, [...(kids.get(ppid) ?? []), Number(n)]);
  }
  const out: Proc[] = [];
  const todo = [...(kids.get(pid) ?? [])];
  while (todo.length > 0) {
    const p = todo.shift() as number;
    const info = procOf(p);
    if (info) out.push(info);
    todo.push(...(kids.get(p) ?? []));
  }
  return out;
}

/** The same process still runs (same pid and start time). */
const stillRuns = (p: Proc): boolean => procOf(p.pid)?.start === p.start;

/**
 * A `zstd` first on PATH: an archive's decompression (the one with --memory) hands on its first
 * `bytes`, then holds the rest until `go` exists, like a link that stalls mid-frame. It gives up
 * once the restore that started it is gone, as a stalled download would with its reader: what
 * outlives a killed main is then runbox's own doing. Everything else goes to the real zstd.
 */
function stallingZstd(bytes: number): { bin: string; go: string; env: Record<string, string> } {
  const bin = tempDir('runbox-al-bin-');
  const go = path.join(bin, 'go');
  const real = sh('command -v zstd').stdout.trim();
  const blocks = bytes / (64 * 1024);
  fs.writeFileSync(
    path.join(bin, 'zstd'),
    `#!/bin/sh\ncase " $* " in *" --memory="*) ;; *) exec ${q(real)} "$@";; esac\nmain=$PPID\n${q(real)} "$@" | { dd bs=64k count=${blocks} iflag=fullblock status=none; while [ ! -e ${q(go)} ]; do kill -0 "$main" 2>/dev/null || exit 1; sleep 0.05; done; cat; }\n`,
    { mode: 0o755 }
  );
  return { bin, go, env: { PATH: `${bin}:${process.env.PATH ?? ''}` } };
}

/** `<dir>/.runbox-restore-*` entries: private dirs of restores (and anything planted so). */
function privateDirs(parent: string): string[] {
  return fs.existsSync(parent) ? fs.readdirSync(parent).filter((n) => n.startsWith('.runbox-restore-')) : [];
}

/** Archives whose `blob` has reached the private dir under `parent` with at least `bytes` bytes
 * (the tree holds `<entry>/<archive index>/<item>`). */
function lanesWriting(parent: string, whats: string[], bytes = 1): number {
  const sizeOf = (p: string): number => fs.lstatSync(p, { throwIfNoEntry: false })?.size ?? 0;
  let n = 0;
  for (const d of privateDirs(parent)) {
    const tree = path.join(parent, d, 'tree');
    if (!fs.existsSync(tree)) continue;
    for (const entry of fs.readdirSync(tree)) {
      for (const archive of fs.readdirSync(path.join(tree, entry))) if (whats.some((w) => sizeOf(path.join(tree, entry, archive, item(w), 'blob')) >= bytes)) n++;
    }
  }
  return n;
}

/** contentManifest lines but the private dirs' and the lines of the dirs they live in (their mtime). */
function storeLines(root: string): string[] {
  return contentManifest(root).filter((l) => !l.includes('.runbox-restore-') && !/^(gnu|gnu\/store) /.test(l));
}

/** What every refused case below asserts once main ended: a miss, the store root and DB as they were, the daemon never stopped. */
function expectUntouched(h: Host, main: StepResult, reason: RegExp): void {
  expect({ code: main.code, errors: main.errors }).toEqual({ code: 0, errors: [] });
  expect(main.outputs).toMatchObject({ 'cache-hit': 'false' });
  expect(main.warnings.find((w) => w.includes('was not restored')) ?? describeStep(main)).toMatch(reason);
  expect(contentManifest(h.root)).toEqual(h.before);
  expect(dbState(h.root)).toEqual(h.dbBefore);
  expect(fs.readdirSync(h.outside)).toEqual([]);
  expect(h.daemon.events()).toEqual([]);
  expect(h.daemon.alive()).toBe(true);
}

describeWith([asRoot(), lanes, probe('GNU tar', 'tar'), probe('zstd', 'zstd'), probe('sqlite3', 'sqlite3', ['-version'])])('the restore lanes, attacked, through dist/', () => {
  beforeAll(async () => {
    server = await startCacheServerProcess();
    useCacheService(server.url);
    al.url = server.url;
    process.env.RUNNER_TEMP = tempDir('runbox-al-runner-temp-');
    const env = { ...process.env };
    delete env.NODE_OPTIONS;
    const p = spawn(process.execPath, [path.join(ROOT, 'tools', 'throttle-proxy.mjs'), '--upstream', server.url, '--rate', String(RATE)], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    proxy = p;
    const line = await new Promise<string>((resolve, reject) => {
      let out = '';
      p.stdout.on('data', (b: Buffer) => {
        out += b.toString();
        if (out.includes('\n')) resolve(out.slice(0, out.indexOf('\n')));
      });
      p.once('exit', (code) => reject(new Error(`throttle-proxy exited ${String(code)}`)));
    });
    const urls = (JSON.parse(line) as { urls: Record<string, string> }).urls;
    slowUrl = urls[new URL(server.url).origin];
    // The service's URL keeps its path; the proxy answers for the origin.
    slowUrl = new URL(new URL(server.url).pathname, slowUrl).toString();
  });

  afterEach(() => al.killDaemons());

  afterAll(async () => {
    processEnv.restore();
    proxy?.kill('SIGTERM');
    await api?.stop();
    await server?.stop();
    al.cleanupJobs();
    removeTempDirs();
  });

  test('SIGKILL of main while two lanes extract: no process it started survives, nothing reaches the store; the next restore reaps the private dir and succeeds', async () => {
    const h = al.host();
    const key = `al_kill_${tag}`;
    const whats = ['k0', 'k1', 'k2', 'k3'];
    await al.publish(
      key,
      whats.map((w) => bigItem(w, 512 * 1024)),
      { registrations: regDoc(whats.map((w) => reg(item(w)))) }
    );
    // Each lane's first archive stalls after 256 KiB of its tar stream: two lanes mid-file.
    const stall = stallingZstd(256 * 1024);
    const job = storeJob(server.url, { storeRoot: h.root, env: stall.env });
    al.jobs.push(job);
    const started = job.start('main', inputs(h, key));
    const parent = path.join(h.root, 'gnu');
    await waitFor('two lanes writing their archives', () => lanesWriting(parent, whats, 128 * 1024) >= 2 || started.child.exitCode !== null);
    expect(started.child.exitCode).toBeNull();
    // Mid-extract, two lanes at once: two confined tars, and a zstd each.
    const tree = descendants(started.child.pid as number);
    expect(processesMentioning(['runbox-confined']).filter((l) => l.includes(h.root)).length).toBeGreaterThanOrEqual(2);
    expect(tree.filter((p) => p.comm === 'tar').length).toBeGreaterThanOrEqual(2);
    // The real zstd of each lane's archive (the stalling wrapper is its parent, also 'zstd').
    expect(tree.filter((p) => p.comm === 'zstd').length).toBeGreaterThanOrEqual(4);
    started.child.kill('SIGKILL');
    const killed = await started.done;
    expect(killed.signal).toBe('SIGKILL');
    // No cleanup ran; what main started ends on its own (its pipes closed), not by the runner's kill.
    await waitFor('every process main started to end', () => !tree.some(stillRuns), 15_000).catch(() => undefined);
    expect(tree.filter(stillRuns).map((p) => `${p.pid} ${p.comm}`)).toEqual([]);
    expect(processesMentioning([h.root])).toEqual([]);
    // Only the private dir is left; the store, its DB and the daemon as they were.
    expect(privateDirs(parent)).toHaveLength(1);
    expect(storeLines(h.root)).toEqual(h.before.filter((l) => !/^(gnu|gnu\/store) /.test(l)));
    expect(dbState(h.root)).toEqual(h.dbBefore);
    expect(h.daemon.events()).toEqual([]);
    expect(h.daemon.alive()).toBe(true);

    const main = await al.expectAdded(
      h,
      key,
      whats.map((w) => item(w)),
      whats.map((w) => item(w))
    );
    expect(main.summary).toMatch(/store leftovers<\/td><td>removed 1 private dir\(s\) of killed restores: \S+\/gnu\/\.runbox-restore-\d+-\d+/);
    expect(privateDirs(parent)).toEqual([]);
  });

  test('three restores of one snapshot into one fresh store at once, two lanes each: one after another on the host lock; every item lands once, the DB registers exactly the items on disk', async () => {
    const root = tempDir('runbox-al-race-');
    sh(`mkdir -p ${q(path.join(root, 'gnu/store'))} ${q(path.join(root, 'var/guix/db'))}`);
    const h = al.host({ fresh: true, root });
    const key = `al_race_${tag}`;
    const whats = ['r0', 'r1', 'r2', 'r3'];
    await publishEdited(
      key,
      whats.map((w) => bigItem(w, 512 * 1024)),
      { registrations: regDoc(whats.map((w, i) => reg(item(w), { references: i > 0 ? [`/${item(whats[i - 1])}`] : [] }))) },
      // As runbox's own save writes them: each frame lists its item, so a restore after the
      // first finds them all in the store and fetches no frame.
      (m) => m.archives.forEach((a, i) => (a.items = [`/${item(whats[i])}`]))
    );
    const jobs = [0, 1, 2].map(() => slowJob(h));
    const mains = await Promise.all(jobs.map((j) => j.main(inputs(h, key))));
    for (const m of mains) {
      expect({ code: m.code, errors: m.errors }).toEqual({ code: 0, errors: [] });
      expect(m.outputs).toMatchObject({ 'cache-hit': 'true', 'cache-matched-key': key });
    }
    // Two of them waited for the lock; one read the four frames (two lanes), the others none.
    expect(mains.filter((m) => /another restore into \S+\/gnu\/store holds the host's restore lock/.test(m.stdout))).toHaveLength(2);
    const reads = mains.map((m) => /\((\d) of 4 archives/.exec(m.summary)?.[1] ?? describeStep(m)).sort();
    expect(reads).toEqual(['0', '0', '4']);
    const added = mains.map((m) => /(\d+) top-level entries added/.exec(m.summary)?.[1] ?? describeStep(m)).sort();
    expect(added).toEqual(['0', '0', '4']);
    // Each item once, whole; the DB (created by the first) registers exactly them, and their references.
    const store = path.join(root, 'gnu/store');
    expect(fs.readdirSync(store).sort()).toEqual(whats.map((w) => path.basename(item(w))).sort());
    for (const w of whats) expect(fs.statSync(path.join(store, path.basename(item(w)), 'blob')).size).toBe(512 * 1024);
    const db = path.join(root, DB);
    expect(sqlQuery(db, 'SELECT path FROM ValidPaths ORDER BY path')).toEqual(whats.map((w) => `/${item(w)}`).sort());
    expect(sqlQuery(db, 'SELECT count(*) FROM Refs')).toEqual(['3']);
    expect(sqlQuery(db, 'PRAGMA integrity_check')).toEqual(['ok']);
    // The daemon stopped and started once per restore, never two stops in a row.
    const raw = fs
      .readFileSync(h.daemon.log, 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => l.split(' ')[0]);
    expect(raw.join(' ')).toMatch(/^stop start( stop start)*$/);
    expect(h.daemon.alive()).toBe(true);
    expect(privateDirs(path.join(root, 'gnu'))).toEqual([]);
    expect(privateDirs(store)).toEqual([]);
    expect(fs.readdirSync(h.outside)).toEqual([]);
    for (const j of jobs) {
      expect(stagingLeft(j)).toEqual([]);
      const post = await j.post();
      expect({ code: post.code, errors: post.errors }).toEqual({ code: 0, errors: [] });
    }
  });

  describeWith([smallFs.prereq])('a store root on a 16 MiB tmpfs', () => {
    const free = (): number => {
      const s = fs.statfsSync(smallFs.dir);
      return s.bavail * s.bsize;
    };
    const filler = (): string => path.join(smallFs.dir, 'filler');
    /** Fills the tmpfs to its last byte (dd stops at ENOSPC): another writer on the store's filesystem. */
    const fill = `dd if=/dev/zero of=${q(filler())} bs=64k status=none 2>/dev/null`;

    test('the filesystem fills up while two lanes are mid-file (another writer took the space after the check): a miss, nothing in the store or the DB, the space back', async () => {
      const h = al.host({ root: fs.mkdtempSync(path.join(smallFs.dir, 'root-')) });
      const key = `al_enospc_${tag}`;
      const whats = ['e0', 'e1'];
      await al.publish(
        key,
        whats.map((w) => bigItem(w, 2 * 1024 * 1024)),
        { registrations: regDoc(whats.map((w) => reg(item(w)))) }
      );
      // Each archive's zstd hands on its first MiB, then waits for `go`: both lanes are then
      // past their blob's header (the last member check) and mid-data.
      const { go, env } = stallingZstd(1024 * 1024);
      const freeBefore = free();
      const job = storeJob(server.url, { storeRoot: h.root, env });
      al.jobs.push(job);
      const started = job.start('main', inputs(h, key));
      const parent = path.join(h.root, 'gnu');
      let main: StepResult;
      try {
        await waitFor('two lanes a MiB into their blobs', () => lanesWriting(parent, whats, 512 * 1024) >= 2 || started.child.exitCode !== null);
        expect(started.child.exitCode).toBeNull();
        sh(`${fill} || true`);
        expect(free()).toBe(0);
        fs.writeFileSync(go, '');
        main = await started.done;
      } finally {
        fs.writeFileSync(go, '');
        fs.rmSync(filler(), { force: true });
      }
      expectUntouched(h, main, /the store's filesystem \(runbox-al-enospc mounted on \S+\) ran out of space while extracting .*the private dir is removed, the store was left untouched/);
      expect(privateDirs(parent)).toEqual([]);
      // The private dir's blocks are given back: the filesystem has what it had before main.
      expect(free()).toBe(freeBefore);
      const post = await job.post();
      expect({ code: post.code, errors: post.errors }).toEqual({ code: 0, errors: [] });
    });

    test('the filesystem fills up after the items are moved in, before their rows reach the DB: they are taken out again; a miss, the store and the DB as they were', async () => {
      const h = al.host({ root: fs.mkdtempSync(path.join(smallFs.dir, 'root-')) });
      const key = `al_dbfull_${tag}`;
      const whats = ['d0', 'd1'];
      await al.publish(
        key,
        whats.map((w) => bigItem(w, 64 * 1024)),
        { registrations: regDoc(whats.map((w) => reg(item(w)))) }
      );
      // runbox's `mv -n` into the store, then the disk full: the DB (WAL mode) cannot even be read.
      const bin = tempDir('runbox-al-bin-');
      const realMv = sh('command -v mv').stdout.trim();
      fs.writeFileSync(path.join(bin, 'mv'), `#!/bin/sh\n${q(realMv)} "$@"; st=$?\n${fill}\nexit $st\n`, { mode: 0o755 });
      const freeBefore = free();
      const job = storeJob(server.url, { storeRoot: h.root, env: { PATH: `${bin}:${process.env.PATH ?? ''}` } });
      al.jobs.push(job);
      let main: StepResult;
      try {
        main = await job.main(inputs(h, key));
      } finally {
        fs.rmSync(filler(), { force: true });
      }
      expect({ code: main.code, errors: main.errors }).toEqual({ code: 0, errors: [] });
      expect(main.outputs).toMatchObject({ 'cache-hit': 'false' });
      expect(main.warnings.find((w) => w.includes('was not restored')) ?? describeStep(main)).toMatch(/disk I\/O error|database or disk is full/);
      // Nothing of the snapshot stays in the store; only the store dir's mtime tells the move
      // happened, and sqlite3's own -wal/-shm (its read of the DB could not finish) the DB dir's.
      const sqliteOwn = (l: string): boolean => !/^var\/guix\/db /.test(l) && !/var\/guix\/db\/db\.sqlite-(wal|shm)\b/.test(l);
      expect(storeLines(h.root).filter(sqliteOwn)).toEqual(h.before.filter((l) => !/^(gnu|gnu\/store) /.test(l)).filter(sqliteOwn));
      expect(dbState(h.root)).toEqual(h.dbBefore);
      expect(privateDirs(path.join(h.root, 'gnu'))).toEqual([]);
      expect(fs.readdirSync(h.outside)).toEqual([]);
      expect(h.daemon.events()).toEqual(['stop', 'start']);
      expect(h.daemon.alive()).toBe(true);
      expect(free()).toBe(freeBefore);
      const post = await job.post();
      expect({ code: post.code, errors: post.errors }).toEqual({ code: 0, errors: [] });
    });
  });

  // ---- what the lanes are fed -----------------------------------------------------------------

  test(`a frame of a few KB that decompresses to 256 MiB of zeros after its end-of-archive block: refused past ${MAX_TRAILER_BYTES} bytes, at once`, async () => {
    const h = al.host();
    const key = `al_bomb_${tag}`;
    const tar = makeTar(al.plain('bomb'));
    await publishEdited(key, [tar, makeTar(al.plain('bomb2'))], {}, (m, snap) => {
      // The first frame re-made: the same tar, then 256 MiB of zeros (which GNU tar never reads).
      const frame = path.join(snap, String(m.archives[0].file));
      const raw = path.join(snap, 'bomb.tar');
      fs.writeFileSync(raw, tar);
      sh(`{ cat ${q(raw)}; head -c 256M /dev/zero; } | zstd -q -c > ${q(frame)}`);
      fs.rmSync(raw);
      const bytes = fs.readFileSync(frame);
      m.archives[0].bytes = bytes.length;
      m.archives[0].sha256 = sh(`sha256sum < ${q(frame)}`).stdout.split(' ')[0];
      expect(bytes.length).toBeLessThan(64 * 1024);
    });
    // Without the bound the zeros were read to their end (no data bound counts them) and the
    // snapshot restored: 256 MiB here, terabytes from a frame of a few MB.
    const main = await slowJob(h).main(inputs(h, key));
    expectUntouched(h, main, new RegExp(`more than ${MAX_TRAILER_BYTES} bytes after the end-of-archive block`));
  });

  test.each<[string, (m: { archives: Array<Record<string, unknown>> }) => void, RegExp]>([
    [
      "each frame's record listing the other frame's item",
      (m) => {
        m.archives[0].items = [`/${item('sw1')}`];
        m.archives[1].items = [`/${item('sw0')}`];
      },
      /is held by archive 0, but the manifest lists it in archive 1/
    ],
    [
      'a frame listing an item of the store it does not hold (as if it carried a new copy)',
      (m) => {
        m.archives[0].items = [`/${item('sw0')}`];
        m.archives[1].items = [`/${item('sw1')}`, `/${item('sw0')}-x`];
      },
      /is listed by the manifest record of archive 1, which does not hold it/
    ]
  ])('frames and their manifest records disagreeing (%s): refused, nothing restored', async (what, edit, reason) => {
    const h = al.host();
    const key = `al_lists_${what.replace(/[^a-z]/g, '').slice(0, 40)}_${tag}`;
    await publishEdited(key, [makeTar(al.plain('sw0')), makeTar(al.plain('sw1'))], {}, edit);
    const main = await slowJob(h).main(inputs(h, key));
    expectUntouched(h, main, reason);
  });

  test('frames claiming data sizes no host has (2^53 - 1 bytes each): refused before a byte of any frame is downloaded', async () => {
    const h = al.host();
    const key = `al_huge_${tag}`;
    await al.publish(key, [bigItem('huge0', 256 * 1024), bigItem('huge1', 256 * 1024)], { dataBytes: [Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER] });
    const before = (await server.stats()).downloadBytes;
    const main = await al.runJob(h, key);
    expectUntouched(h, main, /the snapshot needs about \d+ bytes on .*; nothing was extracted/);
    // The index, manifest and registrations only: far less than one frame.
    expect((await server.stats()).downloadBytes - before).toBeLessThan(64 * 1024);
  });

  // ---- the host around the private dir ----------------------------------------------------------

  test('`.runbox-restore-*` names planted where private dirs go (symlinks out, files, dirs of another user, a dead restore dir holding a symlink out): none followed, only root-owned dead ones reaped; the restore succeeds', async () => {
    const h = al.host();
    const key = `al_planted_${tag}`;
    await al.publish(key, [makeTar(al.plain('pl'))], { registrations: regDoc([reg(item('pl'))]) });
    const victim = tempDir('runbox-al-victim-');
    fs.writeFileSync(path.join(victim, 'precious'), 'precious\n');
    fs.mkdirSync(path.join(victim, 'sub'));
    fs.writeFileSync(path.join(victim, 'sub', 'more'), 'more\n');
    const victimBefore = contentManifest(victim);
    const nobody = Number(sh('id -u runbox-nosudo').stdout.trim() || '65534');
    // pid 1 runs: a name with its start time is a live restore's, kept whoever made it.
    const init = procOf(1)?.start ?? '0';
    const kept: string[] = [];
    const reaped: string[] = [];
    for (const home of [h.root, path.join(h.root, 'gnu'), path.join(h.root, 'gnu/store')]) {
      const n = (pid: number): string => path.join(home, `.runbox-restore-${pid}-1`);
      fs.symlinkSync(victim, n(999_999_991));
      kept.push(n(999_999_991));
      fs.writeFileSync(n(999_999_992), 'a file\n');
      fs.chownSync(n(999_999_992), nobody, nobody);
      kept.push(n(999_999_992));
      fs.mkdirSync(n(999_999_993));
      fs.symlinkSync(victim, path.join(n(999_999_993), 'tree'));
      fs.lchownSync(path.join(n(999_999_993), 'tree'), nobody, nobody);
      fs.chownSync(n(999_999_993), nobody, nobody);
      kept.push(n(999_999_993));
      // root's, dead: reaped, and the symlinks inside it removed, never followed.
      fs.mkdirSync(path.join(n(999_999_994), 'tree'), { recursive: true });
      fs.symlinkSync(victim, path.join(n(999_999_994), 'tree', 'escape'));
      fs.symlinkSync(path.join(victim, 'sub'), path.join(n(999_999_994), 'sub'));
      sh(`chmod 0555 ${q(path.join(n(999_999_994), 'tree'))}`);
      reaped.push(n(999_999_994));
      const live = path.join(home, `.runbox-restore-1-${init}`);
      fs.mkdirSync(live);
      fs.writeFileSync(path.join(live, 'held'), 'held\n');
      kept.push(live);
    }
    const keptBefore = kept.map((k) => `${k} ${sh(`find ${q(k)} -printf '%y %U %m %P -> %l\\n' | sort`).stdout}`);
    const job = storeJob(server.url, { storeRoot: h.root });
    al.jobs.push(job);
    const main = await job.main(inputs(h, key));
    expect({ code: main.code, errors: main.errors }).toEqual({ code: 0, errors: [] });
    expect(main.outputs).toMatchObject({ 'cache-hit': 'true' });
    expect(fs.existsSync(path.join(h.root, item('pl'), 'f'))).toBe(true);
    expect(contentManifest(victim)).toEqual(victimBefore);
    for (const r of reaped) expect(fs.existsSync(r)).toBe(false);
    expect(kept.map((k) => `${k} ${sh(`find ${q(k)} -printf '%y %U %m %P -> %l\\n' | sort`).stdout}`)).toEqual(keptBefore);
    const said = /removed (\d+) private dir\(s\) of killed restores: ([^<]*)</.exec(main.summary);
    expect(said?.[2].split(', ').sort()).toEqual([...reaped].sort());
    // Nothing else of the root changed but the new item, its registration and the dirs that held the planted names.
    const other = (l: string): boolean =>
      !l.includes('.runbox-restore-') && !l.includes(path.basename(item('pl'))) && !/^(|gnu|gnu\/store|var\/guix\/db|var\/guix\/db\/[^ ]*) /.test(l) && !l.includes('./var/guix/db/');
    expect(contentManifest(h.root).filter(other)).toEqual(h.before.filter(other));
    const rowsBefore = h.dbBefore?.rows ?? [];
    expect(
      dbState(h.root)
        ?.rows.filter((r) => !rowsBefore.includes(r))
        .map((r) => r.split(' ')[0])
    ).toEqual([`/${item('pl')}`]);
    expect(h.daemon.alive()).toBe(true);
    expect(h.daemon.events()).toEqual(['stop', 'start']);
    const post = await job.post();
    expect({ code: post.code, errors: post.errors }).toEqual({ code: 0, errors: [] });
    for (const k of kept) sh(`rm -rf ${q(k)}`);
  });
  // ---- restore-all-matches ----------------------------------------------------------------------

  test('restore-all-matches: newer entries of a branch the job cannot read never take one of its slots; a matched key that reads as a workflow command stays inside its line', async () => {
    api ??= await startCachesApiProcess(server.url);
    const root = tempDir('runbox-al-merge-');
    sh(`mkdir -p ${q(path.join(root, 'gnu/store'))} ${q(path.join(root, 'var/guix/db'))}`);
    const h = al.host({ fresh: true, root });
    const prefix = `al-merge-${tag}-`;
    const pwn = `PWN${tag}`;
    const keys = [`${prefix}a`, `${prefix}::error::${pwn}`];
    await al.publish(keys[0], [makeTar(al.plain('ma'))], { registrations: regDoc([reg(item('ma'))]) });
    await al.publish(keys[1], [makeTar(al.plain('mb'))], { registrations: regDoc([reg(item('mb'))]) });
    // Whoever can push a branch saves there: listed by the REST API (which shows every ref's),
    // newer than the job's own, more than it merges. The service would refuse them to this job.
    const now = Date.now();
    await api.control({
      add: Array.from({ length: MAX_MERGED + 2 }, (_, i) => ({
        key: `${prefix}evil-${i}`,
        version: entryVersion('guix', ['/gnu/store', '/var/guix/db']),
        ref: 'refs/heads/evil',
        created_at: new Date(now + 60_000 + i * 1000).toISOString()
      }))
    });
    // The job's default branch, from the event payload as the runner writes it.
    const event = path.join(tempDir('runbox-al-event-'), 'event.json');
    fs.writeFileSync(event, JSON.stringify({ repository: { default_branch: 'main' } }));
    const job = storeJob(server.url, { storeRoot: root, env: { GITHUB_API_URL: api.url, GITHUB_TOKEN: api.token, GITHUB_EVENT_PATH: event } });
    al.jobs.push(job);
    const m = await job.main({ ...inputs(h, `${prefix}x`), 'restore-keys': prefix, 'restore-all-matches': 'true' });
    expect({ code: m.code, errors: m.errors }).toEqual({ code: 0, errors: [] });
    expect((JSON.parse(m.outputs['matched-keys']) as string[]).sort()).toEqual([...keys].sort());
    expect(m.stdout).not.toContain(`${prefix}evil-`);
    expect(fs.readdirSync(path.join(root, 'gnu/store')).sort()).toEqual([path.basename(item('ma')), path.basename(item('mb'))].sort());
    expect(sqlQuery(path.join(root, DB), 'SELECT path FROM ValidPaths ORDER BY path')).toEqual([`/${item('ma')}`, `/${item('mb')}`].sort());
    // The key was said, and no line the runner reads starts a command with it.
    expect(m.stdout).toContain(pwn);
    const commands = m.stdout
      .split(/\r\n|\r|\n/)
      .filter((l) => l.includes(pwn))
      .filter((l) => /^\s*(::|##\[)/.test(l) && !/^::(warning|debug)::/.test(l));
    expect(commands).toEqual([]);
    expect(fs.readdirSync(h.outside)).toEqual([]);
    expect(h.daemon.alive()).toBe(true);
    const post = await job.post();
    expect({ code: post.code, errors: post.errors }).toEqual({ code: 0, errors: [] });
  });
});
