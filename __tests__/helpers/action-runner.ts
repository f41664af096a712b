// The tests drive the built action through the same local runner as `npm run demo`.
import fs from 'node:fs';
import path from 'node:path';

export { FakeJob, ROOT, DIST, parseFileCommands, actionDefaults, expandRunnerTemp } from '../../tools/local-runner.mjs';
export type { StepResult, JobOptions } from '../../tools/local-runner.mjs';

/** Every path under `dir` with its mode and owner: to show a failed step changed nothing. */
export function snapshotTree(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  const out: string[] = [];
  const walk = (p: string): void => {
    const st = fs.lstatSync(p);
    out.push(`${path.relative(dir, p) || '.'} ${st.mode.toString(8)} ${st.uid}:${st.gid}`);
    if (st.isDirectory()) for (const c of fs.readdirSync(p).sort()) walk(path.join(p, c));
  };
  walk(dir);
  return out;
}
