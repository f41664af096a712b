import type { ChildProcess } from 'node:child_process';

export const ROOT: string;
export const DIST: string;

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
  /** Run the steps as this user; the job's files are made theirs. */
  user?: { uid: number; gid: number };
  /** Overrides of the runner's variables; undefined removes one. */
  env?: Record<string, string | undefined>;
  /** Where RUNNER_TEMP, the workspace and the file commands live; a fresh temp dir by default. */
  root?: string;
}

export interface CompositeResult {
  /** 0, or the exit code of the step that failed (the steps after it did not run). */
  code: number;
  /** The composite's `outputs`, evaluated after its steps. */
  outputs: Record<string, string>;
  steps: Array<{ id: string; name: string; result: StepResult }>;
}

export function parseActionYaml(text: string): Record<string, unknown>;
export function parseFileCommands(text: string): Record<string, string>;
export function actionDefaults(actionDir?: string): Record<string, string>;
export function actionScripts(actionDir?: string): { main?: string; post?: string };
export function expandRunnerTemp(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv;
export function expandGithubToken(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv;

export class FakeJob {
  constructor(opts?: JobOptions);
  readonly opts: JobOptions;
  readonly root: string;
  readonly runnerTemp: string;
  readonly workspace: string;
  env(step: string): NodeJS.ProcessEnv;
  start(step: string, inputs?: Record<string, string>, script?: string): { child: ChildProcess; done: Promise<StepResult> };
  main(inputs: Record<string, string>): Promise<StepResult>;
  post(): Promise<StepResult>;
  /** A step `uses: ./<actionDir>` (a sub-action such as 'restore' or 'save'), run as a composite's step runs it. */
  uses(actionDir: string, inputs?: Record<string, string>): Promise<StepResult>;
  /** A `using: composite` action (its folder relative to the repo root), its steps run as the runner runs them. */
  composite(actionDir: string, inputs?: Record<string, string>): Promise<CompositeResult>;
  /** main under a stand-in runner worker that outlives it; kill workerPid to simulate a hard kill. */
  mainUnderWorker(inputs: Record<string, string>): Promise<{ workerPid: number; done: Promise<StepResult> }>;
  cleanup(): void;
}
