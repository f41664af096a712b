// One syntax wherever an input asks for time (`lock-timeout`, `reap-after`, `pr-reap-after`):
// a user who wrote `30m` for one should not see it refused by another.
import { InputError } from './errors.js';

const UNIT_SEC: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };
/** Longer than a year is a typo (e.g. seconds meant as minutes), not a retention policy. */
const MAX_DURATION_SEC = 365 * 86400;

export interface DurationLimits {
  /** `0` accepted (lock-timeout: fail at once). */
  allowZero?: boolean;
  /** Upper bound in seconds; default 365 days. */
  maxSec?: number;
}

function limitText(sec: number): string {
  for (const [u, n] of [
    ['d', 86400],
    ['h', 3600],
    ['m', 60]
  ] as const)
    if (sec % n === 0) return `${sec / n}${u}`;
  return `${sec}s`;
}

/** Parses `90s`, `30m`, `1h`, `2d` or plain seconds (`3600`) into seconds. */
export function parseDuration(input: string, raw: string, limits: DurationLimits = {}): number {
  const max = limits.maxSec ?? MAX_DURATION_SEC;
  const fix = `Write a ${limits.allowZero ? '' : 'positive '}whole number with a unit: s, m, h or d (e.g. '90s', '30m', '1h', '2d'), or plain seconds (e.g. '3600'), at most ${limitText(max)}${limits.allowZero ? ` ('0' fails at once)` : ''}`;
  const m = /^(\d+)\s*([smhd]?)$/i.exec(raw);
  if (!m) throw new InputError(input, `'${raw}' is not a duration`, fix);
  const sec = Number(m[1]) * UNIT_SEC[(m[2] || 's').toLowerCase()];
  if (sec === 0 && !limits.allowZero) throw new InputError(input, `'${raw}' is zero`, fix);
  if (!Number.isSafeInteger(sec) || sec > max) throw new InputError(input, `'${raw}' is longer than ${limitText(max)}`, fix);
  return sec;
}
