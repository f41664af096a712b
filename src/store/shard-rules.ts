// The archives of one snapshot (shards, or a delta and its base) each extract into their own
// sub-dir of the private dir, so none can write through another's symlink. What is left to
// check across them: no store item is in two archives (which copy would be moved in, and which
// registration would describe it, would be up to chance).
import { type ArchiveSummary, UnsafeArchiveError } from './members.js';

/** Throws UnsafeArchiveError when a top-level item is in two archives of one snapshot. */
export function checkShardsApart(summaries: readonly ArchiveSummary[]): void {
  const owner = new Map<string, number>();
  summaries.forEach((s, i) => {
    for (const top of s.tops) {
      const seen = owner.get(top);
      if (seen !== undefined && seen !== i) throw new UnsafeArchiveError(top, `is a store item in two archives of this snapshot (${seen} and ${i})`);
      owner.set(top, i);
    }
  });
}
