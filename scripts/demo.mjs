// `npm run demo`: the built action end to end on this machine, as a runner would run it.
// A small Guix-like store (items, hardlinked .links, a SQLite DB) lives under a temp root; the
// loopback cache backend stands in for the Actions cache. Job 1 (cold) provisions dirs, misses,
// and its post saves a snapshot; the store is then wiped as on a fresh runner, and job 2 on
// another "runner" restores it with an exact hit, additively, and saves nothing.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startCacheServer } from '../tools/cache-server.mjs';
import { FakeJob } from '../tools/local-runner.mjs';

const sh = (script) => {
  const r = spawnSync('bash', ['-euo', 'pipefail', '-c', script], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`demo setup failed: ${script}\n${r.stderr}`);
  return r.stdout;
};

function preflight() {
  const missing = ['tar', 'zstd', 'flock', 'sqlite3'].filter((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0);
  if (missing.length) throw new Error(`the demo needs ${missing.join(', ')} (Debian: apt-get install ${missing.join(' ')})`);
  if (process.getuid() !== 0 && spawnSync('sudo', ['-n', 'true']).status !== 0) throw new Error('the demo restores a root-owned store: run it as root or as a user with passwordless sudo');
}

/** A few store items with hardlinked duplicates and a registered DB, like a small /gnu/store. */
function makeStore(root) {
  const store = path.join(root, 'gnu/store');
  const items = ['hello-2.12.1', 'glibc-2.39', 'bash-5.2.37', 'coreutils-9.1'].map((n, i) => `${String(i).repeat(32)}-${n}`);
  fs.mkdirSync(path.join(store, '.links'), { recursive: true });
  fs.mkdirSync(path.join(root, 'var/guix/db'), { recursive: true });
  for (const item of items) {
    fs.mkdirSync(path.join(store, item, 'bin'), { recursive: true });
    fs.mkdirSync(path.join(store, item, 'share/doc'), { recursive: true });
    fs.writeFileSync(path.join(store, item, 'bin', item.slice(33)), `#!/bin/sh\necho ${item}\n`, { mode: 0o555 });
    fs.copyFileSync('/etc/os-release', path.join(store, item, 'share/doc/COPYING'));
  }
  // identical files deduplicated through .links, as `guix gc --optimize` leaves them
  sh(`cd ${store} && for f in */share/doc/COPYING; do sum=$(sha256sum "$f" | cut -c1-52); [ -e .links/$sum ] || ln "$f" .links/$sum; ln -f .links/$sum "$f"; done`);
  const rows = items.map((it) => `INSERT INTO ValidPaths (path, hash, registrationTime, narSize) VALUES ('/gnu/store/${it}', 'sha256:0', 1, 100);`);
  sh(`sqlite3 ${root}/var/guix/db/db.sqlite <<'SQL'
CREATE TABLE ValidPaths (id integer primary key autoincrement not null, path text unique not null, hash text not null, registrationTime integer not null, deriver text, narSize integer);
CREATE TABLE Refs (referrer integer not null, reference integer not null, primary key (referrer, reference));
CREATE TABLE DerivationOutputs (drv integer not null, id text not null, path text not null, primary key (drv, id));
${rows.join('\n')}
INSERT INTO Refs SELECT a.id, b.id FROM ValidPaths a, ValidPaths b WHERE a.path LIKE '%hello%' AND b.path LIKE '%glibc%';
SQL`);
  sh(`find ${store} -mindepth 1 -exec touch -h -d @1 {} + && chmod -R a-w ${store}/*-*`);
  return items;
}

function show(title, r) {
  console.log(`\n=== ${title}: exit ${r.code}`);
  for (const line of r.stdout.split('\n')) {
    if (line === '' || line.startsWith('::debug::') || line.startsWith('::add-mask::') || line.startsWith('::save-state') || line === '::endgroup::') continue;
    console.log(`  ${line.replace(/^::group::/, '> ').replace(/^::(warning|error)::/, '$1: ')}`);
  }
  const summary = r.summary
    .replace(/<\/t[dh]>/g, ' | ')
    .replace(/<\/tr>/g, '\n')
    .replace(/<[^>]+>/g, '')
    .replace(/\n{2,}/g, '\n')
    .trim();
  if (summary)
    console.log(
      `  --- job summary ---\n${summary
        .split('\n')
        .map((l) => `  ${l.trim()}`)
        .join('\n')}`
    );
  if (Object.keys(r.outputs).length)
    console.log(
      `  --- outputs ---\n${Object.entries(r.outputs)
        .map(([k, v]) => `  ${k} = ${v}`)
        .join('\n')}`
    );
  if (r.code !== 0) throw new Error(`${title} failed`);
}

preflight();
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'runbox-demo-'));
const server = await startCacheServer();
try {
  const storeRoot = path.join(tmp, 'root');
  const items = makeStore(storeRoot);
  const base = path.join(tmp, 'base');
  const env = {
    ACTIONS_CACHE_SERVICE_V2: 'true',
    ACTIONS_RESULTS_URL: server.url,
    ACTIONS_RUNTIME_TOKEN: 'demo',
    GITHUB_SERVER_URL: undefined,
    ACTIONS_CACHE_MODE: undefined,
    RUNBOX_STORE_ROOT: storeRoot
  };
  const inputs = {
    'base-dir': base,
    dirs: 'target=CARGO_TARGET_DIR\nregistry:pr=CARGO_HOME',
    store: 'guix',
    daemon: 'none'
  };
  console.log(`runbox demo in ${tmp} (cache backend ${server.url})`);
  console.log(`store under ${storeRoot}: ${items.length} items, base-dir ${base}`);

  const cold = new FakeJob({ root: path.join(tmp, 'job1'), runId: '101', runnerName: 'runner-1', ref: 'refs/pull/7/merge', event: 'pull_request', env });
  const m1 = await cold.main(inputs);
  show('job 1 main (cold)', m1);
  fs.writeFileSync(path.join(m1.env.CARGO_TARGET_DIR, 'build.log'), 'built\n');
  show('job 1 post', await cold.post());

  // A fresh runner: the store holds one item of its own and none of the cached ones.
  sh(`chmod -R u+w ${storeRoot}/gnu/store && rm -rf ${storeRoot}/gnu/store/*-* ${storeRoot}/gnu/store/.links/* ${storeRoot}/var/guix/db/*`);
  const own = `${'f'.repeat(32)}-local-tool-1.0`;
  fs.mkdirSync(path.join(storeRoot, 'gnu/store', own));
  const warm = new FakeJob({ root: path.join(tmp, 'job2'), runId: '102', runnerName: 'runner-2', ref: 'refs/pull/7/merge', event: 'pull_request', env });
  show('job 2 main (restores the snapshot)', await warm.main(inputs));
  show('job 2 post', await warm.post());

  const after = fs
    .readdirSync(path.join(storeRoot, 'gnu/store'))
    .filter((n) => n !== '.links')
    .sort();
  console.log(`\nstore after restore: ${after.join(', ')}`);
  console.log(`cache backend: ${JSON.stringify(server.stats().entries)}`);
  const ok = items.every((i) => after.includes(i)) && after.includes(own);
  console.log(ok ? '\ndemo OK: dirs provisioned and torn down, snapshot saved once and restored additively' : '\ndemo FAILED: store not as expected');
  if (!ok) process.exitCode = 1;
} finally {
  await server.close();
  sh(`chmod -R u+w ${tmp} 2>/dev/null || true; rm -rf ${tmp}`);
}
