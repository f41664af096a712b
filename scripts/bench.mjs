#!/usr/bin/env node
// The store-snapshot benchmark (issues 5 and 13): runbox's built action against the floor (plain
// `tar -c | zstd -T0 -3` to a file and `zstd -dc | tar -x` on the same data) and against the
// hand-written recipe it replaces, interleaved (one of each per round) and repeated, so that every
// ratio compares figures taken in the same round on a shared machine whose speed drifts.
//
//   npm run bench                                  # 400 MiB and 1.2 GB stores, 5 rounds, tmpfs, writes BENCHMARKS.md
//   npm run build && node scripts/bench.mjs --sizes 400 --rounds 3
//   node scripts/bench.mjs --quick                 # a small store, 2 rounds: checks the script itself, writes nothing
//   options: --sizes N[,N...] (MiB of source for mkstore.sh; default 400,1200), --rounds N (default 5),
//            --rate MB/s (the capped link, decimal MB; default 100), --disk (work on the disk under --dir
//            instead of a tmpfs), --quick, --out FILE (default BENCHMARKS.md; --quick writes only with
//            --out), --json FILE (the raw figures), --dir DIR (temp root), --keep (leave it; a tmpfs goes anyway),
//            --shards N (runbox `shards` input), --no-baseline (skip the hand-written recipe),
//            --mkstore FILE (default scripts/mkstore.sh), --from-json FILE (write the report again
//            from a --json file, measuring nothing), --help
//
// Needs root: the store is root-owned (like /gnu/store), and the default tmpfs mounts are made
// with mount(8) in a mount namespace of the benchmark's own (unshare(1)), so they go when it ends. Also GNU tar, zstd, sqlite3, curl and a built dist/ (npm run bench builds it).
// runbox runs as a workflow runs it: `node dist/main.js` and `node dist/post.js` as their own
// processes (tools/local-runner.mjs), against the loopback cache stand-in (tools/cache-server.mjs),
// with RUNBOX_STORE_ROOT pointing the store root at a temp dir. The capped-link restore goes
// through tools/throttle-proxy.mjs. Round 1 first checks that runbox's restores are right (the
// source's items in the canonical view, no dot-entry or private dir left, the DB registering the
// same paths and references); the script stops otherwise.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { STORE_PATHS, addNewItems, checkRestore, dbView, droppedShare, itemsView, partialStore, q, realDb, sh, storeFacts, wipe } from './bench-store.mjs';
import { childCpuSeconds, fsType, mountTmpfs, startDiskSampler, unmountTmpfs } from './bench-probe.mjs';
import { renderReport } from './bench-report.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SELF = fileURLToPath(import.meta.url);
const MIB = 2 ** 20;

const now = () => Number(process.hrtime.bigint()) / 1e9;

/** Dirty pages from the untimed setup must not be written back inside the next timed step. */
function settle() {
  spawnSync('sync');
}

/** A command run asynchronously, so the in-process cache stand-in and proxy keep serving. */
function shAsync(file, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (b) => (err += b));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`bench: ${file} exited ${code}: ${err}`))));
  });
}

// ---- the baseline recipe, run as its own process (as a workflow step would be) -------------

/**
 * The hand-written recipe runbox replaces: `sudo tar --zstd` into a runner-owned staging file,
 * then actions/cache on that file; restore is the reverse followed by `sudo tar -x`.
 */
async function baselineStep(mode, { root, staging, key }) {
  const cache = await import('@actions/cache');
  fs.mkdirSync(staging, { recursive: true });
  const file = path.join(staging, 'store.tar.zst');
  if (mode === 'save') {
    sh(`sudo tar --zstd -cf ${q(file)} -C ${q(root)} ${STORE_PATHS.join(' ')}`);
    const id = await cache.saveCache([staging], key);
    if (id === -1) throw new Error('baseline: saveCache refused');
  } else {
    const hit = await cache.restoreCache([staging], key);
    if (hit !== key) throw new Error(`baseline: restoreCache gave ${hit}`);
    sh(`sudo tar --zstd -xf ${q(file)} -C ${q(root)}`);
  }
  wipe(staging);
}

function runChild(args, env) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SELF, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b) => (out += b));
    child.stderr.on('data', (b) => (out += b));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`baseline ${args[1]} exited ${code}:\n${out.slice(-3000)}`))));
  });
}

// ---- runbox through the local runner ------------------------------------------------------

function expectStep(r, what) {
  if (r.code !== 0) throw new Error(`${what}: exit ${r.code}\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-2000)}`);
  // No warning is expected: mkstore.sh's setuid programs (from /usr/bin) lose those bits on restore,
  // which the step summary counts, without a warning.
  if (r.warnings.length) throw new Error(`${what}: warnings:\n${r.warnings.join('\n')}`);
}

/** The step's own account of its time (`store restore time: download 1.2 s, ...`), if it prints one. */
function timeLine(r) {
  const m = /^(store [a-z ]*time: .*)$/m.exec(r.stdout);
  return m ? m[1].trim() : '';
}

// ---- one store size -----------------------------------------------------------------------

async function benchSize(mib, o) {
  const { FakeJob } = await import(path.join(ROOT, 'tools/local-runner.mjs'));
  const { startCacheServer } = await import(path.join(ROOT, 'tools/cache-server.mjs'));
  const { startThrottleProxy } = await import(path.join(ROOT, 'tools/throttle-proxy.mjs'));

  const base = path.join(o.tmp, `size-${mib}`);
  const work = path.join(base, 'work');
  const cacheDir = path.join(base, 'cache');
  wipe(base);
  if (!o.disk) {
    // Limits, not reservations: a tmpfs takes RAM only for what is written to it.
    mountTmpfs(work, 0.6 * os.totalmem());
    mountTmpfs(cacheDir, 0.25 * os.totalmem());
  }
  fs.mkdirSync(work, { recursive: true });
  fs.mkdirSync(cacheDir, { recursive: true });
  const closers = [];
  try {
    const src = path.join(work, 'src');
    console.log(`bench: building a ${mib} MiB synthetic store in ${src}`);
    sh(`bash ${q(o.mkstore)} ${q(src)} ${mib}`, { quiet: true });
    const items = realDb(src);
    const facts = storeFacts(src);
    console.log(`bench: ${(facts.bytes / MIB).toFixed(0)} MiB, ${facts.files} files, ${facts.items} items, ${facts.links} .links entries; work dir on ${fsType(work)}`);
    const need = 5 * facts.itemBytes;
    if (!o.disk && need > os.freemem()) console.warn(`bench: about ${(need / 2 ** 30).toFixed(1)} GiB of tmpfs may be needed and ${(os.freemem() / 2 ** 30).toFixed(1)} GiB of RAM is free`);
    const srcCanonical = itemsView(src, true);
    const srcDb = dbView(src);

    const server = await startCacheServer({ dir: cacheDir });
    closers.push(() => server.close());
    const proxy = await startThrottleProxy({ upstreams: [server.url], rate: o.rate });
    closers.push(() => proxy.close());
    const cacheEnv = (url) => ({ ACTIONS_CACHE_SERVICE_V2: 'true', ACTIONS_RESULTS_URL: url, ACTIONS_RUNTIME_TOKEN: 'bench', GITHUB_SERVER_URL: undefined, ACTIONS_CACHE_URL: undefined });
    const inputs = (key, restoreKeys = 'bench-no-such-prefix-') => ({ store: 'guix', daemon: 'none', key, 'restore-keys': restoreKeys, ...(o.shards ? { shards: o.shards } : {}) });
    const childEnv = { ...process.env, ...cacheEnv(server.url), RUNNER_TEMP: path.join(work, 'bl-temp'), GITHUB_WORKSPACE: path.join(work, 'bl-ws') };
    delete childEnv.GITHUB_SERVER_URL;
    delete childEnv.ACTIONS_CACHE_URL;
    fs.mkdirSync(childEnv.RUNNER_TEMP, { recursive: true });
    fs.mkdirSync(childEnv.GITHUB_WORKSPACE, { recursive: true });

    const job = (name, root, url = server.url) => {
      const dir = path.join(work, name);
      wipe(dir);
      fs.mkdirSync(dir, { recursive: true });
      return new FakeJob({ root: dir, env: { ...cacheEnv(url), RUNBOX_STORE_ROOT: root } });
    };
    const staging = (j) => [j.runnerTemp];
    /**
     * One timed step: wall seconds, CPU seconds of the processes it started, peak extra disk
     * (runbox steps only) and the bytes the cache stand-in (or, through the capped link, the
     * proxy) received and sent meanwhile.
     */
    const measure = async (fn, { disk, capped = false } = {}) => {
      settle();
      const sampler = disk ? startDiskSampler(work, { staging: disk, exclude: o.disk ? [cacheDir] : [], shared: o.disk }) : undefined;
      const bytes = () => (capped ? { up: proxy.stats().up, down: proxy.stats().down } : { up: server.stats().uploadBytes, down: server.stats().downloadBytes });
      const b0 = bytes();
      const cpu0 = childCpuSeconds();
      const t0 = now();
      const result = await fn();
      const s = now() - t0;
      const cpu = childCpuSeconds() - cpu0;
      const d = sampler?.stop();
      const b1 = bytes();
      return { fig: { s, cpu, up: b1.up - b0.up, down: b1.down - b0.down, ...(d ? { disk: d.extra, fsExtra: d.fsExtra, stagingPeak: d.stagingPeak } : {}) }, result };
    };
    const target = path.join(work, 'target');
    const emptyTarget = () => {
      wipe(target);
      fs.mkdirSync(target);
    };
    const floorFile = path.join(work, 'floor.tar.zst');
    const rounds = [];
    const notes = { lines: {}, checked: 0, partialChecked: 0, dropped: 0, delta: undefined, floorBytes: 0 };

    for (let i = 1; i <= o.rounds; i++) {
      const r = {};
      const tag = `${process.pid}-${i}`;
      const key = `bench-${tag}`;
      const blKey = `baseline-${tag}`;

      // Save side.
      wipe(floorFile);
      r['floor save'] = (await measure(() => sh(`tar -c -f - -C ${q(src)} ${STORE_PATHS.join(' ')} | zstd -T0 -3 -q -o ${q(floorFile)}`))).fig;
      notes.floorBytes = fs.statSync(floorFile).size;

      const saver = job('job-save', src);
      expectStep(await saver.main(inputs(key)), 'runbox main (miss)');
      const blobsBefore = new Set(fs.readdirSync(cacheDir));
      const save = await measure(() => saver.post(), { disk: staging(saver) });
      expectStep(save.result, 'runbox post (save)');
      if (!server.stats().entries.some((e) => e.key === key && e.finalized)) throw new Error(`runbox post did not save ${key}:\n${save.result.stdout}`);
      r['runbox save'] = save.fig;
      r['runbox save'].line = notes.lines['runbox save'] = timeLine(save.result);
      // The entry's blobs, for the plain download at the cap.
      const entryBlobs = fs
        .readdirSync(cacheDir)
        .filter((f) => /^\d+\.blob$/.test(f) && !blobsBefore.has(f))
        .map((f) => f.slice(0, -'.blob'.length));
      if (!entryBlobs.length) throw new Error(`bench: runbox post saved ${key}, but no new blob file appeared in ${cacheDir} (tools/cache-server.mjs stores blobs as <id>.blob)`);

      if (o.baseline) {
        r['baseline save'] = (await measure(() => runChild(['--baseline', 'save', '--root', src, '--staging', path.join(work, 'bl-staging'), '--key', blKey], childEnv))).fig;
      }

      // Restore side, each into an empty store root.
      emptyTarget();
      r['floor restore'] = (await measure(() => sh(`zstd -dc ${q(floorFile)} | tar -x -f - -C ${q(target)}`))).fig;

      emptyTarget();
      const restorer = job('job-restore', target);
      const restore = await measure(() => restorer.main(inputs(key)), { disk: staging(restorer) });
      expectStep(restore.result, 'runbox main (restore)');
      if (restore.result.outputs['cache-hit'] !== 'true') throw new Error(`runbox main did not hit ${key}:\n${restore.result.stdout}`);
      r['runbox restore'] = restore.fig;
      r['runbox restore'].line = notes.lines['runbox restore'] = timeLine(restore.result);
      if (i === 1) notes.checked = checkRestore('runbox restore', target, srcCanonical, srcDb);

      const exact = await measure(() => restorer.post(), { disk: staging(restorer) });
      expectStep(exact.result, 'runbox post (exact hit)');
      r['exact-hit post'] = exact.fig;

      if (i === 1) {
        // Delta: the restored store plus ~2% new items, saved by a job whose key changed (a
        // restore-key hit on the full snapshot): post uploads only the new items and the DB.
        const added = addNewItems(target, items);
        const deltaKey = `${key}-delta`;
        const deltaJob = job('job-delta', target);
        expectStep(await deltaJob.main(inputs(deltaKey, key)), 'runbox main (before the delta)');
        const deltaSave = await measure(() => deltaJob.post(), { disk: staging(deltaJob) });
        expectStep(deltaSave.result, 'runbox post (delta)');
        if (!/a delta over/.test(deltaSave.result.stdout)) throw new Error(`runbox post did not save a delta:\n${deltaSave.result.stdout}`);
        // And back: base + delta into an empty root give the store the delta was made from.
        const target2 = path.join(work, 'target-delta');
        wipe(target2);
        fs.mkdirSync(target2);
        const deltaRestorer = job('job-delta-restore', target2);
        const deltaRestore = await measure(() => deltaRestorer.main(inputs(deltaKey)), { disk: staging(deltaRestorer) });
        expectStep(deltaRestore.result, 'runbox main (restore base + delta)');
        checkRestore('base + delta restore', target2, itemsView(target), dbView(target));
        const snapshotLine = /^(store snapshot: .*)$/m.exec(deltaSave.result.stdout)?.[1] ?? '';
        notes.delta = { added, items: facts.items, save: deltaSave.fig, restore: deltaRestore.fig, line: snapshotLine || timeLine(deltaSave.result) };
        wipe(target2);
        await server.evict(deltaKey);
      }

      if (o.baseline) {
        emptyTarget();
        r['baseline restore'] = (await measure(() => runChild(['--baseline', 'restore', '--root', target, '--staging', path.join(work, 'bl-staging'), '--key', blKey], childEnv))).fig;
        await server.evict(blKey);
      }

      const dropped = partialStore(src, target, items);
      notes.dropped = dropped.length;
      // What the missing items hold, each file once: the least a partial restore can fetch.
      if (i === 1) notes.droppedShare = droppedShare(src, dropped);
      const partialJob = job('job-partial', target);
      const partial = await measure(() => partialJob.main(inputs(key)), { disk: staging(partialJob) });
      expectStep(partial.result, 'runbox main (onto 90%)');
      if (i === 1) notes.partialChecked = checkRestore('runbox restore onto 90%', target, srcCanonical, srcDb, new Set(dropped));
      r['restore onto 90%'] = partial.fig;
      r['restore onto 90%'].line = notes.lines['restore onto 90%'] = timeLine(partial.result);

      // The capped link: the entry's bytes alone, then a full restore, both through the proxy.
      const urls = entryBlobs.flatMap((id) => ['-o', '/dev/null', `${proxy.url}devstoreaccount1/cache/${id}`]);
      r['download at cap'] = (await measure(() => shAsync('curl', ['-sS', '--fail', ...urls]), { capped: true })).fig;
      emptyTarget();
      const cappedJob = job('job-capped', target, proxy.url);
      const capped = await measure(() => cappedJob.main(inputs(key)), { disk: staging(cappedJob), capped: true });
      expectStep(capped.result, 'runbox main (restore at the cap)');
      if (capped.result.outputs['cache-hit'] !== 'true') throw new Error(`runbox main at the cap did not hit ${key}:\n${capped.result.stdout}`);
      r['restore at cap'] = capped.fig;
      r['restore at cap'].line = notes.lines['restore at cap'] = timeLine(capped.result);

      await server.evict(key);
      rounds.push(r);
      console.log(
        `bench: ${mib} MiB, round ${i}/${o.rounds}: ${Object.entries(r)
          .map(([n, f]) => `${n} ${f.s.toFixed(2)}`)
          .join(', ')}`
      );
    }
    return { mib, facts, rounds, notes };
  } finally {
    for (const close of closers.reverse()) await close().catch((e) => console.error(`bench: ${e.message}`));
    if (!o.disk) {
      unmountTmpfs(work);
      unmountTmpfs(cacheDir);
    }
    if (!o.keep) wipe(base);
  }
}

// ---- main ---------------------------------------------------------------------------------

function usage() {
  const head = fs.readFileSync(SELF, 'utf8').split('\n');
  return head
    .slice(
      head.findIndex((l) => l.includes('npm run bench ')),
      head.findIndex((l) => l.startsWith('// Needs root'))
    )
    .map((l) => l.replace(/^\/\/ ?/, ''))
    .join('\n');
}

async function bench() {
  const { values } = parseArgs({
    options: {
      help: { type: 'boolean', default: false },
      sizes: { type: 'string' },
      rounds: { type: 'string' },
      rate: { type: 'string', default: '100' },
      disk: { type: 'boolean', default: false },
      quick: { type: 'boolean', default: false },
      out: { type: 'string' },
      json: { type: 'string' },
      dir: { type: 'string' },
      keep: { type: 'boolean', default: false },
      shards: { type: 'string', default: '' },
      'no-baseline': { type: 'boolean', default: false },
      mkstore: { type: 'string', default: path.resolve(ROOT, 'scripts', 'mkstore.sh') },
      'from-json': { type: 'string' }
    }
  });
  if (values.help) {
    console.log(usage());
    return 0;
  }
  if (values['from-json']) {
    // The report again from a run's figures (--json), e.g. after a change to the report alone.
    const md = renderReport(JSON.parse(fs.readFileSync(values['from-json'], 'utf8')));
    fs.writeFileSync(values.out ?? path.join(ROOT, 'BENCHMARKS.md'), md);
    console.log(md);
    return 0;
  }
  const sizes = (values.sizes ?? (values.quick ? '24' : '400,1200')).split(',').map(Number);
  const rounds = Number(values.rounds ?? (values.quick ? '2' : '5'));
  const rateMB = Number(values.rate);
  if (!sizes.every((n) => n > 0) || !(rounds >= 1) || !(rateMB > 0)) throw new Error('bench: --sizes takes positive MiB figures (e.g. 400,1200), --rounds and --rate positive numbers');
  if (process.getuid?.() !== 0) throw new Error('bench: run the benchmark as root: the store it builds and restores is root-owned, and the default tmpfs is mounted with mount(8)');
  if (!fs.existsSync(path.join(ROOT, 'dist/main.js'))) throw new Error('bench: dist/ is not built: use `npm run bench`');
  const baseline = !values['no-baseline'] && fs.existsSync(path.join(ROOT, 'node_modules/@actions/cache'));
  const out = values.out ?? (values.quick ? undefined : path.join(ROOT, 'BENCHMARKS.md'));

  if (!values.disk && !process.env.RUNBOX_BENCH_OWN_MOUNTS) {
    // The tmpfs mounts live in a mount namespace of the benchmark's own: they vanish with its last
    // process however it ends (^C, kill -9), and no other process on the host sees them. (A signal
    // handler cannot promise that: node defers it while spawnSync runs, or loses it.)
    const top = values.dir ? path.resolve(values.dir) : fs.mkdtempSync(path.join(os.tmpdir(), 'runbox-bench-'));
    const args = [...process.argv.slice(2).filter((a, i, all) => a !== '--dir' && all[i - 1] !== '--dir' && !a.startsWith('--dir=')), '--dir', top];
    // A ^C reaches the whole process group: the benchmark inside ends on it, this one waits to clean up.
    process.on('SIGINT', () => {});
    const r = spawnSync('unshare', ['--mount', '--propagation', 'private', process.execPath, SELF, ...args], {
      stdio: 'inherit',
      env: { ...process.env, RUNBOX_BENCH_OWN_MOUNTS: '1', RUNBOX_BENCH_COMMAND: process.argv.slice(2).join(' ') }
    });
    if (!values.dir && !values.keep) wipe(top);
    if (r.error) throw new Error(`bench: unshare(1) of a mount namespace for the tmpfs failed (${r.error.message}); it needs root (CAP_SYS_ADMIN): run as root or pass --disk`);
    if (r.status === null) throw new Error(`bench: ended by ${r.signal}`);
    return r.status;
  }
  const tmp = values.dir ? path.resolve(values.dir) : fs.mkdtempSync(path.join(os.tmpdir(), 'runbox-bench-'));
  fs.mkdirSync(tmp, { recursive: true });
  const o = { tmp, disk: values.disk, rounds, rate: rateMB * 1e6, shards: values.shards, baseline, mkstore: values.mkstore, keep: values.keep };
  const started = new Date();
  const loadBefore = os.loadavg();
  const results = [];
  for (const mib of sizes) results.push(await benchSize(mib, o));
  const tool = (cmd) => sh(cmd).split('\n')[0].trim();
  const machine = {
    date: started.toISOString(),
    nproc: os.availableParallelism?.() ?? os.cpus().length,
    cpu: os.cpus()[0]?.model ?? 'unknown CPU',
    ramGiB: os.totalmem() / 2 ** 30,
    kernel: os.release(),
    fs: values.disk ? `${fsType(tmp)} (--disk: ${tmp})` : 'tmpfs (store, staging and cache blobs; two mounts, so the cache blobs do not count as extra disk)',
    node: process.version,
    tar: tool('tar --version'),
    zstd: tool('zstd --version'),
    load: { before: loadBefore, after: os.loadavg() }
  };
  const options = {
    sizes,
    rounds,
    rateMB,
    disk: values.disk,
    shards: values.shards,
    baseline,
    command: `node scripts/bench.mjs ${process.env.RUNBOX_BENCH_COMMAND ?? process.argv.slice(2).join(' ')}`.trim()
  };
  const md = renderReport({ machine, options, results });
  console.log(md);
  if (out) {
    fs.writeFileSync(out, md);
    console.log(`bench: wrote ${out}`);
  }
  if (values.json) fs.writeFileSync(values.json, `${JSON.stringify({ machine, options, results }, null, 1)}\n`);
  if (!values.keep && !values.dir) wipe(tmp);
  return 0;
}

// ---- entry --------------------------------------------------------------------------------

const argv = process.argv.slice(2);
if (argv[0] === '--baseline') {
  const { values } = parseArgs({ args: argv.slice(2), options: { root: { type: 'string' }, staging: { type: 'string' }, key: { type: 'string' } } });
  baselineStep(argv[1], values).then(
    () => process.exit(0),
    (e) => {
      console.error(e);
      process.exit(1);
    }
  );
} else {
  // Exit explicitly: a failure leaves the in-process cache server's sockets open.
  bench().then(
    (code) => process.exit(code ?? 0),
    (e) => {
      console.error(e);
      process.exit(1);
    }
  );
}
