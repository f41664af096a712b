// The facts about this job that the runner provides as environment variables. A missing one
// is an error, never a default: an unset run id once collapsed every run onto one shared dir.
import fs from 'node:fs';

export interface JobContext {
  runId: string;
  runAttempt: string;
  job: string;
  runnerName: string;
  /** `pr-<n>` for pull requests, else the ref name. Unsanitized. */
  ref: string;
  runnerTemp: string;
  workspace: string;
}

function required(env: NodeJS.ProcessEnv, name: string, shape?: RegExp): string {
  const v = (env[name] ?? '').trim();
  if (v === '') throw new Error(`${name} is not set: runbox runs inside a GitHub Actions job, where the runner sets it`);
  if (shape && !shape.test(v)) throw new Error(`${name} is '${v}', which is not what the runner sets (${String(shape)})`);
  return v;
}

/**
 * RUNNER_TEMP, the runner's per-job scratch dir (wiped between jobs), or undefined when unset.
 * The one read of it: main requires it (jobContext), while the input parsers that default to it
 * run before the job context and decide themselves what its absence means (base-dir's default
 * fails with an input error, the store's staging falls back to the OS temp dir for post, which
 * parses the store config without a job context).
 */
export function runnerTemp(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return (env.RUNNER_TEMP ?? '').trim() || undefined;
}

function pullRequestNumber(env: NodeJS.ProcessEnv): string | undefined {
  const fromRef = /^refs\/pull\/(\d+)\//.exec(env.GITHUB_REF ?? '');
  if (fromRef) return fromRef[1];
  const eventPath = env.GITHUB_EVENT_PATH;
  if (!eventPath || !fs.existsSync(eventPath)) return undefined;
  const event = JSON.parse(fs.readFileSync(eventPath, 'utf8')) as { pull_request?: { number?: number }; number?: number };
  const n = event.pull_request?.number ?? event.number;
  return n === undefined ? undefined : String(n);
}

/**
 * The repository's default branch, from the event payload the runner writes (every event that
 * names a repository carries it); undefined when there is no payload or it names none.
 */
export function defaultBranch(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const eventPath = env.GITHUB_EVENT_PATH;
  if (!eventPath || !fs.existsSync(eventPath)) return undefined;
  const event = JSON.parse(fs.readFileSync(eventPath, 'utf8')) as { repository?: { default_branch?: unknown } };
  const name = event.repository?.default_branch;
  return typeof name === 'string' && name !== '' ? name : undefined;
}

export function jobContext(env: NodeJS.ProcessEnv = process.env): JobContext {
  const event = env.GITHUB_EVENT_NAME ?? '';
  const pr = event.startsWith('pull_request') ? pullRequestNumber(env) : undefined;
  let ref: string;
  if (pr) ref = `pr-${pr}`;
  else {
    const name = (env.GITHUB_REF_NAME ?? '').trim() || required(env, 'GITHUB_REF').replace(/^refs\/(heads|tags)\//, '');
    ref = name;
  }
  return {
    runId: required(env, 'GITHUB_RUN_ID', /^\d+$/),
    runAttempt: required(env, 'GITHUB_RUN_ATTEMPT', /^\d+$/),
    job: required(env, 'GITHUB_JOB'),
    runnerName: required(env, 'RUNNER_NAME'),
    ref,
    runnerTemp: runnerTemp(env) ?? required(env, 'RUNNER_TEMP'),
    workspace: (env.GITHUB_WORKSPACE ?? '').trim()
  };
}
