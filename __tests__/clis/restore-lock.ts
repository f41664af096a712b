// A restore holding the host-wide store restore lock for a while, logging when it starts and ends.
import fs from 'node:fs';
import { withStoreRestoreLock } from '../../src/lock/restore-lock.js';

export default async function main(argv: string[]): Promise<void> {
  const [storeDir, dir, log, holdMs, timeoutSec] = argv;
  const note = (s: string): void => fs.appendFileSync(log, `${s} ${process.pid} ${Date.now()}\n`);
  await withStoreRestoreLock(
    storeDir,
    async (busy) => {
      if (busy) return note('busy');
      note('start');
      await new Promise((r) => setTimeout(r, Number(holdMs)));
      note('end');
    },
    { dir, timeoutSec: Number(timeoutSec) }
  );
}
