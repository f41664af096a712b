// The test layers (jest.config.js projects) stay what they say: a file that drives the built
// dist/ is in e2e, so `npm run test:e2e` builds first; a unit test starts no process and needs
// no root. Reads the test sources only.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from '@jest/globals';

const ROOT = path.resolve(import.meta.dirname ?? path.dirname(new URL(import.meta.url).pathname), '../..');
const TESTS = path.join(ROOT, '__tests__');

// jest.config.js names them; read from its text, so this test needs no loader for it.
function configList(name: 'E2E' | 'SYSTEM'): string[] {
  const text = fs.readFileSync(path.join(ROOT, 'jest.config.js'), 'utf8');
  const list = new RegExp(`export const ${name} = \\[([^\\]]*)\\]`).exec(text);
  if (!list) throw new Error(`jest.config.js has no \`export const ${name} = [...]\``);
  return [...list[1].matchAll(/'([^']+)'/g)].map((m) => m[1]);
}
const e2eNames = (): string[] => configList('E2E');

const topLevel = fs.readdirSync(TESTS).filter((f) => f.endsWith('.test.ts'));
const units = fs.readdirSync(path.join(TESTS, 'unit')).filter((f) => f.endsWith('.test.ts'));

describe('test layers', () => {
  test('every E2E name is a test file', () => {
    for (const n of e2eNames()) expect(topLevel).toContain(`${n}.test.ts`);
  });

  test('a test that runs dist/ (FakeJob, storeJob, DIST) is in the e2e project', () => {
    const e2e = new Set(e2eNames().map((n) => `${n}.test.ts`));
    const drivesDist = topLevel.filter((f) => /\b(FakeJob|storeJob|storeJobPool|DIST)\b/.test(fs.readFileSync(path.join(TESTS, f), 'utf8')));
    expect(drivesDist.length).toBeGreaterThan(0);
    expect(drivesDist.filter((f) => !e2e.has(f))).toEqual([]);
  });

  test('the files that change the host (systemOptIn) are exactly the SYSTEM files, which run one at a time', () => {
    const system = configList('SYSTEM');
    for (const n of system) expect(topLevel).toContain(`${n}.test.ts`);
    const optIn = topLevel.filter((f) => /\bsystemOptIn\(/.test(fs.readFileSync(path.join(TESTS, f), 'utf8')));
    expect(optIn.length).toBeGreaterThan(0);
    expect(optIn.sort()).toEqual(system.map((n) => `${n}.test.ts`).sort());
  });

  test('unit tests start no process, need no root, and import no host helper', () => {
    const hostly = /node:child_process|helpers\/(prereq|processes|action-runner|store-e2e|bundle|tmpfs)|fixtures\/|process\.getuid/;
    expect(units.length).toBeGreaterThan(0);
    expect(units.filter((f) => f !== 'layers.test.ts' && hostly.test(fs.readFileSync(path.join(TESTS, 'unit', f), 'utf8')))).toEqual([]);
  });
});
