// Real containers for the tests: a daemon check, a tiny image imported from the host's own
// binaries (no registry is reachable in CI), and containers labelled per test process so that
// cleanup removes only ours, never another test run's or the host's.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Prereq } from './prereq.js';

/** Every container a test starts carries this label, with this process's session id as its value. */
export const LABEL = 'runbox-test.session';
export const SESSION = `${process.pid}-${crypto.randomBytes(4).toString('hex')}`;

/** What the image holds: enough for shell loops that write files, and `id` to prove the user. */
const TOOLS = ['sh', 'dash', 'sleep', 'touch', 'cat', 'mkdir', 'ls', 'id', 'echo', 'rm'];

export function dockerDaemon(): Prereq {
  const r = spawnSync('docker', ['info', '--format', '{{.ServerVersion}}'], { encoding: 'utf8', timeout: 30000 });
  if (r.status === 0 && r.stdout.trim() !== '') return { ok: true, reason: '' };
  const why = r.error ? r.error.message : (r.stderr || r.stdout).trim().split('\n').slice(-1)[0];
  return { ok: false, reason: `no Docker daemon answers \`docker info\` (${why}); .ci/run installs docker.io and starts dockerd` };
}

export function docker(args: readonly string[], opts: { allowFailure?: boolean; timeoutMs?: number } = {}): string {
  const r = spawnSync('docker', args, { encoding: 'utf8', timeout: opts.timeoutMs ?? 60000 });
  if (r.status !== 0 && !opts.allowFailure) throw new Error(`docker ${args.join(' ')} failed (${r.error?.message ?? `exit ${r.status}`}): ${r.stderr.trim()}`);
  return r.stdout;
}

/** The host files behind each tool, plus the shared libraries ldd names for them. */
function imageFiles(): string[] {
  const files = new Set<string>();
  for (const tool of TOOLS) {
    const which = spawnSync('sh', ['-c', 'command -v "$1"', '_', tool], { encoding: 'utf8' });
    const p = which.stdout.trim();
    if (which.status !== 0 || !p.startsWith('/')) continue; // `echo` is a shell builtin on some hosts
    files.add(p);
    const ldd = spawnSync('ldd', [p], { encoding: 'utf8' });
    for (const m of ldd.stdout.matchAll(/(\/\S+) \(0x/g)) files.add(m[1]);
  }
  for (const need of ['sh', 'sleep', 'touch', 'id']) if (![...files].some((f) => path.basename(f) === need)) throw new Error(`the test image needs ${need}, which is not on PATH`);
  return [...files].sort();
}

/**
 * Builds (once per content) an image of the host's own binaries: `docker import` of a tar made
 * with dereferencing, because /bin is a merged-usr symlink and the dynamic loader under /lib64 is
 * an absolute symlink, neither of which would resolve inside the container. Tagged by a hash of
 * the files' contents, so a host upgrade makes a new image and concurrent test files share one.
 */
export function testImage(): string {
  const files = imageFiles();
  const h = crypto.createHash('sha256');
  for (const f of files) h.update(f).update('\0').update(fs.readFileSync(f)).update('\0');
  const tag = `runbox-test-tools:${h.digest('hex').slice(0, 16)}`;
  if (spawnSync('docker', ['image', 'inspect', tag], { stdio: 'ignore' }).status === 0) return tag;

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'runbox-image-'));
  try {
    const tar = path.join(tmp, 'rootfs.tar');
    const rel = files.map((f) => f.slice(1));
    const made = spawnSync('tar', ['-C', '/', '-chf', tar, ...rel], { encoding: 'utf8' });
    if (made.status !== 0) throw new Error(`tar of the image files failed: ${made.stderr}`);
    // A world-writable /tmp, which the tools and `--user 1000:1000` expect.
    const extra = path.join(tmp, 'extra');
    fs.mkdirSync(path.join(extra, 'tmp'), { recursive: true });
    fs.chmodSync(path.join(extra, 'tmp'), 0o1777);
    const added = spawnSync('tar', ['-C', extra, '--owner=0', '--group=0', '-rf', tar, 'tmp'], { encoding: 'utf8' });
    if (added.status !== 0) throw new Error(`tar of the image's /tmp failed: ${added.stderr}`);
    docker(['import', '--change', 'CMD ["/bin/sh"]', tar, tag], { timeoutMs: 120000 });
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return tag;
}

export interface RunSpec {
  name?: string;
  user?: string;
  /** host:container pairs */
  volumes?: string[];
  /** Extra `docker run` flags, before the image. */
  flags?: string[];
  /** The command, as argv (no shell string built by the helper). */
  cmd: string[];
}

function runArgs(image: string, spec: RunSpec, detach: boolean): string[] {
  return [
    'run',
    ...(detach ? ['-d'] : []),
    '--rm',
    '--network',
    'none',
    '--label',
    `${LABEL}=${SESSION}`,
    ...(spec.name ? ['--name', spec.name] : []),
    ...(spec.user ? ['--user', spec.user] : []),
    ...(spec.volumes ?? []).flatMap((v) => ['-v', v]),
    ...(spec.flags ?? []),
    image,
    ...spec.cmd
  ];
}

/** `docker run --rm` to completion; returns its exit code and output. */
export function runContainer(image: string, spec: RunSpec): { code: number; stdout: string; stderr: string } {
  const r = spawnSync('docker', runArgs(image, spec, false), { encoding: 'utf8', timeout: 120000 });
  return { code: r.status ?? 128, stdout: r.stdout, stderr: r.stderr };
}

/**
 * `docker run` in the foreground, as a workflow step runs it: the returned child is the docker
 * client, which is what the runner signals on cancel. The container itself is not its child.
 */
export function startContainer(image: string, spec: RunSpec): ChildProcess {
  return spawn('docker', runArgs(image, spec, false), { stdio: ['ignore', 'pipe', 'pipe'] });
}

/** True while a container of that name runs. */
export function isRunning(name: string): boolean {
  const out = docker(['ps', '-q', '--filter', `name=^${name}$`, '--filter', `label=${LABEL}=${SESSION}`]);
  return out.trim() !== '';
}

/** Removes every container this test process started (and only those). */
export function removeOurContainers(): void {
  const ids = docker(['ps', '-aq', '--filter', `label=${LABEL}=${SESSION}`])
    .split('\n')
    .filter(Boolean);
  if (ids.length === 0) return;
  const r = spawnSync('docker', ['rm', '-f', ...ids], { encoding: 'utf8', timeout: 60000 });
  // A --rm container may finish removing itself between the listing and our rm.
  const real = r.stderr.split('\n').filter((l) => l.trim() !== '' && !/No such container|is already in progress/.test(l));
  if (r.status !== 0 && real.length > 0) throw new Error(`docker rm -f of the test's containers failed: ${real.join('; ')}`);
}
