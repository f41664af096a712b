// Drives the REAL @actions/cache (v2 protocol: Twirp + Azure blob SDK) against
// tools/cache-server.mjs running as a separate process.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { CacheStats } from './fixtures/cache.js';

type CacheModule = typeof import('@actions/cache');
type Stats = CacheStats;

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const serverScript = path.join(repoRoot, 'tools', 'cache-server.mjs');
const RPC = 'twirp/github.actions.results.api.v1.CacheService/';

let child: ChildProcessWithoutNullStreams;
let childStdout = '';
let childExit: Promise<number | null>;
let url = '';
let ws = '';
let cache: CacheModule;
const realStdoutWrite = process.stdout.write.bind(process.stdout);

async function control(fault: string | null): Promise<void> {
  const res = await fetch(`${url}_control`, { method: 'POST', body: JSON.stringify({ fault }) });
  expect(res.status).toBe(200);
}
async function stats(): Promise<Stats> {
  return (await fetch(`${url}_stats`)).json() as Promise<Stats>;
}
async function rpc(method: string, body: object): Promise<Record<string, unknown>> {
  const res = await fetch(`${url}${RPC}${method}`, {
    method: 'POST',
    headers: { authorization: 'Bearer t', 'content-type': 'application/json' },
    body: JSON.stringify(body)
  });
  return (await res.json()) as Record<string, unknown>;
}

/** Fresh directory under the workspace with the given files. */
function writeDir(name: string, files: Record<string, string | Buffer>): string {
  const dir = path.join(ws, name);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  for (const [f, content] of Object.entries(files)) fs.writeFileSync(path.join(dir, f), content);
  return dir;
}
const read = (dir: string, f: string): string => fs.readFileSync(path.join(dir, f), 'utf8');

/**
 * The client backs off 3 s..15 s between Twirp retries and 4 s / 12 s between blob
 * retries, none of it configurable from restoreCache/saveCache. Shrink long timers
 * (only inside fault tests) so the retries still happen but take milliseconds.
 */
async function withFastRetries<T>(fn: () => Promise<T>): Promise<T> {
  const real = globalThis.setTimeout;
  const fast = ((cb: (...a: unknown[]) => void, ms?: number, ...args: unknown[]) => real(cb, ms !== undefined && ms >= 2000 ? 5 : ms, ...args)) as unknown as typeof setTimeout;
  globalThis.setTimeout = fast;
  try {
    return await fn();
  } finally {
    globalThis.setTimeout = real;
  }
}

beforeAll(async () => {
  ws = fs.mkdtempSync(path.join(os.tmpdir(), 'cache-server-test-'));
  const env = { ...process.env };
  delete env.NODE_OPTIONS; // the jest vm-modules flag is not for the server
  child = spawn(process.execPath, [serverScript], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  child.stderr.pipe(process.stderr);
  childExit = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  const line = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('cache server did not start')), 10_000);
    child.stdout.on('data', (d: Buffer) => {
      childStdout += d.toString();
      const nl = childStdout.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(timer);
        resolve(childStdout.slice(0, nl));
      }
    });
    void childExit.then((code) => reject(new Error(`cache server exited early (${code})`)));
  });
  const info = JSON.parse(line) as { url: string; pid: number };
  expect(info.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
  expect(info.pid).toBe(child.pid);
  url = info.url;

  Object.assign(process.env, {
    ACTIONS_CACHE_SERVICE_V2: 'true',
    ACTIONS_RESULTS_URL: url,
    ACTIONS_RUNTIME_TOKEN: 'dummy',
    GITHUB_WORKSPACE: ws,
    RUNNER_TEMP: path.join(ws, '_temp'),
    SEGMENT_DOWNLOAD_TIMEOUT_MINS: '1'
  });
  delete process.env.GITHUB_SERVER_URL; // anything but github.com means GHES -> v1
  delete process.env.ACTIONS_CACHE_MODE;
  delete process.env.ACTIONS_CACHE_URL;

  // @actions/core prints ::debug:: lines for every request; keep warnings and info.
  process.stdout.write = (chunk: unknown, ...rest: unknown[]) =>
    typeof chunk === 'string' && /^::(debug|add-mask)::/.test(chunk) ? true : (realStdoutWrite as (...a: unknown[]) => boolean).call(process.stdout, chunk, ...rest);

  cache = await import('@actions/cache');
});

afterEach(async () => {
  if (child.exitCode === null) await control(null);
});

afterAll(async () => {
  process.stdout.write = realStdoutWrite;
  // SIGTERM (not SIGKILL) so the server removes its blob dir even when tests were filtered.
  if (child.exitCode === null && child.signalCode === null) {
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await childExit;
    clearTimeout(timer);
  }
  fs.rmSync(ws, { recursive: true, force: true });
});

test('miss returns undefined and downloads nothing', async () => {
  const dir = writeDir('miss', { 'a.txt': 'x' });
  await expect(cache.restoreCache([dir], 'never-saved-key', ['never-'])).resolves.toBeUndefined();
  const s = await stats();
  expect(s.downloads).toBe(0);
  expect(s.entries).toEqual([]);
});

test('save then exact hit restores the files', async () => {
  const dir = writeDir('exact', { 'a.txt': 'alpha', 'b.txt': 'beta' });
  const id = await cache.saveCache([dir], 'exact-key-1');
  expect(id).toBeGreaterThan(0);

  let s = await stats();
  const entry = s.entries.find((e) => e.key === 'exact-key-1');
  expect(entry).toMatchObject({ finalized: true });
  expect(entry!.size).toBeGreaterThan(0);
  expect(s.uploads).toBe(1);
  expect(s.uploadBytes).toBe(entry!.size);

  fs.rmSync(dir, { recursive: true });
  await expect(cache.restoreCache([dir], 'exact-key-1')).resolves.toBe('exact-key-1');
  expect(read(dir, 'a.txt')).toBe('alpha');
  expect(read(dir, 'b.txt')).toBe('beta');
  s = await stats();
  expect(s.downloads).toBe(1);
  expect(s.downloadBytes).toBe(entry!.size);
});

test('saving an existing key+version is refused', async () => {
  const dir = writeDir('exact', { 'a.txt': 'changed' });
  const before = await stats();
  await expect(cache.saveCache([dir], 'exact-key-1')).resolves.toBe(-1);
  const after = await stats();
  expect(after.uploads).toBe(before.uploads);
  expect(after.entries.filter((e) => e.key === 'exact-key-1')).toHaveLength(1);
});

test('prefix matching: newest wins, primary key first, restore keys in order', async () => {
  const dir = writeDir('deps', { 'v.txt': 'one' });
  expect(await cache.saveCache([dir], 'deps-linux-1')).toBeGreaterThan(0);
  writeDir('deps', { 'v.txt': 'two' });
  expect(await cache.saveCache([dir], 'deps-linux-2')).toBeGreaterThan(0);

  const restore = async (key: string, restoreKeys: string[]): Promise<[string | undefined, string]> => {
    fs.rmSync(dir, { recursive: true, force: true });
    const hit = await cache.restoreCache([dir], key, restoreKeys);
    return [hit, hit ? read(dir, 'v.txt') : ''];
  };
  expect(await restore('deps-linux-zzz', ['deps-linux-'])).toEqual(['deps-linux-2', 'two']);
  expect(await restore('deps-linux-', [])).toEqual(['deps-linux-2', 'two']); // primary key is a prefix too
  expect(await restore('deps-linux-1', ['deps-linux-'])).toEqual(['deps-linux-1', 'one']);
  expect(await restore('nope', ['deps-linux-1', 'deps-'])).toEqual(['deps-linux-1', 'one']);
  expect(await restore('nope', ['nope-either', 'deps-'])).toEqual(['deps-linux-2', 'two']);
});

test('a different paths list (version) misses', async () => {
  const dir = path.join(ws, 'deps');
  await expect(cache.restoreCache([dir, path.join(ws, 'other')], 'deps-linux-2', ['deps-'])).resolves.toBeUndefined();
  await expect(cache.restoreCache([`${dir}/`], 'deps-linux-2')).resolves.toBeUndefined();
});

describe('fault injection', () => {
  test.each(['down', '500', '429'])(
    'rpc fault %s: restore -> undefined, save -> -1',
    async (fault) => {
      const dir = writeDir('faulty', { 'f.txt': fault });
      const before = await stats();
      await control(fault);
      const [hit, saved] = await withFastRetries(async () => [await cache.restoreCache([path.join(ws, 'exact')], 'exact-key-1'), await cache.saveCache([dir], `fault-${fault}`)]);
      expect(hit).toBeUndefined();
      expect(saved).toBe(-1);
      const after = await stats();
      expect(after.downloads).toBe(before.downloads);
      expect(after.entries).toHaveLength(before.entries.length);
      // 500 is retried (5 attempts per call); 429 gives up at once; "down" never reaches a handler.
      const expected = { down: 0, '500': 10, '429': 2 }[fault];
      expect(after.rpcs - before.rpcs).toBe(expected);
    },
    30_000
  );

  test.each(['corrupt-blob', 'truncate-blob'])(
    '%s: restore -> undefined, then recovers',
    async (fault) => {
      const dir = path.join(ws, 'exact');
      fs.rmSync(dir, { recursive: true, force: true });
      const before = await stats();
      await control(fault);
      await expect(cache.restoreCache([dir], 'exact-key-1')).resolves.toBeUndefined();
      const mid = await stats();
      expect(mid.downloads).toBe(before.downloads + 1); // it got as far as the blob
      const size = before.entries.find((e) => e.key === 'exact-key-1')!.size;
      expect(mid.downloadBytes - before.downloadBytes).toBe(fault === 'truncate-blob' ? Math.floor(size / 2) : size);

      await control(null); // the stored blob itself is intact
      fs.rmSync(dir, { recursive: true, force: true });
      await expect(cache.restoreCache([dir], 'exact-key-1')).resolves.toBe('exact-key-1');
      expect(read(dir, 'a.txt')).toBe('alpha');
    },
    30_000
  );

  test('upload-500: save -> -1, entry stays unfinalized, key can be saved later', async () => {
    const dir = writeDir('upfail', { 'u.txt': 'payload' });
    const before = await stats();
    await control('upload-500');
    await expect(withFastRetries(() => cache.saveCache([dir], 'upload-fail'))).resolves.toBe(-1);
    const s = await stats();
    expect(s.uploads).toBe(before.uploads);
    expect(s.entries.find((e) => e.key === 'upload-fail')).toMatchObject({ finalized: false });

    await control(null);
    await expect(cache.restoreCache([dir], 'upload-fail')).resolves.toBeUndefined();
    expect(await cache.saveCache([dir], 'upload-fail')).toBeGreaterThan(0);
    fs.rmSync(dir, { recursive: true });
    await expect(cache.restoreCache([dir], 'upload-fail')).resolves.toBe('upload-fail');
    expect(read(dir, 'u.txt')).toBe('payload');
  }, 30_000);
});

test('blob endpoint: HEAD, Range, block upload via the Azure SDK', async () => {
  const version = 'v-raw';
  const created = await rpc('CreateCacheEntry', { key: 'raw', version });
  expect(created.ok).toBe(true);
  const data = randomBytes(3000);
  // Same SDK (and entry point) @actions/cache uses, with tiny blocks to force stage+commit.
  const { BlockBlobClient } = await import('@azure/storage-blob');
  await new BlockBlobClient(created.signed_upload_url as string).uploadData(data, { maxSingleShotSize: 1000, blockSize: 1024 });
  expect(await rpc('FinalizeCacheEntryUpload', { key: 'raw', version, size_bytes: '3000' })).toEqual({ ok: true, entry_id: expect.any(String) as unknown });
  expect(await rpc('CreateCacheEntry', { key: 'raw', version })).toMatchObject({ ok: false });

  const found = await rpc('GetCacheEntryDownloadURL', { key: 'nope', restore_keys: ['ra'], version });
  expect(found).toMatchObject({ ok: true, matched_key: 'raw' });
  const blobUrl = found.signed_download_url as string;
  const head = await fetch(blobUrl, { method: 'HEAD' });
  expect(head.headers.get('content-length')).toBe('3000');
  const part = await fetch(blobUrl, { headers: { range: 'bytes=1000-2047' } });
  expect(part.status).toBe(206);
  expect(part.headers.get('content-range')).toBe('bytes 1000-2047/3000');
  expect(Buffer.from(await part.arrayBuffer()).equals(data.subarray(1000, 2048))).toBe(true);
  const full = Buffer.from(await (await fetch(blobUrl)).arrayBuffer());
  expect(full.equals(data)).toBe(true);

  const bad = await fetch(`${url}${RPC}CreateCacheEntry`, { method: 'POST', headers: { authorization: 'Bearer t' }, body: '{' });
  expect(bad.status).toBe(400);
  expect(await bad.json()).toMatchObject({ code: 'malformed' });
  const noRoute = await fetch(`${url}${RPC}DeleteCacheEntry`, { method: 'POST', headers: { authorization: 'Bearer t' }, body: '{}' });
  expect(noRoute.status).toBe(404);
  expect(await noRoute.json()).toMatchObject({ code: 'bad_route' });
});

// Blocks are staged in one file per upload and committed by a rename when the block list names
// them in the order their PUTs began; any other list (out of order, a retried block, a block left
// out) must still commit exactly the listed blocks' bytes.
test.each([
  ['in PUT order', ['a', 'b', 'c'], ['a', 'b', 'c']],
  ['out of PUT order', ['c', 'a', 'b'], ['a', 'b', 'c']],
  ['a retried block', ['a', 'b', 'a', 'c'], ['a', 'b', 'c']],
  ['a block left out of the list', ['a', 'x', 'b'], ['a', 'b']],
  ['a block listed twice', ['a', 'b'], ['a', 'b', 'a']]
])('block upload %s commits exactly the listed blocks', async (_name, puts, list) => {
  const key = `blocks-${puts.join('')}-${list.join('')}`;
  const version = 'v-blocks';
  const created = await rpc('CreateCacheEntry', { key, version });
  const upload = created.signed_upload_url as string;
  // Each PUT of a name carries new bytes: a retried block's last upload is the one that counts.
  const latest = new Map<string, Buffer>();
  for (const [i, name] of puts.entries()) {
    const body = randomBytes(1000 + 17 * i);
    const id = Buffer.from(name.padEnd(8, '-')).toString('base64');
    const res = await fetch(`${upload}&comp=block&blockid=${encodeURIComponent(id)}`, { method: 'PUT', body });
    expect(res.status).toBe(201);
    latest.set(name, body);
  }
  const xml = `<?xml version="1.0" encoding="utf-8"?><BlockList>${list.map((n) => `<Latest>${Buffer.from(n.padEnd(8, '-')).toString('base64')}</Latest>`).join('')}</BlockList>`;
  expect((await fetch(`${upload}&comp=blocklist`, { method: 'PUT', body: xml })).status).toBe(201);
  const expected = Buffer.concat(list.map((n) => latest.get(n) as Buffer));
  expect(await rpc('FinalizeCacheEntryUpload', { key, version, size_bytes: String(expected.length) })).toMatchObject({ ok: true });
  const found = await rpc('GetCacheEntryDownloadURL', { key, version });
  const got = Buffer.from(await (await fetch(found.signed_download_url as string)).arrayBuffer());
  expect(got.equals(expected)).toBe(true);
  // A range across block boundaries reads the listed blocks' bytes too.
  const part = await fetch(found.signed_download_url as string, { headers: { range: `bytes=500-${expected.length - 300}` } });
  expect(part.status).toBe(206);
  expect(Buffer.from(await part.arrayBuffer()).equals(expected.subarray(500, expected.length - 299))).toBe(true);
});

const skipBig = process.env.CACHE_SERVER_SKIP_BIG === '1';
(skipBig ? test.skip : test)(
  '>128 MiB archive goes through staged blocks and round-trips',
  async () => {
    const dir = writeDir('big', {});
    const fd = fs.openSync(path.join(dir, 'big.bin'), 'w');
    const hash = createHash('sha256');
    for (let i = 0; i < 132; i++) {
      const chunk = randomBytes(1 << 20); // incompressible, so the archive stays > 128 MiB
      hash.update(chunk);
      fs.writeSync(fd, chunk);
    }
    fs.closeSync(fd);
    const digest = hash.digest('hex');
    const before = await stats();
    expect(await cache.saveCache([dir], 'big-1')).toBeGreaterThan(0);
    const after = await stats();
    const entry = after.entries.find((e) => e.key === 'big-1')!;
    expect(entry.size).toBeGreaterThan(128 * 1024 * 1024);
    expect(after.uploadBytes - before.uploadBytes).toBe(entry.size);

    fs.rmSync(dir, { recursive: true });
    await expect(cache.restoreCache([dir], 'big-1')).resolves.toBe('big-1');
    const restored = createHash('sha256')
      .update(fs.readFileSync(path.join(dir, 'big.bin')))
      .digest('hex');
    expect(restored).toBe(digest);
    fs.rmSync(dir, { recursive: true });
  },
  60_000
);

test('in-process API: setFault, stats, /_control validation, close removes its dir', async () => {
  const mod = (await import(pathToFileURL(serverScript).href)) as {
    startCacheServer: (o?: object) => Promise<{ url: string; dir: string; close(): Promise<void>; stats(): Stats; setFault(f: string | null): void }>;
  };
  const srv = await mod.startCacheServer();
  try {
    expect(fs.existsSync(srv.dir)).toBe(true);
    expect(() => srv.setFault('bogus')).toThrow(/unknown fault/);
    srv.setFault('500');
    const res = await fetch(`${srv.url}${RPC}GetCacheEntryDownloadURL`, { method: 'POST', body: '{}' });
    expect(res.status).toBe(500);
    expect(await res.json()).toEqual({ code: 'internal', msg: expect.any(String) as unknown });
    srv.setFault('429');
    expect((await fetch(`${srv.url}${RPC}GetCacheEntryDownloadURL`, { method: 'POST', body: '{}' })).status).toBe(429);
    expect((await fetch(`${srv.url}_control`, { method: 'POST', body: '{"fault":"nope"}' })).status).toBe(400);
    srv.setFault(null);
    const unauth = await fetch(`${srv.url}${RPC}GetCacheEntryDownloadURL`, { method: 'POST', body: '{"key":"k","version":"v"}' });
    expect(unauth.status).toBe(401);
    expect(srv.stats()).toEqual({ entries: [], uploads: 0, uploadBytes: 0, downloads: 0, downloadBytes: 0, rpcs: 3, fault: null });
  } finally {
    await srv.close();
  }
  expect(fs.existsSync(srv.dir)).toBe(false);
});

test('CLI wrote exactly one stdout line and exits 0 on SIGTERM', async () => {
  child.kill('SIGTERM');
  expect(await childExit).toBe(0);
  expect(childStdout.trim().split('\n')).toHaveLength(1);
});
