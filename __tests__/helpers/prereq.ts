// A test that needs a tool the machine lacks: under CI=true that is a failure (CI installs
// everything); on a laptop the test is skipped with the reason printed.
import { spawnSync } from 'node:child_process';

export interface Prereq {
  ok: boolean;
  reason: string;
}

export function probe(what: string, cmd: string, args: string[] = ['--version']): Prereq {
  const r = spawnSync(cmd, args, { stdio: 'ignore' });
  return r.status === 0 ? { ok: true, reason: '' } : { ok: false, reason: `${what} is not available (\`${cmd} ${args.join(' ')}\` failed)` };
}

export interface SudoUser {
  name: string;
  uid: number;
  gid: number;
}

/** The non-root runner account with passwordless sudo that .ci/run creates. */
export function sudoUser(name = 'runbox-ci'): SudoUser | undefined {
  const id = spawnSync('id', ['-u', name], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', name], { encoding: 'utf8' });
  if (id.status !== 0 || gid.status !== 0) return undefined;
  if (process.getuid?.() !== 0) return undefined;
  const sudo = spawnSync('sudo', ['-n', '-u', name, 'sudo', '-n', 'true'], { stdio: 'ignore' });
  if (name === 'runbox-ci' && sudo.status !== 0) return undefined;
  return { name, uid: Number(id.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

/** `describe`, or `describe.skip` with a visible reason; under CI=true a missing prereq fails. */
export function describeWith(prereqs: Prereq[]): jest.Describe {
  const missing = prereqs.filter((p) => !p.ok).map((p) => p.reason);
  if (missing.length === 0) return describe;
  if (process.env.CI === 'true') throw new Error(`CI=true but a test prerequisite is missing: ${missing.join('; ')}`);
  console.warn(`SKIPPED: ${missing.join('; ')}`);
  return describe.skip;
}

export function asRoot(): Prereq {
  return process.getuid?.() === 0 ? { ok: true, reason: '' } : { ok: false, reason: 'the tests that switch users must run as root' };
}

/**
 * Tests that change the host itself (its /nix/store and nix-daemon, dockerd's containers, root's
 * records in /run/runbox) run only under CI=true or with RUNBOX_TEST_SYSTEM=1, never by surprise
 * on a laptop; skipped, they say how to opt in.
 */
export function systemOptIn(what: string): Prereq {
  if (process.env.CI === 'true' || process.env.RUNBOX_TEST_SYSTEM === '1') return { ok: true, reason: '' };
  return { ok: false, reason: `these tests change the host's ${what}; they run under CI=true or with RUNBOX_TEST_SYSTEM=1` };
}
