// Mount detection by mount ID (sys/mount-id.ts): the store dir a bind mount of a dir of the same
// filesystem (same st_dev as its parent, another mount) gets its private dir inside it, so the
// items are renamed, not copied across mounts, and the restore registers them as usual. And a
// hung FUSE mount on the host (root's stat of it never returns) does not hang the confined
// extraction, whose namespace remounts it without looking at it; and a local user renaming the
// dir above world-writable mounts while the namespace remounts them cannot keep one writable
// (SYSTEM: the hung mount and the world-writable ones are the host's for a few seconds; anything
// stat'ing every mount meanwhile would wait, and every other confined extraction would refuse).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, expect, test } from '@jest/globals';
import { createSnapshot } from '../src/store/archive.js';
import { privatePlace } from '../src/store/private-extract.js';
import { realStorePaths } from '../src/store/config.js';
import { applySnapshot } from '../src/store/restore.js';
import { runPipeline } from '../src/store/pipeline.js';
import { confinedCommand, makeConfinedDir } from '../src/sys/confined.js';
import { withoutPivotRoot } from './helpers/no-pivot.js';
import { mountIdOf } from '../src/sys/mount-id.js';
import { asRoot, describeWith, probe, systemOptIn } from './helpers/prereq.js';
import { addRegisteredItems, buildGuixLayout, dbContents, itemsView, q, removeTempDirs, sh, tempDir } from './fixtures/store.js';

const STORE_PATHS = ['/gnu/store', '/var/guix/db'];
const DB_DIR = '/var/guix/db';

describeWith([asRoot(), probe('GNU tar', 'tar'), probe('zstd', 'zstd'), probe('sqlite3', 'sqlite3', ['-version'])])('mount detection by mount ID', () => {
  const mounted: string[] = [];
  afterAll(() => {
    for (const m of mounted.reverse()) spawnSync('umount', [m]);
    removeTempDirs();
  });

  test('a store dir bind-mounted from the same filesystem: detected, the private dir goes on its mount, the restore adds and registers the items', async () => {
    const src = buildGuixLayout(tempDir()).root;
    const added = addRegisteredItems(src, ['bind-a', 'bind-b']);
    const staging = tempDir('runbox-mounts-staging-');
    const snapshotDir = path.join(staging, 'runbox-snapshot');
    fs.mkdirSync(snapshotDir);
    fs.mkdirSync(path.join(staging, 'scratch'));
    await createSnapshot({ root: src, kind: 'guix', storePaths: STORE_PATHS, dbDir: DB_DIR, snapshotDir, scratchDir: path.join(staging, 'scratch'), shards: 1 });

    // The destination's store moves to a dir beside it, on the same filesystem, bind-mounted back.
    const root = buildGuixLayout(tempDir()).root;
    const store = path.join(root, 'gnu/store');
    const backing = path.join(root, 'store-backing');
    sh(`mv ${q(store)} ${q(backing)} && mkdir ${q(store)} && chmod --reference=${q(backing)} ${q(store)}`);
    expect(spawnSync('mount', ['--bind', backing, store]).status).toBe(0);
    mounted.push(store);
    expect(fs.statSync(store).dev).toBe(fs.statSync(path.dirname(store)).dev);
    expect(mountIdOf(store)).not.toBe(mountIdOf(path.dirname(store)));
    const before = itemsView(store);

    expect(privatePlace(root, realStorePaths(root, STORE_PATHS)).parent).toBe(store);
    await applySnapshot({ root, kind: 'guix', storePaths: STORE_PATHS, dbDir: DB_DIR, daemon: { kind: 'none' }, snapshotDir, scratchDir: tempDir('runbox-mounts-scratch-') });
    expect(itemsView(store)).toEqual(itemsView(path.join(src, 'gnu/store')));
    expect(itemsView(store)).not.toEqual(before);
    const paths = dbContents(path.join(root, 'var/guix/db/db.sqlite')).paths;
    for (const a of added) {
      expect(paths).toContain(a);
      expect(mountIdOf(path.join(root, a))).toBe(mountIdOf(store));
    }
    // Nothing left beside the store or in it but the items.
    expect(fs.readdirSync(path.join(root, 'gnu')).sort()).toEqual(['store']);
    expect(fs.readdirSync(store).filter((n) => n.startsWith('.runbox-'))).toEqual([]);
  });

  test('mountIdOf: a symlink is not followed', () => {
    const d = tempDir();
    fs.symlinkSync('/tmp', path.join(d, 'link'));
    expect(() => mountIdOf(path.join(d, 'link'))).toThrow(/ELOOP|ENOTDIR/);
    expect(mountIdOf(d)).toBe(mountIdOf(path.dirname(d)));
  });
});

/** Mounts a FUSE filesystem at argv[1] whose daemon never answers (not even INIT), then sleeps. */
const HUNG_FUSE = `
import ctypes, os, sys, time
fd = os.open("/dev/fuse", os.O_RDWR)
libc = ctypes.CDLL(None, use_errno=True)
if libc.mount(b"runbox-hung", sys.argv[1].encode(), b"fuse.runbox-hung", 0, ("fd=%d,rootmode=40000,user_id=0,group_id=0" % fd).encode()) != 0:
    sys.exit("mount: errno %d" % ctypes.get_errno())
print("mounted", flush=True)
time.sleep(120)
`;

/** Runs a confined stage with no input: its stdout, and its failure if any. */
async function runConfined(stage: { cmd: string; args: readonly string[]; privileged?: boolean }): Promise<{ stdout: string; error?: string }> {
  let stdout = '';
  try {
    await runPipeline([stage], {
      consume: async (out) => {
        for await (const c of out as AsyncIterable<Buffer>) stdout += c.toString();
      }
    });
    return { stdout };
  } catch (e) {
    return { stdout, error: (e as Error).message };
  }
}

const fuse = fs.existsSync('/dev/fuse') ? { ok: true, reason: '' } : { ok: false, reason: 'no /dev/fuse' };

describeWith([
  asRoot(),
  systemOptIn('mounts (a hung FUSE mount, world-writable tmpfs mounts, for seconds)'),
  fuse,
  probe('python3', 'python3'),
  probe('unshare', 'unshare'),
  probe('setpriv', 'setpriv')
])('mounts on the host the confined command must not write', () => {
  afterAll(removeTempDirs);

  test("the confined command starts anyway: no mount point is stat'ed, the hung one is out of its reach", async () => {
    const base = tempDir('runbox-hung-');
    const mp = path.join(base, 'm');
    fs.mkdirSync(mp);
    const priv = path.join(base, 'priv');
    fs.mkdirSync(priv, { mode: 0o700 });
    const sub = path.join(priv, '0');
    await makeConfinedDir(sub);
    const daemon = spawn('python3', ['-c', HUNG_FUSE, mp], { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise((resolve) => daemon.once('exit', resolve));
    try {
      await new Promise<void>((resolve, reject) => {
        daemon.stdout.once('data', () => resolve());
        void exited.then(() => reject(new Error('the hung FUSE daemon exited before mounting')));
      });
      // Hung for real: root's stat of the mount point does not return (killed after 2 s).
      const st = spawnSync('stat', ['--', mp], { timeout: 2000, killSignal: 'SIGKILL' });
      expect(st.signal).toBe('SIGKILL');
      // With the pivot the hung mount is detached with the host's others (MNT_DETACH waits for
      // nothing); where pivot_root is refused (one that fails, first in PATH), it is remounted
      // read-only by mount(2) alone.
      for (const mode of ['pivot', 'remount']) {
        let stdout = '';
        const go = (): Promise<unknown> =>
          Promise.race([
            runPipeline([confinedCommand(sub, 'sh', ['-c', 'echo started; (echo x > "$1/x") 2>/dev/null && echo WROTE; :', 'confined', mp])], {
              consume: async (out) => {
                for await (const c of out as AsyncIterable<Buffer>) stdout += c.toString();
              }
            }).then(() => 'done'),
            new Promise((resolve) => setTimeout(() => resolve('hung for 30 s'), 30_000))
          ]);
        const outcome = await (mode === 'remount' ? withoutPivotRoot(go) : go());
        expect(`${mode}: ${String(outcome)}`).toBe(`${mode}: done`);
        expect(stdout).toBe('started\n');
      }
    } finally {
      // Its daemon gone, the connection is aborted: whatever still waits on the mount fails and goes on.
      daemon.kill('SIGKILL');
      await exited;
      spawnSync('umount', [mp]);
    }
  }, 60_000);

  test('a mount point renamed while the namespace remounts (a local user racing it): the command does not start while a mount stays writable', async () => {
    // A dir of runbox-nosudo holding world-writable tmpfs mounts; that user renames the dir to
    // and fro without pause, so the remount of each mount, by the path mountinfo named a moment
    // before, now and then finds nothing there. Such a mount stays writable in the namespace.
    // All of it happens in a mount namespace of the test's own: on the host, those world-writable
    // mounts would make every other confined extraction running meanwhile refuse (as they should).
    const nosudo = { uid: Number(spawnSync('id', ['-u', 'runbox-nosudo'], { encoding: 'utf8' }).stdout), gid: Number(spawnSync('id', ['-g', 'runbox-nosudo'], { encoding: 'utf8' }).stdout) };
    const base = tempDir('runbox-confine-race-');
    const sub = path.join(base, 'priv', '0');
    fs.mkdirSync(path.dirname(sub), { mode: 0o700 });
    await makeConfinedDir(sub);
    // Reachable by the confined uid: only the mounts' being read-only may stop its writes.
    fs.chmodSync(base, 0o755);
    const mounts = Array.from({ length: 6 }, (_, i) => `m${i}`);
    const race = `set -eu
race=$1 uid=$2 gid=$3
shift 3
for m in ${mounts.join(' ')}; do
  mkdir -p -- "$race/a/$m"
  mount -t tmpfs -o size=1m,mode=1777 tmpfs "$race/a/$m"
done
chown -R -- "$uid:$gid" "$race"
(cd -- "$race" && exec setpriv --reuid="$uid" --regid="$gid" --clear-groups perl -e 'for (;;) { rename "a", "b"; rename "b", "a" }') &
renamer=$!
st=0
"$@" || st=$?
kill -KILL "$renamer"
wait "$renamer" 2>/dev/null || :
# What the stand-in wrote goes with this namespace's mounts: name it first.
for f in "$race"/*/m*/*; do [ -e "$f" ] && echo "FOUND $f"; done
exit "$st"
`;
    const script = 'for i in 1 2 3 4 5 6 7 8; do for f in "$@"; do (echo x > "$f") 2>/dev/null && echo "WROTE $f"; done; done; :';
    // The remounts happen only where pivot_root is refused (helpers/no-pivot.ts). With the
    // pivot, the host's mounts leave the namespace whole: nothing to race, nothing refused.
    const refused = { remount: 0, pivot: 0 };
    for (const mode of ['remount', 'pivot'] as const)
      for (let i = 0; i < 4; i++) {
        const dir = path.join(base, `race-${mode}-${i}`);
        const targets = mounts.flatMap((m) => ['a', 'b'].map((d) => path.join(dir, d, m, 'x')));
        const c = confinedCommand(sub, 'sh', ['-c', script, 'taken-over', ...targets]);
        const go = (): ReturnType<typeof runConfined> =>
          runConfined({
            cmd: 'unshare',
            args: ['--mount', '--propagation', 'private', '--', 'sh', '-c', race, 'race', dir, String(nosudo.uid), String(nosudo.gid), c.cmd, ...c.args],
            privileged: true
          });
        const r = await (mode === 'remount' ? withoutPivotRoot(go) : go());
        expect(r.stdout).not.toMatch(/WROTE|FOUND/);
        if (r.error !== undefined) {
          expect(r.error).toMatch(/the confined extraction did not start: these mounts stayed writable in its namespace/);
          refused[mode]++;
        }
      }
    // The race was real: some remount did find nothing, and the check caught what it left.
    expect(refused.remount).toBeGreaterThan(0);
    expect(refused.pivot).toBe(0);
  });
});
