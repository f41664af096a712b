// Which failure a streaming pipeline reports (store/pipeline.ts pipelineFailure), on hand-made
// stage ends: the stage that failed first in cause, not the SIGPIPE or the kill it led to. The
// real pipelines (tar, zstd, sudo) run in ../store-archive.test.ts.
import { describe, expect, test } from '@jest/globals';
import { pipelineFailure, PipelineError, type StageEnd } from '../../src/store/pipeline.js';

const CMDS = ['zstd -dc f', 'tar -x', 'mv a b'];
const none: PromiseSettledResult<unknown> = { status: 'fulfilled', value: undefined };
const rejected = (reason: unknown): PromiseSettledResult<unknown> => ({ status: 'rejected', reason });
const ok: StageEnd = { code: 0, signal: null, stderr: '' };
const exited = (code: number, stderr = ''): StageEnd => ({ code, signal: null, stderr });
const killed = (signal: NodeJS.Signals): StageEnd => ({ code: null, signal, stderr: '' });
const epipe = Object.assign(new Error('write EPIPE'), { code: 'EPIPE' });

/** The error pipelineFailure reports; fails the test when it reports none. */
function failure(ends: StageEnd[], feed: PromiseSettledResult<unknown> = none, consume: PromiseSettledResult<unknown> = none): unknown {
  const r = pipelineFailure(CMDS, ends, feed, consume);
  if (!r.failed) throw new Error('expected a failure');
  return r.error;
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

describe('pipelineFailure', () => {
  test('all stages 0 and no feed/consume error: no failure', () => {
    expect(pipelineFailure(CMDS, [ok, ok, ok], none, none)).toEqual({ failed: false });
  });

  test('a stage that exited non-zero wins over one killed by SIGPIPE or by the abort', () => {
    const e = failure([killed('SIGPIPE'), exited(2, 'tar: bad header\n'), killed('SIGTERM')], none, none);
    expect(e).toBeInstanceOf(PipelineError);
    expect(message(e)).toBe('`tar -x` exited with 2: tar: bad header');
  });

  test('of two stages that exited non-zero, the later one (the reader that refused) is the cause', () => {
    expect(message(failure([exited(1), exited(2), ok], none, none))).toMatch(/^`tar -x` exited with 2/);
  });

  test('a stage that could not start is a cause', () => {
    const end: StageEnd = { code: null, signal: null, error: Object.assign(new Error('spawn tar ENOENT'), { code: 'ENOENT' }), stderr: '' };
    expect(message(failure([killed('SIGPIPE'), end, ok], none, none))).toMatch(/^`tar -x` could not run: spawn tar ENOENT/);
  });

  test('the consumer refusing the data is the root cause; its broken pipe is not', () => {
    const refused = new Error('manifest mismatch');
    expect(failure([ok, exited(2), ok], none, rejected(refused))).toBe(refused);
    expect(message(failure([ok, exited(2), ok], none, rejected(epipe)))).toMatch(/^`tar -x` exited with 2/);
  });

  test('a feed error ranks after a stage that exited non-zero, before one that was only killed', () => {
    const feed = new Error('download failed');
    expect(message(failure([exited(1), ok, ok], rejected(feed), none))).toMatch(/^`zstd -dc f` exited with 1/);
    expect(failure([killed('SIGTERM'), ok, ok], rejected(feed), none)).toBe(feed);
  });

  test('only consequences left: the killed stage is named, with the signal', () => {
    expect(message(failure([killed('SIGPIPE'), ok, ok], rejected(epipe), none))).toBe('`zstd -dc f` was killed by SIGPIPE');
  });

  test('a broken pipe alone (every stage 0) is still a failure', () => {
    expect(failure([ok, ok, ok], none, rejected(epipe))).toBe(epipe);
    expect(failure([ok, ok, ok], rejected(epipe), none)).toBe(epipe);
  });
});
