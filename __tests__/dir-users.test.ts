// The /proc scan behind "nobody uses it": real processes holding a cwd, an fd or a mount in
// another mount namespace, and dirs nobody uses (including a sibling whose name extends a used
// one) reported empty.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { scanDirUsers } from '../src/dirs/dir-users.js';
import { firstLine, ProcessPool } from './helpers/processes.js';
import { describeWith, probe } from './helpers/prereq.js';

const pool = new ProcessPool();
const root = fs.mkdtempSync('/tmp/runbox-users-');
afterAll(async () => {
  await pool.killAll();
  fs.rmSync(root, { recursive: true, force: true });
});

function mkdir(name: string): string {
  const d = path.join(root, name);
  fs.mkdirSync(d, { recursive: true });
  return d;
}

/** A shell that does `setup`, says so, then sleeps: a process that keeps using what setup touched. */
async function holder(setup: string, opts: { cwd?: string; args?: string[] } = {}): Promise<number> {
  const child = pool.track(spawn('sh', ['-c', `${setup} && echo ready && exec sleep 1000`, 'sh', ...(opts.args ?? [])], { cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] }));
  await firstLine(child);
  return child.pid as number;
}

describe('scanDirUsers', () => {
  test('a process whose cwd is inside the dir uses it; the dir next to it with a longer name is unused', async () => {
    const used = mkdir('cwd');
    const sub = mkdir('cwd/deep/er');
    const sibling = mkdir('cwd-2');
    const pid = await holder('true', { cwd: sub });
    const r = scanDirUsers([used, sibling]);
    const mine = r.users.filter((u) => u.pid === pid);
    expect(mine).toEqual([expect.objectContaining({ pid, dir: used, how: 'cwd', command: expect.stringContaining('sleep 1000') as unknown })]);
    expect(r.users.filter((u) => u.dir === sibling)).toEqual([]);
  });

  test('an open fd on a file under the dir is a use; so is a file deleted while open', async () => {
    const d = mkdir('fd');
    const other = mkdir('fd-unused');
    const pid = await holder('exec 3>"$1/log" 4>"$1/gone" && rm "$1/gone"', { cwd: '/', args: [d] });
    const r = scanDirUsers([d, other]);
    expect(r.users.filter((u) => u.pid === pid)).toEqual([expect.objectContaining({ pid, dir: d, how: 'fd' })]);
    expect(r.users.filter((u) => u.dir === other)).toEqual([]);
  });

  test('a process that let go is no longer a user', async () => {
    const d = mkdir('went');
    const child = pool.track(spawn('sleep', ['1000'], { cwd: d, stdio: 'ignore' }));
    await new Promise((r) => setTimeout(r, 100));
    expect(scanDirUsers([d]).users.map((u) => u.pid)).toContain(child.pid);
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    expect(scanDirUsers([d]).users).toEqual([]);
  });

  test('the process start time names the process, so a reused pid is told apart', async () => {
    const d = mkdir('start');
    const pid = await holder('true', { cwd: d });
    const [u] = scanDirUsers([d]).users;
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    expect(u.startTime).toBe(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
  });
});

const unshare = probe('unshare(1) with mount namespaces (root)', 'unshare', ['-m', 'true']);

describeWith([unshare])('scanDirUsers: mounts in other mount namespaces', () => {
  test('a bind mount of the dir (or of a dir under it) in another namespace is a use, wherever it is mounted there; a mount of its parent is not', async () => {
    const d = mkdir('ns/registry');
    const viaSub = mkdir('ns/target');
    mkdir('ns/target/debug');
    const parentOnly = mkdir('ns2/registry');
    const [t1, t2, t3] = [mkdir('mnt1'), mkdir('mnt2'), mkdir('mnt3')];
    // A private mount namespace, like a container's: the bind mounts do not show in ours.
    const script = 'mount --bind "$1" "$2" && mount --bind "$3/debug" "$4" && mount --bind "$5" "$6" && cd / && echo ready && exec sleep 1000';
    const child = pool.track(spawn('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script, 'sh', d, t1, viaSub, t2, path.dirname(parentOnly), t3], { stdio: ['ignore', 'pipe', 'pipe'] }));
    await firstLine(child);
    expect(fs.readdirSync(t2)).toEqual([]); // not mounted in our namespace
    const r = scanDirUsers([d, viaSub, parentOnly]);
    const viaMount = r.users.filter((u) => u.how === 'mount').sort((a, b) => a.dir.localeCompare(b.dir));
    expect(viaMount).toEqual([expect.objectContaining({ pid: child.pid, dir: d }), expect.objectContaining({ pid: child.pid, dir: viaSub })]);
    expect(r.users.filter((u) => u.dir === parentOnly)).toEqual([]);
  });
});
