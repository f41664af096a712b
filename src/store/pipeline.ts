// Streaming pipelines (`zstd -dc FILE | sudo tar -x`, `sudo tar -c | zstd`) for snapshots of many
// GB, which exec.run() cannot do because it buffers output. The stages start through
// exec.startStages(), so whether root rights come from being root or from `sudo -n` is still
// decided in exec.ts alone. Adjacent stages are joined by an OS pipe (no copy through node);
// node only feeds the first stage and/or consumes the last one.
import crypto from 'node:crypto';
import net from 'node:net';
import os from 'node:os';
import { Transform, type Readable, type TransformCallback, type Writable } from 'node:stream';
import * as core from '@actions/core';
import { registerCleanup } from '../action/on-cancel.js';
import { errorMessage } from '../common/errors.js';
import { startStages, type StageCommand, type StageProcess } from '../sys/exec.js';
import { unixSocketPair } from '../sys/launch.js';

export type Stage = StageCommand;

export interface PipelineIO {
  /** Writes the first stage's stdin; must end it (stream.pipeline does). Without it stdin is /dev/null. */
  feed?: (stdin: Writable) => Promise<unknown>;
  /** Reads the last stage's stdout to its end. Without it stdout goes to /dev/null. */
  consume?: (stdout: Readable) => Promise<unknown>;
  /** Instead of consume: the last stage's stdout read into one reused buffer (see ReusedReads). */
  consumeInto?: ReusedReads;
}

/**
 * The last stage's output read into `buffer` again and again, not into a fresh 64 KiB buffer per
 * read as a child's stdout pipe is: for the GBs a restore decompresses, the fresh buffers (their
 * page faults, their garbage) cost node about as much CPU as the copies themselves (issue 13).
 * `onChunk` gets each read as a view of `buffer`, valid only until the promise it returns
 * settles (the next read waits for it): whatever it hands on must be written by then.
 * `onEnd` runs once the output ended and every chunk was handled.
 */
export interface ReusedReads {
  buffer: Buffer;
  onChunk: (chunk: Buffer) => Promise<void>;
  onEnd: () => Promise<void>;
  /** Where the socket pair is made (default: os.tmpdir()). */
  socketDir?: string;
}

/**
 * A connected pair of unix stream sockets (sys/launch.ts unixSocketPair): `theirs` to give the
 * last stage as its stdout, `ours` read into `r.buffer` (net.Socket's onread; node makes a
 * child's own stdout pipe without it).
 */
async function reusedReadsPair(r: ReusedReads): Promise<{ ours: net.Socket; theirs: net.Socket; done: Promise<void> }> {
  let fail: (e: unknown) => void = () => undefined;
  let ended: () => void = () => undefined;
  let pending = Promise.resolve();
  // Set once the pair is made; no chunk can come before.
  let ours: net.Socket | undefined = undefined;
  const pair = await unixSocketPair(r.socketDir ?? os.tmpdir(), {
    buffer: r.buffer,
    callback: (n: number): boolean => {
      // Paused until the chunk is handled: the next read overwrites the buffer.
      pending = r.onChunk(r.buffer.subarray(0, n)).then(
        () => void ours?.resume(),
        (e: unknown) => fail(e)
      );
      return false;
    }
  });
  ours = pair.ours;
  const mine = ours;
  const done = new Promise<void>((resolve, reject) => {
    fail = (e) => {
      mine.destroy();
      reject(e instanceof Error ? e : new Error(errorMessage(e)));
    };
    ended = () => void pending.then(() => r.onEnd()).then(resolve, fail);
  });
  // Awaited by runPipeline once the pair is made; a pair never made rejects it unawaited.
  done.catch(() => undefined);
  let atEnd = false;
  mine.once('end', () => {
    atEnd = true;
    ended();
  });
  mine.once('error', (e) => fail(e));
  // Closed before its end (the pipeline cut short): told like a broken pipe, a consequence.
  mine.once('close', () => atEnd || fail(Object.assign(new Error('the output was closed before its end'), { code: 'ERR_STREAM_PREMATURE_CLOSE' })));
  return { ours: mine, theirs: pair.theirs, done };
}

export class PipelineError extends Error {
  constructor(
    readonly command: string,
    message: string
  ) {
    super(message);
    this.name = 'PipelineError';
  }
}

export interface StageEnd {
  code: number | null;
  signal: NodeJS.Signals | null;
  error?: Error;
  stderr: string;
}

const STDERR_TAIL = 16 * 1024;

function isBrokenPipe(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return code === 'EPIPE' || code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ERR_STREAM_DESTROYED';
}

function waitForStage(child: StageProcess): Promise<StageEnd> {
  return new Promise((resolve) => {
    let stderr = '';
    child.stderr?.on('data', (b: Buffer) => {
      stderr = (stderr + b.toString()).slice(-STDERR_TAIL);
    });
    // 'error' (e.g. ENOENT) may come without 'close'; whichever is first settles.
    child.once('error', (error: Error) => resolve({ code: null, signal: null, error, stderr }));
    child.once('close', (code: number | null, signal: NodeJS.Signals | null) => resolve({ code, signal, stderr }));
  });
}

/**
 * Runs stages[0] | stages[1] | ... and resolves when every stage exited 0 and feed/consume
 * finished. On the first failure every stage still running is killed, and the error names the
 * stage that failed first in cause (a `tar` error, not the SIGPIPE it caused upstream).
 */
export async function runPipeline(stages: readonly Stage[], io: PipelineIO = {}): Promise<void> {
  if (stages.length === 0) throw new Error('runPipeline: no stages');
  const children: StageProcess[] = [];
  // Without the pair (no socket can be made: a TMPDIR whose path is too long for one, say), the
  // child's own stdout pipe, its fresh buffers handed on as they come (valid for good).
  const pair = io.consumeInto
    ? await reusedReadsPair(io.consumeInto).catch((e: unknown) => void core.debug(`pipeline: reading into one buffer: ${errorMessage(e)}; reading the pipe instead`))
    : undefined;
  const into = io.consumeInto;
  const consume =
    io.consume ??
    (into && !pair
      ? async (stdout: Readable): Promise<void> => {
          for await (const chunk of stdout as AsyncIterable<Buffer>) await into.onChunk(chunk);
          await into.onEnd();
        }
      : undefined);
  // Read with the pair: its reading end is closed with the children on a failure.
  const ours = pair?.ours;
  let aborted = false;
  const abort = (): void => {
    if (aborted) return;
    aborted = true;
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
    for (const c of children) {
      c.stdin?.destroy();
      c.stdout?.destroy();
    }
    ours?.destroy();
  };

  const stdout = pair ? pair.theirs : consume ? 'pipe' : 'ignore';
  // The pair's end the last stage writes is the child's alone once started: once it exits,
  // ours reads the end.
  const started = await startStages(stages, io.feed ? 'pipe' : 'ignore', stdout).catch((e: unknown) => {
    pair?.theirs.destroy();
    ours?.destroy();
    throw e;
  });
  const shown = started.shown;
  children.push(...started.children);
  const ends = children.map((child) =>
    waitForStage(child).then((end) => {
      if (end.error || end.code !== 0) abort();
      return end;
    })
  );

  core.debug(`exec: ${shown.join(' | ')}`);

  const unregister = registerCleanup(async () => {
    abort();
    await Promise.allSettled(ends);
  });

  const guard = (p: Promise<unknown> | undefined): Promise<unknown> =>
    (p ?? Promise.resolve()).catch((e: unknown) => {
      abort();
      throw e;
    });
  const fed = guard(io.feed?.(children[0].stdin as Writable));
  const consumed = guard(pair ? pair.done : consume?.(children[children.length - 1].stdout as Readable));

  try {
    const [stageEnds, [feed], [consume]] = await Promise.all([Promise.all(ends), Promise.allSettled([fed]), Promise.allSettled([consumed])]);
    const cause = pipelineFailure(shown, stageEnds, feed, consume);
    if (cause.failed) throw cause.error;
  } finally {
    unregister();
  }
}

/**
 * How a finished pipeline ended: the failure first in cause, not the broken pipes and kills it
 * led to upstream. `commands`: each stage's command line, quoted. Exported for its unit test.
 */
export function pipelineFailure(
  commands: readonly string[],
  stageEnds: readonly StageEnd[],
  feed: PromiseSettledResult<unknown>,
  consume: PromiseSettledResult<unknown>
): { failed: false } | { failed: true; error: unknown } {
  const fail = (error: unknown): { failed: true; error: unknown } => ({ failed: true, error });
  // The consumer refusing the data is the root cause of everything that follows.
  if (consume.status === 'rejected' && !isBrokenPipe(consume.reason)) return fail(consume.reason);
  const failed = stageEnds
    .map((end, i) => ({ end, i }))
    .filter(({ end }) => end.error || end.code !== 0)
    // A stage killed by SIGPIPE or by our abort is a consequence, not the cause.
    .sort((a, b) => rank(a.end) - rank(b.end) || b.i - a.i);
  if (failed.length > 0 && rank(failed[0].end) === 0) return fail(stageError(commands[failed[0].i], failed[0].end));
  if (feed.status === 'rejected' && !isBrokenPipe(feed.reason)) return fail(feed.reason);
  if (failed.length > 0) return fail(stageError(commands[failed[0].i], failed[0].end));
  if (consume.status === 'rejected') return fail(consume.reason);
  if (feed.status === 'rejected') return fail(feed.reason);
  return { failed: false };
}

function rank(end: StageEnd): number {
  return end.error || end.code !== null ? 0 : 1;
}

function stageError(cmd: string, end: StageEnd): PipelineError {
  const detail = end.stderr.trim().split('\n').slice(-5).join('\n');
  const how = end.error ? `could not run: ${errorMessage(end.error)}` : end.code !== null ? `exited with ${end.code}` : `was killed by ${end.signal ?? 'a signal'}`;
  return new PipelineError(cmd, `\`${cmd}\` ${how}${detail ? `: ${detail}` : ''}`);
}

/**
 * ReusedReads as an async iterable, for a consumer that pulls (for await): each chunk is handed
 * over when asked for and counts as done with once the next is asked for (or the consumer stops),
 * which is when onChunk resolves and the buffer is read into again. So the consumer must not keep
 * a chunk past asking for the next (copy it). `fail` ends the iteration with an error (the
 * pipeline broke); a consumer that stops early makes every later onChunk reject.
 */
export class HandOff implements AsyncIterable<Buffer> {
  /** Offered by the reader, not yet handed over. */
  private offered: Offer | undefined;
  /** Handed over: the consumer may read it until it asks for the next. */
  private handed: Offer | undefined;
  private asking: { resolve: (r: IteratorResult<Buffer>) => void; reject: (e: unknown) => void } | undefined;
  private ended = false;
  private failure: Error | undefined;
  private stopped = false;

  /** ReusedReads.onChunk: resolves once the consumer asks for the chunk after this one. */
  readonly onChunk = (chunk: Buffer): Promise<void> =>
    new Promise<void>((done, refuse) => {
      if (this.stopped) return refuse(new Error('the consumer stopped reading'));
      this.offered = { chunk, done, refuse };
      this.serve();
    });

  /** No more chunks (after the last one's onChunk resolved). */
  end(): void {
    this.ended = true;
    this.serve();
  }

  fail(e: Error): void {
    this.failure ??= e;
    this.serve();
  }

  /** The consumer will not read (it failed before it began): the reader stops as if it had stopped. */
  stop(): void {
    void this[Symbol.asyncIterator]().return?.();
  }

  private serve(): void {
    const ask = this.asking;
    if (!ask) return;
    if (this.offered) {
      this.asking = undefined;
      this.handed = this.offered;
      this.offered = undefined;
      ask.resolve({ value: this.handed.chunk, done: false });
    } else if (this.failure) {
      this.asking = undefined;
      ask.reject(this.failure);
    } else if (this.ended) {
      this.asking = undefined;
      ask.resolve({ value: undefined, done: true });
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<Buffer> {
    return {
      next: () => {
        // Asking for the next: the consumer is done with the one handed over before.
        const prev = this.handed;
        this.handed = undefined;
        prev?.done();
        return new Promise<IteratorResult<Buffer>>((resolve, reject) => {
          this.asking = { resolve, reject };
          this.serve();
        });
      },
      return: () => {
        this.stopped = true;
        for (const o of [this.handed, this.offered]) o?.refuse(new Error('the consumer stopped reading'));
        this.handed = this.offered = undefined;
        return Promise.resolve({ value: undefined, done: true });
      }
    };
  }
}

interface Offer {
  chunk: Buffer;
  done: () => void;
  refuse: (e: Error) => void;
}

/** Passes bytes through while counting them and computing their sha256. */
export class HashTap extends Transform {
  private readonly hash = crypto.createHash('sha256');
  bytes = 0;

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    cb(null, chunk);
  }

  /** Call once, after the stream has ended. */
  digest(): string {
    return this.hash.digest('hex');
  }
}
