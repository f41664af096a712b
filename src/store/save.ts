// Post: snapshot the store and hand it to the cache, unless main restored exactly this key
// (save: auto) or saving is off. Whatever the job's outcome: a failed build registers no store
// items, so the store is still consistent. Nothing here fails the job; a snapshot that cannot
// be made or uploaded is a warning.
import fs from 'node:fs';
import path from 'node:path';
import * as core from '@actions/core';
import { errorMessage } from '../errors.js';
import { ensurePrivilege } from '../exec.js';
import { formatBytes, formatSeconds, type StepReport } from '../summary.js';
import { createSnapshot } from './archive.js';
import { saveEntry, SNAPSHOT_DIR } from './cache-io.js';
import { createStaging, removeStaging } from './staging.js';
import type { StoreState } from './state.js';

export async function saveStore(state: StoreState, report: StepReport): Promise<void> {
  if (state.save === 'never') {
    report.add('store snapshot', 'not saved (save: never)');
    return;
  }
  if (state.save === 'auto' && state.exactHit) {
    report.add('store snapshot', `not saved: main restored ${state.primaryKey} exactly (save: auto)`);
    return;
  }
  let staging: string | undefined;
  try {
    await ensurePrivilege('read the root-owned store to snapshot it');
    staging = createStaging(state.stagingBase);
    const snapshotDir = path.join(staging, SNAPSHOT_DIR);
    const scratchDir = path.join(staging, 'scratch');
    fs.mkdirSync(snapshotDir);
    fs.mkdirSync(scratchDir);
    const r = await createSnapshot({
      root: state.root,
      kind: state.kind,
      storePaths: state.storePaths,
      ...(state.dbDir ? { dbDir: state.dbDir } : {}),
      ...(state.toolVersion ? { toolVersion: state.toolVersion } : {}),
      snapshotDir,
      scratchDir,
      shards: state.shards
    });
    if (r.missing.length > 0) core.info(`store paths not on disk, left out of the snapshot: ${r.missing.join(', ')}`);
    const bytes = r.manifest.archives.reduce((n, a) => n + a.bytes, 0) + r.manifest.dbs.reduce((n, d) => n + d.bytes, 0);
    const t0 = Date.now();
    const id = await saveEntry(staging, state.primaryKey);
    const uploadMs = Date.now() - t0;
    report.add(
      'store snapshot',
      id === undefined
        ? `made (${formatBytes(bytes)}) but not saved under ${state.primaryKey}; see the warnings above`
        : `saved ${state.primaryKey}: ${formatBytes(bytes)} compressed in ${r.manifest.archives.length} archive(s) (${r.manifest.dbs.length} DB copies)`
    );
    report.add('store save time', `DB copy ${formatSeconds(r.dbMs)}, archive ${formatSeconds(r.archiveMs)}, upload ${formatSeconds(uploadMs)}`);
  } catch (e) {
    core.warning(`runbox store: no snapshot saved, the job goes on: ${errorMessage(e)}`);
    report.add('store snapshot', `not saved: ${errorMessage(e)}`);
  } finally {
    if (staging)
      try {
        removeStaging(staging, state.stagingBase);
      } catch (e) {
        core.warning(`runbox store: could not remove the staging dir ${staging}: ${errorMessage(e)}`);
      }
  }
}
