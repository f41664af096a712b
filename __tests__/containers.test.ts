// The README's Docker scenario with a real daemon: dirs bind-mounted into containers that run as
// another user, root-owned leftovers, and a cancelled run whose container outlives the step.
import { spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { FakeJob, type StepResult } from './helpers/action-runner.js';
import { dockerDaemon, isRunning, removeOurContainers, runContainer, SESSION, startContainer, testImage } from './helpers/docker.js';
import { asRoot, describeWith, sudoUser } from './helpers/prereq.js';

const user = sudoUser();
const CONTAINER_USER = '1000:1000';
const jobs: FakeJob[] = [];
const roots: string[] = [];

afterAll(() => {
  removeOurContainers();
  for (const j of jobs) j.cleanup();
  for (const r of roots) fs.rmSync(r, { recursive: true, force: true });
});

function ownersUnder(dir: string): string[] {
  const r = spawnSync('find', [dir, '-printf', '%U:%G %P\n'], { encoding: 'utf8' });
  return r.stdout.split('\n').filter(Boolean);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(50);
  }
}

/** Collects a running step's stdout as it arrives, for tests that wait for a log line. */
function tail(child: ChildProcess): () => string {
  let out = '';
  child.stdout?.on('data', (b: Buffer) => (out += b.toString()));
  return () => out;
}

/** A base-dir shared by every runner on the host, owned by the runner account. */
function sharedBase(tag: string): string {
  const root = fs.mkdtempSync(`/tmp/runbox-ctr-${tag}-`);
  roots.push(root);
  fs.chmodSync(root, 0o755);
  const u = user as NonNullable<typeof user>;
  fs.chownSync(root, u.uid, u.gid);
  return root;
}

function prJob(root: string, runId: string, pr: number): FakeJob {
  const u = user as NonNullable<typeof user>;
  const j = new FakeJob({ user: u, runId, ref: `refs/pull/${pr}/merge`, event: 'pull_request', runnerName: `runner-${runId}`, root: path.join(root, `job-${runId}`) });
  jobs.push(j);
  return j;
}

const userPrereq = user ? { ok: true, reason: '' } : { ok: false, reason: 'no non-root user with passwordless sudo (runbox-ci; .ci/run creates it)' };

describeWith([asRoot(), userPrereq, dockerDaemon()])('containers (real Docker)', () => {
  let image = '';
  beforeAll(() => {
    image = testImage();
  }, 180000);

  test('README scenario: per-run target and per-PR registry as --user 1000:1000, mount sources writable, root-owned leftovers reclaimed', async () => {
    const root = sharedBase('readme');
    const base = path.join(root, 'base');
    const sccache = path.join(root, 'sccache');
    const job = prJob(root, '7001', 41);
    const ws = job.workspace;
    const inputs = {
      'base-dir': base,
      dirs: 'target=CARGO_TARGET_DIR\nregistry:pr=CARGO_REGISTRY',
      owner: CONTAINER_USER,
      mounts: sccache,
      reclaim: ws
    };
    const m = await job.main(inputs);
    expect(m.errors).toEqual([]);
    const target = m.env.CARGO_TARGET_DIR;
    const registry = m.env.CARGO_REGISTRY;
    expect(target).toMatch(new RegExp(`^${base}/pr-41/run-7001-`));
    expect(registry).toBe(path.join(base, 'pr-41', 'registry'));

    // The build step, as the README writes it, against every dir runbox made.
    const build = runContainer(image, {
      user: CONTAINER_USER,
      volumes: [`${ws}:/src`, `${target}:/target`, `${registry}:/usr/local/cargo/registry`, `${sccache}:/sccache`],
      flags: ['-w', '/src'],
      cmd: ['sh', '-c', 'id -u > /target/uid && mkdir -p /target/debug /usr/local/cargo/registry/index && touch /target/debug/app /usr/local/cargo/registry/index/crate /sccache/obj']
    });
    expect(build).toMatchObject({ code: 0, stderr: '' });
    expect(fs.readFileSync(path.join(target, 'uid'), 'utf8').trim()).toBe('1000');
    for (const d of [target, registry, sccache]) expect(ownersUnder(d).filter((l) => !l.startsWith('1000:1000 '))).toEqual([]);

    // The premise: a source runbox did not make is made by Docker as root, and the user cannot write it.
    const unmanaged = path.join(root, 'not-listed');
    const denied = runContainer(image, { user: CONTAINER_USER, volumes: [`${unmanaged}:/cache`], cmd: ['touch', '/cache/x'] });
    expect(denied.code).not.toBe(0);
    expect(fs.statSync(unmanaged).uid).toBe(0);

    // A container running as root leaves root-owned files in the workspace.
    const asRootBuild = runContainer(image, { volumes: [`${ws}:/src`], cmd: ['sh', '-c', 'mkdir -p /src/out/obj && touch /src/out/obj/a.o /src/out/log'] });
    expect(asRootBuild.code).toBe(0);
    expect(fs.statSync(path.join(ws, 'out', 'obj', 'a.o')).uid).toBe(0);

    const p = await job.post();
    expect(p.errors).toEqual([]);
    const u = user as NonNullable<typeof user>;
    expect(ownersUnder(ws).filter((l) => !l.startsWith(`${u.uid}:${u.gid} `))).toEqual([]);
    expect(p.summary).toMatch(/reclaimed/);
    expect(fs.existsSync(target)).toBe(false);
    // The PR's registry stays warm for its next run, still the container user's.
    expect(fs.statSync(path.join(registry, 'index', 'crate')).uid).toBe(1000);
    // and the runner account can clean its workspace, as the next checkout would
    expect(spawnSync('sudo', ['-n', '-u', u.name, 'rm', '-rf', path.join(ws, 'out')]).status).toBe(0);
  });

  // The runner cancels a step with SIGINT, then SIGTERM, then kills the step's process tree, and
  // then runs post. A `docker run` step's tree is the docker client: the container is the
  // daemon's child, and a PID 1 that ignores signals keeps running after all of that.
  test.failing('cancel: a container that ignores signals never writes into the pr dir after the next run of the PR has it', async () => {
    const root = sharedBase('cancel');
    const base = path.join(root, 'base');
    const inputs = { 'base-dir': base, dirs: 'registry:pr=CARGO_REGISTRY', owner: CONTAINER_USER, 'release-timeout': '5', leftovers: 'kill' };
    const first = prJob(root, '7101', 42);
    const m1 = await first.main(inputs);
    expect(m1.errors).toEqual([]);
    const registry = m1.env.CARGO_REGISTRY;
    const log = path.join(registry, 'log');

    const name1 = `runbox-test-${SESSION}-run1`;
    const step = startContainer(image, {
      name: name1,
      user: CONTAINER_USER,
      volumes: [`${registry}:/registry`],
      cmd: ['sh', '-c', 'trap "" INT TERM; while :; do echo run1 >> /registry/log; sleep 0.1; done']
    });
    await until(() => fs.existsSync(log) && fs.readFileSync(log, 'utf8').split('\n').length > 5, 20000, 'the first container writing');

    // Run 2 of the PR starts meanwhile and waits for the registry.
    const second = prJob(root, '7102', 42);
    const main2 = second.start('main', inputs);
    const out2 = tail(main2.child);
    await until(() => out2().includes('waiting for'), 20000, 'run 2 waiting for the pr dir');

    // Cancel: SIGINT, SIGTERM, then the process tree is killed; the container ignored all of it.
    const stepExit = new Promise<void>((r) => step.once('exit', () => r()));
    step.kill('SIGINT');
    await sleep(500);
    step.kill('SIGTERM');
    await sleep(500);
    step.kill('SIGKILL');
    await stepExit;
    expect(isRunning(name1)).toBe(true);

    const p1 = await first.post();
    const m2: StepResult = await main2.done;
    expect(m2.errors).toEqual([]);
    // Run 2's build uses the registry for a while.
    const build2 = runContainer(image, {
      user: CONTAINER_USER,
      volumes: [`${m2.env.CARGO_REGISTRY}:/registry`],
      cmd: ['sh', '-c', 'i=0; while [ $i -lt 20 ]; do echo run2 >> /registry/log; sleep 0.1; i=$((i+1)); done']
    });
    expect(build2.code).toBe(0);

    const lines = fs.readFileSync(log, 'utf8').split('\n').filter(Boolean);
    const firstOfRun2 = lines.indexOf('run2');
    const lastOfRun1 = lines.lastIndexOf('run1');
    expect(firstOfRun2).toBeGreaterThan(0);
    // No line of run 1's container after run 2 started writing: the two never overlapped.
    expect({ lastOfRun1, firstOfRun2, interleaved: lastOfRun1 > firstOfRun2 }).toEqual({ lastOfRun1, firstOfRun2, interleaved: false });
    expect(isRunning(name1)).toBe(false);
    expect(p1.summary).toMatch(new RegExp(`killed.*${name1}`));
    await second.post();
  });
});
