// The one way runbox starts processes. Privileged work goes through here too, so "root or
// `sudo -n`" is decided in a single place and every command shows up in the debug log.
import { spawn, type SpawnOptions } from 'node:child_process';
import * as core from '@actions/core';

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Written to the child's stdin, then closed. */
  input?: string | Buffer;
  /** Resolve with the exit code instead of throwing on a non-zero exit. */
  allowFailure?: boolean;
  /** Run with root rights: directly when already root, otherwise through `sudo -n`. */
  privileged?: boolean;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export class CommandError extends Error {
  constructor(
    readonly command: string,
    readonly result: RunResult
  ) {
    const detail = result.stderr.trim().split('\n').slice(-5).join('\n');
    super(`\`${command}\` exited with ${result.code}${detail ? `: ${detail}` : ''}`);
    this.name = 'CommandError';
  }
}

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/** argv as it will really run, with `sudo -n` in front when privileges must be borrowed. */
export function commandLine(cmd: string, args: readonly string[], privileged = false): string[] {
  return privileged && !isRoot() ? ['sudo', '-n', '--', cmd, ...args] : [cmd, ...args];
}

export function quote(argv: readonly string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

export async function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const argv = commandLine(cmd, args, opts.privileged);
  const shown = quote(argv);
  core.debug(`exec: ${shown}`);
  const spawnOpts: SpawnOptions = { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] };
  const result = await new Promise<RunResult>((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), spawnOpts);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (b: Buffer) => out.push(b));
    child.stderr?.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (code, signal) =>
      resolve({
        code: code ?? (signal ? 128 : 1),
        stdout: Buffer.concat(out).toString(),
        stderr: Buffer.concat(err).toString() + (signal ? `\nkilled by ${signal}` : '')
      })
    );
    child.stdin?.on('error', () => undefined); // the child may exit before reading all input; its exit code tells
    child.stdin?.end(opts.input ?? '');
  });
  if (result.code !== 0 && !opts.allowFailure) throw new CommandError(shown, result);
  return result;
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
          `runbox needs root rights to ${why}, but \`sudo -n true\` failed (${r.stderr.trim() || `exit ${r.code}`}). ` +
            'Give the runner user passwordless sudo, or run the runner as root.'
        );
    },
    (e: Error) => {
      throw new Error(`runbox needs root rights to ${why}, but sudo could not be started: ${e.message}`);
    }
  );
  return sudoChecked;
}
