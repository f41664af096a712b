// After extraction: make the daemon's DB know the restored items, from the snapshot's checked
// registrations (registrations.ts), never from a DB file. A path is registered only when this
// restore added its top-level item and every path it references is valid already or registered
// in the same transaction: an item on disk without a usable registration stays unregistered
// (the daemon treats it as an invalid leftover), and a registered path never points at a missing
// reference. The SQL is built by runbox from validated values only and runs in one transaction
// on the live DB. When there is no live DB yet it is created the daemon's way: Nix's own
// `nix-store --register-validity` (which hashes the items itself), or daemon-schema.mjs for Guix
// (and for Nix when nix-store is not installed yet). Runs while the daemon is stopped.
import crypto from 'node:crypto';
import path from 'node:path';
import * as core from '@actions/core';
import { errorMessage } from '../common/errors.js';
import { CommandError, quote, run } from '../sys/exec.js';
import { escapedText } from '../common/untrusted-text.js';
import type { StoreKind } from './presets.js';
import { daemonSchema } from './daemon-schema.mjs';
import { queryLive, type Registration } from './registrations.js';

export interface RegisterOptions {
  kind: StoreKind;
  /** Where the store paths are (normally `/`). */
  root: string;
  /** The DB dir as configured (logical, e.g. /var/guix/db); the live DB is `<root><dbDir>/db.sqlite`. */
  dbDir: string;
  /** The store dir (logical), e.g. /gnu/store. */
  storeDir: string;
  /** Checked registrations; a later one for the same path wins (a delta's over its base's). */
  registrations: readonly Registration[];
  /** Top-level store items (absolute store paths, as in the DB) that this restore added. */
  added: ReadonlySet<string>;
  /** Runner-owned scratch dir. */
  scratchDir: string;
}

export interface RegisterResult {
  /** created: there was no live DB; refused: a journal lay next to a missing DB, nothing registered. */
  mode: 'created' | 'inserted' | 'refused';
  /** Paths newly registered. */
  registered: number;
  /** Registered paths already valid in the live DB. */
  alreadyValid: number;
  /** Registrations not used: their item was not added by this restore, or a reference is missing. */
  skipped: number;
  /**
   * Set when registering failed after the rows were committed (see RegistrationError): the
   * restored items are valid paths then, and stay. `error` says what failed; `paths` and `refs`
   * are what the DB counted after the COMMIT (of `registered` paths and `refs.sent` references
   * sent), when the run got that far.
   */
  afterCommit?: { error: string; paths?: number; refs: { held?: number; sent: number } };
}

/**
 * Whether the rows of a failed registration are in the DB, told by the failing run itself (a
 * second read of the DB after the failure may itself fail, a full disk having no room for the
 * -shm it needs, and would then have to guess):
 * - 'no': the run stopped before its COMMIT returned: sqlite3 -bail exits at the first error
 *   without committing, and closing its connection rolls the transaction back. Nothing of this
 *   restore is registered.
 * - 'yes': the COMMIT returned (its marker was printed, or sqlite3 exited 0), or nix-store had
 *   registered the paths before runbox's insert failed: they are valid paths.
 * - 'unknown': the process was killed by a signal, at no point of its choosing. A kill in the
 *   COMMIT (its fsync can take a while on a loaded disk), or after it before the marker reached
 *   the pipe, leaves the rows committed with no marker seen; and a killed `sudo` leaves sqlite3
 *   running on, to commit later. The caller keeps the items then (see restore.ts).
 */
export type Committed = 'no' | 'yes' | 'unknown';

export class RegistrationError extends Error {
  constructor(
    message: string,
    readonly committed: Committed,
    /** What the DB counted after the COMMIT, when the run got that far. */
    readonly counts: { paths?: number; refs?: number } = {}
  ) {
    super(message);
    this.name = 'RegistrationError';
  }
}

/** Printed by insertRows's script once its COMMIT has returned; `.print` cannot fail the way a statement can. */
const COMMITTED_MARKER = 'runbox:committed';

export const DB_FILE = 'db.sqlite';

/** The daemons' own schema, checked against their sources (see daemon-schema.mjs). */
const SCHEMA = (kind: StoreKind): string => daemonSchema(kind);

/**
 * The paths to register: added by this restore, not yet valid, and every reference valid or
 * itself accepted (dropped until nothing changes, so a chain with a missing end goes whole), and
 * no path in or above a reference cycle (self-references aside).
 */
export function acceptedPaths(registrations: ReadonlyMap<string, readonly string[]>, liveValid: ReadonlySet<string>, added: ReadonlySet<string>): Set<string> {
  const accepted = new Set<string>();
  for (const p of registrations.keys()) if (!liveValid.has(p) && added.has(p)) accepted.add(p);
  for (let changed = true; changed;) {
    changed = false;
    for (const p of accepted)
      if ((registrations.get(p) ?? []).some((r) => r !== p && !liveValid.has(r) && !accepted.has(r))) {
        accepted.delete(p);
        changed = true;
      }
  }
  // References between distinct paths must form no cycle: the daemons' own registerValidPaths
  // topo-sorts and refuses one ("cycle detected"), and their GC could never delete a path of it
  // (each is a live referrer of the next). A path in a cycle, or referencing one, is dropped:
  // only what a topological order reaches stays.
  // Kahn's algorithm, linear in the references (a snapshot may hold millions).
  const unmet = new Map<string, number>();
  const referrers = new Map<string, string[]>();
  const ready: string[] = [];
  for (const p of accepted) {
    let n = 0;
    for (const r of new Set(registrations.get(p) ?? []))
      if (r !== p && accepted.has(r)) {
        n++;
        const list = referrers.get(r);
        if (list) list.push(p);
        else referrers.set(r, [p]);
      }
    unmet.set(p, n);
    if (n === 0) ready.push(p);
  }
  const ordered = new Set<string>();
  for (let p = ready.pop(); p !== undefined; p = ready.pop()) {
    ordered.add(p);
    for (const q of referrers.get(p) ?? []) {
      const n = (unmet.get(q) ?? 0) - 1;
      unmet.set(q, n);
      if (n === 0) ready.push(q);
    }
  }
  return ordered;
}

function lit(s: string | number | null | undefined): string {
  if (s === null || s === undefined) return 'NULL';
  if (typeof s === 'number') {
    if (!Number.isSafeInteger(s)) throw new Error(`not an integer: ${s}`);
    return String(s);
  }
  return `'${s.replace(/'/g, "''")}'`;
}

function values(rows: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < rows.length; i += 500) out.push(rows.slice(i, i + 500).join(',\n'));
  return out;
}

async function exists(p: string): Promise<boolean> {
  // The DB dir may be unreadable to the runner user.
  return (await run('test', ['-e', p], { privileged: true, allowFailure: true })).code === 0;
}

/**
 * `test -e` of each path, one after another in the order given, in one process (a process start
 * costs a fork of this process, issue 13): the script is fixed, the paths are its arguments.
 */
async function existing(paths: readonly string[]): Promise<boolean[]> {
  const r = await run('sh', ['-c', 'for f do if test -e "$f"; then printf 1; else printf 0; fi; done', 'sh', ...paths], { privileged: true });
  if (!new RegExp(`^[01]{${paths.length}}$`).test(r.stdout)) throw new Error(`checking which of ${paths.join(', ')} exist printed '${escapedText(r.stdout, 80)}'`);
  return [...r.stdout].map((c) => c === '1');
}

/** Creates `<dbDir>/db.sqlite` from the embedded schema, as root, race-free: built under a temp name, then linked into place. */
async function createFromSchema(kind: StoreKind, dir: string, live: string): Promise<void> {
  const tmp = path.join(dir, `.${DB_FILE}.runbox-new-${process.pid}-${crypto.randomBytes(6).toString('hex')}`);
  const script = [
    'set -eu',
    'dir=$1 db=$2 tmp=$3',
    // Never follow a planted symlink for the DB dir.
    'if [ -L "$dir" ] || { [ -e "$dir" ] && [ ! -d "$dir" ]; }; then echo "$dir is not a directory" >&2; exit 3; fi',
    '[ -d "$dir" ] || install -d -m 0755 -o 0 -g 0 "$dir"',
    'umask 022',
    'sqlite3 -safe -bail "$tmp"',
    'chmod 0644 "$tmp"',
    // ln never replaces: a DB another restore (or the daemon) created meanwhile stays, and is the one used.
    'if ! ln "$tmp" "$db" 2>/dev/null && [ ! -e "$db" ]; then rm -f "$tmp"; echo "could not create $db" >&2; exit 4; fi',
    'rm -f "$tmp"'
  ].join('\n');
  await run('sh', ['-c', script, 'sh', dir, live, tmp], { privileged: true, input: SCHEMA(kind) });
}

async function hasNixStore(): Promise<boolean> {
  return (await run('sh', ['-c', 'command -v nix-store >/dev/null'], { privileged: true, allowFailure: true })).code === 0;
}

/** nix-store's own registration (it computes each item's hash and size, and reads .drv outputs itself). */
async function registerWithNix(root: string, regs: readonly Registration[]): Promise<void> {
  const store = root === '/' ? [] : /^\/[A-Za-z0-9/._-]+$/.test(root) ? ['--store', `local?root=${root}`] : undefined;
  if (!store) throw new Error(`the store root ${root} cannot be passed to nix-store`);
  const input = regs.map((r) => [r.path, r.deriver ?? '', String(r.references.length), ...r.references].join('\n')).join('\n') + '\n';
  await run('nix-store', [...store, '--register-validity'], { privileged: true, input });
}

/** The paths directly in `storeDir` that the live DB `live` holds as valid (read-only, while the daemon may run). */
async function validPaths(live: string, storeDir: string, scratch: string): Promise<Set<string>> {
  const storePrefix = `${storeDir}/`;
  return new Set((await queryLive<{ path: string }>(live, `SELECT path FROM ValidPaths WHERE substr(path, 1, ${storePrefix.length}) = ${lit(storePrefix)}`, scratch)).map((r) => r.path));
}

/**
 * How a reader opens the live DB `live` (restore's selection, gc's size) so that it leaves the DB
 * dir as it was. Read-only, yet SQLite makes the -wal and -shm files of a WAL DB on open when they
 * are missing (no daemon has it open), root-owned, since readers run as root: a restore that then
 * stops short, or a post that only measured, must not leave them. Without them there is nothing
 * in a WAL to miss, so the DB file alone is read as immutable, which creates nothing; with them
 * (a daemon has it open) a plain read-only open shares them.
 */
async function readTarget(live: string): Promise<string> {
  const walOpen = (await existing([`${live}-wal`, `${live}-shm`])).some((e) => e);
  return walOpen ? live : `file:${live.replace(/[%?#]/g, (c) => `%${c.charCodeAt(0).toString(16)}`)}?immutable=1`;
}

/**
 * What the live DB of `<root><dbDir>` holds as valid in `storeDir`: an empty set when there is no
 * DB yet. Read to decide which frames a partial restore needs; a failure is the caller's to
 * treat as "unknown" (then everything is fetched).
 */
export async function liveValidPaths(root: string, dbDir: string, storeDir: string, scratchDir: string): Promise<Set<string>> {
  return (await liveValidPathsIfAny(root, dbDir, storeDir, scratchDir)) ?? new Set();
}

/**
 * liveValidPaths, but undefined when there is no live DB: a store without one registers
 * nothing, which is not the same as a DB that does not register an item. `scratchName`: a file
 * name new in `scratchDir` (each read writes its own).
 */
export async function liveValidPathsIfAny(root: string, dbDir: string, storeDir: string, scratchDir: string, scratchName = 'live-valid-select.json'): Promise<Set<string> | undefined> {
  const live = path.join(root, dbDir, DB_FILE);
  if (!(await exists(live))) return undefined;
  return validPaths(await readTarget(live), storeDir, path.join(scratchDir, scratchName));
}

/**
 * A small answer (one line, buffered) from the live DB of `<root><dbDir>`, read as root the way
 * liveValidPaths reads it; undefined when there is no DB. `sql` must not hold outside data.
 */
export async function queryLiveDb(root: string, dbDir: string, sql: string): Promise<string | undefined> {
  const live = path.join(root, dbDir, DB_FILE);
  if (!(await exists(live))) return undefined;
  const r = await run('sqlite3', ['-safe', '-bail', '-readonly', '-cmd', '.timeout 60000', await readTarget(live), sql], { privileged: true });
  return r.stdout.trim();
}

export async function registerPaths(o: RegisterOptions): Promise<RegisterResult> {
  const dir = path.join(o.root, o.dbDir);
  const live = path.join(dir, DB_FILE);
  const regs = new Map<string, Registration>();
  for (const r of o.registrations) regs.set(r.path, r);

  let liveExists = await exists(live);
  if (!liveExists) {
    const suffixes = ['-wal', '-shm', '-journal'];
    // Looked at again, last: a DB created meanwhile (with its WAL) by a concurrent restore is a live DB.
    const found = await existing([...suffixes.map((s) => live + s), live]);
    const journals = suffixes.filter((_, i) => found[i]).map((s) => DB_FILE + s);
    liveExists = found[suffixes.length];
    if (!liveExists && journals.length > 0) {
      core.warning(`runbox store: ${dir} holds ${journals.join(', ')} but no ${DB_FILE}; no DB is created next to them, so the restored items stay unregistered (remove them once no daemon runs)`);
      return { mode: 'refused', registered: 0, alreadyValid: 0, skipped: regs.size };
    }
  }

  const liveValid = liveExists ? await validPaths(live, o.storeDir, path.join(o.scratchDir, 'live-valid.json')) : new Set<string>();
  const accepted = acceptedPaths(new Map([...regs].map(([p, r]) => [p, r.references])), liveValid, o.added);
  const alreadyValid = [...regs.keys()].filter((p) => liveValid.has(p)).length;
  const result = { registered: accepted.size, alreadyValid, skipped: regs.size - accepted.size - alreadyValid };
  if (accepted.size === 0) return { mode: 'inserted', ...result };
  const rows = [...accepted].map((p) => regs.get(p) as Registration);

  let mode: RegisterResult['mode'] = 'inserted';
  // nix-store commits the paths as valid itself: runbox's insert after it only adds what Nix
  // leaves out (signatures, content addresses), so its failure leaves them registered.
  let nixRegistered = false;
  if (!liveExists) {
    mode = 'created';
    if (o.kind === 'nix' && (await hasNixStore())) {
      try {
        await registerWithNix(o.root, rows);
      } catch (e) {
        // Nix registers the paths in one SQLite transaction, rolled back on its errors; killed, it may have committed.
        if (e instanceof CommandError && e.result.signal) throw new RegistrationError(e.message, 'unknown');
        throw e;
      }
      nixRegistered = true;
    } else await createFromSchema(o.kind, dir, live);
  }
  try {
    await insertRows(live, rows, o.scratchDir);
  } catch (e) {
    if (!nixRegistered && !(e instanceof RegistrationError && e.committed === 'yes')) throw e;
    const counts = e instanceof RegistrationError ? e.counts : {};
    const error = nixRegistered ? `nix-store registered the paths, then runbox's insert of their signatures failed: ${errorMessage(e)}` : errorMessage(e);
    return {
      mode,
      ...result,
      afterCommit: { error, ...(counts.paths !== undefined ? { paths: counts.paths } : {}), refs: { ...(counts.refs !== undefined ? { held: counts.refs } : {}), sent: wantRefs(rows) } }
    };
  }
  return { mode, ...result };
}

function wantRefs(rows: readonly Registration[]): number {
  return rows.reduce((n, x) => n + x.references.length, 0);
}

interface Column {
  name: string;
  notnull: number;
  dflt_value: string | null;
}

/** One transaction: the rows are idempotent (OR IGNORE by path), so a second restore of the same items is a no-op. */
async function insertRows(live: string, rows: readonly Registration[], scratchDir: string): Promise<void> {
  const cols = await queryLive<Column>(live, `SELECT name, "notnull", dflt_value FROM pragma_table_info('ValidPaths')`, path.join(scratchDir, 'live-columns.json'));
  const known = new Set(['id', 'path', 'hash', 'registrationTime', 'deriver', 'narSize', 'ultimate', 'sigs', 'ca']);
  const unknown = cols.filter((c) => !known.has(c.name) && c.notnull && c.dflt_value === null);
  if (cols.length === 0 || unknown.length > 0) throw new Error(`the live DB's ValidPaths has columns runbox cannot fill (${unknown.map((c) => c.name).join(', ') || 'none at all'})`);
  const nix = cols.some((c) => c.name === 'sigs') && cols.some((c) => c.name === 'ca');
  const base = ['path', 'hash', 'registrationTime', 'deriver', 'narSize'];
  const insertCols = (nix ? [...base, 'sigs', 'ca'] : base).map((c) => `"${c}"`).join(', ');
  const reg = values(rows.map((r) => `(${[lit(r.path), lit(r.hash), lit(r.registrationTime), lit(r.deriver), lit(r.narSize), lit(r.sigs), lit(r.ca)].join(', ')})`));
  const refs = values(rows.flatMap((r) => r.references.map((x) => `(${lit(r.path)}, ${lit(x)})`)));
  const outs = values(rows.flatMap((r) => r.outputs.map((d) => `(${lit(r.path)}, ${lit(d.id)}, ${lit(d.path)})`)));
  const script = [
    '.timeout 60000',
    'BEGIN IMMEDIATE;',
    // Temp tables live in the connection's temp schema: the live DB's schema never changes.
    'CREATE TEMP TABLE reg(path TEXT PRIMARY KEY, hash TEXT NOT NULL, registrationTime INTEGER NOT NULL, deriver TEXT, narSize INTEGER, sigs TEXT, ca TEXT);',
    ...reg.map((v) => `INSERT INTO temp.reg VALUES\n${v};`),
    'CREATE TEMP TABLE ref(referrer TEXT NOT NULL, reference TEXT NOT NULL, PRIMARY KEY (referrer, reference));',
    ...refs.map((v) => `INSERT INTO temp.ref VALUES\n${v};`),
    'CREATE TEMP TABLE out(drv TEXT NOT NULL, id TEXT NOT NULL, path TEXT NOT NULL, PRIMARY KEY (drv, id));',
    ...outs.map((v) => `INSERT INTO temp.out VALUES\n${v};`),
    `INSERT OR IGNORE INTO main.ValidPaths (${insertCols}) SELECT ${insertCols} FROM temp.reg;`,
    // A path nix-store registered just now has no signatures or content address yet.
    nix
      ? `UPDATE main.ValidPaths SET sigs = coalesce(sigs, (SELECT r.sigs FROM temp.reg r WHERE r.path = ValidPaths.path)),
           ca = coalesce(ca, (SELECT r.ca FROM temp.reg r WHERE r.path = ValidPaths.path))
         WHERE path IN (SELECT path FROM temp.reg);`
      : '',
    `INSERT OR IGNORE INTO main.Refs (referrer, reference)
       SELECT a.id, b.id FROM temp.ref r JOIN main.ValidPaths a ON a.path = r.referrer JOIN main.ValidPaths b ON b.path = r.reference;`,
    `INSERT OR IGNORE INTO main.DerivationOutputs (drv, id, path) SELECT v.id, o.id, o.path FROM temp.out o JOIN main.ValidPaths v ON v.path = o.drv;`,
    // Every reference must be valid when this commits (a CHECK failure aborts: -bail rolls back).
    'CREATE TEMP TABLE guard(ok INTEGER NOT NULL CHECK (ok = 1));',
    'INSERT INTO temp.guard SELECT NOT EXISTS (SELECT 1 FROM temp.ref r WHERE NOT EXISTS (SELECT 1 FROM main.ValidPaths v WHERE v.path = r.reference));',
    'COMMIT;',
    // Only reached once the COMMIT returned (-bail stops at the first error): from here on a
    // failure leaves the rows committed, and the caller must not take the items out.
    `.print ${COMMITTED_MARKER}`,
    // Counted again after the commit: what the DB now holds, not what was sent.
    'SELECT count(*) FROM main.ValidPaths WHERE path IN (SELECT path FROM temp.reg);',
    `SELECT count(*) FROM main.Refs x JOIN main.ValidPaths a ON a.id = x.referrer JOIN main.ValidPaths b ON b.id = x.reference
       JOIN temp.ref r ON r.referrer = a.path AND r.reference = b.path;`,
    ''
  ].join('\n');
  const args = ['-safe', '-bail', live];
  const r = await run('sqlite3', args, { privileged: true, input: script, allowFailure: true });
  const lines = r.stdout.split('\n');
  const marker = lines.indexOf(COMMITTED_MARKER);
  // Exit 0 under -bail: every statement ran, the COMMIT too.
  const committed: Committed = marker >= 0 || r.code === 0 ? 'yes' : r.signal ? 'unknown' : 'no';
  const [paths, refCount] = (marker >= 0 ? lines.slice(marker + 1) : [])
    .filter((l) => /^\d+$/.test(l))
    .slice(0, 2)
    .map(Number);
  const counts = { ...(paths !== undefined ? { paths } : {}), ...(refCount !== undefined ? { refs: refCount } : {}) };
  if (r.code !== 0) throw new RegistrationError(new CommandError(quote(['sqlite3', ...args]), r).message, committed, counts);
  const want = wantRefs(rows);
  if (paths !== rows.length || refCount !== want)
    throw new RegistrationError(
      `the DB registers ${paths ?? 'an unknown number'} of ${rows.length} restored paths and ${refCount ?? 'an unknown number'} of their ${want} references after the commit`,
      'yes',
      counts
    );
}
