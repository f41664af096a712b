// The store inputs: each bad value refused with a message naming the input and the fix, and
// the defaults (preset paths, daemon, key composition) as documented.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, test } from '@jest/globals';
import { inputsFrom } from '../src/action/input-source.js';
import { parseStoreConfig } from '../src/store/config.js';
import { defaultRestoreKey, resolveKeys, workflowFile } from '../src/store/key.js';
import { parseToolVersion } from '../src/store/presets.js';
import { removeTempDirs, tempDir } from './fixtures/store.js';
import { inputRefusal } from './helpers/input-refusal.js';

const ENV = { RUNNER_TEMP: '/tmp/rt', GITHUB_WORKSPACE: '/tmp/ws', GITHUB_WORKFLOW_REF: 'o/r/.github/workflows/ci.yml@refs/heads/main' };

function parse(values: Record<string, string>, env: NodeJS.ProcessEnv = ENV) {
  return parseStoreConfig(inputsFrom(values), env);
}

const refusal = (values: Record<string, string>): string => inputRefusal(() => parse(values), values);

afterAll(removeTempDirs);

describe('store inputs', () => {
  test('empty store means no snapshot', () => {
    expect(parse({})).toBeUndefined();
  });

  test('presets give store paths, DB dir and daemon unit', () => {
    expect(parse({ store: 'guix' })).toMatchObject({
      kind: 'guix',
      storePaths: ['/gnu/store', '/var/guix/db'],
      dbDir: '/var/guix/db',
      daemon: { kind: 'systemd', unit: 'guix-daemon' },
      save: 'auto',
      failOnCacheMiss: false,
      root: '/',
      stagingBase: '/tmp/rt'
    });
    expect(parse({ store: 'nix', 'store-paths': '/nix/store/\n/nix/var/nix/db' })).toMatchObject({
      storePaths: ['/nix/store', '/nix/var/nix/db'],
      dbDir: '/nix/var/nix/db',
      daemon: { kind: 'systemd', unit: 'nix-daemon' }
    });
    expect(parse({ store: 'nix', 'store-paths': '/nix/store' })?.dbDir).toBeUndefined();
    expect(parse({ store: 'nix', 'daemon-stop': 'pkill nix-daemon', 'daemon-start': 'nix-daemon &' })?.daemon).toEqual({
      kind: 'commands',
      stop: 'pkill nix-daemon',
      start: 'nix-daemon &'
    });
    expect(parse({ store: 'guix', daemon: 'none' })?.daemon).toEqual({ kind: 'none' });
  });

  test.each(
    [
      [{ store: 'docker' }, /Input 'store': 'docker' is not one of guix, nix/],
      [{ store: 'guix', 'store-paths': 'gnu/store' }, /Input 'store-paths': 'gnu\/store' is not an absolute path/],
      [{ store: 'guix', 'store-paths': '/' }, /Input 'store-paths': '\/' is the root directory/],
      [{ store: 'guix', 'store-paths': '/usr' }, /Input 'store-paths': '\/usr' is a system directory/],
      [{ store: 'guix', 'store-paths': '/etc' }, /Input 'store-paths': '\/etc' is a system directory/],
      [{ store: 'guix', 'store-paths': '/var' }, /Input 'store-paths': '\/var' is a system directory/],
      [{ store: 'guix', 'store-paths': '/home' }, /Input 'store-paths': '\/home' is a system directory/],
      [{ store: 'guix', 'store-paths': '/usr/local/gnu/store' }, /Input 'store-paths': .*inside the system directory \/usr/],
      [{ store: 'guix', 'store-paths': '/gnu/../etc' }, /Input 'store-paths': .*'\.\.' component/],
      [{ store: 'guix', 'store-paths': '/gnu//store' }, /Input 'store-paths': .*empty, '\.' or '\.\.' component/],
      [{ store: 'guix', 'store-paths': '/gnu/store\n/gnu/store/x' }, /Input 'store-paths': '\/gnu\/store\/x' lies inside '\/gnu\/store'/],
      [{ store: 'guix', 'store-paths': '/gnu/store\n/gnu/store/' }, /Input 'store-paths': a path is listed twice/],
      [{ store: 'guix', key: 'k'.repeat(513) }, /Input 'key': .*513 characters long, more than the 512/],
      [{ store: 'guix', key: 'a,b' }, /Input 'key': 'a,b': it contains a comma/],
      [{ store: 'guix', 'restore-keys': 'a-\nb,c' }, /Input 'restore-keys': 'b,c': it contains a comma/],
      [{ store: 'guix', 'restore-keys': Array.from({ length: 10 }, (_, i) => `k${i}-`).join('\n') }, /Input 'restore-keys': 10 restore keys plus the key make 11 keys/],
      [{ store: 'guix', save: 'sometimes' }, /Input 'save': 'sometimes' is not one of auto, always, never/],
      [{ store: 'guix', 'fail-on-cache-miss': 'yes' }, /Input 'fail-on-cache-miss': 'yes' is not a boolean/],
      [{ store: 'guix', daemon: 'guix daemon; rm -rf /' }, /Input 'daemon': .* is not a systemd unit name/],
      [{ store: 'guix', 'daemon-stop': 'x' }, /Input 'daemon-start': it is empty while 'daemon-stop' is set/],
      [{ store: 'guix', daemon: 'none', 'daemon-start': 'x', 'daemon-stop': 'y' }, /Input 'daemon-stop': it is set while 'daemon' is 'none'/],
      [{ 'store-paths': '/gnu/store' }, /Input 'store-paths': it is set while 'store' is empty/]
    ].map(([values, message]) => [JSON.stringify(values).slice(0, 90), values, message] as const)
  )('refuses %s', (_title, values, message) => {
    expect(refusal(values as Record<string, string>)).toMatch(message as RegExp);
  });

  test('exactly 10 keys are accepted', () => {
    expect(parse({ store: 'guix', key: 'k', 'restore-keys': Array.from({ length: 9 }, (_, i) => `k${i}-`).join('\n') })?.restoreKeys).toHaveLength(9);
  });
});

describe('store cache key', () => {
  test('workflow file from GITHUB_WORKFLOW_REF, restore key, tool version', () => {
    expect(workflowFile('octo/repo/.github/workflows/ci.yml@refs/heads/main')).toBe('.github/workflows/ci.yml');
    expect(workflowFile('octo/repo/.github/workflows/sub/x.yaml@refs/pull/7/merge')).toBe('.github/workflows/sub/x.yaml');
    expect(workflowFile('')).toBeUndefined();
    expect(defaultRestoreKey('runbox-nix-linux-x64-2.8.0-abc')).toEqual(['runbox-nix-linux-x64-2.8.0-']);
    expect(defaultRestoreKey('plain')).toEqual([]);
    expect(parseToolVersion('nix-store (Nix) 2.8.0\n')).toBe('2.8.0');
    expect(parseToolVersion('guix (GNU Guix) 1.4.0\nCopyright...')).toBe('1.4.0');
    expect(parseToolVersion('guix (GNU Guix) 5a8ba3c1bd5f0b2c4aa7ff5ff2f3ef4d5e6a7b8c')).toBeUndefined();
  });

  test('the default key hashes the key-files, relative to the workspace, and changes with them', async () => {
    const ws = tempDir();
    fs.mkdirSync(path.join(ws, '.github/workflows'), { recursive: true });
    fs.writeFileSync(path.join(ws, '.github/workflows/ci.yml'), 'on: push\n');
    fs.writeFileSync(path.join(ws, 'guix.scm'), '(packages)\n');
    const env = { ...ENV, GITHUB_WORKSPACE: ws };
    const k1 = await resolveKeys(parseStoreConfig(inputsFrom({ store: 'guix' }), env)!);
    expect(k1.primary).toMatch(new RegExp(`^runbox-guix-${process.platform}-${process.arch}-[0-9a-f]{64}$`));
    expect(k1.restore).toEqual([`runbox-guix-${process.platform}-${process.arch}-`]);
    expect(k1.parts.map((p) => p.name)).toEqual(['prefix', 'store', 'os', 'arch', 'version', 'files']);

    const k2 = await resolveKeys(parseStoreConfig(inputsFrom({ store: 'guix', 'key-files': 'guix.scm' }), env)!);
    expect(k2.primary).not.toBe(k1.primary);
    fs.writeFileSync(path.join(ws, 'guix.scm'), '(packages more)\n');
    const k3 = await resolveKeys(parseStoreConfig(inputsFrom({ store: 'guix', 'key-files': 'guix.scm' }), env)!);
    expect(k3.primary).not.toBe(k2.primary);
    expect(k3.primary.split('-').slice(0, -1)).toEqual(k2.primary.split('-').slice(0, -1));

    const explicit = await resolveKeys(parseStoreConfig(inputsFrom({ store: 'guix', key: 'my-store-v1', 'restore-keys': 'my-store-' }), env)!);
    expect(explicit).toMatchObject({ primary: 'my-store-v1', restore: ['my-store-'], parts: [] });
  });
});
