// The main step's input checks, in-process through the InputSource seam: every invalid input is
// refused with a message naming the input. That this happens before anything on disk changes is
// shown through dist/ in ../bad-inputs.test.ts (cases that need the host: a planted symlink, an
// owner looked up with getent).
import { describe, expect, test } from '@jest/globals';
import { inputsFrom } from '../../src/action/input-source.js';
import { jobContext } from '../../src/action/job-context.js';
import { parseFoundationConfig } from '../../src/dirs/dirs-config.js';
import { computeLayout } from '../../src/dirs/layout.js';
import { parseWarm } from '../../src/dirs/warm.js';
import { parseReapConfig } from '../../src/reap/reap-config.js';
import { parseStoreConfig } from '../../src/store/config.js';

// Under a dir that does not exist: the on-disk symlink check finds nothing to follow.
const R = '/nonexistent-runbox-unit';

/** What the FakeJob gives main (tools/local-runner.mjs). */
const JOB_ENV: NodeJS.ProcessEnv = {
  RUNNER_TEMP: `${R}/runner-temp`,
  RUNNER_NAME: 'runner-1',
  GITHUB_WORKSPACE: `${R}/workspace`,
  GITHUB_RUN_ID: '1001',
  GITHUB_RUN_ATTEMPT: '1',
  GITHUB_JOB: 'build',
  GITHUB_REF: 'refs/heads/main',
  GITHUB_EVENT_NAME: 'push'
};

/** The parsing main does before its first change on disk (steps/main-step.ts runMain), but the owner lookup. */
function parseMain(values: Record<string, string>, env: NodeJS.ProcessEnv = JOB_ENV): void {
  const src = inputsFrom(values);
  const cfg = parseFoundationConfig(src, env);
  parseReapConfig(src);
  parseStoreConfig(src, env);
  parseWarm(src);
  computeLayout(cfg.baseDir, jobContext(env), cfg.id);
}

interface Case {
  name: string;
  inputs: Record<string, string>;
  message: RegExp;
  env?: Record<string, string | undefined>;
}

const cases: Case[] = [
  { name: 'relative base-dir', inputs: { 'base-dir': 'runbox', dirs: 't' }, message: /Input 'base-dir': 'runbox' is not an absolute path/ },
  { name: 'base-dir /', inputs: { 'base-dir': '/', dirs: 't' }, message: /Input 'base-dir': '\/' is the root directory/ },
  { name: 'base-dir a system dir', inputs: { 'base-dir': '/var', dirs: 't' }, message: /Input 'base-dir': '\/var' is a system directory/ },
  { name: 'base-dir inside /usr', inputs: { 'base-dir': '/usr/local/share/rb', dirs: 't' }, message: /Input 'base-dir': .* inside the system directory \/usr/ },
  { name: 'base-dir with ..', inputs: { 'base-dir': `${R}/a/../b`, dirs: 't' }, message: /Input 'base-dir': .*'\.\.' component/ },
  { name: 'base-dir with an empty component', inputs: { 'base-dir': `${R}//b`, dirs: 't' }, message: /Input 'base-dir': .*empty/ },
  { name: 'empty base-dir without RUNNER_TEMP', env: { RUNNER_TEMP: undefined }, inputs: { dirs: 't' }, message: /Input 'base-dir': it is empty and RUNNER_TEMP is not set/ },
  { name: 'dir name with /', inputs: { 'base-dir': `${R}/b`, dirs: 'a/b' }, message: /Input 'dirs': 'a\/b' is not a dir name/ },
  { name: 'dir name ..', inputs: { 'base-dir': `${R}/b`, dirs: '..' }, message: /Input 'dirs': '\.\.' is not a dir name/ },
  { name: 'duplicate dir names', inputs: { 'base-dir': `${R}/b`, dirs: 'target\ntarget=X' }, message: /Input 'dirs': 'target' is listed twice/ },
  { name: 'bad env var name', inputs: { 'base-dir': `${R}/b`, dirs: 'target=cargo_dir' }, message: /Input 'dirs': 'cargo_dir' .* is not an environment variable name/ },
  { name: 'reserved env var', inputs: { 'base-dir': `${R}/b`, dirs: 'target=PATH' }, message: /Input 'dirs': 'PATH' .* is reserved/ },
  { name: 'unknown scope', inputs: { 'base-dir': `${R}/b`, dirs: 'target:forever' }, message: /Input 'dirs': scope 'forever'/ },
  { name: 'mounts /', inputs: { 'base-dir': `${R}/b`, dirs: 't', mounts: '/' }, message: /Input 'mounts': '\/' is the root directory/ },
  { name: 'mounts relative', inputs: { 'base-dir': `${R}/b`, mounts: 'cache' }, message: /Input 'mounts': 'cache' is not an absolute path/ },
  { name: 'reclaim /home', inputs: { 'base-dir': `${R}/b`, reclaim: '/home' }, message: /Input 'reclaim': '\/home' is a system directory/ },
  { name: 'reclaim containing base-dir', inputs: { 'base-dir': `${R}/b`, reclaim: R }, message: /Input 'reclaim': .* contains base-dir/ },
  { name: 'release-timeout not a duration', inputs: { 'base-dir': `${R}/b`, dirs: 't:pr', 'release-timeout': '1 min' }, message: /Input 'release-timeout': '1 min'.*Write a whole number with a unit/ },
  { name: 'release-timeout too long', inputs: { 'base-dir': `${R}/b`, dirs: 't', 'release-timeout': '3601' }, message: /Input 'release-timeout': '3601'.*at most 1h/ },
  { name: 'leftovers unknown', inputs: { 'base-dir': `${R}/b`, dirs: 't:pr', leftovers: 'ignore' }, message: /Input 'leftovers': 'ignore' is not 'kill' or 'wait'.*Write 'kill'/ },
  { name: 'keep not a boolean', inputs: { 'base-dir': `${R}/b`, dirs: 't', keep: 'yes' }, message: /Input 'keep': 'yes' is not a boolean/ },
  { name: 'missing GITHUB_RUN_ID', env: { GITHUB_RUN_ID: undefined }, inputs: { 'base-dir': `${R}/b`, dirs: 't' }, message: /GITHUB_RUN_ID is not set/ },
  { name: 'missing ref', env: { GITHUB_REF: undefined }, inputs: { 'base-dir': `${R}/b`, dirs: 't' }, message: /GITHUB_REF is not set/ },
  { name: 'gc not a size', inputs: { store: 'nix', gc: '6X' }, message: /Input 'gc': '6X' is not a size\. Write 'off', or the store's size cap with unit M, G or T/ },
  { name: 'gc zero', inputs: { store: 'nix', gc: '0G' }, message: /Input 'gc': '0G' is zero/ },
  { name: 'gc a percentage', inputs: { store: 'nix', gc: '80%' }, message: /Input 'gc': '80%' is not a size/ },
  { name: 'gc without a store', inputs: { gc: '6G' }, message: /Input 'gc': it is set while 'store' is empty/ },
  { name: 'garbage run attempt', env: { GITHUB_RUN_ATTEMPT: '../1' }, inputs: { 'base-dir': `${R}/b`, dirs: 't' }, message: /GITHUB_RUN_ATTEMPT is '\.\.\/1'/ }
];

describe('main refuses bad input, naming it', () => {
  test('control: the same shape of inputs with nothing wrong parses', () => {
    expect(() => parseMain({ 'base-dir': `${R}/b`, dirs: 'target:run=CARGO_TARGET_DIR\ncache:pr', mounts: `${R}-m`, reclaim: `${R}-r`, keep: 'true' })).not.toThrow();
    expect(() => parseMain({ dirs: 't' })).not.toThrow(); // base-dir from RUNNER_TEMP
    // gc's default ('off', as action.yml passes it) is no store setting.
    expect(() => parseMain({ dirs: 't', gc: 'off' })).not.toThrow();
    expect(parseStoreConfig(inputsFrom({ store: 'nix', gc: '6G' }), JOB_ENV)?.gcCapBytes).toBe(6 * 2 ** 30);
    expect(parseStoreConfig(inputsFrom({ store: 'nix', gc: '500MiB' }), JOB_ENV)?.gcCapBytes).toBe(500 * 2 ** 20);
    expect(parseStoreConfig(inputsFrom({ store: 'nix' }), JOB_ENV)?.gcCapBytes).toBe(0);
  });

  test.each(cases)('$name', (c) => {
    const env = { ...JOB_ENV };
    for (const [k, v] of Object.entries(c.env ?? {})) {
      if (v === undefined) delete env[k];
      else env[k] = v;
    }
    expect(() => parseMain(c.inputs, env)).toThrow(c.message);
  });
});

describe('list inputs', () => {
  test("a '#' at the start of a line or after whitespace starts a comment, as in YAML; one inside a word does not", () => {
    const src = inputsFrom({ dirs: '# the dirs\ntarget=CARGO_TARGET_DIR   # this run only\n\tregistry:pr=CARGO_REGISTRY\t# shared\n\n', mounts: '/srv/a#b\n/srv/c #d' });
    expect(src.lines('dirs')).toEqual(['target=CARGO_TARGET_DIR', 'registry:pr=CARGO_REGISTRY']);
    expect(src.lines('mounts')).toEqual(['/srv/a#b', '/srv/c']);
  });
});
