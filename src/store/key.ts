// The cache key. Default: `runbox-<kind>-<os>-<arch>[-<tool version>]-<hash of key-files>`, so
// a new tool version or a changed workflow gets a fresh entry, while the restore key (the same
// without the hash) still finds the newest snapshot of a matching toolchain to start from.
import crypto from 'node:crypto';
import path from 'node:path';
import * as core from '@actions/core';
import * as glob from '@actions/glob';
import type { StoreConfig } from './config.js';
import { keyProblem, MAX_KEYS } from './config.js';
import { toolVersion } from './presets.js';

export interface KeyPart {
  name: string;
  value: string;
  note: string;
}

export interface ResolvedKeys {
  primary: string;
  restore: string[];
  /** How the default key was composed (empty for an explicit key); logged, and kept for the report. */
  parts: KeyPart[];
  toolVersion?: string;
}

/** `owner/repo/.github/workflows/ci.yml@refs/heads/main` -> `.github/workflows/ci.yml`. */
export function workflowFile(workflowRef: string): string | undefined {
  const at = workflowRef.lastIndexOf('@');
  const parts = (at >= 0 ? workflowRef.slice(0, at) : workflowRef).split('/');
  if (parts.length < 3 || parts.slice(2).some((c) => c === '' || c === '..')) return undefined;
  return parts.slice(2).join('/');
}

/** A default restore key: the key up to and including its last `-`, or none. */
export function defaultRestoreKey(key: string): string[] {
  const cut = key.lastIndexOf('-');
  return cut > 0 ? [key.slice(0, cut + 1)] : [];
}

function absolutePattern(pattern: string, workspace: string): string {
  const neg = pattern.startsWith('!');
  const body = neg ? pattern.slice(1) : pattern;
  // @actions/glob resolves relative patterns against process.cwd(); key-files are meant
  // relative to the workspace, wherever the action happens to run from.
  const abs = path.isAbsolute(body) ? body : path.join(workspace, body);
  return (neg ? '!' : '') + abs;
}

async function keyFilesPart(cfg: StoreConfig): Promise<KeyPart> {
  let patterns = cfg.keyFiles;
  let what = `key-files ${patterns.join(', ')}`;
  if (patterns.length === 0) {
    const wf = workflowFile(cfg.workflowRef);
    if (!wf) return { name: 'files', value: 'noworkflow', note: 'GITHUB_WORKFLOW_REF is not set; no workflow file to hash' };
    patterns = [wf];
    what = `workflow file ${wf}`;
  }
  // hashFiles, like the `hashFiles()` expression, only hashes files inside the workspace.
  const hash = await glob.hashFiles(patterns.map((p) => absolutePattern(p, cfg.workspace)).join('\n'), cfg.workspace);
  if (hash !== '') return { name: 'files', value: hash, note: `sha256 of ${what}` };
  if (cfg.keyFiles.length === 0) {
    // No checkout before this step: the workflow's path still tells workflows apart.
    const h = crypto.createHash('sha256').update(patterns[0]).digest('hex');
    return { name: 'files', value: h, note: `${what} is not in the workspace (no checkout yet?); sha256 of its path instead` };
  }
  core.warning(`runbox store: key-files (${cfg.keyFiles.join(', ')}) matched no file in ${cfg.workspace}; the key does not depend on them`);
  return { name: 'files', value: 'nofiles', note: `${what} matched no file` };
}

export async function resolveKeys(cfg: StoreConfig): Promise<ResolvedKeys> {
  core.startGroup('runbox store: cache key');
  try {
    const version = await toolVersion(cfg.kind);
    let primary: string;
    let parts: KeyPart[] = [];
    if (cfg.key !== undefined) {
      primary = cfg.key;
      core.info(`key (from the 'key' input): ${primary}`);
    } else {
      parts = [
        { name: 'prefix', value: 'runbox', note: 'fixed' },
        { name: 'store', value: cfg.kind, note: "the 'store' input" },
        { name: 'os', value: process.platform, note: 'the runner OS' },
        { name: 'arch', value: process.arch, note: 'the runner architecture' },
        version ? { name: 'version', value: version, note: `${cfg.kind} tool version` } : { name: 'version', value: '', note: `${cfg.kind} tool not found or its version unreadable; left out` },
        await keyFilesPart(cfg)
      ];
      for (const p of parts) core.info(`${p.name}: ${p.value || '(none)'} (${p.note})`);
      primary = parts
        .map((p) => p.value)
        .filter((v) => v !== '')
        .join('-');
      core.info(`key: ${primary}`);
    }
    const restore = cfg.restoreKeys ?? defaultRestoreKey(primary);
    core.info(`restore keys: ${restore.length > 0 ? restore.join(', ') : '(none)'}${cfg.restoreKeys ? '' : ' (default: the key without its last part)'}`);
    const problem = keyProblem(primary) ?? restore.map(keyProblem).find((p) => p !== undefined);
    if (problem) throw new Error(`the cache key is unusable: ${problem}`);
    if (1 + restore.length > MAX_KEYS) throw new Error(`${1 + restore.length} cache keys in all; the cache service takes at most ${MAX_KEYS}`);
    return { primary, restore, parts, ...(version ? { toolVersion: version } : {}) };
  } finally {
    core.endGroup();
  }
}
