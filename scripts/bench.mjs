#!/usr/bin/env node
// The store-snapshot benchmark (issue 5): runbox against the floor (plain `tar -c | zstd -T0`
// and `zstd -dc | tar -x` on the same data) and against the hand-written recipe it replaces,
// all in one run, interleaved and repeated, so the ratios compare like with like on a shared
// machine whose absolute speed drifts between runs.
//
//   npm run bench                       # default size, 5 runs, writes BENCHMARKS.md
//   npm run build && node scripts/bench.mjs --mib 1200 --runs 5
//   options: --mib N (source MiB for mkstore.sh), --runs N, --out FILE, --dir DIR (temp root),
//            --keep (leave the temp root), --shards N (runbox `shards` input; default: runbox's),
//            --mkstore FILE (the store builder; default scripts/mkstore.sh), --help
//
// Needs root (the store is root-owned, like /gnu/store), GNU tar, zstd, sqlite3, and a built
// dist/ (npm run bench builds it). runbox runs exactly as a workflow runs it: `node dist/main.js`
// and `node dist/post.js` through tools/local-runner.mjs, against the loopback cache service
// in tools/cache-server.mjs, with RUNBOX_STORE_ROOT pointing the store root at a temp dir.
// Before timing counts, round 1 checks that runbox's restores are right: every item under
// gnu/store (dot-entries aside) as the source's in the canonical view (root:root, mtime 1, dirs
// 0555, files 0555/0444, symlinks 0777; __tests__/fixtures/store.ts itemsView), no dot-entry and
// no private dir left behind, and the restored DB registering the same paths and references.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { daemonSchema } from '../src/store/daemon-schema.mjs';

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

const sqlStr = (s) => `'${String(s).replace(/'/g, "''")}'`;

function sqlite(db, sql) {
  const r = spawnSync('sqlite3', ['-bail', db], { input: sql, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`sqlite3 ${db}: ${r.stderr}`);
  return r.stdout;
}

/** A DB as guix-daemon leaves it (as __tests__/fixtures/store.ts GUIX_SCHEMA): one schema source for runbox, the tests and this. */
const GUIX_SCHEMA = `${daemonSchema('guix')}PRAGMA journal_mode = WAL;\n`;

const validRow = (name, time) => `INSERT INTO ValidPaths (path, hash, registrationTime, narSize) VALUES (${sqlStr(`/gnu/store/${name}`)}, 'sha256:${'0'.repeat(52)}', ${time}, 100);`;

/**
 * mkstore.sh's db.sqlite is filler; save reads the registrations from the live DB, so make it a
 * real Guix DB: every item registered, and item i referring to item i+1 unless i+1 is one of the
 * items partialStore drops (every 10th), so that dropping them leaves no dangling reference.
 */
function realDb(src) {
  const db = path.join(src, 'var/guix/db/db.sqlite');
  wipe(db);
  const items = fs
    .readdirSync(path.join(src, 'gnu/store'))
    .filter((n) => !n.startsWith('.'))
    .sort();
  const rows = items.map((n) => validRow(n, 1));
  const refs = [];
  for (let i = 0; i + 1 < items.length; i++) {
    if ((i + 1) % 10 === 0) continue;
    refs.push(
      `INSERT INTO Refs (referrer, reference) SELECT x.id, y.id FROM ValidPaths x, ValidPaths y WHERE x.path = ${sqlStr(`/gnu/store/${items[i]}`)} AND y.path = ${sqlStr(`/gnu/store/${items[i + 1]}`)};`
    );
  }
  sqlite(db, `${GUIX_SCHEMA}\nBEGIN;\n${rows.join('\n')}\n${refs.join('\n')}\nCOMMIT;\n`);
  return items;
}

/** What a DB registers: its valid paths and its references as path pairs (ids and times aside). */
function dbView(root) {
  const db = path.join(root, 'var/guix/db/db.sqlite');
  if (!fs.existsSync(db)) return `(no DB at ${db})`;
  return sqlite(
    db,
    `SELECT path FROM ValidPaths ORDER BY path;
     SELECT '->', x.path, y.path FROM Refs r JOIN ValidPaths x ON x.id = r.referrer JOIN ValidPaths y ON y.id = r.reference ORDER BY 2, 3;\n`
  );
}

function storeFacts(src) {
  const n = (cmd) => Number(sh(cmd).trim());
  return {
    bytes: n(`du -sb ${q(src)} | cut -f1`),
    files: n(`find ${q(src)} -type f | wc -l`),
    items: fs.readdirSync(path.join(src, 'gnu/store')).filter((x) => !x.startsWith('.')).length,
    links: n(`find ${q(path.join(src, 'gnu/store/.links'))} -type f | wc -l`),
    // The items with every hard link counted as its own file: what a dereferenced archive would hold.
    itemBytes: n(`du -sbl --exclude=.links ${q(path.join(src, 'gnu/store'))} | cut -f1`)
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
  // Their registrations and their own references (nothing kept refers to them: see realDb).
  const del = dropped
    .map((n) => `DELETE FROM Refs WHERE referrer = (SELECT id FROM ValidPaths WHERE path = ${sqlStr(`/gnu/store/${n}`)});\nDELETE FROM ValidPaths WHERE path = ${sqlStr(`/gnu/store/${n}`)};`)
    .join('\n');
  sqlite(path.join(dest, 'var/guix/db/db.sqlite'), `PRAGMA foreign_keys = ON;\nBEGIN;\n${del}\nCOMMIT;\n`);
  return dropped;
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
  // 8 new leading chars of the hash part, all nix-base32 (no e, o, t, u: restore checks the names).
  const fresh = picked.map((name, i) => `d1${String(i).padStart(6, '0')}${name.slice(8)}`);
  sh(picked.map((name, i) => `cp -a ${q(path.join(store, name))} ${q(path.join(store, fresh[i]))}`).join('\n'));
  sqlite(path.join(root, 'var/guix/db/db.sqlite'), `BEGIN;\n${fresh.map((f) => validRow(f, 2)).join('\n')}\nCOMMIT;\n`);
  return n;
}

/**
 * The items of a store root's gnu/store, one line each: path, type, mode, uid, gid, mtime, size
 * (files only: dir sizes depend on the filesystem's history), symlink target. Dot-entries
 * (`.links`) and the store dir itself are left out. With `canonical`, what the items become once
 * restored: root-owned, mtime 1, dirs 0555, files 0555 with any x bit and 0444 without, symlinks
 * 0777. Link counts are not compared: `.links` is not restored, and names in different shards
 * are separate copies.
 * The same rule as __tests__/fixtures/store.ts itemsView.
 */
function itemsView(root, canonical = false) {
  const lines = sh(`cd ${q(path.join(root, 'gnu/store'))} && find . -mindepth 1 -path './.*' -prune -o -printf '%P\\t%y\\t%m\\t%U\\t%G\\t%T@\\t%s\\t%l\\n' | LC_ALL=C sort`)
    .split('\n')
    .filter((l) => l !== '');
  return lines.map((l) => {
    const [p, y, m, u, g, t, size, target] = l.split('\t');
    if (!canonical) return `${p} ${y} ${m} ${u} ${g} ${Number(t)} ${y === 'f' ? size : '-'} ${target}`;
    const cm = y === 'd' ? '555' : y === 'l' ? '777' : parseInt(m, 8) & 0o111 ? '555' : '444';
    return `${p} ${y} ${cm} 0 0 1 ${y === 'f' ? size : '-'} ${target}`;
  });
}

/** The first few lines where two views differ, for the error message. */
function firstDiffs(a, b, n = 8) {
  const sa = new Set(a);
  const sb = new Set(b);
  return [...a.filter((l) => !sb.has(l)).map((l) => `- ${l}`), ...b.filter((l) => !sa.has(l)).map((l) => `+ ${l}`)].slice(0, n).join('\n');
}

/**
 * A restore's result against what it should hold: the items (in `expected`, a view as itemsView
 * gives it) written by runbox, with nothing but them under gnu/store's dot-entries-free view, no
 * dot-entry in gnu/store, no private dir left beside it, and the DB registering `dbExpected`.
 * `only`, when given, limits the comparison to the items so named (a restore onto a partial store).
 */
function checkRestore(what, root, expected, dbExpected, only) {
  const pick = (view) => (only ? view.filter((l) => only.has(l.split(/[/ ]/)[0])) : view);
  const got = pick(itemsView(root));
  const want = pick(expected);
  if (got.join('\n') !== want.join('\n')) throw new Error(`${what}: the restored items differ from the source's canonical view (- expected, + restored):\n${firstDiffs(want, got)}`);
  // (A partial store keeps its own `.links`: runbox adds items next to it and never touches it.)
  const dots = only ? [] : fs.readdirSync(path.join(root, 'gnu/store')).filter((n) => n.startsWith('.'));
  if (dots.length) throw new Error(`${what}: dot-entries in the restored store: ${dots.join(', ')}`);
  const beside = fs.readdirSync(path.join(root, 'gnu')).filter((n) => n !== 'store');
  if (beside.length) throw new Error(`${what}: left beside the store dir: ${beside.join(', ')}`);
  const db = dbView(root);
  if (db !== dbExpected) throw new Error(`${what}: the restored DB does not register the source's paths and references:\n${firstDiffs(dbExpected.split('\n'), db.split('\n'))}`);
  return got.length;
}

// ---- runbox through the local runner ------------------------------------------------------

async function runboxJob(FakeJob, dir, env) {
  wipe(dir);
  fs.mkdirSync(dir, { recursive: true });
  return new FakeJob({ root: dir, env });
}

function expectStep(r, what) {
  if (r.code !== 0) throw new Error(`${what}: exit ${r.code}\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-2000)}`);
  // No warning is expected: mkstore.sh's setuid programs (from /usr/bin) lose those bits on restore,
  // which the step summary counts, without a warning.
  if (r.warnings.length) throw new Error(`${what}: warnings:\n${r.warnings.join('\n')}`);
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
      help: { type: 'boolean', default: false },
      mib: { type: 'string', default: '400' },
      runs: { type: 'string', default: '5' },
      out: { type: 'string', default: path.join(ROOT, 'BENCHMARKS.md') },
      dir: { type: 'string' },
      keep: { type: 'boolean', default: false },
      shards: { type: 'string', default: '' },
      mkstore: { type: 'string', default: path.resolve(ROOT, 'scripts', 'mkstore.sh') }
    }
  });
  if (values.help) {
    // The usage lines of the header comment.
    const head = fs.readFileSync(SELF, 'utf8').split('\n');
    console.log(
      head
        .slice(
          head.findIndex((l) => l.includes('npm run bench ')),
          head.findIndex((l) => l.startsWith('// Needs root'))
        )
        .map((l) => l.replace(/^\/\/ ?/, ''))
        .join('\n')
    );
    return;
  }
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
  console.log(
    `bench: ${(facts.bytes / 2 ** 20).toFixed(0)} MiB, ${facts.files} files, ${facts.items} items, ${facts.links} .links entries in the source ` +
      `(snapshots carry none: the items with every link counted are ${(facts.itemBytes / 2 ** 20).toFixed(0)} MiB)`
  );
  // What every restore must give, in the canonical view, and what its DB must register.
  const srcCanonical = itemsView(src, true);
  const srcDb = dbView(src);

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
  const notes = { saveLine: '', restoreLine: '', partialLine: '', uploadBytes: 0, floorBytes: 0, exactUploads: 0, checked: 0, partialChecked: 0, dropped: 0, delta: undefined };
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
      // Correctness first: the source's items in the canonical view, and its registrations.
      notes.checked = checkRestore('runbox restore', target, srcCanonical, srcDb);
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
      // The store the delta was made from was restored by runbox (canonical already) plus `cp -a`
      // copies of its items: base + delta must give it back exactly, and its registrations.
      checkRestore('base + delta restore', target2, itemsView(target), dbView(target));
      notes.delta = { added, bytes: deltaBytes, saveS: deltaSave.s, restoreS: deltaRestore.s, line: summaryLine(deltaSave.extra, 'store snapshot') };
      wipe(target2);
    }

    wipe(target);
    fs.mkdirSync(target);
    t['baseline restore'].push((await timed(() => runChild(['--baseline', 'restore', '--root', target, '--staging', path.join(tmp, 'bl-staging'), '--key', blKey], childEnv))).s);

    const dropped = partialStore(src, target, items);
    notes.dropped = dropped.length;
    const partialJob = await runboxJob(FakeJob, path.join(tmp, 'job-partial'), { ...cacheEnv, RUNBOX_STORE_ROOT: target });
    const partial = await timed(() => partialJob.main(inputs(key)));
    expectStep(partial.extra, 'runbox main (onto 90%)');
    // The dropped items come back canonical; the DB registers the whole source store again.
    if (i === 1) notes.partialChecked = checkRestore('runbox restore onto 90%', target, srcCanonical, srcDb, new Set(dropped));
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
      ? `| delta upload ≤ 10% of a full snapshot (${notes.delta.added} new items, ${((100 * notes.delta.added) / facts.items).toFixed(1)}%) | ${((100 * notes.delta.bytes) / notes.uploadBytes).toFixed(1)}% (${(notes.delta.bytes / 2 ** 20).toFixed(1)} of ${(notes.uploadBytes / 2 ** 20).toFixed(1)} MiB) | ${verdict(notes.delta.bytes <= 0.1 * notes.uploadBytes)} | delta post ${fmt(notes.delta.saveS)}, base + delta restore ${fmt(notes.delta.restoreS)} (items and DB checked: identical) |`
      : '| delta upload ≤ 10% of a full snapshot | not measured | | |',
    `| sharded restore ≤ 1.0x the restore floor | ${ratio(m['runbox restore'], m['floor restore'])} | ${verdict(restoreR <= 1.0)} | shards: ${values.shards || 'default (auto: one per core, at most 8, for stores of 64 MiB or more)'} |`
  ];
  // A floor whose rounds spread more than 2x was limited by the disk in some rounds, not by the CPU:
  // ratios against its median then say more about the disk than about runbox.
  const spread = ['floor save', 'floor restore'].filter((n) => Math.max(...t[n]) > 2 * Math.min(...t[n])).map((n) => `the ${n} took from ${fmt(Math.min(...t[n]))} to ${fmt(Math.max(...t[n]))}`);
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
- store: \`mkstore.sh ROOT ${mib}\`: ${(facts.bytes / 2 ** 20).toFixed(0)} MiB, ${facts.files} files, ${facts.items} items, ${facts.links} \`.links\` entries (hard-link dedup, as \`guix gc --optimize\` leaves it); the items with every hard link counted as its own file (what a dereferenced snapshot would hold): ${(facts.itemBytes / 2 ** 20).toFixed(0)} MiB. The DB is a real SQLite DB with the Guix daemon's schema, registering every item, with references between items
- the page cache is warm for every contender alike (the source store is read each round); \`sync\` runs before each timed step
- runbox: \`node dist/main.js\` / \`node dist/post.js\` via tools/local-runner.mjs against the loopback cache service (tools/cache-server.mjs), store root at a temp dir (\`RUNBOX_STORE_ROOT\`), \`daemon: none\`${values.shards ? `, \`shards: ${values.shards}\`` : ''}. The snapshot is one runbox entry (manifest, store archives, registrations) that runbox's own cache client uploads in blocks and downloads, not an @actions/cache entry. Save: \`sudo tar\` of the items (dot-entries such as \`.links\` left out; a file with several names in one archive stored once, as hard links at its other names) into \`zstd -T0\`, and the registrations read from the DB. Restore: each archive read once (decompressed, every member checked by node, which writes a canonical tar stream of its own to root's tar), extracted into a private dir beside the store, moved in, registered. Times include node start-up, lookup, download/upload, checks and the DB
- floor: \`tar -c | zstd -T0 -o FILE\` and \`zstd -dc FILE | tar -x\` on the same store paths as they are on disk (\`.links\` and its hard links included, each file stored once; no checks, no DB handling)
- baseline: the hand-written recipe: \`sudo tar --zstd -cf staging/store.tar.zst\`, then @actions/cache \`saveCache\`; \`restoreCache\`, then \`sudo tar --zstd -xf\` (its own node process)

## Measurements (seconds)
| step | median | min | max | all runs |
|---|---|---|---|---|
${rows.join('\n')}

Snapshot uploaded by runbox: ${(notes.uploadBytes / 2 ** 20).toFixed(1)} MiB (the floor's archive: ${(notes.floorBytes / 2 ** 20).toFixed(1)} MiB; the snapshot holds each hard-linked file once per archive, the floor once plus its \`.links\` name).
Checked in the first round (the script stops otherwise): the ${notes.checked} entries runbox restored under gnu/store equal the source's in the canonical view (path, type, mode: dirs 0555, files 0555/0444 by their x bits, symlinks 0777; owner 0:0; mtime 1; file size; symlink target; link counts not compared: \`.links\` is not restored and names in different shards are separate copies), no dot-entry (\`.links\`) and no private dir left, and the restored DB registers the source's paths and references (\`ValidPaths\` paths and \`Refs\` as path pairs).
Restore onto 90%: ${notes.dropped} of ${facts.items} items missing beforehand (removed with their registrations, and the \`.links\` entries only they used); the ${notes.partialChecked} entries of those items came back in the canonical view and the DB registers the whole source store again.
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
  start-ups, the cache lookup, the entry's upload or download (one runbox entry, uploaded in blocks by runbox's cache
  client: the upload and download columns), the registrations (read from the DB on save, checked and registered on
  restore) and the move into the store. Their share shrinks as the store grows: compare the ratios of a
  \`--mib 400\` and a \`--mib 1200\` run.
- The snapshot keeps hard links within each archive: a file with several names (here, everything \`.links\`
  deduplicates) is stored once per archive and restored as one file with those names, as the floor does. Names
  in different shards are separate copies (shards keep items that share files together where that keeps them
  balanced), and \`.links\` itself is not restored (the daemon deduplicates again on \`guix gc --optimize\`).
- Restore checks every member of every archive before anything reaches the store: a snapshot from the cache is
  untrusted input for a tar run as root. It reads each archive once: zstd decompresses it, node parses and checks
  every member and writes to root's \`tar -x\` a canonical tar stream it generates itself (headers from the checked
  path, type, size, x bit and link target; only file contents come from the snapshot), tar extracts into a private dir
  beside the store, runbox walks what landed, and the checked items are renamed in (the move column). The stream
  passes through a third process (node) between zstd and tar, and the three share 2 cores, where the floor runs two.
  What this buys on any machine: tar never reads a byte runbox did not check, restored items get canonical metadata,
  the daemon is stopped only for the move and the DB transaction, and a refused or cancelled restore leaves nothing
  in the store. The hand-written baseline checks nothing.
- Shards: on 2 cores the floor's \`zstd -T0\` already uses both cores to compress, and decompression plus tar already
  fill them, so N archives cannot beat the single-stream floor here (\`--shards 1\` measures the same within noise);
  they are meant for hosts with more cores.
- Restore onto 90%: every item travels in the one cache entry, so the whole entry is downloaded, decompressed and
  checked whatever the disk holds; only the writing is skipped (members of items the store already has are checked
  and left out of the canonical stream). Skipping the download would need an entry per group of items, which the
  issue rules out; delta saves keep transfers small instead.

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
