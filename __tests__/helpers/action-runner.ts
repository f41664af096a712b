// Runs the built action the way the runner does: `node dist/main.js` as one process, then
// `node dist/post.js` as another, with file commands, state handed from main to post as
// STATE_* variables, and action.yml defaults applied to INPUT_* variables.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
export const DIST = path.join(ROOT, 'dist');

export interface StepResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  outputs: Record<string, string>;
  env: Record<string, string>;
  state: Record<string, string>;
  summary: string;
  errors: string[];
  warnings: string[];
}

export interface JobOptions {
  runId?: string;
  attempt?: string;
  job?: string;
  runnerName?: string;
  ref?: string;
  event?: string;
  /** Run the steps as this user (uid/gid); the job's files are made theirs. */
  user?: { uid: number; gid: number };
  env?: Record<string, string | undefined>;
  /** Where RUNNER_TEMP, the workspace and the file commands live; a fresh temp dir by default. */
  root?: string;
}

/** Parses `name=value` and `name<<DELIM ... DELIM` file-command syntax. */
export function parseFileCommands(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const heredoc = /^([^=<]+)<<(.+)$/.exec(line);
    if (heredoc) {
      const [, name, delim] = heredoc;
      const value: string[] = [];
      for (i++; i < lines.length && lines[i] !== delim; i++) value.push(lines[i]);
      out[name] = value.join('\n');
    } else if (line.includes('=')) {
      const at = line.indexOf('=');
      out[line.slice(0, at)] = line.slice(at + 1);
    }
  }
  return out;
}

/** Input defaults from action.yml, as the runner applies them (plain literals only). */
export function actionDefaults(): Record<string, string> {
  const yml = fs.readFileSync(path.join(ROOT, 'action.yml'), 'utf8');
  const section = yml.split(/^inputs:\s*$/m)[1]?.split(/^\S/m)[0] ?? '';
  const out: Record<string, string> = {};
  let current = '';
  for (const line of section.split('\n')) {
    const name = /^ {2}([a-z][a-z0-9-]*):\s*$/.exec(line);
    if (name) current = name[1];
    const def = /^ {4}default:\s*(.*)$/.exec(line);
    if (def && current) out[current] = def[1].replace(/^(['"])(.*)\1$/, '$2');
  }
  return out;
}

function readIf(p: string): string {
  return fs.existsSync(p) ? fs.readFileSync(p, 'utf8') : '';
}

export class FakeJob {
  readonly root: string;
  readonly runnerTemp: string;
  readonly workspace: string;
  private readonly files: string;
  private mainState: Record<string, string> = {};
  private inputs: Record<string, string> = {};
  private steps = 0;

  constructor(readonly opts: JobOptions = {}) {
    this.root = opts.root ?? fs.mkdtempSync(path.join(os.tmpdir(), 'runbox-job-'));
    this.runnerTemp = path.join(this.root, 'runner-temp');
    this.workspace = path.join(this.root, 'workspace');
    this.files = path.join(this.root, 'files');
    for (const d of [this.runnerTemp, this.workspace, this.files]) fs.mkdirSync(d, { recursive: true });
    if (opts.user) {
      fs.chmodSync(this.root, 0o755);
      for (const d of [this.runnerTemp, this.workspace, this.files]) fs.chownSync(d, opts.user.uid, opts.user.gid);
    }
  }

  env(step: 'main' | 'post'): NodeJS.ProcessEnv {
    const o = this.opts;
    const n = ++this.steps;
    const file = (kind: string): string => {
      const p = path.join(this.files, `${step}-${n}-${kind}`);
      fs.writeFileSync(p, '');
      if (o.user) fs.chownSync(p, o.user.uid, o.user.gid);
      return p;
    };
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: o.user ? this.root : process.env.HOME,
      LANG: 'C.UTF-8',
      CI: 'true',
      GITHUB_ACTIONS: 'true',
      RUNNER_TEMP: this.runnerTemp,
      RUNNER_OS: 'Linux',
      RUNNER_ARCH: 'X64',
      RUNNER_NAME: o.runnerName ?? 'runner-1',
      GITHUB_WORKSPACE: this.workspace,
      GITHUB_RUN_ID: o.runId ?? '1001',
      GITHUB_RUN_ATTEMPT: o.attempt ?? '1',
      GITHUB_JOB: o.job ?? 'build',
      GITHUB_REF: o.ref ?? 'refs/heads/main',
      GITHUB_EVENT_NAME: o.event ?? 'push',
      GITHUB_REPOSITORY: 'acme/widgets',
      GITHUB_WORKFLOW_REF: 'acme/widgets/.github/workflows/ci.yml@refs/heads/main',
      GITHUB_OUTPUT: file('output'),
      GITHUB_ENV: file('env'),
      GITHUB_STATE: file('state'),
      GITHUB_PATH: file('path'),
      GITHUB_STEP_SUMMARY: file('summary')
    };
    for (const [k, v] of Object.entries(this.inputs)) env[`INPUT_${k.toUpperCase()}`] = v;
    if (step === 'post') for (const [k, v] of Object.entries(this.mainState)) env[`STATE_${k}`] = v;
    for (const [k, v] of Object.entries(o.env ?? {})) {
      if (v === undefined) delete env[k];
      else env[k] = v;
    }
    return env;
  }

  /** Starts a step without waiting: for tests that signal it mid-flight. */
  start(step: 'main' | 'post', inputs?: Record<string, string>): { child: ReturnType<typeof spawn>; done: Promise<StepResult> } {
    if (inputs) this.inputs = { ...actionDefaults(), ...inputs };
    const env = this.env(step);
    const child = spawn(process.execPath, [path.join(DIST, `${step}.js`)], {
      env,
      cwd: this.workspace,
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(this.opts.user ? { uid: this.opts.user.uid, gid: this.opts.user.gid } : {})
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
    const done = new Promise<StepResult>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (code, signal) => {
        const state = parseFileCommands(readIf(env.GITHUB_STATE as string));
        if (step === 'main') this.mainState = state;
        resolve({
          code,
          signal,
          stdout,
          stderr,
          outputs: parseFileCommands(readIf(env.GITHUB_OUTPUT as string)),
          env: parseFileCommands(readIf(env.GITHUB_ENV as string)),
          state,
          summary: readIf(env.GITHUB_STEP_SUMMARY as string),
          errors: [...stdout.matchAll(/^::error::(.*)$/gm)].map((m) => m[1]),
          warnings: [...stdout.matchAll(/^::warning::(.*)$/gm)].map((m) => m[1])
        });
      });
    });
    return { child, done };
  }

  main(inputs: Record<string, string>): Promise<StepResult> {
    return this.start('main', inputs).done;
  }

  post(): Promise<StepResult> {
    return this.start('post').done;
  }

  cleanup(): void {
    fs.rmSync(this.root, { recursive: true, force: true });
  }
}

/** Every path under `dir` with its type, mode, owner: to show a failed step changed nothing. */
export function snapshotTree(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  const out: string[] = [];
  const walk = (p: string): void => {
    const st = fs.lstatSync(p);
    out.push(`${path.relative(dir, p) || '.'} ${st.mode.toString(8)} ${st.uid}:${st.gid}`);
    if (st.isDirectory()) for (const c of fs.readdirSync(p).sort()) walk(path.join(p, c));
  };
  walk(dir);
  return out;
}
