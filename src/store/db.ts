// After extraction: make the daemon's DB know the restored items, without forgetting any path
// that was valid before. The snapshot's DB is never copied over a live one; its rows are merged
// (ValidPaths by path with fresh ids, then Refs and DerivationOutputs remapped through the
// paths). A path is registered only when this restore added its top-level item and every
// path it references is (or becomes) valid: an existing but unregistered item on disk stays
// unregistered (the daemon rebuilds or deletes such leftovers), and a registered path never
// points at a missing reference. Runs while the daemon is stopped, in one transaction.
import { run } from '../exec.js';

export interface DbMergeOptions {
  /** The live DB on disk (root-joined), e.g. /var/guix/db/db.sqlite. */
  liveFile: string;
  /** The snapshot's DB copy, decompressed into the runner-owned scratch dir. */
  snapshotFile: string;
  /** Top-level store items (absolute store paths, as in the DB) that this restore added. */
  added: ReadonlySet<string>;
}

export interface DbMergeResult {
  mode: 'installed' | 'merged';
  /** Paths newly registered. */
  registered: number;
  /** Snapshot paths already valid in the live DB. */
  alreadyValid: number;
  /** Snapshot paths not registered: their item was not added, or a reference is missing. */
  skipped: number;
}

interface Column {
  name: string;
  notnull: number;
  dflt_value: string | null;
  pk: number;
}

/** sqlite3 -json query; an empty result prints nothing. */
async function query<T>(db: string, sql: string, privileged: boolean): Promise<T[]> {
  const r = await run('sqlite3', ['-bail', '-readonly', '-json', db, sql], { privileged });
  const out = r.stdout.trim();
  return out === '' ? [] : (JSON.parse(out) as T[]);
}

function lit(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

async function exists(p: string): Promise<boolean> {
  // The DB dir may be unreadable to the runner user.
  return (await run('test', ['-e', p], { privileged: true, allowFailure: true })).code === 0;
}

async function tables(db: string, privileged: boolean): Promise<Set<string>> {
  return new Set((await query<{ name: string }>(db, "SELECT name FROM sqlite_master WHERE type = 'table'", privileged)).map((r) => r.name));
}

async function columns(db: string, table: string, privileged: boolean): Promise<Column[]> {
  return query<Column>(db, `SELECT name, "notnull", dflt_value, pk FROM pragma_table_info(${lit(table)})`, privileged);
}

/** The snapshot paths to register: added by this restore, not yet valid, references closed. */
export function acceptedPaths(
  snapshotPaths: ReadonlyMap<number, string>,
  refs: ReadonlyArray<{ referrer: number; reference: number }>,
  liveValid: ReadonlySet<string>,
  added: ReadonlySet<string>
): Set<string> {
  const accepted = new Set<string>();
  for (const p of snapshotPaths.values()) if (!liveValid.has(p) && added.has(p)) accepted.add(p);
  const refsOf = new Map<string, string[]>();
  for (const r of refs) {
    const from = snapshotPaths.get(r.referrer);
    const to = snapshotPaths.get(r.reference);
    if (from === undefined) continue;
    // A reference to an id the snapshot does not have: treat as missing.
    const list = refsOf.get(from) ?? [];
    list.push(to ?? '\0missing');
    refsOf.set(from, list);
  }
  // Drop paths with a reference that is neither valid nor accepted, until nothing changes.
  for (let changed = true; changed; ) {
    changed = false;
    for (const p of accepted)
      if ((refsOf.get(p) ?? []).some((r) => r !== p && !liveValid.has(r) && !accepted.has(r))) {
        accepted.delete(p);
        changed = true;
      }
  }
  return accepted;
}

function acceptTable(paths: Iterable<string>): string {
  const rows = [...paths].map((p) => `(${lit(p)})`);
  let sql = 'CREATE TEMP TABLE accept(path TEXT PRIMARY KEY);\n';
  for (let i = 0; i < rows.length; i += 500) sql += `INSERT INTO temp.accept(path) VALUES ${rows.slice(i, i + 500).join(',')};\n`;
  return sql;
}

export async function mergeDb(opts: DbMergeOptions): Promise<DbMergeResult> {
  // Our own copy: make it a plain rollback-journal DB so every later open (read-only, or
  // ATTACHed by root) needs no -wal/-shm files next to it.
  await run('sqlite3', ['-bail', opts.snapshotFile, 'PRAGMA journal_mode = DELETE;']);
  const snapTables = await tables(opts.snapshotFile, false);
  for (const t of ['ValidPaths', 'Refs']) if (!snapTables.has(t)) throw new Error(`the snapshot DB has no ${t} table`);
  const snapPaths = new Map((await query<{ id: number; path: string }>(opts.snapshotFile, 'SELECT id, path FROM ValidPaths', false)).map((r) => [r.id, r.path]));
  const refs = await query<{ referrer: number; reference: number }>(opts.snapshotFile, 'SELECT referrer, reference FROM Refs', false);

  const liveExists = await exists(opts.liveFile);
  const liveValid = new Set(liveExists ? (await query<{ path: string }>(opts.liveFile, 'SELECT path FROM ValidPaths', true)).map((r) => r.path) : []);
  const accepted = acceptedPaths(snapPaths, refs, liveValid, opts.added);
  const alreadyValid = [...snapPaths.values()].filter((p) => liveValid.has(p)).length;
  const result = { registered: accepted.size, alreadyValid, skipped: snapPaths.size - accepted.size - alreadyValid };

  if (!liveExists) {
    // A journal without its DB would be replayed into the one we install.
    for (const s of ['-wal', '-shm', '-journal'])
      if (await exists(opts.liveFile + s)) throw new Error(`${opts.liveFile}${s} exists without ${opts.liveFile}; refusing to install a DB next to it`);
    await run('install', ['-D', '-m', '0644', '-T', opts.snapshotFile, opts.liveFile], { privileged: true });
    const rejected = [...snapPaths.values()].filter((p) => !accepted.has(p));
    if (rejected.length > 0) {
      const dropped = `(SELECT id FROM ValidPaths WHERE path NOT IN (SELECT path FROM temp.accept))`;
      const hasDrv = snapTables.has('DerivationOutputs');
      await run('sqlite3', ['-bail', opts.liveFile], {
        privileged: true,
        input: [
          '.timeout 60000',
          'BEGIN IMMEDIATE;',
          acceptTable(accepted),
          `DELETE FROM Refs WHERE referrer IN ${dropped} OR reference IN ${dropped};`,
          hasDrv ? `DELETE FROM DerivationOutputs WHERE drv IN ${dropped};` : '',
          'DELETE FROM ValidPaths WHERE path NOT IN (SELECT path FROM temp.accept);',
          'COMMIT;',
          ''
        ].join('\n')
      });
    }
    return { mode: 'installed', ...result };
  }

  if (accepted.size === 0) return { mode: 'merged', ...result };
  const liveTables = await tables(opts.liveFile, true);
  const liveCols = await columns(opts.liveFile, 'ValidPaths', true);
  const snapCols = new Set((await columns(opts.snapshotFile, 'ValidPaths', false)).map((c) => c.name));
  const shared = liveCols.filter((c) => c.name !== 'id' && snapCols.has(c.name)).map((c) => c.name);
  const lacking = liveCols.filter((c) => c.name !== 'id' && c.notnull && c.dflt_value === null && !snapCols.has(c.name));
  if (lacking.length > 0 || !shared.includes('path')) throw new Error(`the snapshot DB's ValidPaths lacks ${lacking.map((c) => c.name).join(', ') || 'path'}: its schema does not match the live DB`);
  const cols = shared.map((c) => `"${c}"`).join(', ');
  const drvOutputs = liveTables.has('DerivationOutputs') && snapTables.has('DerivationOutputs');
  const script = [
    '.timeout 60000',
    `ATTACH DATABASE ${lit(opts.snapshotFile)} AS snap;`,
    'BEGIN IMMEDIATE;',
    acceptTable(accepted),
    // Fresh ids in the live DB; the path is the key everything else is remapped through.
    `INSERT INTO main.ValidPaths (${cols}) SELECT ${cols} FROM snap.ValidPaths WHERE path IN (SELECT path FROM temp.accept) AND path NOT IN (SELECT path FROM main.ValidPaths);`,
    `INSERT OR IGNORE INTO main.Refs (referrer, reference)
       SELECT m1.id, m2.id FROM snap.Refs r
       JOIN snap.ValidPaths s1 ON s1.id = r.referrer JOIN snap.ValidPaths s2 ON s2.id = r.reference
       JOIN main.ValidPaths m1 ON m1.path = s1.path JOIN main.ValidPaths m2 ON m2.path = s2.path
       WHERE s1.path IN (SELECT path FROM temp.accept);`,
    drvOutputs
      ? `INSERT OR IGNORE INTO main.DerivationOutputs (drv, id, path)
       SELECT m.id, d.id, d.path FROM snap.DerivationOutputs d
       JOIN snap.ValidPaths s ON s.id = d.drv JOIN main.ValidPaths m ON m.path = s.path
       WHERE s.path IN (SELECT path FROM temp.accept);`
      : '',
    'COMMIT;',
    // Proof for the log: every accepted path is now valid.
    'SELECT count(*) FROM main.ValidPaths WHERE path IN (SELECT path FROM temp.accept);',
    ''
  ].join('\n');
  const r = await run('sqlite3', ['-bail', opts.liveFile], { privileged: true, input: script });
  const count = Number(r.stdout.trim().split('\n').pop());
  if (count !== accepted.size) throw new Error(`DB merge registered ${count} of ${accepted.size} paths`);
  return { mode: 'merged', ...result };
}
