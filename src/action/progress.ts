// Long work that prints nothing for tens of seconds looks hung in a job log; someone then cancels
// a restore that was nearly done. A ticker says every 10 s how far the work got and how fast.
import fs from 'node:fs';
import path from 'node:path';
import * as core from '@actions/core';
import { formatBytes } from './job-summary.js';

function everyMs(): number {
  // Test-only: a test's fixture store is done in well under 10 s.
  const t = Number(process.env.RUNBOX_TEST_PROGRESS_MS);
  return Number.isFinite(t) && t > 0 ? t : 10_000;
}

/** Bytes in the regular files under `dir` (a staging dir: a few files, runner-owned). */
export function bytesUnder(dir: string): number {
  let n = 0;
  const walk = (d: string): void => {
    let names: fs.Dirent[];
    try {
      names = fs.readdirSync(d, { withFileTypes: true });
    } catch (e) {
      // Files come and go while the work runs; a dir removed under us just counts nothing.
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw e;
    }
    for (const e of names) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) n += fs.lstatSync(p, { throwIfNoEntry: false })?.size ?? 0;
    }
  };
  walk(dir);
  return n;
}

/**
 * Logs `<label>: <bytes> [of <total>] (<rate>)` every 10 s while `work` runs, from `measure`
 * (bytes done so far); returns what `work` returns.
 */
export async function withProgress<T>(label: string, measure: (() => number) | undefined, work: () => Promise<T>, total?: number): Promise<T> {
  const t0 = Date.now();
  const timer = setInterval(() => {
    if (!measure) {
      // Work whose bytes are not visible to this process (root's tar writing a root-only dir).
      core.info(`${label}: still working after ${Math.round((Date.now() - t0) / 1000)} s${total ? ` (${formatBytes(total)} in all)` : ''}`);
      return;
    }
    let done: number;
    try {
      done = measure();
    } catch (e) {
      core.debug(`${label}: progress not measured: ${(e as Error).message}`);
      return;
    }
    const sec = (Date.now() - t0) / 1000;
    core.info(`${label}: ${formatBytes(done)}${total ? ` of ${formatBytes(total)}` : ''} after ${Math.round(sec)} s (${formatBytes(sec > 0 ? done / sec : 0)}/s)`);
  }, everyMs());
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}
