// Host paths as another local user would attack them: symlinks planted in the paths runbox
// creates or chowns (anywhere along the path, not only the last component), and trees whose
// chown could be sent elsewhere. Against the built dist/, as the runner user runbox-ci.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { FakeJob, snapshotTree } from './helpers/action-runner.js';
import { asRoot, describeWith, sudoUser } from './helpers/prereq.js';
import { mountTmpfs } from './helpers/tmpfs.js';

const user = sudoUser();
const jobs: FakeJob[] = [];
afterAll(() => jobs.forEach((j) => j.cleanup()));

function job(runId: string, extra: Record<string, unknown> = {}): FakeJob {
  const j = new FakeJob({ user: user as NonNullable<typeof user>, runId, ...extra });
  jobs.push(j);
  return j;
}

/** A root-owned tree an attacker wants handed to the runner user (or written into). */
function rootTree(j: FakeJob, name: string): string {
  const t = path.join(j.root, name);
  fs.mkdirSync(path.join(t, 'sub'), { recursive: true });
  fs.writeFileSync(path.join(t, 'sub', 'secret'), 'root data', { mode: 0o600 });
  return t;
}

const ownersUnder = (dir: string): string[] => snapshotTree(dir);
const prereqs = [asRoot(), user ? { ok: true, reason: '' } : { ok: false, reason: 'no non-root user with passwordless sudo (runbox-ci; .ci/run creates it)' }];

describeWith(prereqs)('host paths through planted symlinks', () => {
  test('a planted RUNNER_TEMP/runbox symlink: main refuses before creating anything at its target, naming the input and the fix', async () => {
    const j = job('700');
    const victim = rootTree(j, 'victim');
    fs.symlinkSync(victim, path.join(j.runnerTemp, 'runbox'));
    const before = ownersUnder(victim);
    const r = await j.main({ dirs: 'target', 'lock-timeout': '0' });
    expect(r.code).not.toBe(0);
    const err = r.errors.join('\n');
    expect(err).toContain(`Input 'base-dir': '${j.runnerTemp}/runbox' resolves through a symlink (${j.runnerTemp}/runbox -> ${victim})`);
    expect(err).toContain(`remove ${j.runnerTemp}/runbox if you did not make it`);
    expect(ownersUnder(victim)).toEqual(before);
    const p = await j.post();
    expect(p.code).toBe(0);
    expect(ownersUnder(victim)).toEqual(before);
  });

  test('a symlinked parent of a mount source: nothing created or chowned at its target', async () => {
    const j = job('701');
    const victim = rootTree(j, 'victim');
    fs.symlinkSync(victim, path.join(j.workspace, 'cache-link'));
    const before = ownersUnder(victim);
    for (const m of [path.join(j.workspace, 'cache-link', 'new-cache'), path.join(j.workspace, 'cache-link', 'sub')]) {
      const r = await j.main({ 'base-dir': path.join(j.runnerTemp, 'runbox'), dirs: 'target', mounts: m });
      expect(r.code).not.toBe(0);
      expect(r.errors.join('\n')).toContain(`Input 'mounts': '${m}' resolves through a symlink (${j.workspace}/cache-link -> ${victim})`);
      expect(fs.existsSync(path.join(j.runnerTemp, 'runbox'))).toBe(false);
    }
    expect(ownersUnder(victim)).toEqual(before);
  });

  test('reclaim through a symlinked parent chowns nothing, at main and at post', async () => {
    const j = job('702');
    const victim = rootTree(j, 'victim');
    const before = ownersUnder(victim);
    fs.symlinkSync(victim, path.join(j.workspace, 'ws-link'));
    const r = await j.main({ 'base-dir': path.join(j.runnerTemp, 'runbox'), reclaim: path.join(j.workspace, 'ws-link', 'sub') });
    expect(r.code).not.toBe(0);
    expect(r.errors.join('\n')).toContain(`Input 'reclaim': '${j.workspace}/ws-link/sub' resolves through a symlink`);
    expect(ownersUnder(victim)).toEqual(before);

    // Accepted at main, then a parent swapped for a symlink before post runs.
    const k = job('703');
    const victim2 = rootTree(k, 'victim');
    const before2 = ownersUnder(victim2);
    fs.mkdirSync(path.join(k.workspace, 'out', 'sub'), { recursive: true });
    fs.chownSync(path.join(k.workspace, 'out'), (user as NonNullable<typeof user>).uid, (user as NonNullable<typeof user>).gid);
    const m = await k.main({ 'base-dir': path.join(k.runnerTemp, 'runbox'), reclaim: path.join(k.workspace, 'out', 'sub') });
    expect(m.errors).toEqual([]);
    fs.rmSync(path.join(k.workspace, 'out'), { recursive: true });
    fs.symlinkSync(victim2, path.join(k.workspace, 'out'));
    const p = await k.post();
    expect(p.errors.join('\n')).toContain(`reclaim path ${k.workspace}/out/sub passes through the symlink ${k.workspace}/out (to ${victim2}); nothing was chowned`);
    expect(ownersUnder(victim2)).toEqual(before2);
  });
});

const fsMount = mountTmpfs('runbox-reclaim', 8 * 1024 * 1024);
afterAll(() => fsMount.unmount());

describeWith([...prereqs, fsMount.prereq])("reclaim stays on the path's filesystem and never follows links", () => {
  test('a mount point and a symlink inside the reclaimed tree keep their owners', async () => {
    const j = job('704');
    const u = user as NonNullable<typeof user>;
    const ws = j.workspace;
    // What a root container left: root files in the workspace, a symlink to a root tree.
    fs.mkdirSync(path.join(ws, 'build'), { mode: 0o700 });
    fs.writeFileSync(path.join(ws, 'build', 'a.o'), 'x');
    const victim = rootTree(j, 'victim');
    fs.symlinkSync(victim, path.join(ws, 'build', 'to-victim'));
    // Another filesystem mounted inside the workspace (a bind mount of a host dir, say).
    const inner = path.join(ws, 'mnt');
    fs.mkdirSync(inner);
    fs.chownSync(inner, u.uid, u.gid);
    expect(spawnSync('mount', ['--bind', fsMount.dir, inner]).status).toBe(0);
    try {
      fs.writeFileSync(path.join(inner, 'host-file'), 'x');
      const beforeVictim = ownersUnder(victim);
      const r = await j.main({ 'base-dir': path.join(j.runnerTemp, 'runbox'), reclaim: ws });
      expect(r.errors).toEqual([]);
      expect(fs.statSync(path.join(ws, 'build', 'a.o')).uid).toBe(u.uid);
      expect(fs.lstatSync(path.join(ws, 'build', 'to-victim')).uid).toBe(u.uid);
      expect(ownersUnder(victim)).toEqual(beforeVictim);
      expect(fs.statSync(path.join(inner, 'host-file')).uid).toBe(0);
      await j.post();
      expect(fs.statSync(path.join(inner, 'host-file')).uid).toBe(0);
    } finally {
      spawnSync('umount', [inner]);
    }
  });
});
