// The step's side of the launcher (src/launcher.ts, dist/launcher.js): a small process started
// once per step that forks a pipeline's stages for it, so that the step's own node, whose
// buffers a restore or save writes over and over, never forks while the bytes flow (why: see
// launcher.ts). Only exec.ts calls this; it has built each stage's argv (sudo included).
//
// A stage started here is a LaunchedChild: the parts of a ChildProcess that pipelines use (kill,
// exitCode/signalCode, 'error', 'exit', 'close'; stdin the pipe's write end the launcher sent,
// stdout our end of a socket pair whose other end the stage writes, stderr the tail the launcher
// kept, given at the exit). Without the launcher (not built next to the bundle, as when tests run the sources;
// or it could not start, or died), exec.ts forks the stages itself, as before.
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, type Readable, type Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import * as core from '@actions/core';
import { rootOnlyProblem } from './path-safety.js';
import { procStat } from './proc-stat.js';

/** Where the last stage writes: a pipe to us, /dev/null, or a socket of ours it gets as is. */
export type LaunchedOutput = 'pipe' | 'ignore' | net.Socket;

export class LaunchedChild extends EventEmitter {
  pid: number | undefined;
  stdin: Writable | null = null;
  stdout: Readable | null = null;
  readonly stderr = new PassThrough();
  exitCode: number | null = null;
  signalCode: NodeJS.Signals | null = null;
  private exited = false;
  private failed = false;
  private closed = false;
  /** Exited or failed: the launcher will tell nothing more of it. */
  get ended(): boolean {
    return this.exited || this.failed;
  }
  /** stdout/stderr sockets not yet closed: 'close' waits for them, as a ChildProcess's does. */
  private openReads = 0;

  constructor(
    readonly spawnargs: string[],
    private signal: (sig: NodeJS.Signals) => void
  ) {
    super();
  }

  /** The start time (/proc) of `pid` once started: an orphan is signalled only while it is that process. */
  startTime: string | undefined;

  kill(sig: NodeJS.Signals = 'SIGTERM'): boolean {
    if (this.ended) return false;
    this.signal(sig);
    return true;
  }

  /**
   * The launcher died and this child lives on without it: SIGTERM (sudo relays it to its
   * command), SIGKILL after a grace, then it ends as failed with `e` once its pid is gone or
   * another process's.
   */
  orphaned(e: Error, graceMs = 3000): void {
    if (this.ended) return;
    const pid = this.pid;
    // A zombie is gone for this purpose: it does nothing more, and its new parent (init, or
    // a container's PID 1 that never reaps) decides when it disappears.
    const same = (): boolean => {
      const st = pid === undefined ? undefined : procStat(pid);
      return st !== undefined && st.startTime === this.startTime && st.state !== 'Z' && st.state !== 'X';
    };
    const signal = (sig: NodeJS.Signals): void => {
      if (!same()) return;
      try {
        process.kill(pid as number, sig);
      } catch (err) {
        // Gone between the check and the signal: what the poll below sees next.
        if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
      }
    };
    this.signal = signal;
    signal('SIGTERM');
    const since = Date.now();
    const poll = setInterval(() => {
      // SIGKILL after the grace; a process still there long after it (in uninterruptible
      // sleep on a hung mount, say) is reported gone rather than holding the step forever.
      if (same() && Date.now() - since < 4 * graceMs) {
        if (Date.now() - since >= graceMs) signal('SIGKILL');
        return;
      }
      clearInterval(poll);
      this.fail(e);
    }, 50);
  }

  /** Our end of what the stage writes (a socket pair's), or the write end of its stdin. */
  attach(which: 'stdin' | 'stdout', s: net.Socket): void {
    if (which === 'stdin') {
      this.stdin = s;
      // The write end, received as a socket, sees the stage close its stdin (or exit) as an end,
      // and would then take later writes quietly, never answering them: destroyed instead, so
      // they fail (ERR_STREAM_DESTROYED, a broken pipe to runPipeline), as a child's own stdin
      // pipe fails them with EPIPE. No 'error' unless a write is refused, as with the pipe.
      s.once('end', () => s.destroy());
    } else {
      this.stdout = s;
      this.openReads++;
      s.once('close', () => {
        this.openReads--;
        this.maybeClose();
      });
    }
  }

  exit(code: number | null, signal: NodeJS.Signals | null, stderr: string): void {
    if (this.ended) return;
    this.exited = true;
    this.exitCode = code;
    this.signalCode = signal;
    this.stderr.end(stderr);
    this.later('exit', code, signal);
    this.maybeClose();
  }

  fail(e: Error): void {
    if (this.ended) return;
    this.failed = true;
    this.stdin?.destroy();
    this.stdout?.destroy();
    this.stderr.end();
    this.later('error', e);
    // As a ChildProcess that could not be spawned: 'close' still comes, for whoever waits for it.
    this.closed = true;
    this.later('close', null, null);
  }

  private maybeClose(): void {
    if (this.closed || !this.exited || this.openReads > 0) return;
    this.closed = true;
    this.later('close', this.exitCode, this.signalCode);
  }

  // An 'error' or 'exit' may come before 'started', and the caller awaiting start() listens
  // only once it resumed: events are held until the start settled (arm), then each waits for a
  // turn of the loop, as a ChildProcess's own do after spawn() returned.
  private armed = false;
  private held: Array<[string, unknown[]]> = [];

  private later(event: string, ...args: unknown[]): void {
    if (this.armed) setImmediate(() => this.emit(event, ...args));
    else this.held.push([event, args]);
  }

  /** The start settled (started, refused or lost): events flow from now on. */
  arm(): void {
    if (this.armed) return;
    this.armed = true;
    for (const [event, args] of this.held) setImmediate(() => this.emit(event, ...args));
    this.held = [];
  }
}

export interface LaunchOptions {
  env: NodeJS.ProcessEnv;
  /**
   * Called with the children right before the launcher is asked to start them (nothing awaited
   * in between): it may refuse by throwing (the step is stopping), and it tracks them, so a
   * cancel that comes later finds them to stop (the launcher handles a kill after the start).
   */
  created: (children: LaunchedChild[]) => void;
  /** Default: this process's. */
  cwd?: string | undefined;
  /** How many of each stage's last stderr bytes it gets (LaunchedChild.stderr, at its exit). */
  stderrTail: number;
}

interface Pending {
  children: LaunchedChild[];
  started: (pids: Array<number | null>) => void;
  refused: (e: Error) => void;
}

/** Messages from the launcher (see launcher.ts). */
type FromLauncher =
  | { t: 'ready' }
  | { t: 'stdin'; id: number }
  | { t: 'started'; id: number; pids: Array<number | null> }
  | { t: 'error'; id: number; stage: number; error: { message: string; code?: string; errno?: number; syscall?: string; path?: string } }
  | { t: 'exit'; id: number; stage: number; code: number | null; signal: NodeJS.Signals | null; stderr: string };

class Launcher {
  private next = 0;
  private readonly pending = new Map<number, Pending>();
  /** Stages not yet exited or failed, by pipeline id: while any is, the channel keeps node alive. */
  private readonly live = new Map<number, LaunchedChild[]>();
  private gone: Error | undefined;

  constructor(private readonly proc: ChildProcess) {
    // Node waits for each fd sent to be acknowledged, with a listener per fd in flight: a save
    // starts a pipeline per frame at once.
    proc.setMaxListeners(0);
    proc.on('message', (m: FromLauncher, handle: net.Socket | undefined) => this.onMessage(m, handle));
    proc.once('exit', (code, signal) => this.lost(new Error(`runbox's launcher exited (${signal ?? `exit ${code}`})`)));
    // The channel closing is the end too: an 'exit' may never be delivered once nothing refs it.
    proc.once('disconnect', () => this.lost(new Error("runbox's launcher closed its channel")));
    proc.once('error', (e) => this.lost(e));
    this.idle();
  }

  /** Closes the channel and waits (at most `ms`) for the launcher to exit. */
  async close(ms: number): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.proc.once('exit', () => resolve()));
    // Waited for: the process (unref'd while it served) keeps node alive until it exits.
    this.proc.ref();
    if (this.proc.connected) this.proc.disconnect();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([exited, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
    clearTimeout(timer);
    this.proc.unref();
  }

  get usable(): boolean {
    return this.gone === undefined && this.proc.connected;
  }

  /**
   * Starts the stages. `stdout` 'pipe': read from the last one's stdout (a socket pair made here,
   * in os.tmpdir()); a socket: the end of a pair of the caller's that the last stage writes.
   * Resolves with undefined, starting nothing, when that pair cannot be made (a TMPDIR too long
   * for a socket's path, or one others may write to, as root): the caller forks the stages itself.
   */
  async start(stages: readonly string[][], stdin: 'pipe' | 'ignore', stdout: LaunchedOutput, opts: LaunchOptions): Promise<LaunchedChild[] | undefined> {
    let pair: { ours: net.Socket; theirs: net.Socket } | undefined;
    if (stdout === 'pipe') {
      try {
        pair = await unixSocketPair(os.tmpdir());
      } catch (e) {
        core.debug(`launcher: no socket pair for the output (${e instanceof Error ? e.message : String(e)}); forking directly`);
        return undefined;
      }
    }
    const theirs: net.Socket | 'ignore' = pair ? pair.theirs : stdout === 'pipe' ? 'ignore' : stdout;
    const id = ++this.next;
    const children = stages.map((argv, i) => new LaunchedChild([...argv], (signal) => this.proc.connected && this.proc.send({ t: 'kill', id, stage: i, signal })));
    try {
      opts.created(children);
    } catch (e) {
      // Refused before anything started (the step began stopping): nothing to undo but the pair.
      pair?.ours.destroy();
      pair?.theirs.destroy();
      throw e;
    }
    if (pair) children[children.length - 1].attach('stdout', pair.ours);
    this.live.set(id, children);
    this.busy();
    const message = { t: 'start', id, stages, env: opts.env, cwd: opts.cwd ?? process.cwd(), stdin, stdout: theirs === 'ignore' ? 'ignore' : 'handle', stderrTail: opts.stderrTail };
    return new Promise((resolve, reject) => {
      this.pending.set(id, {
        children,
        started: (pids) => {
          pids.forEach((pid, i) => {
            children[i].pid = pid ?? undefined;
            // Read now, while the launcher still waits for it: the pid is its child's.
            if (pid !== null) children[i].startTime = procStat(pid)?.startTime;
          });
          resolve(children);
          for (const c of children) c.arm();
        },
        refused: reject
      });
      const sent = (e: Error | null): void => {
        if (!e) return;
        this.pending.delete(id);
        this.live.delete(id);
        if (this.live.size === 0) this.idle();
        pair?.ours.destroy();
        // Tracked already: they end here, for whoever waits on them.
        for (const c of children) {
          c.fail(e);
          c.arm();
        }
        reject(e);
      };
      // Sent with the handle, the socket is the launcher's: node closes ours once it is on its way.
      if (theirs === 'ignore') this.proc.send(message, sent);
      else this.proc.send(message, theirs, sent);
    });
  }

  private onMessage(m: FromLauncher, handle: net.Socket | undefined): void {
    if (m.t === 'ready') return;
    const children = this.pending.get(m.id)?.children ?? this.live.get(m.id);
    if (m.t === 'stdin') {
      if (handle && children) children[0].attach('stdin', handle);
      else handle?.destroy();
    } else if (m.t === 'started') {
      const p = this.pending.get(m.id);
      this.pending.delete(m.id);
      p?.started(m.pids);
    } else if (m.t === 'error') {
      const c = children?.[m.stage];
      c?.fail(Object.assign(new Error(m.error.message), m.error));
      this.settle(m.id);
    } else if (m.t === 'exit') {
      children?.[m.stage].exit(m.code, m.signal, m.stderr);
      this.settle(m.id);
    }
  }

  /** Drops a pipeline once every stage of it exited or failed. */
  private settle(id: number): void {
    const children = this.live.get(id);
    if (children?.every((c) => c.ended)) {
      this.live.delete(id);
      if (this.live.size === 0) this.idle();
    }
  }

  private lost(e: Error): void {
    if (this.gone) return;
    this.gone = e;
    for (const [id, p] of this.pending) {
      this.live.delete(id);
      for (const c of p.children) {
        c.fail(e);
        c.arm();
      }
      p.refused(e);
    }
    this.pending.clear();
    // Its children go on without it (an rm, a tar): each is stopped here, by pid, and counts as
    // running until it is gone, so a cancel's stopChildren still waits for it.
    for (const children of this.live.values()) for (const c of children) c.orphaned(e);
    this.live.clear();
    this.idle();
  }

  // The channel keeps node's event loop alive only while a stage runs: the step must be able to
  // exit with the launcher still there (it exits once the channel closes).
  private busy(): void {
    this.proc.channel?.ref();
  }

  private idle(): void {
    this.proc.channel?.unref();
  }
}

/** How long a launcher may take to say it is ready (a node start: well under a second). */
const READY_TIMEOUT_MS = 10_000;

let launcher: Promise<Launcher | undefined> | undefined;
/** The launcher once it is ready, for callers that use it only when it is already there. */
let ready: Launcher | undefined;

/** The step's launcher if it has been started and is ready: run() forks itself otherwise. */
export function launcherIfReady(): Launcher | undefined {
  return ready?.usable ? ready : undefined;
}

/**
 * The launcher script: RUNBOX_LAUNCHER when set (a path, or `off` for none: tests), otherwise
 * launcher.js next to the running bundle, when it exists.
 */
export function launcherScript(): string | undefined {
  const given = process.env.RUNBOX_LAUNCHER;
  if (given === 'off') return undefined;
  if (given) return given;
  const beside = path.join(path.dirname(fileURLToPath(import.meta.url)), 'launcher.js');
  return fs.existsSync(beside) ? beside : undefined;
}

/**
 * The step's launcher, started on first use; undefined when there is none (exec.ts forks itself),
 * also for the rest of the step once it died.
 */
export async function theLauncher(): Promise<Launcher | undefined> {
  launcher ??= startLauncher();
  const l = await launcher;
  if (l && !l.usable) {
    launcher = Promise.resolve(undefined);
    return undefined;
  }
  return l;
}

/**
 * Starts the launcher now, without waiting for it, so that the commands a store step runs before
 * its first pipeline go through it too (run() uses it once it is ready).
 */
export function prepareLauncher(): void {
  void theLauncher();
}

/**
 * Ends the step's launcher, if one was started, and waits for it: the step then leaves no process
 * behind, and the CPU of the pipelines it started counts as the step's (it is reaped by the step).
 * A pipeline after this starts a new one.
 */
export async function stopLauncher(): Promise<void> {
  const l = await launcher;
  launcher = undefined;
  ready = undefined;
  await l?.close(2000);
}

async function startLauncher(): Promise<Launcher | undefined> {
  const script = launcherScript();
  if (!script) return undefined;
  let proc: ChildProcess;
  try {
    proc = spawn(process.execPath, [script], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], serialization: 'json' });
  } catch (e) {
    // The host refused a process now (EAGAIN, say): the stages are forked by the step itself.
    process.stderr.write(`runbox: the launcher could not be started (${e instanceof Error ? e.message : String(e)}); starting processes directly\n`);
    return undefined;
  }
  // Referenced until it is ready: node must not end (exit 13, an unsettled await) while the
  // step waits for a launcher that died before saying so.
  const started = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => {
      core.debug(`launcher: not ready after ${READY_TIMEOUT_MS} ms; forking directly`);
      proc.kill('SIGKILL');
      resolve(false);
    }, READY_TIMEOUT_MS);
    const settle = (ok: boolean): void => {
      clearTimeout(timer);
      resolve(ok);
    };
    proc.once('message', () => settle(true));
    proc.once('error', () => settle(false));
    proc.once('exit', () => settle(false));
    proc.once('disconnect', () => settle(false));
  });
  proc.unref();
  if (!started) return undefined;
  ready = new Launcher(proc);
  return ready;
}

export type { Launcher };

/** The longest path a unix socket can be bound at (Linux: sun_path's 108 bytes, NUL included). */
const MAX_SOCKET_PATH = 107;

/**
 * A connected pair of unix stream sockets: `theirs` to give a child as its stdout, `ours` to read
 * (with `onread`, into the caller's buffer; node makes a child's own stdout pipe without it). Made
 * by a listen and a connect on a socket in a fresh 0700 dir (mkdtemp) under `home`, removed at
 * once: only this uid and root can connect, and those can read this process's memory anyway.
 */
export async function unixSocketPair(home: string, onread?: net.OnReadOpts): Promise<{ ours: net.Socket; theirs: net.Socket }> {
  // As root, not in a TMPDIR another user may write to: they could rename the fresh dir away and
  // put a link in its place, and root would bind the socket wherever it points.
  const problem = process.getuid?.() === 0 ? rootOnlyProblem(home) : undefined;
  if (problem) throw new Error(`the socket would be made in ${home}, and ${problem}`);
  const dir = fs.mkdtempSync(path.join(home, 'runbox-out-'));
  const server = net.createServer();
  try {
    const where = path.join(dir, 's');
    // Longer than sun_path holds, libuv would cut the path short and bind the socket there,
    // outside the private dir (in TMPDIR's parent, say): refused.
    if (Buffer.byteLength(where) > MAX_SOCKET_PATH) throw new Error(`${where} is longer than the ${MAX_SOCKET_PATH} bytes a unix socket's path can be`);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(where, resolve);
    });
    const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
    const ours = net.connect({ path: where, ...(onread ? { onread } : {}) });
    await new Promise<void>((resolve, reject) => {
      ours.once('connect', resolve);
      ours.once('error', reject);
    });
    return { ours, theirs: await accepted };
  } finally {
    server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
