// The kernel's confinement of the extracting tar (sys/confined.ts), with no help from runbox's
// own checks: a RAW hostile archive (never through canonical-tar.ts) goes to a tar told to follow
// it (--absolute-names, --overwrite: as a tar with a bug would), and a shell stands in for a
// tar that an attacker took over. Nothing outside the command's dir may change: /tmp, /dev/shm,
// /var/tmp and the runner's home (world-writable or not), a world-writable file, a sibling
// archive's dir, the dirs around it. Run without the confinement (the command as root, in its
// dir), the same archive writes every one of those places. Nor may it reach a local user's
// path-bound Unix socket (over which it could hand out an fd of a file in its dir).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, test } from '@jest/globals';
import { runPipeline } from '../src/store/pipeline.js';
import { CONFINED_IDS, CONFINED_SLOTS, confinedCommand, confinedIds, makeConfinedDir } from '../src/sys/confined.js';
import { startProcess } from '../src/sys/exec.js';
import { withoutPivotRoot } from './helpers/no-pivot.js';
import { asRoot, describeWith, probe } from './helpers/prereq.js';
import { makeTar } from './helpers/store-tar.js';
import { removeTempDirs, tempDir } from './fixtures/store.js';

let n = 0;

interface Place {
  /** The confined command's dir: <base>/priv/0, priv root's and 0700. */
  sub: string;
  /** Another archive's dir beside it (the confined uid's), holding `keep`. */
  sibling: string;
  /** A world-writable dir (1777) beside priv, holding a world-writable root file `victim`. */
  open: string;
  victim: string;
  /** Paths outside that must never appear. */
  outside: string[];
}

async function place(): Promise<Place> {
  const base = tempDir('runbox-confine-');
  const priv = path.join(base, 'priv');
  fs.mkdirSync(priv, { mode: 0o700 });
  const sub = path.join(priv, '0');
  const sibling = path.join(priv, '1');
  await makeConfinedDir(sub);
  await makeConfinedDir(sibling);
  fs.writeFileSync(path.join(sibling, 'keep'), 'keep\n');
  const open = path.join(base, 'open');
  fs.mkdirSync(open);
  fs.chmodSync(open, 0o1777);
  const victim = path.join(open, 'victim');
  fs.writeFileSync(victim, 'victim\n');
  fs.chmodSync(victim, 0o666);
  const tag = `runbox-confine-${process.pid}-${++n}`;
  const outside = [path.join('/tmp', tag), path.join('/dev/shm', tag), path.join('/var/tmp', tag), path.join(os.homedir(), tag)];
  return { sub, sibling, open, victim, outside };
}

/** Every way the archive reaches outside its dir, each named by the path it would write. */
function hostileTar(p: Place): Buffer {
  const tag = path.basename(p.outside[0]);
  return makeTar([
    { name: 'ok', type: '0', mode: 0o644, data: 'inside\n' },
    // absolute names, into /tmp, /dev/shm, /var/tmp and the runner's home
    ...p.outside.map((o) => ({ name: o, type: '0' as const, mode: 0o644, data: 'absolute\n' })),
    // .. out of the dir: into the sibling archive's dir and the world-writable dir beside
    { name: '../1/dotdot', type: '0', mode: 0o644, data: 'dotdot\n' },
    { name: '../../open/dotdot', type: '0', mode: 0o644, data: 'dotdot\n' },
    // a symlink, then a write through it
    { name: 'shm', type: '2', linkname: '/dev/shm' },
    { name: `shm/${tag}-through`, type: '0', mode: 0o644, data: 'through\n' },
    { name: 'home', type: '2', linkname: os.homedir() },
    { name: `home/${tag}-through`, type: '0', mode: 0o644, data: 'through\n' },
    // a hard link to a world-writable file outside, then an overwrite of that file
    { name: 'hl', type: '1', linkname: p.victim },
    { name: p.victim, type: '0', mode: 0o666, data: 'owned\n' }
  ]);
}

const through = (p: Place): string[] => {
  const tag = path.basename(p.outside[0]);
  return [path.join('/dev/shm', `${tag}-through`), path.join(os.homedir(), `${tag}-through`)];
};

/** Runs `stage` with `input` on stdin; its stdout, and its failure if any. */
async function runStage(stage: { cmd: string; args: readonly string[]; privileged?: boolean }, input: Buffer): Promise<{ stdout: string; error?: string }> {
  let stdout = '';
  try {
    await runPipeline([stage], {
      feed: (stdin) => {
        // EPIPE when the command exits first; its exit status is what counts.
        stdin.on('error', () => undefined);
        return new Promise<void>((resolve) => {
          stdin.once('close', () => resolve());
          stdin.end(input, () => resolve());
        });
      },
      consume: async (out) => {
        for await (const c of out as AsyncIterable<Buffer>) stdout += c.toString();
      }
    });
    return { stdout };
  } catch (e) {
    return { stdout, error: (e as Error).message };
  }
}

/** What must hold after any run: nothing outside `sub` written. */
function expectNothingOutside(p: Place): void {
  for (const o of [...p.outside, ...through(p)]) expect(`${o}: ${fs.existsSync(o) ? 'written' : 'absent'}`).toBe(`${o}: absent`);
  expect(fs.readdirSync(p.sibling)).toEqual(['keep']);
  expect(fs.readdirSync(p.open)).toEqual(['victim']);
  expect(fs.readFileSync(p.victim, 'utf8')).toBe('victim\n');
  expect(fs.statSync(p.victim).nlink).toBe(1);
}

function cleanOutside(p: Place): void {
  for (const o of [...p.outside, ...through(p)]) fs.rmSync(o, { force: true });
}

const TAR_FOLLOWING = ['-x', '-f', '-', '--absolute-names', '--overwrite', '--no-same-owner'];

describeWith([asRoot(), probe('GNU tar', 'tar'), probe('unshare', 'unshare'), probe('setpriv', 'setpriv')])('the confined extractor (sys/confined.ts)', () => {
  afterAll(removeTempDirs);

  test('a raw hostile archive, through a tar that follows it: nothing outside its dir changes; inside, its files are the confined uid’s', async () => {
    const p = await place();
    try {
      const r = await runStage(confinedCommand(p.sub, 'tar', TAR_FOLLOWING), hostileTar(p));
      // tar went on past each refused write and said so: the kernel refused them, not tar.
      expect(r.error).toMatch(/Read-only file system|Permission denied/);
      expectNothingOutside(p);
      const ok = fs.statSync(path.join(p.sub, 'ok'));
      expect(fs.readFileSync(path.join(p.sub, 'ok'), 'utf8')).toBe('inside\n');
      expect([ok.uid, ok.gid]).toEqual([CONFINED_IDS.uid, CONFINED_IDS.gid]);
      // The dir is still a plain dir of the host's filesystem: no mount of the namespace leaked.
      expect(fs.readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(` ${p.sub} `);
    } finally {
      cleanOutside(p);
    }
  });

  test('a tar taken over (a shell as the confined uid): no write outside, no link in, no process left behind', async () => {
    const p = await place();
    const script = `
      for f in "$@" ../1/x ../../open/x ../../x; do (echo x > "$f") 2>/dev/null && echo "WROTE $f"; done
      ln -- "$VICTIM" hl 2>/dev/null && echo LINKED
      (echo x >> "$VICTIM") 2>/dev/null && echo APPENDED
      ls /proc | grep -c '^[0-9]' | sed 's/^/PIDS /'
      id -u | sed 's/^/UID /'
      (sleep 2; echo late > late) &
      echo own > own`;
    try {
      const stage = confinedCommand(p.sub, 'env', [`VICTIM=${p.victim}`, 'sh', '-c', script, 'taken-over', ...p.outside]);
      const r = await runStage(stage, Buffer.alloc(0));
      expect(r.error).toBeUndefined();
      expect(r.stdout).not.toMatch(/WROTE|LINKED|APPENDED/);
      expect(r.stdout).toContain(`UID ${CONFINED_IDS.uid}\n`);
      // Its own pid namespace and /proc: itself, ls, grep, sed, the subshells; not the host's processes.
      expect(Number(/PIDS (\d+)/.exec(r.stdout)?.[1])).toBeLessThan(10);
      expect(fs.readFileSync(path.join(p.sub, 'own'), 'utf8')).toBe('own\n');
      // The background writer died with the namespace's init.
      await new Promise((resolve) => setTimeout(resolve, 3000));
      expect(fs.existsSync(path.join(p.sub, 'late'))).toBe(false);
      expectNothingOutside(p);
    } finally {
      cleanOutside(p);
    }
  });

  test('a tar taken over cannot reach a path-bound Unix socket of a local user to hand out an fd of its dir; it sees no /tmp, /home, /run, /dev/shm', async () => {
    // A local user (runbox-nosudo) listens on 0777 sockets in /tmp and in its home. Neither the
    // network namespace (abstract sockets only) nor a read-only mount stops connect(2) to a path;
    // a tar that reached one could pass out a read-write fd of a file in its dir (SCM_RIGHTS),
    // still open after that file is given to root and renamed into the store.
    const nosudo = { uid: Number(spawnSync('id', ['-u', 'runbox-nosudo'], { encoding: 'utf8' }).stdout), gid: Number(spawnSync('id', ['-g', 'runbox-nosudo'], { encoding: 'utf8' }).stdout) };
    const home = spawnSync('getent', ['passwd', 'runbox-nosudo'], { encoding: 'utf8' }).stdout.split(':')[5];
    const p = await place();
    const tag = path.basename(p.outside[0]);
    const socks = [path.join('/tmp', `${tag}.sock`), path.join(home, `${tag}.sock`)];
    const listenerScript = `
import fcntl, os, select, socket, sys
socks = []
for p in sys.argv[1:]:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(p)
    os.chmod(p, 0o777)
    s.listen(8)
    socks.append(s)
print('LISTENING', flush=True)
while True:
    for s in select.select(socks, [], [])[0]:
        c = s.accept()[0]
        print('ACCEPTED', s.getsockname(), flush=True)
        c.settimeout(5)
        fds = socket.recv_fds(c, 64, 8)[1]
        for fd in fds:
            mode = fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE
            print('RECEIVED FD', os.readlink('/proc/self/fd/%d' % fd), 'read-write' if mode == os.O_RDWR else 'mode %d' % mode, flush=True)
        c.close()
`;
    const listener = spawn('/usr/bin/python3', ['-c', listenerScript, ...socks], { cwd: '/', uid: nosudo.uid, gid: nosudo.gid, stdio: ['ignore', 'pipe', 'inherit'] });
    let heard = '';
    listener.stdout.on('data', (c: Buffer) => (heard += c.toString()));
    const until = async (what: () => boolean): Promise<void> => {
      for (let i = 0; i < 100 && !what(); i++) await new Promise((resolve) => setTimeout(resolve, 50));
    };
    // The stand-in: a file of its dir opened read-write, offered on every socket it can reach.
    const standIn = `
import errno, os, socket, sys
for d in ('/tmp', '/home', '/run', '/dev/shm', '/var'):
    print('SEES' if os.path.lexists(d) else 'NO', d)
fd = os.open('stolen', os.O_RDWR | os.O_CREAT, 0o644)
for p in sys.argv[1:]:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(p)
    except OSError as e:
        print('UNREACHABLE', p, errno.errorcode[e.errno])
        continue
    socket.send_fds(s, [b'x'], [fd])
    print('SENT', p)
`;
    try {
      await until(() => heard.includes('LISTENING'));
      expect(heard).toContain('LISTENING');
      const r = await runStage(confinedCommand(p.sub, '/usr/bin/python3', ['-c', standIn, ...socks]), Buffer.alloc(0));
      expect(r.error).toBeUndefined();
      // The listener was live all along: the test's own connections (from outside) are accepted,
      // and they are the only ones it ever saw.
      for (const s of socks)
        await new Promise<void>((resolve, reject) =>
          net
            .connect(s)
            .once('connect', function (this: net.Socket) {
              this.end();
              resolve();
            })
            .once('error', reject)
        );
      await until(() => (heard.match(/ACCEPTED/g) ?? []).length >= socks.length);
      expect(heard).not.toContain('RECEIVED FD');
      expect((heard.match(/ACCEPTED/g) ?? []).length).toBe(socks.length);
      for (const d of ['/tmp', '/home', '/run', '/dev/shm']) expect(r.stdout).toContain(`NO ${d}\n`);
      for (const s of socks) expect(r.stdout).toContain(`UNREACHABLE ${s} ENOENT\n`);
      expect(r.stdout).not.toContain('SENT');
      expect(fs.existsSync(path.join(p.sub, 'stolen'))).toBe(true);
    } finally {
      if (listener.exitCode === null && listener.signalCode === null) {
        const exited = new Promise((resolve) => listener.once('exit', resolve));
        listener.kill('SIGKILL');
        await exited;
      }
      for (const s of socks) fs.rmSync(s, { force: true });
    }
  });

  /**
   * The confined command's whole mount namespace, as root sees it on entering it (setns puts the
   * entering process at the namespace's root mount: what an escape from the command's root
   * could reach; the pid namespace too, for its /proc/self). `pivot` false: pivot_root fails
   * (helpers/no-pivot.ts), so the fallback remounts every writable host mount read-only instead.
   */
  async function namespaceMounts(p: Place, pivot: boolean): Promise<{ mountPoint: string; ro: boolean }[]> {
    const marker = `${5000 + (process.pid % 1000)}.${++n}`;
    const stage = confinedCommand(p.sub, 'sleep', [marker]);
    const start = (): ReturnType<typeof startProcess> => startProcess(stage.cmd, stage.args, { privileged: true, stdio: ['pipe', 'ignore', 'pipe'] });
    const { child } = pivot ? start() : await withoutPivotRoot(() => Promise.resolve(start()));
    const closed = new Promise((resolve) => child.once('close', resolve));
    try {
      let pid = '';
      for (let i = 0; i < 100 && pid === ''; i++) {
        pid = spawnSync('pgrep', ['-x', '-f', `sleep ${marker}`], { encoding: 'utf8' }).stdout.trim();
        if (pid === '') await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(pid).toMatch(/^\d+$/);
      const r = spawnSync('nsenter', ['-t', pid, '-m', '-p', 'cat', '/proc/self/mountinfo'], { encoding: 'utf8' });
      expect(r.stderr).toBe('');
      return r.stdout
        .trim()
        .split('\n')
        .map((l) => l.split(' '))
        .map((f) => ({ mountPoint: f[4], ro: /^ro(,|$)/.test(f[5]) }));
    } finally {
      child.kill('SIGTERM');
      await closed;
    }
  }

  test('its namespace holds no mount of the host: only its root, read-only binds of /usr and a few files, and its dir', async () => {
    const p = await place();
    const mounts = await namespaceMounts(p, true);
    const allowed = ['/', '/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32', '/etc/ld.so.cache', '/dev/null', '/proc', '/extract'];
    expect(mounts.map((m) => m.mountPoint).filter((m) => !allowed.includes(m))).toEqual([]);
    expect(mounts.filter((m) => !m.ro).map((m) => m.mountPoint)).toEqual(['/extract']);
  });

  test('where pivot_root is refused, every host mount stays in its namespace read-only, and a hostile archive still writes nothing outside', async () => {
    const p = await place();
    const mounts = await namespaceMounts(p, false);
    // The host's mounts are there (the namespace kept the old root): its root and every mount a
    // path reaches read-only (the mounts its root covers, under /sys, stay as they are), the
    // dir's bind writable. What a writer can reach is what the hostile archive below tries.
    expect(mounts.length).toBeGreaterThan(6);
    const topmost = (mp: string): { mountPoint: string; ro: boolean } | undefined => mounts.filter((m) => m.mountPoint === mp).at(-1);
    expect(topmost('/')?.ro).toBe(true);
    expect(topmost('/sys')?.ro).toBe(true);
    expect(topmost('/sys/extract')?.ro).toBe(false);
    try {
      const r = await withoutPivotRoot(() => runStage(confinedCommand(p.sub, 'tar', TAR_FOLLOWING), hostileTar(p)));
      expect(r.error).toMatch(/Read-only file system|Permission denied/);
      expectNothingOutside(p);
      expect(fs.readFileSync(path.join(p.sub, 'ok'), 'utf8')).toBe('inside\n');
    } finally {
      cleanOutside(p);
    }
  });

  test('a cancel (SIGTERM, as exec.stopChildren sends) ends the confined command and its namespace', async () => {
    const p = await place();
    const marker = `${4000 + (process.pid % 1000)}.${n}`;
    const stage = confinedCommand(p.sub, 'sleep', [marker]);
    const { child } = startProcess(stage.cmd, stage.args, { privileged: true, stdio: ['pipe', 'ignore', 'pipe'] });
    const closed = new Promise<number | null>((resolve) => child.once('close', (code, signal) => resolve(code ?? (signal ? 128 : null))));
    const running = (): boolean =>
      spawnSync('ps', ['-eo', 'args'], { encoding: 'utf8' })
        .stdout.split('\n')
        .some((l) => l === `sleep ${marker}`);
    for (let i = 0; i < 100 && !running(); i++) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(running()).toBe(true);
    child.kill('SIGTERM');
    expect(await closed).not.toBe(0);
    expect(running()).toBe(false);
  });

  test('the unprivileged ids (one per entry of a restore) belong to no user or group of this host', () => {
    expect(confinedIds(0)).toEqual(CONFINED_IDS);
    expect(confinedIds(1).uid).not.toBe(CONFINED_IDS.uid);
    for (let slot = 0; slot < CONFINED_SLOTS; slot++) for (const db of ['passwd', 'group']) expect(spawnSync('getent', [db, String(confinedIds(slot).uid)]).status).toBe(2);
  });
});
