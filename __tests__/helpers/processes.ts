// Real child processes for tests: lock holders that stand in for live runs, and a pool that
// kills whatever a test started, so no test leaves a process (or a held lock) behind.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';

export class ProcessPool {
  private readonly children: ChildProcess[] = [];

  track<T extends ChildProcess>(child: T): T {
    this.children.push(child);
    return child;
  }

  async killAll(): Promise<void> {
    for (const c of this.children.splice(0)) await killAndWait(c);
  }
}

export async function killAndWait(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
}

/** The first line a child prints on stdout; rejects if it exits first. */
export function firstLine(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve(out.slice(0, out.indexOf('\n')));
    });
    child.once('exit', (code, signal) => reject(new Error(`exited (${signal ?? code}) before printing: ${err}`)));
  });
}

/** A live run: util-linux flock holding `lockPath` in a sleeping process (no node involved). Resolves once held. */
export async function holdLock(pool: ProcessPool, lockPath: string, sleepSec = 1000): Promise<ChildProcess> {
  const child = pool.track(spawn('bash', ['-c', `exec 3<>"$1" && flock -x 3 && echo locked && exec sleep ${sleepSec}`, '_', lockPath], { stdio: ['ignore', 'pipe', 'pipe'] }));
  await firstLine(child);
  return child;
}

/** What an outsider sees: can a fresh open of `p` be flock'ed right now? */
export function lockIsFree(p: string): boolean {
  return spawnSync('flock', ['-n', p, 'true']).status === 0;
}
