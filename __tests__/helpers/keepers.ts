// Which runbox-keeper processes hold lock files under a dir: read from /proc, so a test sees
// the kernel's view of who keeps what alive.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';

export function keepersHolding(dir: string): number[] {
  const pids = spawnSync('pgrep', ['-f', '^runbox-keeper '], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).map(Number);
  return pids.filter((pid) => {
    let fds: string[];
    try {
      fds = fs.readdirSync(`/proc/${pid}/fd`);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false; // exited meanwhile
      throw e;
    }
    return fds.some((fd) => {
      try {
        return fs.readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith(dir + '/');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
        throw e;
      }
    });
  });
}
export { lockIsFree } from './processes.js';
