// The judge of `npm run bench` (scripts/bench-report.mjs): issue 13's targets are decided on
// ratios taken within one round, a two-part target needs both parts, and the disk and upload
// targets look at the worst round, not a median that would hide it.
import { describe, expect, test } from '@jest/globals';
import { evaluateTargets, type Figure, type Round, type SizeResult } from '../../scripts/bench-report.mjs';

const fig = (s: number, more: Partial<Figure> = {}): Figure => ({ s, cpu: 0, up: 0, down: 0, ...more });
const MIB = 2 ** 20;

/** A round where runbox takes `k` times its floor, everything else comfortably within its target. */
function round(floor: number, k: number, more: Partial<Record<string, Partial<Figure>>> = {}): Round {
  const r: Round = {
    'floor save': fig(floor),
    'runbox save': fig(k * floor, { up: 100 * MIB, disk: MIB }),
    'floor restore': fig(floor),
    'runbox restore': fig(k * floor, { down: 100 * MIB, disk: MIB }),
    'exact-hit post': fig(0.2, { disk: 0 }),
    'restore onto 90%': fig(0.1 * k * floor, { down: 10 * MIB, disk: MIB }),
    'download at cap': fig(floor / 2),
    'restore at cap': fig(k * floor, { disk: MIB })
  };
  for (const [name, f] of Object.entries(more)) r[name] = { ...r[name], ...f };
  return r;
}

const result = (rounds: Round[]): SizeResult => ({
  mib: 400,
  rateMB: 100,
  facts: { bytes: 0, files: 0, items: 0, links: 0, itemBytes: 0 },
  rounds,
  notes: { lines: {}, checked: 0, partialChecked: 0, dropped: 0, floorBytes: 0 }
});
const verdicts = (rounds: Round[]): Record<string, boolean> => Object.fromEntries(evaluateTargets(result(rounds)).map((t) => [t.target.split(' ')[0] + ' ' + t.target.split(' ')[1], t.met]));

describe('bench report targets', () => {
  test('ratios are taken within a round, then their median: one round slowed for runbox alone, one for both, fail nothing', () => {
    // Per round 1.1x, 6x, 1.1x: median 1.1x. The ratio of the medians would be 5.5 s / 1 s = 5.5x.
    const rounds = [round(1, 1.1), round(1, 6), round(5, 1.1)];
    const v = verdicts(rounds);
    expect(v['full restore']).toBe(true);
    expect(v['full save']).toBe(true);
    expect(verdicts([round(1, 1.3), round(2, 1.3), round(3, 1.3)])['full restore']).toBe(false);
  });

  test('restore onto 90% needs both its time and its bytes', () => {
    const fast = [round(1, 1), round(1, 1), round(1, 1)];
    expect(verdicts(fast)['restore onto']).toBe(true);
    const everything = fast.map((r) => ({ ...r, 'restore onto 90%': fig(0.1, { down: 100 * MIB }) }));
    expect(verdicts(everything)['restore onto']).toBe(false);
  });

  test('the capped restore is judged against the slower of the plain download and the floor', () => {
    const r = round(1, 1, { 'download at cap': { s: 4 }, 'restore at cap': { s: 4.4 } });
    expect(verdicts([r])['capped link']).toBe(true);
    expect(verdicts([{ ...r, 'restore at cap': fig(5) }])['capped link']).toBe(false);
  });

  test('extra disk and exact-hit uploads count their worst round', () => {
    const rounds = [round(1, 1), round(1, 1), round(1, 1, { 'runbox restore': { disk: 100 * MIB } })];
    expect(verdicts(rounds)['extra disk']).toBe(false);
    const uploaded = [round(1, 1), round(1, 1), round(1, 1, { 'exact-hit post': { up: 1 } })];
    expect(verdicts(uploaded)['exact-hit post']).toBe(false);
    expect(verdicts([round(1, 1)])['exact-hit post']).toBe(true);
  });
});
