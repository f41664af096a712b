#!/usr/bin/env node
// Local stand-in for the GitHub REST API's Actions caches endpoints, as runbox's purge uses them:
//   GET    /repos/{owner}/{repo}/actions/caches?key=<prefix>&ref=<ref>&per_page=N&page=N
//   DELETE /repos/{owner}/{repo}/actions/caches/{id}
// over the entries of a running tools/cache-server.mjs (read from its /_stats, deleted through its
// /_control {"deleteId"}), which all count as saved from `ref`, plus entries a test adds that live
// only here (another ref's, another tool's). Node built-ins only.
//
//   node tools/caches-api.mjs --cache-server URL [--token T] [--repo owner/name] [--ref R] [--page-size N]
//   -> prints {"url":"http://127.0.0.1:PORT","pid":N} and serves until SIGTERM/SIGINT.
//
// It checks what GitHub checks: `Authorization: Bearer <token>` (401 otherwise), the repository
// (404), `X-GitHub-Api-Version: 2022-11-28` (400 for another). `page-size` caps per_page below
// GitHub's 100, so a handful of entries spans several pages.
//
// Test hooks: POST /_control with any of {"fault": mode|null, "add": [entries], "pageSize": n}; GET
// /_log answers {"requests": [{method, path}], "deleted": [{id, key}]}. Fault modes: forbidden (403
// on everything, as a token without actions: write), delete-forbidden (403 on DELETE only),
// rate-limit (429 with retry-after), rate-limit-403 (403 with x-ratelimit-remaining: 0), 500
// (every request), 500-once (the next request only).
import http from 'node:http';
import fs from 'node:fs';
import { pathToFileURL } from 'node:url';

const FAULTS = [null, 'forbidden', 'delete-forbidden', 'rate-limit', 'rate-limit-403', '500', '500-once'];
const API_VERSION = '2022-11-28';

export async function startCachesApi({ cacheServer, token = 'test-token', repo = 'acme/widgets', ref = 'refs/heads/main', pageSize = 100, port = 0, host = '127.0.0.1' } = {}) {
  if (!cacheServer) throw new Error('cacheServer (the URL of tools/cache-server.mjs) is required');
  const base = cacheServer.endsWith('/') ? cacheServer : `${cacheServer}/`;
  let fault = null;
  let perPageCap = pageSize;
  let nextExtraId = 1_000_000;
  const extras = [];
  const log = { requests: [], deleted: [] };

  async function listed() {
    const stats = await (await fetch(`${base}_stats`)).json();
    const own = stats.entries
      .filter((e) => e.finalized)
      .map((e) => ({ id: e.id, ref, key: e.key, version: e.version, last_accessed_at: e.lastAccessedAt, created_at: e.createdAt, size_in_bytes: e.size }));
    return [...own, ...extras];
  }

  function send(res, status, obj, headers = {}) {
    const body = obj === undefined ? '' : JSON.stringify(obj);
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
    res.end(body);
  }

  async function route(req, res, url) {
    if (url.pathname === '/_log') return send(res, 200, log);
    if (url.pathname === '/_control') {
      const chunks = [];
      for await (const c of req) chunks.push(c);
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
      if ('fault' in body) {
        if (!FAULTS.includes(body.fault ?? null)) return send(res, 400, { error: `unknown fault ${body.fault}` });
        fault = body.fault ?? null;
      }
      if (typeof body.pageSize === 'number') perPageCap = body.pageSize;
      for (const e of body.add ?? []) {
        const now = new Date().toISOString();
        extras.push({ id: nextExtraId++, ref, version: '', created_at: now, last_accessed_at: now, size_in_bytes: 1, ...e });
      }
      return send(res, 200, { fault, pageSize: perPageCap, extras: extras.length });
    }
    log.requests.push({ method: req.method, path: `${url.pathname}${url.search}` });
    if (fault === '500' || fault === '500-once') {
      if (fault === '500-once') fault = null;
      return send(res, 500, { message: 'Server Error' });
    }
    if (req.headers.authorization !== `Bearer ${token}`) return send(res, 401, { message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest' });
    if (req.headers['x-github-api-version'] !== API_VERSION) return send(res, 400, { message: `Unsupported API version ${req.headers['x-github-api-version']}` });
    const m = /^\/repos\/([^/]+\/[^/]+)\/actions\/caches(?:\/(\d+))?$/.exec(url.pathname);
    if (!m || m[1] !== repo) return send(res, 404, { message: 'Not Found' });
    if (fault === 'forbidden' || (fault === 'delete-forbidden' && req.method === 'DELETE'))
      return send(res, 403, { message: 'Resource not accessible by integration', status: '403' }, { 'x-ratelimit-remaining': '4999' });
    if (fault === 'rate-limit') return send(res, 429, { message: 'Too many requests' }, { 'retry-after': '60' });
    if (fault === 'rate-limit-403') return send(res, 403, { message: 'API rate limit exceeded' }, { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(Math.floor(Date.now() / 1000) + 3600) });

    if (req.method === 'GET' && !m[2]) {
      const key = url.searchParams.get('key');
      const wantRef = url.searchParams.get('ref');
      const perPage = Math.min(Number(url.searchParams.get('per_page') ?? 30) || 30, 100, perPageCap);
      const page = Math.max(1, Number(url.searchParams.get('page') ?? 1) || 1);
      const all = (await listed())
        .filter((e) => (key ? e.key.startsWith(key) : true) && (wantRef ? e.ref === wantRef : true))
        .sort((a, b) => Date.parse(b.last_accessed_at) - Date.parse(a.last_accessed_at) || b.id - a.id);
      return send(res, 200, { total_count: all.length, actions_caches: all.slice((page - 1) * perPage, page * perPage) });
    }
    if (req.method === 'DELETE' && m[2]) {
      const id = Number(m[2]);
      const i = extras.findIndex((e) => e.id === id);
      let key;
      if (i >= 0) {
        key = extras[i].key;
        extras.splice(i, 1);
      } else {
        const e = (await listed()).find((x) => x.id === id);
        if (!e) return send(res, 404, { message: 'Not Found' });
        const r = await (await fetch(`${base}_control`, { method: 'POST', body: JSON.stringify({ deleteId: id }) })).json();
        if (r.deleted !== 1) return send(res, 404, { message: 'Not Found' });
        key = e.key;
      }
      log.deleted.push({ id, key });
      res.writeHead(204);
      return res.end();
    }
    return send(res, 404, { message: 'Not Found' });
  }

  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://localhost');
    route(req, res, url).catch((err) => send(res, 500, { message: String(err?.message ?? err) }));
  });
  await new Promise((resolve, reject) => server.once('error', reject).listen(port, host, resolve));
  const url = `http://${host}:${server.address().port}`;
  return { url, close: () => new Promise((resolve) => server.close(resolve)) };
}

const isMain = process.argv[1] && import.meta.url === pathToFileURL(fs.realpathSync(process.argv[1])).href;
if (isMain) {
  const arg = (name) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? process.argv[i + 1] : undefined;
  };
  const api = await startCachesApi({
    cacheServer: arg('cache-server'),
    ...(arg('token') ? { token: arg('token') } : {}),
    ...(arg('repo') ? { repo: arg('repo') } : {}),
    ...(arg('ref') ? { ref: arg('ref') } : {}),
    ...(arg('page-size') ? { pageSize: Number(arg('page-size')) } : {})
  });
  console.log(JSON.stringify({ url: api.url, pid: process.pid }));
  const stop = () => void api.close().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
