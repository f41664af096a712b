// Which listed entries restore-all-matches keeps: only those GitHub's cache scopes let the job
// read, so entries of other branches cannot crowd the readable ones out of its slots.
import { readableRef } from '../../src/store/cache-scope.js';

describe('readableRef', () => {
  const pr = { ref: 'refs/pull/7/merge', baseRef: 'release', defaultBranch: 'main' };
  const push = { ref: 'refs/heads/feature', baseRef: '', defaultBranch: 'main' };

  test.each([
    ['its own pull request', pr, 'refs/pull/7/merge', true],
    ['the default branch, from a pull request', pr, 'refs/heads/main', true],
    ['the base branch of the pull request', pr, 'refs/heads/release', true],
    ['another pull request', pr, 'refs/pull/8/merge', false],
    ['another branch, from a pull request', pr, 'refs/heads/feature', false],
    ['its own branch', push, 'refs/heads/feature', true],
    ['the default branch, from a branch', push, 'refs/heads/main', true],
    ['another branch', push, 'refs/heads/other', false],
    ['a tag', push, 'refs/tags/v1', false],
    ['a branch named like the base of an empty base ref', push, 'refs/heads/', false]
  ])('%s', (_what, job, entryRef, readable) => {
    expect(readableRef(entryRef, job)).toBe(readable);
  });

  test('without the default branch, only other pull requests are left out (the service refuses the rest)', () => {
    const job = { ref: 'refs/heads/feature' };
    expect(readableRef('refs/heads/other', job)).toBe(true);
    expect(readableRef('refs/pull/8/merge', job)).toBe(false);
    expect(readableRef('refs/heads/feature', job)).toBe(true);
  });
});
