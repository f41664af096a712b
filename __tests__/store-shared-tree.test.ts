// Store paths in a tree another local user may change (issue 9, the host paths): a dir on the way
// to the store dir or the DB dir that a user owns or may write (a single-user Nix install's /nix,
// a 0777 parent) lets that user swap what runbox checked for a link between the check and root's
// renames and DB writes, or rename any root-owned dir they reach there to a dead restore's
// private-dir name, which root then deleted. Refused at the inputs, naming the path and the fix;
// and reaping, and making the private dir, only happen where every dir from `/` is root's alone.
// The user is the real `runbox-nosudo`; the action is the built dist/, out of process.
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from '@jest/globals';
import { realStorePaths } from '../src/store/config.js';
import { PrivateRestore, privatePlace, reapPrivateDirs } from '../src/store/private-extract.js';
import { asRoot, describeWith, probe, sudoUser } from './helpers/prereq.js';
import { buildGuixLayout, tempDir } from './fixtures/store.js';
import { HostileHarness, reg, regDoc } from './helpers/hostile-dist.js';
import { contentManifest, describeStep, storeJob } from './helpers/store-e2e.js';
import { makeTar } from './helpers/store-tar.js';

const tag = randomBytes(4).toString('hex');
const at = new HostileHarness('st', tag);
const nosudo = sudoUser('runbox-nosudo');
/** No pid is ever this high (pid_max is at most 2^22): the restore that "made" it is dead. */
const DEAD = '.runbox-restore-999999999-1';

function user(): { uid: number; gid: number } {
  if (!nosudo) throw new Error('no runbox-nosudo (the suite is skipped without one)');
  return nosudo;
}

/** `argv` run as runbox-nosudo (no groups): what that local user can do on its own. */
function asNosudo(argv: string[]): void {
  const u = user();
  const r = spawnSync('setpriv', ['--reuid', String(u.uid), '--regid', String(u.gid), '--clear-groups', '--', ...argv], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${argv.join(' ')} as runbox-nosudo failed: ${r.stderr}`);
}

/** A store root that runbox-nosudo can reach (the temp dir's 0700 opened to 0755), with a Guix layout. */
function reachableRoot(): string {
  const root = tempDir('runbox-st-root-');
  // After the copy: cp -a gives the root the template's own 0700.
  buildGuixLayout(root);
  fs.chmodSync(root, 0o755);
  return root;
}

/** The step's warnings while `p` runs (core.warning writes them to stdout). */
async function warningsOf<T>(p: () => Promise<T>): Promise<{ value: T; warnings: string[] }> {
  const printed: string[] = [];
  const realWrite = process.stdout.write.bind(process.stdout);
  process.stdout.write = (chunk: unknown, ...rest: unknown[]) => {
    printed.push(String(chunk));
    return realWrite(chunk as string, ...(rest as []));
  };
  try {
    const value = await p();
    return {
      value,
      warnings: printed
        .join('')
        .split('\n')
        .filter((l) => l.startsWith('::warning::'))
    };
  } finally {
    process.stdout.write = realWrite;
  }
}

describeWith([
  asRoot(),
  probe('GNU tar', 'tar'),
  probe('zstd', 'zstd'),
  probe('sqlite3', 'sqlite3', ['-version']),
  nosudo ? { ok: true, reason: '' } : { ok: false, reason: 'no user runbox-nosudo (.ci/run creates it)' }
])('store paths in a tree another user may change', () => {
  at.useStandIn();

  describe('in-process', () => {
    test.each<[string, (root: string) => void, string]>([
      ["the store dir's parent is the user's (a single-user install)", (root) => fs.chownSync(path.join(root, 'gnu'), user().uid, user().gid), '/gnu is owned by uid'],
      ["the store dir is the user's", (root) => fs.chownSync(path.join(root, 'gnu/store'), user().uid, user().gid), '/gnu/store is owned by uid'],
      ["the DB dir is the user's", (root) => fs.chownSync(path.join(root, 'var/guix/db'), user().uid, user().gid), '/var/guix/db is owned by uid'],
      ['the root above both may be written by anyone (no sticky bit)', (root) => fs.chmodSync(root, 0o777), ' may be written by users other than root'],
      [
        "the store dir does not exist yet, its parent is the user's",
        (root) => {
          fs.rmSync(path.join(root, 'gnu/store'), { recursive: true, force: true });
          fs.chownSync(path.join(root, 'gnu'), user().uid, user().gid);
        },
        '/gnu is owned by uid'
      ],
      // Nobody may rename root's entries in a sticky dir, but anyone may make a name there first.
      [
        "the store dir does not exist yet, its parent is root's, sticky and writable by all",
        (root) => {
          fs.rmSync(path.join(root, 'gnu/store'), { recursive: true, force: true });
          fs.chmodSync(path.join(root, 'gnu'), 0o1777);
        },
        '/gnu may be written by users other than root, who could make what root would make there first'
      ]
    ])('%s: refused, naming store-paths, the dir and the fix', (_what, share, why) => {
      const root = reachableRoot();
      share(root);
      expect(() => realStorePaths(root, ['/gnu/store', '/var/guix/db'])).toThrow(
        new RegExp(`^Input 'store-paths': '${root}/[a-z/]+' lies in a tree another user may change: ${root}${why}.*owned by root and writable by root alone`, 's')
      );
    });

    test('root-only trees pass: under the sticky /tmp, a 1775 root-owned store dir, a store dir not made yet', () => {
      const root = reachableRoot();
      expect(fs.statSync(path.join(root, 'gnu/store')).mode & 0o7777).toBe(0o1775);
      expect([...realStorePaths(root, ['/gnu/store', '/var/guix/db', '/var/guix/new/dir']).values()]).toEqual([`${root}/gnu/store`, `${root}/var/guix/db`, `${root}/var/guix/new/dir`]);
    });

    test("reaping: a root-owned dir the user renamed to a dead restore's name in a dir it owns is never deleted; the same dir in a root-only home is", async () => {
      const root = reachableRoot();
      const gnu = path.join(root, 'gnu');
      fs.chownSync(gnu, user().uid, user().gid);
      // The store dir is root's, but its entry in gnu is the user's to rename.
      asNosudo(['mv', '-T', '--', path.join(gnu, 'store'), path.join(gnu, DEAD)]);
      const planted = path.join(gnu, DEAD);
      expect(fs.statSync(planted).uid).toBe(0);
      const before = contentManifest(planted);
      expect(await reapPrivateDirs(gnu)).toEqual({ reaped: [], skipped: `${gnu} is owned by uid ${user().uid}` });
      expect(contentManifest(planted)).toEqual(before);
      // Control: root-only again, the same dir is a dead restore's private dir and goes.
      fs.chownSync(gnu, 0, 0);
      expect(await reapPrivateDirs(gnu)).toEqual({ reaped: [planted] });
      expect(fs.existsSync(planted)).toBe(false);
    });

    test('a store dir the user may write: reaped nowhere in it (a warning names it), reaped beside it; a private dir is never made in a dir the user may write', async () => {
      const root = reachableRoot();
      const store = path.join(root, 'gnu/store');
      fs.chownSync(store, user().uid, user().gid);
      const inStore = path.join(store, DEAD);
      const beside = path.join(root, 'gnu', DEAD);
      for (const d of [inStore, beside]) fs.mkdirSync(d);
      const disk = new Map([['/gnu/store', store]]);
      const { value, warnings } = await warningsOf(() => PrivateRestore.open(disk, privatePlace(root, disk)));
      await value.restore.close();
      expect(value.reaped).toEqual([beside]);
      expect(fs.existsSync(inStore)).toBe(true);
      expect(warnings).toEqual([expect.stringContaining(`private dirs of killed restores are not looked for in ${store}: ${store} is owned by uid ${user().uid}`)]);

      fs.chownSync(store, 0, 0);
      fs.chownSync(path.join(root, 'gnu'), user().uid, user().gid);
      await expect(PrivateRestore.open(disk, privatePlace(root, disk))).rejects.toThrow(`refusing to make a private dir in ${root}/gnu: ${root}/gnu is owned by uid ${user().uid}`);
      expect(fs.readdirSync(path.join(root, 'gnu')).sort()).toEqual(['store']);
    });
  });

  test("through dist/: the user owns the store's parent and renamed the store to a dead restore's name; main refuses at the inputs, nothing is deleted or made, the daemon never stopped", async () => {
    const h = at.host();
    fs.chmodSync(h.root, 0o755);
    const gnu = path.join(h.root, 'gnu');
    fs.chownSync(gnu, user().uid, user().gid);
    asNosudo(['mv', '-T', '--', path.join(gnu, 'store'), path.join(gnu, DEAD)]);
    const key = `st_reap_${tag}`;
    await at.publish(key, [makeTar(at.plain('new'))], { registrations: regDoc([reg(at.item('new'))]) });
    const before = contentManifest(h.root);
    const job = storeJob(at.url, { storeRoot: h.root });
    at.jobs.push(job);
    const main = await job.main({ store: 'guix', key, save: 'never', 'daemon-stop': h.daemon.stop, 'daemon-start': h.daemon.start });
    // Before: exit 0, the store (renamed) deleted as a killed restore's private dir, a new one made.
    expect(contentManifest(h.root)).toEqual(before);
    expect(main.code).not.toBe(0);
    expect(main.errors.join('\n') || describeStep(main)).toMatch(
      new RegExp(`Input 'store-paths': '${h.root}/gnu/store' lies in a tree another user may change: ${gnu} is owned by uid ${user().uid};.*chown root`)
    );
    expect(h.daemon.events()).toEqual([]);
    const post = await job.post();
    expect(post.code).toBe(0);
    expect(contentManifest(h.root)).toEqual(before);
    expect(h.daemon.alive()).toBe(true);
  });
});
