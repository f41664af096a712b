#!/usr/bin/env node
// The store-snapshot benchmark (issue 5): runbox against the floor (plain `tar -c | zstd -T0`
// and `zstd -dc | tar -x` on the same data) and against the hand-written recipe it replaces,
// all in one run, interleaved and repeated, so the ratios compare like with like on a shared
// machine whose absolute speed drifts between runs.
//
//   npm run bench                       # default size, 5 runs, writes BENCHMARKS.md
//   npm run build && node scripts/bench.mjs --mib 1200 --runs 5
//   options: --mib N (source MiB for mkstore.sh), --runs N, --out FILE, --dir DIR (temp root),
//            --keep (leave the temp root), --shards N (runbox `shards` input; default: runbox's)
//
// Needs root (the store is root-owned, like /gnu/store), GNU tar, zstd, sqlite3, and a built
// dist/ (npm run bench builds it). runbox runs exactly as a workflow runs it: `node dist/main.js`
// and `node dist/post.js` through tools/local-runner.mjs, against the loopback cache service
// in tools/cache-server.mjs, with RUNBOX_STORE_ROOT pointing the store root at a temp dir.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SELF = fileURLToPath(import.meta.url);
const STORE_PATHS = ['gnu/store', 'var/guix/db'];

// ---- small helpers ------------------------------------------------------------------------

function sh(script, { quiet = false } = {}) {
  const r = spawnSync('bash', ['-euo', 'pipefail', '-c', script], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`bench: command failed (${r.status}): ${script}\n${r.stderr}`);
  if (!quiet && r.stderr.trim()) process.stderr.write(r.stderr);
  return r.stdout;
}

const q = (s) => `'${String(s).replace(/'/g, `'\\''`)}'`;
const now = () => Number(process.hrtime.bigint()) / 1e9;
const wipe = (dir) => fs.rmSync(dir, { recursive: true, force: true });

/** Dirty pages from the untimed setup must not be written back inside the next timed step. */
function settle() {
  spawnSync('sync');
}

async function timed(fn) {
  settle();
  const t0 = now();
  const extra = await fn();
  return { s: now() - t0, extra };
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const fmt = (s) => `${s.toFixed(2)} s`;
const ratio = (a, b) => `${(a / b).toFixed(2)}x`;

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

// ---- the synthetic store ------------------------------------------------------------------

/** mkstore.sh's db.sqlite is filler; runbox takes a SQLite backup, so make it a real Guix DB. */
function realDb(src) {
  const db = path.join(src, 'var/guix/db/db.sqlite');
  wipe(db);
  const items = fs.readdirSync(path.join(src, 'gnu/store')).filter((n) => !n.startsWith('.'));
  const rows = items.map((n) => `INSERT INTO ValidPaths (path, hash, registrationTime, narSize) VALUES ('/gnu/store/${n.replace(/'/g, "''")}', 'sha256:${'0'.repeat(52)}', 1, 100);`);
  const sql = `CREATE TABLE ValidPaths (id integer primary key autoincrement not null, path text unique not null, hash text not null,
      registrationTime integer not null, deriver text, narSize integer);
    CREATE TABLE Refs (referrer integer not null, reference integer not null, primary key (referrer, reference));
    BEGIN;\n${rows.join('\n')}\nCOMMIT;\n`;
  const r = spawnSync('sqlite3', ['-bail', db], { input: sql, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`sqlite3: ${r.stderr}`);
  return items;
}

function storeFacts(src) {
  const n = (cmd) => Number(sh(cmd).trim());
  return {
    bytes: n(`du -sb ${q(src)} | cut -f1`),
    files: n(`find ${q(src)} -type f | wc -l`),
    items: fs.readdirSync(path.join(src, 'gnu/store')).filter((x) => !x.startsWith('.')).length,
    links: n(`find ${q(path.join(src, 'gnu/store/.links'))} -type f | wc -l`)
  };
}

/** A store holding 90% of the items (every 10th dropped), its .links and DB pruned to match. */
function partialStore(src, dest, items) {
  wipe(dest);
  fs.mkdirSync(dest, { recursive: true });
  sh(`cp -a ${q(src)}/. ${q(dest)}/`);
  const dropped = items.filter((_, i) => i % 10 === 0);
  for (const n of dropped) wipe(path.join(dest, 'gnu/store', n));
  // What `guix gc` leaves: no .links entry that only the dropped items used.
  sh(`find ${q(path.join(dest, 'gnu/store/.links'))} -type f -links 1 -delete`);
  const del = dropped.map((n) => `DELETE FROM ValidPaths WHERE path = '/gnu/store/${n.replace(/'/g, "''")}';`).join('\n');
  const r = spawnSync('sqlite3', ['-bail', path.join(dest, 'var/guix/db/db.sqlite')], { input: `BEGIN;\n${del}\nCOMMIT;\n`, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`sqlite3: ${r.stderr}`);
  return dropped.length;
}

/**
 * The job between two snapshots: about 2% new store items (copies of existing ones under new
 * names, registered in the DB), the case a delta save is for. Returns how many.
 */
function addNewItems(root, items, fraction = 0.02) {
  // Spread over the store (every 50th item at 2%), so their sizes are the store's mix.
  const step = Math.max(1, Math.round(1 / fraction));
  const picked = items.filter((_, i) => i % step === step - 1);
  const n = picked.length;
  const store = path.join(root, 'gnu/store');
  const fresh = picked.map((name, i) => `dlt${String(i).padStart(5, '0')}${name.slice(8)}`);
  sh(picked.map((name, i) => `cp -a ${q(path.join(store, name))} ${q(path.join(store, fresh[i]))}`).join('\n'));
  const rows = fresh.map((n) => `INSERT INTO ValidPaths (path, hash, registrationTime, narSize) VALUES ('/gnu/store/${n.replace(/'/g, "''")}', 'sha256:${'0'.repeat(52)}', 2, 100);`);
  const r = spawnSync('sqlite3', ['-bail', path.join(root, 'var/guix/db/db.sqlite')], { input: `BEGIN;\n${rows.join('\n')}\nCOMMIT;\n`, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`sqlite3: ${r.stderr}`);
  return n;
}

/**
 * path, type, mode, owner, mtime, link count, size, link target of everything restored. Left
 * out: directory sizes (ext4 dir blocks depend on history, not content) and the DB dir, whose
 * DB is merged rather than extracted, so its mtime is the merge's.
 */
function treeManifest(dir) {
  return sh(`cd ${q(dir)} && find ${STORE_PATHS.join(' ')} -path var/guix/db -prune -o -printf '%p %y %m %U %G %T@ %n %s %l\\n' | LC_ALL=C sort`)
    .split('\n')
    .map((l) => l.replace(/^(\S+ d \S+ \S+ \S+ \S+ \S+) \d+/, '$1 -'))
    .join('\n');
}

// ---- runbox through the local runner ------------------------------------------------------

async function runboxJob(FakeJob, dir, env) {
  wipe(dir);
  fs.mkdirSync(dir, { recursive: true });
  return new FakeJob({ root: dir, env });
}

/** mkstore.sh copies /usr/bin, whose setuid programs runbox restores with this warning (real stores have none). */
const EXPECTED_WARNING = /setuid\/setgid file/;

function expectStep(r, what) {
  if (r.code !== 0) throw new Error(`${what}: exit ${r.code}\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-2000)}`);
  const unexpected = r.warnings.filter((w) => !EXPECTED_WARNING.test(w));
  if (unexpected.length) throw new Error(`${what}: warnings:\n${unexpected.join('\n')}`);
}

/** The step's timing line (`store restore time: download 1.2 s, ...`), printed by the step report. */
function summaryLine(r, label) {
  const m = new RegExp(`^${label}: (.*)$`, 'm').exec(r.stdout);
  return m ? m[1].trim() : '';
}

// ---- main ---------------------------------------------------------------------------------

async function bench() {
  const { values } = parseArgs({
    options: {
      mib: { type: 'string', default: '400' },
      runs: { type: 'string', default: '5' },
      out: { type: 'string', default: path.join(ROOT, 'BENCHMARKS.md') },
      dir: { type: 'string' },
      keep: { type: 'boolean', default: false },
      shards: { type: 'string', default: '' },
      mkstore: { type: 'string', default: path.resolve(ROOT, 'scripts', 'mkstore.sh') }
    }
  });
  const mib = Number(values.mib);
  const runs = Number(values.runs);
  if (!(mib > 0) || !(runs >= 1)) throw new Error('--mib and --runs must be positive numbers');
  if (process.getuid?.() !== 0) throw new Error('run the benchmark as root: the store it builds and restores is root-owned');
  if (!fs.existsSync(path.join(ROOT, 'dist/main.js'))) throw new Error('dist/ is not built: use `npm run bench`');

  const { FakeJob } = await import(path.join(ROOT, 'tools/local-runner.mjs'));
  const { startCacheServer } = await import(path.join(ROOT, 'tools/cache-server.mjs'));

  const tmp = values.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'runbox-bench-'));
  const src = path.join(tmp, 'src');
  const started = new Date();
  console.log(`bench: building a ${mib} MiB synthetic store in ${src}`);
  sh(`bash ${q(values.mkstore)} ${q(src)} ${mib}`, { quiet: true });
  const items = realDb(src);
  const facts = storeFacts(src);
  console.log(`bench: ${(facts.bytes / 2 ** 20).toFixed(0)} MiB, ${facts.files} files, ${facts.items} items, ${facts.links} .links entries`);

  const server = await startCacheServer({ dir: path.join(tmp, 'cache') });
  const cacheEnv = { ACTIONS_CACHE_SERVICE_V2: 'true', ACTIONS_RESULTS_URL: server.url, ACTIONS_RUNTIME_TOKEN: 'bench', GITHUB_SERVER_URL: undefined, ACTIONS_CACHE_URL: undefined };
  const inputs = (key, restoreKeys = 'bench-no-such-prefix-') => ({ store: 'guix', daemon: 'none', key, 'restore-keys': restoreKeys, ...(values.shards ? { shards: values.shards } : {}) });
  const childEnv = { ...process.env, ...cacheEnv, RUNNER_TEMP: path.join(tmp, 'bl-temp'), GITHUB_WORKSPACE: path.join(tmp, 'bl-ws') };
  delete childEnv.GITHUB_SERVER_URL;
  delete childEnv.ACTIONS_CACHE_URL;
  fs.mkdirSync(childEnv.RUNNER_TEMP, { recursive: true });
  fs.mkdirSync(childEnv.GITHUB_WORKSPACE, { recursive: true });

  const names = ['floor save', 'runbox save', 'baseline save', 'floor restore', 'runbox restore', 'exact-hit post', 'baseline restore', 'restore onto 90%'];
  const t = Object.fromEntries(names.map((n) => [n, []]));
  const notes = { saveLine: '', restoreLine: '', partialLine: '', uploadBytes: 0, floorBytes: 0, exactUploads: 0, identical: false, dropped: 0, delta: undefined };
  const target = path.join(tmp, 'target');
  const floorFile = path.join(tmp, 'floor.tar.zst');

  for (let i = 1; i <= runs; i++) {
    const tag = `${process.pid}-${i}`;
    // Save side.
    wipe(floorFile);
    t['floor save'].push((await timed(() => sh(`tar -c -f - -C ${q(src)} ${STORE_PATHS.join(' ')} | zstd -T0 -q -o ${q(floorFile)}`))).s);
    notes.floorBytes = fs.statSync(floorFile).size;

    const key = `bench-${tag}`;
    const saver = await runboxJob(FakeJob, path.join(tmp, 'job-save'), { ...cacheEnv, RUNBOX_STORE_ROOT: src });
    expectStep(await saver.main(inputs(key)), 'runbox main (miss)');
    const before = server.stats().uploadBytes;
    const save = await timed(() => saver.post());
    expectStep(save.extra, 'runbox post (save)');
    if (!server.stats().entries.some((e) => e.key === key && e.finalized)) throw new Error(`runbox post did not save ${key}:\n${save.extra.stdout}`);
    notes.uploadBytes = server.stats().uploadBytes - before;
    notes.saveLine = summaryLine(save.extra, 'store save time');
    t['runbox save'].push(save.s);

    const blKey = `baseline-${tag}`;
    t['baseline save'].push((await timed(() => runChild(['--baseline', 'save', '--root', src, '--staging', path.join(tmp, 'bl-staging'), '--key', blKey], childEnv))).s);

    // Restore side, each into an empty store root.
    wipe(target);
    fs.mkdirSync(target);
    t['floor restore'].push((await timed(() => sh(`zstd -dc ${q(floorFile)} | tar -x -f - -C ${q(target)}`))).s);

    wipe(target);
    fs.mkdirSync(target);
    const restorer = await runboxJob(FakeJob, path.join(tmp, 'job-restore'), { ...cacheEnv, RUNBOX_STORE_ROOT: target });
    const restore = await timed(() => restorer.main(inputs(key)));
    expectStep(restore.extra, 'runbox main (restore)');
    if (restore.extra.outputs['cache-hit'] !== 'true') throw new Error(`runbox main did not hit ${key}:\n${restore.extra.stdout}`);
    t['runbox restore'].push(restore.s);
    notes.restoreLine = summaryLine(restore.extra, 'store restore time');
    if (i === 1) {
      // Correctness first: the restored tree must be the saved one (modes, owners, mtimes, links).
      notes.identical = treeManifest(src) === treeManifest(target);
      if (!notes.identical) throw new Error('runbox restore produced a tree that differs from the source store');
    }
    const uploadsBefore = server.stats().uploads;
    const exact = await timed(() => restorer.post());
    expectStep(exact.extra, 'runbox post (exact hit)');
    notes.exactUploads = server.stats().uploads - uploadsBefore;
    t['exact-hit post'].push(exact.s);

    if (i === 1) {
      // Delta: the restored store plus ~2% new items, saved by a job whose key changed (a
      // restore-key hit on the full snapshot): post uploads only the new items and the DB.
      const added = addNewItems(target, items);
      const deltaKey = `${key}-delta`;
      const deltaJob = await runboxJob(FakeJob, path.join(tmp, 'job-delta'), { ...cacheEnv, RUNBOX_STORE_ROOT: target });
      expectStep(await deltaJob.main(inputs(deltaKey, key)), 'runbox main (before the delta)');
      const bytesBefore = server.stats().uploadBytes;
      const deltaSave = await timed(() => deltaJob.post());
      expectStep(deltaSave.extra, 'runbox post (delta)');
      if (!/a delta over/.test(deltaSave.extra.stdout)) throw new Error(`runbox post did not save a delta:\n${deltaSave.extra.stdout}`);
      const deltaBytes = server.stats().uploadBytes - bytesBefore;
      // And back: base + delta into an empty root give the store the delta was made from.
      const target2 = path.join(tmp, 'target-delta');
      wipe(target2);
      fs.mkdirSync(target2);
      const deltaRestorer = await runboxJob(FakeJob, path.join(tmp, 'job-delta-restore'), { ...cacheEnv, RUNBOX_STORE_ROOT: target2 });
      const deltaRestore = await timed(() => deltaRestorer.main(inputs(deltaKey)));
      expectStep(deltaRestore.extra, 'runbox main (restore base + delta)');
      const identical = treeManifest(target) === treeManifest(target2);
      if (!identical) throw new Error('base + delta restored a tree that differs from the store the delta was made from');
      notes.delta = { added, bytes: deltaBytes, saveS: deltaSave.s, restoreS: deltaRestore.s, line: summaryLine(deltaSave.extra, 'store snapshot'), identical };
      wipe(target2);
    }

    wipe(target);
    fs.mkdirSync(target);
    t['baseline restore'].push((await timed(() => runChild(['--baseline', 'restore', '--root', target, '--staging', path.join(tmp, 'bl-staging'), '--key', blKey], childEnv))).s);

    notes.dropped = partialStore(src, target, items);
    const partialJob = await runboxJob(FakeJob, path.join(tmp, 'job-partial'), { ...cacheEnv, RUNBOX_STORE_ROOT: target });
    const partial = await timed(() => partialJob.main(inputs(key)));
    expectStep(partial.extra, 'runbox main (onto 90%)');
    t['restore onto 90%'].push(partial.s);
    notes.partialLine = summaryLine(partial.extra, 'store restore time');

    console.log(`bench: run ${i}/${runs}: ${names.map((n) => `${n} ${t[n][i - 1].toFixed(2)}`).join(', ')}`);
  }
  await server.close();

  const m = Object.fromEntries(names.map((n) => [n, median(t[n])]));
  const rows = names.map((n) => `| ${n} | ${fmt(m[n])} | ${fmt(Math.min(...t[n]))} | ${fmt(Math.max(...t[n]))} | ${t[n].map((x) => x.toFixed(2)).join(' ')} |`);
  const saveR = m['runbox save'] / m['floor save'];
  const restoreR = m['runbox restore'] / m['floor restore'];
  const partialR = m['restore onto 90%'] / m['runbox restore'];
  const verdict = (ok) => (ok ? '**met**' : '**not met**');
  const targets = [
    `| save ≤ 1.3x the save floor | ${ratio(m['runbox save'], m['floor save'])} | ${verdict(saveR <= 1.3)} | ${notes.saveLine} |`,
    `| restore ≤ 1.3x the restore floor | ${ratio(m['runbox restore'], m['floor restore'])} | ${verdict(restoreR <= 1.3)} | ${notes.restoreLine} |`,
    `| exact-hit post < 1 s, uploads nothing | ${fmt(m['exact-hit post'])}, ${notes.exactUploads} uploads | ${verdict(m['exact-hit post'] < 1 && notes.exactUploads === 0)} | post only reads main's state |`,
    `| restore onto 90% ≤ 0.5x a full restore | ${ratio(m['restore onto 90%'], m['runbox restore'])} | ${verdict(partialR <= 0.5)} | ${notes.partialLine} |`,
    notes.delta
      ? `| delta upload ≤ 10% of a full snapshot (${notes.delta.added} new items, ${((100 * notes.delta.added) / facts.items).toFixed(1)}%) | ${((100 * notes.delta.bytes) / notes.uploadBytes).toFixed(1)}% (${(notes.delta.bytes / 2 ** 20).toFixed(1)} of ${(notes.uploadBytes / 2 ** 20).toFixed(1)} MiB) | ${verdict(notes.delta.bytes <= 0.1 * notes.uploadBytes)} | delta post ${fmt(notes.delta.saveS)}, base + delta restore ${fmt(notes.delta.restoreS)} (tree identical: ${notes.delta.identical ? 'yes' : 'NO'}) |`
      : '| delta upload ≤ 10% of a full snapshot | not measured | | |',
    `| sharded restore ≤ 1.0x the restore floor | ${ratio(m['runbox restore'], m['floor restore'])} | ${verdict(restoreR <= 1.0)} | shards: ${values.shards || 'default (core count)'} |`
  ];
  // A floor whose rounds spread more than 2x was limited by the disk in some rounds, not by the CPU:
  // ratios against its median then say more about the disk than about runbox.
  const spread = ['floor save', 'floor restore']
    .filter((n) => Math.max(...t[n]) > 2 * Math.min(...t[n]))
    .map((n) => `the ${n} took from ${fmt(Math.min(...t[n]))} to ${fmt(Math.max(...t[n]))}`);
  const noise = spread.length
    ? `- **Read the ratios of this run with care**: ${spread.join(' and ')} across rounds. Where the floor itself varies
  that much, the disk (page-cache writeback), not the CPU, limited some rounds, and every contender that writes the same
  data is slowed alike; runbox / baseline (both write the same tree) is the steadier comparison there.
`
    : '';
  const tool = (cmd) => sh(cmd).split('\n')[0].trim();
  const md = `# Benchmarks

Generated by \`npm run bench\` (scripts/bench.mjs) on ${started.toISOString().slice(0, 10)}. Every number below comes from one
run of the script: measurements are interleaved (one of each per round) and repeated ${runs} times; the table shows the
median, min and max. Absolute seconds drift up to 2x between runs on shared machines; the ratios, taken within one run,
are what count.

## Machine and data
- ${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'unknown CPU'}), ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM, node ${process.version}, ${tool('tar --version')}, ${tool('zstd --version')}
- store: \`mkstore.sh ROOT ${mib}\`: ${(facts.bytes / 2 ** 20).toFixed(0)} MiB, ${facts.files} files, ${facts.items} items, ${facts.links} \`.links\` entries (hard-link dedup); the DB is a real SQLite DB registering every item
- the page cache is warm for every contender alike (the source store is read each round); \`sync\` runs before each timed step
- runbox: \`node dist/main.js\` / \`node dist/post.js\` via tools/local-runner.mjs against the loopback cache service (tools/cache-server.mjs), store root at a temp dir (\`RUNBOX_STORE_ROOT\`), \`daemon: none\`${values.shards ? `, \`shards: ${values.shards}\`` : ''}; times include node start-up, lookup, download/upload, verification and the DB
- floor: \`tar -c | zstd -T0 -o FILE\` and \`zstd -dc FILE | tar -x\` on the same store paths
- baseline: the hand-written recipe: \`sudo tar --zstd -cf staging/store.tar.zst\`, then @actions/cache \`saveCache\`; \`restoreCache\`, then \`sudo tar --zstd -xf\` (its own node process)

## Measurements (seconds)
| step | median | min | max | all runs |
|---|---|---|---|---|
${rows.join('\n')}

Snapshot uploaded by runbox: ${(notes.uploadBytes / 2 ** 20).toFixed(1)} MiB (the floor's archive: ${(notes.floorBytes / 2 ** 20).toFixed(1)} MiB).
The restored tree was compared with the source by a \`find -printf\` manifest (path, type, mode, owner, mtime, link count, size, link target): ${notes.identical ? 'identical' : 'DIFFERENT'}.
Restore onto 90%: ${notes.dropped} of ${facts.items} items missing beforehand.
${notes.delta ? `Delta (first round only): ${notes.delta.added} new items (copies of existing ones under new names) added to the restored store, saved by a job whose key changed: ${notes.delta.line}` : ''}

## Ratios
| | ratio |
|---|---|
| runbox save / save floor | ${ratio(m['runbox save'], m['floor save'])} |
| runbox restore / restore floor | ${ratio(m['runbox restore'], m['floor restore'])} |
| baseline save / save floor | ${ratio(m['baseline save'], m['floor save'])} |
| baseline restore / restore floor | ${ratio(m['baseline restore'], m['floor restore'])} |
| runbox save / baseline save | ${ratio(m['runbox save'], m['baseline save'])} |
| runbox restore / baseline restore | ${ratio(m['runbox restore'], m['baseline restore'])} |
| restore onto 90% / full restore | ${ratio(m['restore onto 90%'], m['runbox restore'])} |

## Targets
| target | measured | | where runbox's time went (last round, from the step summary) |
|---|---|---|---|
${targets.join('\n')}

## Why the unmet targets are not met
${noise}- The floor moves bytes between a local file and the disk. runbox's times also hold what a job cannot skip: two node
  start-ups, the cache lookup, the snapshot going through @actions/cache (which wraps it in its own tar + zstd: the
  upload and download columns) and the DB copy or merge. Their share shrinks as the store grows: compare the
  ratios of a \`--mib 400\` and a \`--mib 1200\` run.
- Restore checks every member of every archive before anything reaches the store: a snapshot from the cache is
  untrusted input for a tar run as root (a member outside the store paths, a symlink to write through or a device node
  refuses the whole snapshot). It does so in one pass: each archive is decompressed once, and node checks the stream
  on its way to root's tar, which extracts into a private dir beside the store; the checked items are then renamed in
  (the move column). One pass removes the second decompression; on 2 cores that saves less than a whole
  decompression, because the stream now passes through a third process (node) between zstd and tar and the three
  share 2 cores, where the floor runs two processes.
  What one pass buys on any machine: the daemon is stopped only for the move and the DB merge (the move column,
  not the extract), a refused or cancelled restore leaves nothing in the store, and on more cores the second
  decompression is gone. The hand-written baseline checks nothing.
- Shards: on 2 cores the floor's \`zstd -T0\` already uses both cores to compress, and decompression plus tar already
  fill them, so N archives cannot beat the single-stream floor here (\`--shards 1\` measures the same within noise);
  they are meant for hosts with more cores.
- Restore onto 90%: every item travels in the one cache entry, so the whole entry is downloaded, decompressed and
  checked whatever the disk holds; only the writing is skipped (items already in the store are excluded from the
  extract by name). Skipping the download would need an entry per group of items, which the issue rules out; delta
  saves keep transfers small instead.

## Running it
- \`npm run bench\` (default: ${400} MiB of source, 5 runs; about 5-10 minutes on 2 cores).
- The issue's size: \`npm run build && node scripts/bench.mjs --mib 1200 --runs 5\` (about 1.3 GB, 25.7k files; budget 25-40 minutes on 2 cores and ~15 GB of free disk under $TMPDIR).
- \`--shards N\` sets runbox's \`shards\` input; \`--out FILE\` writes elsewhere; \`--keep\` leaves the temp root.
`;
  fs.writeFileSync(values.out, md);
  console.log(md);
  if (!values.keep) sh(`rm -rf ${q(tmp)}`);
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
    () => process.exit(0),
    (e) => {
      console.error(e);
      process.exit(1);
    }
  );
}
