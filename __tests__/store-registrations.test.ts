// Registrations as data (issue 9, point 3), on the synthetic Guix layout with real sqlite3, tar
// and zstd: the snapshot carries the saved items' registrations as JSON, the restore validates
// every value, registers only items it added, in one transaction on the live DB, and never
// opens an SQLite file that came with a snapshot. Written as a cache writer would attack it.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, test } from '@jest/globals';
import { createSnapshot } from '../src/store/archive.js';
import type { DaemonControl } from '../src/store/config.js';
import { GUIX_DAEMON_STATEMENTS } from '../src/store/daemon-schema.mjs';
import { acceptedPaths, registerPaths, type RegisterResult } from '../src/store/db.js';
import { applySnapshot } from '../src/store/restore.js';
import { LIMITS, parseRegistrations, type Registration, type RegistrationSet } from '../src/store/registrations.js';
import { testCli } from './helpers/bundle.js';
import { asRoot, describeWith, probe } from './helpers/prereq.js';
import {
  buildGuixLayout,
  dbContents,
  flockHeld,
  GUIX_SCHEMA,
  itemName,
  itemsView,
  q,
  registerPaths as fixtureRegister,
  rejection,
  removeTempDirs,
  sh,
  sqlQuery,
  sqliteInput,
  tempDir,
  warningsOf
} from './fixtures/store.js';

const STORE_PATHS = ['/gnu/store', '/var/guix/db'];
const DB_DIR = '/var/guix/db';
const DB = 'var/guix/db/db.sqlite';
const S = '/gnu/store';
const HASH = `sha256:${'0'.repeat(64)}`;

function reg(p: string, extra: Partial<Registration> = {}): Registration {
  return { path: p, hash: HASH, registrationTime: 1, narSize: 100, deriver: null, references: [], outputs: [], ...extra };
}

/** The fields of a saved manifest.json that these tests read or forge. */
interface ManifestJson {
  version: number;
  registrations: { sha256: string; bytes: number; paths: number };
  dbs?: unknown[];
}

function doc(paths: unknown[]): string {
  return JSON.stringify({ format: 'runbox-registrations', version: 1, storeDir: S, paths });
}

describe('registrations: parsing', () => {
  const good = `${S}/${itemName('good-1.0')}`;

  test('a well-formed file parses, with Nix extras and derivation outputs', () => {
    const drv = `${S}/${itemName('good-1.0.drv')}`;
    const set = parseRegistrations(
      doc([reg(good, { deriver: drv, sigs: 'cache.example.org-1:AbC+/= k:x', ca: `fixed:r:sha256:${'1'.repeat(52)}`, ultimate: true }), reg(drv, { outputs: [{ id: 'out', path: good }] })]),
      S
    );
    expect(set.paths.map((p) => p.path)).toEqual([good, drv]);
    expect(set.paths[1].outputs).toEqual([{ id: 'out', path: good }]);
  });

  test.each([
    ['a path outside the store dir', reg(`/etc/${itemName('passwd')}`)],
    ['a path with .. in it', reg(`${S}/../etc/${itemName('x')}`)],
    ['a dot-name', reg(`${S}/.links`)],
    ['a hash part with e (not nix-base32)', reg(`${S}/${'e'.repeat(32)}-x`)],
    ['a name with a quote', reg(`${S}/${itemName("x')")}`)],
    ['a name with a semicolon', reg(`${S}/${itemName('x;DROP TABLE ValidPaths')}`)],
    ['a name with a newline', reg(`${S}/${itemName('x\n.shell touch /tmp/p')}`)],
    ['a name of 212 characters', reg(`${S}/${itemName('n'.repeat(212))}`)],
    ['a hash with SQL in it', reg(good, { hash: "sha256:'); DELETE FROM ValidPaths; --" })],
    ['a hash of the wrong length', reg(good, { hash: `sha256:${'0'.repeat(63)}` })],
    ['a time that is not an integer', reg(good, { registrationTime: 1.5 })],
    ['a size beyond 2^53', reg(good, { narSize: 2 ** 60 })],
    ['a deriver that is no .drv', reg(good, { deriver: good })],
    ['a reference outside the store', reg(good, { references: ['/etc/shadow'] })],
    ['an output id with a space', reg(`${S}/${itemName('a.drv')}`, { outputs: [{ id: 'o ut', path: good }] })],
    ['outputs on a non-drv', reg(good, { outputs: [{ id: 'out', path: good }] })],
    ['sigs with a quote', reg(good, { sigs: "k:a'b" })],
    ['an unknown field', { ...reg(good), trigger: 'x' }]
  ])('refused: %s', (_what, r) => {
    expect(() => parseRegistrations(doc([r]), S)).toThrow(/snapshot registrations: /);
  });

  test('a path listed twice, the wrong store dir, too many paths are refused', () => {
    expect(() => parseRegistrations(doc([reg(good), reg(good)]), S)).toThrow(/twice/);
    expect(() => parseRegistrations(doc([reg(good)]).replace(`"storeDir":"${S}"`, '"storeDir":"/nix/store"'), S)).toThrow(/store dir/);
    expect(() => parseRegistrations(JSON.stringify({ format: 'runbox-registrations', version: 1, storeDir: S, paths: new Array(LIMITS.paths + 1).fill(0) }), S)).toThrow(/more than/);
  });

  test('acceptedPaths: only added, not yet valid, with every reference valid or accepted', () => {
    const [a, b, c, d, e] = ['a', 'b', 'c', 'd', 'e'].map((n) => `${S}/${itemName(n)}`);
    const regs = new Map<string, string[]>([
      [a, [b]],
      [b, [b]], // self-reference
      [c, [d]], // d is neither valid nor restored
      [e, [c]], // a chain with a missing end goes whole
      [`${S}/${itemName('v')}`, []]
    ]);
    const added = new Set([a, b, c, e, `${S}/${itemName('v')}`]);
    expect([...acceptedPaths(regs, new Set([`${S}/${itemName('v')}`]), added)].sort()).toEqual([a, b].sort());
    expect([...acceptedPaths(regs, new Set([d]), added)].sort()).toEqual([a, b, c, e, `${S}/${itemName('v')}`].sort());
    expect([...acceptedPaths(regs, new Set(), new Set([a]))]).toEqual([]);
  });
});

function loggingDaemon(log: string): DaemonControl {
  return { kind: 'commands', stop: `echo stop >> ${q(log)}`, start: `echo start >> ${q(log)}` };
}

async function snapshot(root: string): Promise<string> {
  const staging = tempDir('runbox-reg-staging-');
  const snapshotDir = path.join(staging, 'runbox-snapshot');
  fs.mkdirSync(snapshotDir);
  fs.mkdirSync(path.join(staging, 'scratch'));
  await createSnapshot({ root, kind: 'guix', storePaths: STORE_PATHS, dbDir: DB_DIR, snapshotDir, scratchDir: path.join(staging, 'scratch'), shards: 1 });
  return snapshotDir;
}

function apply(root: string, snapshotDir: string, daemon: DaemonControl = { kind: 'none' }): ReturnType<typeof applySnapshot> {
  return applySnapshot({ root, kind: 'guix', storePaths: STORE_PATHS, dbDir: DB_DIR, daemon, snapshotDir, scratchDir: tempDir('runbox-reg-scratch-') });
}

/** A copy of a snapshot whose registrations file is replaced by `text` (manifest hashes fixed up, as a forger would). */
function forge(snap: string, text: string | ((d: { paths: Array<Record<string, unknown>> }) => unknown), paths?: number): string {
  const out = path.join(tempDir('runbox-reg-forged-'), 'runbox-snapshot');
  sh(`cp -a ${q(snap)} ${q(out)}`);
  const file = path.join(out, 'registrations.json.zst');
  const raw = path.join(path.dirname(out), 'r.json');
  const body = typeof text === 'string' ? text : JSON.stringify(text(JSON.parse(sh(`zstd -dc ${q(file)}`).stdout) as { paths: Array<Record<string, unknown>> }));
  fs.writeFileSync(raw, body);
  sh(`zstd -q -f -o ${q(file)} ${q(raw)} && rm ${q(raw)}`);
  const m = JSON.parse(fs.readFileSync(path.join(out, 'manifest.json'), 'utf8')) as ManifestJson;
  m.registrations.sha256 = sh(`sha256sum ${q(file)} | cut -d' ' -f1`).stdout.trim();
  m.registrations.bytes = fs.statSync(file).size;
  if (paths !== undefined) m.registrations.paths = paths;
  fs.writeFileSync(path.join(out, 'manifest.json'), JSON.stringify(m));
  return out;
}

/** A copy of a (forged) snapshot whose manifest gives the registrations' count as `paths`. */
function recount(snap: string, paths: number): string {
  const out = path.join(tempDir('runbox-reg-forged-'), 'runbox-snapshot');
  sh(`cp -a ${q(snap)} ${q(out)}`);
  const m = JSON.parse(fs.readFileSync(path.join(out, 'manifest.json'), 'utf8')) as ManifestJson;
  m.registrations.paths = paths;
  fs.writeFileSync(path.join(out, 'manifest.json'), JSON.stringify(m));
  return out;
}

function schema(db: string): string[] {
  return sqlQuery(db, "SELECT type || ' ' || name || ' ' || coalesce(sql, '') FROM sqlite_master ORDER BY name");
}

/** Every row of the DB: what an attacker may have slipped in shows here. */
function allRows(db: string): string[] {
  return sqlQuery(db, "SELECT 'V ' || path || ' ' || hash || ' ' || registrationTime || ' ' || coalesce(deriver, '-') || ' ' || coalesce(narSize, '-') FROM ValidPaths ORDER BY path");
}

describeWith([probe('GNU tar', 'tar'), probe('zstd', 'zstd'), probe('sqlite3', 'sqlite3', ['-version']), asRoot()])('registrations: restore on the synthetic Guix layout', () => {
  afterAll(removeTempDirs);

  test('save writes registrations (refs, deriver, outputs) and no DB file; the DB dir is not archived', async () => {
    const a = buildGuixLayout(tempDir());
    sqliteInput(path.join(a.root, DB), `UPDATE ValidPaths SET deriver = '${a.items.drv}' WHERE path = '${a.items.hello}';\n`);
    const snap = await snapshot(a.root);
    expect(fs.readdirSync(snap).sort()).toEqual(['manifest.json', 'registrations.json.zst', 'store.tar.zst']);
    expect(sh(`zstd -dc ${q(snap)}/store.tar.zst | tar -t`).stdout).not.toMatch(/var\/guix/);
    const m = JSON.parse(fs.readFileSync(path.join(snap, 'manifest.json'), 'utf8')) as ManifestJson;
    expect(m).toMatchObject({ version: 3, storePaths: STORE_PATHS, registrations: { file: 'registrations.json.zst', paths: 4 } });
    expect(m.dbs).toBeUndefined();
    const d = JSON.parse(sh(`zstd -dc ${q(snap)}/registrations.json.zst`).stdout) as RegistrationSet;
    const hello = d.paths.find((p: Registration) => p.path === a.items.hello);
    expect(hello).toMatchObject({ deriver: a.items.drv, references: [a.items.hello, a.items.lib].sort() });
    expect(d.paths.find((p: Registration) => p.path === a.items.drv)!.outputs).toEqual([{ id: 'out', path: a.items.hello }]);

    // Restored into an empty root: the DB is created from runbox's schema and holds the same rows.
    const b = tempDir();
    const r = await apply(b, snap);
    expect(r.db).toEqual({ mode: 'created', registered: 4, alreadyValid: 0, skipped: 0 });
    expect(dbContents(path.join(b, DB))).toEqual(dbContents(path.join(a.root, DB)));
    expect(allRows(path.join(b, DB))).toEqual(allRows(path.join(a.root, DB)));
    expect(fs.readdirSync(path.join(b, 'var/guix/db'))).toEqual(['db.sqlite']);
  });

  test('hostile values refuse the snapshot before the daemon is stopped; the live DB keeps its rows and schema', async () => {
    const a = buildGuixLayout(tempDir());
    const snap = await snapshot(a.root);
    const c = tempDir();
    fs.mkdirSync(path.join(c, 'var/guix/db'), { recursive: true });
    sqliteInput(path.join(c, DB), GUIX_SCHEMA);
    const other = `${S}/${itemName('other')}`;
    fixtureRegister(path.join(c, DB), [other]);
    const before = { schema: schema(path.join(c, DB)), rows: allRows(path.join(c, DB)) };
    const hostile: Array<[string, (p: Record<string, unknown>) => void]> = [
      ['outside the store', (p) => (p.path = `/etc/${itemName('x')}`)],
      ['a quote in the name', (p) => (p.path = `${S}/${itemName("x'")}`)],
      ['a semicolon in the name', (p) => (p.path = `${S}/${itemName('x;')}`)],
      ['a newline in the name', (p) => (p.path = `${S}/${itemName('x\n')}`)],
      ['SQL in the hash', (p) => (p.hash = "sha256:x'); DROP TABLE Refs; --")]
    ];
    for (const [what, edit] of hostile) {
      const log = path.join(tempDir(), 'daemon.log');
      const forged = forge(snap, (d) => {
        edit(d.paths[0]);
        return d;
      });
      expect(`${what}: ${await rejection(apply(c, forged, loggingDaemon(log)))}`).toMatch(/RegistrationsError: snapshot registrations: paths\[0\]/);
      expect(fs.existsSync(log)).toBe(false); // refused before the daemon was touched
      expect(fs.existsSync(path.join(c, a.items.hello))).toBe(false); // nothing moved into the store
    }
    expect({ schema: schema(path.join(c, DB)), rows: allRows(path.join(c, DB)) }).toEqual(before);
  });

  test('a reference neither valid nor restored leaves that item unregistered; a registration for an item not added is ignored', async () => {
    const a = buildGuixLayout(tempDir());
    const snap = await snapshot(a.root);
    const ghost = `${S}/${itemName('ghost')}`;
    const notAdded = `${S}/${itemName('not-in-the-archive')}`;
    const forged = forge(snap, (d) => {
      const lib = d.paths.find((p) => p.path === a.items.lib) as { references: string[] };
      lib.references = [ghost]; // lib -> ghost: lib, hello (-> lib) and profile (-> hello) stay out
      d.paths.push(reg(notAdded) as unknown as Record<string, unknown>);
      return d;
    });
    const c = tempDir();
    fs.mkdirSync(path.join(c, 'var/guix/db'), { recursive: true });
    sqliteInput(path.join(c, DB), GUIX_SCHEMA);
    const before = schema(path.join(c, DB));
    const r = await apply(c, forged);
    expect(r.db).toEqual({ mode: 'inserted', registered: 1, alreadyValid: 0, skipped: 4 });
    const db = dbContents(path.join(c, DB));
    expect(db.paths).toEqual([a.items.drv]);
    expect(db.refs).toEqual([]);
    expect(db.outputs).toEqual([`${a.items.drv} out ${a.items.hello}`]);
    expect(fs.existsSync(path.join(c, a.items.hello))).toBe(true); // on disk, unregistered
    expect(schema(path.join(c, DB))).toEqual(before);
  });

  test('1e6 registrations and a 90M-character value are refused by the size limits, before the daemon is stopped', async () => {
    const a = buildGuixLayout(tempDir());
    const snap = await snapshot(a.root);
    const c = tempDir();
    const many = Array.from({ length: 1_000_000 }, (_, i) => reg(`${S}/${itemName(`p${i}`)}`, { references: [a.items.hello, a.items.lib] }));
    const log = path.join(tempDir(), 'daemon.log');
    const forged = forge(snap, doc(many), 4);
    expect(await rejection(apply(c, forged, loggingDaemon(log)))).toMatch(/RegistrationsError: .*decompresses to more than/);
    // The same file, its manifest telling the truth about the count: it was serialised and
    // compressed again before (some 18 s on a loaded machine) into the same bytes.
    expect(await rejection(apply(c, recount(forged, 1_000_000), loggingDaemon(log)))).toMatch(/ManifestError: snapshot manifest: registrations.paths is not a count/);
    const big = forge(snap, (d) => {
      d.paths[0].hash = `sha256:${'a'.repeat(90_000_000)}`;
      return d;
    });
    expect(await rejection(apply(c, big, loggingDaemon(log)))).toMatch(/RegistrationsError: snapshot registrations: paths\[0\]\.hash "sha256:a{73}\.\.\." is not a sha256 hash/);
    expect(fs.existsSync(log)).toBe(false);
    expect(fs.existsSync(path.join(c, 'var/guix/db/db.sqlite'))).toBe(false);
    // CPU-bound (a million rows, 90 MB): 57 s alone on a loaded machine, 251 s beside other files.
  }, 600_000);

  test('a DB file that comes with a snapshot is never opened (a trigger/view calling edit() would create a canary)', async () => {
    const a = buildGuixLayout(tempDir());
    const snap = await snapshot(a.root);
    const canary = path.join(tempDir(), 'canary');
    // The old format's DB copy, hostile: ValidPaths is a view that runs a command when read.
    const evil = path.join(tempDir(), 'db.sqlite');
    sqliteInput(
      evil,
      `CREATE VIEW ValidPaths AS SELECT 1 AS id, edit('', 'touch ${canary};true') AS path;
       CREATE TABLE Refs (referrer integer, reference integer);
       CREATE TABLE t(x); CREATE TRIGGER tt AFTER INSERT ON t BEGIN SELECT edit('', 'touch ${canary};true'); END;\n`
    );
    const withDb = (version: number, live: boolean): { dir: string; root: string } => {
      const dir = path.join(tempDir('runbox-reg-evil-'), 'runbox-snapshot');
      sh(`cp -a ${q(snap)} ${q(dir)} && mkdir ${q(dir)}/db && zstd -q -c ${q(evil)} > ${q(dir)}/db/db.sqlite.zst`);
      const m = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as ManifestJson;
      const f = path.join(dir, 'db/db.sqlite.zst');
      m.version = version;
      m.dbs = [{ file: 'db/db.sqlite.zst', sha256: sh(`sha256sum ${q(f)} | cut -d' ' -f1`).stdout.trim(), bytes: fs.statSync(f).size, compression: 'zstd', path: `${DB_DIR}/db.sqlite` }];
      fs.writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(m));
      const root = tempDir();
      if (live) {
        fs.mkdirSync(path.join(root, 'var/guix/db'), { recursive: true });
        sqliteInput(path.join(root, DB), GUIX_SCHEMA);
      }
      return { dir, root };
    };
    for (const live of [false, true]) {
      // An old-format snapshot (version 1, DB copies) is a miss.
      const old = withDb(1, live);
      expect(await rejection(apply(old.root, old.dir))).toMatch(/ManifestError: snapshot manifest: format version 1 is not understood/);
      // A current one with the old field added: the field is not read, the registrations are.
      const cur = withDb(3, live);
      const r = await apply(cur.root, cur.dir);
      expect(r.db).toMatchObject({ registered: 4 });
      expect(schema(path.join(cur.root, DB)).join('\n')).not.toMatch(/edit|VIEW|tt/i);
      expect(fs.existsSync(path.join(cur.root, 'var/guix/db/db.sqlite-journal'))).toBe(false);
    }
    expect(fs.existsSync(canary)).toBe(false);
  });

  test('a journal or WAL next to a missing DB: nothing registered, no DB created next to it', async () => {
    const a = buildGuixLayout(tempDir());
    const snap = await snapshot(a.root);
    const c = tempDir();
    fs.mkdirSync(path.join(c, 'var/guix/db'), { recursive: true });
    fs.writeFileSync(path.join(c, 'var/guix/db/db.sqlite-wal'), 'stale');
    const r = await apply(c, snap);
    expect(r.db).toMatchObject({ mode: 'refused', registered: 0 });
    expect(fs.readdirSync(path.join(c, 'var/guix/db'))).toEqual(['db.sqlite-wal']);
  });

  test('three restores registering one snapshot at once on a host without a DB: every item registered once, one DB', async () => {
    const a = buildGuixLayout(tempDir());
    const snap = await snapshot(a.root);
    const regs = parseRegistrations(sh(`zstd -dc ${q(snap)}/registrations.json.zst`).stdout, S).paths;
    for (let round = 0; round < 5; round++) {
      const c = tempDir();
      // Each behaves as if it had added every item (the worst case: all race to create and insert).
      const opts = { kind: 'guix' as const, root: c, dbDir: DB_DIR, storeDir: S, registrations: regs, added: new Set(Object.values(a.items)) };
      const rs = await Promise.all([0, 1, 2].map(() => registerPaths({ ...opts, scratchDir: tempDir() })));
      expect(rs.every((r) => r.registered + r.alreadyValid === 4)).toBe(true);
      expect(dbContents(path.join(c, DB))).toEqual(dbContents(path.join(a.root, DB)));
      expect(sqlQuery(path.join(c, DB), 'SELECT count(*) FROM ValidPaths')).toEqual(['4']);
      expect(fs.readdirSync(path.join(c, 'var/guix/db'))).toEqual(['db.sqlite']);
    }
  });

  test('registering the same items twice is a no-op the second time (INSERT OR IGNORE by path)', async () => {
    const a = buildGuixLayout(tempDir());
    const snap = await snapshot(a.root);
    const regs = parseRegistrations(sh(`zstd -dc ${q(snap)}/registrations.json.zst`).stdout, S).paths;
    const c = tempDir();
    const added = new Set(Object.values(a.items));
    const opts = { kind: 'guix' as const, root: c, dbDir: DB_DIR, storeDir: S, registrations: regs, added, scratchDir: tempDir() };
    expect(await registerPaths(opts)).toEqual({ mode: 'created', registered: 4, alreadyValid: 0, skipped: 0 });
    const rows = allRows(path.join(c, DB));
    expect(await registerPaths({ ...opts, scratchDir: tempDir() })).toEqual({ mode: 'inserted', registered: 0, alreadyValid: 4, skipped: 0 });
    expect(allRows(path.join(c, DB))).toEqual(rows);
    expect(dbContents(path.join(c, DB))).toEqual(dbContents(path.join(a.root, DB)));
  });

  // A failed insert decides whether the items just renamed in stay, from the failing sqlite3 run
  // itself. The live DB here is the daemon's schema plus one trigger or view that makes the real
  // sqlite3 fail at the point each case needs: after the COMMIT (a count that cannot be read, or
  // differs), before it, or never (a kill while it waits for the DB's write lock).
  describe('the insert fails', () => {
    const present = (p: string): boolean => fs.lstatSync(p, { throwIfNoEntry: false }) !== undefined;
    /** A store root holding an empty live DB of the daemon's schema, then `extra` run on it. */
    const withLiveDb = (extra: string): string => {
      const c = tempDir();
      fs.mkdirSync(path.join(c, 'var/guix/db'), { recursive: true });
      sqliteInput(path.join(c, DB), GUIX_SCHEMA + extra);
      return c;
    };
    /** A process's argv; [] once it is gone. */
    const cmdline = (pid: string): string[] => {
      try {
        return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ESRCH') return [];
        throw e;
      }
    };
    const waitFor = async (what: string, cond: () => boolean): Promise<void> => {
      for (const end = Date.now() + 60_000; !cond(); await new Promise((r) => setTimeout(r, 20))) if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    };
    const refsOf = (snap: string): number => parseRegistrations(sh(`zstd -dc ${q(snap)}/registrations.json.zst`).stdout, S).paths.reduce((n, r) => n + r.references.length, 0);

    test.each([
      [
        'sqlite3 exits 1 after its COMMIT (the count of references reads a view that fails)',
        // Refs a view over the real rows: written through its trigger, failing only when read.
        `ALTER TABLE Refs RENAME TO RefRows;
         CREATE VIEW Refs(referrer, reference) AS SELECT referrer, reference FROM RefRows WHERE abs(-9223372036854775808);
         CREATE TRIGGER RefsInsert INSTEAD OF INSERT ON Refs BEGIN INSERT OR IGNORE INTO RefRows VALUES (new.referrer, new.reference); END;`,
        'RefRows',
        /`sqlite3 -safe -bail \S+` exited with 1: .*integer overflow\); .* The DB counted 4 of the 4 paths and an unknown number of the (\d+) references sent/
      ],
      [
        'the count after the COMMIT is short (a trigger drops each reference row as it goes in)',
        'CREATE TRIGGER DropRefs AFTER INSERT ON Refs BEGIN DELETE FROM Refs WHERE rowid = new.rowid; END;',
        'Refs',
        /the DB registers 4 of 4 restored paths and 0 of their (\d+) references after the commit\); .* The DB counted 4 of the 4 paths and 0 of the \d+ references sent/
      ]
    ])('%s: the rows are committed, so the items stay, with a warning saying what failed and what the DB counted', async (_what, extra, refTable, warning) => {
      const a = buildGuixLayout(tempDir());
      const snap = await snapshot(a.root);
      const items = Object.values(a.items);
      const c = withLiveDb(extra);
      const { value, warnings } = await warningsOf(() => apply(c, snap));
      // Before: the items were taken out again, the DB listing them valid, and the restore a miss.
      expect(typeof value === 'string' ? value : { added: value.added, afterCommit: value.db?.afterCommit !== undefined }).toEqual({ added: 4, afterCommit: true });
      expect(items.filter((i) => !present(path.join(c, i)))).toEqual([]);
      expect(sqlQuery(path.join(c, DB), 'SELECT path FROM ValidPaths ORDER BY path')).toEqual([...items].sort());
      const kept = warnings.find((w) => w.includes('failed after their rows were committed')) ?? warnings.join('\n');
      expect(kept).toMatch(warning);
      expect(Number(warning.exec(kept)?.[1])).toBe(refsOf(snap));
      // The refs went in through the real path; the view case keeps every one of them.
      expect(sqlQuery(path.join(c, DB), `SELECT count(*) FROM ${refTable}`)).toEqual([refTable === 'RefRows' ? String(refsOf(snap)) : '0']);
    });

    test('sqlite3 fails before its COMMIT (a trigger refuses the references): nothing registered, so the items are taken out again; a refusal', async () => {
      const a = buildGuixLayout(tempDir());
      const snap = await snapshot(a.root);
      const c = withLiveDb("CREATE TRIGGER RefuseRefs BEFORE INSERT ON Refs BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;");
      const { value, warnings } = await warningsOf(() => apply(c, snap));
      expect(value).toMatch(/^\w+Error: `sqlite3 -safe -bail \S+` exited with 1: .*refused by the test/);
      expect(sqlQuery(path.join(c, DB), 'SELECT count(*) FROM ValidPaths')).toEqual(['0']);
      expect(Object.values(a.items).filter((i) => present(path.join(c, i)))).toEqual([]);
      expect(warnings.filter((w) => /stay in the store/.test(w))).toEqual([]);
    });

    test('sqlite3 killed (SIGKILL while it waits for the write lock another connection holds): whether it committed cannot be told, so the items stay; a refusal', async () => {
      const a = buildGuixLayout(tempDir());
      const snap = await snapshot(a.root);
      const c = withLiveDb('');
      const live = path.join(c, DB);
      // Another writer holds the DB's write lock until its stdin closes; runbox's BEGIN IMMEDIATE then waits (.timeout 60000).
      const holder = spawn('sqlite3', [live], { stdio: ['pipe', 'ignore', 'inherit'] });
      try {
        holder.stdin.write('BEGIN IMMEDIATE;\n');
        await waitFor('the holder has the write lock', () => spawnSync('sqlite3', ['-cmd', '.timeout 0', live, 'BEGIN IMMEDIATE;']).status !== 0);
        /** runbox's insert: sqlite3 on the live DB, not -readonly. */
        const inserter = (): number | undefined => {
          for (const pid of fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
            const argv = cmdline(pid);
            if (argv.length >= 4 && path.basename(argv[0]) === 'sqlite3' && argv[1] === '-safe' && argv[2] === '-bail' && argv[3] === live) return Number(pid);
          }
          return undefined;
        };
        const applied = warningsOf(() => apply(c, snap));
        await waitFor('runbox inserting', () => inserter() !== undefined);
        process.kill(inserter() as number, 'SIGKILL');
        const { value, warnings } = await applied;
        expect(value).toMatch(/^\w+Error: `sqlite3 -safe -bail \S+` exited with 128: killed by SIGKILL/);
        expect(Object.values(a.items).filter((i) => !present(path.join(c, i)))).toEqual([]);
        expect(warnings.find((w) => w.includes('cut short')) ?? warnings.join('\n')).toMatch(/whether their rows were committed cannot be told: the 4 item\(s\) moved in stay in the store/);
      } finally {
        holder.stdin.end();
        await new Promise((resolve) => holder.once('close', resolve));
      }
      // Killed before its COMMIT here: nothing registered (the kept items are invalid leftovers).
      expect(sqlQuery(live, 'SELECT count(*) FROM ValidPaths')).toEqual(['0']);
    });

    test("the leftovers of an insert killed before its COMMIT: the next restore replaces them with the snapshot's copies under their daemon locks, held until its insert is done, and registers them", async () => {
      const a = buildGuixLayout(tempDir());
      const snap = await snapshot(a.root);
      const c = withLiveDb('');
      const live = path.join(c, DB);
      const { hello, lib, drv } = a.items;
      // What the killed restore left: every item on disk, none registered (see the test above);
      // one of them as a build cut short would leave it.
      fs.mkdirSync(path.join(c, 'gnu/store'), { recursive: true });
      for (const i of Object.values(a.items)) sh(`cp -a ${q(a.root + i)} ${q(c + i)}`);
      sh(`echo half written > ${q(c + hello)}/share/doc/hello/COPYING && rm ${q(c + lib)}/lib/libfoo.so.1`);
      const locks = [hello, lib, drv].map((i) => `${c}${i}.lock`);
      // The DB's write lock held by another connection: runbox's insert waits for it, with the items' locks held.
      const holder = spawn('sqlite3', [live], { stdio: ['pipe', 'ignore', 'inherit'] });
      let during: { locked: boolean[]; copying: string } | undefined;
      try {
        holder.stdin.write('BEGIN IMMEDIATE;\n');
        await waitFor('the holder has the write lock', () => spawnSync('sqlite3', ['-cmd', '.timeout 0', live, 'BEGIN IMMEDIATE;']).status !== 0);
        const inserting = (): boolean =>
          fs
            .readdirSync('/proc')
            .filter((n) => /^\d+$/.test(n))
            .some((pid) => {
              const argv = cmdline(pid);
              return argv.length >= 4 && path.basename(argv[0]) === 'sqlite3' && argv[1] === '-safe' && argv[2] === '-bail' && argv[3] === live;
            });
        let settled = false;
        const applied = warningsOf(() => apply(c, snap)).finally(() => (settled = true));
        // Settled without an insert: nothing was moved in (what main did), told by the checks below.
        await waitFor('runbox inserting', () => settled || inserting());
        during = { locked: locks.map((l) => fs.existsSync(l) && flockHeld(l)), copying: fs.readFileSync(path.join(c, hello, 'share/doc/hello/COPYING'), 'utf8') };
        holder.stdin.end();
        const { value, warnings } = await applied;
        expect(warnings).toEqual([]);
        expect(typeof value === 'string' ? value : { added: value.added, existing: value.existing, db: value.db }).toEqual({
          added: 4,
          existing: 0,
          db: { mode: 'inserted', registered: 4, alreadyValid: 0, skipped: 0 }
        });
      } finally {
        holder.stdin.end();
        await new Promise((resolve) => (holder.exitCode === null ? holder.once('close', resolve) : resolve(undefined)));
      }
      // While runbox inserted, the snapshot's copies were in and their locks held (by runbox: the test holds none).
      expect(during).toEqual({ locked: [true, true, true], copying: fs.readFileSync(path.join(a.root, hello, 'share/doc/hello/COPYING'), 'utf8') });
      // Before: nothing moved in, nothing registered; the half-written items stayed, invalid, for good.
      expect(dbContents(live)).toEqual(dbContents(path.join(a.root, DB)));
      expect(itemsView(path.join(c, 'gnu/store'))).toEqual(itemsView(path.join(a.root, 'gnu/store'), true));
      // The lock files runbox made are gone (marked stale, as the daemons do), the leftovers with the private dir.
      expect(fs.readdirSync(path.join(c, 'gnu/store')).sort()).toEqual(
        Object.values(a.items)
          .map((i) => path.basename(i))
          .sort()
      );
      expect(fs.readdirSync(c).sort()).toEqual(['gnu', 'var']);
    });
  });

  test('a path registered valid is never replaced, whatever is on disk; one registered between the first look and the locks (the DB read again under them) neither', async () => {
    const a = buildGuixLayout(tempDir());
    const snap = await snapshot(a.root);
    const { hello, lib, drv, profile } = a.items;
    const c = tempDir();
    fs.mkdirSync(path.join(c, 'var/guix/db'), { recursive: true });
    sqliteInput(path.join(c, DB), GUIX_SCHEMA);
    fs.mkdirSync(path.join(c, 'gnu/store'), { recursive: true });
    for (const i of [hello, lib, drv]) sh(`cp -a ${q(path.join(a.root, i))} ${q(path.join(c, i))}`);
    // hello: registered, its copy on disk differs from the snapshot's: never touched.
    fixtureRegister(path.join(c, DB), [hello]);
    sh(`chmod u+w ${q(path.join(c, hello, 'bin'))} && printf 'local\n' > ${q(path.join(c, hello, 'bin/local'))}`);
    // lib: on disk, unregistered, not what the snapshot holds: replaced.
    sh(`chmod u+w ${q(path.join(c, lib, 'lib'))} && rm ${q(path.join(c, lib, 'lib/owned'))}`);
    // drv: unregistered when the restore first looks, registered by the time the daemon is
    // stopped (its stop command does it): the DB is read again under the locks, so it stays.
    fs.chmodSync(path.join(c, drv), 0o644);
    fs.appendFileSync(path.join(c, drv), '\nlocal');
    const mtimes = [hello, drv].map((i) => fs.lstatSync(path.join(c, i)).mtimeMs);
    const stop = `sqlite3 ${q(path.join(c, DB))} "INSERT INTO ValidPaths (path, hash, registrationTime) VALUES ('${drv}', '${HASH}', 1);"`;
    const before = { hello: sh(`cd ${q(path.join(c, hello))} && find . -printf '%P %y %m\\n' | sort`).stdout, drv: fs.readFileSync(path.join(c, drv), 'utf8') };
    const r = await apply(c, snap, { kind: 'commands', stop, start: 'true' });
    expect({ added: r.added, db: r.db }).toEqual({ added: 2, db: { mode: 'inserted', registered: 2, alreadyValid: 2, skipped: 0 } });
    expect(sh(`cd ${q(path.join(c, hello))} && find . -printf '%P %y %m\\n' | sort`).stdout).toBe(before.hello);
    expect(fs.readFileSync(path.join(c, drv), 'utf8')).toBe(before.drv);
    expect([hello, drv].map((i) => fs.lstatSync(path.join(c, i)).mtimeMs)).toEqual(mtimes);
    // lib and profile are the snapshot's now, and registered.
    const mine = (root: string): string[] => itemsView(path.join(root, 'gnu/store'), root === a.root).filter((l) => [lib, profile].some((i) => l.startsWith(path.basename(i))));
    expect(mine(c)).toEqual(mine(a.root));
    expect(fs.readFileSync(path.join(c, lib, 'lib/owned'), 'utf8')).toBe('owned\n');
    expect(dbContents(path.join(c, DB)).paths).toEqual([hello, lib, profile, drv].sort());
    expect(fs.readdirSync(path.join(c, 'gnu/store')).sort()).toEqual([hello, lib, profile, drv].map((i) => path.basename(i)).sort());
    expect(fs.readdirSync(path.join(c, 'gnu')).sort()).toEqual(['store']);
  });

  test('a leftover the snapshot has no registration for stays as it is (replaced, it would be as invalid as before)', async () => {
    const a = buildGuixLayout(tempDir());
    const { lib, drv } = a.items;
    // The snapshot registers everything but drv (its row dropped, digests fixed up).
    const snap = forge(await snapshot(a.root), (d) => ({ ...d, paths: d.paths.filter((r) => r.path !== drv) }), 3);
    const c = tempDir();
    fs.mkdirSync(path.join(c, 'var/guix/db'), { recursive: true });
    sqliteInput(path.join(c, DB), GUIX_SCHEMA);
    sh(`mkdir -p ${q(c)}/gnu/store && echo OLD-DRV > ${q(c + drv)} && mkdir ${q(c + lib)}`);
    const before = sh(`stat -c '%s %Y %a' ${q(c + drv)}; cat ${q(c + drv)}`).stdout;
    const r = await apply(c, snap);
    expect(sh(`stat -c '%s %Y %a' ${q(c + drv)}; cat ${q(c + drv)}`).stdout).toBe(before);
    // lib, registered in the snapshot, was replaced; the rest is new.
    expect(fs.readdirSync(path.join(c, lib, 'lib')).length).toBeGreaterThan(0);
    expect({ added: r.added, existing: r.existing, registered: dbContents(path.join(c, DB)).paths }).toEqual({
      added: 3,
      existing: 1,
      registered: Object.values(a.items)
        .filter((i) => i !== drv)
        .sort()
    });
  });

  test('Guix without a DB: the one runbox creates compiles every statement guix-daemon prepares when it opens its DB (else the daemon does not start)', async () => {
    const root = tempDir();
    const x = `${S}/${itemName('x-1.0')}`;
    const r = await registerPaths({ kind: 'guix', root, dbDir: DB_DIR, storeDir: S, registrations: [reg(x)], added: new Set([x]), scratchDir: tempDir() });
    expect(r).toMatchObject({ mode: 'created', registered: 1 });
    const db = path.join(root, DB);
    const failed = GUIX_DAEMON_STATEMENTS.filter((stmt) => sh(`sqlite3 -bail ${q(db)} ${q(`EXPLAIN ${stmt}`)} >/dev/null`, { allowFailure: true }).code !== 0);
    expect(failed).toEqual([]);
    expect(sqlQuery(db, "SELECT type || ' ' || name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name")).toEqual([
      'trigger DeleteSelfRefs',
      'table DerivationOutputs',
      'table FailedPaths',
      'index IndexDerivationOutputs',
      'index IndexReference',
      'index IndexReferrer',
      'table Refs',
      'table ValidPaths'
    ]);
  });

  test('Nix without nix-store on PATH: the DB is created from the embedded schema, and Nix 2.8 reads it (sigs and ca kept, ultimate not)', async () => {
    if (sh('command -v nix-store', { allowFailure: true }).code !== 0) throw new Error('nix-store (Debian nix-bin) is needed to read the created DB');
    const bin = tempDir('runbox-reg-bin-');
    for (const c of ['sh', 'test', 'install', 'sqlite3', 'chmod', 'ln', 'rm']) fs.symlinkSync(sh(`type -P ${c}`).stdout.trim(), path.join(bin, c));
    const N = '/nix/store';
    const [x, y] = ['x-1.0', 'y-1.0'].map((n) => `${N}/${itemName(n)}`);
    const regs: Registration[] = [{ ...reg(x, { references: [y], sigs: 'cache.example.org-1:c2ln', ca: `fixed:r:sha256:${'1'.repeat(52)}`, ultimate: true }) }, { ...reg(y) }];
    const root = tempDir();
    const saved = process.env.PATH;
    process.env.PATH = bin;
    let r;
    try {
      r = await registerPaths({ kind: 'nix', root, dbDir: '/nix/var/nix/db', storeDir: N, registrations: regs, added: new Set([x, y]), scratchDir: tempDir() });
    } finally {
      process.env.PATH = saved;
    }
    expect(r).toEqual({ mode: 'created', registered: 2, alreadyValid: 0, skipped: 0 });
    const db = path.join(root, 'nix/var/nix/db/db.sqlite');
    expect(sqlQuery(db, "SELECT path || ' ' || coalesce(ultimate, '-') || ' ' || coalesce(sigs, '-') || ' ' || coalesce(ca, '-') FROM ValidPaths ORDER BY path")).toEqual(
      [`${x} - cache.example.org-1:c2ln fixed:r:sha256:${'1'.repeat(52)}`, `${y} - - -`].sort()
    );
    expect(sh(`nix-store --store ${q(`local?root=${root}`)} --query --references ${q(x)}`).stdout.trim()).toBe(y);
  });

  test("Nix without a DB or sqlite3: nix-store registers the paths, runbox's insert of their signatures then fails; reported as committed (so the restore keeps the items), not thrown", () => {
    if (sh('command -v nix-store', { allowFailure: true }).code !== 0) throw new Error('nix-store (Debian nix-bin) is needed');
    for (const d of ['/nix/store', '/nix/var/nix']) if (!fs.statSync(d, { throwIfNoEntry: false })?.isDirectory()) throw new Error(`${d} (made by Debian nix-bin) is needed as a mount point`);
    // nix-store 2.8 hashes an item at its logical path even with --store local?root=...: it runs
    // on / here, in a mount namespace whose /nix/store and /nix/var/nix are temp dirs.
    const t = tempDir();
    const [store, state] = [path.join(t, 'store'), path.join(t, 'var')];
    fs.mkdirSync(store);
    fs.mkdirSync(state);
    const N = '/nix/store';
    const [x, y] = ['x-1.0', 'y-1.0'].map((n) => `${N}/${itemName(n)}`);
    for (const p of [x, y]) {
      fs.mkdirSync(path.join(store, path.basename(p)));
      fs.writeFileSync(path.join(store, path.basename(p), 'f'), p);
    }
    // No sqlite3: a Nix host need not have that CLI (nix-store is Nix's own, sqlite3 is not).
    const bin = tempDir('runbox-reg-bin-');
    for (const c of ['sh', 'test', 'nix-store']) fs.symlinkSync(sh(`type -P ${c}`).stdout.trim(), path.join(bin, c));
    const opts = {
      kind: 'nix',
      root: '/',
      dbDir: '/nix/var/nix/db',
      storeDir: N,
      registrations: [reg(x, { references: [y], sigs: 'cache.example.org-1:c2ln' }), reg(y)],
      added: [x, y],
      scratchDir: tempDir()
    };
    const r = spawnSync(
      'unshare',
      [
        '-m',
        '--propagation',
        'private',
        'sh',
        '-c',
        'mount --bind "$1" /nix/store && mount --bind "$2" /nix/var/nix && PATH="$3" exec "$4" "$5" "$6"',
        'sh',
        store,
        state,
        bin,
        process.execPath,
        testCli('register-paths'),
        JSON.stringify(opts)
      ],
      { encoding: 'utf8', timeout: 120_000 }
    );
    // Before: registerPaths threw, and the restore took out the two items nix-store had made valid.
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
    // The last line: core.debug writes its ::debug:: lines to stdout too.
    const result = JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as RegisterResult;
    expect(result).toMatchObject({ mode: 'created', registered: 2, alreadyValid: 0, skipped: 0, afterCommit: { refs: { sent: 1 } } });
    expect(result.afterCommit?.error).toMatch(/^nix-store registered the paths, then runbox's insert of their signatures failed: .*sqlite3.*ENOENT/);
    expect(sqlQuery(path.join(state, 'db/db.sqlite'), 'SELECT path FROM ValidPaths ORDER BY path')).toEqual([x, y].sort());
  });
});
