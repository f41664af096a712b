// A sharded snapshot is validated archive by archive (in parallel), but its archives are
// extracted at the same time into the same tree, so one archive's symlink could redirect
// another archive's write (shard A: `gnu/store/x -> /etc`, shard B: `gnu/store/x/passwd`).
// The per-archive validator cannot see that; these rules, checked over all summaries before
// anything is extracted, make it impossible: every path that could pass through a symlink
// stays within one archive, where the validator already refuses it.
import path from 'node:path';
import { type ArchiveSummary, UnsafeArchiveError } from './members.js';

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
