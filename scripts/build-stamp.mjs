// Builds dist/ once per change, not once per `npm test`: `npm run build` records a digest of
// everything the build reads (sources, tests for the typecheck, configs, the lockfile), taken
// before it starts, with a digest of the dist/ it wrote; `npm test` rebuilds only when these no
// longer match. A fresh clone has no record, so its first `npm test` builds, as before. Content,
// not mtimes, decides: a checkout or a hand-edited dist/ file changes the digest; a source edited
// while the build ran leaves no record.
//
// Usage: node scripts/build-stamp.mjs build    (typecheck + bundle, then record; `npm run build`)
//        node scripts/build-stamp.mjs ensure   (build unless the record matches; `npm test`)
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
// Under node_modules: never committed, and gone with a fresh `npm ci`.
const STAMP = path.join(ROOT, 'node_modules', '.cache', 'runbox', 'build-stamp');
const SOURCES = ['src', '__tests__', 'tsconfig.json', 'package.json', 'package-lock.json', 'scripts/bundle.mjs', 'scripts/ncc-entry.mjs', 'scripts/flatten-dist.mjs', 'scripts/build-stamp.mjs'];

function files(rel) {
  const abs = path.join(ROOT, rel);
  if (!fs.existsSync(abs)) return [];
  if (!fs.statSync(abs).isDirectory()) return [rel];
  return fs
    .readdirSync(abs, { withFileTypes: true })
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .flatMap((e) => files(path.join(rel, e.name)));
}

function digest(paths) {
  const h = createHash('sha256');
  for (const rel of paths.flatMap(files))
    h.update(`${rel}\0`)
      .update(fs.readFileSync(path.join(ROOT, rel)))
      .update('\0');
  return h.digest('hex');
}

function npm(script) {
  const r = spawnSync('npm', ['run', script], { cwd: ROOT, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

const mode = process.argv[2];
if (mode === 'build') {
  const before = digest(SOURCES);
  npm('typecheck');
  npm('bundle');
  fs.mkdirSync(path.dirname(STAMP), { recursive: true });
  if (digest(SOURCES) === before) fs.writeFileSync(STAMP, `${before} ${digest(['dist'])}\n`);
  else {
    fs.rmSync(STAMP, { force: true });
    console.warn('build-stamp: sources changed while building; the next `npm test` builds again');
  }
} else if (mode === 'ensure') {
  const recorded = fs.existsSync(STAMP) ? fs.readFileSync(STAMP, 'utf8').trim() : '';
  if (recorded !== '' && recorded === `${digest(SOURCES)} ${digest(['dist'])}`) {
    console.log('dist/ was built from these sources (scripts/build-stamp.mjs); not building again');
  } else npm('build');
} else {
  console.error('usage: node scripts/build-stamp.mjs build|ensure');
  process.exit(2);
}
