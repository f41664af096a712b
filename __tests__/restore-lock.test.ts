// The host-wide store restore lock, with real processes as the runner user (sudo for the
// root-made lock file) and real flock: restores into one store run one at a time; a waiter
// names the holder and gives up after its timeout as on a miss; other stores do not wait.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { testCli } from './helpers/bundle.js';
import { asRoot, describeWith, sudoUser, systemOptIn } from './helpers/prereq.js';
import { restoreLockPath } from '../src/lock/restore-lock.js';

const user = sudoUser();
let tmp: string;
let cliScript: string;
let lockDir: string;

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'runbox-restore-lock-'));
  fs.chmodSync(tmp, 0o755);
  cliScript = testCli('restore-lock');
});
afterAll(() => tmp && fs.rmSync(tmp, { recursive: true, force: true }));
beforeEach(() => {
  lockDir = path.join(fs.mkdtempSync(path.join(tmp, 'run-')), 'runbox');
  fs.chmodSync(path.dirname(lockDir), 0o755);
});

interface Ran {
  code: number | null;
  stdout: string;
}

function restore(storeDir: string, log: string, holdMs: number, timeoutSec: number): Promise<Ran> {
  const u = user as NonNullable<typeof user>;
  const child = spawn(process.execPath, [cliScript, storeDir, lockDir, log, String(holdMs), String(timeoutSec)], {
    uid: u.uid,
    gid: u.gid,
    cwd: '/',
    env: { PATH: process.env.PATH, HOME: tmp },
    stdio: ['ignore', 'pipe', 'pipe']
  });
  let stdout = '';
  child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr.on('data', (b: Buffer) => (stdout += b.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout })));
}

function events(log: string): Array<{ what: string; pid: number; t: number }> {
  return fs
    .readFileSync(log, 'utf8')
    .trim()
    .split('\n')
    .map((l) => l.split(' '))
    .map(([what, pid, t]) => ({ what, pid: Number(pid), t: Number(t) }));
}

function writableLog(name: string): string {
  const log = path.join(tmp, name);
  fs.writeFileSync(log, '', { mode: 0o666 });
  fs.chmodSync(log, 0o666);
  return log;
}

describeWith([systemOptIn('records in /run/runbox'), asRoot(), user ? { ok: true, reason: '' } : { ok: false, reason: 'no user runbox-ci with passwordless sudo' }])('store restore lock', () => {
  test('three restores into one store at once run one after another; the lock file is root-made and read-only to the runner', async () => {
    const log = writableLog('three.log');
    const runs = await Promise.all([0, 1, 2].map(() => restore('/gnu/store', log, 2000, 60)));
    for (const r of runs) expect(r.code).toBe(0);
    const ev = events(log);
    expect(ev.map((e) => e.what)).toEqual(['start', 'end', 'start', 'end', 'start', 'end']);
    for (let i = 0; i < 6; i += 2) expect(ev[i + 1].pid).toBe(ev[i].pid);
    // Waiters said whom they waited for.
    const waited = runs.filter((r) => /another restore into \/gnu\/store holds the host's restore lock .* \(pid \d+/.test(r.stdout));
    expect(waited.length).toBe(2);
    const st = fs.lstatSync(restoreLockPath('/gnu/store', lockDir));
    expect([st.isFile(), st.uid, st.mode & 0o777]).toEqual([true, 0, 0o644]);
    const d = fs.lstatSync(lockDir);
    expect([d.uid, d.mode & 0o777]).toEqual([0, 0o755]);
  }, 60_000);

  test('a waiter gives up after its timeout and goes on as on a miss, naming the holder; another store does not wait', async () => {
    const log = writableLog('timeout.log');
    const holder = restore('/nix/store', log, 4000, 60);
    await new Promise((r) => setTimeout(r, 1000));
    const t0 = Date.now();
    const [waiter, other] = await Promise.all([restore('/nix/store', log, 0, 1), restore('/other/store', log, 0, 0)]);
    // The holder keeps the lock for 60 s: well under that means the waiter gave up at its 1 s and
    // the other store never waited (a bound with room for a loaded machine; it took 8.8 s once).
    expect(Date.now() - t0).toBeLessThan(30_000);
    expect(waiter.code).toBe(0);
    expect(waiter.stdout).toMatch(
      /::warning::runbox store: another restore into \/nix\/store \(pid \d+.*\) held the host's restore lock for more than 1 s \(lock-timeout\); continuing as on a cache miss/
    );
    expect(other.code).toBe(0);
    expect((await holder).code).toBe(0);
    const ev = events(log);
    expect(ev.filter((e) => e.what === 'busy').length).toBe(1);
    expect(ev.filter((e) => e.what === 'start').length).toBe(2);
  }, 60_000);

  test('a lock dir another user can write to is refused: a miss, nothing locked through it', async () => {
    fs.mkdirSync(lockDir, { mode: 0o777 });
    fs.chmodSync(lockDir, 0o777);
    const log = writableLog('refused.log');
    const r = await restore('/gnu/store', log, 0, 0);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/could not be taken: .*is not a root-owned dir that only root can write to; continuing as on a cache miss/);
    expect(events(log).map((e) => e.what)).toEqual(['busy']);
  }, 60_000);
});
