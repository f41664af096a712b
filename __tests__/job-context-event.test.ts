// The default branch that restore-all-matches' cache scopes need, read from the runner's event payload.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { defaultBranch } from '../src/action/job-context.js';

describe('defaultBranch', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runbox-event-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const event = (body: unknown): string => {
    const file = path.join(dir, `event-${Math.random().toString(36).slice(2)}.json`);
    fs.writeFileSync(file, JSON.stringify(body));
    return file;
  };

  test("the payload's repository.default_branch", () => {
    expect(defaultBranch({ GITHUB_EVENT_PATH: event({ repository: { default_branch: 'trunk' } }) })).toBe('trunk');
  });

  test('undefined without a payload, or when it names none', () => {
    expect(defaultBranch({})).toBeUndefined();
    expect(defaultBranch({ GITHUB_EVENT_PATH: path.join(dir, 'missing.json') })).toBeUndefined();
    expect(defaultBranch({ GITHUB_EVENT_PATH: event({ repository: {} }) })).toBeUndefined();
    expect(defaultBranch({ GITHUB_EVENT_PATH: event({ repository: { default_branch: 7 } }) })).toBeUndefined();
  });
});
