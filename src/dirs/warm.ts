// Warm per-run dirs. A fleet that moved to per-run target dirs lost incremental-compilation
// warmth; `warm` gives it back by starting each new `run` dir as a clone of the same dir of the
// newest FINISHED run of the same ref, never a live one: a live dir is still being written, and
// cloning it mid-build yields a torn tree that build tools may trust.
//
// "Finished" is the liveness lock (see liveness.ts): a run dir whose `<dir>.lock` is free. We
// keep that lock while copying, so a janitor cannot reap the source mid-copy, and release it
// after. The copy goes to a hidden sibling first and is renamed over the empty target only when
// complete, so a killed or failed copy never leaves a half-filled dir that a later run (or a
// later warm) would take as a real build state.
import * as core from '@actions/core';
import fs from 'node:fs';
import path from 'node:path';
import { errorMessage, InputError } from '../common/errors.js';
import { errnoOf, lstatOrUndefined } from '../sys/errno.js';
import { ensurePrivilege, isRoot, run, runElseRoot } from '../sys/exec.js';
import { chown, removeTree } from '../sys/privileged-fs.js';
import type { InputSource } from '../action/input-source.js';
import type { Layout } from './layout.js';
import { scanKeyDir } from './scan.js';
import { claimDeadDir } from '../lock/claim.js';
import type { Ids } from '../sys/users.js';
import { runnerIds } from '../sys/users.js';
import { assertOwnedSubdir } from '../sys/path-safety.js';
import type { ProvisionedDir } from '../action/step-state.js';
import { formatBytes, formatSeconds, type StepReport } from '../action/job-summary.js';

export type WarmMode = 'off' | 'reflink' | 'copy';

const MODES: readonly WarmMode[] = ['off', 'reflink', 'copy'];

export function parseWarm(src: InputSource): WarmMode {
  const raw = src.value('warm');
  if (raw === '') return 'off';
  const mode = MODES.find((m) => m === raw.toLowerCase());
  if (mode) return mode;
  throw new InputError(
    'warm',
    `'${raw}' is not a warm mode`,
    "Write 'off' (the default), 'reflink' (a copy-on-write clone of the newest finished run's dir, where the filesystem supports it) or 'copy' (a full copy)"
  );
}

// --- finding a source ---------------------------------------------------------------------------

export interface WarmSource {
  /** `<ref-dir>/run-…/<NAME>`: a real dir inside base-dir, checked under its run dir's lock. */
  path: string;
  /** Releases that lock: the janitor may have the dir again. Idempotent. */
  release(): void;
}

interface Candidate {
  runDir: string;
  lockPath: string;
  /** Its lock file's mtime (stamped when its keeper let go), or the run dir's mtime without one. */
  lastUse: Date;
}

/**
 * The newest finished run dir of this ref that has a real `<name>` dir, claimed: its lock is held
 * by us until the caller calls release(). Live runs, this run's own dir, symlinks and anything
 * resolving outside base-dir are never returned.
 */
export async function findWarmSource(layout: Layout, name: string, ownRunDir: string): Promise<WarmSource | undefined> {
  const refSt = visibleStat(layout.refDir);
  // lstat: a symlinked ref dir is not a directory here, so it is never followed.
  if (!refSt?.isDirectory()) return undefined;
  try {
    assertOwnedSubdir(layout.refDir, layout.baseDir);
  } catch (e) {
    core.warning(`runbox warm: not looking for warm sources in ${layout.refDir}: ${errorMessage(e)}`);
    return undefined;
  }
  for (const c of listCandidates(layout.refDir, name, ownRunDir)) {
    const source = await claim(c, name, layout.baseDir);
    if (source) return source;
  }
  return undefined;
}

/** Run dirs of the ref dir that may hold a `<name>` dir, newest first. A lock-free, read-only scan; claim() re-checks. */
function listCandidates(refDir: string, name: string, ownRunDir: string): Candidate[] {
  // The layout's one scanner: no symlinked run dir or lock file, nothing another runner user
  // made unreadable (not ours to copy from); a ref dir reaped away meanwhile has nothing to warm from.
  const scan = scanKeyDir(refDir);
  if (!scan) return [];
  for (const s of scan.skipped) core.debug(`runbox warm: not a warm source: ${s.path}: ${s.reason}`);
  const own = path.resolve(ownRunDir);
  const out: Candidate[] = [];
  for (const d of scan.dirs) {
    if (!d.isRun || d.path === own) continue;
    if (!visibleStat(path.join(d.path, name))?.isDirectory()) continue;
    // An empty one (a run that built nothing, or died before its own warm copy landed) is no
    // warmer than a cold start, and would hide an older full one.
    if (isEmptyDir(path.join(d.path, name))) continue;
    out.push({ runDir: d.path, lockPath: d.lockPath, lastUse: d.lockStat ? d.lockStat.mtime : d.dirStat.mtime });
  }
  return out.sort((a, b) => b.lastUse.getTime() - a.lastUse.getTime() || (a.runDir < b.runDir ? 1 : -1));
}

/** Claims the candidate (lock/claim.ts: its lock if free, its shape re-checked under it), then its `<name>` dir. */
async function claim(c: Candidate, name: string, baseDir: string): Promise<WarmSource | undefined> {
  const outcome = await claimDeadDir(c.runDir, c.lockPath, { withoutLockFile: 'create', hiddenIsMissing: true });
  if (!outcome.claimed) {
    core.debug(`runbox warm: ${c.runDir} is not a warm source: ${outcome.skipped}${outcome.inUse ? ' (in use by a live run)' : ''}`);
    return undefined;
  }
  const claimed = outcome.claimed;
  // A lock file our tryLock made is removed again, so that the janitor's idea of this dir's last
  // use stays what it was.
  const release = once(() => (claimed.createdLockFile ? void claimed.releaseAndRemoveLockFile() : claimed.release()));
  const source = path.join(c.runDir, name);
  try {
    // The scan was lock-free: the `<name>` dir may have been replaced by a symlink since.
    if (!visibleStat(source)?.isDirectory()) {
      release();
      return undefined;
    }
    assertOwnedSubdir(source, baseDir);
  } catch (e) {
    release();
    core.warning(`runbox warm: not using ${source}: ${errorMessage(e)}`);
    return undefined;
  }
  return { path: source, release };
}

// --- copying ----------------------------------------------------------------------------------

export interface WarmResult {
  /** What was done; 'off' when nothing was copied (the reason says why). */
  mode: WarmMode;
  source?: string;
  /** Apparent size of the regular files copied. */
  bytes: number;
  /** Non-directory entries copied (files, symlinks, ...). */
  files: number;
  /** Wall time of the whole warm step for this dir, scan and ownership fix included. */
  ms: number;
  /** Why `mode` is 'off'. */
  reason?: string;
}

/** cp's words for a filesystem (or a pair of them) that cannot share extents. */
const REFLINK_REFUSED = /Operation not supported|Invalid cross-device link|Inappropriate ioctl for device|Function not implemented|Invalid argument/;

/**
 * Fills the freshly created, empty `target` with a copy of `source`, owned by `owner`. A reflink
 * the filesystem refuses falls back to off (cold), not to a full copy: silently copying a 20 GB
 * target dir is a slower surprise than a cold build. Any other failure is a warning and cold too:
 * warmth is an optimisation, and the target is left empty either way.
 */
export async function warmDir(mode: WarmMode, source: string, target: string, owner: Ids): Promise<WarmResult> {
  const start = Date.now();
  const off = (reason: string): WarmResult => ({ mode: 'off', source, bytes: 0, files: 0, ms: Date.now() - start, reason });
  if (mode === 'off') return off('warm is off');
  const tSt = fs.lstatSync(target);
  if (!tSt.isDirectory()) throw new Error(`cannot warm ${target}: it is not a real directory`);
  if (fs.readdirSync(target).length > 0) throw new Error(`cannot warm ${target}: it is not empty (warm only fills a freshly created dir)`);

  // A name no dir NAME can have (they start with a letter or digit), beside the target so that
  // the final rename stays on one filesystem.
  const staging = path.join(path.dirname(target), `.warm-${path.basename(target)}`);
  let stagingMade = false;
  try {
    // Only a run dir's own warm step makes it, and a run dir is never reused.
    if (visibleStat(staging)) throw new Error(`${staging} exists already`);
    const stats = await scanTree(source);
    const runner = runnerIds();
    // A container's files (another uid, maybe unreadable 0700 dirs) can only be copied, with their
    // owners, as root; our own files need no privilege.
    const privileged = !isRoot() && (stats.unreadable || stats.foreignTo(runner) > 0);
    if (privileged) await ensurePrivilege(`copy ${source}, which holds files of other users, into ${target}`);

    if (mode === 'reflink') {
      const refused = await reflinkRefusal(stats.firstFile, source, staging, privileged);
      if (refused) {
        const why = `the filesystem cannot share extents between ${source} and ${target} (${refused})`;
        core.info(`runbox warm: reflink not possible: ${why}; starting ${target} cold (a full copy is 'warm: copy')`);
        return off(`reflink refused: ${refused}`);
      }
    }
    // 'copy' leaves cp its default, which since coreutils 9 is --reflink=auto: a clone where the
    // filesystem can, a full copy where it cannot. -x: a mount left inside the source is not ours.
    const args = ['-a', '-x', ...(mode === 'reflink' ? ['--reflink=always'] : []), '-T', '--', source, staging];
    stagingMade = true;
    await run('cp', args, { privileged });
    // cp -a as root keeps each file's owner, normally the previous run's owner, i.e. ours too;
    // without privilege everything lands as the runner's.
    const preserved = isRoot() || privileged;
    if (preserved ? stats.foreignTo(owner) > 0 : !sameIds(runner, owner)) await chown([staging], owner, { recursive: true });
    // Replaces the empty target in one step: nobody ever sees a half-warm dir at its path.
    fs.renameSync(staging, target);
    stagingMade = false;
    return { mode, source, bytes: stats.bytes, files: stats.files, ms: Date.now() - start };
  } catch (e) {
    core.warning(`runbox warm: could not ${mode} ${source} into ${target}, so it starts cold: ${errorMessage(e)}`);
    return off(`failed: ${errorMessage(e)}`);
  } finally {
    if (stagingMade) await removeStaging(staging);
  }
}

interface TreeStats {
  files: number;
  bytes: number;
  /** A regular file to probe reflink support with; undefined in a tree without one. */
  firstFile: string | undefined;
  /** The runner user could not read all of it. */
  unreadable: boolean;
  foreignTo(ids: Ids): number;
}

/** One walk for the report's size figures, the probe file and the ownership decisions. */
async function scanTree(dir: string): Promise<TreeStats> {
  // %y type, %U:%G owner, %s size, %P path relative to dir; NUL-separated since names may hold newlines.
  const args = [dir, '-xdev', '-printf', '%y %U:%G %s %P\\0'];
  // A run dir with many files lists past run()'s default bound; it is the job's own dir.
  const maxStdout = 400 * 1024 * 1024;
  const r = await runElseRoot('find', args, `read ${dir}, which holds files the runner user cannot read`, { maxStdout });
  const unreadable = r.escalated;
  const owners = new Map<string, number>();
  let files = 0;
  let bytes = 0;
  let firstFile: string | undefined;
  for (const rec of r.stdout.split('\0')) {
    if (rec === '') continue;
    const [type, ids, size] = rec.split(' ', 3);
    const rel = rec.slice(type.length + ids.length + size.length + 3);
    owners.set(ids, (owners.get(ids) ?? 0) + 1);
    if (type === 'd') continue;
    files++;
    if (type === 'f') {
      bytes += Number(size);
      firstFile ??= path.join(dir, rel);
    }
  }
  const foreignTo = (ids: Ids): number => {
    let n = 0;
    for (const [k, count] of owners) if (k !== `${ids.uid}:${ids.gid}`) n += count;
    return n;
  };
  return { files, bytes, firstFile, unreadable, foreignTo };
}

/**
 * Clones one file first: on a filesystem without reflink, `cp --reflink=always` would otherwise
 * create every dir and an empty file for every file of a large tree, failing each one. Returns
 * cp's reason when the filesystem refuses; throws on any other failure.
 */
async function reflinkRefusal(file: string | undefined, source: string, staging: string, privileged: boolean): Promise<string | undefined> {
  if (file === undefined) return undefined; // nothing to clone: a plain cp -a of dirs and links is just as fast
  const probe = `${staging}.probe`;
  const r = await run('cp', ['--reflink=always', '--', file, probe], { privileged, allowFailure: true });
  const made = visibleStat(probe) !== undefined;
  if (made) await removeTree(probe);
  if (r.code === 0) return undefined;
  const refused = REFLINK_REFUSED.exec(r.stderr);
  if (refused) return refused[0];
  throw new Error(`probing reflink with ${file} from ${source} failed: ${r.stderr.trim() || `exit ${r.code}`}`);
}

async function removeStaging(staging: string): Promise<void> {
  try {
    await removeTree(staging);
  } catch (e) {
    // The run dir (and with it this leftover) goes at post or with the janitor; the target itself is untouched.
    core.warning(`runbox warm: could not remove ${staging}: ${errorMessage(e)}`);
  }
}

// --- the step ---------------------------------------------------------------------------------

/**
 * Called by main after this run's dirs exist and before they are handed over: warms each `run`
 * dir (a `pr` dir is shared by the ref's runs and so already warm) from the newest finished run
 * of this ref. Reports each warmed dir's clone time against its size.
 */
export async function warmRunDirs(mode: WarmMode, layout: Layout, dirs: readonly ProvisionedDir[], owner: Ids, report: StepReport): Promise<WarmResult[]> {
  if (mode === 'off') return [];
  const out: WarmResult[] = [];
  for (const d of dirs) {
    if (d.scope !== 'run') continue;
    const source = await findWarmSource(layout, d.name, layout.runDir);
    if (!source) {
      core.info(`runbox warm: no finished run of this ref left a '${d.name}' dir; ${d.path} starts cold`);
      continue;
    }
    let r: WarmResult;
    try {
      r = await warmDir(mode, source.path, d.path, owner);
    } finally {
      source.release();
    }
    out.push(r);
    if (r.mode !== 'off') report.add(`warm ${d.name}`, `${r.mode} of ${source.path}: ${formatBytes(r.bytes)} in ${r.files} files in ${formatSeconds(r.ms)}`);
    else report.add(`warm ${d.name}`, `cold (${mode} from ${source.path}: ${r.reason ?? 'not done'})`);
  }
  return out;
}

// --- small helpers ----------------------------------------------------------------------------

function sameIds(a: Ids, b: Ids): boolean {
  return a.uid === b.uid && a.gid === b.gid;
}

function once(fn: () => void): () => void {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    fn();
  };
}

/** undefined when missing, or hidden from us (EACCES: another runner user's 0700 dir is no source for us). */
function visibleStat(p: string): fs.Stats | undefined {
  return lstatOrUndefined(p, { hiddenIsMissing: true });
}

function isEmptyDir(p: string): boolean {
  try {
    return fs.readdirSync(p).length === 0;
  } catch (e) {
    // A container's 0700 dir we cannot list as the runner user is not empty, and cp reads it as root.
    if (errnoOf(e) === 'EACCES') return false;
    if (errnoOf(e) === 'ENOENT' || errnoOf(e) === 'ENOTDIR') return true;
    throw e;
  }
}
