// A stand-in for the runner's worker process that runs BOTH steps of a job, main and later post,
// as its own children, the way Runner.Worker does. FakeJob.mainUnderWorker runs only main under
// a worker and post from the test process; the keeper watches main's parent and post stops it
// only when post has the same parent (stopKeeper's watchPid check), so a fleet whose runs get
// a post needs this. Killing the worker's process group (`kill()`) is a hard kill of the job.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { actionDefaults, DIST, expandRunnerTemp, FakeJob, parseFileCommands, type JobOptions, type StepResult } from './action-runner.js';
import { killGroup, until } from './fleet-util.js';

// One step at a time (spawnSync), as the runner does; exits when the test process goes away.
const WORKER = `
const { spawnSync } = require('node:child_process'); const fs = require('node:fs'); const path = require('node:path');
const dist = process.argv[1];
let buf = '';
process.stdin.on('data', (b) => {
  buf += b.toString();
  for (let nl; (nl = buf.indexOf('\\n')) >= 0; ) {
    const { step, env, cwd, out } = JSON.parse(buf.slice(0, nl));
    buf = buf.slice(nl + 1);
    const r = spawnSync(process.execPath, [path.join(dist, step + '.js')], { env, cwd, stdio: ['ignore', fs.openSync(out + '.out', 'w'), fs.openSync(out + '.err', 'w')] });
    fs.writeFileSync(out + '.rc.tmp', String(r.status ?? 128));
    fs.renameSync(out + '.rc.tmp', out + '.rc');
  }
});
process.stdin.on('end', () => process.exit(0));
`;

const read = (p: string): string => (fs.existsSync(p) ? fs.readFileSync(p, 'utf8') : '');

export interface WorkerStep {
  /** The step's stdout file, readable while it runs. */
  logFile: string;
  done: Promise<StepResult>;
}

export class WorkerJob {
  readonly job: FakeJob;
  readonly worker: ChildProcess;
  readonly pid: number;
  private inputs: Record<string, string> = {};
  private mainState: Record<string, string> = {};
  private n = 0;

  constructor(opts: JobOptions) {
    this.job = new FakeJob(opts);
    const env = { PATH: process.env.PATH ?? '' };
    this.worker = spawn(process.execPath, ['-e', WORKER, DIST], { env, stdio: ['pipe', 'ignore', 'ignore'], detached: true });
    this.pid = this.worker.pid as number;
  }

  private run(step: 'main' | 'post'): WorkerStep {
    const env: NodeJS.ProcessEnv = this.job.env(step);
    for (const [k, v] of Object.entries(this.inputs)) env[`INPUT_${k.toUpperCase()}`] = v;
    expandRunnerTemp(env);
    if (step === 'post') for (const [k, v] of Object.entries(this.mainState)) env[`STATE_${k}`] = v;
    const out = path.join(this.job.root, 'files', `worker-step-${++this.n}-${step}`);
    this.worker.stdin?.write(JSON.stringify({ step, env, cwd: this.job.workspace, out }) + '\n');
    const done = (async (): Promise<StepResult> => {
      await until(`${step} of ${env.GITHUB_RUN_ID} finished`, () => fs.existsSync(`${out}.rc`), 120_000);
      const stdout = read(`${out}.out`);
      const result: StepResult = {
        code: Number(read(`${out}.rc`).trim()),
        signal: null,
        stdout,
        stderr: read(`${out}.err`),
        outputs: parseFileCommands(read(env.GITHUB_OUTPUT as string)),
        env: parseFileCommands(read(env.GITHUB_ENV as string)),
        state: parseFileCommands(read(env.GITHUB_STATE as string)),
        summary: read(env.GITHUB_STEP_SUMMARY as string),
        errors: [...stdout.matchAll(/^::error::(.*)$/gm)].map((m) => m[1]),
        warnings: [...stdout.matchAll(/^::warning::(.*)$/gm)].map((m) => m[1])
      };
      if (step === 'main') this.mainState = result.state;
      return result;
    })();
    return { logFile: `${out}.out`, done };
  }

  main(inputs: Record<string, string>): WorkerStep {
    this.inputs = { ...actionDefaults(), ...inputs };
    return this.run('main');
  }

  /** Post under the same worker as main; call after main's result is in. */
  post(): Promise<StepResult> {
    return this.run('post').done;
  }

  /** A hard kill: the worker's whole process group (and whatever step it is running). */
  kill(): void {
    killGroup(this.pid);
  }

  /** Ends the worker normally (after post), or kills it if it is stuck. */
  async stop(): Promise<void> {
    if (this.worker.exitCode !== null || this.worker.signalCode !== null) return;
    const exited = new Promise((r) => this.worker.once('exit', r));
    this.worker.stdin?.end();
    const timer = setTimeout(() => this.kill(), 5000);
    await exited;
    clearTimeout(timer);
  }

  cleanup(): void {
    this.kill();
    this.job.cleanup();
  }
}
