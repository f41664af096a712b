// What main and the restore sub-action say about a store restore: its outputs, set as soon as
// the key is known, and the warnings about a store-paths that leaves things out. Shared by the
// two steps, so neither imports the other.
import * as core from '@actions/core';
import fs from 'node:fs';
import path from 'node:path';
import type { InputSource } from '../action/input-source.js';
import { PRESETS } from '../store/presets.js';
import type { StoreConfig, StoreOutputs } from '../store/index.js';

/** restoreStore calls it as soon as the key is known, so the outputs exist whatever fails later, and again with what it restored. */
export function setStoreOutputs(o: StoreOutputs): void {
  core.setOutput('cache-primary-key', o.primaryKey);
  core.setOutput('cache-matched-key', o.matchedKey);
  core.setOutput('cache-hit', o.exactHit ? 'true' : 'false');
  if (o.matchedKeys) core.setOutput('matched-keys', JSON.stringify(o.matchedKeys));
}

/**
 * A DB dir left out of `store-paths`: restored items are never registered, and the daemon treats
 * them as invalid. Said at main, before anything is restored.
 */
export function warnAboutDbDir(cfg: StoreConfig): void {
  const preset = PRESETS[cfg.kind];
  if (!cfg.dbDir)
    core.warning(
      `runbox store: 'store-paths' leaves out the ${cfg.kind} DB dir ${preset.dbDir}: items a restore adds are not registered, and the daemon treats them as invalid. Add ${preset.dbDir} to 'store-paths'`
    );
}

/**
 * After a miss, store paths that still do not exist mean post has nothing to save: no Guix or
 * Nix on this host, or a wrong `store-paths`. (A fresh host that restores its first store has
 * none either, so this waits for the restore.) Said at main rather than as post's warning.
 */
export function warnAboutMissingStore(cfg: StoreConfig, src: InputSource): void {
  const missing = cfg.storePaths.filter((p) => !fs.existsSync(path.join(cfg.root, p)));
  if (missing.length === 0) return;
  core.warning(
    `runbox store: ${missing.join(', ')} ${missing.length > 1 ? 'do' : 'does'} not exist on this host and nothing was restored into ${missing.length > 1 ? 'them' : 'it'}: unless a later step of this job installs ${cfg.kind === 'guix' ? 'Guix' : 'Nix'}, post will have nothing to save` +
      (src.lines('store-paths').length > 0 ? `; check 'store-paths'` : ` (is ${cfg.kind === 'guix' ? 'Guix' : 'Nix'} installed on the runner host?); install it, or remove 'store: ${cfg.kind}'`)
  );
}
