// Post: snapshot the store and hand it to the cache, unless main restored exactly this key
// (save: auto) or saving is off. Whatever the job's outcome: a failed build registers no store
// items, so the store is still consistent. Nothing here fails the job; a snapshot that cannot
// be made or uploaded is a warning.
import fs from 'node:fs';
import path from 'node:path';
import * as core from '@actions/core';
import { errorMessage } from '../common/errors.js';
import { ensurePrivilege } from '../sys/exec.js';
import { prepareLauncher } from '../sys/launch.js';
import { formatBytes, formatSeconds, type StepReport } from '../action/job-summary.js';
import { actionInputs } from '../action/input-source.js';
import { withProgress } from '../action/progress.js';
import { createSnapshot } from './archive.js';
import { collectGarbage } from './gc.js';
import { beginEntry, uploadFailure } from './cache-io.js';
import { readBaseInfo, removeBaseInfo } from './delta.js';
import { parseSigningKey, realStorePaths } from './config.js';
import { publicKeyLine } from './entry/signing.js';
import { manifestBytes } from './manifest.js';
import { createStaging, removeStaging, stagingSpaceProblem } from './staging.js';
import type { StoreState } from './state.js';
import type { SavedEntry } from './purge.js';

/** What was saved (for purge), or undefined when nothing was. */
export async function saveStore(state: StoreState, report: StepReport): Promise<SavedEntry | undefined> {
  try {
    return await save(state, report);
  } finally {
    if (state.base)
      try {
        removeBaseInfo(state.base.file, state.stagingBase);
      } catch (e) {
        core.warning(`runbox store: could not remove ${state.base.file}: ${errorMessage(e)}`);
      }
  }
}

/** The base a delta may be saved over, or why not (then a full snapshot). */
function deltaBase(state: StoreState): { key: string; bytes: number; items: ReadonlySet<string> } | string {
  if (state.delta === 'off') return 'delta: off';
  if (!state.base) return state.matchedKey ? 'no base recorded by main' : 'main restored nothing to build on';
  if (state.base.key === state.primaryKey) return `the base is ${state.primaryKey} itself`;
  const info = readBaseInfo(state.base.file, state.base.sha256);
  if (typeof info === 'string') {
    core.warning(`runbox store: saving a full snapshot, not a delta: ${info}`);
    return info;
  }
  if (info.key !== state.base.key) return `the base item list names ${info.key}, not ${state.base.key}`;
  return { key: info.key, bytes: info.bytes, items: new Set(info.items) };
}

async function save(state: StoreState, report: StepReport): Promise<SavedEntry | undefined> {
  if (state.save === 'never') {
    report.add('store snapshot', 'not saved (save: never)');
    return undefined;
  }
  if (state.save === 'auto' && state.exactHit) {
    // exactHit without a matched key: lookup-only found the entry under the key without restoring it.
    report.add(
      'store snapshot',
      state.matchedKey ? `not saved: main restored ${state.primaryKey} exactly (save: auto)` : `not saved: the cache holds ${state.primaryKey} already (lookup-only found it; save: auto)`
    );
    return;
  }
  let staging: string | undefined;
  try {
    // Read here from the input, not from main's state: the state file is plain JSON on the
    // runner's disk, and a private key must never be written anywhere by runbox. Main already
    // refused bad key material, so an error here means the input changed in between.
    const signingKey = parseSigningKey(actionInputs);
    // Root's tar and the gc read and delete through the store paths as given (the archive's
    // member names are those paths): only through links root made, checked again here, since
    // the dirs above a store path may have changed since main.
    realStorePaths(state.root, state.storePaths);
    // A snapshot will be made (or the key is found taken): the commands from here on go through
    // the launcher once it is up (sys/launch.ts).
    prepareLauncher();
    await ensurePrivilege('read the root-owned store to snapshot it');
    // Only the tar member lists and the raw registrations go here (a few MiB for a big store):
    // the snapshot itself streams from zstd to the cache upload.
    staging = createStaging(state.stagingBase);
    const scratchDir = path.join(staging, 'scratch');
    fs.mkdirSync(scratchDir);
    // Before the snapshot: what the GC removes is then not saved. Its failures are warnings.
    const gc = state.gc ? await collectGarbage({ kind: state.kind, root: state.root, capBytes: state.gc.capBytes, lockTimeoutSec: state.gc.lockTimeoutSec }, report) : undefined;
    // A delta holds only what its base lacks, so restoring base + delta would bring back every
    // base item the GC just deleted: after a GC that freed anything, a full snapshot.
    const base = gc && gc.after < gc.before ? 'the gc removed items; a delta would bring them back with its base' : deltaBase(state);
    // Looked up before the archive: a key another job saved first costs no snapshot. The key is
    // reserved only when the first block is ready (a save failing before reserves nothing);
    // until upload.finish() succeeds the service holds no entry under it.
    const upload = await beginEntry(state.primaryKey, { kind: state.kind, storePaths: state.storePaths, ...(signingKey ? { signingKey } : {}) });
    if (!upload) {
      report.add('store snapshot', `not saved under ${state.primaryKey}; see the warnings above`);
      return undefined;
    }
    const t0 = Date.now();
    let r;
    try {
      r = await withProgress(
        'archiving and uploading the store (compressed so far)',
        () => upload.stream.handed,
        () =>
          createSnapshot({
            root: state.root,
            kind: state.kind,
            storePaths: state.storePaths,
            ...(state.dbDir ? { dbDir: state.dbDir } : {}),
            ...(state.toolVersion ? { toolVersion: state.toolVersion } : {}),
            sink: upload.stream,
            scratchDir,
            shards: state.shards,
            ...(typeof base === 'string' ? {} : { base })
          })
      );
    } catch (e) {
      const warning = uploadFailure(e);
      if (!warning) throw e;
      core.warning(warning);
      report.add('store snapshot', `not saved under ${state.primaryKey}; see the warnings above`);
      return undefined;
    }
    const t1 = Date.now();
    if (r.missing.length > 0) core.info(`store paths not on disk, left out of the snapshot: ${r.missing.join(', ')}`);
    const bytes = manifestBytes(r.manifest);
    const id = await upload.finish();
    const t2 = Date.now();
    const baseBytes = typeof base === 'string' ? 0 : base.bytes;
    const kind = r.manifest.base
      ? `a delta over ${r.manifest.base.key} (${r.delta?.newItems ?? 0} new of ${r.delta?.items ?? 0} items, ${formatBytes(bytes)} = ${baseBytes > 0 ? ((100 * bytes) / baseBytes).toFixed(1) : '?'}% of the base's ${formatBytes(baseBytes)})`
      : `a full snapshot (${typeof base === 'string' ? `no delta: ${base}` : `no delta: ${r.delta?.reason ?? 'not due'}`})`;
    report.add(
      'store snapshot',
      id === undefined
        ? `made ${kind} but not saved under ${state.primaryKey}; see the warnings above`
        : `saved ${state.primaryKey}, ${kind}: ${formatBytes(bytes)} compressed in ${r.manifest.archives.length} archive(s) (${r.manifest.registrations ? `${r.manifest.registrations.paths} registrations` : 'no registrations'})`
    );
    if (signingKey && id !== undefined) report.add('store snapshot signer', `${publicKeyLine(signingKey)} (put this line in trusted-keys to accept only snapshots signed by this key)`);
    // The blocks go up while the archive is made: "upload" is only what is left after it (the
    // index, the commit and finalize).
    report.add('store save time', `DB read ${formatSeconds(r.dbMs)}, archive ${formatSeconds(t1 - t0 - r.dbMs)}, upload ${formatSeconds(t2 - t1)} (after the archive, which uploaded as it went)`);
    // For purge: the saved entry and the base its manifest names stay.
    if (id !== undefined) return { key: state.primaryKey, ...(r.manifest.base ? { base: r.manifest.base.key } : {}) };
    return undefined;
  } catch (e) {
    // Removed first, so that the free space it reports is what the host really has.
    if (staging) removeStagingOrWarn(staging, state.stagingBase);
    staging = undefined;
    const space = stagingSpaceProblem(e, state.stagingBase, "the snapshot's member lists");
    const why = space ? `${space} (${errorMessage(e)})` : errorMessage(e);
    core.warning(`runbox store: no snapshot saved, the job goes on: ${why}`);
    report.add('store snapshot', `not saved: ${why}`);
    return undefined;
  } finally {
    if (staging) removeStagingOrWarn(staging, state.stagingBase);
  }
}

function removeStagingOrWarn(staging: string, base: string): void {
  try {
    removeStaging(staging, base);
  } catch (e) {
    core.warning(`runbox store: could not remove the staging dir ${staging}: ${errorMessage(e)}`);
  }
}
