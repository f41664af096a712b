// Untrusted snapshots, end to end: an attacker who can write the repo's cache publishes an entry
// under the key a job will look up. The entry here is made the way one would be: a hand-built
// tar (helpers/store-tar.ts, bytes exactly as written), zstd-compressed into a `runbox-snapshot`
// dir with a manifest whose sha256 and sizes are correct, published as a cache entry through
// runbox's own cache client (fixtures/cache.ts publishEntry), so its cache version equals the
// one the job looks up. Then the built
// action runs (`node dist/main.js`, `node dist/post.js`) against a store that already holds
// items. Each archive also carries a harmless item before the bad member: the refusal must be
// of the whole archive, so nothing at all may appear, inside the store or outside it.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, expect, test } from '@jest/globals';
import { SNAPSHOT_DIR } from '../src/store/cache-io.js';
import type { FakeJob } from './helpers/action-runner.js';
import { asRoot, describeWith, probe } from './helpers/prereq.js';
import { publishEntry, startCacheServerProcess, useCacheService, type CacheServer } from './fixtures/cache.js';
import { keepProcessEnv } from './fixtures/process-env.js';
import { buildGuixLayout, dbContents, forgeArchives, forgeSnapshot, itemName, removeTempDirs, tempDir } from './fixtures/store.js';
import { contentManifest, NixDaemon, stagingLeft, storeJob } from './helpers/store-e2e.js';
import { makeTar, paxRecords, type TarEntry } from './helpers/store-tar.js';

const tag = randomBytes(4).toString('hex');
let server: CacheServer;
const jobs: FakeJob[] = [];
const daemons: NixDaemon[] = [];
const processEnv = keepProcessEnv();

/**
 * Two archives in one snapshot, as a sharded snapshot holds them (`store-<i>.tar.zst`, each
 * with its sha256 and size in the manifest). Every format version has allowed a list of archives
 * from the start, so an attacker can write one whatever runbox itself makes.
 */
function forgeTwoArchives(dir: string, tars: Buffer[]): void {
  forgeArchives(dir, tars);
}

/**
 * Publishes `entries` as a runbox-shaped cache entry under `key` (with `second`, as a snapshot
 * of two archives); `tamper` edits the archive after the manifest was written.
 */
async function publish(key: string, entries: TarEntry[], tamper?: (archive: string) => void, second?: TarEntry[]): Promise<void> {
  const parent = tempDir('runbox-evil-entry-');
  if (second) forgeTwoArchives(path.join(parent, SNAPSHOT_DIR), [makeTar(entries), makeTar(second)]);
  else {
    const tarPath = path.join(parent, 'members.tar');
    fs.writeFileSync(tarPath, makeTar(entries));
    const snap = forgeSnapshot(path.join(parent, SNAPSHOT_DIR), tarPath);
    fs.rmSync(tarPath);
    tamper?.(path.join(snap, 'store.tar.zst'));
  }
  await publishEntry(parent, key);
}

const good = `gnu/store/${itemName(`good-${tag}`)}`;
const GOOD: TarEntry[] = [
  { name: 'gnu/store/', type: '5', mode: 0o1775 },
  { name: `${good}/`, type: '5', mode: 0o555 },
  { name: `${good}/file`, type: '0', mode: 0o444, data: 'harmless\n' }
];

interface Setup {
  root: string;
  /** A dir outside the store root that a symlink member points at. */
  outside: string;
  /** A file in the fake `/` outside the store paths, a hard-link target. */
  victim: string;
}

interface Case {
  name: string;
  members: (s: Setup) => TarEntry[];
  reason: RegExp;
  /** Paths that must not exist afterwards. */
  absent: (s: Setup) => string[];
  tamper?: (archive: string) => void;
  /** Members of a second archive in the same snapshot. */
  second?: (s: Setup) => TarEntry[];
}

const evil = (what: string): string => `gnu/store/${itemName(`evil-${what}-${tag}`)}`;

const CASES: Case[] = [
  {
    name: 'absolute path outside the store paths',
    members: () => [{ name: `/tmp/runbox-evil-abs-${tag}/pwned`, type: '0', data: 'pwned\n' }],
    reason: /member '\/tmp\/runbox-evil-abs-[0-9a-f]+\/pwned' has an absolute path/,
    absent: (s) => [`/tmp/runbox-evil-abs-${tag}`, path.join(s.root, `tmp/runbox-evil-abs-${tag}`)]
  },
  {
    name: 'relative path outside the store paths',
    members: () => [{ name: `etc/cron.d/runbox-evil-${tag}`, type: '0', data: '* * * * * root true\n' }],
    reason: /path 'etc\/cron\.d\/runbox-evil-[0-9a-f]+' lies outside the store paths/,
    absent: (s) => [path.join(s.root, 'etc/cron.d')]
  },
  {
    name: "'..' member",
    members: () => [{ name: `gnu/store/../../../runbox-evil-dotdot-${tag}`, type: '0', data: 'pwned\n' }],
    reason: /has a '\.\.' component in its path/,
    absent: (s) => [path.join(path.dirname(s.root), `runbox-evil-dotdot-${tag}`), path.join(s.root, `runbox-evil-dotdot-${tag}`)]
  },
  {
    name: 'a symlink member, then a file through it',
    members: (s) => [
      { name: evil('link'), type: '2', linkname: s.outside, mode: 0o777 },
      { name: `${evil('link')}/pwned`, type: '0', data: 'pwned\n' }
    ],
    reason: /would be written through the symlink member 'gnu\/store\/[0-9a-z]+-evil-link-/,
    absent: (s) => [path.join(s.outside, 'pwned'), path.join(s.root, evil('link'))]
  },
  {
    name: 'a symlink member, then a hard link through it',
    members: (s) => [
      { name: evil('link2'), type: '2', linkname: s.outside, mode: 0o777 },
      { name: `${evil('link2')}/hl`, type: '1', linkname: `${good}/file` }
    ],
    reason: /would be written through the symlink member/,
    absent: (s) => [path.join(s.outside, 'hl'), path.join(s.root, evil('link2'))]
  },
  {
    name: 'a character device node',
    members: () => [{ name: evil('chr'), type: '3', mode: 0o666, devmajor: 1, devminor: 3 }],
    reason: /member 'gnu\/store\/[0-9a-z]+-evil-chr-[0-9a-f]+' is a character device/,
    absent: (s) => [path.join(s.root, evil('chr'))]
  },
  {
    name: 'a block device node',
    members: () => [{ name: evil('blk'), type: '4', mode: 0o660, devmajor: 8, devminor: 0 }],
    reason: /is a block device/,
    absent: (s) => [path.join(s.root, evil('blk'))]
  },
  {
    name: 'a FIFO',
    members: () => [{ name: evil('fifo'), type: '6', mode: 0o666 }],
    reason: /is a FIFO/,
    absent: (s) => [path.join(s.root, evil('fifo'))]
  },
  {
    name: 'a hard link to a target outside the store',
    members: (s) => [{ name: evil('hl'), type: '1', linkname: path.relative(s.root, s.victim) }],
    reason: /member 'gnu\/store\/[0-9a-z]+-evil-hl-[0-9a-f]+' is a hard link/,
    absent: (s) => [path.join(s.root, evil('hl'))]
  },
  {
    name: 'a hard link to an absolute target',
    members: () => [{ name: evil('hlabs'), type: '1', linkname: '/etc/passwd' }],
    reason: /-evil-hlabs-[0-9a-f]+' is a hard link whose target '\/etc\/passwd' has an absolute hard link target/,
    absent: (s) => [path.join(s.root, evil('hlabs'))]
  },
  {
    name: "the daemon's live DB",
    members: () => [
      { name: 'var/guix/db/', type: '5' },
      { name: 'var/guix/db/db.sqlite', type: '0', data: 'not a database\n' }
    ],
    reason: /is the daemon's live database/,
    absent: () => []
  },
  {
    // Both archives are fine on their own; extracted together (in parallel, for shards) the
    // second one's file would land in the outside dir through the first one's symlink. The
    // padding keeps the second tar busy until the first has ended and made its symlink real
    // (tar keeps one pointing out of its dir as a placeholder until then): only refusing the
    // member before that tar reads it keeps the outside dir empty.
    name: 'a symlink in one archive, a file through it in another',
    members: (s) => [{ name: evil('xlink'), type: '2', linkname: s.outside, mode: 0o777 }],
    second: () => [
      { name: 'gnu/store/', type: '5', mode: 0o1775 },
      { name: `${evil('padding')}/`, type: '5', mode: 0o755 },
      { name: `${evil('padding')}/zeros`, type: '0', data: Buffer.alloc(48 * 1024 * 1024) },
      { name: `${evil('xlink')}/pwned`, type: '0', data: 'pwned\n' }
    ],
    // Without its parent dir in its own archive, the file is refused at once; with it, the item is in two archives.
    reason: /is a store item in two archives|comes before its parent dir/,
    absent: (s) => [path.join(s.outside, 'pwned'), path.join(s.root, evil('xlink'))]
  },
  {
    name: 'a dot-dir symlink in one archive, written into by another',
    members: (s) => [{ name: 'gnu/store/.cache', type: '2', linkname: s.outside, mode: 0o777 }],
    second: () => [
      { name: 'gnu/store/', type: '5', mode: 0o1775 },
      { name: 'gnu/store/.cache/pwned', type: '0', data: 'pwned\n' }
    ],
    reason: /'gnu\/store\/\.cache', a dot-entry of the store dir/,
    absent: (s) => [path.join(s.outside, 'pwned'), path.join(s.root, 'gnu/store/.cache')]
  },
  {
    // Node's old parser merged the two records (and checked `harmless`); GNU tar keeps only the
    // last, so it extracted the ustar name: a setuid file nobody checked.
    name: 'two pax x headers in a row',
    members: () => [
      { name: `${evil('pax')}/`, type: '5', mode: 0o555 },
      { name: 'PaxHeaders/1', type: 'x', data: paxRecords({ path: `${evil('pax')}/harmless` }) },
      { name: 'PaxHeaders/2', type: 'x', data: paxRecords({ mtime: '1' }) },
      { name: `${evil('pax')}/hidden`, type: '0', mode: 0o4755, data: '#!/bin/sh\nid\n' }
    ],
    reason: /a 'x' header follows another extended header/,
    absent: (s) => [path.join(s.root, evil('pax'))]
  },
  {
    // GNU tar makes a dir of it and reads its data as the next headers.
    name: 'a regular file named with a trailing / whose data is a header',
    members: () => [{ name: `${evil('slash')}/`, type: '0', mode: 0o444, data: makeTar([{ name: `${evil('slash')}/hidden`, type: '0', mode: 0o4755, data: 'id\n' }]).subarray(0, 1024) }],
    reason: /has a name ending in \/ but is not a directory/,
    absent: (s) => [path.join(s.root, evil('slash'))]
  },
  {
    name: 'the same member twice',
    members: () => [
      { name: `${evil('dup')}/`, type: '5', mode: 0o555 },
      { name: `${evil('dup')}/f`, type: '0', mode: 0o444, data: 'checked\n' },
      { name: `${evil('dup')}/f`, type: '2', linkname: '/etc/shadow' }
    ],
    reason: /appears twice/,
    absent: (s) => [path.join(s.root, evil('dup'))]
  },
  {
    name: 'an archive altered after its manifest was written',
    members: () => [],
    // Same size, one byte changed in the middle of the compressed stream: only the checksum can tell.
    tamper: (archive) => {
      const b = fs.readFileSync(archive);
      b[Math.floor(b.length / 2)] ^= 0x01;
      fs.writeFileSync(archive, b);
    },
    reason: /store\.tar\.zst: sha256 [0-9a-f]{64} differs from [0-9a-f]{64} recorded at save time/,
    absent: () => []
  }
];

describeWith([asRoot(), probe('GNU tar', 'tar'), probe('zstd', 'zstd'), probe('sqlite3', 'sqlite3', ['-version'])])('malicious snapshots through dist/', () => {
  beforeAll(async () => {
    server = await startCacheServerProcess();
    useCacheService(server.url);
    process.env.RUNNER_TEMP = tempDir('runbox-evil-runner-temp-');
  });

  afterAll(async () => {
    processEnv.restore();
    await server?.stop();
    for (const j of jobs) j.cleanup();
    removeTempDirs();
  });

  function setup(): Setup {
    const root = tempDir('runbox-evil-root-');
    buildGuixLayout(root);
    const victim = path.join(root, 'etc/runbox-victim');
    fs.mkdirSync(path.dirname(victim));
    fs.writeFileSync(victim, 'secret\n', { mode: 0o600 });
    return { root, outside: tempDir('runbox-evil-outside-'), victim };
  }

  /** main with a stand-in store daemon (a process daemon-stop/daemon-start stop and start by pid), which must run afterwards. */
  async function runMain(key: string, s: Setup): Promise<{ main: Awaited<ReturnType<FakeJob['main']>>; job: FakeJob; daemon: NixDaemon }> {
    const job = storeJob(server.url, { storeRoot: s.root });
    jobs.push(job);
    const daemon = new NixDaemon(tempDir('runbox-evil-daemon-'), 'sleep 86400');
    daemons.push(daemon);
    daemon.launch();
    daemon.clearEvents();
    const main = await job.main({ store: 'guix', key, 'daemon-stop': daemon.stop, 'daemon-start': daemon.start });
    expect(daemon.alive()).toBe(true);
    return { main, job, daemon };
  }

  afterEach(() => {
    for (const d of daemons.splice(0)) d.kill();
  });

  test('control: the same way of publishing, with only harmless members, is restored', async () => {
    const key = `evil_control_${tag}`;
    await publish(key, GOOD);
    const s = setup();
    const { main, job } = await runMain(key, s);
    expect({ code: main.code, warnings: main.warnings }).toEqual({ code: 0, warnings: [] });
    expect(main.outputs).toMatchObject({ 'cache-hit': 'true', 'cache-matched-key': key });
    expect(fs.readFileSync(path.join(s.root, good, 'file'), 'utf8')).toBe('harmless\n');
    expect((await job.post()).code).toBe(0);
  });

  test("top-level entries named like the daemon's lock file of an item (a symlink out, a dir, a non-empty file): left out with a warning, the rest restored", async () => {
    // The daemon opens `<item>.lock` as root, following symlinks, whenever it builds or
    // substitutes <item>: a symlink has it create and write a file anywhere, a dir fails every
    // build of <item>, a non-empty file makes it wait for a stale lock forever.
    const key = `evil_lock_${tag}`;
    const s = setup();
    const lock = (what: string): string => `${evil(what)}.lock`;
    await publish(key, [
      ...GOOD,
      { name: lock('sym'), type: '2', linkname: path.join(s.outside, 'planted'), mode: 0o777 },
      { name: `${lock('dir')}/`, type: '5', mode: 0o755 },
      { name: `${lock('dir')}/inner`, type: '0', mode: 0o644, data: 'x\n' },
      { name: lock('file'), type: '0', mode: 0o444, data: 'held\n' }
    ]);
    const { main, job } = await runMain(key, s);
    expect({ code: main.code, errors: main.errors }).toEqual({ code: 0, errors: [] });
    expect(main.outputs).toMatchObject({ 'cache-hit': 'true', 'cache-matched-key': key });
    expect(main.warnings.join('\n')).toMatch(/3 top-level entries named like a daemon lock file \(<item>\.lock\) left out of the restore/);
    expect(fs.readFileSync(path.join(s.root, good, 'file'), 'utf8')).toBe('harmless\n');
    for (const w of ['sym', 'dir', 'file']) expect(fs.lstatSync(path.join(s.root, lock(w)), { throwIfNoEntry: false })).toBeUndefined();
    expect(fs.readdirSync(s.outside)).toEqual([]);
    expect((await job.post()).code).toBe(0);
  });

  test.each(CASES)('$name: refused with a warning, a miss, nothing written anywhere; post exits 0', async (c) => {
    const key = `evil_${CASES.indexOf(c)}_${tag}`;
    const s = setup();
    await publish(key, [...GOOD, ...c.members(s)], c.tamper, c.second?.(s));
    const db = path.join(s.root, 'var/guix/db/db.sqlite');
    const dbBefore = dbContents(db);
    const before = contentManifest(s.root);
    const victimLinks = fs.statSync(s.victim).nlink;
    const passwdLinks = fs.statSync('/etc/passwd').nlink;

    const { main, job, daemon } = await runMain(key, s);
    expect({ code: main.code, errors: main.errors }).toEqual({ code: 0, errors: [] });
    const refusal = main.warnings.find((w) => w.includes(`the snapshot ${key} was not restored`));
    expect(refusal).toMatch(c.reason);
    expect(main.outputs).toMatchObject({ 'cache-hit': 'false', 'cache-matched-key': '', 'cache-primary-key': key });
    expect(main.summary).toContain(`not restored (${key})`);

    // Nothing inside the store root (the harmless item included), nothing outside it.
    expect(contentManifest(s.root)).toEqual(before);
    expect(fs.existsSync(path.join(s.root, good))).toBe(false);
    for (const p of c.absent(s)) expect(`${p} exists: ${fs.existsSync(p)}`).toBe(`${p} exists: false`);
    expect(fs.readdirSync(s.outside)).toEqual([]);
    expect(fs.statSync(s.victim).nlink).toBe(victimLinks);
    expect(fs.statSync('/etc/passwd').nlink).toBe(passwdLinks);
    expect(stagingLeft(job)).toEqual([]);
    // Refused before the daemon was touched; the DB as it was (read after the manifest: sqlite3 touches the DB dir).
    expect(daemon.events()).toEqual([]);
    expect(dbContents(db)).toEqual(dbBefore);

    const post = await job.post();
    expect({ code: post.code, errors: post.errors }).toEqual({ code: 0, errors: [] });
    expect(fs.existsSync(path.join(s.root, good))).toBe(false);
    expect(stagingLeft(job)).toEqual([]);
    expect(daemon.alive()).toBe(true);
  });
});
