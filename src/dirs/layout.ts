// Where each dir lives. Run dirs are unique per run, attempt, job, runner and `id`, so matrix
// legs and re-runs never share one; `pr` dirs are shared by the successive runs of one ref.
import path from 'node:path';
import type { JobContext } from '../action/job-context.js';
import { sanitizeComponent } from '../sys/path-safety.js';

export type Scope = 'run' | 'pr';

export interface DirSpec {
  name: string;
  scope: Scope;
  envVar?: string;
}

export interface Layout {
  baseDir: string;
  /** `<base>/<ref-key>` */
  refDir: string;
  /** `<base>/<ref-key>/run-<run>-<attempt>-<job-key>` */
  runDir: string;
  /** `<base>/<ref-key>[-<id>]`, parent of the `pr` dirs */
  prDir: string;
}

export const RUN_DIR_PREFIX = 'run-';

/** A dir's lock file is its sibling `<dir>.lock` (liveness.ts lockPathOf). */
export const LOCK_SUFFIX = '.lock';

function mustSanitize(what: string, raw: string): string {
  const s = sanitizeComponent(raw);
  if (s === '') throw new Error(`${what} '${raw}' has no characters usable in a directory name`);
  return s;
}

export function computeLayout(baseDir: string, ctx: JobContext, id: string): Layout {
  const refKey = mustSanitize('the ref', ctx.ref);
  const idKey = id === '' ? '' : mustSanitize('input id', id);
  const jobKey = [mustSanitize('GITHUB_JOB', ctx.job), mustSanitize('RUNNER_NAME', ctx.runnerName), idKey].filter(Boolean).join('-');
  const refDir = path.join(baseDir, refKey);
  return {
    baseDir,
    refDir,
    runDir: path.join(refDir, `${RUN_DIR_PREFIX}${ctx.runId}-${ctx.runAttempt}-${jobKey}`),
    prDir: idKey ? path.join(baseDir, `${refKey}-${idKey}`) : refDir
  };
}

export function dirPath(layout: Layout, spec: DirSpec): string {
  return path.join(spec.scope === 'run' ? layout.runDir : layout.prDir, spec.name);
}
