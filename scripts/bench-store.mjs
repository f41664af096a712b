// The benchmark's synthetic store (scripts/bench.mjs): mkstore.sh's tree given a real Guix DB,
// a copy holding 90% of its items, the new items of a delta, and the check that a restore gave
// back the source's items in the canonical view with its registrations.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { daemonSchema } from '../src/store/daemon-schema.mjs';

export const STORE_PATHS = ['gnu/store', 'var/guix/db'];

export function sh(script, { quiet = false } = {}) {
  const r = spawnSync('bash', ['-euo', 'pipefail', '-c', script], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`bench: command failed (${r.status}): ${script}\n${r.stderr}`);
  if (!quiet && r.stderr.trim()) process.stderr.write(r.stderr);
  return r.stdout;
}

export const q = (s) => `'${String(s).replace(/'/g, `'\\''`)}'`;
export const wipe = (dir) => fs.rmSync(dir, { recursive: true, force: true });

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
 * real Guix DB: every item registered, item i at registration time i + 1 (as if the store grew one
 * item at a time), and item i referring to item i+1 unless i+1 is the first of the items
 * partialStore drops, so that dropping them leaves no dangling reference.
 */
export const droppedFrom = (count) => count - Math.ceil(count / 10);

export function realDb(src) {
  const db = path.join(src, 'var/guix/db/db.sqlite');
  wipe(db);
  const items = fs
    .readdirSync(path.join(src, 'gnu/store'))
    .filter((n) => !n.startsWith('.'))
    .sort();
  const rows = items.map((n, i) => validRow(n, i + 1));
  const refs = [];
  for (let i = 0; i + 1 < items.length; i++) {
    if (i + 1 === droppedFrom(items.length)) continue;
    refs.push(
      `INSERT INTO Refs (referrer, reference) SELECT x.id, y.id FROM ValidPaths x, ValidPaths y WHERE x.path = ${sqlStr(`/gnu/store/${items[i]}`)} AND y.path = ${sqlStr(`/gnu/store/${items[i + 1]}`)};`
    );
  }
  sqlite(db, `${GUIX_SCHEMA}\nBEGIN;\n${rows.join('\n')}\n${refs.join('\n')}\nCOMMIT;\n`);
  return items;
}

/** What a DB registers: its valid paths and its references as path pairs (ids and times aside). */
export function dbView(root) {
  const db = path.join(root, 'var/guix/db/db.sqlite');
  if (!fs.existsSync(db)) return `(no DB at ${db})`;
  return sqlite(
    db,
    `SELECT path FROM ValidPaths ORDER BY path;
     SELECT '->', x.path, y.path FROM Refs r JOIN ValidPaths x ON x.id = r.referrer JOIN ValidPaths y ON y.id = r.reference ORDER BY 2, 3;\n`
  );
}

export function storeFacts(src) {
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

/**
 * A store holding 90% of the items: the newest 10% (by registration time) dropped, as on a
 * self-hosted runner whose store lags the snapshot by the last builds; .links and DB pruned to match.
 */
export function partialStore(src, dest, items) {
  wipe(dest);
  fs.mkdirSync(dest, { recursive: true });
  sh(`cp -a ${q(src)}/. ${q(dest)}/`);
  const dropped = items.slice(droppedFrom(items.length));
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
 * The share of the items' data (each file once, `.links` aside) that the `dropped` items hold:
 * the newest 10% of the items by count may hold far more than 10% of the bytes.
 */
export function droppedShare(src, dropped) {
  const store = path.join(src, 'gnu/store');
  const all = Number(sh(`du -sb --exclude=.links ${q(store)} | cut -f1`).trim());
  const list = path.join(src, '..', 'dropped.list');
  fs.writeFileSync(list, dropped.map((n) => `${path.join(store, n)}\0`).join(''));
  const part = Number(sh(`du -sbc --files0-from=${q(list)} | tail -1 | cut -f1`).trim());
  fs.rmSync(list);
  return all > 0 ? part / all : 0;
}

/**
 * The job between two snapshots: about 2% new store items (copies of existing ones under new
 * names, registered in the DB), the case a delta save is for. Returns how many.
 */
export function addNewItems(root, items, fraction = 0.02) {
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
export function itemsView(root, canonical = false) {
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
export function checkRestore(what, root, expected, dbExpected, only) {
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
