// The store daemon is started again on every path out of a restore, also when main is SIGKILLed
// with the daemon stopped (no finally, no signal handler runs): a root-owned marker says the
// daemon is stopped and by whom; post, and the next main, start it when that process is gone.
// Real processes as the runner user runbox-ci, a real SIGKILL, and daemon-stop/daemon-start
// commands that write what they did to a file.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FakeJob } from './helpers/action-runner.js';
import { testCli } from './helpers/bundle.js';
import { asRoot, describeWith, sudoUser, systemOptIn } from './helpers/prereq.js';
import { daemonMarkerPath, withDaemonStopped } from '../src/store/daemon.js';
import { OutputLimitError, run } from '../src/sys/exec.js';

const user = sudoUser();
let tmp: string;
let cliScript: string;
const jobs: FakeJob[] = [];
const children: ChildProcess[] = [];

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'runbox-daemon-marker-'));
  fs.chmodSync(tmp, 0o755);
  cliScript = testCli('daemon-stopped');
});
afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
  jobs.forEach((j) => j.cleanup());
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

function daemonCommands(name: string): { stop: string; start: string; events: string } {
  const events = path.join(tmp, `${name}.events`);
  return { stop: `echo stop >> ${events}`, start: `echo start >> ${events}`, events };
}

const events = (file: string): string[] => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trim().split('\n').filter(Boolean) : []);

/** A restore holding the daemon stopped, as runbox-ci; resolves once the daemon is stopped. */
async function holder(d: { stop: string; start: string }): Promise<ChildProcess> {
  const u = user as NonNullable<typeof user>;
  const child = spawn(process.execPath, [cliScript, d.stop, d.start], { uid: u.uid, gid: u.gid, cwd: '/', env: { PATH: process.env.PATH, HOME: tmp }, stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (b: Buffer) => {
      out += b.toString();
      if (/^stopped$/m.test(out)) resolve();
    });
    child.once('exit', (code) => reject(new Error(`the restore stand-in exited (${code}) before the daemon was stopped:\n${out}`)));
  });
  return child;
}

async function sigkill(child: ChildProcess): Promise<void> {
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await gone;
}

function job(runId: string): FakeJob {
  const j = new FakeJob({ user: user as NonNullable<typeof user>, runId, env: { RUNBOX_STORE_ROOT: path.join(tmp, `root-${runId}`) } });
  jobs.push(j);
  return j;
}

describeWith([systemOptIn('records in /run/runbox'), asRoot(), user ? { ok: true, reason: '' } : { ok: false, reason: 'no user runbox-ci with passwordless sudo' }])(
  'daemon left stopped by a killed restore',
  () => {
    test('post starts it again after a SIGKILL mid-restore, and says so; a live restore is left alone', async () => {
      const d = daemonCommands('post');
      const marker = daemonMarkerPath({ kind: 'commands', ...d }) as string;
      const h = await holder(d);
      expect(events(d.events)).toEqual(['stop']);
      const st = fs.lstatSync(marker);
      expect([st.uid, st.mode & 0o777]).toEqual([0, 0o644]);
      expect(JSON.parse(fs.readFileSync(marker, 'utf8'))).toMatchObject({ pid: h.pid });

      const inputs = { store: 'guix', 'daemon-stop': d.stop, 'daemon-start': d.start };
      // While the restore runs, post (of another job) leaves its daemon alone.
      const live = job('900');
      await live.main(inputs); // a miss (no cache service); it too leaves the live restore's daemon alone
      const p0 = await live.post();
      expect(events(d.events)).toEqual(['stop']);
      expect(p0.stdout).toMatch(/stopped by a restore still running \(pid \d+/);

      await sigkill(h);
      expect(events(d.events)).toEqual(['stop']); // nothing ran on the way out
      const p = await live.post();
      expect(p.errors).toEqual([]);
      expect(events(d.events)).toEqual(['stop', 'start']);
      expect(p.summary).toMatch(/store daemon<\/td><td>started again \(daemon-stop\/daemon-start commands\): it had been left stopped by a restore \(pid \d+, since [^)]*\) that was killed/);
      expect(fs.existsSync(marker)).toBe(false);
      // Once only.
      await live.post();
      expect(events(d.events)).toEqual(['stop', 'start']);
    }, 60_000);

    test('the next main on the host starts it again before it restores', async () => {
      const d = daemonCommands('main');
      const h = await holder(d);
      await sigkill(h);
      const next = job('901');
      const m = await next.main({ store: 'guix', 'daemon-stop': d.stop, 'daemon-start': d.start, save: 'never' });
      expect(events(d.events)).toEqual(['stop', 'start']);
      expect(m.summary).toMatch(/store daemon<\/td><td>started again/);
      expect(fs.existsSync(daemonMarkerPath({ kind: 'commands', ...d }) as string)).toBe(false);
      await next.post();
      expect(events(d.events)).toEqual(['stop', 'start']);
    }, 60_000);

    test('a query printing a ~90M-character row fails the restore cleanly: the daemon is started again, the marker gone', async () => {
      const d = daemonCommands('huge-row');
      const ctl = { kind: 'commands' as const, stop: d.stop, start: d.start };
      const huge = withDaemonStopped(ctl, () => run('sh', ['-c', 'head -c 90000000 /dev/zero | tr "\\0" x'], { privileged: true }));
      await expect(huge).rejects.toThrow(OutputLimitError);
      expect(events(d.events)).toEqual(['stop', 'start']);
      expect(fs.existsSync(daemonMarkerPath(ctl) as string)).toBe(false);
    }, 60_000);
  }
);
