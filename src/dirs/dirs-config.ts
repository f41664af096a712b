// The foundation inputs, parsed and validated before anything on disk is touched.
import path from 'node:path';
import { InputError } from '../common/errors.js';
import { parseDuration } from '../common/duration.js';
import { parseBoolean, type InputSource } from '../action/input-source.js';
import { runnerTemp } from '../action/job-context.js';
import type { DirSpec } from './layout.js';
import { RUN_DIR_PREFIX } from './layout.js';
import { checkHostPath, isUnder, symlinkedComponent } from '../sys/path-safety.js';
import type { LeftoversMode } from './leftovers.js';

export interface FoundationConfig {
  baseDir: string;
  dirs: DirSpec[];
  id: string;
  ownerSpec: string;
  mounts: string[];
  reclaim: string[];
  keep: boolean;
  lockTimeoutSec: number;
  releaseTimeoutSec: number;
  leftovers: LeftoversMode;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const ENV_VAR = /^[A-Z_][A-Z0-9_]*$/;
// Variables a later step must never have silently replaced by a dir path.
const RESERVED_ENV = /^(PATH|HOME|SHELL|USER|PWD|LD_[A-Z_]+|GITHUB_[A-Z_]+|RUNNER_[A-Z_]+|ACTIONS_[A-Z_]+)$/;

export function parseDirLine(line: string): DirSpec {
  const fix = "Write one dir per line as NAME, NAME:pr or NAME=ENV_VAR (e.g. 'target:run=CARGO_TARGET_DIR')";
  const m = /^([^:=\s]+)(?::([^=\s]*))?(?:=(\S*))?$/.exec(line);
  if (!m) throw new InputError('dirs', `line '${line}' is not NAME[:scope][=ENV_VAR]`, fix);
  const [, name, scope = 'run', envVar] = m;
  if (!NAME.test(name) || name.startsWith(RUN_DIR_PREFIX) || name.endsWith('.lock'))
    throw new InputError(
      'dirs',
      `'${name}' is not a dir name`,
      `A name is letters, digits, '.', '_' and '-', starts with a letter or digit, contains no '/', and does not start with '${RUN_DIR_PREFIX}' or end in '.lock'`
    );
  if (scope !== 'run' && scope !== 'pr') throw new InputError('dirs', `scope '${scope}' of '${name}' is unknown`, "Use ':run' (the default) or ':pr'");
  if (envVar !== undefined && !ENV_VAR.test(envVar))
    throw new InputError('dirs', `'${envVar}' (for '${name}') is not an environment variable name`, 'Use upper-case letters, digits and _, not starting with a digit, e.g. CARGO_TARGET_DIR');
  if (envVar !== undefined && RESERVED_ENV.test(envVar))
    throw new InputError('dirs', `'${envVar}' (for '${name}') is reserved by the runner or the shell`, 'Choose a variable of your own, e.g. CARGO_TARGET_DIR');
  return envVar === undefined ? { name, scope } : { name, scope, envVar };
}

function parseDirs(src: InputSource): DirSpec[] {
  const specs = src.lines('dirs').map(parseDirLine);
  const seen = new Set<string>();
  const seenEnv = new Set<string>();
  for (const s of specs) {
    if (seen.has(s.name)) throw new InputError('dirs', `'${s.name}' is listed twice`, 'Give each dir a distinct name');
    if (s.envVar && seenEnv.has(s.envVar)) throw new InputError('dirs', `'${s.envVar}' is exported by two dirs`, 'Give each dir its own variable');
    seen.add(s.name);
    if (s.envVar) seenEnv.add(s.envVar);
  }
  return specs;
}

function parsePathList(src: InputSource, name: string): string[] {
  const fix = `List absolute host paths, one per line, outside system directories (e.g. '/srv/ci/cargo-home')`;
  const out = src.lines(name).map((p) => checkHostPath(name, p, fix));
  const dup = out.find((p, i) => out.indexOf(p) !== i);
  if (dup) throw new InputError(name, `'${dup}' is listed twice`, 'List each path once');
  return out;
}

const MAX_LOCK_TIMEOUT_SEC = 6 * 3600; // a job's own maximum runtime on GitHub-hosted runners

export function parseLockTimeout(src: InputSource): number {
  const raw = src.value('lock-timeout');
  if (raw === '') return 1800;
  return parseDuration('lock-timeout', raw, { allowZero: true, maxSec: MAX_LOCK_TIMEOUT_SEC });
}

/**
 * Longer than Docker's own stop grace (10 s) plus the runner's cancel sequence (SIGINT, 7.5 s,
 * SIGTERM, 2.5 s): a container that is merely shutting down has ended by then. Only a job that
 * leaves something running pays it, and the next run of the PR waits at most this long for it.
 */
export const DEFAULT_RELEASE_TIMEOUT_SEC = 30;
const MAX_RELEASE_TIMEOUT_SEC = 3600;

function parseReleaseTimeout(src: InputSource): number {
  const raw = src.value('release-timeout');
  if (raw === '') return DEFAULT_RELEASE_TIMEOUT_SEC;
  return parseDuration('release-timeout', raw, { allowZero: true, maxSec: MAX_RELEASE_TIMEOUT_SEC });
}

/**
 * `kill` by default: when post runs the job is over, so whatever still uses its dirs is a leftover
 * the runner failed to stop (it kills a cancelled step's processes, not the step's containers);
 * `wait` would let one stuck container lock a PR's dirs for every later run.
 */
function parseLeftovers(src: InputSource): LeftoversMode {
  const raw = src.value('leftovers');
  if (raw === '') return 'kill';
  if (raw === 'kill' || raw === 'wait') return raw;
  throw new InputError('leftovers', `'${raw}' is not 'kill' or 'wait'`, "Write 'kill' (stop what still uses the dirs after release-timeout) or 'wait' (keep the dirs locked until it ends)");
}

export function parseFoundationConfig(src: InputSource, env: NodeJS.ProcessEnv = process.env): FoundationConfig {
  // action.yml declares the default, so the runner passes it when the workflow leaves base-dir
  // out; an empty value was written as an expression that expanded to nothing. Falling back to
  // RUNNER_TEMP then would silently give up what a shared base-dir is for (warm pr dirs, one
  // janitor for the host), so it fails instead.
  if (src.value('base-dir') === '' && src.given?.('base-dir'))
    throw new InputError(
      'base-dir',
      'it is empty: the workflow passes it, but its value expanded to nothing (e.g. `${{ env.X }}` or `${{ vars.X }}` with X unset)',
      "Define that variable, write the path itself (e.g. '/srv/runbox'), or leave base-dir out to use $RUNNER_TEMP/runbox, which the runner wipes between jobs"
    );
  const temp = runnerTemp(env);
  const rawBase = src.value('base-dir') || (temp !== undefined ? path.join(temp, 'runbox') : '');
  if (rawBase === '') throw new InputError('base-dir', 'it is empty and RUNNER_TEMP is not set', "Set base-dir to an absolute path such as '/srv/runbox'");
  const baseDir = checkHostPath('base-dir', rawBase, "Use an absolute path of a dir runbox may own, such as '/srv/runbox' or '${{ runner.temp }}/runbox'");
  const mounts = parsePathList(src, 'mounts');
  const reclaim = parsePathList(src, 'reclaim');
  for (const p of [...mounts, ...reclaim])
    if (p === baseDir || isUnder(baseDir, p))
      throw new InputError(mounts.includes(p) ? 'mounts' : 'reclaim', `'${p}' contains base-dir ${baseDir}`, 'List paths that do not contain base-dir; runbox manages base-dir itself');
  const id = src.value('id');
  if (/[\0\n]/.test(id)) throw new InputError('id', 'it contains a control character', 'Use a short single-line discriminator such as the matrix values');
  return {
    baseDir,
    dirs: parseDirs(src),
    id,
    ownerSpec: src.value('owner'),
    mounts,
    reclaim,
    keep: parseBoolean(src, 'keep', false),
    lockTimeoutSec: parseLockTimeout(src),
    releaseTimeoutSec: parseReleaseTimeout(src),
    leftovers: parseLeftovers(src)
  };
}

/**
 * The store's host paths, checked on disk with the other inputs, before anything is created:
 * a store path may pass only through symlinks root made (a /nix moved to another disk); the
 * staging base (RUNNER_TEMP) through none, since downloads are written there.
 */
export function checkStoreHostPaths(cfg: { root: string; storePaths: readonly string[]; stagingBase: string }): void {
  for (const p of cfg.storePaths) checkHostPath('store-paths', path.join(cfg.root, p), 'List the real store dirs', { rootMadeParents: true });
  const link = symlinkedComponent(cfg.stagingBase);
  if (link)
    throw new InputError(
      'store',
      `the staging dir RUNNER_TEMP '${cfg.stagingBase}' resolves through a symlink (${link.at} -> ${link.target}); snapshots are downloaded there`,
      `Give the runner a RUNNER_TEMP without symlinks, or remove ${link.at} if you did not make it`
    );
}
