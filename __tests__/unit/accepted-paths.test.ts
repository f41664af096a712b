// Which restored paths get registered in the live store DB (store/db.ts acceptedPaths), on
// hand-made reference graphs: only what this restore added and the live DB lacks, and only when
// every reference is valid or accepted too, with no reference cycles.
import { describe, expect, test } from '@jest/globals';
import { acceptedPaths } from '../../src/store/db.js';

const regs = (o: Record<string, string[]>): Map<string, string[]> => new Map(Object.entries(o));
const set = (...xs: string[]): Set<string> => new Set(xs);
const sorted = (s: Set<string>): string[] => [...s].sort();

describe('acceptedPaths', () => {
  test('added and not yet valid; references to live paths and to each other are fine', () => {
    const r = regs({ a: ['live', 'b'], b: ['b'], c: [], live: [] });
    expect(sorted(acceptedPaths(r, set('live'), set('a', 'b', 'c', 'live')))).toEqual(['a', 'b', 'c']);
  });

  test('a path this restore did not add is not registered, and neither is what refers to it', () => {
    const r = regs({ a: ['b'], b: [], c: [] });
    expect(sorted(acceptedPaths(r, set(), set('a', 'c')))).toEqual(['c']);
  });

  test('a chain with a missing end goes whole', () => {
    const r = regs({ a: ['b'], b: ['c'], c: ['missing'], d: [] });
    expect(sorted(acceptedPaths(r, set(), set('a', 'b', 'c', 'd')))).toEqual(['d']);
  });

  test('a reference cycle, and everything referring into it, is dropped; self-references are not cycles', () => {
    const r = regs({ x: ['y'], y: ['x'], up: ['x'], self: ['self'], free: ['self'] });
    expect(sorted(acceptedPaths(r, set(), set('x', 'y', 'up', 'self', 'free')))).toEqual(['free', 'self']);
  });

  test('an already valid path is left as it is', () => {
    expect(sorted(acceptedPaths(regs({ a: [] }), set('a'), set('a')))).toEqual([]);
  });

  test('a long chain is linear, not quadratic (a snapshot may hold millions of paths)', () => {
    const n = 200_000;
    const r = new Map<string, string[]>();
    for (let i = 0; i < n; i++) r.set(`p${i}`, i + 1 < n ? [`p${i + 1}`] : []);
    // CPU time, not wall time: the same bound, but other test files running beside this one (or
    // a loaded machine) do not count against it.
    const t0 = process.cpuUsage();
    expect(acceptedPaths(r, set(), new Set(r.keys())).size).toBe(n);
    const used = process.cpuUsage(t0);
    expect((used.user + used.system) / 1000).toBeLessThan(5000);
  });
});
