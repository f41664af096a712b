// One-pass restore. Checking every member and then extracting (extract.ts) reads and
// decompresses each archive twice. Here root's tar extracts into a private dir beside the store
// while node checks the same decompressed stream, chunk by chunk, before passing it on to tar.
// Only when every archive passed, and the disk checks of planExtraction too, are the new items
// renamed into the store (with the daemon stopped). A refused archive leaves nothing in the
// store, and a hard kill leaves only the private dir, which the next restore on the host reaps.
//
// Why root's tar may write before the whole archive is known: the private dir is fresh and
// root-only (0700); GNU tar without -P keeps every write inside it (names with `..` skipped,
// leading `/` stripped, symlinks that point out created as placeholders until tar ends); a member
// that breaks a rule is refused before tar reads it (node writes a chunk to tar's stdin only after
// parsing every header in it); and archives extracted at once are fenced
// from each other member by member (ShardFence), so no tar writes through another's symlink.
//
// Dedup and additivity as when extracting into the store itself: the store's existing dot-dirs
// (`.links`) are hard-linked into the private dir first, so tar --skip-old-files keeps them and
// new items link to the inodes already on disk; items already in the store are excluded by
// name, so a store that holds most of a snapshot has little written.
import fs, { createReadStream } from 'node:fs';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { registerCleanup } from '../cleanup.js';
import { run } from '../exec.js';
import { removeTree } from '../fs-ops.js';
import { procStat } from '../lock/keeper-client.js';
import { checkDigest, sha256File, tarExtractArgs, type ExtractPlan } from './extract.js';
import type { ArchiveRecord } from './manifest.js';
import { type ArchiveSummary, type MemberRules, MemberValidator, TarParser } from './members.js';
import { HashTap, runPipeline } from './pipeline.js';

const PRIVATE_PREFIX = '.runbox-restore-';
/** `.runbox-restore-<pid>-<start time>`: the restore that owns it, checkable after a hard kill. */
const PRIVATE_NAME = /^\.runbox-restore-([1-9][0-9]*)-([0-9]+)$/;

const rel = (p: string): string => p.replace(/^\/+/, '');

export interface PrivatePlace {
  /** Where this restore's private dir goes: the store dir's parent, or its nearest existing
   * ancestor (nothing is created before the snapshot passed its checks). */
  parent: string;
  /** Every existing dir from the root to the store dir's parent: where a killed restore may have left one. */
  homes: string[];
}

/**
 * Where private dirs go: beside the first store path (the presets' store dir), so that renames
 * from there into the store stay on one filesystem. A string says why not (then restore checks,
 * then extracts): a dir on the way that is not a real dir, or a store dir that is a mount point.
 */
export function privatePlace(root: string, storePaths: readonly string[]): PrivatePlace | { why: string } {
  const store = path.join(root, rel(storePaths[0]));
  const homes = [root];
  let missing = false;
  for (const part of path.relative(root, path.dirname(store)).split('/').filter((c) => c !== '')) {
    const cur = path.join(homes[homes.length - 1], part);
    const st = fs.lstatSync(cur, { throwIfNoEntry: false });
    if (!st) {
      missing = true;
      break;
    }
    if (!st.isDirectory()) return { why: `${cur} is not a real directory` };
    homes.push(cur);
  }
  const parent = homes[homes.length - 1];
  const st = missing ? undefined : fs.lstatSync(store, { throwIfNoEntry: false });
  if (st && !st.isDirectory()) return { why: `${store} is not a real directory` };
  if (st && st.dev !== fs.statSync(parent).dev) return { why: `${store} is a mount point, so items cannot be renamed into it from ${parent}` };
  return { parent, homes };
}

/**
 * Removes the private dirs in `parent` whose restore is gone (hard-killed: its pid is not
 * running, or runs a later process). Only root-owned real dirs with our name; never followed.
 */
export async function reapPrivateDirs(parent: string): Promise<string[]> {
  let names: string[];
  try {
    names = fs.readdirSync(parent);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const reaped: string[] = [];
  for (const name of names) {
    const m = PRIVATE_NAME.exec(name);
    if (!m) continue;
    const dir = path.join(parent, name);
    const st = fs.lstatSync(dir, { throwIfNoEntry: false });
    if (!st?.isDirectory() || st.uid !== 0) continue;
    if (procStat(Number(m[1]))?.startTime === m[2]) continue;
    await removeTree(dir);
    reaped.push(dir);
  }
  return reaped;
}

/** Resolves when `w` can take more, or is closed (its reader is gone). */
function drainOrClose(w: Writable): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      w.off('drain', done);
      w.off('close', done);
      resolve();
    };
    w.on('drain', done);
    w.on('close', done);
  });
}

/** A private dir for one restore; close() removes it (also registered as a cleanup on cancel). */
export class PrivateRestore {
  /** Top-level entries (relative) that were in the store before extraction: never extracted, never moved. */
  private readonly existing = new Set<string>();
  private readonly excludeFile: string;
  private readonly unregister: () => void;
  private closed = false;
  private moved = false;
  /** The parent's mtime before the private dir was made in it (sec.nsec). */
  private readonly parentMtime: string;

  private constructor(
    readonly dir: string,
    private readonly root: string,
    private readonly storePaths: readonly string[],
    scratchDir: string
  ) {
    this.excludeFile = path.join(scratchDir, 'exclude-existing.txt');
    const ns = fs.statSync(path.dirname(dir), { bigint: true }).mtimeNs;
    this.parentMtime = `${ns / 1_000_000_000n}.${String(ns % 1_000_000_000n).padStart(9, '0')}`;
    this.unregister = registerCleanup(() => this.close());
  }

  /** Reaps dead restores' private dirs, makes ours, hard-links the existing dedup files into it. */
  static async open(root: string, storePaths: readonly string[], place: PrivatePlace, scratchDir: string): Promise<{ restore: PrivateRestore; reaped: string[] }> {
    const reaped: string[] = [];
    for (const home of place.homes) reaped.push(...(await reapPrivateDirs(home)));
    const self = procStat(process.pid)?.startTime;
    if (self === undefined) throw new Error('cannot read the start time of this process from /proc/self/stat');
    const dir = path.join(place.parent, `${PRIVATE_PREFIX}${process.pid}-${self}`);
    const restore = new PrivateRestore(dir, root, storePaths, scratchDir);
    try {
      await run('mkdir', ['-m', '0700', '--', dir], { privileged: true });
      await restore.prepare();
    } catch (e) {
      await restore.close();
      throw e;
    }
    return { restore, reaped };
  }

  private async prepare(): Promise<void> {
    const dotDirs: string[] = [];
    for (const sp of this.storePaths) {
      const r = rel(sp);
      const abs = path.join(this.root, r);
      if (!fs.lstatSync(abs, { throwIfNoEntry: false })?.isDirectory()) continue;
      for (const ent of fs.readdirSync(abs, { withFileTypes: true })) {
        const top = `${r}/${ent.name}`;
        if (ent.name.startsWith('.') && ent.isDirectory()) dotDirs.push(top);
        else this.existing.add(top);
      }
    }
    fs.writeFileSync(this.excludeFile, [...this.existing].map((e) => `${e}\n`).join(''));
    // The archives' tars run at once and each would make the store paths' parents (not members
    // of any archive) on its own: made here first, so they never race over the same mkdir.
    const parents = [...new Set(this.storePaths.map((sp) => path.dirname(rel(sp))).filter((d) => d !== '.'))];
    if (parents.length > 0) await run('mkdir', ['-p', '--', ...parents.map((d) => path.join(this.dir, d))], { privileged: true });
    // Regular files only, found without following anything: a symlink or dir inside a dot-dir
    // on disk must not reach the private dir, where tar would write through it.
    for (const top of dotDirs) {
      const copy = path.join(this.dir, top);
      await run('mkdir', ['-p', '--', copy], { privileged: true });
      await run('find', [path.join(this.root, top), '-mindepth', '1', '-maxdepth', '1', '-type', 'f', '-exec', 'ln', '-t', copy, '--', '{}', '+'], { privileged: true });
    }
  }

  /**
   * `zstd -dc FILE`, checked by node, into root's `tar -x` in the private dir. Resolves with the
   * archive's summary once both finished and the compressed bytes match the manifest's sha256.
   */
  async extract(file: string, rec: ArchiveRecord, rules: MemberRules): Promise<ArchiveSummary> {
    const tap = new HashTap();
    const validator = new MemberValidator(rules);
    const parser = new TarParser((m) => validator.check(m));
    let checkError: unknown;
    let tarIn: (stdin: Writable) => void = () => undefined;
    const tarStdin = new Promise<Writable>((resolve) => (tarIn = resolve));
    const [unpacked, extracted] = await Promise.allSettled([
      runPipeline([{ cmd: 'zstd', args: ['-d', '-q', '-c'] }], {
        feed: (stdin) => pipeline(createReadStream(file), tap, stdin),
        consume: async (out) => {
          const stdin = await tarStdin;
          let tarGone = false;
          stdin.once('close', () => (tarGone = true));
          try {
            for await (const chunk of out as AsyncIterable<Buffer>) {
              try {
                parser.write(chunk);
              } catch (e) {
                checkError = e;
                throw e;
              }
              // tar stops reading after the end-of-archive block (the padding after it was
              // checked to be zeros); before that, tar gone means tar failed: its exit says why.
              if (tarGone) {
                if (parser.ended) continue;
                throw new Error('tar stopped reading before the end of the archive');
              }
              if (!stdin.write(chunk)) await drainOrClose(stdin);
            }
            try {
              parser.end();
            } catch (e) {
              checkError = e;
              throw e;
            }
            stdin.end();
          } catch (e) {
            // tar must not wait for more: cut off, it exits with an error of its own.
            stdin.destroy();
            throw e;
          }
        }
      }),
      runPipeline([{ cmd: 'tar', args: tarExtractArgs(this.dir, this.excludeFile), privileged: true }], {
        feed: (stdin) => {
          // EPIPE when tar exits first; tar's exit status is what counts.
          stdin.on('error', () => undefined);
          tarIn(stdin);
          return new Promise<void>((resolve) => {
            stdin.once('finish', resolve);
            stdin.once('close', resolve);
          });
        }
      })
    ]);
    // A refused member is the cause of everything else failing; then tar's own error, then zstd's.
    const failure = checkError ?? (extracted.status === 'rejected' ? (extracted.reason as unknown) : undefined) ?? (unpacked.status === 'rejected' ? (unpacked.reason as unknown) : undefined);
    checkDigest(failure === undefined ? tap.digest() : await sha256File(file), rec);
    if (failure !== undefined) throw failure;
    return validator.finish();
  }

  /**
   * Renames what the plans add into the store: the new top-level items (a store path missing on
   * disk: the whole dir), and the new entries of existing dot-dirs. Never replaces anything. Returns the items added (absolute), what the DB merge may register.
   */
  async moveIn(plans: readonly ExtractPlan[]): Promise<string[]> {
    this.moved = true;
    const moved: string[] = [];
    const roots = new Set(plans.flatMap((p) => p.roots));
    const added = [...new Set(plans.flatMap((p) => p.added))].filter((t) => !this.existing.has(rel(t)));
    const merged = [...new Set(plans.flatMap((p) => p.merged))];
    for (const sp of this.storePaths) {
      const r = rel(sp);
      if (!roots.has(r)) continue;
      const dest = path.join(this.root, r);
      const tops = added.filter((t) => rel(t).startsWith(`${r}/`));
      if (!fs.lstatSync(dest, { throwIfNoEntry: false })) {
        await run('mkdir', ['-p', '--', path.dirname(dest)], { privileged: true });
        await run('mv', ['-T', '--', path.join(this.dir, r), dest], { privileged: true });
        moved.push(...tops);
        continue;
      }
      // Dedup entries first: should one fail, no item has reached the store. Only names the
      // store does not have are moved (not `mv -n`, whose exit status differs between coreutils
      // releases), so nothing on disk is ever replaced.
      for (const d of merged.filter((m) => m.startsWith(`${r}/`))) {
        const names = (await run('find', [path.join(this.dir, d), '-mindepth', '1', '-maxdepth', '1', '-printf', '%f\\0'], { privileged: true })).stdout.split('\0').filter((n) => n !== '');
        const onDisk = path.join(this.root, d);
        await this.moveAll(
          names.filter((n) => !fs.lstatSync(path.join(onDisk, n), { throwIfNoEntry: false })).map((n) => path.join(this.dir, d, n)),
          onDisk
        );
      }
      await this.moveAll(
        tops.filter((t) => !fs.lstatSync(path.join(this.root, rel(t)), { throwIfNoEntry: false })).map((t) => path.join(this.dir, rel(t))),
        dest
      );
      moved.push(...tops);
    }
    return moved;
  }

  /** `mv -t dest` as root, the sources listed in a NUL-separated file (any number of them). */
  private async moveAll(sources: readonly string[], dest: string): Promise<void> {
    if (sources.length === 0) return;
    const list = `${this.excludeFile}.move`;
    fs.writeFileSync(list, sources.map((p) => `${p}\0`).join(''));
    try {
      await run('xargs', ['-0', '-r', '-a', list, 'mv', '-t', dest, '--'], { privileged: true });
    } finally {
      fs.rmSync(list, { force: true });
    }
  }

  /** True once removed, by the restore or by a cleanup on cancel. */
  get isClosed(): boolean {
    return this.closed;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.unregister();
    fs.rmSync(this.excludeFile, { force: true });
    await removeTree(this.dir);
    // A snapshot that never reached the store leaves no trace, not even the parent's mtime.
    if (!this.moved) await run('touch', ['-h', '-c', '-d', `@${this.parentMtime}`, '--', path.dirname(this.dir)], { privileged: true });
  }
}
