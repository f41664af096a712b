// Runs the built action the way the GitHub runner does: `node dist/main.js` as one process,
// then `node dist/post.js` as another, with file commands (GITHUB_OUTPUT, GITHUB_ENV,
// GITHUB_STATE, GITHUB_STEP_SUMMARY), main's state handed to post as STATE_* variables, and
// action.yml defaults applied to INPUT_* variables; and a composite action's steps (composite()). Used by the tests, `npm run demo` and the
// benchmark, so all three exercise exactly what a workflow would run.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const DIST = path.join(ROOT, 'dist');

/** Parses `name=value` and `name<<DELIM ... DELIM` file-command syntax. */
export function parseFileCommands(text) {
  const out = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const heredoc = /^([^=<]+)<<(.+)$/.exec(lines[i]);
    if (heredoc) {
      const [, name, delim] = heredoc;
      const value = [];
      for (i++; i < lines.length && lines[i] !== delim; i++) value.push(lines[i]);
      out[name] = value.join('\n');
    } else if (lines[i].includes('=')) {
      const at = lines[i].indexOf('=');
      out[lines[i].slice(0, at)] = lines[i].slice(at + 1);
    }
  }
  return out;
}

/** Input defaults from action.yml (or a sub-action's, `restore/action.yml`), as the runner applies them (plain literals only). */
export function actionDefaults(actionDir = '') {
  const yml = fs.readFileSync(path.join(ROOT, actionDir, 'action.yml'), 'utf8');
  const section = yml.split(/^inputs:\s*$/m)[1]?.split(/^\S/m)[0] ?? '';
  const out = {};
  let current = '';
  for (const line of section.split('\n')) {
    const name = /^ {2}([a-z][a-z0-9-]*):\s*$/.exec(line);
    if (name) current = name[1];
    const def = /^ {4}default:\s*(.*)$/.exec(line);
    if (def && current) out[current] = def[1].replace(/^(['"])(.*)\1$/, '$2');
  }
  return out;
}

/**
 * The runner evaluates `${{ runner.temp }}` in action.yml defaults; a job without RUNNER_TEMP
 * (a test of that case) gets no value at all rather than a path built on nothing.
 */
export function expandRunnerTemp(env) {
  for (const [k, v] of Object.entries(env)) {
    if (!k.startsWith('INPUT_') || !v.includes('${{ runner.temp }}')) continue;
    if (env.RUNNER_TEMP) env[k] = v.replaceAll('${{ runner.temp }}', env.RUNNER_TEMP);
    else delete env[k];
  }
  return env;
}

/**
 * The runner evaluates `${{ github.token }}` (the `token` input's default) to the job's token;
 * here that is GITHUB_TOKEN from the job's env, and without one the literal stays (runbox refuses
 * it only when `purge` is on).
 */
export function expandGithubToken(env) {
  for (const [k, v] of Object.entries(env)) if (k.startsWith('INPUT_') && v.includes('${{ github.token }}') && env.GITHUB_TOKEN) env[k] = v.replaceAll('${{ github.token }}', env.GITHUB_TOKEN);
  return env;
}

const readIf = (p) => (fs.existsSync(p) ? fs.readFileSync(p, 'utf8') : '');

/** What a step left behind, read from its file commands and its output. */
function stepResult(env, { code, signal, stdout, stderr }) {
  return {
    code,
    signal,
    stdout,
    stderr,
    outputs: parseFileCommands(readIf(env.GITHUB_OUTPUT)),
    env: parseFileCommands(readIf(env.GITHUB_ENV)),
    state: parseFileCommands(readIf(env.GITHUB_STATE)),
    summary: readIf(env.GITHUB_STEP_SUMMARY),
    errors: [...stdout.matchAll(/^::error::(.*)$/gm)].map((m) => m[1]),
    warnings: [...stdout.matchAll(/^::warning::(.*)$/gm)].map((m) => m[1])
  };
}

/** A node action's `runs.main` (and `runs.post`), resolved against its action dir as the runner does. */
export function actionScripts(actionDir = '') {
  const dir = path.join(ROOT, actionDir);
  const runs = fs.readFileSync(path.join(dir, 'action.yml'), 'utf8').split(/^runs:\s*$/m)[1] ?? '';
  const using = /^ {2}using:\s*(\S+)/m.exec(runs)?.[1];
  if (!using?.startsWith('node')) throw new Error(`${actionDir || '.'}/action.yml: runs.using is ${using}, not a node action`);
  const script = (k) => {
    const v = new RegExp(`^ {2}${k}:\\s*(\\S+)`, 'm').exec(runs)?.[1]?.replace(/^(['"])(.*)\1$/, '$2');
    return v ? path.resolve(dir, v) : undefined;
  };
  return { main: script('main'), post: script('post') };
}

/**
 * The YAML of an action.yml, as far as actions use it: maps, lists of maps, plain and quoted
 * scalars (a plain one loses a ` # comment`), and `|`, `>` and `>-` block scalars. No anchors,
 * flow collections or multi-documents: anything else is an error, not a guess.
 */
export function parseActionYaml(text) {
  const lines = text.split('\n').map((l) => l.replace(/\s+$/, ''));
  let i = 0;
  const indentOf = (l) => l.length - l.trimStart().length;
  const skip = () => {
    while (i < lines.length && (lines[i].trim() === '' || lines[i].trim().startsWith('#'))) i++;
  };
  const scalar = (raw) => {
    const v = raw.trim();
    if (/^'.*'$/.test(v)) return v.slice(1, -1).replaceAll("''", "'");
    if (/^".*"$/.test(v)) return JSON.parse(v);
    const plain = v.replace(/\s+#.*$/, '');
    if (/^[[{&*!|>]/.test(plain) && !plain.startsWith('${{')) throw new Error(`action.yml line ${i + 1}: '${v}' is not supported by this reader`);
    return plain;
  };
  const block = (style, parentIndent) => {
    const out = [];
    while (i < lines.length && (lines[i].trim() === '' || indentOf(lines[i]) > parentIndent)) out.push(lines[i++]);
    while (out.length > 0 && out[out.length - 1].trim() === '') out.pop();
    const cut = Math.min(...out.filter((l) => l.trim() !== '').map(indentOf));
    const body = out.map((l) => l.slice(cut));
    return style === '|' ? `${body.join('\n')}\n` : `${body.join(' ').replace(/\s+/g, ' ').trim()}${style === '>' ? '\n' : ''}`;
  };
  const value = (rest, keyIndent) => {
    if (rest === '') {
      skip();
      if (i >= lines.length || indentOf(lines[i]) <= keyIndent) return '';
      return node(indentOf(lines[i]));
    }
    if (rest === '|' || rest === '>' || rest === '>-') return block(rest, keyIndent);
    return scalar(rest);
  };
  const map = (indent, first) => {
    const out = {};
    let line = first;
    for (;;) {
      const kv = /^([A-Za-z0-9_.-]+):(?:\s+(.*))?$/.exec(line);
      if (!kv) throw new Error(`action.yml line ${i}: cannot read '${line}'`);
      out[kv[1]] = value((kv[2] ?? '').trim(), indent);
      skip();
      if (i >= lines.length || indentOf(lines[i]) !== indent || lines[i].trimStart().startsWith('- ')) return out;
      line = lines[i++].trim();
    }
  };
  const node = (indent) => {
    skip();
    if (lines[i].trimStart().startsWith('- ')) {
      const list = [];
      while (i < lines.length && indentOf(lines[i]) === indent && lines[i].trimStart().startsWith('- ')) {
        const first = lines[i++].trim().slice(2).trim();
        list.push(/^[A-Za-z0-9_.-]+:(\s|$)/.test(first) ? map(indent + 2, first) : scalar(first));
        skip();
      }
      return list;
    }
    const first = lines[i++].trim();
    return map(indent, first);
  };
  skip();
  return node(0);
}

/** `${{ ... }}` in a composite's step, evaluated from its inputs and earlier steps' outputs; an unknown expression is an error. */
function evaluateExpr(value, ctx) {
  return String(value).replace(/\$\{\{\s*(.*?)\s*\}\}/g, (_, expr) => {
    const inp = /^inputs\.([A-Za-z0-9_-]+)$/.exec(expr);
    if (inp) return ctx.inputs[inp[1]] ?? '';
    const so = /^steps\.([A-Za-z0-9_-]+)\.outputs\.([A-Za-z0-9_-]+)$/.exec(expr);
    if (so) return ctx.steps[so[1]]?.outputs?.[so[2]] ?? '';
    if (expr === 'runner.temp') return ctx.env.RUNNER_TEMP ?? '';
    if (expr === 'github.workspace') return ctx.env.GITHUB_WORKSPACE ?? '';
    throw new Error(`the local runner does not evaluate \${{ ${expr} }}`);
  });
}

export class FakeJob {
  #mainState = {};
  #inputs = {};
  #steps = 0;

  constructor(opts = {}) {
    this.opts = opts;
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

  env(step) {
    const o = this.opts;
    const n = ++this.#steps;
    const file = (kind) => {
      const p = path.join(this.files, `${step}-${n}-${kind}`);
      fs.writeFileSync(p, '');
      if (o.user) fs.chownSync(p, o.user.uid, o.user.gid);
      return p;
    };
    const env = {
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
      GITHUB_STEP_SUMMARY: file('summary'),
      // Test-only (src/keeper.ts): the keeper's poll of the runner worker, when the tests set it.
      ...(process.env.RUNBOX_TEST_KEEPER_POLL_MS ? { RUNBOX_TEST_KEEPER_POLL_MS: process.env.RUNBOX_TEST_KEEPER_POLL_MS } : {})
    };
    for (const [k, v] of Object.entries(this.#inputs)) env[`INPUT_${k.toUpperCase()}`] = v;
    if (step === 'post') for (const [k, v] of Object.entries(this.#mainState)) env[`STATE_${k}`] = v;
    for (const [k, v] of Object.entries(o.env ?? {})) {
      if (v === undefined) delete env[k];
      else env[k] = v;
    }
    return expandGithubToken(expandRunnerTemp(env));
  }

  /** Starts a step without waiting for it: for tests that signal it mid-flight. */
  start(step, inputs, script = path.join(DIST, `${step}.js`)) {
    if (inputs) this.#inputs = { ...actionDefaults(), ...inputs };
    const env = this.env(step);
    // opts.nodeArgs: node flags for the step (the profiler's --cpu-prof, which node 20 refuses in NODE_OPTIONS).
    const child = spawn(process.execPath, [...(this.opts.nodeArgs ?? []), script], {
      env,
      cwd: this.workspace,
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(this.opts.user ? { uid: this.opts.user.uid, gid: this.opts.user.gid } : {})
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b) => (stdout += b.toString()));
    child.stderr.on('data', (b) => (stderr += b.toString()));
    const done = new Promise((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (code, signal) => {
        const result = stepResult(env, { code, signal, stdout, stderr });
        if (step === 'main') this.#mainState = result.state;
        resolve(result);
      });
    });
    return { child, done };
  }

  main(inputs) {
    return this.start('main', inputs).done;
  }

  /**
   * Runs main under a stand-in for the runner's worker process, which outlives the step as the
   * real Runner.Worker does. Killing `workerPid` is what a hard kill or runner crash looks like
   * to whatever main left behind.
   */
  async mainUnderWorker(inputs) {
    this.#inputs = { ...actionDefaults(), ...inputs };
    const env = this.env('main');
    const out = path.join(this.files, `worker-${this.#steps}`);
    // A shell would drop the INPUT_BASE-DIR style variables (not shell identifiers); node keeps them.
    const script = `const { spawnSync } = require('node:child_process'); const fs = require('node:fs');
      const [main, out] = process.argv.slice(1);
      const r = spawnSync(process.execPath, [main], { stdio: ['ignore', fs.openSync(out + '.out', 'w'), 'inherit'] });
      fs.writeFileSync(out + '.rc.tmp', String(r.status ?? 128)); fs.renameSync(out + '.rc.tmp', out + '.rc');
      setInterval(() => {}, 1 << 30);`;
    const worker = spawn(process.execPath, ['-e', script, path.join(DIST, 'main.js'), out], {
      env,
      cwd: this.workspace,
      stdio: 'ignore',
      detached: true,
      ...(this.opts.user ? { uid: this.opts.user.uid, gid: this.opts.user.gid } : {})
    });
    worker.unref();
    const done = (async () => {
      while (!fs.existsSync(`${out}.rc`)) await new Promise((r) => setTimeout(r, 50));
      const result = stepResult(env, { code: Number(readIf(`${out}.rc`).trim()), signal: null, stdout: readIf(`${out}.out`), stderr: '' });
      this.#mainState = result.state;
      return result;
    })();
    return { workerPid: worker.pid, done };
  }

  post() {
    return this.start('post').done;
  }

  /**
   * One `uses:` step of another action of this repo, as a step of a composite action (or of the
   * job) runs it: its own action.yml's defaults and `runs.main`, its own INPUT_* and file
   * commands, no state shared with other steps (a composite's steps get none from each other).
   * `actionDir` is the folder holding the action.yml ('restore', 'save'). Its post, if any, is
   * not run here.
   */
  async uses(actionDir, inputs = {}) {
    const { main } = actionScripts(actionDir);
    if (!main) throw new Error(`${actionDir}/action.yml has no runs.main`);
    const saved = this.#inputs;
    const savedState = this.#mainState;
    this.#inputs = { ...actionDefaults(actionDir), ...inputs };
    try {
      return await this.start(`uses-${actionDir.replace(/[^A-Za-z0-9-]/g, '_')}`, undefined, main).done;
    } finally {
      this.#inputs = saved;
      this.#mainState = savedState;
    }
  }

  /**
   * A `using: composite` action (its action.yml in `actionDir`, relative to the repo root) run as
   * the runner runs one: its inputs' defaults under the given inputs, then each step in order,
   * `${{ inputs.* }}` and `${{ steps.<id>.outputs.* }}` evaluated; a `uses: ./<dir>` step
   * through uses() (a node action of this repo: own INPUT_*, file commands, no shared state), a
   * `run:` step through its `shell` (bash) with the job's env and its own file commands. The
   * first failing step ends it, as `if: success()` would. The composite's outputs are its
   * `outputs.<name>.value`, evaluated at the end.
   */
  async composite(actionDir, inputs = {}) {
    const doc = parseActionYaml(fs.readFileSync(path.join(ROOT, actionDir, 'action.yml'), 'utf8'));
    if (doc.runs?.using !== 'composite') throw new Error(`${actionDir}/action.yml: runs.using is ${doc.runs?.using}, not composite`);
    const defaults = Object.fromEntries(Object.entries(doc.inputs ?? {}).map(([k, v]) => [k, typeof v === 'object' && v.default !== undefined ? String(v.default) : '']));
    const ctx = { inputs: { ...defaults, ...inputs }, steps: {}, env: this.env('composite') };
    const steps = [];
    let code = 0;
    for (const [n, step] of (doc.runs.steps ?? []).entries()) {
      const known = ['id', 'name', 'uses', 'with', 'run', 'shell', 'env'];
      const extra = Object.keys(step).filter((k) => !known.includes(k));
      if (extra.length > 0) throw new Error(`${actionDir}/action.yml step ${n + 1}: the local runner does not run ${extra.join(', ')}`);
      let result;
      if (step.uses !== undefined) {
        const m = /^\.\/(.+)$/.exec(step.uses);
        if (!m) throw new Error(`${actionDir}/action.yml step ${n + 1}: only local actions (uses: ./dir) are run here, not ${step.uses}`);
        const withInputs = Object.fromEntries(Object.entries(step.with ?? {}).map(([k, v]) => [k, evaluateExpr(v, ctx)]));
        result = await this.uses(m[1].replace(/\/+$/, ''), withInputs);
      } else if (step.run !== undefined) {
        if (step.shell !== 'bash') throw new Error(`${actionDir}/action.yml step ${n + 1}: a composite's run step needs 'shell: bash' here`);
        const env = { ...this.env(`run-${n + 1}`) };
        for (const [k, v] of Object.entries(step.env ?? {})) env[k] = evaluateExpr(v, ctx);
        result = await new Promise((resolve, reject) => {
          const child = spawn('bash', ['--noprofile', '--norc', '-eo', 'pipefail', '-c', evaluateExpr(step.run, ctx)], { env, cwd: this.workspace, stdio: ['ignore', 'pipe', 'pipe'] });
          let stdout = '';
          let stderr = '';
          child.stdout.on('data', (b) => (stdout += b.toString()));
          child.stderr.on('data', (b) => (stderr += b.toString()));
          child.on('error', reject);
          child.on('close', (c, signal) => resolve(stepResult(env, { code: c, signal, stdout, stderr })));
        });
      } else throw new Error(`${actionDir}/action.yml step ${n + 1}: neither uses nor run`);
      steps.push({ id: step.id ?? '', name: step.name ?? step.uses ?? 'run', result });
      if (step.id) ctx.steps[step.id] = { outputs: result.outputs };
      if (result.code !== 0) {
        code = result.code ?? 1;
        break;
      }
    }
    const outputs = Object.fromEntries(Object.entries(doc.outputs ?? {}).map(([k, v]) => [k, evaluateExpr(v?.value ?? '', ctx)]));
    return { code, outputs, steps };
  }

  cleanup() {
    fs.rmSync(this.root, { recursive: true, force: true });
  }
}
