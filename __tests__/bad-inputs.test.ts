// Invalid input fails main (the built dist/) with a message naming the input, before anything is
// created, chowned or deleted.
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

// The input table lives in unit/main-inputs.test.ts (in-process, through InputSource). Here, through
// dist/, the cases that need the host: the on-disk symlink check, and the owner lookup (getent),
// which comes after every other check, so its refusal shows nothing was touched before it.
const cases: Case[] = [
  {
    name: 'base-dir through a symlink into /etc',
    setup: (r) => fs.symlinkSync('/etc', path.join(r, 'etc-link')),
    inputs: (r) => ({ 'base-dir': `${r}/etc-link/runbox`, dirs: 't' }),
    message: /Input 'base-dir': .*resolves through a symlink .*\/etc/
  },
  { name: 'owner that does not resolve', inputs: (r) => ({ 'base-dir': `${r}/b`, dirs: 't', owner: 'no-such-user-xyz' }), message: /Input 'owner': user 'no-such-user-xyz' does not exist/ },
  { name: 'owner with a bad group', inputs: (r) => ({ 'base-dir': `${r}/b`, dirs: 't', owner: '1000:no-such-group-xyz' }), message: /Input 'owner': group 'no-such-group-xyz' does not exist/ }
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
