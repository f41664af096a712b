// Shared by the end-to-end liveness tests (fleet, janitor through dist/): a seeded PRNG, polling,
// "build step" writer processes that prove no live file is lost, lock ageing, and parsers for
// what the janitor and the disk guard report in a step's log and job summary.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/** mulberry32: small, seedable, good enough to pick a kill set reproducibly. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `cond` every 25 ms; throws `what` when it does not hold within `ms`. Returns the time it took. */
export async function until(what: string, cond: () => boolean, ms: number): Promise<number> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(25);
  }
  return Date.now() - t0;
}

/**
 * Awaits `p`, failing after `ms` with `what` and what every process was doing then (state, kernel
 * wait channel, command): a test that hangs on a slow or stuck step says where, instead of only
 * running into jest's timeout. `context` adds what the test knows (e.g. the step's output so far).
 */
export async function within<T>(what: string, p: Promise<T>, ms: number, context: () => string = () => ''): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const ps = spawnSync('ps', ['-eo', 'pid,ppid,stat,wchan:24,etimes,args', '--sort', 'pid'], { encoding: 'utf8' });
      // Kernel threads (children of kthreadd, pid 2) say nothing here; long command lines are cut.
      const lines = (ps.stdout ?? '').split('\n').filter((l) => !/^\s*\d+\s+[02]\s/.test(l));
      const table = lines.map((l) => (l.length > 240 ? `${l.slice(0, 240)}...` : l)).join('\n');
      reject(new Error(`${what}: not within ${ms} ms\n${context()}\nprocesses then:\n${table || ps.error?.message || ''}`));
    }, ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Sets a lock file's (or dir's) atime and mtime to `ageMs` ago: how the janitor judges last use. */
export function age(p: string, ageMs: number): void {
  const t = new Date(Date.now() - ageMs);
  fs.utimesSync(p, t, t);
}

/** True when `pid` exists and is not a zombie. */
export function alive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
}

/** SIGKILLs a process group, tolerating one that is already gone. */
export function killGroup(pgid: number): void {
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
  }
}

// A build step: keeps creating files (some in sub dirs) in each of its dirs, and appends each
// path to its log only after the file is complete, so every logged path must still exist with
// the logged content for as long as the run is live. A failed write is logged as ERR.
const WRITER = `
const fs = require('node:fs'); const path = require('node:path');
const [log, ...dirs] = process.argv.slice(1);
const fd = fs.openSync(log, 'a');
let i = 0;
setInterval(() => {
  for (const d of dirs) {
    const f = path.join(d, 'w' + (i % 7), 'f' + i);
    try {
      fs.mkdirSync(path.dirname(f), { recursive: true });
      fs.writeFileSync(f, 'content ' + i);
      fs.writeSync(fd, f + ' ' + i + '\\n');
    } catch (e) {
      fs.writeSync(fd, 'ERR ' + f + ' ' + (e.code || e.message) + '\\n');
    }
  }
  i++;
}, 4);
process.on('SIGTERM', () => process.exit(0));
fs.writeSync(fd, 'STARTED\\n');
`;

export interface Writer {
  child: ChildProcess;
  log: string;
  dirs: string[];
}

export async function startWriter(log: string, dirs: string[]): Promise<Writer> {
  const env = { ...process.env };
  delete env.NODE_OPTIONS; // jest's vm-modules flag is not for the writer
  const child = spawn(process.execPath, ['-e', WRITER, log, ...dirs], { stdio: 'ignore', env });
  await until(`writer for ${dirs.join(', ')} started`, () => fs.existsSync(log) && fs.readFileSync(log, 'utf8').includes('STARTED'), 10_000);
  return { child, log, dirs };
}

export async function stopWriter(w: Writer, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (w.child.exitCode !== null || w.child.signalCode !== null) return;
  const exited = new Promise((r) => w.child.once('exit', r));
  w.child.kill(signal);
  await exited;
}

export interface WriterCheck {
  written: number;
  /** ERR lines: writes that failed while the run was live. */
  failed: string[];
  /** Logged (i.e. completed) files that are gone or changed. */
  lost: string[];
}

/** Every file the writer completed, checked against the disk. `under` restricts to one of its dirs. */
export function checkWriter(w: Writer, under?: string): WriterCheck {
  const out: WriterCheck = { written: 0, failed: [], lost: [] };
  for (const line of fs.readFileSync(w.log, 'utf8').split('\n')) {
    if (line === '' || line === 'STARTED') continue;
    if (line.startsWith('ERR ')) {
      out.failed.push(line);
      continue;
    }
    const sp = line.lastIndexOf(' ');
    const [file, n] = [line.slice(0, sp), line.slice(sp + 1)];
    if (under && !file.startsWith(under + '/')) continue;
    out.written++;
    let content: string | undefined;
    try {
      content = fs.readFileSync(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    if (content !== `content ${n}`) out.lost.push(`${file}: ${content === undefined ? 'missing' : `'${content}'`}`);
  }
  return out;
}

// --- what main reports ------------------------------------------------------------------------

export interface Reaped {
  kind: string;
  path: string;
  bytesText: string;
}

/** `runbox janitor: reaped <kind> dir <path> (idle since <iso>, <bytes>)` lines of a step's stdout. */
export function reapedInLog(stdout: string): Reaped[] {
  return [...stdout.matchAll(/^runbox janitor: reaped (\S+) dir (\S+) \(idle since \S+, ([^)]+)\)$/gm)].map((m) => ({ kind: m[1], path: m[2], bytesText: m[3] }));
}

/** Rows of the job summary table, as [what, detail]. */
export function summaryRows(summary: string): Array<[string, string]> {
  return [...summary.matchAll(/<tr><td>(.*?)<\/td><td>(.*?)<\/td><\/tr>/g)].map((m) => [m[1], m[2]]);
}

export interface SummaryReap {
  count: number;
  bytesText: string;
  paths: string[];
}

/** The summary's `reaped` row (`N dead dir(s), X freed: a, b`), or undefined when nothing was reaped. */
export function reapedInSummary(summary: string): SummaryReap | undefined {
  return parseListRow(summaryRows(summary).find(([what]) => what === 'reaped')?.[1], /^(\d+) dead dir\(s\), (.+?) freed: (.*)$/);
}

/** The summary's `disk guard` row that lists pruned dirs (`pruned N dir(s), X freed: a, b`). */
export function prunedInSummary(summary: string): SummaryReap | undefined {
  const row = summaryRows(summary).find(([what, detail]) => what === 'disk guard' && detail.startsWith('pruned '));
  return parseListRow(row?.[1], /^pruned (\d+) dir\(s\), (.+?) freed: (.*)$/);
}

function parseListRow(detail: string | undefined, re: RegExp): SummaryReap | undefined {
  if (detail === undefined) return undefined;
  const m = re.exec(detail);
  if (!m) throw new Error(`unexpected summary row: ${detail}`);
  return { count: Number(m[1]), bytesText: m[2], paths: m[3].split(', ') };
}

/** formatBytes' output back to bytes (approximately: one decimal). */
export function parseBytes(text: string): number {
  const m = /^([\d.]+) (B|KiB|MiB|GiB|TiB)$/.exec(text.trim());
  if (!m) throw new Error(`not a byte figure: ${text}`);
  return Number(m[1]) * 1024 ** ['B', 'KiB', 'MiB', 'GiB', 'TiB'].indexOf(m[2]);
}

/** Every `run-*` entry (dir or lock file) under base, as `<key>/<name>`. */
export function runEntries(base: string): string[] {
  if (!fs.existsSync(base)) return [];
  return fs.readdirSync(base).flatMap((k) => {
    const kd = path.join(base, k);
    return fs.statSync(kd).isDirectory()
      ? fs
          .readdirSync(kd)
          .filter((n) => n.startsWith('run-'))
          .map((n) => `${k}/${n}`)
      : [];
  });
}

/** A `::error::` / `::warning::` message as the runner shows it (workflow commands escape %, CR, LF). */
export function unescapeCommand(s: string): string {
  return s.replace(/%0D/g, '\r').replace(/%0A/g, '\n').replace(/%25/g, '%');
}
