// Resolves the `owner` input to numeric ids. Names go through getent, so NSS users (LDAP,
// sssd) resolve like they would for `chown`.
import { run } from './exec.js';
import { InputError } from '../common/errors.js';

export interface Ids {
  uid: number;
  gid: number;
}

const FIX = "Write 'uid:gid' (e.g. 1000:1000), 'uid', or 'user[:group]' naming a user and group that exist on this host";

async function getent(db: 'passwd' | 'group', key: string): Promise<string[] | undefined> {
  const r = await run('getent', [db, key], { allowFailure: true });
  if (r.code === 2) return undefined; // getent: key not found
  if (r.code !== 0) throw new Error(`getent ${db} ${key} failed with ${r.code}: ${r.stderr.trim()}`);
  return r.stdout.split('\n')[0].split(':');
}

function parseId(s: string): number | undefined {
  if (!/^\d+$/.test(s)) return undefined;
  const n = Number(s);
  return n <= 0xfffffffe ? n : undefined;
}

export function runnerIds(): Ids {
  return { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
}

/**
 * A bare uid takes the primary group of the host user with that uid, or the same number when
 * the host has no such user (the usual case for container users).
 */
export async function resolveOwner(spec: string): Promise<Ids> {
  if (spec === '') return runnerIds();
  const m = /^([^:\s]+)(?::([^:\s]+))?$/.exec(spec);
  if (!m) throw new InputError('owner', `'${spec}' is not an owner`, FIX);
  const [, userPart, groupPart] = m;
  let uid = parseId(userPart);
  let primaryGid: number | undefined;
  if (uid === undefined) {
    if (/^\d+$/.test(userPart)) throw new InputError('owner', `uid ${userPart} is out of range`, FIX);
    const pw = await getent('passwd', userPart);
    if (!pw) throw new InputError('owner', `user '${userPart}' does not exist on this host`, FIX);
    uid = Number(pw[2]);
    primaryGid = Number(pw[3]);
  } else if (groupPart === undefined) {
    const pw = await getent('passwd', userPart);
    primaryGid = pw ? Number(pw[3]) : uid;
  }
  if (groupPart === undefined) return { uid, gid: primaryGid ?? uid };
  let gid = parseId(groupPart);
  if (gid === undefined) {
    if (/^\d+$/.test(groupPart)) throw new InputError('owner', `gid ${groupPart} is out of range`, FIX);
    const gr = await getent('group', groupPart);
    if (!gr) throw new InputError('owner', `group '${groupPart}' does not exist on this host`, FIX);
    gid = Number(gr[2]);
  }
  return { uid, gid };
}
