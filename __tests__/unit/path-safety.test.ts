// Host path safety as pure string rules (sys/path-safety.ts) and the dirs input's line syntax
// (dirs/dirs-config.ts parseDirLine). The on-disk side (symlinked components) is tested through
// dist/ in ../host-paths.test.ts and ../bad-inputs.test.ts.
import { describe, expect, test } from '@jest/globals';
import { parseDirLine } from '../../src/dirs/dirs-config.js';
import { isUnder, normalise, pathProblem, sanitizeComponent } from '../../src/sys/path-safety.js';

describe('pathProblem', () => {
  test.each([
    ['', /it is empty/],
    ['srv/ci', /is not an absolute path/],
    ['/', /is the root directory/],
    ['/etc', /is a system directory/],
    ['/var/lib', /is a system directory/],
    ['/usr/local/', /is a system directory/], // a trailing slash does not hide it
    ['/usr/share/x', /inside the system directory \/usr/],
    ['/etc/runbox', /inside the system directory \/etc/],
    ['/proc/1', /inside the system directory \/proc/],
    ['/srv//ci', /empty, '\.' or '\.\.' component/],
    ['/srv/./ci', /empty, '\.' or '\.\.' component/],
    ['/srv/ci/..', /empty, '\.' or '\.\.' component/],
    ['/srv/a\nb', /control character/],
    ['/srv/a\0b', /control character/]
  ])('%j is refused', (p, why) => {
    expect(pathProblem(p)).toMatch(why);
  });

  test.each(['/srv/runbox', '/srv/runbox/', '/home/runner/work/_temp/runbox', '/var/lib/runbox', '/tmp/x', '/nix/store', '/opt/x', '/mnt/data/ci'])('%j is accepted', (p) => {
    expect(pathProblem(p)).toBeUndefined();
  });
});

describe('isUnder, normalise', () => {
  test('isUnder is by component, strictly below', () => {
    expect(isUnder('/srv/a/b', '/srv/a')).toBe(true);
    expect(isUnder('/srv/ab', '/srv/a')).toBe(false);
    expect(isUnder('/srv/a', '/srv/a')).toBe(false);
    expect(isUnder('/x', '/')).toBe(true);
    expect(isUnder('/', '/')).toBe(false);
  });

  test('normalise strips one trailing slash, never the root', () => {
    expect(normalise('/srv/a/')).toBe('/srv/a');
    expect(normalise('/srv/a')).toBe('/srv/a');
    expect(normalise('/')).toBe('/');
  });
});

describe('sanitizeComponent', () => {
  test.each([
    ['feature/x', 'feature-x'],
    ['../../etc', 'etc'],
    ['..', ''],
    ['a  b\n::c', 'a-b-c'],
    ['-.lead.trail.-', 'lead.trail'],
    ['ünïcode', 'n-code']
  ])('%j -> %j: a single component, no dots or dashes at the ends', (raw, want) => {
    expect(sanitizeComponent(raw)).toBe(want);
  });

  test('bounded, without a trailing separator left by the cut', () => {
    expect(sanitizeComponent('a'.repeat(100))).toHaveLength(60);
    expect(sanitizeComponent(`${'a'.repeat(59)}-bbbb`)).toBe('a'.repeat(59));
    expect(sanitizeComponent('abcdef', 3)).toBe('abc');
  });
});

describe('parseDirLine', () => {
  test.each([
    ['target', { name: 'target', scope: 'run' }],
    ['target:pr', { name: 'target', scope: 'pr' }],
    ['target:run=CARGO_TARGET_DIR', { name: 'target', scope: 'run', envVar: 'CARGO_TARGET_DIR' }],
    ['target=CARGO_TARGET_DIR', { name: 'target', scope: 'run', envVar: 'CARGO_TARGET_DIR' }],
    ['v1.2_x-y', { name: 'v1.2_x-y', scope: 'run' }]
  ])('%j', (line, spec) => {
    expect(parseDirLine(line)).toEqual(spec);
  });

  test.each([
    ['a b', /Input 'dirs': line 'a b' is not NAME\[:scope\]\[=ENV_VAR\]/],
    ['a/b', /'a\/b' is not a dir name/],
    ['.hidden', /'\.hidden' is not a dir name/],
    ['run-1', /'run-1' is not a dir name.*does not start with 'run-'/],
    ['x.lock', /'x\.lock' is not a dir name/],
    ['t:forever', /scope 'forever' of 't' is unknown/],
    ['t:', /scope '' of 't' is unknown/],
    ['t=cargo', /'cargo' \(for 't'\) is not an environment variable name/],
    ['t=', /'' \(for 't'\) is not an environment variable name/],
    ['t=9X', /is not an environment variable name/],
    ['t=HOME', /'HOME' \(for 't'\) is reserved/],
    ['t=LD_PRELOAD', /is reserved/],
    ['t=GITHUB_ENV', /is reserved/],
    ['t=RUNNER_TEMP', /is reserved/]
  ])('%j is refused', (line, why) => {
    expect(() => parseDirLine(line)).toThrow(why);
  });
});
