// Once per test run (jest globalSetup of the host and e2e projects): bundle every test CLI in
// __tests__/clis with ncc into one script, as the action itself is built, and compile the keeper
// for the tests that start keepers themselves. Tests find them through RUNBOX_TEST_CLIS
// (helpers/bundle.ts testCli, keeperScript). Bundling per test file cost one ncc run (10-40 s)
// for each of five files.
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const CLIS = ['daemon-stopped', 'janitor', 'lock', 'register-paths', 'restore-lock'];

export default function globalSetup() {
  // Test-only (src/keeper.ts): keepers started by tests notice a killed runner worker within
  // 100 ms instead of a second. Set here, before any test process starts, so each inherits it.
  process.env.RUNBOX_TEST_KEEPER_POLL_MS ??= '100';
  // Both projects name this setup; the second call in the same run finds the first's bundle.
  const done = process.env.RUNBOX_TEST_CLIS;
  if (done && fs.existsSync(path.join(done, 'index.js'))) return;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runbox-test-clis-'));
  // Tests run these as runbox-ci and nobody.
  fs.chmodSync(dir, 0o755);
  if (!fromCache(dir)) {
    // As dist/ is built (scripts/ncc-entry.mjs: without @actions/http-client, a tenth of a second
    // of CPU less in every start of a CLI; transpiled only: `tsc --noEmit` checks __tests__/clis with the
    // rest). --no-cache: other builds may run concurrently.
    execFileSync(process.execPath, [path.join(ROOT, 'scripts/ncc-entry.mjs'), path.join(ROOT, '__tests__/clis/index.ts'), dir, '--no-cache'], {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'inherit']
    });
    toCache(dir);
  }
  for (const name of CLIS) fs.writeFileSync(path.join(dir, `${name}.mjs`), `process.argv.splice(2, 0, ${JSON.stringify(name)});\nawait import('./index.js');\n`);

  // The keeper is dependency-free by design (only node: modules and its own relative imports),
  // so transpiling its files one by one gives what ncc would bundle, in milliseconds. Named like
  // dist/keeper.js: stopKeeper recognises a keeper by that name until it has set its title.
  const keeperDir = path.join(dir, 'keeper');
  transpileTree(path.join(ROOT, 'src'), 'keeper.ts', keeperDir);
  fs.writeFileSync(path.join(keeperDir, 'package.json'), '{ "type": "module" }\n');
  // The launcher (dependency-free too) next to the CLIs' bundle, where sys/launch.ts looks for
  // it, as it finds dist/launcher.js next to dist/runbox.js: the CLIs' pipelines start through it.
  transpileTree(path.join(ROOT, 'src'), 'launcher.ts', dir);
  process.env.RUNBOX_TEST_CLIS = dir;
}

// The bundle of the same sources is kept between runs: ncc takes 20 s of CPU (a minute on a
// loaded machine) before the first test of every run, also of a run of one file. Keyed by the
// content of every file it can be built from (src/, __tests__/clis/, the lock file, this file)
// and node's version, so a changed source is always bundled again; those of other sources go after a day.
const CACHE_PREFIX = 'runbox-test-clis-cache-';

function cacheDir() {
  const h = crypto.createHash('sha256');
  h.update(process.version);
  const add = (p) => {
    const st = fs.statSync(p);
    if (st.isDirectory()) for (const n of fs.readdirSync(p).sort()) add(path.join(p, n));
    else h.update(`${path.relative(ROOT, p)}\0${st.size}\0`).update(fs.readFileSync(p));
  };
  for (const p of ['src', '__tests__/clis', 'package-lock.json', '__tests__/helpers/global-setup.mjs', 'scripts/ncc-entry.mjs']) add(path.join(ROOT, p));
  return path.join(os.tmpdir(), `${CACHE_PREFIX}${h.digest('hex').slice(0, 32)}`);
}

/** Copies a kept bundle of these sources into `dir`; false when there is none (or it went meanwhile). */
function fromCache(dir) {
  const cached = cacheDir();
  if (!fs.existsSync(path.join(cached, 'index.js'))) return false;
  try {
    fs.cpSync(cached, dir, { recursive: true });
    fs.chmodSync(dir, 0o755);
    const now = new Date();
    fs.utimesSync(cached, now, now);
    return true;
  } catch (e) {
    // Removed (a day old) by another run while we copied: bundle it again.
    if (e.code !== 'ENOENT') throw e;
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir, { mode: 0o755 });
    return false;
  }
}

/** Keeps the bundle in `dir` for the next run of the same sources. */
function toCache(dir) {
  const cached = cacheDir();
  // Bundles of other sources (other branches, older commits) go after a day unused.
  for (const n of fs.readdirSync(os.tmpdir())) {
    const p = path.join(os.tmpdir(), n);
    if (!n.startsWith(CACHE_PREFIX) || p === cached) continue;
    const st = fs.statSync(p, { throwIfNoEntry: false });
    if (st && Date.now() - st.mtimeMs > 86_400_000) fs.rmSync(p, { recursive: true, force: true });
  }
  // Whole or not at all: copied under a temp name, renamed into place.
  const tmp = fs.mkdtempSync(`${cached}.tmp-`);
  fs.cpSync(dir, tmp, { recursive: true });
  try {
    fs.renameSync(tmp, cached);
  } catch (e) {
    // Another run of the same sources kept it first: the same bundle.
    if (e.code !== 'ENOTEMPTY' && e.code !== 'EEXIST') throw e;
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** Transpiles `rel` under `srcRoot` and every file it imports relatively into `outRoot`. */
export function transpileTree(srcRoot, rel, outRoot, done = new Set()) {
  if (done.has(rel)) return;
  done.add(rel);
  const source = fs.readFileSync(path.join(srcRoot, rel), 'utf8');
  const out = ts.transpileModule(source, {
    compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ES2022 },
    reportDiagnostics: true,
    fileName: rel
  });
  if (out.diagnostics?.length) throw new Error(`src/${rel}: ${ts.flattenDiagnosticMessageText(out.diagnostics[0].messageText, '\n')}`);
  const target = path.join(outRoot, rel.replace(/\.ts$/, '.js'));
  fs.mkdirSync(path.dirname(target), { recursive: true, mode: 0o755 });
  fs.writeFileSync(target, out.outputText);
  for (const { fileName: spec } of ts.preProcessFile(source, true, true).importedFiles) {
    if (spec.startsWith('node:')) continue;
    if (!spec.startsWith('./') && !spec.startsWith('../'))
      throw new Error(`src/${rel} imports '${spec}': the keeper must stay dependency-free (bundle it with ncc in global-setup.mjs if that changed)`);
    transpileTree(srcRoot, path.join(path.dirname(rel), spec.replace(/\.js$/, '.ts')), outRoot, done);
  }
}
