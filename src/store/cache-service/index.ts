// A small client for the Actions cache service, selected from the environment as @actions/cache
// does: v2 (Twirp JSON + signed Azure blob URLs) on github.com / *.ghe.com / *.localhost with
// ACTIONS_CACHE_SERVICE_V2 set, v1 (`_apis/artifactcache`) otherwise (GHES). It moves raw bytes
// only: what the bytes mean is the entry reader's business.
import { Readable } from 'node:stream';
import { describe, fetchWithTimeout, HttpError, jsonBody, sendStream, withRetries } from './http.js';
import { shown } from '../../common/untrusted-text.js';

export { openBlob } from './http.js';

export type Protocol = 'v1' | 'v2';

export interface ServiceEnv {
  protocol: Protocol;
  /** Base URL, ending in `/`. */
  url: string;
  token: string;
  readable: boolean;
  writable: boolean;
  /** ACTIONS_CACHE_MODE as set, '' when unset. */
  mode: string;
}

/** Produces bytes [start, end) of the entry, afresh on every call (a retried block reads again). */
export type RangeProducer = (start: number, end: number) => Readable;

export interface UploadOptions {
  /** v2 block / v1 chunk size. */
  blockBytes?: number;
  concurrency?: number;
}

export type SaveResult = { id: string } | { refused: string };

/**
 * An upload whose size is known only at its end (a snapshot streamed as it is made). v2 stages
 * blocks under ids in any order and lays them out at commit; v1 writes each block at its offset,
 * so `ordered` tells the writer that a block's offset must be known before it is sent.
 */
export interface UploadSession {
  readonly ordered: boolean;
  /** Sends one block, the concatenation of `data` (retried from it); the reference to pass to commit. `offset` is required when ordered. */
  put(data: readonly Buffer[], offset?: number): Promise<string>;
  /** Makes the blocks, in `refs` order, the entry of `size` bytes; until then nothing is visible. */
  commit(refs: readonly string[], size: number): Promise<SaveResult>;
}

export interface CacheClient {
  readonly protocol: Protocol;
  /** The newest entry under the first key that matches (exactly, then as a prefix), same version only. */
  find(keys: readonly string[], version: string): Promise<{ matchedKey: string; url: string } | undefined>;
  save(key: string, version: string, size: number, body: RangeProducer, opts?: UploadOptions): Promise<SaveResult>;
  /** Reserves key for an upload of a size not known yet. */
  begin(key: string, version: string): Promise<UploadSession | { refused: string }>;
}

function isGhes(env: NodeJS.ProcessEnv): boolean {
  let host: string;
  try {
    host = new URL(env.GITHUB_SERVER_URL || 'https://github.com').hostname.trimEnd().toLowerCase();
  } catch {
    return true;
  }
  return host !== 'github.com' && !host.endsWith('.ghe.com') && !host.endsWith('.localhost');
}

const KNOWN_MODES = ['none', 'read', 'write', 'write-only'];

/** Which service this job has, or why none (a sentence). */
export function serviceFromEnv(env: NodeJS.ProcessEnv = process.env): ServiceEnv | string {
  const protocol: Protocol = !isGhes(env) && env.ACTIONS_CACHE_SERVICE_V2 ? 'v2' : 'v1';
  const raw = protocol === 'v2' ? env.ACTIONS_RESULTS_URL : env.ACTIONS_CACHE_URL || env.ACTIONS_RESULTS_URL;
  if (!raw) return `no ${protocol === 'v2' ? 'ACTIONS_RESULTS_URL' : 'ACTIONS_CACHE_URL'} (cache service ${protocol})`;
  const token = env.ACTIONS_RUNTIME_TOKEN ?? '';
  if (!token) return 'no ACTIONS_RUNTIME_TOKEN';
  const mode = (env.ACTIONS_CACHE_MODE ?? '').trim().toLowerCase();
  // As @actions/cache: an unknown mode is permissive, so a new runner mode changes nothing here.
  const known = KNOWN_MODES.includes(mode);
  return {
    protocol,
    url: raw.endsWith('/') ? raw : `${raw}/`,
    token,
    readable: !known || mode === 'read' || mode === 'write',
    writable: !known || mode === 'write' || mode === 'write-only',
    mode
  };
}

export function clientFor(svc: ServiceEnv): CacheClient {
  return svc.protocol === 'v2' ? new V2Client(svc) : new V1Client(svc);
}

/** Runs `tasks` with at most `n` at a time; the first failure stops starting new ones. */
async function limited(n: number, tasks: Array<() => Promise<void>>): Promise<void> {
  let next = 0;
  let failed: unknown;
  let didFail = false;
  const worker = async (): Promise<void> => {
    while (!didFail && next < tasks.length) {
      const t = tasks[next++];
      try {
        await t();
      } catch (e) {
        if (!didFail) [didFail, failed] = [true, e];
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, tasks.length) }, worker));
  if (didFail) throw failed;
}

/** A field of the service's JSON reply as text: a string as is, anything else as its JSON. */
/** Bytes of a block given as its pieces. */
const lengthOf = (data: readonly Buffer[]): number => data.reduce((n, b) => n + b.length, 0);

function fieldText(v: unknown): string {
  return typeof v === 'string' ? v : (JSON.stringify(v) ?? String(v));
}

// ---------------------------------------------------------------- v2 (Twirp)

const TWIRP = 'twirp/github.actions.results.api.v1.CacheService/';
const V2_BLOCK_BYTES = 64 * 2 ** 20;

class V2Client implements CacheClient {
  readonly protocol = 'v2';
  constructor(private readonly svc: ServiceEnv) {}

  private async rpc(method: string, body: object): Promise<Record<string, unknown>> {
    return withRetries(`cache service ${method}`, async () => {
      const res = await fetchWithTimeout(`${this.svc.url}${TWIRP}${method}`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${this.svc.token}`, 'Content-Type': 'application/json', Accept: 'application/json' },
        body: JSON.stringify(body)
      });
      const out = await jsonBody(res, method).catch((e: unknown) => {
        if (!res.ok) throw new HttpError(res.status, `${method}: HTTP ${res.status}`);
        throw e;
      });
      const o = (typeof out === 'object' && out !== null ? out : {}) as Record<string, unknown>;
      if (!res.ok) {
        const what = res.status === 429 ? 'rate limited' : `HTTP ${res.status}`;
        throw new HttpError(res.status, `${method}: ${what}: ${shown(fieldText(o.code ?? ''))} ${shown(fieldText(o.msg ?? ''))}`);
      }
      return o;
    });
  }

  async find(keys: readonly string[], version: string): Promise<{ matchedKey: string; url: string } | undefined> {
    const o = await this.rpc('GetCacheEntryDownloadURL', { key: keys[0], restore_keys: keys.slice(1), version });
    if (o.ok !== true) return undefined;
    const url = o.signed_download_url ?? o.signedDownloadUrl;
    const matchedKey = o.matched_key ?? o.matchedKey;
    if (typeof url !== 'string' || typeof matchedKey !== 'string') throw new Error('GetCacheEntryDownloadURL: ok without a URL and matched key');
    return { matchedKey, url };
  }

  /** Reserves key (CreateCacheEntry) and opens its blob for block uploads, or says why not. */
  private async createEntry(key: string, version: string): Promise<import('@azure/storage-blob').BlockBlobClient | { refused: string }> {
    const created = await this.rpc('CreateCacheEntry', { key, version });
    const uploadUrl = created.signed_upload_url ?? created.signedUploadUrl;
    if (created.ok !== true || typeof uploadUrl !== 'string')
      return { refused: `CreateCacheEntry refused ${key}: ${shown(fieldText(created.message ?? 'no reason given'))} (a concurrent job may have saved this key first)` };
    // Loaded here, not at the top: the SDK is most of the bundle, and only a save uploads. Every
    // main, post and janitor-only step would otherwise pay for parsing it at start.
    const { AnonymousCredential, BlockBlobClient, newPipeline } = await import('@azure/storage-blob');
    // The SDK's own retries are off: ours (bounded, same backoff as the RPCs) wrap each block.
    return new BlockBlobClient(uploadUrl, newPipeline(new AnonymousCredential(), { retryOptions: { maxTries: 1 } }));
  }

  async save(key: string, version: string, size: number, body: RangeProducer, opts: UploadOptions = {}): Promise<SaveResult> {
    const blob = await this.createEntry(key, version);
    if ('refused' in blob) return blob;
    const blockBytes = opts.blockBytes ?? V2_BLOCK_BYTES;
    const count = Math.max(1, Math.ceil(size / blockBytes));
    // Block ids must all have the same length within a blob.
    const ids = Array.from({ length: count }, (_, i) => Buffer.from(`runbox-${String(i).padStart(6, '0')}`).toString('base64'));
    await limited(
      opts.concurrency ?? 4,
      ids.map((id, i) => async () => {
        const start = i * blockBytes;
        const end = Math.min(size, start + blockBytes);
        await withRetries(`uploading block ${i + 1}/${count}`, () => blob.stageBlock(id, () => body(start, end), end - start));
      })
    );
    await withRetries('committing the block list', () => blob.commitBlockList(ids));
    const fin = await this.rpc('FinalizeCacheEntryUpload', { key, version, size_bytes: String(size) });
    if (fin.ok !== true) return { refused: `FinalizeCacheEntryUpload refused ${key}: ${shown(fieldText(fin.message ?? 'no reason given'))}` };
    return { id: fieldText(fin.entry_id ?? fin.entryId ?? '') };
  }

  async begin(key: string, version: string): Promise<UploadSession | { refused: string }> {
    const blob = await this.createEntry(key, version);
    if ('refused' in blob) return blob;
    let next = 0;
    return {
      ordered: false,
      put: async (data) => {
        const n = next++;
        // Same length for every id of a blob (Azure's rule); 10^8 blocks is past any entry.
        const id = Buffer.from(`runbox-s${String(n).padStart(8, '0')}`).toString('base64');
        await withRetries(`uploading block ${n + 1}`, () => blob.stageBlock(id, () => Readable.from(data), lengthOf(data)));
        return id;
      },
      commit: async (refs, size) => {
        await withRetries('committing the block list', () => blob.commitBlockList([...refs]));
        const fin = await this.rpc('FinalizeCacheEntryUpload', { key, version, size_bytes: String(size) });
        if (fin.ok !== true) return { refused: `FinalizeCacheEntryUpload refused ${key}: ${shown(fieldText(fin.message ?? 'no reason given'))}` };
        return { id: fieldText(fin.entry_id ?? fin.entryId ?? '') };
      }
    };
  }
}

// ---------------------------------------------------------------- v1 (GHES)

const V1_ACCEPT = 'application/json;api-version=6.0-preview.1';
const V1_CHUNK_BYTES = 32 * 2 ** 20;

class V1Client implements CacheClient {
  readonly protocol = 'v1';
  constructor(private readonly svc: ServiceEnv) {}

  private headers(json: boolean): Record<string, string> {
    return { Authorization: `Bearer ${this.svc.token}`, Accept: V1_ACCEPT, ...(json ? { 'Content-Type': 'application/json' } : {}) };
  }

  private async call(what: string, method: string, path: string, body?: object): Promise<{ status: number; json: unknown }> {
    return withRetries(`cache service ${what}`, async () => {
      const res = await fetchWithTimeout(`${this.svc.url}_apis/artifactcache/${path}`, {
        method,
        headers: this.headers(body !== undefined),
        ...(body !== undefined ? { body: JSON.stringify(body) } : {})
      });
      if (res.status >= 500 || res.status === 429) {
        throw new HttpError(res.status, `${what}: ${res.status === 429 ? 'rate limited' : 'HTTP'} (${res.status})`);
      }
      const text = res.status === 204 ? '' : await res.text();
      let json: unknown;
      if (text !== '')
        try {
          json = JSON.parse(text) as unknown;
        } catch {
          json = undefined;
        }
      return { status: res.status, json };
    });
  }

  async find(keys: readonly string[], version: string): Promise<{ matchedKey: string; url: string } | undefined> {
    const r = await this.call('lookup', 'GET', `cache?keys=${encodeURIComponent(keys.join(','))}&version=${encodeURIComponent(version)}`);
    if (r.status === 204 || r.status === 404) return undefined;
    if (r.status !== 200) throw new HttpError(r.status, `cache lookup: HTTP ${r.status}`);
    const o = (r.json ?? {}) as Record<string, unknown>;
    if (typeof o.archiveLocation !== 'string' || o.archiveLocation === '') return undefined;
    if (typeof o.cacheKey !== 'string') throw new Error('cache lookup: a hit without cacheKey');
    return { matchedKey: o.cacheKey, url: o.archiveLocation };
  }

  async save(key: string, version: string, size: number, body: RangeProducer, opts: UploadOptions = {}): Promise<SaveResult> {
    const r = await this.reserve(key, version, size);
    if ('refused' in r) return r;
    const chunk = opts.blockBytes ?? V1_CHUNK_BYTES;
    const tasks: Array<() => Promise<void>> = [];
    for (let start = 0; start < size; start += chunk) {
      const end = Math.min(size, start + chunk);
      tasks.push(() => this.patch(r.id, start, end, () => body(start, end)));
    }
    await limited(opts.concurrency ?? 4, tasks);
    return this.commit(key, r.id, size);
  }

  private async commit(key: string, id: number | string, size: number): Promise<SaveResult> {
    const c = await this.call('commit', 'POST', `caches/${String(id)}`, { size });
    if (c.status < 200 || c.status >= 300) return { refused: `the cache service did not commit ${key}: HTTP ${c.status}` };
    return { id: String(id) };
  }

  private async reserve(key: string, version: string, size?: number): Promise<{ id: number | string } | { refused: string }> {
    const r = await this.call('reserve', 'POST', 'caches', { key, version, ...(size !== undefined ? { cacheSize: size } : {}) });
    const id = (r.json as { cacheId?: unknown } | undefined)?.cacheId;
    if (r.status === 409 || (r.status < 300 && typeof id !== 'number' && typeof id !== 'string'))
      return { refused: `the cache service did not reserve ${key} (HTTP ${r.status}: another job may be saving it, or it exists)` };
    if (r.status >= 300) {
      const msg = (r.json as { message?: unknown } | undefined)?.message;
      return { refused: `the cache service refused to reserve ${key}: HTTP ${r.status} ${shown(fieldText(msg ?? ''))}` };
    }
    return { id: id as number | string };
  }

  private async patch(id: number | string, start: number, end: number, body: () => Readable): Promise<void> {
    await withRetries(`uploading bytes ${start}-${end - 1}`, async () => {
      const res = await sendStream(
        'PATCH',
        `${this.svc.url}_apis/artifactcache/caches/${String(id)}`,
        { ...this.headers(false), 'Content-Type': 'application/octet-stream', 'Content-Range': `bytes ${start}-${end - 1}/*` },
        body,
        end - start
      );
      if (res.status < 200 || res.status >= 300) throw new HttpError(res.status, `PATCH bytes ${start}-${end - 1}: HTTP ${res.status} ${shown(res.text)}`);
    });
  }

  async begin(key: string, version: string): Promise<UploadSession | { refused: string }> {
    // No cacheSize: it is not known before the end (the field is optional, as in older @actions/cache).
    const r = await this.reserve(key, version);
    if ('refused' in r) return r;
    return {
      ordered: true,
      put: async (data, offset) => {
        if (offset === undefined) throw new Error('v1 upload: a block without its offset');
        await this.patch(r.id, offset, offset + lengthOf(data), () => Readable.from(data));
        return String(offset);
      },
      commit: (_refs, size) => this.commit(key, r.id, size)
    };
  }
}

export { describe };
