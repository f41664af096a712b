// Restoring a snapshot archive: prove it intact and safe, decide what to add, then let root's tar
// add it. Additive: a top-level store item that already exists is excluded as a whole (a runner
// image or installer put it there, and store items are immutable), existing files are never
// replaced (--skip-old-files), existing dirs keep their owner and mode (--skip-old-files leaves
// them alone). Only dot-named top-level dirs such as `.links` (Guix/Nix dedup hard links) are
// extracted into when they exist, because new items' hard links point at their new entries.
import crypto from 'node:crypto';
import fs, { createReadStream } from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { ArchiveRecord, FileRecord } from './manifest.js';
import { type ArchiveSummary, type MemberRules, UnsafeArchiveError, validateMembers } from './members.js';
import { HashTap, runPipeline } from './pipeline.js';
import { run } from '../exec.js';
import type { DirTime } from './listing.js';

export class IntegrityError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'IntegrityError';
  }
}

export async function sha256File(file: string): Promise<string> {
  const h = crypto.createHash('sha256');
  await pipeline(createReadStream(file), h);
  return h.digest('hex');
}

/** Throws IntegrityError when `got` is not the sha256 recorded at save time. */
export function checkDigest(got: string, rec: FileRecord): void {
  if (got !== rec.sha256) throw new IntegrityError(`${rec.file}: sha256 ${got} differs from ${rec.sha256} recorded at save time (corrupt or truncated download)`);
}

/** Checks a downloaded file against the checksum recorded at save time. */
export async function verifyFile(file: string, rec: FileRecord): Promise<void> {
  checkDigest(await sha256File(file), rec);
}

/**
 * One pass over the archive: hash the compressed bytes and validate every member of the
 * decompressed stream. Nothing is written anywhere. A corrupt download usually breaks zstd or
 * the tar parser first; the checksum then tells the reader that it was corruption, not an attack.
 */
export async function verifyArchive(file: string, rec: ArchiveRecord, rules: MemberRules): Promise<ArchiveSummary> {
  const tap = new HashTap();
  let summary: ArchiveSummary | undefined;
  try {
    await runPipeline([{ cmd: 'zstd', args: ['-d', '-q', '-c'] }], {
      feed: (stdin) => pipeline(createReadStream(file), tap, stdin),
      consume: async (out) => {
        summary = await validateMembers(out, rules);
      }
    });
  } catch (e) {
    checkDigest(await sha256File(file), rec);
    throw e;
  }
  checkDigest(tap.digest(), rec);
  if (!summary) throw new Error('archive validation produced no result');
  return summary;
}

export interface ExtractPlan {
  /** Store paths (relative) given to tar as the only members to extract. */
  roots: string[];
  /** Existing top-level items (relative), excluded as a whole. */
  excluded: string[];
  /** Top-level items (absolute, e.g. /gnu/store/<item>) that do not exist yet: what this restore adds. */
  added: string[];
  /** Existing dot-dirs (relative) extracted into without replacing anything. */
  merged: string[];
  /** Files in merged dot-dirs (relative) whose size on disk differs from the snapshot's: left
   * half-written by an interrupted extract (or damaged), so removed and written afresh. */
  stale: string[];
}

type Lstat = (rel: string) => fs.Stats | undefined;

function diskProbe(root: string): Lstat {
  const cache = new Map<string, fs.Stats | undefined>();
  return (rel) => {
    if (!cache.has(rel)) cache.set(rel, fs.lstatSync(path.join(root, rel), { throwIfNoEntry: false }));
    return cache.get(rel);
  };
}

/** Every existing component from `from` down to `to` (relative paths) must be a real dir. */
function checkChain(probe: Lstat, from: string, to: string, why: string): void {
  if (to !== from && !to.startsWith(`${from}/`)) throw new Error(`checkChain: ${to} is not inside ${from}`);
  const parts = to.slice(from.length).split('/').filter((c) => c !== '');
  let cur = from;
  for (let i = 0; i <= parts.length; i++) {
    if (i > 0) cur = `${cur}/${parts[i - 1]}`;
    const st = probe(cur);
    if (!st) return; // the rest is created by the archive itself, whose symlinks were checked
    if (st.isSymbolicLink()) throw new UnsafeArchiveError(why, `would be written through /${cur}, a symlink on disk`);
    if (!st.isDirectory()) throw new UnsafeArchiveError(why, `needs /${cur} to be a directory, but it is not`);
  }
}

/**
 * Decides what to extract, and refuses when anything on disk could redirect a write: a store
 * path or one of its parents that is a symlink, a symlink inside an existing dot-dir or on the
 * way to an existing file that a hard link would point at.
 */
export function planExtraction(root: string, storePaths: readonly string[], summary: ArchiveSummary): ExtractPlan {
  const probe = diskProbe(root);
  for (const p of storePaths) {
    const rel = p.replace(/^\/+/, '');
    const first = rel.split('/')[0];
    checkChain(probe, first, rel, p);
  }
  const roots = summary.roots;
  const plan: ExtractPlan = { roots, excluded: [], added: [], merged: [], stale: [] };
  for (const top of [...summary.tops].sort()) {
    const st = probe(top);
    if (!st) plan.added.push(`/${top}`);
    else if (path.basename(top).startsWith('.') && st.isDirectory()) plan.merged.push(top);
    else plan.excluded.push(top);
  }
  const merged = new Set(plan.merged);
  const topOf = (rel: string): string => {
    const r = roots.find((x) => rel.startsWith(`${x}/`));
    if (!r) throw new UnsafeArchiveError(rel, 'lies outside the archive roots');
    return `${r}/${rel.slice(r.length + 1).split('/')[0]}`;
  };
  for (const dir of summary.dotParents) {
    const top = topOf(dir);
    if (merged.has(top)) checkChain(probe, top, dir, dir);
  }
  // --skip-old-files keeps an existing dedup entry, and the new items' hard links then point at
  // it: a truncated one would be registered as valid content. Those are written afresh; items on
  // disk that link to the old inode keep it.
  for (const [rel, size] of summary.dotFiles) {
    if (!merged.has(topOf(rel))) continue;
    const st = probe(rel);
    if (!st || (st.isFile() && st.size === size)) continue;
    if (st.isDirectory()) throw new UnsafeArchiveError(rel, 'is a directory on disk where the snapshot has a file');
    checkChain(probe, topOf(rel), path.dirname(rel), rel);
    plan.stale.push(rel);
  }
  for (const target of summary.linkTargets) {
    const top = topOf(target);
    // A hard link into an item this archive creates points at what the archive wrote there.
    // Into an existing item it points at the file on disk: the way there must be real dirs.
    if (target !== top && probe(top)) checkChain(probe, top, path.dirname(target), target);
  }
  return plan;
}

/**
 * Removes the stale dedup entries of every plan, before any archive is extracted (shards share
 * entries; one shard's removal must not race another's tar). Unlinked, never followed:
 * planExtraction checked that every dir on the way is a real one.
 */
export async function removeStale(root: string, plans: readonly ExtractPlan[]): Promise<number> {
  const stale = [...new Set(plans.flatMap((p) => p.stale))];
  for (let i = 0; i < stale.length; i += 500) await run('rm', ['-f', '--', ...stale.slice(i, i + 500).map((rel) => path.join(root, rel))], { privileged: true });
  return stale.length;
}

/**
 * root's `tar -x` arguments: owners and modes exactly as recorded (numeric ids), never replacing
 * an existing file or dir (--skip-old-files), skipping the literal names in `excludeFile`
 * (anchored at the archive root, each covering its subtree).
 */
export function tarExtractArgs(dir: string, excludeFile: string): string[] {
  return ['-x', '-f', '-', '-C', dir, '--numeric-owner', '--same-owner', '--preserve-permissions', '--skip-old-files', '--anchored', '--no-wildcards', `--exclude-from=${excludeFile}`];
}

/** `zstd -dc FILE | tar -x` as root into `root`, additive, restricted to plan.roots. */
export async function extractArchive(file: string, root: string, plan: ExtractPlan, scratchDir: string): Promise<void> {
  if (plan.roots.length === 0) return;
  const excludeFile = path.join(scratchDir, `exclude-${path.basename(file)}.txt`);
  fs.writeFileSync(excludeFile, plan.excluded.map((e) => `${e}\n`).join(''));
  try {
    await runPipeline([
      { cmd: 'zstd', args: ['-d', '-q', '-c', file] },
      // tar is told to extract nothing but plan.roots.
      { cmd: 'tar', args: [...tarExtractArgs(root, excludeFile), '--', ...plan.roots], privileged: true }
    ]);
  } finally {
    fs.rmSync(excludeFile, { force: true });
  }
}

/** Decompresses a verified DB copy into the scratch dir. */
export async function decompressTo(file: string, dest: string): Promise<void> {
  await runPipeline([{ cmd: 'zstd', args: ['-d', '-q', '-c', file] }], {
    consume: (out) => pipeline(out, fs.createWriteStream(dest, { flags: 'wx' }))
  });
}

/**
 * Puts back the recorded mtimes of dirs that several shards wrote into (the last tar to set
 * one is not the last to add an entry). Only dirs this restore created (`fresh`, taken before
 * extraction) and that are real dirs now: an existing dir keeps what it had, as with one archive.
 */
export async function restoreDirTimes(root: string, fresh: readonly DirTime[]): Promise<void> {
  for (const d of fresh) {
    const abs = path.join(root, d.path);
    const st = fs.lstatSync(abs, { throwIfNoEntry: false });
    if (!st?.isDirectory()) continue;
    await run('touch', ['-h', '-c', '-d', `@${d.mtime}`, '--', abs], { privileged: true });
  }
}
