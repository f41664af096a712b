// The only place that talks to the Actions cache service. A snapshot is stored as one runbox
// entry (src/store/entry: the staging files back to back, a checked index with per-chunk
// digests, an optional ed25519 signature, a trailer), never as a tar: @actions/cache would wrap
// the staging dir in its own tar and unpack it with `tar -P`, so whoever can write the cache
// would choose what that untrusted outer archive writes where. Here restore reads the entry's
// trailer and index by small ranged reads (the signature checked first), fetches the manifest
// and registrations whole under checked names into a fresh staging dir, and leaves the archives
// (frames) in the cache: restore.ts streams only the frames it needs, each chunk proven first.
//
// The cache version partitions formats and stores: an old @actions/cache entry, or one for
// another store kind or store-paths list, is simply a miss.
//
// Save streams: beginEntry gives an EntryStream that archive.ts hands each frame to as zstd
// makes it; the key is reserved when the first block is ready, the blocks go to the service
// while later frames are still being made, and the index goes last. Nothing is finalized unless every block was sent and the
// commit succeeded, so a failure anywhere leaves no entry behind.
//
// The cache service is optional by nature: every failure here is a warning and a miss.
import { createHash, type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import * as core from '@actions/core';
import { clientFor, describe, openBlob, serviceFromEnv, type CacheClient, type UploadSession } from './cache-service/index.js';
import { keyProblem, MAX_KEYS } from './config.js';
import { EntryFormatError, EntryIntegrityError, EntryTrustError, MAX_ENTRY_BYTES } from './entry/format.js';
import { fetchFile, freeBytes, readIndex } from './entry/reader.js';
import { MANIFEST_FILE, MAX_MANIFEST_BYTES } from './manifest.js';
import { LIMITS, REGISTRATIONS_FILE } from './registrations.js';
import { entryFiles, type SnapshotFiles } from './snapshot-files.js';
import type { TrustedKey } from './entry/signing.js';
import { entryRange, EntryStream, planEntry, UploadError, type BlockSink } from './entry/writer.js';
import type { StoreKind } from './presets.js';
import { shown } from '../common/untrusted-text.js';
import { stagingSpaceProblem } from './staging.js';
import { withProgress } from '../action/progress.js';

export const SNAPSHOT_DIR = 'runbox-snapshot';
export const ENTRY_FORMAT = 'runbox-entry-v2';

export interface EntryOptions {
  kind: StoreKind;
  storePaths: readonly string[];
  /** restore: with keys, only an entry signed by one of them is used. */
  trustedKeys?: readonly TrustedKey[];
  /** save: signs the entry's index. */
  signingKey?: KeyObject;
  /** Upload block size; tests make it small to get many blocks. */
  blockBytes?: number;
  /** restore: a download that failed for lack of local space says so here, so callers do not call the entry gone. */
  spaceProblems?: string[];
}

/** The cache version of runbox entries for this store: sha256 of `runbox-entry-v2|<kind>|<paths>` (an older format is a miss). */
export function entryVersion(kind: StoreKind, storePaths: readonly string[]): string {
  return createHash('sha256')
    .update(`${ENTRY_FORMAT}|${kind}|${storePaths.join('|')}`)
    .digest('hex');
}

function client(what: string, need: 'read' | 'write'): CacheClient | undefined {
  const svc = serviceFromEnv();
  if (typeof svc === 'string') {
    core.warning(`runbox store: the Actions cache service is not available to this job (${svc}); ${what}`);
    return undefined;
  }
  if (need === 'read' ? !svc.readable : !svc.writable) {
    core.info(`ACTIONS_CACHE_MODE is '${svc.mode}', which does not permit cache ${need === 'read' ? 'reads' : 'writes'}; ${what}`);
    return undefined;
  }
  return clientFor(svc);
}

/**
 * The matched key the service names must be one we asked for or extend one as a prefix, and be a
 * key the service itself would accept: it ends up in outputs, state and log lines.
 */
function matchedKeyProblem(matched: string, keys: readonly string[]): string | undefined {
  if (/[^\x20-\x7e]/.test(matched)) return 'it holds control or non-ASCII characters';
  if (keyProblem(matched)) return keyProblem(matched);
  if (!keys.some((k) => matched.startsWith(k))) return 'it is none of the keys asked for, nor extends one';
  return undefined;
}

/** Bounds on the files fetched whole: what a restore reads into memory to parse. */
const WHOLE_FILES: ReadonlyMap<string, number> = new Map([
  [MANIFEST_FILE, MAX_MANIFEST_BYTES],
  [REGISTRATIONS_FILE, LIMITS.fileBytes]
]);

export interface FetchedEntry {
  matched: string;
  /** `<parent>/runbox-snapshot`: manifest.json and the registrations, proven and written. */
  dir: string;
  /** Every file of the entry; the archives streamed from the cache on demand. */
  files: SnapshotFiles & { fetchedBytes: () => number };
  /** The entry's size in the cache. */
  bytes: number;
  /** What was fetched to find out what to stream: trailer, index, signature, manifest, registrations. */
  metaBytes: number;
}

/**
 * Looks up the newest entry matching key / restore keys, proves its index (and signature), and
 * fetches its manifest and registrations into `<parent>/runbox-snapshot`; the archives are left
 * in the cache (see FetchedEntry.files). Undefined on a miss or any problem (a warning).
 */
export async function restoreEntry(parent: string, primaryKey: string, restoreKeys: string[], opts: EntryOptions): Promise<FetchedEntry | undefined> {
  const keys = [primaryKey, ...restoreKeys];
  const bad = keys.find((k) => keyProblem(k) !== undefined);
  if (bad !== undefined || keys.length > MAX_KEYS) {
    core.warning(`runbox store: the cache keys cannot be looked up (${bad !== undefined ? `${shown(bad)}: ${keyProblem(bad)}` : `${keys.length} keys, at most ${MAX_KEYS}`}); no snapshot is restored`);
    return undefined;
  }
  const c = client('no snapshot is restored', 'read');
  if (!c) return undefined;
  let hit: { matchedKey: string; url: string } | undefined;
  try {
    hit = await c.find(keys, entryVersion(opts.kind, opts.storePaths));
  } catch (e) {
    core.warning(`runbox store: cache lookup failed, continuing without a snapshot: ${describe(e)}`);
    return undefined;
  }
  if (!hit) return undefined;
  const problem = matchedKeyProblem(hit.matchedKey, keys);
  if (problem) {
    core.warning(`runbox store: the cache service answered with the key ${shown(hit.matchedKey)}, which is refused (${problem}); continuing as on a cache miss`);
    return undefined;
  }
  const matched = hit.matchedKey;
  const dir = path.join(parent, SNAPSHOT_DIR);
  try {
    const src = await openBlob(hit.url, MAX_ENTRY_BYTES);
    const r = await readIndex(src, opts.trustedKeys ?? []);
    const whole = r.files.filter((f) => WHOLE_FILES.has(f.name));
    for (const f of whole) if (f.length > (WHOLE_FILES.get(f.name) as number)) throw new EntryFormatError(`${f.name} is ${f.length} bytes, more than the ${WHOLE_FILES.get(f.name)} a restore reads`);
    const wholeBytes = whole.reduce((n, f) => n + f.length, 0);
    const free = freeBytes(parent);
    if (free < wholeBytes) throw new Error(`not enough free space in ${parent} for the snapshot's manifest and registrations: ${wholeBytes} bytes needed, ${free} bytes free`);
    // Outside the try: an existing dir is an error, never something removed here.
    fs.mkdirSync(dir, { mode: 0o700 });
    try {
      for (const f of whole) await fetchFile(src, f, path.join(dir, f.name));
    } catch (e) {
      fs.rmSync(dir, { recursive: true, force: true });
      throw e;
    }
    core.info(
      `found ${matched}: ${r.files.length} files, ${src.size} bytes${r.verified ? `, signed by ${r.signer} (trusted)` : r.signer ? `, signed by ${r.signer} (not checked: no trusted-keys)` : ', unsigned'}`
    );
    return { matched, dir, files: entryFiles(src, r.files, `the cache entry ${matched}`), bytes: src.size, metaBytes: src.size - r.dataBytes + wholeBytes };
  } catch (e) {
    const why =
      e instanceof EntryTrustError
        ? 'is not trusted'
        : e instanceof EntryFormatError
          ? 'is not a well-formed runbox entry'
          : e instanceof EntryIntegrityError
            ? 'does not match its own index'
            : 'could not be downloaded';
    const space = stagingSpaceProblem(e, path.dirname(parent), `the downloaded snapshot ${matched}`);
    if (space) {
      opts.spaceProblems?.push(space);
      core.warning(`runbox store: the snapshot ${matched} could not be written: ${space}; continuing as on a cache miss (${describe(e)})`);
      return undefined;
    }
    core.warning(`runbox store: the snapshot ${matched} ${why}, continuing as on a cache miss: ${describe(e)}`);
    return undefined;
  }
}

/**
 * `lookup-only`: the key of the newest entry matching key / restore keys, or undefined, without
 * downloading a byte of it. The same checks of the keys and of the service's answer as a restore.
 */
export async function lookupEntry(primaryKey: string, restoreKeys: string[], opts: Pick<EntryOptions, 'kind' | 'storePaths'>): Promise<string | undefined> {
  const keys = [primaryKey, ...restoreKeys];
  const bad = keys.find((k) => keyProblem(k) !== undefined);
  if (bad !== undefined || keys.length > MAX_KEYS) {
    core.warning(`runbox store: the cache keys cannot be looked up (${bad !== undefined ? `${shown(bad)}: ${keyProblem(bad)}` : `${keys.length} keys, at most ${MAX_KEYS}`})`);
    return undefined;
  }
  const c = client('nothing is looked up', 'read');
  if (!c) return undefined;
  try {
    const hit = await c.find(keys, entryVersion(opts.kind, opts.storePaths));
    if (!hit) return undefined;
    const problem = matchedKeyProblem(hit.matchedKey, keys);
    if (!problem) return hit.matchedKey;
    core.warning(`runbox store: the cache service answered with the key ${shown(hit.matchedKey)}, which is refused (${problem}); continuing as on a cache miss`);
  } catch (e) {
    core.warning(`runbox store: cache lookup failed, continuing as on a cache miss: ${describe(e)}`);
  }
  return undefined;
}

/** The client a save under `key` goes through, or undefined after a warning: an unusable key, no service. */
function saveClient(key: string): ReturnType<typeof client> {
  const problem = keyProblem(key);
  if (problem) {
    core.warning(`runbox store: the snapshot is not saved: the key ${shown(key)} is unusable (${problem})`);
    return undefined;
  }
  return client('the snapshot is not saved', 'write');
}

/** Uploads `<parent>/runbox-snapshot` under key; the entry id, or undefined when nothing was saved. */
export async function saveEntry(parent: string, key: string, opts: EntryOptions): Promise<string | undefined> {
  const c = saveClient(key);
  if (!c) return undefined;
  try {
    const plan = await planEntry(path.join(parent, SNAPSHOT_DIR), opts.signingKey);
    // Bytes handed to the upload so far (a retried block counts again): enough to show it moves.
    let handed = 0;
    const r = await withProgress(
      'uploading the snapshot',
      () => Math.min(handed, plan.size),
      () =>
        c.save(
          key,
          entryVersion(opts.kind, opts.storePaths),
          plan.size,
          (start, end) => {
            handed += end - start;
            return entryRange(plan, start, end);
          },
          { ...(opts.blockBytes ? { blockBytes: opts.blockBytes } : {}) }
        ),
      plan.size
    );
    if ('id' in r) return r.id;
    core.warning(`runbox store: the cache service did not take the snapshot under ${key}: ${r.refused}. The job goes on.`);
    return undefined;
  } catch (e) {
    core.warning(`runbox store: saving the snapshot failed, the job goes on without it: ${describe(e)}`);
    return undefined;
  }
}

/** Streamed upload blocks: one in flight per slot, each held in memory until sent. */
export const STREAM_BLOCK_BYTES = 8 * 2 ** 20;
const STREAM_CONCURRENCY = 4;

export interface EntryUpload {
  /** Where createSnapshot puts the snapshot's files (archive.ts SnapshotSink). */
  stream: EntryStream;
  /** Sends the index and commits; the entry id, or undefined (after a warning) when nothing was saved. */
  finish(): Promise<string | undefined>;
}

/** The service would not reserve the key (taken, or saved meanwhile): the snapshot is not the problem. */
class KeyRefused extends Error {
  constructor(key: string, refused: string) {
    super(`the cache service did not take the snapshot under ${key}: ${refused}`);
    this.name = 'KeyRefused';
  }
}

/**
 * Opens a streamed upload of the entry under `key`, or undefined (after a warning) when it
 * cannot be saved: no service, an unusable key, an entry under key already. The key is reserved
 * only when the first block is ready to go: a save that fails before (reading the store or its
 * DB) reserves nothing, where a reservation never finalized would keep the key taken until the
 * service expires it (v1/GHES answers 409). A key another job reserves in between fails the
 * first block's put. Until finish() succeeds the service holds no entry under key; an upload
 * that fails midway makes the stream's put throw an UploadError (see uploadFailure).
 */
export async function beginEntry(key: string, opts: EntryOptions): Promise<EntryUpload | undefined> {
  const c = saveClient(key);
  if (!c) return undefined;
  const version = entryVersion(opts.kind, opts.storePaths);
  // A key saved already costs no snapshot: looked up first, where the job may read.
  const svc = serviceFromEnv();
  if (typeof svc !== 'string' && svc.readable) {
    try {
      const hit = await c.find([key], version);
      if (hit?.matchedKey === key) {
        core.warning(`runbox store: the cache service did not take the snapshot under ${key}: it holds an entry under that key already. The job goes on.`);
        return undefined;
      }
    } catch (e) {
      core.warning(`runbox store: saving the snapshot failed, the job goes on without it: ${describe(e)}`);
      return undefined;
    }
  }
  let reserved: Promise<UploadSession> | undefined;
  const session = (): Promise<UploadSession> =>
    (reserved ??= c.begin(key, version).then((s) => {
      if ('refused' in s) throw new KeyRefused(key, s.refused);
      return s;
    }));
  // v1 writes each block at its offset (ordered); v2 lays staged blocks out at commit.
  const sink: BlockSink = { ordered: c.protocol === 'v1', put: async (data, offset) => (await session()).put(data, offset) };
  const stream = new EntryStream(sink, {
    blockBytes: opts.blockBytes ?? STREAM_BLOCK_BYTES,
    concurrency: STREAM_CONCURRENCY,
    ...(opts.signingKey ? { signingKey: opts.signingKey } : {})
  });
  return {
    stream,
    async finish() {
      try {
        const t = await stream.finish();
        // finish() sent the index and trailer: the session exists.
        const r = await (await session()).commit(t.refs, t.size);
        if ('id' in r) return r.id;
        core.warning(`runbox store: the cache service did not take the snapshot under ${key}: ${r.refused}. The job goes on.`);
      } catch (e) {
        core.warning(uploadFailure(e) ?? `runbox store: saving the snapshot failed, the job goes on without it: ${describe(e)}`);
      }
      return undefined;
    }
  };
}

/** When a failed snapshot failed because its upload did: the warning to give. */
export function uploadFailure(e: unknown): string | undefined {
  if (!(e instanceof UploadError)) return undefined;
  if (e.cause instanceof KeyRefused) return `runbox store: ${e.cause.message}. The job goes on.`;
  return `runbox store: saving the snapshot failed, the job goes on without it: ${describe(e.cause)}`;
}
