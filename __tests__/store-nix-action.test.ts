// Store snapshots through the built action against the host's REAL Nix store at `/` and a real
// nix-daemon (out of process, like store-action.test.ts: `node dist/main.js`, then `node
// dist/post.js`, against the loopback cache server in its own process): save, delete, restore,
// and Nix's own verify/validity checks; the daemon stopped exactly across the extract, also when
// the extract fails for real (an immutable dir) and when main is cancelled mid-extract.
// It changes the host's /nix/store, so it is a SYSTEM file (jest.config.js): never beside another.
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { FakeJob, StepResult } from './helpers/action-runner.js';
import { keepersHolding } from './helpers/keepers.js';
import { asRoot, describeWith, probe, systemOptIn } from './helpers/prereq.js';
import { startCacheServerProcess, type CacheServer } from './fixtures/cache.js';
import { q, removeTempDirs, sh, tempDir, treeManifest } from './fixtures/store.js';
import { describeStep, NixDaemon, NixPaths, processesMentioning, stagingLeft, storeJob, tarWrapper, tempBytes, waitFor, type StoreJobOptions } from './helpers/store-e2e.js';

const tag = randomBytes(4).toString('hex');
let server: CacheServer;
const jobs: FakeJob[] = [];

function job(o: StoreJobOptions = {}): FakeJob {
  const j = storeJob(server.url, o);
  jobs.push(j);
  return j;
}

async function uploads(): Promise<number> {
  return (await server.stats()).uploads;
}

function ok(r: StepResult): void {
  if (r.code !== 0 || r.errors.length > 0) throw new Error(`step failed: ${describeStep(r)}`);
}

/** What @actions/glob's hashFiles gives for one file: sha256 over the file's sha256 digest. */
function hashOneFile(content: string): string {
  return createHash('sha256').update(createHash('sha256').update(content).digest()).digest('hex');
}

describeWith([
  systemOptIn('/nix/store and nix-daemon'),
  asRoot(),
  probe('GNU tar', 'tar'),
  probe('zstd', 'zstd'),
  probe('sqlite3', 'sqlite3', ['-version']),
  probe('nix-store (Debian nix-bin)', 'nix-store', ['--version']),
  probe('nix-daemon', 'sh', ['-c', 'command -v nix-daemon']),
  probe('setsid', 'sh', ['-c', 'command -v setsid']),
  probe('chattr', 'sh', ['-c', 'command -v chattr && command -v lsattr'])
])('store snapshots through dist/', () => {
  beforeAll(async () => {
    server = await startCacheServerProcess();
  });

  afterAll(async () => {
    await server?.stop();
    for (const j of jobs) j.cleanup();
    removeTempDirs();
  });

  // ------------------------------------------------------------------------------------------
  describe('a real Nix store at / with a real nix-daemon', () => {
    let work: string;
    let daemon: NixDaemon;
    let bin: string;
    let slowFlag: string;
    let nix: NixPaths;
    const workflow = `# runbox e2e nix ${tag}\non: push\n`;
    let p1: string;
    let p2: string;
    let p3: string;
    let key: string;
    let p1Manifest: string[];
    let p2Manifest: string[];
    /** The .links entries of p1/data and p2 (Nix's dedup), with their sizes. */
    let ourLinks: Array<[string, number]>;
    const LINKS = '/nix/store/.links';
    const DB = '/nix/var/nix/db/db.sqlite';
    const STALL = '61.7';

    const valid = (p: string): boolean => nix.valid(p);
    const nixJob = (o: StoreJobOptions = {}): FakeJob => job({ workflow, ...o, env: { PATH: `${bin}:${process.env.PATH ?? ''}`, ...o.env } });
    const inputs = (): Record<string, string> => ({ store: 'nix', ...daemon.inputs() });

    const addPath = (name: string, make: (p: string) => void): string => nix.add(name, make);

    function verify(checkContents: boolean): void {
      const r = sh(`nix-store --verify ${checkContents ? '--check-contents' : ''} 2>&1`, { allowFailure: true });
      const problems = r.stdout.split('\n').filter((l) => /error|invalid|corrupt|missing|modified|disappeared|doesn't|does not/i.test(l));
      expect({ code: r.code, problems }).toEqual({ code: 0, problems: [] });
    }

    function integrity(): void {
      expect(sh(`sqlite3 -readonly ${DB} 'PRAGMA integrity_check'`).stdout.trim()).toBe('ok');
    }

    /** Private dirs of restores in /nix (none once a restore ended, even a cancelled one). */
    function privateDirsLeft(): string[] {
      return fs.readdirSync('/nix').filter((n) => n.startsWith('.runbox-restore-'));
    }

    /** A single-file store path: type, mode, owner, mtime, links, size, and its sha256. */
    function fileManifest(p: string): string[] {
      return [sh(`find ${q(p)} -printf '%y %m %U %G %T@ %n %s'`).stdout, sh(`sha256sum < ${q(p)}`).stdout.trim()];
    }

    function deletePaths(...ps: string[]): void {
      sh(`nix-store --delete ${ps.map(q).join(' ')} >/dev/null 2>&1`);
      for (const p of ps) expect(`${p} ${valid(p)} ${fs.existsSync(p)}`).toBe(`${p} false false`);
    }

    beforeAll(() => {
      work = tempDir('runbox-action-nix-');
      nix = new NixPaths(work);
      daemon = new NixDaemon(work);
      bin = path.join(work, 'bin');
      slowFlag = path.join(work, 'slow-extract');
      tarWrapper(bin, { log: daemon.log, daemonUp: daemon.isUp, slowFlag, stallTag: STALL });
      daemon.launch();
      daemon.clearEvents();
    });

    afterAll(() => {
      fs.rmSync(slowFlag, { force: true });
      sh(`chattr -i /nix/store 2>/dev/null || true`);
      daemon?.kill();
      nix?.removeAll();
    });

    test('save, delete the paths, add another, restore: Nix verifies the store, old and new paths valid, daemon down exactly across the move into the store', async () => {
      expect(daemon.alive()).toBe(true);
      // The liveness test the wrapper and daemon-stop rely on tells a running daemon from a stopped one.
      expect(sh(daemon.isUp, { allowFailure: true }).code).toBe(0);
      p1 = addPath(`runbox-e2e-a-${tag}`, (src) => {
        fs.mkdirSync(path.join(src, 'bin'), { recursive: true });
        fs.writeFileSync(path.join(src, 'data'), randomBytes(256 * 1024));
        fs.writeFileSync(path.join(src, 'bin/tool'), `#!/bin/sh\necho ${tag}\n`, { mode: 0o755 });
        fs.symlinkSync('data', path.join(src, 'link'));
      });
      p2 = addPath(`runbox-e2e-b-${tag}`, (src) => fs.writeFileSync(src, randomBytes(256 * 1024)));
      // Nix's own dedup: every file gets a hard link in /nix/store/.links.
      sh('nix-store --optimise >/dev/null 2>&1');
      p1Manifest = treeManifest(p1);
      p2Manifest = fileManifest(p2);
      ourLinks = [`${p1}/data`, p2].map((f) => [sh(`find ${LINKS} -samefile ${q(f)}`).stdout.trim(), fs.statSync(f).size]);
      expect(ourLinks.map(([l]) => path.dirname(l))).toEqual([LINKS, LINKS]);
      expect(p1Manifest.find((l) => l.startsWith('data '))).toMatch(/^data f 444 0 0 1\.0+ 2 262144 $/);

      const a = nixJob();
      const m = await a.main(inputs());
      ok(m);
      key = m.outputs['cache-primary-key'];
      expect(key).toBe(`runbox-nix-${process.platform}-${process.arch}-2.8.0-${hashOneFile(workflow)}`);
      expect(m.outputs).toMatchObject({ 'cache-hit': 'false', 'cache-matched-key': '' });
      expect(daemon.events()).toEqual([]); // a miss leaves the daemon alone
      const before = await uploads();
      const p = await a.post();
      ok(p);
      expect(p.summary).toContain(`saved ${key}`);
      expect(await uploads()).toBe(before + 1);
      expect(stagingLeft(a)).toEqual([]);
      expect(tempBytes(a)).toBeLessThan(4096);

      deletePaths(p1, p2);
      p3 = addPath(`runbox-e2e-c-${tag}`, (src) => fs.writeFileSync(src, `added after the snapshot ${tag}\n`));

      const b = nixJob();
      const mb = await b.main(inputs());
      ok(mb);
      expect(mb.outputs).toMatchObject({ 'cache-hit': 'true', 'cache-matched-key': key, 'cache-primary-key': key });
      // One pass: checked and extracted into the private dir while the daemon ran, then moved in with it stopped.
      if (!daemon.events().includes('move daemon=stopped')) throw new Error(`not restored in one pass (events ${daemon.events().join(', ')}):\n${describeStep(mb)}`);
      expect(daemon.events()).toEqual(['extract daemon=running', 'stop', 'move daemon=stopped', 'start']);
      // And by the clock: every move began after the stop command finished and before the start.
      const at = fs
        .readFileSync(daemon.log, 'utf8')
        .trim()
        .split('\n')
        .map((l) => ({ what: l.replace(/ [0-9.]+$/, ''), t: Number(l.split(' ').pop()) }));
      const stopT = at.find((e) => e.what === 'stop')?.t ?? NaN;
      const startT = at.find((e) => e.what === 'start')?.t ?? NaN;
      for (const e of at.filter((x) => x.what.startsWith('move'))) expect(stopT < e.t && e.t < startT).toBe(true);
      expect(privateDirsLeft()).toEqual([]);
      expect(daemon.alive()).toBe(true);
      for (const x of [p1, p2, p3]) expect(`${x} valid: ${valid(x)}`).toBe(`${x} valid: true`);
      verify(true);
      integrity();
      // As saved but for link counts: Nix's optimiser had linked the files into .links; the
      // snapshot leaves .links out, so each has its one name until the daemon optimises again.
      const oneLink = (lines: string[]): string[] => lines.map((l) => l.replace(/(^| )([a-z]) (\d+) (\d+) (\d+) (\S+) \d+ /, '$1$2 $3 $4 $5 $6 N '));
      expect(oneLink(treeManifest(p1))).toEqual(oneLink(p1Manifest));
      expect(oneLink(fileManifest(p2))).toEqual(oneLink(p2Manifest));
      expect(fs.statSync(p2).nlink).toBe(1);
      expect(mb.summary).toMatch(/restored .* \(exact hit\)/);

      const pb = await b.post();
      ok(pb);
      expect(pb.summary).toContain(`not saved: main restored ${key} exactly (save: auto)`);
      expect(await uploads()).toBe(before + 1);
      expect(stagingLeft(b)).toEqual([]);
      expect(tempBytes(b)).toBeLessThan(4096);
    });

    test('the move into the store fails for real (/nix/store immutable): a warning, the job green, the daemon running again, no item moved', async () => {
      deletePaths(p1, p2);
      daemon.clearEvents();
      const j = nixJob();
      let m: StepResult;
      // chattr +i: even root cannot rename entries into the store dir; only for the duration of main.
      sh('chattr +i /nix/store');
      try {
        m = await j.main(inputs());
      } finally {
        sh('chattr -i /nix/store');
      }
      expect({ code: m.code, errors: m.errors }).toEqual({ code: 0, errors: [] });
      expect(m.warnings.join('\n')).toMatch(new RegExp(`the snapshot ${key} was not restored, continuing as on a cache miss: .*mv.*Operation not permitted`));
      expect(m.outputs).toMatchObject({ 'cache-hit': 'false', 'cache-matched-key': '' });
      expect(daemon.events()).toEqual(['extract daemon=running', 'stop', 'move daemon=stopped', 'start']);
      expect(daemon.alive()).toBe(true);
      expect(valid(p1) || valid(p2)).toBe(false);
      expect(fs.existsSync(p1) || fs.existsSync(p2)).toBe(false);
      expect(privateDirsLeft()).toEqual([]);
      expect(valid(p3)).toBe(true);
      verify(true);
      integrity();
      const p = await j.post();
      expect({ code: p.code, errors: p.errors }).toEqual({ code: 0, errors: [] });
      expect(stagingLeft(j)).toEqual([]);
      nix.removeInvalidLeftovers();
    });

    test('SIGTERM to main mid-extract: main exits non-zero, daemon running, DB consistent, no keeper or tar left, post succeeds', async () => {
      expect(fs.existsSync(p1) || fs.existsSync(p2)).toBe(false);
      daemon.clearEvents();
      const base = tempDir('runbox-action-nix-base-');
      const j = nixJob();
      fs.writeFileSync(slowFlag, '');
      let r: StepResult;
      try {
        const started = j.start('main', { ...inputs(), 'base-dir': base, dirs: 'target' });
        await waitFor('the extract to stall', () => daemon.events().includes('extract stalled') || started.child.exitCode !== null);
        expect(daemon.events()).toEqual(['extract daemon=running', 'extract stalled']);
        expect(privateDirsLeft()).toHaveLength(1);
        expect(keepersHolding(base).length).toBe(1);
        started.child.kill('SIGTERM');
        r = await started.done;
      } finally {
        fs.rmSync(slowFlag, { force: true });
      }
      expect(r.code).not.toBe(0);
      expect(r.code).toBe(143);
      // Cancelled before anything reached the store: the daemon was never stopped.
      expect(daemon.events()).toEqual(['extract daemon=running', 'extract stalled']);
      expect(daemon.alive()).toBe(true);
      integrity();
      verify(false);
      expect(valid(p1) || valid(p2)).toBe(false);
      expect(valid(p3)).toBe(true);
      // Nothing main started is left: no tar, zstd, wrapper or its stall, no keeper.
      await waitFor("main's children to be gone", () => processesMentioning([j.root, bin, `sleep ${STALL}`]).length === 0, 5000).catch(() => undefined);
      expect(processesMentioning([j.root, bin, `sleep ${STALL}`])).toEqual([]);
      expect(keepersHolding(base)).toEqual([]);
      // The cut-off extract wrote only into the private dir, which the cleanup removed: no
      // half-written dedup file or item in the store.
      expect(privateDirsLeft()).toEqual([]);
      expect(ourLinks.filter(([l, size]) => fs.existsSync(l) && fs.statSync(l).size !== size)).toEqual([]);
      expect(fs.existsSync(p1) || fs.existsSync(p2)).toBe(false);
      // The download's staging dir went with the cancelled main (a cleanup), not only with post.
      expect(stagingLeft(j)).toEqual([]);

      const p = await j.post();
      expect({ code: p.code, errors: p.errors }).toEqual({ code: 0, errors: [] });
      expect(stagingLeft(j)).toEqual([]);
    });

    test('SIGKILL to main mid-extract (a hard kill: no cleanup runs): only the private dir is left, the store and the daemon untouched', async () => {
      daemon.clearEvents();
      const j = nixJob();
      fs.writeFileSync(slowFlag, '');
      try {
        const started = j.start('main', inputs());
        await waitFor('the extract to stall', () => daemon.events().includes('extract stalled') || started.child.exitCode !== null);
        expect(daemon.events()).toEqual(['extract daemon=running', 'extract stalled']);
        started.child.kill('SIGKILL');
        const r = await started.done;
        expect(r.signal).toBe('SIGKILL');
      } finally {
        fs.rmSync(slowFlag, { force: true });
      }
      // What the killed main started lives on as orphans (a real hard kill leaves them to the
      // runner's process-group kill); end them so the leftover is a dead restore's.
      for (const line of processesMentioning([j.root, bin, `sleep ${STALL}`])) {
        try {
          process.kill(Number(line.split(' ')[0]), 'SIGKILL');
        } catch {
          // gone meanwhile
        }
      }
      await waitFor('the orphans to be gone', () => processesMentioning([j.root, bin, `sleep ${STALL}`]).length === 0, 5000);
      expect(privateDirsLeft()).toHaveLength(1);
      expect(daemon.events()).toEqual(['extract daemon=running', 'extract stalled']);
      expect(daemon.alive()).toBe(true);
      expect(fs.existsSync(p1) || fs.existsSync(p2)).toBe(false);
      expect(ourLinks.filter(([l, size]) => fs.existsSync(l) && fs.statSync(l).size !== size)).toEqual([]);
      integrity();
    });

    test('after the cancelled and the killed restore, the next restore reaps the dead private dir and registers the old paths again', async () => {
      daemon.clearEvents();
      const j = nixJob();
      const m = await j.main(inputs());
      ok(m);
      if (m.outputs['cache-hit'] !== 'true' || !daemon.events().includes('move daemon=stopped')) throw new Error(`not an exact one-pass hit after the cancelled restore:\n${describeStep(m)}`);
      expect(m.summary).toMatch(/store leftovers<\/td><td>removed 1 private dir\(s\) of killed restores: \/nix\/\.runbox-restore-\d+-\d+/);
      expect(privateDirsLeft()).toEqual([]);
      expect(m.outputs).toMatchObject({ 'cache-hit': 'true', 'cache-matched-key': key });
      expect(daemon.events()).toEqual(['extract daemon=running', 'stop', 'move daemon=stopped', 'start']);
      expect(daemon.alive()).toBe(true);
      integrity();
      for (const x of [p1, p2, p3]) expect(`${x} valid: ${valid(x)}`).toBe(`${x} valid: true`);
      ok(await j.post());
    });

    // An extract cut off in the store itself would leave a truncated file in /nix/store/.links,
    // which --skip-old-files would keep and the new items' hard links point at ("path ... was
    // modified!"). One pass writes only into the private dir; this guards that either way.
    test('after the cancelled restore, the restored store passes nix-store --verify --check-contents', () => {
      verify(true);
    });
  });
});
