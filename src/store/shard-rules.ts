// A sharded snapshot is validated archive by archive (in parallel), but its archives are
// extracted at the same time into the same tree, so one archive's symlink could redirect
// another archive's write (shard A: `gnu/store/x -> /etc`, shard B: `gnu/store/x/passwd`).
// The per-archive validator cannot see that; these rules, checked over all summaries before
// anything is extracted, make it impossible: every path that could pass through a symlink
// stays within one archive, where the validator already refuses it.
import path from 'node:path';
import { type ArchiveSummary, type MemberFence, UnsafeArchiveError } from './members.js';

const isDotTop = (top: string): boolean => path.basename(top).startsWith('.');

function topOf(rel: string, roots: readonly string[]): string | undefined {
  const r = roots.find((x) => rel.startsWith(`${x}/`));
  return r === undefined ? undefined : `${r}/${rel.slice(r.length + 1).split('/')[0]}`;
}

/** Throws UnsafeArchiveError when the archives of one snapshot could write through each other. */
export function checkShardsApart(summaries: readonly ArchiveSummary[]): void {
  if (summaries.length < 2) return;
  const owner = new Map<string, number>();
  const symlinkTops = new Set(summaries.flatMap((s) => [...s.symlinkTops]));
  summaries.forEach((s, i) => {
    for (const top of s.tops) {
      const seen = owner.get(top);
      if (seen !== undefined && seen !== i) {
        // Only dot-dirs such as `.links` are shared, and never as a symlink.
        if (!isDotTop(top)) throw new UnsafeArchiveError(top, `is a store item in two archives of a sharded snapshot (${seen} and ${i})`);
        if (symlinkTops.has(top)) throw new UnsafeArchiveError(top, 'is a symlink in one archive and written into by another');
      }
      owner.set(top, i);
    }
    // Shared dot-dirs hold plain entries only: nothing nested that a sibling's symlink could redirect.
    const nested = [...s.dotParents][0];
    if (nested !== undefined) throw new UnsafeArchiveError(nested, 'is nested inside a dot-dir, which a sharded snapshot never holds');
    for (const target of s.linkTargets) {
      const top = topOf(target, s.roots);
      if (top === undefined || target === top) continue;
      if (isDotTop(top)) {
        if (path.dirname(target) !== top) throw new UnsafeArchiveError(target, 'is a hard-link target nested inside a dot-dir, which a sharded snapshot never holds');
      } else if (!s.tops.has(top)) throw new UnsafeArchiveError(target, 'is a hard-link target in a store item of another archive');
    }
  });
}

/**
 * The same rules, member by member, for archives that are checked while they are extracted at
 * once into one private dir (private-extract.ts): the member that breaks one is refused before
 * its tar reads it, so no tar ever writes through another archive's symlink, not even inside the
 * private dir. Whichever archive comes second with a conflicting member is the one refused.
 */
export class ShardFence {
  /** Which archives have written into each top-level item so far. */
  private readonly writers = new Map<string, Set<number>>();
  private readonly symlinkTops = new Set<string>();

  constructor(private readonly archives: number) {}

  /** The fence for archive `index`; undefined for a snapshot of one archive (nothing to keep apart). */
  forArchive(index: number): MemberFence | undefined {
    if (this.archives < 2) return undefined;
    return {
      member: (top, depth, kind, raw) => this.member(index, top, depth, kind, raw),
      link: (target, top, raw) => this.link(index, target, top, raw)
    };
  }

  private member(index: number, top: string, depth: number, kind: string, raw: string): void {
    let writers = this.writers.get(top);
    if (!writers) this.writers.set(top, (writers = new Set()));
    const other = [...writers].find((w) => w !== index);
    if (other !== undefined) {
      if (!isDotTop(top)) throw new UnsafeArchiveError(top, `is a store item in two archives of this snapshot (${other} and ${index}; member '${raw}')`);
      if (this.symlinkTops.has(top)) throw new UnsafeArchiveError(top, `is a symlink in one archive and written into by another (member '${raw}')`);
    }
    if (depth === 1 && kind === '2') {
      if (other !== undefined) throw new UnsafeArchiveError(top, `is a symlink in one archive and written into by another (member '${raw}')`);
      this.symlinkTops.add(top);
    }
    if (isDotTop(top) && depth > 2) throw new UnsafeArchiveError(raw, 'is nested inside a dot-dir, which a sharded snapshot never holds');
    writers.add(index);
  }

  private link(index: number, target: string, top: string, raw: string): void {
    if (isDotTop(top)) {
      if (path.dirname(target) !== top) throw new UnsafeArchiveError(raw, `links to ${target}, nested inside a dot-dir, which a sharded snapshot never holds`);
    } else if (!this.writers.get(top)?.has(index)) throw new UnsafeArchiveError(raw, `links to ${target}, which is not in a store item of its own archive`);
  }
}
