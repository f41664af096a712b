#!/usr/bin/env node
// Local stand-in for the GitHub Actions cache service so runbox's cache client (and the real
// @actions/cache) can be exercised on loopback: v2 (Twirp RPC + Azure-like blob storage) and v1
// (the GHES `_apis/artifactcache` REST API), over one shared set of entries. Node built-ins only,
// except in azurite mode.
//
//   node tools/cache-server.mjs [--port N] [--dir D] [--azurite]
//   -> prints {"url":"http://127.0.0.1:PORT/","pid":N} and serves until SIGTERM/SIGINT.
//
// Client side, v2: ACTIONS_CACHE_SERVICE_V2=true ACTIONS_RESULTS_URL=<url> ACTIONS_RUNTIME_TOKEN=x
// (and GITHUB_SERVER_URL unset or github.com, else the client assumes GHES and uses v1).
// v1: ACTIONS_CACHE_URL=<url> ACTIONS_RUNTIME_TOKEN=x GITHUB_SERVER_URL=http://ghes.example.
//
// Blobs: served by this server itself (PUT block/blocklist/single shot, GET/HEAD with Range and
// x-ms-range), or, with `azurite: true` / --azurite, by a real azurite blob service it starts from
// node_modules/.bin on a free loopback port: the signed URLs are then azurite SAS URLs (account
// devstoreaccount1), so uploads go through the real Azure protocol; blob fault modes do not apply
// to azurite blobs (RPC faults do).
//
// Test hooks: POST /_control {"fault": mode|null} (or setFault(mode) in-process),
// POST /_control {"evict": key} (or evict(key): drops every entry under that exact key, as the
// service's eviction would; answers {"evicted": n}), POST /_control {"deleteId": id} (one finalized
// entry; {"deleted": 0|1}), POST /_control {"reservations": "strict"|"lenient"} (strict: a reserved,
// unfinalized upload makes the next reservation of its key fail, as the real services do until
// they expire it; lenient, the default: the new reservation replaces it) and GET /_stats (or stats()). Modes: down, 500, 429 (RPCs), corrupt-blob, truncate-blob
// (downloads), upload-500 (blob PUTs and v1 PATCHes). Entries live in memory; blobs are files in
// `dir`. Stats: `downloads` counts blob GETs that start at byte 0 (one per entry a client fetches,
// whether it asks for the whole blob or a range), `downloadBytes` every byte served.
import http from 'node:http';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { pathToFileURL } from 'node:url';

const RPC_PREFIX = '/twirp/github.actions.results.api.v1.CacheService/';
// Path-style Azurite-like URLs: the Azure SDK treats an IP host as "account in the path".
const BLOB_PREFIX = '/devstoreaccount1/cache/';
/** Blob reads when serving a GET, and the spare buffers they go into (see sendRange). */
const READ_BYTES = 1 << 20;
const readBuffers = [];
const FAULTS = [null, 'down', '500', '429', 'corrupt-blob', 'truncate-blob', 'upload-500'];
const TWIRP_STATUS = { malformed: 400, invalid_argument: 400, unauthenticated: 401, bad_route: 404, not_found: 404, resource_exhausted: 429, internal: 500 };

const debug = (...a) => {
  if (process.env.CACHE_SERVER_DEBUG) console.error('[cache-server]', ...a);
};

class TwirpError extends Error {
  constructor(code, msg) {
    super(msg);
    this.code = code;
  }
}

// azurite's well-known development account (its README): not a secret.
const AZURITE_ACCOUNT = 'devstoreaccount1';
const AZURITE_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';
const V1_PREFIX = '/_apis/artifactcache/';

async function freePort(host) {
  const s = http.createServer();
  await new Promise((resolve, reject) => s.once('error', reject).listen(0, host, resolve));
  const p = s.address().port;
  await new Promise((resolve) => s.close(resolve));
  return p;
}

/** Starts azurite-blob in memory; resolves to its blob endpoint, a SAS maker and a stop function. */
async function startAzurite(host) {
  const { spawn } = await import('node:child_process');
  const here = path.dirname(new URL(import.meta.url).pathname);
  const bin = path.join(here, '..', 'node_modules', '.bin', 'azurite-blob');
  const blobPort = await freePort(host);
  const child = spawn(bin, ['--blobHost', host, '--blobPort', String(blobPort), '--inMemoryPersistence', '--skipApiVersionCheck', '--disableTelemetry', '--loose', '--silent'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: false
  });
  let out = '';
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`azurite did not start: ${out}`)), 30_000);
    const onData = (d) => {
      out += d.toString();
      if (/successfully listens/.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`azurite exited (${code}): ${out}`));
    });
  });
  child.removeAllListeners('exit');
  const azure = await import('@azure/storage-blob');
  const cred = new azure.StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY);
  const endpoint = `http://${host}:${blobPort}/${AZURITE_ACCOUNT}`;
  const container = new azure.BlobServiceClient(endpoint, cred).getContainerClient('cache');
  await container.create();
  const sasUrl = (blob, permissions) => {
    const sas = azure.generateBlobSASQueryParameters(
      { containerName: 'cache', blobName: blob, permissions: azure.BlobSASPermissions.parse(permissions), expiresOn: new Date(Date.now() + 3600_000) },
      cred
    );
    return `${endpoint}/cache/${blob}?${sas.toString()}`;
  };
  const size = async (blob) => {
    try {
      return (await container.getBlobClient(blob).getProperties()).contentLength;
    } catch {
      return undefined;
    }
  };
  const stop = () =>
    new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', resolve);
      child.kill('SIGTERM');
    });
  return { sasUrl, size, stop, endpoint };
}

export async function startCacheServer({ port = 0, host = '127.0.0.1', dir, azurite = false } = {}) {
  const ownDir = !dir;
  const blobDir = dir ?? (await fsp.mkdtemp(path.join(os.tmpdir(), 'cache-server-')));
  await fsp.mkdir(blobDir, { recursive: true });

  const az = azurite ? await startAzurite(host) : undefined;
  const entries = new Map(); // `${key}\0${version}` -> entry
  const byId = new Map(); // blob id -> entry (pending or finalized)
  const counters = { uploads: 0, uploadBytes: 0, downloads: 0, downloadBytes: 0, rpcs: 0 };
  let nextId = 1;
  let seq = 0; // finalize order; timestamps can tie within a millisecond
  let fault = null;
  // 'strict': a pending (reserved, unfinalized) upload blocks a new reservation of its key, as
  // the real services do until they expire it; 'lenient' (default): the new one replaces it.
  let reservations = 'lenient';
  let baseUrl = '';

  const setFault = (f) => {
    if (!FAULTS.includes(f ?? null)) throw new Error(`unknown fault mode: ${f}`);
    fault = f ?? null;
  };
  const stats = () => ({
    entries: [...entries.values()].map((e) => ({
      key: e.key,
      version: e.version,
      size: e.size,
      finalized: e.finalized,
      // For tools/caches-api.mjs (the REST API's listing): the entry's id and times, ISO 8601.
      id: e.id,
      createdAt: e.createdAt,
      lastAccessedAt: e.lastAccessedAt
    })),
    ...counters,
    fault
  });
  const blobFile = (e) => path.join(blobDir, `${e.id}.blob`);
  const evict = async (key) => {
    let n = 0;
    for (const [k, e] of entries)
      if (e.key === key) {
        entries.delete(k);
        byId.delete(e.id);
        await fsp.rm(blobFile(e), { force: true });
        n++;
      }
    return n;
  };
  const deleteId = async (id) => {
    for (const [k, e] of entries)
      if (e.id === id && e.finalized) {
        entries.delete(k);
        byId.delete(e.id);
        await fsp.rm(blobFile(e), { force: true });
        return 1;
      }
    return 0;
  };
  const blockFile = (e, blockId) => path.join(blobDir, `${e.id}.block.${Buffer.from(blockId, 'base64').toString('hex')}`);

  // ---- Twirp RPCs: requests arrive with proto field names (useProtoFieldName: true);
  // responses use proto names too, which protobuf-ts fromJson accepts alongside camelCase.
  function findMatch(keys, version) {
    const done = [...entries.values()].filter((e) => e.finalized && e.version === version);
    for (const k of keys) {
      const exact = done.find((e) => e.key === k);
      if (exact) return exact;
      const prefixed = done.filter((e) => e.key.startsWith(k)).sort((a, b) => b.seq - a.seq);
      if (prefixed.length) return prefixed[0];
    }
    return undefined;
  }
  const downloadUrl = (e) => (az ? az.sasUrl(String(e.id), 'r') : `${baseUrl}${BLOB_PREFIX.slice(1)}${e.id}?sig=read-${randomUUID()}`);
  const rpc = {
    CreateCacheEntry({ key, version }) {
      const old = entries.get(`${key}\0${version}`);
      // Only a finalized entry blocks a new reservation: an abandoned upload (crashed job,
      // injected fault) must not poison the key for the rest of the run.
      if (old?.finalized) return { ok: false, message: `cache entry ${key} already exists` };
      if (old && reservations === 'strict') return { ok: false, message: `cache entry ${key} is being uploaded (reserved, not finalized)` };
      if (old) {
        byId.delete(old.id);
        void fsp
          .rm(blobFile(old), { force: true })
          .then(() => removeBlocks(old))
          .catch(() => {});
      }
      const e = { id: nextId++, key, version, size: 0, finalized: false, uploaded: false, seq: 0 };
      entries.set(`${key}\0${version}`, e);
      byId.set(e.id, e);
      return { ok: true, signed_upload_url: az ? az.sasUrl(String(e.id), 'cw') : `${baseUrl}${BLOB_PREFIX.slice(1)}${e.id}?sig=upload-${randomUUID()}` };
    },
    async FinalizeCacheEntryUpload({ key, version, size_bytes }) {
      const e = entries.get(`${key}\0${version}`);
      if (!e || e.finalized) return { ok: false, message: `no pending upload for ${key}` };
      if (az) {
        const n = await az.size(String(e.id));
        // azurite holds the blob: what it committed is what was uploaded.
        if (n !== undefined) {
          Object.assign(e, { uploaded: true, size: n });
          counters.uploads++;
          counters.uploadBytes += n;
        }
      }
      if (!e.uploaded) return { ok: false, message: `blob for ${key} was never uploaded` };
      if (size_bytes !== undefined && Number(size_bytes) !== e.size) {
        return { ok: false, message: `size mismatch for ${key}: finalize says ${size_bytes}, blob has ${e.size}` };
      }
      const now = new Date().toISOString();
      Object.assign(e, { finalized: true, seq: ++seq, createdAt: now, lastAccessedAt: now });
      return { ok: true, entry_id: String(e.id) }; // int64 is a JSON string in proto3
    },
    GetCacheEntryDownloadURL({ key, restore_keys = [], version }) {
      const e = findMatch([key, ...restore_keys], version);
      if (!e) return { ok: false };
      e.lastAccessedAt = new Date().toISOString();
      return { ok: true, signed_download_url: downloadUrl(e), matched_key: e.key };
    }
  };

  async function handleRpc(req, res, method) {
    counters.rpcs++;
    // 500s and 429s still carry a JSON body: the client JSON.parses every response.
    if (fault === '500') throw new TwirpError('internal', 'injected fault: 500');
    if (fault === '429') {
      res.setHeader('Retry-After', '1');
      throw new TwirpError('resource_exhausted', 'injected fault: 429');
    }
    if (req.method !== 'POST' || !Object.hasOwn(rpc, method)) throw new TwirpError('bad_route', `no handler for ${req.method} ${req.url}`);
    if (!/^Bearer \S/.test(req.headers.authorization ?? '')) throw new TwirpError('unauthenticated', 'missing bearer token');
    let body;
    try {
      body = JSON.parse((await readBody(req)).toString('utf8') || '{}');
    } catch {
      throw new TwirpError('malformed', 'request body is not JSON');
    }
    // Accept camelCase too, in case a client serialises with json names.
    const args = {
      key: body.key,
      version: body.version,
      restore_keys: body.restore_keys ?? body.restoreKeys,
      size_bytes: body.size_bytes ?? body.sizeBytes
    };
    if (typeof args.key !== 'string' || !args.key || typeof args.version !== 'string' || !args.version) {
      throw new TwirpError('invalid_argument', 'key and version are required');
    }
    const out = await rpc[method](args);
    debug(method, JSON.stringify(body), '->', JSON.stringify(out));
    sendJson(res, 200, out);
  }

  // ---- v1 (GHES) REST API, over the same entries; blobs are always served by this server.
  async function handleV1(req, res, rest, query) {
    counters.rpcs++;
    const v1Json = (status, obj) => sendJson(res, status, obj);
    if (fault === '500') return v1Json(500, { message: 'injected fault: 500' });
    if (fault === '429') {
      res.setHeader('Retry-After', '1');
      return v1Json(429, { message: 'injected fault: 429' });
    }
    if (!/^Bearer \S/.test(req.headers.authorization ?? '')) return v1Json(401, { message: 'missing bearer token' });
    if (!/api-version=6\.0-preview\.1/.test(req.headers.accept ?? '')) return v1Json(400, { message: 'Accept must name api-version=6.0-preview.1' });
    if (rest === 'cache' && req.method === 'GET') {
      const keys = (query.get('keys') ?? '').split(',').filter(Boolean);
      const version = query.get('version') ?? '';
      if (!keys.length || !version) return v1Json(400, { message: 'keys and version are required' });
      const e = findMatch(keys, version);
      if (!e) {
        res.writeHead(204);
        return res.end();
      }
      return v1Json(200, { cacheKey: e.key, scope: 'refs/heads/main', cacheVersion: version, creationTime: new Date().toISOString(), archiveLocation: downloadUrl(e) });
    }
    if (rest === 'caches' && req.method === 'POST') {
      const { key, version, cacheSize } = JSON.parse((await readBody(req)).toString('utf8') || '{}');
      if (typeof key !== 'string' || !key || typeof version !== 'string' || !version) return v1Json(400, { message: 'key and version are required' });
      const old = entries.get(`${key}\0${version}`);
      if (old?.finalized) return v1Json(409, { message: `Cache already exists. Scope: refs/heads/main, Key: ${key}, Version: ${version}` });
      if (old && reservations === 'strict') return v1Json(409, { message: `Cache is being uploaded (reserved). Key: ${key}, Version: ${version}` });
      if (old) byId.delete(old.id);
      const e = { id: nextId++, key, version, size: 0, finalized: false, uploaded: false, seq: 0, v1: true, cacheSize };
      entries.set(`${key}\0${version}`, e);
      byId.set(e.id, e);
      await fsp.writeFile(blobFile(e), '');
      return v1Json(201, { cacheId: e.id });
    }
    const m = /^caches\/(\d+)$/.exec(rest);
    const e = m ? byId.get(Number(m[1])) : undefined;
    if (m && req.method === 'PATCH') {
      if (fault === 'upload-500') {
        await drain(req);
        return v1Json(500, { message: 'injected fault: upload-500' });
      }
      if (!e || e.finalized) return v1Json(404, { message: 'no pending upload' });
      const cr = /^bytes (\d+)-(\d+)\/\*$/.exec(req.headers['content-range'] ?? '');
      if (!cr) return v1Json(400, { message: 'Content-Range must be bytes a-b/*' });
      const [start, end] = [Number(cr[1]), Number(cr[2])];
      const body = await readBody(req, 256 * 2 ** 20);
      if (body.length !== end - start + 1) return v1Json(400, { message: `Content-Range says ${end - start + 1} bytes, the body has ${body.length}` });
      const fh = await fsp.open(blobFile(e), 'r+');
      try {
        await fh.write(body, 0, body.length, start);
      } finally {
        await fh.close();
      }
      counters.uploadBytes += body.length;
      res.writeHead(204);
      return res.end();
    }
    if (m && req.method === 'POST') {
      if (!e || e.finalized) return v1Json(404, { message: 'no pending upload' });
      const { size } = JSON.parse((await readBody(req)).toString('utf8') || '{}');
      const actual = (await fsp.stat(blobFile(e))).size;
      if (size !== actual) return v1Json(400, { message: `size mismatch: commit says ${size}, blob has ${actual}` });
      Object.assign(e, { size: actual, uploaded: true, finalized: true, seq: ++seq });
      counters.uploads++;
      res.writeHead(204);
      return res.end();
    }
    return v1Json(404, { message: `no route for ${req.method} ${rest}` });
  }

  // ---- Blob storage, shaped after what @azure/storage-blob's BlockBlobClient sends.
  async function handleBlob(req, res, id, query) {
    const e = byId.get(id);
    if (req.method === 'PUT') {
      if (fault === 'upload-500') {
        await drain(req);
        return azureError(res, 500, 'InternalError', 'injected fault: upload-500');
      }
      if (!e || e.finalized) return azureError(res, 404, 'BlobNotFound', 'no pending upload for this URL');
      const comp = query.get('comp');
      if (comp === 'block') {
        const blockId = query.get('blockid');
        if (!blockId) return azureError(res, 400, 'InvalidQueryParameterValue', 'blockid missing');
        const len = Number(req.headers['content-length']);
        if (!(Number.isSafeInteger(len) && len >= 0)) e.staged?.blocks.delete(blockId);
        const n = Number.isSafeInteger(len) && len >= 0 ? await receiveStaged(req, e, blockId, len) : await receive(req, blockFile(e, blockId));
        counters.uploadBytes += n;
        return blobOk(res, 201, e);
      }
      if (comp === 'blocklist') {
        const xml = (await readBody(req)).toString('utf8');
        const ids = [...xml.matchAll(/<(Latest|Committed|Uncommitted)>([^<]*)<\/\1>/g)].map((m) => m[2]);
        const st = e.staged;
        for (const b of ids) if (!st?.blocks.has(b) && !fs.existsSync(blockFile(e, b))) return azureError(res, 400, 'InvalidBlockList', `unknown block ${b}`);
        await commitBlocks(e, ids);
        return uploaded(res, e);
      }
      if (comp) return azureError(res, 400, 'UnsupportedQueryParameter', `comp=${comp}`);
      if (req.headers['x-ms-blob-type'] !== 'BlockBlob') return azureError(res, 400, 'InvalidHeaderValue', 'x-ms-blob-type must be BlockBlob');
      const n = await receive(req, blobFile(e));
      e.extents = undefined;
      counters.uploadBytes += n;
      return uploaded(res, e);
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return azureError(res, 405, 'UnsupportedHttpVerb', req.method);
    if (!e?.finalized) return azureError(res, 404, 'BlobNotFound', 'The specified blob does not exist.');
    const size = e.size;
    let start = 0;
    let end = size - 1;
    const range = req.headers.range ?? req.headers['x-ms-range'];
    if (range) {
      const m = /^bytes=(\d*)-(\d*)$/.exec(range);
      if (m && m[1]) [start, end] = [Number(m[1]), m[2] ? Math.min(Number(m[2]), size - 1) : size - 1];
      else if (m && m[2]) [start, end] = [Math.max(0, size - Number(m[2])), size - 1];
      if (!m || (!m[1] && !m[2]) || start > end) {
        res.setHeader('Content-Range', `bytes */${size}`);
        return azureError(res, 416, 'InvalidRange', `cannot satisfy ${range}`);
      }
      res.setHeader('Content-Range', `bytes ${start}-${end}/${size}`);
    }
    const len = end - start + 1;
    blobHeaders(res, e);
    res.writeHead(range ? 206 : 200, {
      'Content-Length': len,
      'Content-Type': 'application/octet-stream',
      'Accept-Ranges': 'bytes',
      'x-ms-blob-type': 'BlockBlob'
    });
    if (req.method === 'HEAD' || len === 0) return res.end();
    if (start === 0) counters.downloads++;
    const truncate = fault === 'truncate-blob';
    const stop = truncate ? start + Math.floor(len / 2) : end + 1;
    // Flip the middle byte and the last one: the last bytes are the gzip ISIZE / zstd
    // checksum, so a corrupted archive is always detected by the decompressor.
    const flips = fault === 'corrupt-blob' ? new Set([Math.floor(size / 2), size - 1]) : new Set();
    if (stop > start)
      await sendRange(e, start, stop, res, (chunk, pos) => {
        for (let i = 0; i < chunk.length && flips.size; i++) if (flips.has(pos + i)) chunk[i] ^= 0xff;
        counters.downloadBytes += chunk.length;
      });
    // Truncated: flush what was written, then FIN; the client sees fewer bytes than Content-Length.
    if (truncate) await new Promise((resolve) => res.socket?.end(resolve) ?? resolve());
    else res.end();
  }

  async function receive(req, file) {
    const tmp = `${file}.${randomUUID()}.part`;
    // Write aside and rename, so an aborted PUT never leaves a half blob in place.
    await pipeline(req, fs.createWriteStream(tmp)).catch(async (err) => {
      await fsp.rm(tmp, { force: true });
      throw err;
    });
    await fsp.rename(tmp, file);
    return (await fsp.stat(file)).size;
  }
  async function uploaded(res, e) {
    e.size = e.extents ? e.extents.reduce((n, x) => n + x.len, 0) : (await fsp.stat(blobFile(e))).size;
    e.uploaded = true;
    counters.uploads++;
    blobOk(res, 201, e);
  }
  async function removeBlocks(e) {
    const st = e.staged;
    e.staged = undefined;
    if (st) await st.fh.then((fh) => fh.close()).catch(() => {});
    for (const f of await fsp.readdir(blobDir)) if (f.startsWith(`${e.id}.block.`) || f === `${e.id}.staging`) await fsp.rm(path.join(blobDir, f), { force: true });
  }
  // Blocks with a Content-Length go into one staging file per upload, each at the offset taken
  // when its PUT began, and the commit only records where the listed blocks lie in it (the
  // blob's extents, in list order, read through by GET): no byte is copied again. Copying every
  // block at the commit, as the first version of this server did, cost the benchmark's machine
  // about a CPU second per 128 MiB entry that the real service never takes from a runner.
  async function receiveStaged(req, e, blockId, len) {
    const file = path.join(blobDir, `${e.id}.staging`);
    const st = (e.staged ??= { file, size: 0, blocks: new Map(), fh: fsp.open(file, 'w+') });
    const offset = st.size;
    st.size += len;
    st.blocks.delete(blockId);
    const fh = await st.fh;
    let n = 0;
    for await (const chunk of req) {
      if (n + chunk.length > len) throw new Error(`block ${blockId}: more bytes than its Content-Length ${len}`);
      await fh.write(chunk, 0, chunk.length, offset + n);
      n += chunk.length;
    }
    if (n !== len) throw new Error(`block ${blockId}: ${n} of its ${len} bytes arrived`);
    // A retried block id points at its last upload; the earlier copy is a hole no extent names.
    st.blocks.set(blockId, { offset, len });
    await fsp.rm(blockFile(e, blockId), { force: true });
    return n;
  }
  async function commitBlocks(e, ids) {
    const st = e.staged;
    if (st && ids.every((b) => st.blocks.has(b))) {
      const extents = ids.map((b) => st.blocks.get(b));
      e.staged = undefined;
      await (await st.fh).close();
      await fsp.rename(st.file, blobFile(e));
      // In list order from offset 0 with nothing else in the file: the file is the blob.
      let at = 0;
      const identity = extents.every((x) => x.offset === (at += x.len) - x.len) && at === st.size;
      e.extents = identity ? undefined : extents;
    } else {
      // Some block came without a Content-Length (a file of its own): the blob is written out.
      const out = await fsp.open(`${blobFile(e)}.commit`, 'w');
      try {
        for (const b of ids) {
          const r = st?.blocks.get(b);
          if (r && r.len === 0) continue;
          const src = r ? fs.createReadStream(st.file, { start: r.offset, end: r.offset + r.len - 1 }) : fs.createReadStream(blockFile(e, b));
          for await (const chunk of src) await out.write(chunk);
        }
      } finally {
        await out.close();
      }
      await fsp.rename(`${blobFile(e)}.commit`, blobFile(e));
      e.extents = undefined;
    }
    await removeBlocks(e);
  }
  /** The blob's bytes [start, stop) (logical offsets), read through its extents. */
  /**
   * Bytes [start, stop) of the blob to `res`, read 1 MiB at a time into this server's few reused
   * buffers, each written before it is filled again; `seen(chunk, blobOffset)` may change a chunk
   * before it is sent. This server shares the benchmark's cores with the restore it serves, which
   * the real service never does: a fresh buffer per read (a file stream's) cost it about 0.5 CPU s
   * per 128 MiB served on this kind of VM, in page faults.
   */
  async function sendRange(e, start, stop, res, seen) {
    const extents = e.extents ?? [{ offset: 0, len: e.size }];
    const fh = await fsp.open(blobFile(e), 'r');
    const buf = readBuffers.pop() ?? Buffer.allocUnsafeSlow(READ_BYTES);
    let gone;
    const closed = new Promise((_, reject) => (gone = () => reject(new Error('the client went away'))));
    closed.catch(() => undefined);
    res.once('close', gone);
    try {
      let at = 0;
      for (const x of extents) {
        let from = Math.max(start, at);
        const to = Math.min(stop, at + x.len);
        const fileBase = x.offset - at;
        at += x.len;
        while (from < to) {
          const { bytesRead } = await fh.read(buf, 0, Math.min(READ_BYTES, to - from), fileBase + from);
          if (bytesRead === 0) throw new Error(`blob ${e.id}: its file ended at ${fileBase + from}`);
          const chunk = buf.subarray(0, bytesRead);
          seen(chunk, from);
          // The buffer is filled again only once the socket has taken this chunk.
          await Promise.race([new Promise((resolve, reject) => res.write(chunk, (err) => (err ? reject(err) : resolve()))), closed]);
          from += bytesRead;
        }
        if (at >= stop) break;
      }
    } finally {
      res.off('close', gone);
      await fh.close();
      // A write still pending on a dead socket may hold the buffer: only a clean end returns it.
      if (!res.destroyed) readBuffers.push(buf);
    }
  }

  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://localhost');
    res.on('finish', () => debug(req.method, req.url, res.statusCode));
    const route = async () => {
      if (url.pathname === '/_stats') return sendJson(res, 200, stats());
      if (url.pathname === '/_control') {
        if (req.method !== 'POST') return sendJson(res, 405, { error: 'POST only' });
        try {
          const body = JSON.parse((await readBody(req)).toString('utf8') || '{}');
          if (typeof body.evict === 'string') return sendJson(res, 200, { evicted: await evict(body.evict) });
          // One entry by id (the REST API's DELETE /actions/caches/{id}, through tools/caches-api.mjs).
          if (typeof body.deleteId === 'number') return sendJson(res, 200, { deleted: await deleteId(body.deleteId) });
          if (body.reservations === 'strict' || body.reservations === 'lenient') {
            reservations = body.reservations;
            return sendJson(res, 200, { reservations });
          }
          setFault(body.fault);
        } catch (err) {
          return sendJson(res, 400, { error: String(err.message) });
        }
        return sendJson(res, 200, { fault });
      }
      // Control and stats stay reachable in "down" mode, otherwise it could never be lifted.
      if (fault === 'down') return req.socket.destroy();
      if (url.pathname.startsWith(RPC_PREFIX)) return handleRpc(req, res, url.pathname.slice(RPC_PREFIX.length));
      if (url.pathname.startsWith(V1_PREFIX)) return handleV1(req, res, url.pathname.slice(V1_PREFIX.length), url.searchParams);
      const m = url.pathname.startsWith(BLOB_PREFIX) && /^(\d+)$/.exec(url.pathname.slice(BLOB_PREFIX.length));
      if (m) return handleBlob(req, res, Number(m[1]), url.searchParams);
      return sendJson(res, 404, { code: 'bad_route', msg: `no route for ${req.method} ${url.pathname}` });
    };
    route().catch((err) => {
      if (res.headersSent || res.destroyed) return res.destroy();
      if (err instanceof TwirpError) return sendJson(res, TWIRP_STATUS[err.code] ?? 500, { code: err.code, msg: err.message });
      debug('internal error', err);
      sendJson(res, 500, { code: 'internal', msg: String(err?.message ?? err) });
    });
  });

  // Node closes an idle keep-alive socket after 5 s, and undici (fetch) reuses one until 4 s: on a
  // loaded machine the two timers race and a request goes out on a socket the server just closed
  // ("other side closed"). A server that keeps sockets longer leaves the closing to the client.
  server.keepAliveTimeout = 65_000;
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const actualPort = server.address().port;
  baseUrl = `http://${host.includes(':') ? `[${host}]` : host}:${actualPort}/`;
  debug('listening on', baseUrl, 'blobs in', blobDir);

  let closing;
  const close = () =>
    (closing ??= (async () => {
      // Keep-alive agents in the clients would otherwise hold server.close() open.
      await new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      if (ownDir) await fsp.rm(blobDir, { recursive: true, force: true });
      await az?.stop();
    })());

  // blobEndpoint: azurite's account URL in azurite mode (tests inspect blobs with the dev key).
  return { url: baseUrl, port: actualPort, dir: blobDir, close, stats, setFault, evict, ...(az ? { blobEndpoint: az.endpoint, accountKey: AZURITE_KEY } : {}) };
}

function readBody(req, limit = 16 * 1024 * 1024) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let n = 0;
    req.on('data', (c) => {
      n += c.length;
      if (n > limit) {
        reject(new TwirpError('malformed', 'body too large'));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}
// Consume the upload before answering so the client reads our status, not an EPIPE.
const drain = (req) =>
  new Promise((resolve) => {
    req.on('end', resolve).on('error', resolve).resume();
  });

function sendJson(res, status, obj) {
  const body = Buffer.from(JSON.stringify(obj));
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': body.length });
  res.end(body);
}
function blobHeaders(res, e) {
  res.setHeader('ETag', `"0x${e.id.toString(16).padStart(8, '0')}${e.size.toString(16)}"`);
  res.setHeader('Last-Modified', new Date().toUTCString());
  res.setHeader('x-ms-request-id', randomUUID());
  res.setHeader('x-ms-version', res.req?.headers['x-ms-version'] ?? '2025-11-05');
  res.setHeader('Date', new Date().toUTCString());
}
function blobOk(res, status, e) {
  blobHeaders(res, e);
  res.writeHead(status, { 'Content-Length': 0, 'x-ms-request-server-encrypted': 'true' });
  res.end();
}
function azureError(res, status, code, message) {
  const body = Buffer.from(`<?xml version="1.0" encoding="utf-8"?><Error><Code>${code}</Code><Message>${message}</Message></Error>`);
  res.writeHead(status, { 'Content-Type': 'application/xml', 'Content-Length': body.length, 'x-ms-error-code': code, 'x-ms-request-id': randomUUID() });
  res.end(body);
}

// ---- CLI
const isMain = process.argv[1] && import.meta.url === pathToFileURL(fs.realpathSync(process.argv[1])).href;
if (isMain) {
  const args = process.argv.slice(2);
  const opt = (name) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  // Handlers go in before startup so an early SIGTERM is still a clean exit.
  const started = startCacheServer({ port: Number(opt('--port') ?? 0), dir: opt('--dir'), azurite: args.includes('--azurite') });
  const stop = () =>
    started
      .then((srv) => srv.close())
      .then(
        () => process.exit(0),
        () => process.exit(1)
      );
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  const srv = await started.catch((err) => {
    console.error(`[cache-server] ${err.message}`);
    process.exit(1);
  });
  process.stdout.write(`${JSON.stringify({ url: srv.url, pid: process.pid })}\n`);
}
