// What differs between Guix and Nix: where the store and its daemon DB live, the daemon's
// systemd unit, and how to ask the tool for its version (part of the default cache key, since a
// DB written by one daemon version may not be readable by an older one).
import * as core from '@actions/core';
import fs from 'node:fs';
import path from 'node:path';
import { run } from '../sys/exec.js';

export type StoreKind = 'guix' | 'nix';

export interface StorePreset {
  kind: StoreKind;
  /** The dir holding the store items (`<hash>-<name>`). */
  storeDir: string;
  /** The daemon's DB dir; its `*.sqlite` files are snapshotted through SQLite's backup API. */
  dbDir: string;
  daemonUnit: string;
  versionCommand: readonly [string, readonly string[]];
}

export const PRESETS: Readonly<Record<StoreKind, StorePreset>> = {
  guix: {
    kind: 'guix',
    storeDir: '/gnu/store',
    dbDir: '/var/guix/db',
    daemonUnit: 'guix-daemon',
    versionCommand: ['guix', ['--version']]
  },
  nix: {
    kind: 'nix',
    storeDir: '/nix/store',
    dbDir: '/nix/var/nix/db',
    daemonUnit: 'nix-daemon',
    versionCommand: ['nix-store', ['--version']]
  }
};

/** `guix (GNU Guix) 1.4.0` / `nix-store (Nix) 2.8.0` -> `1.4.0` / `2.8.0`; anything odd -> undefined. */
export function parseToolVersion(output: string): string | undefined {
  const first = output.split('\n')[0] ?? '';
  const m = /(\d+(?:\.\d+)+(?:[-+.][0-9A-Za-z.+-]*)?)\s*$/.exec(first.trim());
  if (!m) return undefined;
  // The version becomes part of a cache key: keep it short and free of commas and spaces.
  const v = m[1].replace(/[^0-9A-Za-z.+_-]/g, '').slice(0, 40);
  return v === '' ? undefined : v;
}

/** The installed tool's version, or undefined when the tool is missing or says something odd. */
export async function toolVersion(kind: StoreKind): Promise<string | undefined> {
  const [cmd, args] = PRESETS[kind].versionCommand;
  try {
    const r = await run(cmd, args, { allowFailure: true });
    return r.code === 0 ? parseToolVersion(r.stdout) : undefined;
  } catch (e) {
    // Starting it fails with ENOENT when the tool is not installed: a fresh runner restoring its
    // first store has no tool yet, which is a normal case, not an error.
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    // EACCES: some PATH entry stopped the lookup (a dir this user cannot search, or a file of
    // that name without the x bit). A bare `spawn guix EACCES` names neither, so say which.
    if ((e as NodeJS.ErrnoException).code === 'EACCES') {
      core.warning(
        `runbox store: cannot run ${cmd} to read its version (EACCES): ${blockedPathEntries(cmd).join('; ') || 'no PATH entry explains it'}. ` +
          `The key leaves the version out. Fix that entry's permissions or take it out of PATH for this job`
      );
      return undefined;
    }
    throw e;
  }
}

/** The PATH entries that make a lookup of `cmd` fail with EACCES, each with the reason. */
export function blockedPathEntries(cmd: string, envPath: string = process.env.PATH ?? ''): string[] {
  const out: string[] = [];
  for (const dir of envPath.split(':').filter((d) => d !== '')) {
    const file = path.join(dir, cmd);
    try {
      fs.accessSync(dir, fs.constants.X_OK);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EACCES') out.push(`PATH entry ${dir} is not searchable by uid ${process.getuid?.() ?? '?'}`);
      continue;
    }
    let st: fs.Stats;
    try {
      st = fs.statSync(file);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EACCES') out.push(`${file} cannot be reached by uid ${process.getuid?.() ?? '?'}`);
      else if (code !== 'ENOENT' && code !== 'ENOTDIR') out.push(`${file}: ${code ?? String(e)}`);
      continue;
    }
    if (!st.isFile() || (st.mode & 0o111) === 0) out.push(`${file} is not an executable file (mode ${(st.mode & 0o7777).toString(8)})`);
  }
  return out;
}
