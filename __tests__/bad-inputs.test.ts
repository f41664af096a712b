// Every invalid input fails main with a message naming the input, before anything is created,
// chowned or deleted.
import fs from 'node:fs';
import path from 'node:path';
import { FakeJob, snapshotTree } from './helpers/action-runner.js';
import { asRoot, describeWith, sudoUser } from './helpers/prereq.js';

const jobs: FakeJob[] = [];
afterAll(() => jobs.forEach((j) => j.cleanup()));

interface Case {
  name: string;
  inputs: (root: string) => Record<string, string>;
  message: RegExp;
  env?: Record<string, string | undefined>;
  setup?: (root: string) => void;
}

const cases: Case[] = [
  { name: 'relative base-dir', inputs: () => ({ 'base-dir': 'runbox', dirs: 't' }), message: /Input 'base-dir': 'runbox' is not an absolute path/ },
  { name: 'base-dir /', inputs: () => ({ 'base-dir': '/', dirs: 't' }), message: /Input 'base-dir': '\/' is the root directory/ },
  { name: 'base-dir a system dir', inputs: () => ({ 'base-dir': '/var', dirs: 't' }), message: /Input 'base-dir': '\/var' is a system directory/ },
  { name: 'base-dir inside /usr', inputs: () => ({ 'base-dir': '/usr/local/share/rb', dirs: 't' }), message: /Input 'base-dir': .* inside the system directory \/usr/ },
  { name: 'base-dir with ..', inputs: (r) => ({ 'base-dir': `${r}/a/../b`, dirs: 't' }), message: /Input 'base-dir': .*'\.\.' component/ },
  { name: 'base-dir with an empty component', inputs: (r) => ({ 'base-dir': `${r}//b`, dirs: 't' }), message: /Input 'base-dir': .*empty/ },
  {
    name: 'base-dir through a symlink into /etc',
    setup: (r) => fs.symlinkSync('/etc', path.join(r, 'etc-link')),
    inputs: (r) => ({ 'base-dir': `${r}/etc-link/runbox`, dirs: 't' }),
    message: /Input 'base-dir': .*resolves through a symlink .*\/etc/
  },
  { name: 'empty base-dir without RUNNER_TEMP', env: { RUNNER_TEMP: undefined }, inputs: () => ({ dirs: 't' }), message: /Input 'base-dir': it is empty and RUNNER_TEMP is not set/ },
  { name: 'dir name with /', inputs: (r) => ({ 'base-dir': `${r}/b`, dirs: 'a/b' }), message: /Input 'dirs': 'a\/b' is not a dir name/ },
  { name: 'dir name ..', inputs: (r) => ({ 'base-dir': `${r}/b`, dirs: '..' }), message: /Input 'dirs': '\.\.' is not a dir name/ },
  { name: 'duplicate dir names', inputs: (r) => ({ 'base-dir': `${r}/b`, dirs: 'target\ntarget=X' }), message: /Input 'dirs': 'target' is listed twice/ },
  { name: 'bad env var name', inputs: (r) => ({ 'base-dir': `${r}/b`, dirs: 'target=cargo_dir' }), message: /Input 'dirs': 'cargo_dir' .* is not an environment variable name/ },
  { name: 'reserved env var', inputs: (r) => ({ 'base-dir': `${r}/b`, dirs: 'target=PATH' }), message: /Input 'dirs': 'PATH' .* is reserved/ },
  { name: 'unknown scope', inputs: (r) => ({ 'base-dir': `${r}/b`, dirs: 'target:forever' }), message: /Input 'dirs': scope 'forever'/ },
  { name: 'owner that does not resolve', inputs: (r) => ({ 'base-dir': `${r}/b`, dirs: 't', owner: 'no-such-user-xyz' }), message: /Input 'owner': user 'no-such-user-xyz' does not exist/ },
  { name: 'owner with a bad group', inputs: (r) => ({ 'base-dir': `${r}/b`, dirs: 't', owner: '1000:no-such-group-xyz' }), message: /Input 'owner': group 'no-such-group-xyz' does not exist/ },
  { name: 'mounts /', inputs: (r) => ({ 'base-dir': `${r}/b`, dirs: 't', mounts: '/' }), message: /Input 'mounts': '\/' is the root directory/ },
  { name: 'mounts relative', inputs: (r) => ({ 'base-dir': `${r}/b`, mounts: 'cache' }), message: /Input 'mounts': 'cache' is not an absolute path/ },
  { name: 'reclaim /home', inputs: (r) => ({ 'base-dir': `${r}/b`, reclaim: '/home' }), message: /Input 'reclaim': '\/home' is a system directory/ },
  { name: 'reclaim containing base-dir', inputs: (r) => ({ 'base-dir': `${r}/b`, reclaim: r }), message: /Input 'reclaim': .* contains base-dir/ },
  { name: 'release-timeout not a duration', inputs: (r) => ({ 'base-dir': `${r}/b`, dirs: 't:pr', 'release-timeout': '1 min' }), message: /Input 'release-timeout': '1 min'.*Write a whole number with a unit/ },
  { name: 'release-timeout too long', inputs: (r) => ({ 'base-dir': `${r}/b`, dirs: 't', 'release-timeout': '3601' }), message: /Input 'release-timeout': '3601'.*at most 1h/ },
  { name: 'leftovers unknown', inputs: (r) => ({ 'base-dir': `${r}/b`, dirs: 't:pr', leftovers: 'ignore' }), message: /Input 'leftovers': 'ignore' is not 'kill' or 'wait'.*Write 'kill'/ },
  { name: 'keep not a boolean', inputs: (r) => ({ 'base-dir': `${r}/b`, dirs: 't', keep: 'yes' }), message: /Input 'keep': 'yes' is not a boolean/ },
  { name: 'missing GITHUB_RUN_ID', env: { GITHUB_RUN_ID: undefined }, inputs: (r) => ({ 'base-dir': `${r}/b`, dirs: 't' }), message: /GITHUB_RUN_ID is not set/ },
  { name: 'missing ref', env: { GITHUB_REF: undefined }, inputs: (r) => ({ 'base-dir': `${r}/b`, dirs: 't' }), message: /GITHUB_REF is not set/ },
  { name: 'garbage run attempt', env: { GITHUB_RUN_ATTEMPT: '../1' }, inputs: (r) => ({ 'base-dir': `${r}/b`, dirs: 't' }), message: /GITHUB_RUN_ATTEMPT is '\.\.\/1'/ }
];

describe('bad input is refused before anything changes', () => {
  test.each(cases)('$name', async (c) => {
    const j = new FakeJob(c.env ? { env: c.env } : {});
    jobs.push(j);
    c.setup?.(j.root);
    const before = snapshotTree(j.root).filter((l) => !l.startsWith('files'));
    const r = await j.main(c.inputs(j.root));
    expect(r.code).not.toBe(0);
    expect(r.errors.join('\n')).toMatch(c.message);
    expect(snapshotTree(j.root).filter((l) => !l.startsWith('files'))).toEqual(before);
  });
});

const nosudo = sudoUser('runbox-nosudo');
describeWith([asRoot(), nosudo ? { ok: true, reason: '' } : { ok: false, reason: 'no user runbox-nosudo (.ci/run creates it)' }])('without passwordless sudo', () => {
  test('an owner other than the runner fails naming sudo, before creating anything', async () => {
    const u = nosudo as NonNullable<typeof nosudo>;
    const j = new FakeJob({ user: u });
    jobs.push(j);
    const base = path.join(j.runnerTemp, 'runbox');
    const r = await j.main({ 'base-dir': base, dirs: 't', owner: '2000:2000' });
    expect(r.code).not.toBe(0);
    expect(r.errors.join('\n')).toMatch(/needs root rights to give dirs .* `sudo -n true` failed.*passwordless sudo/);
    expect(fs.existsSync(base)).toBe(false);
  });
});
