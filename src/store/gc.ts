// Post, before the snapshot is made (`gc` input): collect the store's garbage through its own
// tool until the store is at or under the cap, so a snapshot (and the cache entry, which holds
// the store) stops growing with every job. The tool decides what is garbage: GC roots (profiles,
// `result` links, /nix/var/nix/gcroots, /var/guix/gcroots, the daemon's temp roots of builds in
// flight) are never touched by runbox itself.
//
// The size is the sum of the valid paths' narSize in the daemon's DB, not `du`: one read-only
// query instead of a walk of every file of a store that may hold millions, and the measure the
// tools' own GC counts in (Nix's --max-freed and Guix's --collect-garbage compare bytes of the
// files they delete) and the snapshot holds (the registrations of every valid path, their files
// once). It leaves out block rounding and the dedup of `.links`, so the store on disk is usually
// a little smaller than what is reported; invalid paths on disk, which no snapshot restores, are
// not counted either (and the GC removes them).
//
// Nix: `nix-store --gc --max-freed <bytes over the cap>` as root, which works on the store
// directly (as root it takes the GC lock itself and asks the daemon, if one runs, for its temp
// roots), so it needs no daemon. Guix: `guix gc --collect-garbage=<bytes>`, a client of
// guix-daemon, which must run: runbox stops the daemon only while a restore moves items in, under
// the host-wide restore lock, and that lock is held here too, so a GC never runs during a move
// (where it would delete the moved-in, not yet registered items as invalid paths).
import fs from 'node:fs';
import path from 'node:path';
import * as core from '@actions/core';
import { errorMessage } from '../common/errors.js';
import { run } from '../sys/exec.js';
import { formatBytes, formatSeconds, type StepReport } from '../action/job-summary.js';
import { withStoreRestoreLock } from '../lock/restore-lock.js';
import { realStoreDir } from './config.js';
import { PRESETS, type StoreKind } from './presets.js';
import { DB_FILE, queryLiveDb } from './db.js';

export interface GcOptions {
  kind: StoreKind;
  /** Where the store paths are, normally `/`. */
  root: string;
  capBytes: number;
  /** How long to wait for another restore into this store (lock-timeout). */
  lockTimeoutSec: number;
}

export interface GcResult {
  /** The size before and after (narSize of the valid paths). */
  before: number;
  after: number;
  /** Valid paths before and after. */
  pathsBefore: number;
  pathsAfter: number;
  /** Tool runs (0 when the store was under its cap already). */
  passes: number;
}

/** A GC that frees less than asked (hard-linked files count only once gone) gets a few more tries. */
const MAX_PASSES = 3;

/** An executable `name` on the runner's PATH, absolute, so that root (through sudo, whose PATH may differ) runs the same one. */
export function findTool(name: string, envPath = process.env.PATH ?? ''): string | undefined {
  for (const dir of envPath.split(':')) {
    if (!path.isAbsolute(dir)) continue;
    const p = path.join(dir, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      if (fs.statSync(p).isFile()) return p;
    } catch (e) {
      // Not there, or not ours to run: the next PATH entry may have it.
      if (!['ENOENT', 'EACCES', 'ENOTDIR'].includes((e as NodeJS.ErrnoException).code ?? '')) throw e;
    }
  }
  return undefined;
}

/** narSize of the valid paths directly in the store dir, and their count, from the live DB (db.ts's reader: creates no -wal/-shm). */
export async function storeSize(kind: StoreKind, root: string): Promise<{ bytes: number; paths: number } | undefined> {
  const preset = PRESETS[kind];
  // The store dir is a fixed preset path: no quoting of outside data into the SQL.
  const sql = `SELECT count(*) || ' ' || coalesce(sum(narSize), 0) FROM ValidPaths WHERE path LIKE '${preset.storeDir}/%'`;
  const out = await queryLiveDb(root, preset.dbDir, sql);
  if (out === undefined) return undefined;
  const m = /^(\d+) (\d+)$/.exec(out);
  if (!m) throw new Error(`the DB ${path.join(root, preset.dbDir, DB_FILE)} answered '${out.slice(0, 100)}' for the store's size`);
  return { paths: Number(m[1]), bytes: Number(m[2]) };
}

/** The tool's argv that frees at least `bytes`, or why there is none. */
function gcCommand(kind: StoreKind, root: string, bytes: number): { cmd: string; args: string[] } | string {
  if (kind === 'nix') {
    const tool = findTool('nix-store');
    if (!tool) return 'nix-store is not on the PATH';
    // A test root (RUNBOX_STORE_ROOT) is passed the way db.ts passes it to --register-validity.
    const store = root === '/' ? [] : /^\/[A-Za-z0-9/._-]+$/.test(root) ? ['--store', `local?root=${root}`] : undefined;
    if (!store) return `the store root ${root} cannot be passed to nix-store`;
    return { cmd: tool, args: [...store, '--gc', '--max-freed', String(bytes)] };
  }
  const tool = findTool('guix');
  if (!tool) return 'guix is not on the PATH';
  if (root !== '/') return `guix gc works on the daemon's store only, not on the store root ${root}`;
  return { cmd: tool, args: ['gc', `--collect-garbage=${bytes}`] };
}

/**
 * Collects garbage until the store is at or under the cap. Never throws: a GC that cannot run
 * is a warning, and the snapshot is saved as the store is. Resolves to undefined when nothing
 * was measured or run.
 */
export async function collectGarbage(o: GcOptions, report: StepReport): Promise<GcResult | undefined> {
  try {
    return await withStoreRestoreLock(
      realStoreDir(o.root, o.kind),
      async (busy) => {
        if (busy) {
          core.warning(`runbox store: no garbage collected before the save (gc: ${formatBytes(o.capBytes)}): ${busy}`);
          report.add('store gc', `not run: ${busy}`);
          return undefined;
        }
        return await collectLocked(o, report);
      },
      { timeoutSec: o.lockTimeoutSec }
    );
  } catch (e) {
    core.warning(`runbox store: the garbage collection before the save failed, the snapshot is saved as the store is: ${errorMessage(e)}`);
    report.add('store gc', `failed: ${errorMessage(e)}`);
    return undefined;
  }
}

async function collectLocked(o: GcOptions, report: StepReport): Promise<GcResult | undefined> {
  const cap = formatBytes(o.capBytes);
  const first = await storeSize(o.kind, o.root);
  if (!first) {
    report.add('store gc', `not run: no ${o.kind} DB at ${path.join(o.root, PRESETS[o.kind].dbDir)}, so nothing is registered to measure or collect`);
    return undefined;
  }
  const result: GcResult = { before: first.bytes, after: first.bytes, pathsBefore: first.paths, pathsAfter: first.paths, passes: 0 };
  const t0 = Date.now();
  let now = first;
  while (now.bytes > o.capBytes && result.passes < MAX_PASSES) {
    const c = gcCommand(o.kind, o.root, now.bytes - o.capBytes);
    if (typeof c === 'string') {
      core.warning(`runbox store: the store is ${formatBytes(now.bytes)}, over its gc cap ${cap}, but no garbage is collected: ${c}. The snapshot is saved as the store is`);
      report.add('store gc', `not run: ${c}; the store is ${formatBytes(now.bytes)} (cap ${cap})`);
      return undefined;
    }
    core.info(`the store is ${formatBytes(now.bytes)} in ${now.paths} valid paths, over its gc cap ${cap}: collecting ${now.bytes - o.capBytes} bytes`);
    await run(c.cmd, c.args, { privileged: true });
    result.passes++;
    const next = await storeSize(o.kind, o.root);
    if (!next) break;
    const progressed = next.bytes < now.bytes;
    now = next;
    // What is left is reachable from GC roots (or in use): another pass would find nothing.
    if (!progressed) break;
  }
  result.after = now.bytes;
  result.pathsAfter = now.paths;
  const freed = result.before - result.after;
  if (result.passes === 0) report.add('store gc', `nothing collected: the store is ${formatBytes(result.after)} (${result.pathsAfter} valid paths), within its cap ${cap}`);
  else
    report.add(
      'store gc',
      `freed ${formatBytes(freed)} (${result.pathsBefore - result.pathsAfter} paths) in ${formatSeconds(Date.now() - t0)}: the store is now ${formatBytes(result.after)} (${result.pathsAfter} valid paths, narSize), cap ${cap}`
    );
  if (result.after > o.capBytes)
    core.warning(
      `runbox store: after garbage collection the store is still ${formatBytes(result.after)}, over its gc cap ${cap}: the rest is reachable from GC roots (profiles, result links, gcroots) or in use. Raise 'gc', or remove roots`
    );
  return result;
}
