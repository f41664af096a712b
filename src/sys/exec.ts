// The one door to the host's processes: every child runbox starts goes through startProcess(),
// so "root or `sudo -n`" is decided in a single place (commandLine) and `privileged: true` is the
// only way to ask for root. run() is the common case (buffered output, exit code checked);
// runElseRoot() is "as the runner user, else as root"; the store's pipelines and the lock
// helpers (extra fds, a detached keeper) use startProcess() directly.
import { AsyncLocalStorage } from 'node:async_hooks';
import { spawn, type ChildProcess, type SpawnOptions, type StdioNull, type StdioPipe } from 'node:child_process';
import type { Stream } from 'node:stream';
import * as core from '@actions/core';
import { launcherIfReady, theLauncher, type LaunchedChild, type LaunchedOutput } from './launch.js';

/** One of the child's stdin/stdout/stderr: a pipe to us, /dev/null, or a stream or fd it gets as is. */
export type StdioWiring = StdioPipe | StdioNull | Stream | number;

/** How a process is started; run() and runPipeline() stages take the same options. */
export interface ProcessOptions {
  cwd?: string;
  /** Default: this process's environment. */
  env?: NodeJS.ProcessEnv;
  /** Run with root rights: directly when already root, otherwise through `sudo -n`. */
  privileged?: boolean;
  /** stdin, stdout, stderr. Default: all three piped. */
  stdio?: readonly [StdioWiring, StdioWiring, StdioWiring];
  /** Given to the child as its fds 3, 4, ...: an open fd of ours (a lock), or 'pipe' (read it from child.stdio[n]). */
  extraFds?: ReadonlyArray<number | StdioPipe>;
  /** Own session and process group: not killed with ours, no controlling terminal. */
  detached?: boolean;
}

export interface RunOptions extends Omit<ProcessOptions, 'stdio' | 'extraFds' | 'detached'> {
  /** Written to the child's stdin, then closed. */
  input?: string | Buffer;
  /** Resolve with the exit code instead of throwing on a non-zero exit. */
  allowFailure?: boolean;
  /** Most stdout bytes kept; beyond it the child is killed and run() throws OutputLimitError. Default MAX_STDOUT. */
  maxStdout?: number;
  /**
   * Lock fds the child inherits (as its fds 3..): the flock(2) lock they carry then stays held
   * while the child runs, even when this process is SIGKILLed first. A delete started under a
   * lock must never outlive the lock (sudo keeps inherited fds open in its own process).
   */
  holdFds?: number[];
}

/**
 * What run() keeps of a child's output. A command reading untrusted data (a DB row, a listing)
 * could otherwise print without bound, and one huge string crashes node mid-restore (with the
 * daemon stopped). stdout is the result, so past the bound the command fails; stderr is only
 * for messages, so its tail is kept.
 */
export const MAX_STDOUT = 16 * 1024 * 1024;
export const MAX_STDERR_TAIL = 1024 * 1024;

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  /** Set when the child was killed by a signal (then `code` is 128): it stopped at no point of its own choosing. */
  signal?: NodeJS.Signals;
}

/** Control characters shown as \\xNN: an error message is logged, and must stay one harmless line. */
function singleLine(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f\u0085\u2028\u2029]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

export class CommandError extends Error {
  constructor(
    readonly command: string,
    readonly result: RunResult
  ) {
    // stderr may quote data the command read (member names, DB rows) and this message reaches the
    // log: one line, each quoted line cut, so it cannot start a workflow command there.
    const detail = result.stderr
      .trim()
      .split('\n')
      .slice(-5)
      .map((l) => (l.length > 300 ? `${l.slice(0, 300)}...` : l))
      .join(' | ');
    super(singleLine(`\`${command}\` exited with ${result.code}${detail ? `: ${detail}` : ''}`));
    this.name = 'CommandError';
  }
}

/** A command printed more than run() keeps: it was killed, and its output is not used. */
export class OutputLimitError extends Error {
  constructor(
    readonly command: string,
    readonly limit: number
  ) {
    super(singleLine(`\`${command.length > 300 ? `${command.slice(0, 300)}...` : command}\` printed more than ${limit} bytes on stdout, more than runbox reads from a command; it was stopped`));
    this.name = 'OutputLimitError';
  }
}

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/** argv as it will really run, with `sudo -n` in front when privileges must be borrowed. */
function commandLine(cmd: string, args: readonly string[], privileged = false): string[] {
  return privileged && !isRoot() ? ['sudo', '-n', '--', cmd, ...args] : [cmd, ...args];
}

export interface StartedProcess {
  child: ChildProcess;
  /** The argv that really runs (`sudo -n --` in front when borrowed), quoted for messages and the log. */
  shown: string;
}

/**
 * Starts `cmd`; the caller owns the child (its events, its pipes, its end). Throws only what
 * spawn throws synchronously; a command that cannot be run arrives as the child's 'error'.
 */
export function startProcess(cmd: string, args: readonly string[], opts: ProcessOptions = {}): StartedProcess {
  const argv = commandLine(cmd, args, opts.privileged);
  // run()'s rule for every start: once the step is stopping, nothing new starts outside a
  // cleanup. The step's code runs on while the cancel's cleanups do; without this, a cancelled
  // main went on to take its locks with flock and hand them to a keeper that outlived it.
  if (isStopping()) throw new StoppingError(quote(argv));
  const child = forkChild(argv, {
    ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}),
    env: opts.env ?? process.env,
    stdio: [...(opts.stdio ?? ['pipe', 'pipe', 'pipe']), ...(opts.extraFds ?? [])],
    detached: opts.detached ?? false
  });
  return { child, shown: quote(argv) };
}

/**
 * The one fork of this module (startProcess, and startStages without a launcher): `argv` as
 * commandLine built it. A detached child (the keeper) is meant to outlive the step; every other
 * one is tracked, to end with it.
 */
function forkChild(argv: readonly string[], opts: SpawnOptions): ChildProcess {
  const child = spawn(argv[0], argv.slice(1), opts);
  if (!opts.detached) trackChild(child);
  return child;
}

/** One stage of a pipeline (startStages). */
export interface StageCommand extends Pick<ProcessOptions, 'privileged'> {
  cmd: string;
  args: readonly string[];
}

/** What a pipeline keeps of each stage's stderr (the end, for its error message). */
const PIPELINE_STDERR_TAIL = 16 * 1024;

/** A pipeline stage as started: a child of ours, or one the launcher started for us. */
export type StageProcess = ChildProcess | LaunchedChild;

/**
 * Starts stages[0] | stages[1] | ...: adjacent stages joined by an OS pipe (no copy through
 * node), the first one's stdin and the last one's stdout as given, every stage's stderr piped to
 * us. The caller owns the children (their events, pipes and ends), as with startProcess().
 * Through the step's launcher when there is one (sys/launch.ts: node then never forks while a
 * pipeline's bytes flow, which on a VM costs it more than the pipeline), otherwise forked here.
 */
export async function startStages(stages: readonly StageCommand[], stdin: 'pipe' | 'ignore', stdout: LaunchedOutput): Promise<{ children: StageProcess[]; shown: string[] }> {
  const argvs = stages.map((s) => commandLine(s.cmd, s.args, s.privileged));
  const shown = argvs.map(quote);
  const refuse = (): StoppingError => new StoppingError(shown.join(' | '));
  if (isStopping()) throw refuse();
  const launcher = await theLauncher();
  if (isStopping()) throw refuse();
  const launched = await launcher?.start(argvs, stdin, stdout, { env: process.env, stderrTail: PIPELINE_STDERR_TAIL, created: trackUnlessStopping(refuse) });
  if (launched) {
    // A cancel that came while the launcher started them: stopped here too (stopChildren may
    // have run before they were tracked); nothing of this pipeline goes on.
    if (isStopping()) throw stopLaunched(launched, refuse());
    return { children: launched, shown };
  }
  const children: ChildProcess[] = [];
  argvs.forEach((argv, i) => {
    const first = i === 0;
    const last = i === argvs.length - 1;
    const child = forkChild(argv, {
      env: process.env,
      stdio: [first ? stdin : children[i - 1].stdout, last ? stdout : 'pipe', 'pipe']
    });
    // The child got its own copy of the previous stage's read end; dropping ours lets the
    // previous stage see EPIPE when this one exits early, instead of blocking forever. The
    // same for a socket of ours the last stage writes.
    if (!first) children[i - 1].stdout?.destroy();
    if (last && typeof stdout !== 'string') stdout.destroy();
    children.push(child);
  });
  return { children, shown };
}

export function quote(argv: readonly string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

// --- children end with their step --------------------------------------------------------------
//
// A cancelled step gets SIGINT/SIGTERM and exits from its handler. A child it started (rm, du,
// chown, sudo and the command under it) would otherwise go on as an orphan, and an rm that goes
// on after the step's locks died deletes what the next run has just started using. So every child
// is tracked until it closes, stopChildren() ends them all before the step exits, and from then
// on run() starts nothing new except inside a cleanup (a store daemon restarted, say).
//
// Children stay in the step's process group (not detached): a runner that kills the job's
// group kills them with it. They are signalled one by one instead; sudo relays SIGTERM to its
// command (a SIGKILLed sudo would leave the command running, so SIGKILL comes only after a grace).

const children = new Set<TrackedChild>();
let stopping = false;
const cleanupScope = new AsyncLocalStorage<true>();

/** Thrown by run() once the step is stopping: nothing new is started outside a cleanup. */
export class StoppingError extends Error {
  constructor(readonly command: string) {
    super(singleLine(`not starting \`${command.length > 300 ? `${command.slice(0, 300)}...` : command}\`: the step is being cancelled`));
    this.name = 'StoppingError';
  }
}

/** True once stopChildren() ran: work in flight is ending, nothing new may start. */
export function isStopping(): boolean {
  return stopping && !cleanupScope.getStore();
}

/** What stopChildren() needs of a child: a ChildProcess, or a stage the launcher started. */
type TrackedChild = Pick<ChildProcess, 'exitCode' | 'signalCode' | 'pid' | 'spawnargs' | 'kill'> & { once(event: 'close' | 'error', listener: () => void): unknown };

/** Tracks a child started outside run() (a flock, a pipeline stage) so stopChildren() ends it too. */
export function trackChild(child: TrackedChild): void {
  if (child.exitCode !== null || child.signalCode !== null) return;
  children.add(child);
  child.once('close', () => children.delete(child));
  child.once('error', () => children.delete(child));
}

/** Runs `fn` as a cleanup: its commands may start after stopChildren(). */
export function asCleanup<T>(fn: () => T): T {
  return cleanupScope.run(true, fn);
}

/**
 * SIGTERM to every child still running, SIGKILL to those still there after `graceMs`; resolves
 * once all have closed. From now on run() refuses new commands outside asCleanup().
 */
export async function stopChildren(graceMs = 3000): Promise<void> {
  stopping = true;
  const running = [...children].filter((c) => c.exitCode === null && c.signalCode === null);
  if (running.length === 0) return;
  core.info(`runbox: stopping ${running.length} child process(es): ${running.map((c) => `${c.pid} (${c.spawnargs.slice(0, 4).join(' ')})`).join(', ')}`);
  const closed = running.map((c) => new Promise<void>((resolve) => (children.has(c) ? c.once('close', () => resolve()) : resolve())));
  for (const c of running) c.kill('SIGTERM');
  const timer = setTimeout(() => {
    for (const c of running) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  }, graceMs);
  await Promise.all(closed);
  clearTimeout(timer);
}

export async function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  if (isStopping()) throw new StoppingError(quote(commandLine(cmd, args, opts.privileged)));
  const { child, shown } = await startForRun(cmd, args, opts);
  core.debug(`exec: ${shown}`);
  const maxStdout = opts.maxStdout ?? MAX_STDOUT;
  let overflow = false;
  const result = await new Promise<RunResult>((resolve, reject) => {
    const out: Buffer[] = [];
    let outBytes = 0;
    const err: Buffer[] = [];
    let errBytes = 0;
    child.stdout?.on('data', (b: Buffer) => {
      if (overflow) return;
      outBytes += b.length;
      if (outBytes <= maxStdout) {
        out.push(b);
        return;
      }
      overflow = true;
      out.length = 0;
      // SIGTERM, not SIGKILL: sudo relays it to the command, and a SIGKILLed sudo would leave the
      // command running. Closing the pipe too, so a command that ignores SIGTERM gets EPIPE.
      child.kill('SIGTERM');
      child.stdout?.destroy();
      setTimeout(() => child.exitCode === null && child.signalCode === null && child.kill('SIGKILL'), 5000).unref();
    });
    child.stderr?.on('data', (b: Buffer) => {
      err.push(b);
      errBytes += b.length;
      while (errBytes - err[0].length >= MAX_STDERR_TAIL) errBytes -= (err.shift() as Buffer).length;
    });
    child.on('error', reject);
    child.on('close', (code: number | null, signal: NodeJS.Signals | null) => {
      const errText = Buffer.concat(err);
      resolve({
        code: code ?? (signal ? 128 : 1),
        stdout: Buffer.concat(out).toString(),
        stderr: (errText.length > MAX_STDERR_TAIL ? errText.subarray(errText.length - MAX_STDERR_TAIL) : errText).toString() + (signal ? `\nkilled by ${signal}` : ''),
        ...(signal ? { signal } : {})
      });
    });
    child.stdin?.on('error', () => undefined); // the child may exit before reading all input; its exit code tells
    child.stdin?.end(opts.input ?? '');
  });
  if (overflow) throw new OutputLimitError(shown, maxStdout);
  if (result.code !== 0 && !opts.allowFailure) throw new CommandError(shown, result);
  return result;
}

/**
 * run()'s child: through the step's launcher when it is already running (a store step starts it
 * early: see sys/launch.ts for why node forking itself costs it so much on a VM) and no lock fd
 * must be inherited (fds other than sockets cannot be handed to it); forked here otherwise.
 */
async function startForRun(cmd: string, args: readonly string[], opts: RunOptions): Promise<{ child: StageProcess; shown: string }> {
  const launcher = opts.holdFds ? undefined : launcherIfReady();
  if (!launcher) {
    // RunOptions has no stdio or detached: all three pipes, our session; held lock fds are its fds 3...
    return startProcess(cmd, args, { ...opts, ...(opts.holdFds ? { extraFds: opts.holdFds } : {}) });
  }
  const argv = commandLine(cmd, args, opts.privileged);
  const shown = quote(argv);
  const launched = await launcher.start([argv], 'pipe', 'pipe', {
    env: opts.env ?? process.env,
    cwd: opts.cwd,
    stderrTail: MAX_STDERR_TAIL,
    created: trackUnlessStopping(() => new StoppingError(shown))
  });
  if (!launched) return startProcess(cmd, args, opts);
  if (isStopping()) throw stopLaunched(launched, new StoppingError(shown));
  return { child: launched[0], shown };
}

/**
 * The launcher's `created`: run()'s rule (nothing new once the step is stopping) checked at the
 * last moment before the start, then the children tracked for stopChildren().
 */
function trackUnlessStopping(refuse: () => StoppingError): (children: LaunchedChild[]) => void {
  return (children) => {
    if (isStopping()) throw refuse();
    children.forEach(trackChild);
  };
}

/** Ends children the launcher started for a step that began stopping meanwhile; returns `e`. */
function stopLaunched(children: readonly LaunchedChild[], e: StoppingError): StoppingError {
  for (const c of children) {
    c.kill('SIGTERM');
    c.stdin?.destroy();
    c.stdout?.destroy();
  }
  return e;
}

let sudoChecked: Promise<void> | undefined;

/**
 * Fails early, with a message a fleet maintainer can act on, when privileged work is needed
 * but the runner user has no passwordless sudo.
 */
export function ensurePrivilege(why: string): Promise<void> {
  if (isRoot()) return Promise.resolve();
  sudoChecked ??= run('sudo', ['-n', 'true'], { allowFailure: true }).then(
    (r) => {
      if (r.code !== 0)
        throw new Error(
          `runbox needs root rights to ${why}, but \`sudo -n true\` failed (${r.stderr.trim() || `exit ${r.code}`}). ` + 'Give the runner user passwordless sudo, or run the runner as root.'
        );
    },
    (e: Error) => {
      throw new Error(`runbox needs root rights to ${why}, but sudo could not be started: ${e.message}`);
    }
  );
  return sudoChecked;
}

/**
 * "As the runner user, else as root": runs `cmd` with the runner user's rights and, when that
 * fails, once more with root's, after ensurePrivilege(why) so a runner without passwordless sudo
 * gets the message that says what to fix. `tryRunnerFirst: false` skips the first attempt when
 * the caller already knows it cannot succeed (handing files to another user). As root there is
 * one attempt, and its failure is thrown. `escalated` says whether root's attempt was needed.
 */
export async function runElseRoot(
  cmd: string,
  args: readonly string[],
  why: string,
  opts: Omit<RunOptions, 'privileged' | 'allowFailure'> & { tryRunnerFirst?: boolean } = {}
): Promise<RunResult & { escalated: boolean }> {
  const { tryRunnerFirst = true, ...runOpts } = opts;
  if (isRoot()) return { ...(await run(cmd, args, runOpts)), escalated: false };
  if (tryRunnerFirst) {
    const r = await run(cmd, args, { ...runOpts, allowFailure: true });
    if (r.code === 0) return { ...r, escalated: false };
  }
  await ensurePrivilege(why);
  return { ...(await run(cmd, args, { ...runOpts, privileged: true })), escalated: true };
}
