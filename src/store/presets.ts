// What differs between Guix and Nix: where the store and its daemon DB live, the daemon's
// systemd unit, and how to ask the tool for its version (part of the default cache key, since a
// DB written by one daemon version may not be readable by an older one).
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
    // spawn fails with ENOENT when the tool is not installed: a fresh runner restoring its
    // first store has no tool yet, which is a normal case, not an error.
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}
