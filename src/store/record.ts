// How the `save` sub-action learns what the `restore` sub-action did. The steps of a composite
// action share no state (core.saveState reaches only the same action's post), so restore writes
// its StoreState as a small runner-owned JSON file under RUNNER_TEMP, which the runner wipes
// after the job, named after the store it is about; save reads it back when it saves under the
// same key. Inputs alone could not carry the delta base (a file and its hash) without making
// every user wire them through.
//
// It is plain data on the runner's disk, writable by every step of the job: it decides only
// things a step could decide anyway through the inputs (skip a save of a key the cache has, save
// a delta over a named base). What is saved is always read from the store itself, as root; the
// base's item list is checked against its hash (delta.ts), and a wrong list costs a larger or
// incomplete delta, never a restore of anything unchecked. Read without following a symlink.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import * as core from '@actions/core';
import { errorMessage } from '../common/errors.js';
import type { StoreConfig } from './config.js';
import { storeStateFrom, type StoreState } from './state.js';

/** At most this much is read: a StoreState is a few hundred bytes. */
const MAX_RECORD_BYTES = 64 * 1024;

export function recordPath(cfg: Pick<StoreConfig, 'kind' | 'root' | 'storePaths' | 'stagingBase'>): string {
  const h = crypto
    .createHash('sha256')
    .update(`${cfg.kind}|${cfg.root}|${cfg.storePaths.join('|')}`)
    .digest('hex')
    .slice(0, 16);
  return path.join(cfg.stagingBase, `runbox-restored-${h}.json`);
}

/** Written through a fresh temp name and renamed over the last record (a mid-job restore replaces it). */
export function writeRestoreRecord(cfg: Pick<StoreConfig, 'kind' | 'root' | 'storePaths' | 'stagingBase'>, state: StoreState): void {
  const file = recordPath(cfg);
  const tmp = `${file}.${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
  const fd = fs.openSync(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o600);
  try {
    fs.writeSync(fd, JSON.stringify(state));
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
}

/** The restore step's state for this store, or undefined (none, or unreadable: said, then ignored). */
export function readRestoreRecord(cfg: Pick<StoreConfig, 'kind' | 'root' | 'storePaths' | 'stagingBase'>): StoreState | undefined {
  const file = recordPath(cfg);
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    core.warning(`runbox store: the restore step's record ${file} cannot be opened (${errorMessage(e)}); saving as if nothing was restored`);
    return undefined;
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile() || st.uid !== process.getuid?.() || st.size > MAX_RECORD_BYTES) throw new Error('not a small regular file of the runner user');
    const buf = Buffer.alloc(st.size);
    fs.readSync(fd, buf, 0, st.size, 0);
    const state = storeStateFrom(JSON.parse(buf.toString('utf8')));
    if (state.kind !== cfg.kind || state.root !== cfg.root || state.storePaths.join('|') !== cfg.storePaths.join('|')) throw new Error('it is about another store');
    return state;
  } catch (e) {
    core.warning(`runbox store: the restore step's record ${file} is not usable (${errorMessage(e)}); saving as if nothing was restored`);
    return undefined;
  } finally {
    fs.closeSync(fd);
  }
}
