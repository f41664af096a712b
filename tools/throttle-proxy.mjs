#!/usr/bin/env node
// A capped link in front of the loopback cache stand-in (tools/cache-server.mjs, or its azurite
// blob service): an HTTP reverse proxy that paces the bodies it forwards to `rate` bytes per
// second in each direction (uploads and downloads each get the whole rate, as on a full-duplex
// link), shared by every connection, and counts those bytes. The benchmark uses it to measure a
// restore over a link like a hosted runner's (issue 13).
//
//   node tools/throttle-proxy.mjs --upstream URL [--upstream URL2] [--rate BYTES_PER_S]
//   -> prints {"urls":{"<upstream>":"<proxy url>"},"pid":N} and serves until SIGTERM/SIGINT.
//
// Each upstream origin gets its own proxy port. The cache service hands out signed blob URLs in
// its JSON answers; the proxy rewrites every upstream origin it finds in a JSON body to that
// upstream's proxy origin, so the blob traffic goes through the capped link too. A rate of 0
// (or none) forwards at full speed and only counts.
import http from 'node:http';
import fs from 'node:fs';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pathToFileURL } from 'node:url';

/**
 * One direction of the link. Each chunk reserves the next slot of the wire (a virtual clock that
 * advances by len / rate); a sender ahead of the clock waits. Credit for an idle link is capped
 * at `burstMs`, so a pause does not buy a burst faster than the link.
 */
export function makePacer(rate, burstMs = 50) {
  let clock = 0;
  return {
    rate,
    /** Milliseconds the sender of `len` more bytes must wait (0: send now). */
    reserve(len) {
      if (!(rate > 0)) return 0;
      const now = performance.now();
      clock = Math.max(clock, now - burstMs) + (len * 1000) / rate;
      return Math.max(0, clock - now);
    }
  };
}

function meter(pacer, count) {
  return new Transform({
    transform(chunk, _enc, cb) {
      count(chunk.length);
      const wait = pacer.reserve(chunk.length);
      // Under a millisecond, a timer costs more than it paces: the clock carries the debt.
      if (wait < 1) cb(null, chunk);
      else setTimeout(() => cb(null, chunk), wait);
    }
  });
}

const origin = (u) => new URL(u).origin;

/**
 * Starts one proxy port per upstream URL. Returns { urls: Map(upstream origin -> proxy base URL),
 * url (the first upstream's proxy URL), stats() -> { up, down } body bytes, close() }.
 */
export async function startThrottleProxy({ upstreams, rate = 0, host = '127.0.0.1' }) {
  if (!Array.isArray(upstreams) || upstreams.length === 0) throw new Error('throttle-proxy: at least one upstream URL');
  const counters = { up: 0, down: 0 };
  const upPacer = makePacer(rate);
  const downPacer = makePacer(rate);
  const agent = new http.Agent({ keepAlive: true });
  const rewrites = []; // [upstream origin, proxy origin]
  const servers = [];

  const rewrite = (text) => rewrites.reduce((t, [from, to]) => t.replaceAll(from, to), text);

  for (const up of upstreams) {
    const target = new URL(up);
    const server = http.createServer((req, res) => {
      const fail = (err) => {
        if (res.headersSent) return res.destroy(err);
        res.writeHead(502, { 'Content-Type': 'text/plain' });
        res.end(`throttle-proxy: ${err.message}`);
      };
      const upReq = http.request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: { ...req.headers, host: target.host }, agent });
      upReq.on('response', (upRes) => {
        const headers = { ...upRes.headers };
        if (/json/.test(String(headers['content-type'] ?? ''))) {
          const chunks = [];
          upRes.on('data', (c) => chunks.push(c));
          upRes.on('error', fail);
          upRes.on('end', () => {
            const body = Buffer.from(rewrite(Buffer.concat(chunks).toString('utf8')));
            delete headers['transfer-encoding'];
            headers['content-length'] = String(body.length);
            res.writeHead(upRes.statusCode ?? 502, headers);
            res.end(body);
          });
          return;
        }
        res.writeHead(upRes.statusCode ?? 502, headers);
        pipeline(
          upRes,
          meter(downPacer, (n) => (counters.down += n)),
          res
        ).catch((err) => res.destroy(err));
      });
      upReq.on('error', fail);
      pipeline(
        req,
        meter(upPacer, (n) => (counters.up += n)),
        upReq
      ).catch(fail);
    });
    await new Promise((resolve, reject) => server.once('error', reject).listen(0, host, resolve));
    const proxyOrigin = `http://${host}:${server.address().port}`;
    rewrites.push([origin(up), proxyOrigin]);
    servers.push(server);
  }
  const urls = new Map(rewrites.map(([from, to]) => [from, `${to}/`]));
  return {
    urls,
    url: `${rewrites[0][1]}/`,
    rate,
    stats: () => ({ ...counters }),
    close: () =>
      Promise.all(
        servers.map(
          (s) =>
            new Promise((resolve) => {
              s.close(() => resolve());
              s.closeAllConnections();
            })
        )
      ).then(() => agent.destroy())
  };
}

// ---- CLI
const isMain = process.argv[1] && import.meta.url === pathToFileURL(fs.realpathSync(process.argv[1])).href;
if (isMain) {
  const args = process.argv.slice(2);
  const upstreams = args.flatMap((a, i) => (a === '--upstream' ? [args[i + 1]] : []));
  const rateAt = args.indexOf('--rate');
  const proxy = await startThrottleProxy({ upstreams, rate: rateAt >= 0 ? Number(args[rateAt + 1]) : 0 }).catch((err) => {
    console.error(`[throttle-proxy] ${err.message}`);
    process.exit(1);
  });
  const stop = () => proxy.close().then(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  process.stdout.write(`${JSON.stringify({ urls: Object.fromEntries(proxy.urls), pid: process.pid })}\n`);
}
