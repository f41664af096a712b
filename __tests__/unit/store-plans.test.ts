// The snapshot planners on hand-made listings, in-process: tree order, how items are split into
// shards, what a delta holds. The round trips through real tar are in ../store-shards.test.ts and
// ../store-delta.test.ts.
import { describe, expect, test } from '@jest/globals';
import { DELTA_MAX_NEW_FRACTION, deltaDue, planDelta } from '../../src/store/delta.js';
import { dataBytesOf, linkTargetsOf, treeOrder, type Entry, type StoreListing } from '../../src/store/listing.js';
import { FRAME_BYTES, MAX_FRAMES, planFrames, planShards, registrationRank } from '../../src/store/shards.js';

let nextIno = 1;
/** An entry of item `top` under gnu/store; `ino` shares one file between names. */
function entry(top: string, sub: string, o: { type?: string; size?: number; ino?: string; nlink?: number } = {}): Entry {
  return { ino: o.ino ?? `1:${nextIno++}`, nlink: o.nlink ?? 1, size: o.size ?? 0, type: o.type ?? 'f', mtime: '1', rel: `gnu/store/${top}${sub === '' ? '' : `/${sub}`}`, top };
}

/** A listing of items, each `[name, entries]`, weighted the way listStore weighs them. */
function listing(items: Array<[string, Entry[]]>): StoreListing {
  const m: StoreListing['items'] = new Map();
  for (const [name, entries] of items) m.set(`/gnu/store/${name}`, { entries, bytes: entries.reduce((n, e) => n + 512 + (e.type === 'f' ? e.size : 0), 0), dataBytes: dataBytesOf(entries) });
  return { shared: ['gnu/store'], items: m };
}

/** An item of one dir and `files` files of `size` bytes. */
function item(name: string, files: number, size: number): [string, Entry[]] {
  return [name, [entry(name, '', { type: 'd' }), ...Array.from({ length: files }, (_, i) => entry(name, `f${i}`, { size }))]];
}

describe('treeOrder', () => {
  test('a dir comes right before what is in it, unlike byte order', () => {
    const names = ['a/loaders.cache', 'a/loaders/x', 'a/loaders', 'a', 'a/loaders/x/y', 'a-b', 'b'];
    expect([...names].sort(treeOrder)).toEqual(['a', 'a/loaders', 'a/loaders/x', 'a/loaders/x/y', 'a/loaders.cache', 'a-b', 'b']);
    // Plain byte order puts 'a/loaders.cache' between 'a/loaders' and 'a/loaders/x': what treeOrder is for.
    expect([...names].sort()).not.toEqual([...names].sort(treeOrder));
  });

  test('compares bytes, not locale: upper case and non-ASCII names', () => {
    expect(['b', 'B', 'é', 'a'].sort(treeOrder)).toEqual(['B', 'a', 'b', 'é']);
    expect(treeOrder('x', 'x')).toBe(0);
  });
});

describe('planFrames', () => {
  test('frames of about frameBytes, newest registrations first (then by name, unregistered last), each listing its items', () => {
    // Ten items of 100 kB registered at times 1..10, two unregistered.
    const items = Array.from({ length: 10 }, (_, i) => item(`${String.fromCharCode(97 + i)}-pkg`, 1, 100_000));
    const l = listing([...items, item('y-loose', 1, 100_000), item('z-loose', 1, 100_000)]);
    const time = (i: string): number | undefined => (i.endsWith('-loose') ? undefined : i.charCodeAt('/gnu/store/'.length) - 96);
    // Two items (2 x (100 kB + 2 headers)) fit in 250 kB, a third would not.
    const p = planFrames(l, time, 250_000);
    expect(p.items).toEqual([
      ['/gnu/store/i-pkg', '/gnu/store/j-pkg'],
      ['/gnu/store/g-pkg', '/gnu/store/h-pkg'],
      ['/gnu/store/e-pkg', '/gnu/store/f-pkg'],
      ['/gnu/store/c-pkg', '/gnu/store/d-pkg'],
      ['/gnu/store/a-pkg', '/gnu/store/b-pkg'],
      ['/gnu/store/y-loose', '/gnu/store/z-loose']
    ]);
    // Each list: the store path, then exactly its items' members, in tree order.
    expect(p.lists[0]).toEqual(['gnu/store', 'gnu/store/i-pkg', 'gnu/store/i-pkg/f0', 'gnu/store/j-pkg', 'gnu/store/j-pkg/f0']);
    expect(p.dataBytes).toEqual([200_000, 200_000, 200_000, 200_000, 200_000, 200_000]);
  });

  test('an item bigger than a frame gets a frame of its own: the newer items before it and the older ones after it stay apart', () => {
    // Newest first: n1, n2 (small), BIG, o1, o2 (small). A partial restore lacking n1, n2 and BIG
    // fetches those frames and never o1/o2's.
    const l = listing([item('n1', 1, 10_000), item('n2', 1, 10_000), item('big', 1, 1_000_000), item('o1', 1, 10_000), item('o2', 1, 10_000)]);
    const time: Record<string, number> = { '/gnu/store/n1': 5, '/gnu/store/n2': 4, '/gnu/store/big': 3, '/gnu/store/o1': 2, '/gnu/store/o2': 1 };
    expect(planFrames(l, (i) => time[i], 100_000).items).toEqual([['/gnu/store/n1', '/gnu/store/n2'], ['/gnu/store/big'], ['/gnu/store/o1', '/gnu/store/o2']]);
  });

  test('a file with several names in one item weighs once (tar archives it once)', () => {
    const shared = entry('dup', 'a', { size: 100_000, ino: '9:9', nlink: 3 });
    const dup: [string, Entry[]] = ['dup', [entry('dup', '', { type: 'd' }), shared, { ...shared, rel: 'gnu/store/dup/b' }, { ...shared, rel: 'gnu/store/dup/c' }]];
    // 100 kB + 4 headers: it and the 100 kB item fit one 210 kB frame; counted per name they would not.
    expect(planFrames(listing([dup, item('one', 1, 100_000)]), () => 1, 210_000).items).toEqual([['/gnu/store/dup', '/gnu/store/one']]);
  });

  test('one frame for a small store; never more than MAX_FRAMES, nor more than items', () => {
    expect(planFrames(listing([item('a', 1, 10), item('b', 1, 10)]), () => 1).lists).toHaveLength(1);
    const many = listing(Array.from({ length: 200 }, (_, i) => item(`p${String(i).padStart(3, '0')}`, 1, FRAME_BYTES)));
    // Two items a frame would make 100 frames: the frames grow to the smallest size within MAX_FRAMES (three items each).
    expect(planFrames(many, () => 1).lists).toHaveLength(Math.ceil(200 / 3));
    expect(Math.ceil(200 / 3)).toBeLessThanOrEqual(MAX_FRAMES);
    expect(planFrames(listing([item('a', 1, 10 * FRAME_BYTES)]), () => 1).lists).toHaveLength(1);
    expect(planFrames(listing([]), () => 1)).toEqual({ lists: [['gnu/store']], dataBytes: [0], items: [[]] });
  });
});

describe('registrationRank', () => {
  test('by time, then by the DB row id (registrations in one second), then by name; larger is newer', () => {
    const regs = [
      { path: '/gnu/store/zzz-first', registrationTime: 7 },
      { path: '/gnu/store/aaa-second', registrationTime: 7 },
      { path: '/gnu/store/mmm-older', registrationTime: 6 },
      { path: '/gnu/store/bbb-no-id', registrationTime: 7 }
    ];
    const ids = new Map([
      ['/gnu/store/zzz-first', 10],
      ['/gnu/store/aaa-second', 11],
      ['/gnu/store/mmm-older', 12]
    ]);
    expect([...registrationRank(regs, ids).entries()]).toEqual([
      ['/gnu/store/mmm-older', 0],
      ['/gnu/store/bbb-no-id', 1],
      ['/gnu/store/zzz-first', 2],
      ['/gnu/store/aaa-second', 3]
    ]);
    // Without ids, one second's registrations are in name order.
    expect([...registrationRank(regs).keys()]).toEqual(['/gnu/store/mmm-older', '/gnu/store/aaa-second', '/gnu/store/bbb-no-id', '/gnu/store/zzz-first']);
  });
});

describe('planShards', () => {
  test('one archive when asked for one, or when there is a single item', () => {
    const l = listing([item('aaaa-one', 2, 10)]);
    expect(planShards(l, 1, false)).toBeUndefined();
    expect(planShards(l, 4, false)).toBeUndefined();
  });

  test('auto keeps one archive for a small store; an explicit count splits it anyway', () => {
    const l = listing([item('aaaa-one', 2, 10), item('bbbb-two', 2, 10)]);
    expect(planShards(l, 2, true)).toBeUndefined();
    expect(planShards(l, 2, false)?.lists).toHaveLength(2);
  });

  test('never more shards than items', () => {
    expect(planShards(listing([item('aaaa-one', 1, 10), item('bbbb-two', 1, 10)]), 8, false)?.lists).toHaveLength(2);
  });

  test('balanced by bytes, largest item first onto the lightest shard; every member in exactly one shard', () => {
    const l = listing([item('aaaa-big', 1, 9000), item('bbbb-mid', 1, 5000), item('cccc-mid', 1, 4000), item('dddd-small', 1, 100)]);
    const plan = planShards(l, 2, false)!;
    // big onto shard 0, the mids onto shard 1, then small onto the lighter one: shard 0 again.
    expect(plan.dataBytes).toEqual([9100, 9000]);
    expect(plan.lists[0]).toContain('gnu/store/dddd-small/f0');
    const members = plan.lists.flatMap((s) => s.filter((r) => r !== 'gnu/store'));
    expect(members.sort()).toEqual([...l.items.values()].flatMap((i) => i.entries.map((e) => e.rel)).sort());
    // The store path itself is in every shard, first, and each list is in tree order.
    for (const s of plan.lists) {
      expect(s[0]).toBe('gnu/store');
      expect(s).toEqual([...s].sort(treeOrder));
    }
  });

  test('an item sharing a file with another goes to its shard, unless that makes it the heaviest', () => {
    const shared = { ino: '9:1', nlink: 2, size: 4000 };
    const dir = (name: string): Entry => entry(name, '', { type: 'd' });
    // aaaa-x (shared file + 2000) onto shard 0, bbbb-y (5000) onto shard 1. cccc-z holds only the
    // shared file: on shard 0 it costs a header, on shard 1 its full size, so it joins aaaa-x
    // although shard 0 is the heavier one.
    const joins = planShards(
      listing([
        ['aaaa-x', [dir('aaaa-x'), entry('aaaa-x', 'lib', shared), entry('aaaa-x', 'more', { size: 2000 })]],
        ['bbbb-y', [dir('bbbb-y'), entry('bbbb-y', 'data', { size: 5000 })]],
        ['cccc-z', [dir('cccc-z'), entry('cccc-z', 'lib', shared)]]
      ]),
      2,
      false
    )!;
    expect(joins.lists[0]).toEqual(['gnu/store', 'gnu/store/aaaa-x', 'gnu/store/aaaa-x/lib', 'gnu/store/aaaa-x/more', 'gnu/store/cccc-z', 'gnu/store/cccc-z/lib']);
    expect(joins.dataBytes).toEqual([6000, 5000]); // the shared file's data once

    // Without the extra 2000 on aaaa-x, joining would make shard 0 heavier than cccc-z alone on
    // shard 1: it goes there, and the shared file is archived whole in both.
    const apart = planShards(
      listing([
        ['aaaa-x', [dir('aaaa-x'), entry('aaaa-x', 'lib', shared)]],
        ['bbbb-y', [dir('bbbb-y'), entry('bbbb-y', 'data', { size: 3000 })]],
        ['cccc-z', [dir('cccc-z'), entry('cccc-z', 'lib', shared)]]
      ]),
      2,
      false
    )!;
    expect(apart.lists[1]).toContain('gnu/store/cccc-z/lib');
    expect(apart.dataBytes).toEqual([4000 + 3000, 4000]);
  });
});

describe('planDelta', () => {
  const l = listing([item('aaaa-base', 2, 10), item('bbbb-new', 1, 7), item('cccc-base', 1, 5)]);

  test('holds the store path and every member of the items the base lacks, in tree order', () => {
    const plan = planDelta(l, new Set(['/gnu/store/aaaa-base', '/gnu/store/cccc-base']));
    expect(plan.newItems).toEqual(['/gnu/store/bbbb-new']);
    expect(plan.list).toEqual(['gnu/store', 'gnu/store/bbbb-new', 'gnu/store/bbbb-new/f0']);
    expect(plan).toMatchObject({ dataBytes: 7, items: 3 });
  });

  test('a file a new item shares with a base item is archived whole; one shared by two new items, once', () => {
    const withBase = { ino: '5:5', nlink: 2, size: 100 };
    const betweenNew = { ino: '6:6', nlink: 2, size: 30 };
    const s = listing([
      ['aaaa-base', [entry('aaaa-base', '', { type: 'd' }), entry('aaaa-base', 'f', withBase)]],
      ['bbbb-new', [entry('bbbb-new', '', { type: 'd' }), entry('bbbb-new', 'f', withBase), entry('bbbb-new', 'g', betweenNew)]],
      ['cccc-new', [entry('cccc-new', '', { type: 'd' }), entry('cccc-new', 'g', betweenNew)]]
    ]);
    expect(planDelta(s, new Set(['/gnu/store/aaaa-base'])).dataBytes).toBe(130);
  });

  test('a base item gone from disk is not in the delta; an empty base makes every item new', () => {
    expect(planDelta(l, new Set(['/gnu/store/aaaa-base', '/gnu/store/cccc-base', '/gnu/store/gone'])).newItems).toEqual(['/gnu/store/bbbb-new']);
    expect(planDelta(l, new Set()).newItems).toHaveLength(3);
  });

  test(`deltaDue: fewer new items than ${DELTA_MAX_NEW_FRACTION * 100}% of the items`, () => {
    expect(deltaDue({ items: 100, newItems: new Array<string>(4).fill('x') })).toBe(true);
    expect(deltaDue({ items: 100, newItems: new Array<string>(5).fill('x') })).toBe(false);
    expect(deltaDue({ items: 0, newItems: [] })).toBe(false);
  });
});

describe('hard links within one archive', () => {
  test('dataBytesOf counts a file once however many names it has; linkTargetsOf names the first', () => {
    const f = { ino: '7:7', nlink: 3, size: 50 };
    const es = [entry('aaaa-x', 'a', f), entry('aaaa-x', 'b', f), entry('aaaa-x', 'c', { size: 5 }), entry('aaaa-x', 'd', { type: 'd', size: 4096 })];
    expect(dataBytesOf(es)).toBe(55);
    const byRel = new Map(es.map((e) => [e.rel, e]));
    expect(linkTargetsOf(['gnu/store/aaaa-x/b', 'gnu/store/aaaa-x/a', 'gnu/store/aaaa-x/c'], byRel)).toEqual(['gnu/store/aaaa-x/b']);
    expect(linkTargetsOf(['gnu/store/aaaa-x/a'], byRel)).toEqual([]);
  });
});
