// Pipelines through the launcher (src/launcher.ts, sys/launch.ts): the process that forks a
// step's pipeline stages so the step's own node never forks while bytes flow. Real children,
// the real launcher script (transpiled next to the test CLIs by global-setup, as dist/launcher.js
// sits next to dist/runbox.js), real signals. The first test proves the stages really are the
// launcher's children: every other one would pass just as well if exec.ts forked them itself.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from '@jest/globals';

let runPipeline: typeof import('../src/store/pipeline.js').runPipeline;
let exec: typeof import('../src/sys/exec.js');
let launch: typeof import('../src/sys/launch.js');

beforeAll(async () => {
  const clis = process.env.RUNBOX_TEST_CLIS;
  if (!clis) throw new Error('RUNBOX_TEST_CLIS is not set: run this through jest (global-setup builds the launcher)');
  // Read once, at the first pipeline: set before the modules are used.
  process.env.RUNBOX_LAUNCHER = path.join(clis, 'launcher.js');
  ({ runPipeline } = await import('../src/store/pipeline.js'));
  exec = await import('../src/sys/exec.js');
  launch = await import('../src/sys/launch.js');
});

afterAll(async () => {
  await launch.stopLauncher();
});

/** stdout of a one-stage pipeline, read through consume (a 'pipe'). */
async function output(cmd: string, args: string[], feed?: Buffer): Promise<Buffer> {
  const got: Buffer[] = [];
  await runPipeline([{ cmd, args }], {
    ...(feed ? { feed: (stdin) => new Promise<void>((resolve, reject) => stdin.end(feed, (e?: Error | null) => (e ? reject(e) : resolve()))) } : {}),
    consume: async (stdout) => {
      for await (const b of stdout as AsyncIterable<Buffer>) got.push(b);
    }
  });
  return Buffer.concat(got);
}

function parentOf(stat: string): number {
  // /proc/<pid>/stat: "pid (comm) state ppid ...", comm may hold spaces: read after the last ')'.
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

test("a pipeline's stages are the launcher's children, not this process's", async () => {
  const stat = (await output('cat', ['/proc/self/stat'])).toString();
  const ppid = parentOf(stat);
  expect(ppid).not.toBe(process.pid);
  const cmdline = fs.readFileSync(`/proc/${ppid}/cmdline`, 'utf8').split('\0');
  expect(cmdline.some((a) => a.endsWith('launcher.js'))).toBe(true);
  // And the launcher is ours.
  expect(parentOf(fs.readFileSync(`/proc/${ppid}/stat`, 'utf8'))).toBe(process.pid);
});

test('output read through a pipe arrives whole and in order, through every stage', async () => {
  // A few MB: the launcher's own socket of a child's stdout would read some of it before the fd
  // left (sends wait for acks), and those bytes were lost. Output comes through a pair of ours.
  const expected = Array.from({ length: 400_000 }, (_, i) => `${i + 1}\n`).join('');
  expect((await output('seq', ['1', '400000'])).toString()).toBe(expected);
  const got: Buffer[] = [];
  await runPipeline(
    [
      { cmd: 'seq', args: ['1', '400000'] },
      { cmd: 'cat', args: [] },
      { cmd: 'cat', args: [] }
    ],
    {
      consume: async (stdout) => {
        for await (const b of stdout as AsyncIterable<Buffer>) got.push(b);
      }
    }
  );
  expect(Buffer.concat(got).toString()).toBe(expected);
});

test("what node feeds reaches the first stage's stdin whole", async () => {
  const data = crypto.randomBytes(5 * 1024 * 1024 + 3);
  const out = (await output('sha256sum', ['-b'], data)).toString();
  expect(out.split(' ')[0]).toBe(crypto.createHash('sha256').update(data).digest('hex'));
});

test("a failing stage's error names it with the end of its stderr", async () => {
  // 40 KB of noise first: what is kept is the end, where the reason is.
  const script = 'head -c 40000 /dev/zero | tr "\\0" x >&2; echo "the reason" >&2; exit 3';
  const err = await runPipeline([{ cmd: 'sh', args: ['-c', script] }]).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(Error);
  const message = (err as Error).message;
  expect(message.startsWith("`sh -c 'head -c 40000")).toBe(true);
  expect(message.includes('` exited with 3: xxxx')).toBe(true);
  expect(message.endsWith('xxxxthe reason')).toBe(true);
});

test('a command that cannot be run is an error that says so', async () => {
  const err = await runPipeline([{ cmd: 'runbox-no-such-command', args: [] }]).catch((e: unknown) => e);
  expect((err as Error).message).toMatch(/runbox-no-such-command` could not run: .*ENOENT/);
});

test("a consumer's failure stops every stage, one that would never end too", async () => {
  const started = Date.now();
  const err = await runPipeline(
    [
      { cmd: 'yes', args: [] },
      { cmd: 'sleep', args: ['1000'] }
    ],
    { feed: () => Promise.reject(new Error('refused')) }
  ).catch((e: unknown) => e);
  expect((err as Error).message).toBe('refused');
  expect(Date.now() - started).toBeLessThan(10_000);
});

test('a launcher that dies fails the pipelines it ran, whose stages the step then stops; the next pipeline starts without it', async () => {
  const stat = (await output('cat', ['/proc/self/stat'])).toString();
  const launcherPid = parentOf(stat);
  // Its own length of sleep: an earlier test's `sleep 1000`, stopped, may not be gone yet.
  const running = runPipeline([{ cmd: 'sleep', args: ['1001'] }]).catch((e: unknown) => e);
  // The sleep started (the launcher forked it) before the launcher is killed.
  const deadline = Date.now() + 5000;
  const sleeping = (): number | undefined =>
    fs
      .readdirSync('/proc')
      .filter((d) => /^\d+$/.test(d))
      .map(Number)
      .find((p) => {
        try {
          return parentOf(fs.readFileSync(`/proc/${p}/stat`, 'utf8')) === launcherPid && fs.readFileSync(`/proc/${p}/cmdline`, 'utf8') === 'sleep\x001001\x00';
        } catch {
          // Gone meanwhile: not the one.
          return false;
        }
      });
  let sleepPid = sleeping();
  while (sleepPid === undefined && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    sleepPid = sleeping();
  }
  expect(sleepPid).toBeDefined();
  process.kill(launcherPid, 'SIGKILL');
  const err = await running;
  expect((err as Error).message).toMatch(/launcher (exited \(SIGKILL\)|closed its channel)/);
  // Its stage did not live on without it: the step stopped it (by pid and start time) before
  // the pipeline's failure was told.
  // (Gone, or a zombie its new parent has not reaped yet.)
  const left = fs.existsSync(`/proc/${sleepPid as number}`) ? fs.readFileSync(`/proc/${sleepPid as number}/stat`, 'utf8') : undefined;
  expect(left === undefined || left.slice(left.lastIndexOf(')') + 2).startsWith('Z')).toBe(true);
  const again = parentOf((await output('cat', ['/proc/self/stat'])).toString());
  expect(again).toBe(process.pid);
});

test('a command the launcher cannot start (E2BIG) fails alone; the launcher and a pipeline beside it go on', async () => {
  await launch.stopLauncher();
  launch.prepareLauncher();
  const deadline = Date.now() + 10_000;
  while (!launch.launcherIfReady() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  const beside = output('sh', ['-c', 'sleep 0.3; echo beside']);
  // One argument longer than the kernel takes (MAX_ARG_STRLEN, 128 KiB): spawn throws at once.
  await expect(exec.run('echo', ['x'.repeat(200_000)])).rejects.toThrow(/E2BIG/);
  expect((await beside).toString()).toBe('beside\n');
  expect(launch.launcherIfReady()).toBeDefined();
  expect(parentOf((await exec.run('cat', ['/proc/self/stat'])).stdout)).not.toBe(process.pid);
});

test('a launcher that dies before it is ready: the step forks itself', async () => {
  await launch.stopLauncher();
  const script = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'runbox-launcher-')), 'dies.mjs');
  fs.writeFileSync(script, 'process.exit(0);\n');
  const given = process.env.RUNBOX_LAUNCHER;
  process.env.RUNBOX_LAUNCHER = script;
  try {
    expect(parentOf((await output('cat', ['/proc/self/stat'])).toString())).toBe(process.pid);
  } finally {
    process.env.RUNBOX_LAUNCHER = given;
    fs.rmSync(path.dirname(script), { recursive: true, force: true });
  }
});

test("a stage that stops reading its stdin fails the step's next write, as a pipe would", async () => {
  const err = await runPipeline([{ cmd: 'head', args: ['-c', '1'] }], {
    feed: async (stdin) => {
      // As runbox's feeds do: a refused write is told to its callback, the event is not an exception.
      stdin.on('error', (e) => void e);
      const chunk = Buffer.alloc(1024 * 1024);
      for (let i = 0; i < 64; i++) await new Promise<void>((resolve, reject) => stdin.write(chunk, (e?: Error | null) => (e ? reject(e) : resolve())));
      stdin.end();
    }
  }).catch((e: unknown) => e);
  // head exits 0 after one byte; the feed's next write fails as on a child's own stdin pipe
  // (EPIPE there; a destroyed stream here): the socket the launcher sent would otherwise have
  // ended quietly and left the writes unanswered.
  expect(['EPIPE', 'ERR_STREAM_DESTROYED']).toContain((err as NodeJS.ErrnoException).code);
});

test("run() goes through a running launcher: input, output, its bound, stderr's end, exit codes", async () => {
  await launch.stopLauncher();
  launch.prepareLauncher();
  const deadline = Date.now() + 10_000;
  while (!launch.launcherIfReady() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  expect(launch.launcherIfReady()).toBeDefined();
  const stat = await exec.run('cat', ['/proc/self/stat']);
  expect(parentOf(stat.stdout)).not.toBe(process.pid);
  const data = crypto.randomBytes(3 * 1024 * 1024).toString('base64');
  expect((await exec.run('cat', [], { input: data })).stdout).toBe(data);
  expect((await exec.run('pwd', [], { cwd: '/usr' })).stdout).toBe('/usr\n');
  expect((await exec.run('sh', ['-c', 'echo "$RUNBOX_X"'], { env: { ...process.env, RUNBOX_X: 'given' } })).stdout).toBe('given\n');
  await expect(exec.run('yes', [], { maxStdout: 1024 * 1024 })).rejects.toBeInstanceOf(exec.OutputLimitError);
  // 200 KB of stderr: run() keeps its last MiB, more than a pipeline stage's 16 KiB.
  const r = await exec.run('sh', ['-c', 'head -c 200000 /dev/zero | tr "\\0" e >&2; echo end >&2; exit 4'], { allowFailure: true });
  expect(r.code).toBe(4);
  expect(r.stderr.length).toBe(200004);
  expect(r.stderr.endsWith('eeeend\n')).toBe(true);
  await expect(exec.run('runbox-no-such-command', [])).rejects.toThrow(/ENOENT/);
});

test('run() with lock fds to hand on forks them itself: the launcher cannot pass them', async () => {
  expect(launch.launcherIfReady()).toBeDefined();
  const fd = fs.openSync('/dev/null', 'r');
  try {
    const stat = await exec.run('cat', ['/proc/self/stat'], { holdFds: [fd] });
    expect(parentOf(stat.stdout)).toBe(process.pid);
  } finally {
    fs.closeSync(fd);
  }
});

test("stopChildren (a cancel) ends a launched pipeline's stages", async () => {
  // After a stop, the next pipeline starts a new launcher (the last one died above).
  await launch.stopLauncher();
  expect(parentOf((await output('cat', ['/proc/self/stat'])).toString())).not.toBe(process.pid);
  const running = runPipeline([{ cmd: 'sleep', args: ['1000'] }]).catch((e: unknown) => e);
  await new Promise((r) => setTimeout(r, 300));
  const started = Date.now();
  await exec.stopChildren(5000);
  const err = await running;
  expect(err).toBeInstanceOf(Error);
  expect((err as Error).message).toMatch(/sleep 1000` was killed by SIGTERM/);
  expect(Date.now() - started).toBeLessThan(4000);
  // From now on nothing starts, also through the launcher: refused before it is asked.
  await expect(exec.run('true', [])).rejects.toBeInstanceOf(exec.StoppingError);
});

test('a cancel that comes while the launcher is asked: the command is never started', async () => {
  // (stopChildren already ran above: the step is stopping.) A run() begun just before the
  // stop would be started by nobody: it is refused at the last moment before the start.
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'runbox-gap-')), 'f');
  const ran = exec.run('sh', ['-c', 'trap "" TERM; sleep 0.5; echo x >> "$1"', 'sh', file]).catch((e: unknown) => e);
  expect(await ran).toBeInstanceOf(exec.StoppingError);
  await new Promise((r) => setTimeout(r, 1000));
  expect(fs.existsSync(file)).toBe(false);
});
