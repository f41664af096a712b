// Builds dist/ once per change, not once per `npm test`: `npm run build` records a digest of
// everything the build reads (sources, tests for the typecheck, configs, the lockfile) and of
// the dist/ it wrote; `npm test` rebuilds only when that digest no longer matches. A fresh
// clone has no record, so its first `npm test` builds, as before. Content, not mtimes, decides:
// a checkout or a hand-edited dist/ file changes the digest.
//
// Usage: node scripts/build-stamp.mjs record   (after a successful build)
//        node scripts/build-stamp.mjs ensure   (build unless the record matches)
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
// Under node_modules: never committed, and gone with a fresh `npm ci`.
const STAMP = path.join(ROOT, 'node_modules', '.cache', 'runbox', 'build-stamp');
const INPUTS = ['src', '__tests__', 'dist', 'tsconfig.json', 'package.json', 'package-lock.json', 'scripts/flatten-dist.mjs'];

function files(rel) {
  const abs = path.join(ROOT, rel);
  if (!fs.existsSync(abs)) return [];
  if (!fs.statSync(abs).isDirectory()) return [rel];
  return fs
    .readdirSync(abs, { withFileTypes: true })
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .flatMap((e) => files(path.join(rel, e.name)));
}

function digest() {
  const h = createHash('sha256');
  for (const rel of INPUTS.flatMap(files)) h.update(`${rel}\0`).update(fs.readFileSync(path.join(ROOT, rel))).update('\0');
  return h.digest('hex');
}

const mode = process.argv[2];
if (mode === 'record') {
  fs.mkdirSync(path.dirname(STAMP), { recursive: true });
  fs.writeFileSync(STAMP, digest() + '\n');
} else if (mode === 'ensure') {
  const recorded = fs.existsSync(STAMP) ? fs.readFileSync(STAMP, 'utf8').trim() : '';
  if (recorded !== '' && recorded === digest()) {
    console.log('dist/ was built from these sources (scripts/build-stamp.mjs); not building again');
  } else {
    const r = spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' });
    process.exit(r.status ?? 1);
  }
} else {
  console.error('usage: node scripts/build-stamp.mjs record|ensure');
  process.exit(2);
}
