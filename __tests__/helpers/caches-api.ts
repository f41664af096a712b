// The REST caches API stand-in (tools/caches-api.mjs) as a separate process over a running
// loopback cache server, for the purge tests; startCacheServices starts the two together.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { ROOT } from './action-runner.js';
import { startCacheServerProcess, type CacheServer } from '../fixtures/cache.js';

const script = path.join(ROOT, 'tools', 'caches-api.mjs');

export interface ApiEntry {
  key: string;
  version?: string;
  ref?: string;
  created_at?: string;
  last_accessed_at?: string;
  size_in_bytes?: number;
}

export interface CachesApi {
  url: string;
  token: string;
  control(body: { fault?: string | null; add?: ApiEntry[]; pageSize?: number }): Promise<void>;
  log(): Promise<{ requests: { method: string; path: string }[]; deleted: { id: number; key: string }[] }>;
  stop(): Promise<void>;
}

export async function startCachesApiProcess(cacheServer: string, token = 'ghs_purge-test-token'): Promise<CachesApi> {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  const child = spawn(process.execPath, [script, '--cache-server', cacheServer, '--token', token], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('caches-api did not start')), 10_000);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) {
        clearTimeout(timer);
        resolve(out.slice(0, out.indexOf('\n')));
      }
    });
  });
  const { url } = JSON.parse(line) as { url: string };
  return {
    url,
    token,
    async control(body) {
      const res = await fetch(`${url}/_control`, { method: 'POST', body: JSON.stringify(body) });
      if (res.status !== 200) throw new Error(`caches-api refused ${JSON.stringify(body)}: ${res.status} ${await res.text()}`);
    },
    async log() {
      return (await (await fetch(`${url}/_log`)).json()) as Awaited<ReturnType<CachesApi['log']>>;
    },
    async stop() {
      child.kill('SIGTERM');
      await exited;
    }
  };
}

export interface CacheServices {
  server: CacheServer;
  api: CachesApi;
  /** Stops the API, then the server it fronts; either may have failed to start. */
  stop(): Promise<void>;
}

/** The cache service (tools/cache-server.mjs) and the REST caches API over it: what a job with `purge` talks to. */
export async function startCacheServices(): Promise<CacheServices> {
  const server = await startCacheServerProcess();
  let api: CachesApi;
  try {
    api = await startCachesApiProcess(server.url);
  } catch (e) {
    await server.stop();
    throw e;
  }
  return {
    server,
    api,
    async stop() {
      try {
        await api.stop();
      } finally {
        await server.stop();
      }
    }
  };
}
