// The README's Docker scenario with a real daemon: dirs bind-mounted into containers that run as
// another user, root-owned leftovers, and a cancelled run whose container outlives the step.
import { spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { FakeJob, type StepResult } from './helpers/action-runner.js';
import { keepersHolding, lockIsFree } from './helpers/keepers.js';
import { docker, dockerDaemon, isRunning, removeOurContainers, runContainer, SESSION, startContainer, testImage } from './helpers/docker.js';
import { asRoot, describeWith, sudoUser, systemOptIn } from './helpers/prereq.js';

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

/** A build step's container whose PID 1 ignores SIGINT and SIGTERM and logs a line every 100 ms. */
function startWriter(image: string, name: string, dir: string, line: string): ChildProcess {
  return startContainer(image, {
    name,
    user: CONTAINER_USER,
    volumes: [`${dir}:/registry`],
    cmd: ['sh', '-c', `trap "" INT TERM; while :; do echo ${line} >> /registry/log; sleep 0.1; done`]
  });
}

/** The runner's cancel of a step: SIGINT, SIGTERM, then the step's process tree is killed. */
async function cancelStep(step: ChildProcess): Promise<void> {
  const exited = new Promise<void>((r) => step.once('exit', () => r()));
  step.kill('SIGINT');
  await sleep(500);
  step.kill('SIGTERM');
  await sleep(500);
  step.kill('SIGKILL');
  await exited;
}

/** Run 2's build: writes `run2` lines into the registry for 2 s. */
function secondBuild(image: string, dir: string): void {
  const build = runContainer(image, {
    user: CONTAINER_USER,
    volumes: [`${dir}:/registry`],
    cmd: ['sh', '-c', 'i=0; while [ $i -lt 20 ]; do echo run2 >> /registry/log; sleep 0.1; i=$((i+1)); done']
  });
  expect(build.code).toBe(0);
}

/** The registry log: run 1's container wrote no line after run 2's first. */
function expectNoOverlap(log: string): void {
  const lines = fs.readFileSync(log, 'utf8').split('\n').filter(Boolean);
  const firstOfRun2 = lines.indexOf('run2');
  const lastOfRun1 = lines.lastIndexOf('run1');
  expect(firstOfRun2).toBeGreaterThan(0);
  expect({ lastOfRun1, firstOfRun2, interleaved: lastOfRun1 > firstOfRun2 }).toEqual({ lastOfRun1, firstOfRun2, interleaved: false });
}

const userPrereq = user ? { ok: true, reason: '' } : { ok: false, reason: 'no non-root user with passwordless sudo (runbox-ci; .ci/run creates it)' };

describeWith([systemOptIn('Docker containers (dockerd)'), asRoot(), userPrereq, dockerDaemon()])('containers (real Docker)', () => {
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
  test('cancel: a container that ignores signals never writes into the pr dir after the next run of the PR has it', async () => {
    const root = sharedBase('cancel');
    const base = path.join(root, 'base');
    const inputs = { 'base-dir': base, dirs: 'registry:pr=CARGO_REGISTRY', owner: CONTAINER_USER, 'release-timeout': '5', leftovers: 'kill' };
    const first = prJob(root, '7101', 42);
    const m1 = await first.main(inputs);
    expect(m1.errors).toEqual([]);
    const registry = m1.env.CARGO_REGISTRY;
    const log = path.join(registry, 'log');

    const name1 = `runbox-test-${SESSION}-run1`;
    const step = startWriter(image, name1, registry, 'run1');
    await until(() => fs.existsSync(log) && fs.readFileSync(log, 'utf8').split('\n').length > 5, 20000, 'the first container writing');

    // Run 2 of the PR starts meanwhile and waits for the registry.
    const second = prJob(root, '7102', 42);
    const main2 = second.start('main', inputs);
    const out2 = tail(main2.child);
    await until(() => out2().includes('waiting for'), 20000, 'run 2 waiting for the pr dir');

    await cancelStep(step);
    expect(isRunning(name1)).toBe(true); // the premise: the container ignored the cancel

    const p1 = await first.post();
    expect(p1.errors).toEqual([]);
    const m2: StepResult = await main2.done;
    expect(m2.errors).toEqual([]);
    secondBuild(image, m2.env.CARGO_REGISTRY);
    expectNoOverlap(log);
    expect(isRunning(name1)).toBe(false);
    // Post said what held the dir and what it did about it; run 2 named it while it waited.
    expect(p1.stdout).toMatch(new RegExp(`still in use; waiting up to 5 s .*container [0-9a-f]{12} \\(${name1}\\)`));
    expect(p1.summary).toMatch(new RegExp(`killed.*${name1}`));
    expect(out2()).toMatch(new RegExp(`${registry}: it is in use by container [0-9a-f]{12} \\(${name1}\\)`));
    await second.post();
  });

  test('post waits for a container that ends within release-timeout before it removes the run dir, and says so; nothing is killed', async () => {
    const root = sharedBase('waited');
    const base = path.join(root, 'base');
    const j = prJob(root, '7501', 46);
    const m = await j.main({ 'base-dir': base, dirs: 'target=CARGO_TARGET_DIR', owner: CONTAINER_USER, 'release-timeout': '60' });
    expect(m.errors).toEqual([]);
    const target = m.env.CARGO_TARGET_DIR;
    const name = `runbox-test-${SESSION}-waited`;
    // A build still flushing its output after the step ended: it ends on its own once post is
    // waiting for it (the test drops /target/stop then), so a slow machine cannot let it end
    // before post looks. The 600 rounds (60 s) only bound a broken test.
    const step = startContainer(image, {
      name,
      user: CONTAINER_USER,
      volumes: [`${target}:/target`],
      cmd: ['sh', '-c', 'i=0; while [ ! -e /target/stop ] && [ $i -lt 600 ]; do echo line >> /target/out; sleep 0.1; i=$((i+1)); done; echo done >> /target/out']
    });
    await until(() => fs.existsSync(path.join(target, 'out')), 20000, 'the container writing');
    const t0 = Date.now();
    const posting = j.start('post');
    let out = '';
    posting.child.stdout?.on('data', (b: Buffer) => (out += b.toString()));
    await until(() => out.includes("this job's dirs are still in use; waiting up to") || posting.child.exitCode !== null, 60000, 'post waiting for the container');
    await sleep(1000);
    fs.writeFileSync(path.join(target, 'stop'), '');
    const p = await posting.done;
    expect(p.errors).toEqual([]);
    expect(Date.now() - t0).toBeGreaterThan(1000);
    expect(p.summary).toMatch(new RegExp(`waited.*${name}`));
    expect(p.summary).not.toMatch(/killed/);
    expect(fs.existsSync(target)).toBe(false);
    await new Promise<void>((r) => (step.exitCode !== null ? r() : step.once('exit', () => r())));
    expect(step.exitCode).toBe(0); // it ran to its end: nobody killed it
  });

  test('leftovers: wait keeps the pr dir locked after post until the container ends; the next run names it while it waits', async () => {
    const root = sharedBase('wait');
    const base = path.join(root, 'base');
    const inputs = { 'base-dir': base, dirs: 'registry:pr=CARGO_REGISTRY', owner: CONTAINER_USER, 'release-timeout': '1', leftovers: 'wait' };
    const first = prJob(root, '7201', 43);
    const m1 = await first.main(inputs);
    expect(m1.errors).toEqual([]);
    const registry = m1.env.CARGO_REGISTRY;
    const log = path.join(registry, 'log');
    const name1 = `runbox-test-${SESSION}-wait1`;
    const step = startWriter(image, name1, registry, 'run1');
    await until(() => fs.existsSync(log), 20000, 'the first container writing');
    await cancelStep(step);

    const p1 = await first.post();
    expect(p1.errors).toEqual([]);
    expect(p1.summary).toMatch(new RegExp(`left locked.*${name1}`));
    expect(p1.summary).toMatch(/locks kept/);
    expect(lockIsFree(`${registry}.lock`)).toBe(false);

    const second = prJob(root, '7202', 43);
    const main2 = second.start('main', inputs);
    const out2 = tail(main2.child);
    await until(() => out2().includes(`(${name1})`), 20000, 'run 2 naming the container it waits for');
    await sleep(2500);
    expect(main2.child.exitCode).toBeNull(); // still waiting: the lingering keeper holds the lock
    expect(isRunning(name1)).toBe(true);

    docker(['kill', name1]);
    const m2 = await main2.done;
    expect(m2.errors).toEqual([]);
    secondBuild(image, m2.env.CARGO_REGISTRY);
    expectNoOverlap(log);
    await second.post();
    expect(keepersHolding(base)).toEqual([]);
  });

  test('a hard-killed job (no post): the next run waits for its container though the lock is free, and lock-timeout names it', async () => {
    const root = sharedBase('hard');
    const base = path.join(root, 'base');
    const inputs = { 'base-dir': base, dirs: 'registry:pr=CARGO_REGISTRY', owner: CONTAINER_USER };
    const first = prJob(root, '7301', 44);
    const { workerPid, done } = await first.mainUnderWorker(inputs);
    const m1 = await done;
    expect(m1.errors).toEqual([]);
    const registry = path.join(base, 'pr-44', 'registry');
    const log = path.join(registry, 'log');
    const name1 = `runbox-test-${SESSION}-hard1`;
    startWriter(image, name1, registry, 'run1');
    await until(() => fs.existsSync(log), 20000, 'the first container writing');
    process.kill(-workerPid, 'SIGKILL'); // the runner host crashed: no cancel, no post
    await until(() => lockIsFree(`${registry}.lock`), 10000, 'the keeper following the dead worker');

    const second = prJob(root, '7302', 44);
    const m2 = await second.main({ ...inputs, 'lock-timeout': '3' });
    expect(m2.code).not.toBe(0);
    expect(m2.errors.join('\n')).toMatch(new RegExp(`${registry} is still used by container [0-9a-f]{12} \\(${name1}\\).*gave up after 3s`));
    await second.post();

    const third = prJob(root, '7303', 44);
    const main3 = third.start('main', inputs);
    const out3 = tail(main3.child);
    await until(() => out3().includes('its lock is free, but it is still used by'), 20000, 'run 3 waiting for the container');
    expect(out3()).toContain(`(${name1})`);
    docker(['kill', name1]);
    const m3 = await main3.done;
    expect(m3.errors).toEqual([]);
    secondBuild(image, registry);
    expectNoOverlap(log);
    await third.post();
  });

  test('the janitor never reaps a dead run dir a container still uses, and reaps it once the container is gone', async () => {
    const root = sharedBase('janitor');
    const base = path.join(root, 'base');
    const dead = prJob(root, '7401', 45);
    const { workerPid, done } = await dead.mainUnderWorker({ 'base-dir': base, dirs: 'target=CARGO_TARGET_DIR', owner: CONTAINER_USER });
    const m = await done;
    expect(m.errors).toEqual([]);
    const target = m.env.CARGO_TARGET_DIR;
    const runDir = path.dirname(target);
    const name = `runbox-test-${SESSION}-jan1`;
    startWriter(image, name, target, 'run1');
    await until(() => fs.existsSync(path.join(target, 'log')), 20000, 'the container writing');
    process.kill(-workerPid, 'SIGKILL');
    await until(() => lockIsFree(`${runDir}.lock`), 10000, 'the keeper following the dead worker');
    await sleep(2100); // past reap-after

    const sweep = async (runId: string): Promise<StepResult> => {
      const j = prJob(root, runId, 45);
      const r = await j.main({ 'base-dir': base, dirs: 'other', 'reap-after': '2s' });
      expect(r.errors).toEqual([]);
      await j.post();
      return r;
    };
    const r1 = await sweep('7402');
    expect(fs.existsSync(runDir)).toBe(true);
    expect(r1.stdout).toMatch(new RegExp(`not reaping ${runDir}: it is still used by container [0-9a-f]{12} \\(${name}\\)`));

    docker(['kill', name]);
    await until(() => !isRunning(name), 20000, 'the container gone');
    const r2 = await sweep('7403');
    expect(fs.existsSync(runDir)).toBe(false);
    expect(r2.summary).toContain(runDir);
  });
});
