// Which failure a streaming pipeline reports (store/pipeline.ts pipelineFailure), on hand-made
// stage ends: the stage that failed first in cause, not the SIGPIPE or the kill it led to. The
// real pipelines (tar, zstd, sudo) run in ../store-archive.test.ts.
import { describe, expect, test } from '@jest/globals';
import { pipelineFailure, PipelineError, type StageEnd } from '../../src/store/pipeline.js';

const ARGVS = [['zstd', '-dc', 'f'], ['tar', '-x'], ['mv', 'a', 'b']];
const ok: StageEnd = { code: 0, signal: null, stderr: '' };
const exited = (code: number, stderr = ''): StageEnd => ({ code, signal: null, stderr });
const killed = (signal: NodeJS.Signals): StageEnd => ({ code: null, signal, stderr: '' });
const epipe = Object.assign(new Error('write EPIPE'), { code: 'EPIPE' });

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

describe('pipelineFailure', () => {
  test('all stages 0 and no feed/consume error: no failure', () => {
    expect(pipelineFailure(ARGVS, [ok, ok, ok], undefined, undefined)).toBeUndefined();
  });

  test('a stage that exited non-zero wins over one killed by SIGPIPE or by the abort', () => {
    const e = pipelineFailure(ARGVS, [killed('SIGPIPE'), exited(2, 'tar: bad header\n'), killed('SIGTERM')], undefined, undefined);
    expect(e).toBeInstanceOf(PipelineError);
    expect(message(e)).toBe('`tar -x` exited with 2: tar: bad header');
  });

  test('of two stages that exited non-zero, the later one (the reader that refused) is the cause', () => {
    expect(message(pipelineFailure(ARGVS, [exited(1), exited(2), ok], undefined, undefined))).toMatch(/^`tar -x` exited with 2/);
  });

  test('a stage that could not start is a cause', () => {
    const end: StageEnd = { code: null, signal: null, error: Object.assign(new Error('spawn tar ENOENT'), { code: 'ENOENT' }), stderr: '' };
    expect(message(pipelineFailure(ARGVS, [killed('SIGPIPE'), end, ok], undefined, undefined))).toMatch(/^`tar -x` could not run: spawn tar ENOENT/);
  });

  test('the consumer refusing the data is the root cause; its broken pipe is not', () => {
    const refused = new Error('manifest mismatch');
    expect(pipelineFailure(ARGVS, [ok, exited(2), ok], undefined, refused)).toBe(refused);
    expect(message(pipelineFailure(ARGVS, [ok, exited(2), ok], undefined, epipe))).toMatch(/^`tar -x` exited with 2/);
  });

  test('a feed error ranks after a stage that exited non-zero, before one that was only killed', () => {
    const feed = new Error('download failed');
    expect(message(pipelineFailure(ARGVS, [exited(1), ok, ok], feed, undefined))).toMatch(/^`zstd -dc f` exited with 1/);
    expect(pipelineFailure(ARGVS, [killed('SIGTERM'), ok, ok], feed, undefined)).toBe(feed);
  });

  test('only consequences left: the killed stage is named, with the signal', () => {
    expect(message(pipelineFailure(ARGVS, [killed('SIGPIPE'), ok, ok], epipe, undefined))).toBe('`zstd -dc f` was killed by SIGPIPE');
  });

  test('a broken pipe alone (every stage 0) is still a failure', () => {
    expect(pipelineFailure(ARGVS, [ok, ok, ok], undefined, epipe)).toBe(epipe);
    expect(pipelineFailure(ARGVS, [ok, ok, ok], epipe, undefined)).toBe(epipe);
  });
});
