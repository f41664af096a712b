// `gc`: the store's size cap, collected to before each save. Through the built action (`node
// dist/main.js`, then `node dist/post.js`, tools/local-runner.mjs) against the loopback cache
// server, with a real Nix store (Debian's nix-bin): ten jobs, each adding 20% of the store's size
// in new unrooted paths, restore the previous job's snapshot and save their own under a new key.
// The store stays at or under its cap after every post, the paths the job rooted (a profile, and
// an indirect `result` root in its workspace) survive every GC, and each saved entry's size
// follows the cap. Run twice: on a Nix store under a test root (`nix-store --store
// local?root=R`, no host change) and on the host's real /nix/store (CI=true or
// RUNBOX_TEST_SYSTEM=1, under `flock /tmp/runbox-system.lock`).
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import type { FakeJob, StepResult } from './helpers/action-runner.js';
import { asRoot, describeWith, probe, systemOptIn } from './helpers/prereq.js';
import { startCacheServerProcess, type CacheServer } from './fixtures/cache.js';
import { buildGuixLayout, q, removeTempDirs, sh, tempDir } from './fixtures/store.js';
import { describeStep, NixDaemon, storeJob, type StoreJobOptions } from './helpers/store-e2e.js';

const MiB = 2 ** 20;
const CHUNK = 256 * 1024;
/** Tar headers, the manifest and the registrations on top of the items' bytes (random data: zstd gains nothing). */
const ENTRY_OVERHEAD = 256 * 1024;

let server: CacheServer;
const jobs: FakeJob[] = [];

function job(o: StoreJobOptions): FakeJob {
  const j = storeJob(server.url, o);
  jobs.push(j);
  return j;
}

function ok(r: StepResult): void {
  if (r.code !== 0 || r.errors.length > 0) throw new Error(`step failed: ${describeStep(r)}`);
}

/** One row of a step's job summary, by its first column. */
function summaryRow(r: StepResult, what: string): string {
  return new RegExp(`<tr><td>${what}</td><td>([^<]*)</td></tr>`).exec(r.summary)?.[1] ?? '';
}

const prereqs = [
  asRoot(),
  probe('nix-store (Debian nix-bin)', 'nix-store', ['--version']),
  probe('nix-env', 'nix-env', ['--version']),
  probe('sqlite3', 'sqlite3', ['-version']),
  probe('zstd', 'zstd'),
  probe('GNU tar', 'tar')
];

beforeAll(async () => {
  server = await startCacheServerProcess();
});

afterAll(async () => {
  await server?.stop();
  for (const j of jobs) j.cleanup();
  removeTempDirs();
});

/**
 * The scenario on a Nix store at `root` ('/' is the host's own). `storeRoot` is what the job
 * gets as RUNBOX_STORE_ROOT (undefined for '/').
 */
function growingStore(root: string): void {
  const tag = randomBytes(4).toString('hex');
  const storeArg = root === '/' ? '' : `--store ${q(`local?root=${root}`)}`;
  const db = path.join(root, 'nix/var/nix/db/db.sqlite');
  const profile = root === '/' ? `/nix/var/nix/profiles/per-user/root/runbox-gc-${tag}` : path.join(root, `nix/var/nix/profiles/runbox-gc-${tag}`);
  const added: string[] = [];
  const resultLinks: string[] = [];
  let work: string;
  let daemon: NixDaemon | undefined;
  let n = 0;

  const nixStore = (args: string): string => sh(`nix-store ${storeArg} ${args}`).stdout.trim();
  const valid = (p: string): boolean => sh(`nix-store ${storeArg} --check-validity ${q(p)}`, { allowFailure: true }).code === 0;
  /** Of `paths`, the ones the store does not hold as valid: one nix-store for all of them. */
  const invalid = (paths: string[]): string[] =>
    nixStore(`--check-validity --print-invalid ${paths.map(q).join(' ')}`)
      .split('\n')
      .filter((l) => l !== '');
  const size = (): number => (!fs.existsSync(db) ? 0 : Number(sh(`sqlite3 -readonly ${q(db)} "SELECT coalesce(sum(narSize), 0) FROM ValidPaths"`).stdout.trim()));

  /** `count` new store paths of `bytes` random bytes each, added by one nix-store. */
  function addPaths(name: string, bytes: number, count = 1): string[] {
    const files = Array.from({ length: count }, () => path.join(work, `runbox-gc-${tag}-${name}-${n++}`));
    for (const f of files) fs.writeFileSync(f, randomBytes(bytes));
    const ps = nixStore(`--add ${files.map(q).join(' ')}`)
      .split('\n')
      .filter((l) => l !== '');
    for (const f of files) fs.rmSync(f);
    expect(ps.length).toBe(count);
    added.push(...ps);
    return ps;
  }

  /** Unrooted paths adding up to about `bytes`: the job's garbage. */
  function grow(bytes: number): void {
    addPaths('garbage', CHUNK, Math.max(1, Math.round(bytes / CHUNK)));
  }

  beforeAll(() => {
    work = tempDir('runbox-gc-work-');
    if (root !== '/') fs.mkdirSync(root, { recursive: true });
    // The host's store gets its daemon, which restore stops and starts (by pid, through
    // daemon-stop/daemon-start) and which runs while post collects.
    else {
      daemon = new NixDaemon(work);
      daemon.launch();
    }
  });

  afterAll(() => {
    daemon?.kill();
    // The roots first (the jobs' workspaces go only after this file's afterAll), then the paths one by one.
    sh(`rm -f ${q(profile)} ${q(profile)}-*-link ${resultLinks.map(q).join(' ')}`);
    const left = added.filter(valid);
    for (const p of left) sh(`nix-store ${storeArg} --delete ${q(p)} >/dev/null 2>&1 || true`);
  });

  test('ten jobs, each growing the store by 20%: at or under the cap after every post, rooted paths kept, each saved entry follows the cap', async () => {
    // Whatever the store holds already (other tests' leftovers on the host) counts too.
    const s0 = size();
    const capMiB = Math.ceil(s0 / MiB) + 6;
    const cap = capMiB * MiB;
    const inputs = (k: number): Record<string, string> => ({
      store: 'nix',
      ...(daemon ? daemon.inputs() : { daemon: 'none' }),
      key: `runbox-gc-${tag}-${k}`,
      'restore-keys': `runbox-gc-${tag}-`,
      gc: `${capMiB}M`
    });

    const rows: Array<{ job: number; before: number; after: number; entry: number; gc: string }> = [];
    let rooted: string[] = [];
    for (let k = 1; k <= 10; k++) {
      const j = job(root === '/' ? {} : { storeRoot: root });
      const m = await j.main(inputs(k));
      ok(m);
      if (k > 1) expect(m.outputs['cache-matched-key']).toBe(`runbox-gc-${tag}-${k - 1}`);
      if (k === 1) {
        // The job's own roots: a profile (what `nix-env -i`/`nix profile` make) and an indirect
        // root in its workspace (what `nix build` leaves as ./result).
        const [inProfile] = addPaths('profile', 3 * CHUNK);
        sh(`nix-env ${storeArg} -p ${q(profile)} --set ${q(inProfile)}`);
        const [result] = addPaths('result', 2 * CHUNK);
        resultLinks.push(path.join(j.workspace, 'result'));
        nixStore(`--add-root ${q(path.join(j.workspace, 'result'))} -r ${q(result)}`);
        rooted = [inProfile, result];
        grow(3 * MiB - 5 * CHUNK);
      } else grow(0.2 * size());
      const before = size();
      const p = await j.post();
      ok(p);
      const after = size();
      const entry = (await server.stats()).entries.find((e) => e.key === `runbox-gc-${tag}-${k}`);
      expect(entry?.finalized).toBe(true);
      rows.push({ job: k, before, after, entry: entry?.size ?? -1, gc: summaryRow(p, 'store gc') });

      expect(after).toBeLessThanOrEqual(cap);
      expect(invalid(rooted)).toEqual([]);
      if (daemon) expect(daemon.alive()).toBe(true);
      // The snapshot is made after the GC: it holds at most the capped store.
      expect(entry?.size ?? Infinity).toBeLessThanOrEqual(cap + ENTRY_OVERHEAD);
      if (before > cap) {
        expect(rows[rows.length - 1].gc).toMatch(
          new RegExp(`^freed [0-9.]+ (KiB|MiB) \\(\\d+ paths\\) in .*: the store is now [0-9.]+ (KiB|MiB) \\(\\d+ valid paths, narSize\\), cap ${capMiB}\\.0 MiB$`)
        );
        // Not deleted wholesale: about what was over the cap goes (a path is 256 KiB).
        expect(after).toBeGreaterThan(cap - 2 * CHUNK - (before - cap) * 0.5);
        expect(summaryRow(p, 'store snapshot')).toMatch(/a full snapshot \(no delta: the gc removed items/);
      } else expect(rows[rows.length - 1].gc).toMatch(new RegExp(`^nothing collected: the store is .* within its cap ${capMiB}\\.0 MiB$`));
    }
    console.log(
      `gc cap ${capMiB} MiB, store before/after post and entry size per job (MiB):\n${rows
        .map((r) => `  job ${r.job}: ${(r.before / MiB).toFixed(2)} -> ${(r.after / MiB).toFixed(2)}, entry ${(r.entry / MiB).toFixed(2)}`)
        .join('\n')}`
    );
    // The store did outgrow its cap, repeatedly: the GC had work in most jobs.
    expect(rows.filter((r) => r.before > cap).length).toBeGreaterThanOrEqual(4);
    // ...and the entries follow the cap: the last ones are near it, not far below or above.
    for (const r of rows.slice(-3)) expect(r.entry).toBeGreaterThan(cap / 2);
  }, 600_000);
}

describeWith(prereqs)('gc: a Nix store under a test root', () => {
  growingStore(path.join(tempDir('runbox-gc-root-'), 'root'));
});

describeWith([systemOptIn('/nix/store and nix-daemon'), probe('nix-daemon', 'sh', ['-c', 'command -v nix-daemon']), probe('setsid', 'sh', ['-c', 'command -v setsid']), ...prereqs])(
  "gc: the host's real /nix/store, with a real nix-daemon",
  () => {
    growingStore('/');
  }
);

describeWith(prereqs)('gc without its tool, and a bad value', () => {
  test('a Guix store without guix on the PATH: a warning naming it, no GC, the snapshot still saved', async () => {
    const root = tempDir('runbox-gc-guix-');
    buildGuixLayout(root);
    // The layout registers its paths with narSize 100: a cap of 1M needs paths over it.
    const db = path.join(root, 'var/guix/db/db.sqlite');
    sh(`sqlite3 ${q(db)} 'UPDATE ValidPaths SET narSize = 1048576'`);
    const bin = tempDir('runbox-gc-bin-');
    // Every tool runbox needs but guix (which the host has not anyway): the PATH without guix.
    const j = job({ storeRoot: root, env: { PATH: `${bin}:${process.env.PATH ?? ''}` } });
    const key = `runbox-gc-noguix-${randomBytes(4).toString('hex')}`;
    ok(await j.main({ store: 'guix', daemon: 'none', key, gc: '1M' }));
    const p = await j.post();
    ok(p);
    expect(p.warnings.join('\n')).toMatch(/the store is [0-9.]+ MiB, over its gc cap 1\.0 MiB, but no garbage is collected: guix is not on the PATH\. The snapshot is saved as the store is/);
    expect(summaryRow(p, 'store gc')).toMatch(/^not run: guix is not on the PATH; the store is [0-9.]+ MiB \(cap 1\.0 MiB\)$/);
    expect(summaryRow(p, 'store snapshot')).toMatch(new RegExp(`^saved ${key}, a full snapshot`));
  });

  test('gc: 6X fails main naming the input and the fix, before anything is created', async () => {
    const root = tempDir('runbox-gc-bad-');
    buildGuixLayout(root);
    const j = job({ storeRoot: root });
    const base = path.join(j.root, 'base');
    const rpcs = async (): Promise<number> => ((await server.stats()) as unknown as { rpcs: number }).rpcs;
    const rpcsBefore = await rpcs();
    const r = await j.main({ store: 'guix', gc: '6X', 'base-dir': base, dirs: 'target' });
    expect(r.code).not.toBe(0);
    expect(r.errors.join('\n')).toMatch(/Input 'gc': '6X' is not a size\. Write 'off', or the store's size cap with unit M, G or T \(e\.g\. '6G', '500M'\)/);
    expect(fs.existsSync(base)).toBe(false);
    expect(await rpcs()).toBe(rpcsBefore);
  });
});
