// What a finished job left running in its dirs, and what post does about it. The runner kills a
// cancelled step's process tree, but a container is the Docker daemon's child, not the step's:
// its PID 1 may ignore the signals and keep writing into a dir that the next run of the PR is
// about to get. Post waits for such users (`release-timeout`), then kills them or keeps the
// dirs locked (`leftovers`); the next run and the janitor check for users too (dirs.liveness,
// reap/reaper) since post never runs after a hard kill.
import * as core from '@actions/core';
import { errorMessage } from '../common/errors.js';
import { ensurePrivilege, isRoot, run } from '../sys/exec.js';
import { keeperScript } from '../lock/keeper-client.js';
import { scanDirUsers, type DirUser, type ScanResult } from './dir-users.js';

export type LeftoversMode = 'wait' | 'kill';

export interface Users {
  users: DirUser[];
  /** Processes whose cwd and fds could not be read (no root, no sudo): they may use a dir unseen. */
  unreadable: number;
}

/** Users of `dirs` now. As root in-process; otherwise dist/keeper.js --dir-users through sudo. */
export async function findUsers(dirs: readonly string[]): Promise<Users> {
  if (dirs.length === 0) return { users: [], unreadable: 0 };
  const except = new Set([process.pid]);
  if (isRoot()) return scanDirUsers(dirs, { except });
  try {
    await ensurePrivilege('see which processes use the dirs');
  } catch (e) {
    // Mounts (containers) and the runner user's own processes are visible without root.
    core.debug(`runbox: scanning for dir users without root (${errorMessage(e)})`);
    return scanDirUsers(dirs, { except });
  }
  const r = await run(process.execPath, [keeperScript(), '--dir-users', '--except', String(process.pid), '--', ...dirs], { privileged: true });
  return JSON.parse(r.stdout) as ScanResult;
}

/** Container names by id, from whichever runtime knows the container. */
export type ContainerNames = Map<string, { name: string; runtime: string }>;

export async function containerNames(users: readonly DirUser[]): Promise<ContainerNames> {
  const ids = [...new Set(users.map((u) => u.containerId).filter((id): id is string => id !== undefined))];
  const out: ContainerNames = new Map();
  for (const runtime of ['docker', 'podman']) {
    const missing = ids.filter((id) => !out.has(id));
    if (missing.length === 0) break;
    const r = await runtimeCommand(runtime, ['inspect', '--format', '{{.Id}} {{.Name}}', ...missing]);
    for (const line of r?.stdout.split('\n') ?? []) {
      const [id, name] = line.trim().split(' ');
      if (id && name && missing.includes(id)) out.set(id, { name: name.replace(/^\//, ''), runtime });
    }
  }
  return out;
}

/**
 * A container runtime's CLI as the runner user (in the docker group, say), else as root. undefined
 * when the runtime is not installed or answers neither way; `inspect` of several ids exits
 * non-zero when one is unknown but still prints the others.
 */
async function runtimeCommand(runtime: string, args: string[]): Promise<{ code: number; stdout: string } | undefined> {
  for (const privileged of isRoot() ? [false] : [false, true]) {
    try {
      const r = await run(runtime, args, { allowFailure: true, privileged });
      if (r.stdout.trim() !== '' || r.code === 0) return r;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  }
  return undefined;
}

/** One line per container or process: `container 3f2a... (name): sh -c ... (pid 123, mount of <dir>)`. */
export function describeUsers(users: readonly DirUser[], names: ContainerNames): string {
  const parts: string[] = [];
  const byContainer = new Map<string, DirUser[]>();
  for (const u of users) {
    if (u.containerId) byContainer.set(u.containerId, [...(byContainer.get(u.containerId) ?? []), u]);
    else parts.push(`pid ${u.pid} \`${u.command}\` (${u.how} in ${u.dir})`);
  }
  for (const [id, us] of byContainer) {
    const n = names.get(id);
    const pids = [...new Set(us.map((u) => u.pid))];
    const dirs = [...new Set(us.map((u) => u.dir))];
    parts.unshift(
      `container ${id.slice(0, 12)}${n ? ` (${n.name})` : ''}: pid ${pids.slice(0, 3).join(', ')}${pids.length > 3 ? ` and ${pids.length - 3} more` : ''} \`${us[0].command}\` (${us[0].how} of ${dirs.join(', ')})`
    );
  }
  return parts.join('; ');
}

/** Polls until nothing uses `dirs` or the deadline passes; returns who still does. */
export async function waitUnused(dirs: readonly string[], deadline: number, pollMs = 1000): Promise<DirUser[]> {
  for (;;) {
    const { users } = await findUsers(dirs);
    if (users.length === 0 || Date.now() >= deadline) return users;
    await new Promise((r) => setTimeout(r, Math.min(pollMs, Math.max(0, deadline - Date.now()))));
  }
}

/**
 * Kills what still uses the dirs: a container through its runtime (so `--rm` removes it and the
 * runtime knows it ended), any other process with SIGKILL after checking it is still the same
 * process (pid and start time). Returns who still uses the dirs after a short wait.
 */
export async function killUsers(dirs: readonly string[], users: readonly DirUser[], names: ContainerNames): Promise<DirUser[]> {
  const containers = [...new Set(users.map((u) => u.containerId).filter((id): id is string => id !== undefined))];
  for (const id of containers) {
    const runtime = names.get(id)?.runtime ?? 'docker';
    const r = await runtimeCommand(runtime, ['kill', id]);
    if (!r || r.code !== 0) core.warning(`runbox: could not kill container ${id.slice(0, 12)} with ${runtime}; killing its processes`);
  }
  // The runtime reaps its container's processes within a moment; what is left then (a process
  // outside any container, or a container its runtime would not kill) gets SIGKILL, but only a
  // process seen before (same pid and start time) or of the same container: pids get reused.
  const known = new Set(users.map((u) => `${u.pid}/${u.startTime}`));
  const current = await waitUnused(dirs, Date.now() + (containers.length > 0 ? 5000 : 0), 250);
  const pids = [...new Set(current.filter((u) => known.has(`${u.pid}/${u.startTime}`) || (u.containerId && containers.includes(u.containerId))).map((u) => u.pid))];
  if (pids.length > 0) {
    const r = await run('kill', ['-KILL', ...pids.map(String)], { privileged: !isRoot(), allowFailure: true });
    if (r.code !== 0) core.warning(`runbox: kill -KILL ${pids.join(' ')}: ${r.stderr.trim() || `exit ${r.code}`}`);
  }
  return waitUnused(dirs, Date.now() + 10_000, 250);
}

export interface SettleResult {
  /** What still uses the dirs: only non-empty with `leftovers: wait`, or when killing failed. */
  remaining: DirUser[];
}

/**
 * Post, before it removes or releases any dir: wait up to `timeoutSec` for whatever still uses
 * them, then kill it or leave it (the caller keeps the dirs locked). Says what it did in the
 * log and in `report`.
 */
export async function settleLeftovers(dirs: readonly string[], opts: { timeoutSec: number; mode: LeftoversMode }, report: { add(key: string, value: string): void }): Promise<SettleResult> {
  const first = await findUsers(dirs);
  if (first.unreadable > 0) core.info(`runbox: ${first.unreadable} process(es) could not be checked for use of this job's dirs (no root rights)`);
  if (first.users.length === 0) return { remaining: [] };
  const names = await containerNames(first.users);
  const what = describeUsers(first.users, names);
  core.info(`runbox: this job's dirs are still in use; waiting up to ${opts.timeoutSec} s (release-timeout) before they are released: ${what}`);
  const t0 = Date.now();
  const left = await waitUnused(dirs, t0 + opts.timeoutSec * 1000);
  const waited = Math.round((Date.now() - t0) / 1000);
  if (left.length === 0) {
    report.add('waited', `${waited} s until nothing used the dirs any more: ${what}`);
    return { remaining: [] };
  }
  const leftNames = await containerNames(left);
  const leftWhat = describeUsers(left, leftNames);
  if (opts.mode === 'wait') {
    const msg = `still in use after ${waited} s (leftovers: wait), the dirs stay locked until it ends: ${leftWhat}`;
    core.warning(`runbox: ${msg}`);
    report.add('left locked', msg);
    return { remaining: left };
  }
  core.info(`runbox: killing what still uses this job's dirs after ${waited} s (leftovers: kill): ${leftWhat}`);
  const after = await killUsers(dirs, left, leftNames);
  report.add('killed', `after waiting ${waited} s: ${leftWhat}`);
  if (after.length > 0) {
    const msg = `could not stop everything that uses the dirs; they stay locked until it ends: ${describeUsers(after, await containerNames(after))}`;
    core.warning(`runbox: ${msg}`);
    report.add('left locked', msg);
  }
  return { remaining: after };
}
