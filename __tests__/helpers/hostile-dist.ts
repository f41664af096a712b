// The harness of the hostile-entry tests that drive the built dist/ (store-hostile-dist,
// store-attacker-dist): a store root that already holds items and a DB, a stand-in store daemon
// started and stopped by pid, entries forged with fixtures/store.ts forgeArchives (correct
// digests) or as raw blobs, and the assertions every case makes: nothing outside the store root
// changed, no existing item changed, the DB holds only validated rows (its schema unchanged),
// the daemon runs when main and post are done.
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, afterEach, beforeAll, expect } from '@jest/globals';
import { entryVersion, SNAPSHOT_DIR } from '../../src/store/cache-io.js';
import { clientFor, serviceFromEnv } from '../../src/store/cache-service/index.js';
import { entryRange, planEntry } from '../../src/store/entry/writer.js';
import type { FakeJob, StepResult } from './action-runner.js';
import { contentManifest, describeStep, NixDaemon, stagingLeft, storeJob, type StoreJobOptions } from './store-e2e.js';
import { publishEntry, startCacheServerProcess, useCacheService, type CacheServer } from '../fixtures/cache.js';
import { keepProcessEnv } from '../fixtures/process-env.js';
import { buildGuixLayout, DB_CONTENTS_QUERIES, forgeArchives, itemName, removeTempDirs, sqlQueries, tempDir, type ForgedArchives } from '../fixtures/store.js';
import type { TarEntry } from './store-tar.js';

export const S = '/gnu/store';
export const DB = 'var/guix/db/db.sqlite';
export const HASH = `sha256:${'0'.repeat(64)}`;
const STORE_PATHS = ['/gnu/store', '/var/guix/db'];

export interface Registration {
  path: string;
  hash: string;
  registrationTime: number;
  narSize: number;
  deriver: string | null;
  references: string[];
  outputs: Array<{ id: string; path: string }>;
}
export const reg = (rel: string, extra: Partial<Registration> = {}): Registration => ({
  path: `/${rel}`,
  hash: HASH,
  registrationTime: 1,
  narSize: 8,
  deriver: null,
  references: [],
  outputs: [],
  ...extra
});
export const regDoc = (paths: unknown[]): unknown => ({ format: 'runbox-registrations', version: 1, storeDir: S, paths });

export const dir = (name: string): TarEntry => ({ name: `${name}/`, type: '5', mode: 0o555 });
export const file = (name: string, data: string | Buffer = 'x\n'): TarEntry => ({ name, type: '0', mode: 0o444, data });
export const link = (name: string, target: string): TarEntry => ({ name, type: '1', linkname: target });

export interface Host {
  root: string;
  /** Outside the store root: must stay empty. */
  outside: string;
  daemon: NixDaemon;
  /** contentManifest of the root before main, and of each existing item. */
  before: string[];
  items: Record<string, string>;
  itemsBefore: Record<string, string[]>;
  dbBefore?: DbState;
}

export interface DbState {
  rows: string[];
  refs: string[];
  outputs: string[];
  schema: string[];
}

const DB_STATE_QUERIES: Record<keyof DbState, string> = {
  rows: "SELECT path || ' ' || hash || ' ' || registrationTime || ' ' || coalesce(deriver, '-') || ' ' || coalesce(narSize, '-') FROM ValidPaths ORDER BY path",
  refs: DB_CONTENTS_QUERIES.refs,
  outputs: DB_CONTENTS_QUERIES.outputs,
  schema: "SELECT type || ' ' || name || ' ' || coalesce(sql, '') FROM sqlite_master ORDER BY name"
};

/** The DB's rows, references, outputs and schema, read by one sqlite3 (each case reads it twice). */
export function dbState(root: string): DbState | undefined {
  const db = path.join(root, DB);
  if (!fs.existsSync(db)) return undefined;
  const q = DB_STATE_QUERIES;
  const [rows, refs, outputs, schema] = sqlQueries(db, [q.rows, q.refs, q.outputs, q.schema]);
  return { rows, refs, outputs, schema };
}

/** The lines of a contentManifest of the root that describe the store item `abs` (files, dirs, symlinks, contents). */
export function itemLines(manifest: readonly string[], abs: string): string[] {
  const rel = abs.slice(1);
  return manifest.filter((l) => l.startsWith(`${rel} `) || l.startsWith(`${rel}/`) || l.endsWith(` ./${rel}`) || l.includes(` ./${rel}/`));
}

/** The jobs, daemons and server of one test file; `prefix` names its temp dirs and items. */
export class HostileHarness {
  readonly jobs: FakeJob[] = [];
  readonly daemons: NixDaemon[] = [];
  url = '';
  /** The file's cache stand-in, once useStandIn's beforeAll ran. */
  server: CacheServer | undefined;

  constructor(
    readonly prefix: string,
    readonly tag: string
  ) {}

  /** `gnu/store/<hash>-<prefix>-<what>-<tag>`, relative, as in an archive. */
  item(what: string): string {
    return `${S.slice(1)}/${itemName(`${this.prefix}-${what}-${this.tag}`)}`;
  }

  /** A new item, whole: what every archive here carries besides its hostile part. */
  plain(what: string): TarEntry[] {
    return [dir(this.item(what)), file(`${this.item(what)}/f`, `${what}\n`)];
  }

  host(o: { fresh?: boolean; root?: string } = {}): Host {
    const root = o.root ?? tempDir(`runbox-${this.prefix}-root-`);
    const items = o.fresh ? {} : buildGuixLayout(root).items;
    const daemon = new NixDaemon(tempDir(`runbox-${this.prefix}-daemon-`), 'sleep 86400');
    this.daemons.push(daemon);
    daemon.launch();
    daemon.clearEvents();
    // Read first: sqlite3 opening a WAL-mode DB touches the DB dir's mtime.
    const dbBefore = dbState(root);
    const before = contentManifest(root);
    const itemsBefore = Object.fromEntries(Object.values(items).map((p) => [p, itemLines(before, p)]));
    return { root, outside: tempDir(`runbox-${this.prefix}-outside-`), daemon, before, items, itemsBefore, ...(dbBefore ? { dbBefore } : {}) };
  }

  /**
   * The hooks of a file (call it in its describe): one cache stand-in process for the file, the
   * worker's env pointed at it (and RUNNER_TEMP at a temp dir), the test's daemons killed after
   * each test; at the end the env put back, the server stopped, the jobs and temp dirs removed.
   */
  useStandIn(): void {
    const processEnv = keepProcessEnv();
    beforeAll(async () => {
      this.server = await startCacheServerProcess();
      useCacheService(this.server.url);
      this.url = this.server.url;
      process.env.RUNNER_TEMP = tempDir(`runbox-${this.prefix}-runner-temp-`);
    });
    afterEach(() => this.killDaemons());
    afterAll(async () => {
      processEnv.restore();
      await this.server?.stop();
      this.cleanupJobs();
      removeTempDirs();
    });
  }

  /** Kills the stand-in daemons of the test that just ended. */
  killDaemons(): void {
    for (const d of this.daemons.splice(0)) d.kill();
  }

  cleanupJobs(): void {
    for (const j of this.jobs.splice(0)) j.cleanup();
  }

  async publish(key: string, tars: Buffer[], f: ForgedArchives = {}): Promise<void> {
    const parent = tempDir(`runbox-${this.prefix}-entry-`);
    forgeArchives(path.join(parent, SNAPSHOT_DIR), tars, f);
    await publishEntry(parent, key);
  }

  /** main, then post, as the runner runs them; what holds whatever the entry was. */
  async runJob(h: Host, key: string, o: { job?: StoreJobOptions; inputs?: Record<string, string> } = {}): Promise<StepResult> {
    const job = storeJob(this.url, { storeRoot: h.root, ...o.job });
    this.jobs.push(job);
    const inputs = { store: 'guix', key, save: 'never', 'daemon-stop': h.daemon.stop, 'daemon-start': h.daemon.start, ...o.inputs };
    const main = await job.main(inputs);
    expect({ code: main.code, errors: main.errors }).toEqual({ code: 0, errors: [] });
    expect(h.daemon.alive()).toBe(true);
    expect(fs.readdirSync(h.outside)).toEqual([]);
    expect(stagingLeft(job)).toEqual([]);
    const now = contentManifest(h.root);
    // No private dir left anywhere on the way to the store.
    expect(now.filter((l) => l.includes('.runbox-restore-'))).toEqual([]);
    for (const [p, lines] of Object.entries(h.itemsBefore)) expect(itemLines(now, p)).toEqual(lines);
    const post = await job.post();
    expect({ code: post.code, errors: post.errors }).toEqual({ code: 0, errors: [] });
    expect(h.daemon.alive()).toBe(true);
    return main;
  }

  /** A miss with a warning naming the reason; the store root (DB included) exactly as before; the daemon never stopped. */
  async expectRefused(h: Host, key: string, reason: RegExp, o: { job?: StoreJobOptions; inputs?: Record<string, string>; refusal?: string } = {}): Promise<StepResult> {
    const main = await this.runJob(h, key, o);
    const refusal = main.warnings.find((w) => w.includes(o.refusal ?? `the snapshot ${key} was not restored`));
    expect(refusal ?? describeStep(main)).toMatch(reason);
    expect(main.outputs).toMatchObject({ 'cache-hit': 'false', 'cache-matched-key': '' });
    expect(contentManifest(h.root)).toEqual(h.before);
    expect(dbState(h.root)).toEqual(h.dbBefore);
    expect(h.daemon.events()).toEqual([]);
    return main;
  }

  /**
   * Restored: exactly `added` new items (relative) on top of what was there, nothing else of the
   * root changed but the store dir's own line and the DB's files; the DB keeps every row it had,
   * gains rows for exactly `registered` (relative) and keeps its schema; the daemon was stopped
   * once and started again.
   */
  async expectAdded(h: Host, key: string, added: string[], registered: string[], o: { job?: StoreJobOptions; inputs?: Record<string, string> } = {}): Promise<StepResult> {
    const main = await this.runJob(h, key, o);
    if (main.outputs['cache-hit'] !== 'true') throw new Error(`not restored:\n${describeStep(main)}`);
    expect(main.outputs).toMatchObject({ 'cache-hit': 'true', 'cache-matched-key': key });
    const storeItems = (root: string): string[] =>
      fs
        .readdirSync(path.join(root, S.slice(1)))
        .filter((n) => !n.startsWith('.'))
        .sort();
    const beforeItems = h.before.filter((l) => /^gnu\/store\/[^/ ]+ /.test(l)).map((l) => l.split(' ')[0].slice('gnu/store/'.length));
    expect(storeItems(h.root)).toEqual([...beforeItems.filter((n) => !n.startsWith('.')), ...added.map((a) => a.slice('gnu/store/'.length))].sort());
    const keep = (l: string): boolean =>
      !/^(gnu\/store|gnu|var\/guix\/db|var\/guix|var)? /.test(l) &&
      !l.startsWith('var/guix/db/') &&
      !l.includes('./var/guix/db/') &&
      !added.some((a) => l.startsWith(`${a} `) || l.startsWith(`${a}/`) || l.includes(` ./${a}`));
    expect(contentManifest(h.root).filter(keep)).toEqual(h.before.filter(keep));
    const after = dbState(h.root);
    const beforeRows = h.dbBefore?.rows ?? [];
    expect(after?.rows.filter((r) => !beforeRows.includes(r)).map((r) => r.split(' ')[0])).toEqual(registered.map((r) => `/${r}`).sort());
    for (const r of beforeRows) expect(after?.rows).toContain(r);
    if (h.dbBefore) expect(after?.schema).toEqual(h.dbBefore.schema);
    expect(h.daemon.events()).toEqual(['stop', 'start']);
    return main;
  }
}

/**
 * The bytes of a well-formed entry holding the forged snapshot (as runbox's own writer lays it
 * out), for tests that then break its outer format by hand.
 */
export async function entryBytes(tars: Buffer[], f: ForgedArchives = {}, signingKey?: Parameters<typeof planEntry>[1]): Promise<Buffer> {
  const snap = forgeArchives(path.join(tempDir('runbox-entry-bytes-'), SNAPSHOT_DIR), tars, f);
  const plan = await planEntry(snap, signingKey);
  const chunks: Buffer[] = [];
  for await (const c of entryRange(plan, 0, plan.size)) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/**
 * Publishes `bytes` as they are under `key` (the guix store's cache version), through runbox's
 * own cache client: the blob an attacker with a runtime token can upload, whatever its format.
 */
export async function publishBlob(key: string, bytes: Buffer): Promise<void> {
  const svc = serviceFromEnv();
  if (typeof svc === 'string') throw new Error(`no cache service: ${svc}`);
  const r = await clientFor(svc).save(key, entryVersion('guix', STORE_PATHS), bytes.length, (start, end) => Readable.from([bytes.subarray(start, end)]));
  if (!('id' in r)) throw new Error(`could not publish ${key}: ${r.refused}`);
}
