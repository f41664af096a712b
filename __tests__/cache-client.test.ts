// runbox's own cache-service client (src/store/cache-service, through cache-io's restoreEntry /
// saveEntry) against tools/cache-server.mjs: v2 with blobs in a real azurite (the Azure SDK's
// block upload against a real blob service), v2 with the stand-in's own blobs for the fault modes,
// and v1 (GHES) with chunked PATCH uploads.
import { generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, test } from '@jest/globals';
import type { CacheStats } from './fixtures/cache.js';

// Read once by the client at load: set before the dynamic import below.
process.env.RUNBOX_TEST_RETRY_MS = '5';

type CacheIo = typeof import('../src/store/cache-io.js');
type Signing = typeof import('../src/store/entry/signing.js');
type Stats = CacheStats;
interface Srv {
  url: string;
  blobEndpoint?: string;
  accountKey?: string;
  close(): Promise<void>;
  stats(): Stats;
  setFault(f: string | null): void;
}

const serverScript = path.resolve('tools/cache-server.mjs');
let io: CacheIo;
let signing: Signing;
let plain: Srv;
let azure: Srv;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cache-client-'));
const savedEnv = { ...process.env };
const realWrite = process.stdout.write.bind(process.stdout);
let printed: string[] = [];

const opts = { kind: 'guix' as const, storePaths: ['/gnu/store', '/var/guix/db'] };
const FILES: Record<string, Buffer> = {
  'manifest.json': Buffer.from('{"version":1}'),
  'store-0.tar.zst': Buffer.from(Buffer.alloc(300_000).map((_, i) => (i * 31) & 0xff)),
  'store-1.tar.zst': Buffer.alloc(70_000, 9),
  'db/db.sqlite.zst': Buffer.from('db rows')
};

let n = 0;
/** A staging parent holding runbox-snapshot/ with `files`. */
function staged(files: Record<string, Buffer> = FILES): string {
  const parent = path.join(tmp, `s${n++}`);
  for (const [name, data] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(parent, 'runbox-snapshot', name)), { recursive: true });
    fs.writeFileSync(path.join(parent, 'runbox-snapshot', name), data);
  }
  return parent;
}
function fresh(): string {
  const parent = path.join(tmp, `r${n++}`);
  fs.mkdirSync(parent);
  return parent;
}
function expectFiles(parent: string, files: Record<string, Buffer> = FILES): void {
  for (const [name, data] of Object.entries(files)) expect(fs.readFileSync(path.join(parent, 'runbox-snapshot', name)).equals(data)).toBe(true);
}
/**
 * restoreEntry (index, manifest), then every other file streamed into the snapshot dir through
 * its proven chunks, as a restore reads the archives: the matched key.
 */
async function restoreAll(p: string, key: string, restoreKeys: string[], o: Parameters<CacheIo['restoreEntry']>[3]): Promise<string | undefined> {
  const hit = await io.restoreEntry(p, key, restoreKeys, o);
  if (!hit) return undefined;
  for (const name of Object.keys(FILES)) {
    const dest = path.join(hit.dir, name);
    if (fs.existsSync(dest) || hit.files.sizeOf(name) === undefined) continue;
    const bufs: Buffer[] = [];
    for await (const b of hit.files.open(name)) bufs.push(b);
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    fs.writeFileSync(dest, Buffer.concat(bufs));
  }
  return hit.matched;
}
const warnings = (): string[] => printed.filter((l) => l.startsWith('::warning::'));

function useV2(url: string): void {
  Object.assign(process.env, { ACTIONS_CACHE_SERVICE_V2: 'true', ACTIONS_RESULTS_URL: url, ACTIONS_RUNTIME_TOKEN: 'tok' });
  for (const k of ['GITHUB_SERVER_URL', 'ACTIONS_CACHE_MODE', 'ACTIONS_CACHE_URL']) delete process.env[k];
}
function useV1(url: string): void {
  // Any server URL but github.com / *.ghe.com / *.localhost means GHES: v1, even with the v2 flag.
  Object.assign(process.env, { ACTIONS_CACHE_SERVICE_V2: 'true', ACTIONS_CACHE_URL: url, GITHUB_SERVER_URL: 'http://ghes.example', ACTIONS_RUNTIME_TOKEN: 'tok' });
  for (const k of ['ACTIONS_RESULTS_URL', 'ACTIONS_CACHE_MODE']) delete process.env[k];
}

beforeAll(async () => {
  const mod = (await import(pathToFileURL(serverScript).href)) as { startCacheServer(o?: object): Promise<Srv> };
  [plain, azure] = await Promise.all([mod.startCacheServer(), mod.startCacheServer({ azurite: true })]);
  io = await import('../src/store/cache-io.js');
  signing = await import('../src/store/entry/signing.js');
  process.stdout.write = (chunk: unknown, ...rest: unknown[]) => {
    if (typeof chunk === 'string') printed.push(...chunk.split('\n').filter(Boolean));
    return typeof chunk === 'string' && /^::debug::/.test(chunk) ? true : (realWrite as (...a: unknown[]) => boolean)(chunk, ...rest);
  };
}, 60_000);

afterEach(() => {
  plain.setFault(null);
  printed = [];
});

afterAll(async () => {
  process.stdout.write = realWrite;
  process.env = savedEnv;
  await Promise.all([plain?.close(), azure?.close()]);
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('v2 with blobs in azurite', () => {
  test('save then restore: a multi-file staging dir in many blocks, byte for byte', async () => {
    useV2(azure.url);
    const id = await io.saveEntry(staged(), 'az-exact-1', { ...opts, blockBytes: 64 * 1024 });
    expect(id).toMatch(/^\d+$/);
    const entry = azure.stats().entries.find((e) => e.key === 'az-exact-1');
    // 6 blocks of 64 KiB at least: the files alone are 370 KB.
    expect(entry).toMatchObject({ finalized: true, version: io.entryVersion('guix', opts.storePaths) });
    expect(entry!.size).toBeGreaterThan(370_000);
    // The blob lives in azurite, committed from 6 staged blocks; the stand-in served no blob byte.
    const az = await import('@azure/storage-blob');
    const blob = new az.BlobServiceClient(azure.blobEndpoint!, new az.StorageSharedKeyCredential('devstoreaccount1', azure.accountKey!)).getContainerClient('cache').getBlockBlobClient(id!);
    const blocks = await blob.getBlockList('committed');
    expect(blocks.committedBlocks?.length).toBe(Math.ceil(entry!.size / (64 * 1024)));
    expect(blocks.blobContentLength).toBe(entry!.size);
    const parent = fresh();
    await expect(restoreAll(parent, 'az-exact-1', [], opts)).resolves.toBe('az-exact-1');
    expectFiles(parent);
    expect(warnings()).toEqual([]);
    expect(azure.stats()).toMatchObject({ downloads: 0, downloadBytes: 0, uploads: 1, uploadBytes: entry!.size });
  });

  test('restore keys: prefix matching, newest wins, primary key first', async () => {
    useV2(azure.url);
    const one = { ...FILES, 'manifest.json': Buffer.from('{"n":1}') };
    const two = { ...FILES, 'manifest.json': Buffer.from('{"n":2}') };
    expect(await io.saveEntry(staged(one), 'az-deps-1', opts)).toBeDefined();
    expect(await io.saveEntry(staged(two), 'az-deps-2', opts)).toBeDefined();
    const restore = async (key: string, rk: string[]): Promise<[string | undefined, string]> => {
      const p = fresh();
      const hit = await restoreAll(p, key, rk, opts);
      return [hit, hit ? fs.readFileSync(path.join(p, 'runbox-snapshot/manifest.json'), 'utf8') : ''];
    };
    expect(await restore('az-deps-zzz', ['az-deps-'])).toEqual(['az-deps-2', '{"n":2}']);
    expect(await restore('az-deps-1', ['az-deps-'])).toEqual(['az-deps-1', '{"n":1}']);
    expect(await restore('nope', ['nope-either', 'az-deps-1'])).toEqual(['az-deps-1', '{"n":1}']);
  });

  test('a miss, another store kind or other store paths: undefined, nothing written', async () => {
    useV2(azure.url);
    const p = fresh();
    await expect(restoreAll(p, 'never-saved', ['never-'], opts)).resolves.toBeUndefined();
    await expect(restoreAll(p, 'az-exact-1', [], { ...opts, kind: 'nix' })).resolves.toBeUndefined();
    await expect(restoreAll(p, 'az-exact-1', [], { ...opts, storePaths: ['/gnu/store'] })).resolves.toBeUndefined();
    expect(fs.readdirSync(p)).toEqual([]);
    expect(warnings()).toEqual([]);
  });

  test('signed save, restore with trusted-keys; another key is a miss naming the signer', async () => {
    useV2(azure.url);
    const a = generateKeyPairSync('ed25519').privateKey;
    const b = generateKeyPairSync('ed25519').privateKey;
    const trusted = (k: typeof a) => signing.parseTrustedKey(signing.publicKeyLine(k)) as import('../src/store/entry/signing.js').TrustedKey;
    expect(await io.saveEntry(staged(), 'az-signed-1', { ...opts, signingKey: a })).toBeDefined();
    const ok = fresh();
    await expect(restoreAll(ok, 'az-signed-1', [], { ...opts, trustedKeys: [trusted(a)] })).resolves.toBe('az-signed-1');
    expectFiles(ok);
    const no = fresh();
    await expect(restoreAll(no, 'az-signed-1', [], { ...opts, trustedKeys: [trusted(b)] })).resolves.toBeUndefined();
    expect(fs.readdirSync(no)).toEqual([]);
    expect(warnings().join('\n')).toContain(`az-signed-1 is not trusted, continuing as on a cache miss: the entry is signed by ${signing.publicKeyLine(a)}, which is not in trusted-keys`);
    printed = [];
    await expect(restoreAll(fresh(), 'az-exact-1', [], { ...opts, trustedKeys: [trusted(a)] })).resolves.toBeUndefined();
    expect(warnings().join('\n')).toMatch(/az-exact-1 is not trusted.*not signed, and trusted-keys is set/);
  });

  test('a duplicate key is refused with a warning, the job goes on', async () => {
    useV2(azure.url);
    await expect(io.saveEntry(staged(), 'az-exact-1', opts)).resolves.toBeUndefined();
    expect(warnings().join('\n')).toMatch(/did not take the snapshot under az-exact-1: CreateCacheEntry refused/);
  });
});

describe('v2 with the stand-in blobs: faults', () => {
  beforeAll(async () => {
    useV2(plain.url);
    expect(await io.saveEntry(staged(), 'plain-1', { ...opts, blockBytes: 100_000 })).toBeDefined();
  });

  test('round trip through the stand-in: ranged GETs, one download from byte 0', async () => {
    useV2(plain.url);
    const before = plain.stats();
    const p = fresh();
    await expect(restoreAll(p, 'plain-', [], opts)).resolves.toBe('plain-1');
    expectFiles(p);
    const after = plain.stats();
    expect(after.downloads - before.downloads).toBe(1);
    const size = after.entries.find((e) => e.key === 'plain-1')!.size;
    // Trailer, then index + signature, then the files: each byte once.
    expect(after.downloadBytes - before.downloadBytes).toBe(size);
  });

  test('500: retried 5 times with backoff, then a warning and a miss / no save', async () => {
    useV2(plain.url);
    plain.setFault('500');
    let before = plain.stats().rpcs;
    await expect(restoreAll(fresh(), 'plain-1', [], opts)).resolves.toBeUndefined();
    expect(plain.stats().rpcs - before).toBe(5);
    expect(warnings().join('\n')).toMatch(/cache lookup failed.*GetCacheEntryDownloadURL failed after 5 attempts.*HTTP 500/);
    before = plain.stats().rpcs;
    await expect(io.saveEntry(staged(), 'plain-500', opts)).resolves.toBeUndefined();
    expect(plain.stats().rpcs - before).toBe(5);
  });

  test('429: not retried', async () => {
    useV2(plain.url);
    plain.setFault('429');
    const before = plain.stats().rpcs;
    await expect(restoreAll(fresh(), 'plain-1', [], opts)).resolves.toBeUndefined();
    await expect(io.saveEntry(staged(), 'plain-429', opts)).resolves.toBeUndefined();
    expect(plain.stats().rpcs - before).toBe(2);
    expect(warnings().join('\n')).toMatch(/rate limited/);
  });

  test('down: network errors retried, then a miss', async () => {
    useV2(plain.url);
    plain.setFault('down');
    await expect(restoreAll(fresh(), 'plain-1', [], opts)).resolves.toBeUndefined();
    expect(warnings().join('\n')).toMatch(/cache lookup failed.*after 5 attempts/);
  });

  test.each(['corrupt-blob', 'truncate-blob'])('%s: a miss, the snapshot dir removed, then it recovers', async (fault) => {
    useV2(plain.url);
    plain.setFault(fault);
    const p = fresh();
    await expect(restoreAll(p, 'plain-1', [], opts)).resolves.toBeUndefined();
    expect(fs.readdirSync(p)).toEqual([]);
    expect(warnings().join('\n')).toMatch(
      fault === 'corrupt-blob' ? /plain-1 (does not match its own index|is not a well-formed)/ : /plain-1 (could not be downloaded|is not a well-formed).*after 5 attempts|ended after/
    );
    plain.setFault(null);
    await expect(restoreAll(p, 'plain-1', [], opts)).resolves.toBe('plain-1');
    expectFiles(p);
  });

  test('upload-500: blocks retried, then a warning; nothing finalized; the key can be saved later', async () => {
    useV2(plain.url);
    plain.setFault('upload-500');
    await expect(io.saveEntry(staged(), 'plain-up', opts)).resolves.toBeUndefined();
    expect(warnings().join('\n')).toMatch(/saving the snapshot failed.*uploading block 1\/1 failed after 5 attempts/);
    expect(plain.stats().entries.find((e) => e.key === 'plain-up')).toMatchObject({ finalized: false });
    plain.setFault(null);
    expect(await io.saveEntry(staged(), 'plain-up', opts)).toBeDefined();
  });

  test('an entry whose middle file does not match the index: found, but its bad chunk is refused before a byte of it is handed on', async () => {
    useV2(plain.url);
    // Built by runbox's writer, then one byte of store-0 flipped, uploaded raw as an attacker would.
    const parent = staged();
    const { planEntry, entryRange } = await import('../src/store/entry/writer.js');
    const plan = await planEntry(path.join(parent, 'runbox-snapshot'));
    const chunks: Buffer[] = [];
    for await (const c of entryRange(plan, 0, plan.size)) chunks.push(c as Buffer);
    const blob = Buffer.concat(chunks);
    const at = plan.files.find((f) => f.name === 'store-0.tar.zst')!.offset + 1000;
    blob[at] ^= 0xff;
    const rpc = async (m: string, body: object): Promise<Record<string, unknown>> =>
      (await (
        await fetch(`${plain.url}twirp/github.actions.results.api.v1.CacheService/${m}`, { method: 'POST', headers: { authorization: 'Bearer t' }, body: JSON.stringify(body) })
      ).json()) as Record<string, unknown>;
    const version = io.entryVersion(opts.kind, opts.storePaths);
    const created = await rpc('CreateCacheEntry', { key: 'evil-1', version });
    expect((await fetch(created.signed_upload_url as string, { method: 'PUT', headers: { 'x-ms-blob-type': 'BlockBlob' }, body: blob })).status).toBe(201);
    expect(await rpc('FinalizeCacheEntryUpload', { key: 'evil-1', version, size_bytes: String(blob.length) })).toMatchObject({ ok: true });
    // The index and manifest are fine, so the entry is found; streaming store-0 stops at its
    // first chunk, before a byte of it is handed on.
    const p = fresh();
    const t0 = Date.now();
    const hit = await io.restoreEntry(p, 'evil-1', [], opts);
    expect(hit?.matched).toBe('evil-1');
    let handedOn = 0;
    const read = async (): Promise<void> => {
      for await (const b of hit!.files.open('store-0.tar.zst')) handedOn += b.length;
    };
    await expect(read()).rejects.toThrow(/store-0.tar.zst: chunk 0 \(bytes 0-299999\) has sha256 [0-9a-f]{64}, the index says [0-9a-f]{64}; none of it was used/);
    expect(handedOn).toBe(0);
    expect(Date.now() - t0).toBeLessThan(5000);
    // The other archive is intact and streams whole.
    let other = 0;
    for await (const b of hit!.files.open('store-1.tar.zst')) other += b.length;
    expect(other).toBe(70_000);
  });

  describe('a link below the download rate floor (RUNBOX_TEST_RATE_FLOOR: 64 KiB/s over 1 s of waiting)', () => {
    type Proxy = { url: string; close(): Promise<void> };
    const throttled = async (rate: number): Promise<Proxy> => {
      const mod = (await import(pathToFileURL(path.resolve('tools/throttle-proxy.mjs')).href)) as { startThrottleProxy(o: object): Promise<Proxy> };
      return mod.startThrottleProxy({ upstreams: [plain.url], rate });
    };
    /** restoreAll through a throttled link of `rate` bytes/s, with the test floor; the outcome and how long it took. */
    const through = async (rate: number, p: string): Promise<{ got: string | undefined | Error; ms: number }> => {
      const proxy = await throttled(rate);
      process.env.RUNBOX_TEST_RATE_FLOOR = `1000:${64 * 1024}`;
      const t0 = Date.now();
      try {
        useV2(proxy.url);
        return { got: await restoreAll(p, 'plain-1', [], opts).catch((e: Error) => e), ms: Date.now() - t0 };
      } finally {
        delete process.env.RUNBOX_TEST_RATE_FLOOR;
        await proxy.close();
      }
    };

    test('4 KiB/s: each attempt of the 300 kB archive aborted after a window, the bounded retries spent, in seconds (the link alone would take 75 s)', async () => {
      const { got, ms } = await through(4 * 1024, fresh());
      expect(String(got)).toMatch(/failed after 5 attempts: GET bytes \d+-\d+ of the cache blob: \d+ bytes in 1\.\d s of waiting, below the floor of 65536 bytes\/s/);
      // 5 windows of a second, 5 ms backoff base; generous for a loaded machine, far below 75 s.
      expect(ms).toBeLessThan(25_000);
    }, 40_000);

    test('1 MiB/s: the same entry restores whole', async () => {
      const p = fresh();
      const { got } = await through(1024 * 1024, p);
      expect(got).toBe('plain-1');
      expectFiles(p);
    });

    test('a reader slower than the floor (1.5 s per 4 MiB chunk) is backpressure, not a slow link: 12 MiB restore at a floor of 4 MiB/s', async () => {
      useV2(plain.url);
      const big = { 'manifest.json': FILES['manifest.json'], 'big.bin': Buffer.from(Buffer.alloc(12 * 2 ** 20).map((_, i) => (i * 7 + (i >> 12)) & 0xff)) };
      expect(await io.saveEntry(staged(big), 'plain-big', opts)).toBeDefined();
      const hit = await io.restoreEntry(fresh(), 'plain-big', [], opts);
      expect(hit?.matched).toBe('plain-big');
      // Wall time would count 4 MiB per 1.5 s, under the floor; waiting on the link is a few ms per chunk.
      process.env.RUNBOX_TEST_RATE_FLOOR = `1000:${4 * 2 ** 20}`;
      const parts: Buffer[] = [];
      let n = 0;
      const t0 = Date.now();
      const served = plain.stats().downloadBytes;
      try {
        // The reader hands on each proven 4 MiB chunk as the pieces it arrived in: the pause
        // comes once a chunk is all handed on, while the next is not asked for.
        for await (const b of hit!.files.open('big.bin')) {
          parts.push(b);
          n += b.length;
          if (n % (4 * 2 ** 20) === 0) await new Promise((r) => setTimeout(r, 1500));
        }
      } finally {
        delete process.env.RUNBOX_TEST_RATE_FLOOR;
      }
      expect(Buffer.concat(parts).equals(big['big.bin'])).toBe(true);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(3 * 1500);
      // One GET, never aborted: an aborted one would be resumed (the retries hide it) and the
      // stand-in would have served the bytes in flight twice.
      expect(plain.stats().downloadBytes - served).toBe(big['big.bin'].length);
      expect(warnings()).toEqual([]);
    }, 60_000);
  });

  test('ACTIONS_CACHE_MODE read / write-only / none', async () => {
    useV2(plain.url);
    const before = plain.stats().rpcs;
    process.env.ACTIONS_CACHE_MODE = 'read';
    await expect(io.saveEntry(staged(), 'mode-read', opts)).resolves.toBeUndefined();
    process.env.ACTIONS_CACHE_MODE = 'write-only';
    await expect(restoreAll(fresh(), 'plain-1', [], opts)).resolves.toBeUndefined();
    process.env.ACTIONS_CACHE_MODE = 'none';
    await expect(restoreAll(fresh(), 'plain-1', [], opts)).resolves.toBeUndefined();
    expect(plain.stats().rpcs).toBe(before);
    expect(warnings()).toEqual([]);
    process.env.ACTIONS_CACHE_MODE = 'read';
    await expect(restoreAll(fresh(), 'plain-1', [], opts)).resolves.toBe('plain-1');
  });

  test('no service configured: a warning and a miss', async () => {
    useV2(plain.url);
    delete process.env.ACTIONS_RESULTS_URL;
    await expect(restoreAll(fresh(), 'plain-1', [], opts)).resolves.toBeUndefined();
    expect(warnings().join('\n')).toMatch(/not available to this job \(no ACTIONS_RESULTS_URL/);
  });
});

describe('v1 (GHES)', () => {
  test('round trip with chunked PATCH uploads, prefix matching, a duplicate refused', async () => {
    useV1(plain.url);
    const before = plain.stats();
    expect(await io.saveEntry(staged(), 'ghes-1', { ...opts, blockBytes: 50_000 })).toMatch(/^\d+$/);
    const entry = plain.stats().entries.find((e) => e.key === 'ghes-1')!;
    expect(entry.finalized).toBe(true);
    expect(plain.stats().uploadBytes - before.uploadBytes).toBe(entry.size);
    const p = fresh();
    await expect(restoreAll(p, 'ghes-x', ['ghes-'], opts)).resolves.toBe('ghes-1');
    expectFiles(p);
    await expect(restoreAll(fresh(), 'nothing', [], opts)).resolves.toBeUndefined();
    expect(warnings()).toEqual([]);
    await expect(io.saveEntry(staged(), 'ghes-1', opts)).resolves.toBeUndefined();
    expect(warnings().join('\n')).toMatch(/did not take the snapshot under ghes-1.*HTTP 409/);
  });

  test('v1 500 is retried, 429 is not', async () => {
    useV1(plain.url);
    plain.setFault('500');
    let before = plain.stats().rpcs;
    await expect(restoreAll(fresh(), 'ghes-1', [], opts)).resolves.toBeUndefined();
    expect(plain.stats().rpcs - before).toBe(5);
    plain.setFault('429');
    before = plain.stats().rpcs;
    await expect(restoreAll(fresh(), 'ghes-1', [], opts)).resolves.toBeUndefined();
    expect(plain.stats().rpcs - before).toBe(1);
  });
});
