// The archives of one snapshot (shards, or a delta and its base) each extract into their own
// sub-dir of the private dir, so none can write through another's symlink. What is left to
// check across them: no store item is in two archives (which copy would be moved in, and which
// registration would describe it, would be up to chance), and each archive holds exactly the
// items its manifest record lists (what a partial restore decided by).
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

/**
 * Throws UnsafeArchiveError when an archive whose record lists its items (ArchiveRecord.items,
 * absolute) holds an item it does not list, or lists one it does not hold, or when any read
 * archive holds an item another archive's record lists (`all`: every archive of the snapshot,
 * read or skipped). A partial restore skips archives by those lists, so a list that lies is
 * refused wherever the bytes show it.
 */
export function checkItemsListed(
  archives: ReadonlyArray<{ index: number; summary: ArchiveSummary; items?: readonly string[] | undefined }>,
  all: ReadonlyArray<{ index: number; items?: readonly string[] | undefined }>
): void {
  const listedBy = new Map<string, number>();
  for (const a of all) for (const i of a.items ?? []) listedBy.set(i.replace(/^\/+/, ''), a.index);
  for (const a of archives) {
    for (const top of a.summary.tops) {
      const by = listedBy.get(top);
      if (by !== undefined && by !== a.index) throw new UnsafeArchiveError(top, `is held by archive ${a.index}, but the manifest lists it in archive ${by}`);
    }
    if (!a.items) continue;
    const listed = new Set(a.items.map((i) => i.replace(/^\/+/, '')));
    for (const top of a.summary.tops) if (!listed.has(top)) throw new UnsafeArchiveError(top, `is held by archive ${a.index}, whose manifest record does not list it`);
    for (const top of listed) if (!a.summary.tops.has(top)) throw new UnsafeArchiveError(top, `is listed by the manifest record of archive ${a.index}, which does not hold it`);
  }
}
