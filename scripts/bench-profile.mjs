#!/usr/bin/env node
// Where runbox's own CPU goes in a save and a restore (issue 13): one synthetic store, kept
// between invocations, saved and restored `--runs` times through the built dist/ (as
// scripts/bench.mjs runs it), reporting the CPU seconds of the node process of each step alone
// (not its tar, zstd or sudo), which a loaded machine's wall time cannot show. With --cpu-prof,
// each step also writes a V8 profile, summarized by self time per function.
//
//   npm run build && node scripts/bench-profile.mjs --runs 3
//   node scripts/bench-profile.mjs --runs 1 --cpu-prof /tmp/prof     # plus the top functions
//   node scripts/bench-profile.mjs --summary FILE.cpuprofile [--top N]
//   options: --dir DIR (default /dev/shm/runbox-profile, a tmpfs: the store is built there once
//            and kept), --size MiB (default 400), --runs N (default 3), --steps save,restore,
//            --cpu-prof DIR, --top N (default 10)
//
// Needs root (the store is root-owned, like bench.mjs's), GNU tar, zstd, sqlite3.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { realDb, sh, q, wipe } from './bench-store.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Self time per function of a .cpuprofile (ms), biggest first. */
export function selfTimes(profile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const ms = new Map();
  profile.samples.forEach((id, i) => {
    const f = byId.get(id).callFrame;
    const where = f.url ? `${path.basename(f.url)}:${f.lineNumber + 1}` : '';
    const name = `${f.functionName || '(anonymous)'} ${where}`.trim();
    ms.set(name, (ms.get(name) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
  });
  const total = [...ms.values()].reduce((a, b) => a + b, 0);
  return { total, rows: [...ms.entries()].sort((a, b) => b[1] - a[1]) };
}

function printSummary(file, top) {
  const { total, rows } = selfTimes(JSON.parse(fs.readFileSync(file, 'utf8')));
  console.log(`${path.basename(file)}: ${(total / 1000).toFixed(2)} s sampled`);
  for (const [name, t] of rows.slice(0, top)) console.log(`  ${(t / 1000).toFixed(3).padStart(7)} s ${((100 * t) / total).toFixed(1).padStart(5)}%  ${name}`);
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main() {
  const { values } = parseArgs({
    options: {
      dir: { type: 'string', default: '/dev/shm/runbox-profile' },
      size: { type: 'string', default: '400' },
      runs: { type: 'string', default: '3' },
      steps: { type: 'string', default: 'save,restore' },
      'cpu-prof': { type: 'string' },
      summary: { type: 'string' },
      top: { type: 'string', default: '10' }
    }
  });
  const top = Number(values.top);
  if (values.summary) return printSummary(values.summary, top);
  const steps = values.steps.split(',');
  const kept = path.resolve(values.dir);
  // runbox refuses a base dir under /dev: the kept tmpfs dir is bind-mounted elsewhere, in a
  // mount namespace of this script's own (gone with it, however it ends).
  const dir = '/tmp/runbox-profile-work';
  if (!process.env.RUNBOX_PROFILE_NS) {
    fs.mkdirSync(kept, { recursive: true });
    fs.mkdirSync(dir, { recursive: true });
    const r = spawnSync('unshare', ['--mount', '--propagation', 'private', process.execPath, ...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
      stdio: 'inherit',
      env: { ...process.env, RUNBOX_PROFILE_NS: '1' }
    });
    if (r.status !== 0) throw new Error(`profile: ended with ${r.status ?? r.signal}`);
    return;
  }
  sh(`mount --bind ${q(kept)} ${q(dir)}`);
  const src = path.join(dir, `src-${values.size}`);
  if (!fs.existsSync(path.join(src, '.built'))) {
    wipe(src);
    fs.mkdirSync(dir, { recursive: true });
    console.log(`profile: building a ${values.size} MiB store in ${src}`);
    sh(`bash ${q(path.join(ROOT, 'scripts/mkstore.sh'))} ${q(src)} ${values.size}`, { quiet: true });
    realDb(src);
    fs.writeFileSync(path.join(src, '.built'), '');
  }
  const { FakeJob } = await import(path.join(ROOT, 'tools/local-runner.mjs'));
  const { startCacheServer } = await import(path.join(ROOT, 'tools/cache-server.mjs'));
  const cacheDir = path.join(dir, 'cache');
  wipe(cacheDir);
  fs.mkdirSync(cacheDir);
  const server = await startCacheServer({ dir: cacheDir });
  const cpuDir = path.join(dir, 'cpu');
  fs.mkdirSync(cpuDir, { recursive: true });
  // Each step's own CPU, written by the step's node process as it exits (children excluded).
  const preload = path.join(dir, 'cpu-preload.cjs');
  fs.writeFileSync(
    preload,
    `process.on('exit', () => { const u = process.cpuUsage(); require('node:fs').writeFileSync(require('node:path').join(process.env.RUNBOX_PROFILE_CPU, 'cpu-' + process.pid + '.json'), JSON.stringify(u)); });\n`
  );
  const nodeArgs = [
    '--require',
    preload,
    ...(process.env.RUNBOX_PROFILE_EXTRA ? process.env.RUNBOX_PROFILE_EXTRA.split(' ') : []),
    ...(values['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(values['cpu-prof'])}`] : [])
  ];
  const env = {
    ACTIONS_CACHE_SERVICE_V2: 'true',
    ACTIONS_RESULTS_URL: server.url,
    ACTIONS_RUNTIME_TOKEN: 'profile',
    GITHUB_SERVER_URL: undefined,
    ACTIONS_CACHE_URL: undefined,
    RUNBOX_PROFILE_CPU: cpuDir,
    // RUNBOX_LAUNCHER=off: the steps fork their pipelines themselves (src/sys/launch.ts), to compare.
    ...(process.env.RUNBOX_LAUNCHER ? { RUNBOX_LAUNCHER: process.env.RUNBOX_LAUNCHER } : {})
  };
  const inputs = (key) => ({ store: 'guix', daemon: 'none', key, 'restore-keys': 'profile-no-such-prefix-' });
  const job = (name, root, args) => {
    const d = path.join(dir, name);
    wipe(d);
    fs.mkdirSync(d, { recursive: true });
    return new FakeJob({ root: d, env: { ...env, RUNBOX_STORE_ROOT: root }, nodeArgs: args });
  };
  /** The CPU seconds (user + system) the step's node process used; its wall seconds go to `walls`. */
  const walls = { save: [], restore: [] };
  const timed = async (step, fn) => {
    for (const f of fs.readdirSync(cpuDir)) fs.rmSync(path.join(cpuDir, f));
    const t0 = performance.now();
    const r = await fn();
    walls[step].push((performance.now() - t0) / 1000);
    if (r.code !== 0) throw new Error(`profile: step exited ${r.code}\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-2000)}`);
    const files = fs.readdirSync(cpuDir);
    if (files.length !== 1) throw new Error(`profile: expected one CPU record, found ${files.length}`);
    const u = JSON.parse(fs.readFileSync(path.join(cpuDir, files[0]), 'utf8'));
    return (u.user + u.system) / 1e6;
  };
  const figures = { save: [], restore: [] };
  const target = path.join(dir, 'target');
  try {
    for (let i = 0; i < Number(values.runs); i++) {
      const key = `profile-${process.pid}-${i}`;
      const saver = job('job-save', src, []);
      const miss = await saver.main(inputs(key));
      if (miss.code !== 0) throw new Error(`profile: main (miss) exited ${miss.code}\n${miss.stdout.slice(-3000)}`);
      // Only post (the save) runs profiled, not the miss before it.
      saver.opts.nodeArgs = steps.includes('save') ? nodeArgs : ['--require', preload];
      figures.save.push(await timed('save', () => saver.post()));
      if (steps.includes('restore')) {
        wipe(target);
        fs.mkdirSync(target);
        const restorer = job('job-restore', target, nodeArgs);
        figures.restore.push(await timed('restore', () => restorer.main(inputs(key))));
      }
      console.log(
        `profile: run ${i + 1}: save ${figures.save.at(-1)?.toFixed(2)} s, restore ${figures.restore.at(-1)?.toFixed(2) ?? '-'} s of node CPU; wall: save ${walls.save.at(-1)?.toFixed(2)} s, restore ${walls.restore.at(-1)?.toFixed(2) ?? '-'} s`
      );
    }
  } finally {
    await server.close();
  }
  for (const s of ['save', 'restore']) {
    if (figures[s].length) console.log(`profile: ${s}: node CPU median ${median(figures[s]).toFixed(2)} s of ${figures[s].map((x) => x.toFixed(2)).join(', ')}`);
    if (walls[s].length) console.log(`profile: ${s}: wall median ${median(walls[s]).toFixed(2)} s of ${walls[s].map((x) => x.toFixed(2)).join(', ')}`);
  }
  if (values['cpu-prof']) for (const f of fs.readdirSync(values['cpu-prof']).filter((f) => f.endsWith('.cpuprofile'))) printSummary(path.join(values['cpu-prof'], f), top);
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  }
);
