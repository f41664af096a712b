// run() keeps a bounded amount of a command's output: a command printing without end (a DB
// query over a hostile row, say) is stopped with an error naming it, and node does not crash.
import { MAX_STDERR_TAIL, MAX_STDOUT, OutputLimitError, run } from '../src/sys/exec.js';

describe('exec output bounds', () => {
  test('a command printing without end is stopped and named, not buffered', async () => {
    const t0 = Date.now();
    const err = await run('yes', ['hostile-row']).then(
      () => undefined,
      (e: unknown) => e
    );
    expect(err).toBeInstanceOf(OutputLimitError);
    expect((err as Error).message).toMatch(/^`yes hostile-row` printed more than 16777216 bytes on stdout/);
    expect(Date.now() - t0).toBeLessThan(20_000);
  }, 30_000);

  test('an output just past the bound fails even with allowFailure; one within it is whole', async () => {
    await expect(run('head', ['-c', String(MAX_STDOUT + 1), '/dev/zero'], { allowFailure: true })).rejects.toThrow(OutputLimitError);
    const ok = await run('head', ['-c', String(MAX_STDOUT), '/dev/zero']);
    expect(ok.stdout.length).toBe(MAX_STDOUT);
    // A caller reading a trusted, big listing raises the bound for itself.
    const big = await run('head', ['-c', String(MAX_STDOUT + 10), '/dev/zero'], { maxStdout: MAX_STDOUT * 2 });
    expect(big.stdout.length).toBe(MAX_STDOUT + 10);
  }, 30_000);

  test('a command that ignores SIGTERM is still stopped', async () => {
    await expect(run('sh', ['-c', "trap '' TERM; while :; do echo flood-flood-flood-flood; done"], { maxStdout: 1024 * 1024 })).rejects.toThrow(/`sh -c .*` printed more than 1048576 bytes/);
  }, 30_000);

  test('stderr keeps its tail only', async () => {
    const r = await run('sh', ['-c', `head -c ${4 * MAX_STDERR_TAIL} /dev/zero | tr '\\0' x >&2; echo LAST-LINE >&2; exit 3`], { allowFailure: true });
    expect(r.code).toBe(3);
    expect(r.stderr.length).toBeLessThanOrEqual(MAX_STDERR_TAIL + 64 * 1024);
    expect(r.stderr.trimEnd().endsWith('LAST-LINE')).toBe(true);
  }, 30_000);

  test("a failing command's stderr (which may quote hostile data) becomes one line that starts no workflow command", async () => {
    const err = await run('sh', ['-c', "printf 'tar: x\\n::add-mask::secret\\n::error::pwned\\r::warning::y\\n' >&2; exit 2"]).then(
      () => undefined,
      (e: unknown) => e as Error
    );
    expect(err?.message).toMatch(/^`sh -c .*` exited with 2: tar: x \| ::add-mask::secret \| ::error::pwned\\x0d::warning::y$/);
    expect(err?.message).not.toMatch(/[\r\n]/);
  });
});
