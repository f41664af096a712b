// Which listed cache entries purge deletes (src/store/purge-select.ts), and the purge inputs
// (src/store/purge-config.ts): pure, in-process. The REST calls and the built action are in
// ../purge.test.ts.
import { describe, expect, test } from '@jest/globals';
import { inputsFrom } from '../../src/action/input-source.js';
import { inputRefusal } from '../helpers/input-refusal.js';
import type { CacheListing } from '../../src/store/cache-service/caches-rest.js';
import { parseStoreConfig } from '../../src/store/config.js';
import { parsePurgeConfig } from '../../src/store/purge-config.js';
import { planPurge, type PurgeFacts } from '../../src/store/purge-select.js';

const V = 'a'.repeat(64);
const REF = 'refs/heads/main';
let nextId = 1;

/** An entry created `t` minutes after the epoch (so a larger t is newer). */
function entry(key: string, t: number, o: Partial<CacheListing> = {}): CacheListing {
  return { id: nextId++, key, version: V, ref: REF, createdAt: t * 60_000, lastAccessedAt: t * 60_000, sizeInBytes: 1000, ...o };
}

const facts = (o: Partial<PurgeFacts> = {}): PurgeFacts => ({ version: V, ref: REF, prefixes: ['s-'], maxDeletions: 50, ...o });
const keys = (l: readonly CacheListing[]): string[] => l.map((e) => e.key);
const why = (plan: ReturnType<typeof planPurge>, key: string): string | undefined => plan.kept.find((k) => k.entry.key === key)?.why;

describe('planPurge', () => {
  test('a saved full snapshot: everything older under the prefix goes, newest first', () => {
    const l = [entry('s-1', 1), entry('s-2', 2), entry('s-3', 3), entry('s-4', 4)];
    const plan = planPurge(l, facts({ saved: { key: 's-4' }, restored: { key: 's-3', base: 's-3' } }));
    expect(keys(plan.remove)).toEqual(['s-3', 's-2', 's-1']);
    expect(keys(plan.kept.map((k) => k.entry))).toEqual(['s-4']);
    expect(why(plan, 's-4')).toBe('saved by this job');
  });

  test('a saved delta: its base stays, whatever its age; the restored delta goes', () => {
    const l = [entry('s-1', 1), entry('s-2', 2), entry('s-3', 3), entry('s-4', 4)];
    const plan = planPurge(l, facts({ saved: { key: 's-4', base: 's-2' }, restored: { key: 's-3', base: 's-2' } }));
    expect(keys(plan.remove)).toEqual(['s-3', 's-1']);
    expect(why(plan, 's-2')).toMatch(/base of s-4/);
  });

  test('never a full snapshot a kept delta of unknown content may name: everything older than it stays', () => {
    // s-5 was saved by another job after this one's save: it may be a delta over s-2.
    const l = [entry('s-1', 1), entry('s-2', 2), entry('s-3', 3), entry('s-4', 4), entry('s-5', 5)];
    const plan = planPurge(l, facts({ saved: { key: 's-4' } }));
    expect(why(plan, 's-5')).toMatch(/newest entry for s-/);
    expect(plan.remove).toEqual([]);
    for (const k of ['s-1', 's-2', 's-3']) expect(why(plan, k)).toMatch(/older than "s-5", which stays and may be a delta over it/);
  });

  test('time cut-offs keep recent entries, and those shield older ones; without a recent unknown entry the old ones go', () => {
    const l = [entry('s-1', 1), entry('s-2', 2), entry('s-8', 8), entry('s-9', 9)];
    const shielded = planPurge(l, facts({ saved: { key: 's-9' }, createdBefore: 5 * 60_000 }));
    expect(why(shielded, 's-8')).toBe('created after the purge-created-before cut-off');
    expect(shielded.remove).toEqual([]);
    const open = planPurge([entry('s-1', 1), entry('s-2', 2), entry('s-9', 9)], facts({ saved: { key: 's-9' }, createdBefore: 5 * 60_000 }));
    expect(keys(open.remove)).toEqual(['s-2', 's-1']);
    const accessed = planPurge([entry('s-1', 1, { lastAccessedAt: 7 * 60_000 }), entry('s-2', 2), entry('s-9', 9)], facts({ saved: { key: 's-9' }, lastAccessedBefore: 5 * 60_000 }));
    expect(why(accessed, 's-1')).toBe('used after the purge-last-accessed-before cut-off');
    expect(keys(accessed.remove)).toEqual(['s-2']);
  });

  test('other refs, other cache versions and keys outside the prefixes are never candidates', () => {
    const l = [entry('s-1', 1, { ref: 'refs/pull/7/merge' }), entry('s-2', 2, { version: 'b'.repeat(64) }), entry('other-3', 3), entry('s-4', 4), entry('s-5', 5)];
    const plan = planPurge(l, facts({ saved: { key: 's-5' } }));
    expect(keys(plan.remove)).toEqual(['s-4']);
    expect(plan.foreign).toEqual({ otherVersion: 1, otherRef: 1 });
    expect(keys(plan.kept.map((k) => k.entry))).toEqual(['s-5']);
  });

  test('nothing saved: the restored entry and the newest per prefix stay; an exact hit of unknown content holds back what is older', () => {
    const l = [entry('s-1', 1), entry('s-2', 2), entry('s-3', 3), entry('t-4', 4), entry('t-5', 5)];
    const known = planPurge(l, facts({ prefixes: ['s-', 't-'], restored: { key: 's-3', base: 's-3' } }));
    expect(why(known, 's-3')).toBe('restored by this job, which saved nothing newer');
    expect(why(known, 't-5')).toBe('the newest entry for t-');
    // t-5 is of unknown content and newer than all but itself: it shields the rest.
    expect(keys(known.remove)).toEqual([]);
    const alone = planPurge([entry('s-1', 1), entry('s-2', 2), entry('s-3', 3)], facts({ restored: { key: 's-3', base: 's-1' } }));
    expect(keys(alone.remove)).toEqual(['s-2']);
    expect(why(alone, 's-1')).toMatch(/base of s-3, the delta this job restored/);
    const unknown = planPurge([entry('s-1', 1), entry('s-2', 2), entry('s-3', 3)], facts({ restored: { key: 's-3' } }));
    expect(unknown.remove).toEqual([]);
  });

  test('the bound: newest first, and what stays over it is older than everything deleted', () => {
    const l = Array.from({ length: 8 }, (_, i) => entry(`s-${i + 1}`, i + 1));
    const plan = planPurge(l, facts({ saved: { key: 's-8' }, maxDeletions: 3 }));
    expect(keys(plan.remove)).toEqual(['s-7', 's-6', 's-5']);
    for (const k of ['s-4', 's-3', 's-2', 's-1']) expect(why(plan, k)).toMatch(/over the 3 deletions/);
  });

  test('an entry listed under two prefixes counts once', () => {
    const a = entry('s-x-1', 1);
    const plan = planPurge([a, a, entry('s-x-2', 2)], facts({ prefixes: ['s-', 's-x-'], saved: { key: 's-x-2' } }));
    expect(keys(plan.remove)).toEqual(['s-x-1']);
  });
});

describe('purge inputs', () => {
  const store = parseStoreConfig(inputsFrom({ store: 'nix' }), {});
  const parse = (v: Record<string, string>, s = store) => parsePurgeConfig(inputsFrom({ token: 'ghs_x', ...v }), s);
  const refusal = (v: Record<string, string>, s = store): string => inputRefusal(() => parse(v, s), v);

  test('off by default; on with durations and prefixes', () => {
    expect(parse({})).toBeUndefined();
    expect(parse({ purge: 'true' })).toEqual({ token: 'ghs_x' });
    expect(parse({ purge: 'true', 'purge-prefixes': 'a-\nb- # the old family', 'purge-created-before': '2d', 'purge-last-accessed-before': '90m' })).toEqual({
      prefixes: ['a-', 'b-'],
      createdBeforeSec: 2 * 86400,
      lastAccessedBeforeSec: 90 * 60,
      token: 'ghs_x'
    });
  });

  test('bad values fail naming the input and the fix', () => {
    expect(refusal({ purge: 'yes' })).toMatch(/purge.*'yes' is not a boolean/);
    expect(refusal({ purge: 'true', 'purge-created-before': '2 weeks' })).toMatch(/purge-created-before.*not a duration.*Write/);
    expect(refusal({ purge: 'true', 'purge-last-accessed-before': '0' })).toMatch(/purge-last-accessed-before.*zero/);
    expect(refusal({ purge: 'true', 'purge-prefixes': 'a,b' })).toMatch(/purge-prefixes.*comma/);
    expect(refusal({ purge: 'true', token: '' })).toMatch(/token.*actions: write/);
    expect(refusal({ purge: 'true', token: '${{ github.token }}' })).toMatch(/token/);
    expect(refusal({ 'purge-prefixes': 'a-' })).toMatch(/purge-prefixes.*while 'purge' is false/);
    expect(() => parsePurgeConfig(inputsFrom({ purge: 'true', token: 'ghs_x' }), undefined)).toThrow(/purge.*'store' is empty/);
  });
});
