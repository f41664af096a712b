// The janitor's and the disk guard's inputs, parsed before anything on disk is touched. A typo
// here would otherwise turn into "reap everything" or "never reap", so anything not clearly one
// of the accepted forms is refused with a message that names the input.
import { InputError } from '../common/errors.js';
import type { InputSource } from '../action/input-source.js';
import { parseDuration } from '../common/duration.js';
import { parseSize, sizeBytes } from '../common/size.js';

export { parseDuration };

export type DiskLimit =
  /** Prune while more than `percent` of the filesystem is used (as df's Use% computes it). */
  | { kind: 'max-used-percent'; percent: number }
  /** Prune while fewer than `bytes` are available to unprivileged users (df's Avail). */
  | { kind: 'min-free-bytes'; bytes: number };

export interface ReapConfig {
  /** A dead run's dirs are reaped once their last use is older than this. */
  reapAfterSec: number;
  /** An unlocked per-PR dir is reaped once idle this long. */
  prReapAfterSec: number;
  /** undefined = the disk guard is off. */
  diskLimit: DiskLimit | undefined;
}

/**
 * A dead run's dir is never used again, so an hour only protects against clock skew between
 * runners and gives a human time to look at a failed run's files.
 */
export const DEFAULT_REAP_AFTER = '1h';
/**
 * Per-PR dirs (a cargo registry, a dependency cache) exist to stay warm across the successive
 * pushes of an active PR. Pushes to a live PR are rarely more than a couple of days apart, but a
 * review over a weekend easily leaves one idle from Friday to Monday, so 3 days keeps those warm
 * while a PR that has gone quiet longer than that (merged, abandoned) stops holding disk. When
 * disk is short the disk guard prunes idle PR dirs anyway, whatever their age.
 */
export const DEFAULT_PR_REAP_AFTER = '3d';

/** `''` (off), `85%` (max used, 1–99) or `20G` / `500M` / `1T` (min free). */
export function parseDiskLimit(input: string, raw: string): DiskLimit | undefined {
  if (raw === '') return undefined;
  const fix = `Write a maximum used share as a whole percentage from 1% to 99% (e.g. '85%'), a minimum free size with unit M, G or T (e.g. '500M', '20G', '1T'), or leave it empty to turn the disk guard off`;
  const pct = /^(\d+)\s*%$/.exec(raw);
  if (pct) {
    const percent = Number(pct[1]);
    if (percent < 1 || percent > 99) throw new InputError(input, `'${raw}' is outside 1%–99%`, fix);
    return { kind: 'max-used-percent', percent };
  }
  if (sizeBytes(raw) === undefined) throw new InputError(input, `'${raw}' is neither a percentage nor a size`, fix);
  return { kind: 'min-free-bytes', bytes: parseSize(input, raw, fix) };
}

export function parseReapConfig(src: InputSource): ReapConfig {
  return {
    reapAfterSec: parseDuration('reap-after', src.value('reap-after') || DEFAULT_REAP_AFTER),
    prReapAfterSec: parseDuration('pr-reap-after', src.value('pr-reap-after') || DEFAULT_PR_REAP_AFTER),
    diskLimit: parseDiskLimit('disk-limit', src.value('disk-limit'))
  };
}
