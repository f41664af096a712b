// Node side of the lock API in another process. hold: take the lock, report, hold until stdin
// closes. keep: take the lock, hand it to a keeper watching <watchPid>, report, exit.
import { acquireLock } from '../../src/lock/flock.js';
import { startKeeper } from '../../src/lock/keeper-client.js';

export default async function main(argv: string[]): Promise<void> {
  const [mode, lockPath, arg1, arg2] = argv;
  const lock = await acquireLock(lockPath, { timeoutSec: mode === 'hold' ? Number(arg1) : 0 });
  const wrote = lock.writeHolder({ runId: String(process.pid), runAttempt: '1', runner: 'cli-runner', job: mode, pid: process.pid, since: new Date().toISOString() });
  if (mode === 'keep') {
    const { pid } = await startKeeper([lock], { watchPid: Number(arg1), keeperScript: arg2 });
    console.log(JSON.stringify({ wrote, keeperPid: pid }));
  } else {
    console.log(JSON.stringify({ wrote }));
    process.stdin.resume();
    process.stdin.on('end', () => process.exit(0));
  }
}
