// The one read of a store's live DB by runbox's readers (db.ts: restore's selection of what the
// store lacks, gc's size before a save), on a real SQLite DB in WAL mode as Nix and Guix keep
// it. Readers run as root, and a read-only open of a WAL DB creates root-owned -wal and -shm
// files when none are there: a read must leave the DB dir as it found it. With a daemon holding
// the DB open, the rows still in its WAL must be read too.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, expect, test } from '@jest/globals';
import { liveValidPaths } from '../src/store/db.js';
import { storeSize } from '../src/store/gc.js';
import { asRoot, describeWith, probe } from './helpers/prereq.js';
import { removeTempDirs, tempDir } from './fixtures/store.js';
import { killAndWait } from './helpers/processes.js';

const DB_DIR = '/nix/var/nix/db';
const children: ChildProcess[] = [];

afterEach(async () => {
  for (const c of children.splice(0)) await killAndWait(c);
});
afterAll(() => removeTempDirs());

function sqlite(db: string, sql: string): string {
  const r = spawnSync('sqlite3', ['-bail', db, sql], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`sqlite3 ${sql}: ${r.stderr}`);
  return r.stdout;
}

/** A Nix-layout root whose DB (WAL mode, closed cleanly: no -wal or -shm left) holds two valid paths and one outside the store dir. */
function walRoot(): { root: string; dbDir: string; db: string } {
  const root = tempDir('runbox-db-read-');
  const dbDir = path.join(root, DB_DIR);
  fs.mkdirSync(dbDir, { recursive: true });
  const db = path.join(dbDir, 'db.sqlite');
  sqlite(
    db,
    "PRAGMA journal_mode=WAL; CREATE TABLE ValidPaths (id integer primary key autoincrement not null, path text unique not null, narSize integer); INSERT INTO ValidPaths (path, narSize) VALUES ('/nix/store/aaaa-a', 100), ('/nix/store/bbbb-b', 23), ('/elsewhere/cccc-c', 5000);"
  );
  expect(sqlite(db, 'PRAGMA journal_mode;').trim()).toBe('wal');
  return { root, dbDir, db };
}

const sidecars = (dbDir: string): string[] => fs.readdirSync(dbDir).filter((n) => n !== 'db.sqlite');

describeWith([probe('sqlite3', 'sqlite3', ['-version']), asRoot()])('reading the live DB', () => {
  test("gc's size and restore's valid paths leave no -wal or -shm behind when no daemon has the DB open", async () => {
    const { root, dbDir } = walRoot();
    expect(sidecars(dbDir)).toEqual([]);
    expect(await storeSize('nix', root)).toEqual({ paths: 2, bytes: 123 });
    expect(sidecars(dbDir)).toEqual([]);
    const scratch = tempDir('runbox-db-read-scratch-');
    expect([...(await liveValidPaths(root, DB_DIR, '/nix/store', scratch))].sort()).toEqual(['/nix/store/aaaa-a', '/nix/store/bbbb-b']);
    expect(sidecars(dbDir)).toEqual([]);
  });

  test('with a daemon holding the DB open, rows still in its WAL are counted', async () => {
    const { root, dbDir, db } = walRoot();
    // A daemon's connection: it writes a row that stays in the WAL (no checkpoint until it closes).
    const daemon = spawn('sqlite3', ['-bail', db], { stdio: ['pipe', 'pipe', 'inherit'] });
    children.push(daemon);
    const written = new Promise<void>((resolve) => daemon.stdout.on('data', (d: Buffer) => d.toString().includes('written') && resolve()));
    daemon.stdin.write("INSERT INTO ValidPaths (path, narSize) VALUES ('/nix/store/dddd-d', 7);\nSELECT 'written';\n");
    await written;
    expect(sidecars(dbDir).sort()).toEqual(['db.sqlite-shm', 'db.sqlite-wal']);
    expect(await storeSize('nix', root)).toEqual({ paths: 3, bytes: 130 });
  });

  test('no DB: no size, and nothing is created', async () => {
    const root = tempDir('runbox-db-read-');
    expect(await storeSize('nix', root)).toBeUndefined();
    expect(fs.readdirSync(root)).toEqual([]);
  });
});
