// Shared pieces of the out-of-process store tests (store-action, store-faults, store-malicious):
// jobs that run the built dist/ against the loopback cache server with a store root of their
// own, manifests that include file contents, a scan of /proc for leftover processes, a
// nix-daemon the tests start and stop by pid, and a Guix-like store from mkstore.sh with a real
// daemon DB. The cache server itself and the small fixtures come from ../fixtures.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { FakeJob, ROOT, type JobOptions, type StepResult } from './action-runner.js';
import { buildGuixLayout, GUIX_SCHEMA, itemName, q, registerPaths, sh, sqliteInput, tempDir, TREE_MANIFEST } from '../fixtures/store.js';

/** The shared synthetic-store builder, next to the repo (as store-archive.test.ts finds it). */
export const MKSTORE = path.resolve(ROOT, 'scripts', 'mkstore.sh');

/** The variables that point runbox's cache client (v2 service) at the loopback server. */
export function cacheEnv(url: string): Record<string, string | undefined> {
  return {
    ACTIONS_CACHE_SERVICE_V2: 'true',
    ACTIONS_RESULTS_URL: url,
    ACTIONS_RUNTIME_TOKEN: 'x',
    // Anything but github.com would make the client assume GHES and speak v1.
    GITHUB_SERVER_URL: undefined,
    ACTIONS_CACHE_MODE: undefined,
    ACTIONS_CACHE_URL: undefined,
    // Test-only: the client's retry backoff in ms instead of seconds, so fault runs stay short.
    RUNBOX_TEST_RETRY_MS: '5'
  };
}

export interface StoreJobOptions extends JobOptions {
  /** RUNBOX_STORE_ROOT; undefined runs against the real `/`. */
  storeRoot?: string;
  /** Content of the workspace's .github/workflows/ci.yml, which the default key hashes. */
  workflow?: string;
}

/** A FakeJob wired to the cache server, with its own RUNNER_TEMP, workspace and store root. */
export function storeJob(url: string, o: StoreJobOptions = {}): FakeJob {
  const { storeRoot, workflow, env, ...rest } = o;
  const job = new FakeJob({ ...rest, env: { ...cacheEnv(url), RUNBOX_STORE_ROOT: storeRoot, ...env } });
  if (workflow !== undefined) {
    fs.mkdirSync(path.join(job.workspace, '.github/workflows'), { recursive: true });
    fs.writeFileSync(path.join(job.workspace, '.github/workflows/ci.yml'), workflow);
  }
  return job;
}

/** runbox-store-* staging dirs left in the job's RUNNER_TEMP. */
export function stagingLeft(job: FakeJob): string[] {
  return fs.readdirSync(job.runnerTemp).filter((n) => n.startsWith('runbox-store-'));
}

/**
 * Bytes in regular files under the job's RUNNER_TEMP: no archive may stay behind.
 */
export function tempBytes(job: FakeJob): number {
  return sh(`find ${q(job.runnerTemp)} -type f -printf '%s\\n'`)
    .stdout.split('\n')
    .filter((l) => l !== '')
    .reduce((n, l) => n + Number(l), 0);
}

/**
 * treeManifest plus the sha256 of every regular file: equal means byte-for-byte equal. One shell
 * for both walks: the hostile tests take several of these per case.
 */
export function contentManifest(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return sh(`cd ${q(dir)} && ${TREE_MANIFEST} && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum`)
    .stdout.split('\n')
    .filter((l) => l !== '');
}

/** Everything a failed step printed, for assertion messages. */
export function describeStep(r: StepResult): string {
  return `exit ${String(r.code)}${r.signal ? ` (${r.signal})` : ''}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
}

/** Live (non-zombie) processes whose command line contains one of `needles`: pid and argv. */
export function processesMentioning(needles: string[]): string[] {
  const out: string[] = [];
  for (const pid of fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    if (Number(pid) === process.pid) continue;
    let cmdline: string;
    let stat: string;
    try {
      cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
      stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    if (/^\d+ \([^)]*\) Z/.test(stat)) continue;
    if (needles.some((n) => cmdline.includes(n))) out.push(`${pid} ${cmdline}`);
  }
  return out;
}

export async function waitFor(what: string, cond: () => boolean, timeoutMs = 60_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** True when the pid exists and is not a zombie (PID 1 here does not reap orphans). */
export function pidAlive(pid: number): boolean {
  try {
    return !/^\d+ \([^)]*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
}

/**
 * A real foreground nix-daemon that this test starts, and the daemon-stop / daemon-start
 * commands runbox is given for it. Only the pid the commands themselves started is ever killed.
 * Both commands append `stop <epoch>` / `start <epoch>` to the event log.
 */
export class NixDaemon {
  readonly pidFile: string;
  readonly log: string;

  /** `command`: what runs as the daemon (a stand-in such as `sleep 86400` where the real one cannot). */
  constructor(
    readonly dir: string,
    readonly command = 'nix-daemon'
  ) {
    this.pidFile = path.join(dir, 'nix-daemon.pid');
    this.log = path.join(dir, 'events.log');
  }

  /** A shell test for "the daemon in the pid file runs", for commands and wrappers. */
  get isUp(): string {
    return `{ pid=$(cat ${q(this.pidFile)} 2>/dev/null); st=$(cut -d' ' -f3 /proc/$pid/stat 2>/dev/null || true); [ -n "$pid" ] && [ -n "$st" ] && [ "$st" != Z ]; }`;
  }

  get stop(): string {
    return `pid=$(cat ${q(this.pidFile)}); kill "$pid"; i=0; while ${this.isUp} && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; ${this.isUp} && exit 1; echo "stop $(date +%s.%N)" >> ${q(this.log)}`;
  }

  get start(): string {
    return `setsid ${this.command} </dev/null >/dev/null 2>&1 & echo $! > ${q(this.pidFile)}; echo "start $(date +%s.%N)" >> ${q(this.log)}`;
  }

  inputs(): Record<string, string> {
    return { 'daemon-stop': this.stop, 'daemon-start': this.start };
  }

  pid(): number | undefined {
    return fs.existsSync(this.pidFile) ? Number(fs.readFileSync(this.pidFile, 'utf8').trim()) : undefined;
  }

  alive(): boolean {
    const pid = this.pid();
    return pid !== undefined && pidAlive(pid);
  }

  launch(): void {
    sh(this.start);
  }

  kill(): void {
    const pid = this.pid();
    if (pid !== undefined && pidAlive(pid)) process.kill(pid, 'SIGTERM');
  }

  /**
   * Event names in order (`stop`, `start`, `extract daemon=...`, ...), timestamps dropped and
   * repeats collapsed: a sharded snapshot runs one tar per archive, each logging its own line.
   */
  events(): string[] {
    const all = fs.existsSync(this.log)
      ? fs
          .readFileSync(this.log, 'utf8')
          .split('\n')
          .filter((l) => l !== '')
          .map((l) => l.replace(/ [0-9.]+$/, ''))
      : [];
    return all.filter((e, i) => e !== all[i - 1]);
  }

  clearEvents(): void {
    fs.rmSync(this.log, { force: true });
  }
}

/**
 * An `unshare` and an `mv` placed first on PATH in a job's env. `mv` (runbox's move from its
 * private dir into the store) logs `move daemon=running|stopped`. runbox's store extract is a
 * confined tar (sys/confined.ts), started by root's `unshare` with tar's argv: an unshare whose
 * argv holds `tar -x` logs whether the daemon runs at that moment (the tar itself runs as an
 * unprivileged uid that could neither run a wrapper in a root-only dir nor write the log). When
 * `slowFlag` exists, the extract is fed its first 64 KiB, then stalls (logging `extract
 * stalled`) for a minute before the rest: long enough to cancel main mid-extract. The wrapper
 * becomes the real unshare (exec, same pid: runbox SIGKILLs it on a cancel), and the feeder and
 * its sleep die with it (parent-death signals), as tar's input would. When `failFlag` exists, the
 * extract runs whole and then fails (`tar: injected failure`, exit 2): the data reached the
 * private dir, the restore must still refuse it.
 */
export function tarWrapper(binDir: string, o: { log: string; daemonUp: string; slowFlag?: string; stallTag?: string; failFlag?: string }): void {
  fs.mkdirSync(binDir, { recursive: true });
  const realUnshare = sh('command -v unshare').stdout.trim();
  const realMv = sh('command -v mv').stdout.trim();
  fs.writeFileSync(
    path.join(binDir, 'mv'),
    `#!/bin/sh
if ${o.daemonUp}; then echo "move daemon=running $(date +%s.%N)" >> ${q(o.log)}; else echo "move daemon=stopped $(date +%s.%N)" >> ${q(o.log)}; fi
exec ${q(realMv)} "$@"
`,
    { mode: 0o755 }
  );
  const fail = o.failFlag ? `if [ -e ${q(o.failFlag)} ]; then ${q(realUnshare)} "$@"; echo "tar: injected failure" >&2; exit 2; fi\n` : '';
  const stall = o.slowFlag
    ? `[ -e ${q(o.slowFlag)} ] || exec ${q(realUnshare)} "$@"
fifo=$(mktemp -u); mkfifo "$fifo"
# The feeder (named after this wrapper, so a test finds it by the bin dir) opens the fifo once
# the exec below opened it: the name can go at once.
setpriv --pdeathsig=KILL bash -c 'rm -f "$1"; dd bs=64k count=1 iflag=fullblock status=none; echo "extract stalled $(date +%s.%N)" >> "$2"; setpriv --pdeathsig=KILL sleep "$3"; cat' "$0" "$fifo" ${q(o.log)} ${o.stallTag ?? '60'} >"$fifo" &
exec ${q(realUnshare)} "$@" <"$fifo"
`
    : `exec ${q(realUnshare)} "$@"\n`;
  fs.writeFileSync(
    path.join(binDir, 'unshare'),
    `#!/bin/bash
case " $* " in *" tar -x "*) ;; *) exec ${q(realUnshare)} "$@";; esac
if ${o.daemonUp}; then echo "extract daemon=running $(date +%s.%N)" >> ${q(o.log)}; else echo "extract daemon=stopped $(date +%s.%N)" >> ${q(o.log)}; fi
${fail}${stall}`,
    { mode: 0o755 }
  );
}

/**
 * Paths a test adds to the host's real Nix store (`nix-store --add` of a file `make` writes, or
 * of `content`), all removed at the end: valid ones by `nix-store --delete`, and those a failed or
 * cancelled extract left on disk unregistered (nix-store will not delete invalid paths) by hand,
 * each checked to be one of ours.
 */
export class NixPaths {
  readonly added: string[] = [];

  constructor(readonly work: string) {}

  add(name: string, content: string | ((src: string) => void)): string {
    const src = path.join(this.work, name);
    if (typeof content === 'string') fs.writeFileSync(src, content);
    else content(src);
    const p = sh(`nix-store --add ${q(src)}`).stdout.trim();
    this.added.push(p);
    return p;
  }

  valid(p: string): boolean {
    return sh(`nix-store --check-validity ${q(p)}`, { allowFailure: true }).code === 0;
  }

  /** Our own paths that exist on disk without being valid. */
  removeInvalidLeftovers(): void {
    for (const p of this.added) if (/^\/nix\/store\/[0-9a-z]{32}-[A-Za-z0-9._-]+$/.test(p) && fs.existsSync(p) && !this.valid(p)) sh(`chmod -R u+w ${q(p)}; rm -rf ${q(p)}`);
  }

  removeAll(): void {
    if (this.added.length > 0) sh(`nix-store --delete ${this.added.map(q).join(' ')} >/dev/null 2>&1 || true`);
    this.removeInvalidLeftovers();
  }
}

/**
 * mkstore.sh's Guix-like store (real files, `.links` hard links, read-only items, mtime 1) made
 * complete: the script writes random bytes as db.sqlite, so a real Guix-schema DB registering
 * every item replaces it, and one item gets a non-root owner and a sub-second mtime so a round
 * trip has those to preserve. Asynchronous: it takes ~20 s, other tests run meanwhile.
 */
export async function mkstoreGuix(root: string, mib: number): Promise<{ items: string[] }> {
  await new Promise<void>((resolve, reject) => {
    const child = spawn('bash', [MKSTORE, root, String(mib)], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`mkstore.sh failed (${String(code)}): ${err}`))));
  });
  const owned = `/gnu/store/${itemName('owned-1.0')}`;
  const r = (p: string): string => q(path.join(root, p));
  sh(`
    rm -f ${r('var/guix/db/db.sqlite')}
    mkdir -p ${r(owned + '/share')}
    printf 'owned by someone else\\n' > ${r(owned + '/share/owned')}
    printf 'sub-second mtime\\n' > ${r(owned + '/share/precise')}
    chown 30001:30002 ${r(owned + '/share/owned')}
    touch -h -d @1 ${r(owned)} ${r(owned + '/share')} ${r(owned + '/share/owned')}
    touch -d @1234567890.123456789 ${r(owned + '/share/precise')}
    chmod -R a-w ${r(owned)}
    echo 2 > ${r('var/guix/db/schema')}
  `);
  const items = fs
    .readdirSync(path.join(root, 'gnu/store'))
    .filter((n) => !n.startsWith('.'))
    .sort()
    .map((n) => `/gnu/store/${n}`);
  const db = path.join(root, 'var/guix/db/db.sqlite');
  sqliteInput(db, GUIX_SCHEMA);
  registerPaths(db, items, [[items[0], items[1]]]);
  return { items };
}

/** Makes a store tree writable, then removes the given store paths (relative to root). */
export function wipe(root: string, rels: string[]): void {
  for (const rel of rels) sh(`p=${q(path.join(root, rel))}; if [ -e "$p" ]; then chmod -R u+w "$p"; rm -rf "$p"; fi`);
}

/** A Guix-like store that restoring an entry saved from a full one would change: two of its items are missing. */
export function partialGuixStore(prefix: string): string {
  const root = tempDir(prefix);
  const { items } = buildGuixLayout(root);
  wipe(root, [items.lib.slice(1), items.drv.slice(1)]);
  return root;
}

/** Store jobs against one cache server (its url read when a job is made), all cleaned up together. */
export function storeJobPool(url: () => string): { job: (storeRoot: string) => FakeJob; cleanup: () => void } {
  const jobs: FakeJob[] = [];
  return {
    job: (storeRoot) => {
      const j = storeJob(url(), { storeRoot });
      jobs.push(j);
      return j;
    },
    cleanup: () => {
      for (const j of jobs.splice(0)) j.cleanup();
    }
  };
}
