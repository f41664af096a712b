// The store-snapshot inputs, parsed and validated before anything happens: a snapshot is
// extracted as root into `/`, so a wrong store path must be refused here, not discovered later.
import type { KeyObject } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import * as core from '@actions/core';
import { parseBoolean } from '../action/input-source.js';
import { InputError } from '../common/errors.js';
import { parseSize } from '../common/size.js';
import type { InputSource } from '../action/input-source.js';
import { runnerTemp } from '../action/job-context.js';
import { checkHostPathOnDisk, isUnder, pathProblem } from '../sys/path-safety.js';
import { parsePrivateKey, parseTrustedKey, type TrustedKey } from './entry/signing.js';
import { PRESETS, type StoreKind } from './presets.js';
import { MAX_SHARDS } from './shards.js';

export type SaveMode = 'auto' | 'always' | 'never';
/** `auto`: post saves a delta over the restored full snapshot when few items are new; `off`: always full. */
export type DeltaMode = 'auto' | 'off';

export type DaemonControl =
  | { kind: 'none' }
  | { kind: 'systemd'; unit: string }
  /** Shell commands (run with root rights through `sh -c`) for hosts without systemd. */
  | { kind: 'commands'; stop: string; start: string };

export interface StoreConfig {
  kind: StoreKind;
  /** Absolute, normalised, non-overlapping. */
  storePaths: string[];
  /** The preset's DB dir when it lies within storePaths; its SQLite files are merged, never overwritten. */
  dbDir?: string;
  /** Explicit `key`; undefined means the composed default. */
  key?: string;
  /** Explicit `restore-keys`; undefined means the default (the key without its last part). */
  restoreKeys?: string[];
  /** Globs for the default key; empty means the running workflow file. */
  keyFiles: string[];
  daemon: DaemonControl;
  save: SaveMode;
  /** Archives per snapshot (`shards`); 0 = auto, one per core for a store big enough to gain. */
  shards: number;
  delta: DeltaMode;
  failOnCacheMiss: boolean;
  /** `lookup-only`: look the entry up (outputs), download and restore nothing. */
  lookupOnly: boolean;
  /**
   * `restore-all-matches`: on a miss of the key, every entry whose key starts with a restore key
   * (listed through the REST API with `token`), newest first, restored into one store; undefined
   * when off. The token is never written to the state.
   */
  restoreAllMatches?: { token: string };
  /** `gc`: the store's size cap in bytes, collected to before a save; 0 = off. */
  gcCapBytes: number;
  /** `trusted-keys`: when non-empty, only snapshots signed by one of these are restored. */
  trustedKeys: TrustedKey[];
  /** Where the store paths are, normally `/`. Tests point it at a temp dir (RUNBOX_STORE_ROOT). */
  root: string;
  /** Parent of the per-run staging dirs: RUNNER_TEMP, which the runner wipes between jobs. */
  stagingBase: string;
  workspace: string;
  /** GITHUB_WORKFLOW_REF: `owner/repo/.github/workflows/x.yml@refs/...`, for the default key-files. */
  workflowRef: string;
}

export const MAX_KEY_LENGTH = 512;
export const MAX_KEYS = 10;

// systemd unit names; passed as one argv element, never through a shell.
const UNIT = /^[A-Za-z0-9@._:-]+$/;

function oneOf<T extends string>(src: InputSource, name: string, allowed: readonly T[], fallback: T): T {
  const v = src.value(name);
  if (v === '') return fallback;
  if ((allowed as readonly string[]).includes(v)) return v as T;
  const named = allowed.filter((a) => a !== '');
  const valid = `${named.join(', ')}${allowed.includes('' as T) ? ' or empty' : ''}`;
  // 'Guix' for 'guix' is the usual slip; say so rather than list what looks like the same value.
  if ((allowed as readonly string[]).includes(v.toLowerCase())) throw new InputError(name, `'${v}' is not one of ${valid}: the values are lower case`, `Write '${v.toLowerCase()}'`);
  throw new InputError(name, `'${v}' is not one of ${valid}`, `Write ${named.map((a) => `'${a}'`).join(' or ')}${allowed.includes('' as T) ? `, or leave '${name}' out` : ''}`);
}

/** Why a key is unusable by the cache service (which would refuse it at save time), or undefined. */
export function keyProblem(key: string): string | undefined {
  if (key.length > MAX_KEY_LENGTH) return `it is ${key.length} characters long, more than the ${MAX_KEY_LENGTH} the cache service accepts`;
  if (key.includes(',')) return 'it contains a comma, which the cache service does not accept';
  // Keys reach log lines and outputs; a manifest's base key is written by whoever wrote the entry.
  if (/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(key)) return 'it contains a control character or a line break';
  return undefined;
}

function checkKey(input: string, key: string): void {
  const problem = keyProblem(key);
  if (problem) throw new InputError(input, `'${key.length > 60 ? `${key.slice(0, 60)}...` : key}': ${problem}`, 'Shorten the key and leave out commas');
}

function parseStorePaths(src: InputSource, preset: (typeof PRESETS)[StoreKind]): string[] {
  const given = src.lines('store-paths');
  const fix = `Give absolute paths of dirs that hold only the store, one per line (the ${preset.kind} preset uses ${preset.storeDir} and ${preset.dbDir})`;
  const paths = (given.length > 0 ? given : [preset.storeDir, preset.dbDir]).map((p) => {
    const problem = pathProblem(p);
    if (problem) throw new InputError('store-paths', problem, fix);
    return p.length > 1 && p.endsWith('/') ? p.slice(0, -1) : p;
  });
  for (const a of paths) for (const b of paths) if (a !== b && isUnder(b, a)) throw new InputError('store-paths', `'${b}' lies inside '${a}'`, 'List each dir once; leave out the inner one');
  if (new Set(paths).size !== paths.length) throw new InputError('store-paths', 'a path is listed twice', 'List each dir once');
  return paths;
}

/** The fix of a store path that passes through a symlink (dirs-config's input check says the same). */
const STORE_PATHS_FIX = 'List the real store dirs';

/**
 * Where each store path really is, on disk: the symlinks on its way resolved, when root made
 * them all (a /nix moved to a bigger disk and linked back is the host's setup); any other link
 * is refused, naming store-paths, before anything is made or removed. Restore resolves once, up
 * front, then makes dirs, its private dir and renames at the real paths, never through a link;
 * archive members and DB rows keep the store paths as given.
 */
export function realStorePaths(root: string, storePaths: readonly string[]): ReadonlyMap<string, string> {
  return new Map(storePaths.map((sp) => [sp, checkHostPathOnDisk('store-paths', path.join(root, sp), STORE_PATHS_FIX, { rootMadeParents: true }).real]));
}

/**
 * The real path of the kind's store dir (root's links resolved, as realStorePaths does): what the
 * host-wide restore lock is keyed on, so that two jobs reaching one store through different paths
 * (a root link, another RUNBOX_STORE_ROOT) still take the same lock.
 */
export function realStoreDir(root: string, kind: StoreKind): string {
  return checkHostPathOnDisk('store-paths', path.join(root, PRESETS[kind].storeDir), STORE_PATHS_FIX, { rootMadeParents: true }).real;
}

function parseTrustedKeys(src: InputSource): TrustedKey[] {
  const keys = src.lines('trusted-keys').map((line) => {
    const k = parseTrustedKey(line);
    if (typeof k === 'string') throw new InputError('trusted-keys', k, "Give one public key per line as 'ed25519:<base64>', the line the save summary or `node tools/keygen.mjs` prints");
    return k;
  });
  return keys.filter((k, i) => keys.findIndex((o) => o.id === k.id) === i);
}

/**
 * `signing-key`, checked. Main calls this only to fail early on bad key material; post reads the
 * input again itself (see save.ts), because the key must never be written to the state file.
 */
export function parseSigningKey(src: InputSource): KeyObject | undefined {
  const pem = src.value('signing-key');
  if (pem === '') return undefined;
  const k = parsePrivateKey(pem);
  if (typeof k === 'string')
    throw new InputError('signing-key', k, 'Give an ed25519 private key in PEM (PKCS#8), as `openssl genpkey -algorithm ed25519` or `node tools/keygen.mjs` print, from a secret');
  return k;
}

function parseShards(src: InputSource): number {
  const v = src.value('shards');
  if (v === '' || v === 'auto') return 0;
  const n = /^[0-9]+$/.test(v) ? Number(v) : NaN;
  if (!(n >= 1 && n <= MAX_SHARDS))
    throw new InputError('shards', `'${v}' is not 'auto' or a whole number from 1 to ${MAX_SHARDS}`, "Write 'auto' (one archive per core) or a number such as '4'; '1' makes one archive");
  return n;
}

/**
 * `restore-all-matches` and the `token` it lists the cache with: undefined when off. The token is
 * refused here when empty or unexpanded, like purge's; one the API refuses is a warning later
 * (then the first match is restored, as without this input).
 */
function parseRestoreAll(src: InputSource, lookupOnly: boolean): StoreConfig['restoreAllMatches'] {
  if (!parseBoolean(src, 'restore-all-matches', false)) return undefined;
  if (lookupOnly) throw new InputError('restore-all-matches', "it is true while 'lookup-only' is true: a lookup restores nothing to merge", "Set one of them to 'false'");
  const token = src.value('token');
  if (token === '' || token.includes('${{'))
    throw new InputError(
      'token',
      "it is empty while 'restore-all-matches' is true (the matching entries are listed through the REST API)",
      "Leave 'token' at its default (github.token) and give the job 'permissions: actions: read', or pass a token with that permission from a secret"
    );
  core.setSecret(token);
  return { token };
}

/** `gc`: `off` (or empty) or a size cap such as `6G`, in the size syntax `disk-limit` uses. */
export function parseGc(src: InputSource): number {
  const v = src.value('gc');
  if (v === '' || v === 'off') return 0;
  return parseSize('gc', v, "Write 'off', or the store's size cap with unit M, G or T (e.g. '6G', '500M'), in binary units as du -h prints them");
}

function parseDaemon(src: InputSource, kind: StoreKind): DaemonControl {
  const unit = src.value('daemon');
  const stop = src.value('daemon-stop');
  const start = src.value('daemon-start');
  if (unit === 'none') {
    if (stop || start) throw new InputError(stop ? 'daemon-stop' : 'daemon-start', "it is set while 'daemon' is 'none'", "Leave it empty, or set 'daemon' to the unit name");
    return { kind: 'none' };
  }
  if (unit !== '' && !UNIT.test(unit)) throw new InputError('daemon', `'${unit}' is not a systemd unit name`, "Write a unit name like 'guix-daemon', or 'none'");
  if (Boolean(stop) !== Boolean(start))
    throw new InputError(stop ? 'daemon-start' : 'daemon-stop', `it is empty while '${stop ? 'daemon-stop' : 'daemon-start'}' is set`, 'Give both daemon-stop and daemon-start, or neither');
  if (stop && start) return { kind: 'commands', stop, start };
  return { kind: 'systemd', unit: unit || PRESETS[kind].daemonUnit };
}

/** The validated store config, or undefined when `store` is empty (no snapshot wanted). */
export function parseStoreConfig(src: InputSource, env: NodeJS.ProcessEnv = process.env): StoreConfig | undefined {
  const kind = oneOf(src, 'store', ['guix', 'nix', ''] as const, '');
  if (kind === '') {
    // A store path or key without a store kind is a half-written config, not "off".
    for (const name of ['store-paths', 'key', 'restore-keys', 'signing-key', 'trusted-keys'])
      if (src.value(name) !== '') throw new InputError(name, "it is set while 'store' is empty", "Set 'store' to 'guix' or 'nix', or remove it");
    if (parseGc(src) !== 0) throw new InputError('gc', "it is set while 'store' is empty", "Set 'store' to 'guix' or 'nix', or remove it");
    if (parseBoolean(src, 'restore-all-matches', false)) throw new InputError('restore-all-matches', "it is true while 'store' is empty", "Set 'store' to 'guix' or 'nix', or remove it");
    return undefined;
  }
  const preset = PRESETS[kind];
  const storePaths = parseStorePaths(src, preset);
  const dbDir = storePaths.some((p) => p === preset.dbDir || isUnder(preset.dbDir, p)) ? preset.dbDir : undefined;

  const keyValue = src.value('key');
  if (keyValue !== '') checkKey('key', keyValue);
  const restoreLines = src.lines('restore-keys');
  for (const k of restoreLines) checkKey('restore-keys', k);
  // The default key plus its default restore key are 2; an explicit list counts with the key.
  if (1 + restoreLines.length > MAX_KEYS)
    throw new InputError(
      'restore-keys',
      `${restoreLines.length} restore keys plus the key make ${1 + restoreLines.length} keys`,
      `The cache service looks up at most ${MAX_KEYS} keys in all; drop some restore keys`
    );

  const trustedKeys = parseTrustedKeys(src);
  parseSigningKey(src);

  const rootEnv = (env.RUNBOX_STORE_ROOT ?? '').trim();
  if (rootEnv !== '' && (!path.isAbsolute(rootEnv) || rootEnv.split('/').some((c) => c === '..')))
    throw new InputError('store', `RUNBOX_STORE_ROOT '${rootEnv}' is not an absolute normalised path`, 'Unset it (it exists for tests) or give an absolute path');

  const lookupOnly = parseBoolean(src, 'lookup-only', false);
  const restoreAll = parseRestoreAll(src, lookupOnly);

  return {
    kind,
    storePaths,
    ...(dbDir ? { dbDir } : {}),
    ...(keyValue !== '' ? { key: keyValue } : {}),
    ...(restoreLines.length > 0 ? { restoreKeys: restoreLines } : {}),
    keyFiles: src.lines('key-files'),
    daemon: parseDaemon(src, kind),
    save: oneOf(src, 'save', ['auto', 'always', 'never'] as const, 'auto'),
    shards: parseShards(src),
    delta: oneOf(src, 'delta', ['auto', 'off'] as const, 'auto'),
    failOnCacheMiss: parseBoolean(src, 'fail-on-cache-miss', false),
    lookupOnly,
    ...(restoreAll ? { restoreAllMatches: restoreAll } : {}),
    gcCapBytes: parseGc(src),
    trustedKeys,
    root: rootEnv === '' ? '/' : path.normalize(rootEnv),
    stagingBase: runnerTemp(env) ?? os.tmpdir(),
    workspace: (env.GITHUB_WORKSPACE ?? '').trim() || process.cwd(),
    workflowRef: (env.GITHUB_WORKFLOW_REF ?? '').trim()
  };
}
