// The janitor as its own process: waits for a line on stdin (a start barrier, so that two of
// them really overlap), runs, prints its result on a RESULT line.
import { runJanitor } from '../../src/reap/janitor.js';

export default async function main(argv: string[]): Promise<void> {
  const [base, reapAfterSec, prReapAfterSec, exclude] = argv;
  await new Promise((resolve) => process.stdin.once('data', resolve));
  const res = await runJanitor(base, { reapAfterSec: Number(reapAfterSec), prReapAfterSec: Number(prReapAfterSec) }, { exclude: exclude ? exclude.split(',') : [] });
  process.stdout.write('\nRESULT ' + JSON.stringify(res) + '\n');
  process.exit(0);
}
