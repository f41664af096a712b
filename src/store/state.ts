// What main's restore hands to post's save, through RunState.store: plain JSON, checked on the
// way back in because it crosses a process boundary.
import type { DeltaMode, SaveMode } from './config.js';
import type { StoreKind } from './presets.js';

// A type alias, not an interface, so it is assignable to RunState.store (Record<string, unknown>).
export type StoreState = {
  version: 1;
  kind: StoreKind;
  root: string;
  storePaths: string[];
  /** '' when the store paths hold no DB dir. */
  dbDir: string;
  stagingBase: string;
  save: SaveMode;
  /** Archives per snapshot; 0 = auto. Absent in state written by an older main: auto. */
  shards: number;
  primaryKey: string;
  /** The key whose snapshot was restored into the store; '' on a miss or a refused snapshot. */
  matchedKey: string;
  /** matchedKey === primaryKey: the store already is what the cache holds under this key. */
  exactHit: boolean;
  /** '' when the tool was not found. */
  toolVersion: string;
  /** `delta` input. Absent in state written by an older main: auto (without a base: full anyway). */
  delta?: DeltaMode;
  /**
   * The full snapshot restored (directly, or as the base of a restored delta): its key, and a
   * runner-owned file listing its items (see delta.ts) with that file's sha256. Absent: no
   * base, post saves a full snapshot (also for state written by an older main).
   */
  base?: { key: string; file: string; sha256: string };
  /** `gc`: collect garbage down to capBytes before saving, waiting up to lockTimeoutSec for a restore. Absent: off. */
  gc?: { capBytes: number; lockTimeoutSec: number };
};

/** Validates a StoreState read back from the saved run state. */
export function storeStateFrom(raw: unknown): StoreState {
  const o = raw as Partial<Record<keyof StoreState, unknown>> | null;
  const str = (k: keyof StoreState): string => {
    const v = o?.[k];
    if (typeof v !== 'string') throw new Error(`runbox store state: ${k} is not a string`);
    return v;
  };
  if (!o || o.version !== 1) throw new Error(`runbox store state version ${String(o?.version)} is not understood by this post step`);
  const kind = str('kind');
  const save = str('save');
  if (kind !== 'guix' && kind !== 'nix') throw new Error(`runbox store state: kind '${kind}'`);
  if (save !== 'auto' && save !== 'always' && save !== 'never') throw new Error(`runbox store state: save '${save}'`);
  if (!Array.isArray(o.storePaths) || !o.storePaths.every((p) => typeof p === 'string' && p.startsWith('/'))) throw new Error('runbox store state: storePaths is not a list of absolute paths');
  if (typeof o.exactHit !== 'boolean') throw new Error('runbox store state: exactHit is not a boolean');
  const shards = o.shards ?? 0;
  if (typeof shards !== 'number' || !Number.isInteger(shards) || shards < 0) throw new Error('runbox store state: shards is not a count');
  const delta = o.delta ?? 'auto';
  if (delta !== 'auto' && delta !== 'off') throw new Error(`runbox store state: delta '${typeof delta === 'string' ? delta : JSON.stringify(delta)}'`);
  let base: StoreState['base'];
  if (o.base !== undefined) {
    const b = o.base as Record<string, unknown> | null;
    if (!b || typeof b.key !== 'string' || typeof b.file !== 'string' || typeof b.sha256 !== 'string') throw new Error('runbox store state: base is not {key, file, sha256}');
    base = { key: b.key, file: b.file, sha256: b.sha256 };
  }
  let gc: StoreState['gc'];
  if (o.gc !== undefined) {
    const g = o.gc as Record<string, unknown> | null;
    const count = (v: unknown): boolean => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
    if (!g || !count(g.capBytes) || !count(g.lockTimeoutSec)) throw new Error('runbox store state: gc is not {capBytes, lockTimeoutSec}');
    gc = { capBytes: g.capBytes as number, lockTimeoutSec: g.lockTimeoutSec as number };
  }
  return {
    version: 1,
    kind,
    root: str('root'),
    storePaths: o.storePaths as string[],
    dbDir: str('dbDir'),
    stagingBase: str('stagingBase'),
    save,
    shards,
    primaryKey: str('primaryKey'),
    matchedKey: str('matchedKey'),
    exactHit: o.exactHit,
    toolVersion: str('toolVersion'),
    delta,
    ...(base ? { base } : {}),
    ...(gc ? { gc } : {})
  };
}
