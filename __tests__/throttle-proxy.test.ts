// tools/throttle-proxy.mjs, the capped link of `npm run bench`: in front of the real cache
// stand-in (both as their own processes), the signed blob URLs the service hands out lead through
// the proxy, and an upload and a download through it take the time the cap says, within 20%.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const RPC = 'twirp/github.actions.results.api.v1.CacheService/';
const RATE = 4e6; // bytes per second: slow enough that a loaded machine mostly reaches it
const SIZE = 8 * 2 ** 20; // 2.1 s at the cap

const children: ChildProcessWithoutNullStreams[] = [];

/** Starts a tool and resolves to the JSON line it prints once it serves. */
function startTool(script: string, args: string[]): Promise<Record<string, unknown>> {
  const child = spawn(process.execPath, [path.join(repoRoot, 'tools', script), ...args]);
  children.push(child);
  let out = '';
  let err = '';
  child.stderr.on('data', (b: Buffer) => (err += b.toString()));
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve(JSON.parse(out.slice(0, nl)) as Record<string, unknown>);
    });
    child.once('exit', (code) => reject(new Error(`${script} exited ${code}: ${err}`)));
  });
}

async function rpc(base: string, method: string, body: object): Promise<Record<string, unknown>> {
  const res = await fetch(`${base}${RPC}${method}`, { method: 'POST', headers: { authorization: 'Bearer t', 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return (await res.json()) as Record<string, unknown>;
}

/** One request with a body or none; resolves to status, body and seconds taken. */
function transfer(url: string, method: string, body?: Buffer): Promise<{ status: number; body: Buffer; s: number }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers: body ? { 'x-ms-blob-type': 'BlockBlob', 'content-length': String(body.length) } : {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), s: (performance.now() - t0) / 1000 }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

afterAll(() => {
  for (const c of children) c.kill('SIGTERM');
});

/** Through a proxy at `via`: an entry `key` uploaded and downloaded; the seconds each took. */
async function roundTrip(via: string, key: string, data: Buffer): Promise<{ up: number; down: number }> {
  const created = await rpc(via, 'CreateCacheEntry', { key, version: 'v' });
  const uploadUrl = String(created.signed_upload_url);
  expect(uploadUrl.startsWith(via)).toBe(true);
  const up = await transfer(uploadUrl, 'PUT', data);
  expect(up.status).toBe(201);
  expect(await rpc(via, 'FinalizeCacheEntryUpload', { key, version: 'v', size_bytes: String(data.length) })).toMatchObject({ ok: true });
  const found = await rpc(via, 'GetCacheEntryDownloadURL', { key, version: 'v' });
  const downloadUrl = String(found.signed_download_url);
  expect(downloadUrl.startsWith(via)).toBe(true);
  const down = await transfer(downloadUrl, 'GET');
  expect(down.status).toBe(200);
  expect(createHash('sha256').update(down.body).digest('hex')).toBe(createHash('sha256').update(data).digest('hex'));
  return { up: up.s, down: down.s };
}

test('uploads and downloads through the proxy run at the cap (within 20%), and the signed URLs lead through it', async () => {
  const server = await startTool('cache-server.mjs', []);
  const upstream = String(server.url);
  const origin = new URL(upstream).origin;
  const capped = String(((await startTool('throttle-proxy.mjs', ['--upstream', upstream, '--rate', String(RATE)])).urls as Record<string, string>)[origin]);
  const open = String(((await startTool('throttle-proxy.mjs', ['--upstream', upstream])).urls as Record<string, string>)[origin]);
  expect(capped).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
  expect(capped).not.toBe(upstream);

  const data = randomBytes(SIZE);
  // What this machine moves through a proxy at all, right now: on a loaded host it can be less
  // than the cap, and the capped proxy cannot be asked to beat it.
  const free = await roundTrip(open, 'free', data);
  const paced = await roundTrip(capped, 'capped', data);
  for (const dir of ['up', 'down'] as const) {
    const rate = Math.round(SIZE / paced[dir]);
    // Never faster than the cap; slower by at most 20% than the cap or the machine allows.
    expect(rate).toBeLessThanOrEqual(1.2 * RATE);
    expect(rate).toBeGreaterThanOrEqual(0.8 * Math.min(RATE, SIZE / free[dir]));
  }
}, 120_000);
