// Users read action.yml and the README, never the code first: both must list the same inputs and
// outputs, and the README must not document one that does not exist.
import fs from 'node:fs';
import path from 'node:path';
import { actionDefaults, FakeJob, ROOT } from './helpers/action-runner.js';
import { storeJob } from './helpers/store-e2e.js';
import type { CacheServer } from './fixtures/cache.js';
import { startCacheServices, type CacheServices, type CachesApi } from './helpers/caches-api.js';
import { buildGuixLayout, GUIX_SCHEMA, removeTempDirs, sh, sqliteInput, q, tempDir } from './fixtures/store.js';

const yml = fs.readFileSync(path.join(ROOT, 'action.yml'), 'utf8');
const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');

function section(name: string): string[] {
  const body = yml.split(new RegExp(`^${name}:\\s*$`, 'm'))[1]?.split(/^\S/m)[0] ?? '';
  return [...body.matchAll(/^ {2}([a-z][a-z0-9-]*):\s*$/gm)].map((m) => m[1]);
}

function readmeTable(heading: string): string[] {
  const body = readme.split(new RegExp(`^## ${heading}\\s*$`, 'm'))[1]?.split(/^## /m)[0] ?? '';
  return [...body.matchAll(/^\| `([a-z][a-z0-9-]*)` \|/gm)].map((m) => m[1]);
}

test('every input in action.yml is in the README table, and only those', () => {
  expect(readmeTable('Inputs').sort()).toEqual(section('inputs').sort());
});

test('every output in action.yml is in the README table, and only those', () => {
  expect(readmeTable('Outputs').sort()).toEqual(section('outputs').sort());
});

test('every input and output in action.yml has a description', () => {
  for (const name of [...section('inputs'), ...section('outputs')]) expect(yml).toMatch(new RegExp(`^ {2}${name}:\\s*\\n {4}description:`, 'm'));
});

test('literal defaults in action.yml match the README', () => {
  for (const [name, value] of Object.entries(actionDefaults())) {
    if (value === '') continue;
    const row = readme.split('\n').find((l) => l.startsWith(`| \`${name}\` |`)) ?? '';
    expect(`${name}: ${row.split('|')[2]?.trim()}`).toBe(`${name}: \`${value}\``);
  }
});

test('action.yml runs the committed bundles on node24 and always runs post', () => {
  expect(yml).toMatch(/using: node24/);
  expect(yml).toMatch(/main: dist\/main\.js/);
  expect(yml).toMatch(/post: dist\/post\.js/);
  expect(yml).toMatch(/post-if: always\(\)/);
  for (const f of ['main.js', 'post.js', 'keeper.js', 'restore.js', 'save.js', 'runbox.js']) expect(fs.existsSync(path.join(ROOT, 'dist', f))).toBe(true);
});

test("the restore and save sub-actions run their bundles on node24; each input and output has a description, and their inputs are the main action's", () => {
  for (const sub of ['restore', 'save']) {
    const subYml = fs.readFileSync(path.join(ROOT, sub, 'action.yml'), 'utf8');
    expect(subYml).toMatch(/^ {2}using: node24$/m);
    expect(subYml).toMatch(new RegExp(`^ {2}main: \\.\\./dist/${sub}\\.js$`, 'm'));
    const names = (part: string): string[] => [...(subYml.split(new RegExp(`^${part}:\\s*$`, 'm'))[1]?.split(/^\S/m)[0] ?? '').matchAll(/^ {2}([a-z][a-z0-9-]*):\s*$/gm)].map((m) => m[1]);
    for (const name of [...names('inputs'), ...names('outputs')]) expect(subYml).toMatch(new RegExp(`^ {2}${name}:\\s*\\n {4}description:`, 'm'));
    // The same names mean the same things: no input of its own that main lacks.
    expect(names('inputs').filter((n) => !section('inputs').includes(n))).toEqual([]);
    // The README's sub-action table lists exactly these inputs.
    const table = readme.split(new RegExp(`^#### \`${sub}\` inputs\\s*$`, 'm'))[1]?.split(/^#/m)[0] ?? '';
    expect({
      sub,
      inputs: [...table.matchAll(/`([a-z][a-z0-9-]*)`/g)]
        .map((m) => m[1])
        .filter((n, i, a) => a.indexOf(n) === i)
        .sort()
    }).toEqual({ sub, inputs: names('inputs').sort() });
  }
});

// --- the Usage examples, run as written ---------------------------------------------------------
//
// A reader copies an example and expects it to work. Each example's `with:` block is read the
// way YAML reads it (a `|` block keeps every line, `# ...` included; a plain value loses a
// trailing ` # comment`), its expressions are the runner's (an undefined matrix value fails
// here), and it runs through dist/ as a job would. Only `/srv/...` is moved into the test's own
// dir, so the host's /srv is not touched.

interface ExampleStep {
  /** '' for the action itself, else the sub-action's folder ('restore', 'save'). */
  action: string;
  id: string;
  with: Record<string, string>;
}

interface Example {
  title: string;
  steps: ExampleStep[];
  matrix: Record<string, string[]>;
}

function indentOf(line: string): number {
  return line.length - line.trimStart().length;
}

function plainScalar(raw: string): string {
  const v = raw.replace(/\s+#.*$/, '').trim();
  return /^(['"]).*\1$/.test(v) ? v.slice(1, -1) : v;
}

/** The `with:` block after line `from` of a step (up to the step's end), read as YAML reads it. */
function withBlock(title: string, lines: string[], from: number, stepIndent: number): Record<string, string> {
  let wi = -1;
  for (let i = from + 1; i < lines.length && (lines[i].trim() === '' || indentOf(lines[i]) > stepIndent); i++) if (/^\s*with:\s*$/.test(lines[i])) wi = i;
  if (wi < 0) return {};
  const withIndent = indentOf(lines[wi]);
  const inputs: Record<string, string> = {};
  for (let i = wi + 1; i < lines.length && (lines[i].trim() === '' || indentOf(lines[i]) > withIndent); i++) {
    const line = lines[i];
    if (line.trim() === '' || line.trim().startsWith('#')) continue;
    const kv = /^\s*([a-z][a-z0-9_-]*):\s?(.*)$/.exec(line);
    if (!kv) throw new Error(`example '${title}': cannot read '${line}'`);
    const [, key, rest] = kv;
    if (rest.trim() === '|') {
      const block: string[] = [];
      for (i++; i < lines.length && (lines[i].trim() === '' || indentOf(lines[i]) > indentOf(line)); i++) block.push(lines[i]);
      i--;
      const cut = Math.min(...block.filter((b) => b.trim() !== '').map(indentOf));
      inputs[key] = block
        .map((b) => b.slice(cut))
        .join('\n')
        .replace(/\n*$/, '\n');
    } else inputs[key] = plainScalar(rest);
  }
  return inputs;
}

function usageExamples(): Example[] {
  const usage = readme.split(/^## Usage\s*$/m)[1]?.split(/^## /m)[0] ?? '';
  const out: Example[] = [];
  for (const m of usage.matchAll(/^### (.+)\n+```yaml\n([\s\S]*?)```/gm)) {
    const lines = m[2].split('\n');
    const matrix: Record<string, string[]> = {};
    const mi = lines.findIndex((l) => /^\s*matrix:\s*$/.test(l));
    if (mi >= 0)
      for (const l of lines.slice(mi + 1)) {
        const kv = /^\s+([A-Za-z0-9_-]+):\s*\[(.*)\]\s*$/.exec(l);
        if (!kv) break;
        matrix[kv[1]] = kv[2].split(',').map((v) => v.trim());
      }
    // Every step that uses runbox or one of its sub-actions, in order, with its id.
    const steps: ExampleStep[] = [];
    lines.forEach((l, ui) => {
      const u = /^\s*(?:- )?uses: acme\/runbox(?:\/([a-z]+))?@v1\s*(#.*)?$/.exec(l);
      if (!u) return;
      // The step starts at its `- ` line: this one, or an `id:` line just above.
      const dash = /^\s*- /.test(l) ? ui : ui - 1;
      const stepIndent = indentOf(lines[dash]);
      let id = '';
      for (let i = dash; i < lines.length && (i === dash || indentOf(lines[i]) > stepIndent); i++) {
        const idm = /^\s*(?:- )?id:\s*(\S+)\s*$/.exec(lines[i]);
        if (idm) id = idm[1];
      }
      steps.push({ action: u[1] ?? '', id, with: withBlock(m[1], lines, ui, stepIndent) });
    });
    out.push({ title: m[1], steps, matrix });
  }
  return out;
}

/** The expressions of the examples, as the runner would evaluate them in the test's job. */
function evaluate(value: string, ex: Example, job: FakeJob, outputs: Record<string, Record<string, string>>): string {
  return value.replace(/\$\{\{\s*(.*?)\s*\}\}/g, (_, expr: string) => {
    if (expr === 'github.workspace') return job.workspace;
    if (expr === 'github.run_id') return '1001';
    const mx = /^matrix\.([A-Za-z0-9_-]+)$/.exec(expr);
    if (mx) {
      const values = ex.matrix[mx[1]];
      if (!values) throw new Error(`example '${ex.title}' uses \${{ ${expr} }} but defines no matrix '${mx[1]}'`);
      return values[0];
    }
    const so = /^steps\.([A-Za-z0-9_-]+)\.outputs\.([A-Za-z0-9_-]+)$/.exec(expr);
    if (so) {
      const v = outputs[so[1]]?.[so[2]];
      if (v === undefined) throw new Error(`example '${ex.title}' uses \${{ ${expr} }}, which no earlier runbox step set`);
      return v;
    }
    // The job runs on refs/heads/main.
    if (expr === "github.ref == 'refs/heads/main' && 'auto' || 'never'") return 'auto';
    throw new Error(`example '${ex.title}': the test does not know the expression \${{ ${expr} }}`);
  });
}

describe('every Usage example runs as written through dist/', () => {
  const examples = usageExamples();
  // The REST caches API too, for the examples with `purge: true` and `restore-all-matches: true` (its token is the job's github.token).
  let services: CacheServices | undefined;
  let server: CacheServer | undefined;
  let api: CachesApi | undefined;
  beforeAll(async () => {
    services = await startCacheServices();
    ({ server, api } = services);
  });
  afterAll(async () => {
    await services?.stop();
    removeTempDirs();
  });

  test('the README has the examples this test runs', () => {
    expect(examples.map((e) => `${e.title}: ${e.steps.map((s) => s.action || 'runbox').join(', ')}`)).toEqual([
      'Docker jobs with per-run dirs and a per-PR registry: runbox',
      'Guix store: runbox',
      'Nix store, saved only from the default branch: runbox',
      "Nix store, each job's snapshot replacing the previous one: runbox",
      'A size cap on the store: runbox',
      'Merging what matrix legs saved: runbox, runbox',
      'Restore and save as separate steps: restore, save',
      'Is there a snapshot? Look it up without downloading it: restore',
      'Inside a composite action: restore, save'
    ]);
  });

  test.each(examples.map((e) => [e.title, e] as const))(
    '%s',
    async (_title, ex) => {
      const store = ex.steps.map((s) => s.with.store).find((v) => v) ?? '';
      const storeRoot = tempDir('runbox-docs-store-');
      if (store === 'guix') buildGuixLayout(storeRoot);
      if (store === 'nix') buildNixLayout(storeRoot);
      const job = storeJob((server as CacheServer).url, { storeRoot, env: { GITHUB_API_URL: api?.url, GITHUB_TOKEN: api?.token } });
      try {
        // What the checkout before it (or the repository) would have put there.
        // Each example is a repository of its own: its key-files differ, so two Nix examples never share a key.
        for (const f of ['flake.lock', 'channels.scm', 'manifest.scm']) fs.writeFileSync(path.join(job.workspace, f), `${f} (${ex.title})\n`);
        const srv = path.join(job.root, 'srv');
        const outputs: Record<string, Record<string, string>> = {};
        for (const step of ex.steps) {
          const inputs = Object.fromEntries(Object.entries(step.with).map(([k, v]) => [k, evaluate(v, ex, job, outputs).replace(/(^|\n)\/srv\//g, `$1${srv}/`)]));
          if (step.action === '') {
            const main = await job.main(inputs);
            expect({ code: main.code, errors: main.errors }).toEqual({ code: 0, errors: [] });
            const post = await job.post();
            expect({ code: post.code, errors: post.errors }).toEqual({ code: 0, errors: [] });
            if (step.with.store) {
              // The key's parts are in the summary, not only in a collapsed log group.
              if (step.with.key) expect(main.summary).toContain(`cache key</td><td>${inputs.key} = the 'key' input`);
              else expect(main.summary).toMatch(new RegExp(`cache key</td><td>runbox-${step.with.store}-\\S+ = prefix runbox \\(fixed\\) \\+ store ${step.with.store} `));
              expect(post.summary).toMatch(/store snapshot<\/td><td>saved runbox-/);
              if (step.with.purge === 'true') expect(post.summary).toMatch(/store purge<\/td><td>deleted \d+ entr(y|ies) \(/);
              // The merge restores what the example's earlier steps saved under its restore keys.
              if (step.with['restore-all-matches'] === 'true') expect(JSON.parse(main.outputs['matched-keys'] ?? 'null')).toEqual([expect.stringMatching(`^${inputs['restore-keys']}`)]);
            }
            continue;
          }
          const r = await job.uses(step.action, inputs);
          expect({ action: step.action, code: r.code, errors: r.errors }).toEqual({ action: step.action, code: 0, errors: [] });
          if (step.id) outputs[step.id] = r.outputs;
          if (step.action === 'save') expect(r.summary).toMatch(/store snapshot<\/td><td>saved runbox-/);
          if (step.action === 'restore') expect(r.outputs['cache-primary-key']).toMatch(/^runbox-/);
        }
      } finally {
        job.cleanup();
      }
    },
    120_000
  );
});

/** An empty Nix store with a DB holding the tables a snapshot reads. */
function buildNixLayout(root: string): void {
  sh(`mkdir -p ${q(path.join(root, 'nix/store'))} ${q(path.join(root, 'nix/var/nix/db'))}`);
  sqliteInput(path.join(root, 'nix/var/nix/db/db.sqlite'), GUIX_SCHEMA);
}

// What the Marketplace and a reader check before they read any further.
test('action.yml description is under the 125 characters the Marketplace accepts', () => {
  const d = /^description:\s*(.*)$/m.exec(yml)?.[1] ?? '';
  expect(d.length).toBeGreaterThan(0);
  expect(d.length).toBeLessThan(125);
});

test('README states the platform and runner requirements; LICENSE matches package.json', () => {
  expect(readme).toMatch(/\*\*Linux\*\*/);
  expect(readme).toMatch(/node24.*runner \*\*v2\.327\.1 or later\*\*/s);
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { license: string };
  expect(pkg.license).toBe('MIT');
  expect(fs.readFileSync(path.join(ROOT, 'LICENSE'), 'utf8')).toMatch(/^MIT License\n\nCopyright \(c\) \d{4} runbox contributors\n/);
  expect(fs.existsSync(path.join(ROOT, 'CHANGELOG.md'))).toBe(true);
});

// Troubleshooting quotes messages a user will search for: each must still be what runbox prints.
test('Troubleshooting quotes the messages as the code writes them', () => {
  const section = readme.split(/^## Troubleshooting\s*$/m)[1]?.split(/^## /m)[0] ?? '';
  const src = (dir: string): string =>
    fs
      .readdirSync(dir, { withFileTypes: true })
      .map((e) => (e.isDirectory() ? src(path.join(dir, e.name)) : e.name.endsWith('.ts') ? fs.readFileSync(path.join(dir, e.name), 'utf8') : ''))
      .join('\n');
  const code = src(path.join(ROOT, 'src'));
  const flat = (s: string): string => s.replace(/\s+/g, ' ');
  for (const fragment of [
    'is not NAME[:scope][=ENV_VAR]',
    'runbox has no input of this name',
    'it is empty: the workflow passes it, but its value expanded to nothing',
    'is inside RUNNER_TEMP, which the runner wipes after every job, so the pr dirs',
    'the values are lower case',
    'is held by an earlier runbox step of this same job',
    'still waiting for',
    '(lock-timeout)',
    'nothing else under base-dir is prunable',
    'dirs held by live runs:',
    'not exist on this host and nothing was restored into',
    'post will have nothing to save',
    'leaves out the ${cfg.kind} DB dir',
    'to read its version (EACCES)',
    'no space left on the filesystem of',
    '(RUNNER_TEMP, where runbox stages',
    'the confined extraction did not start: these mounts stayed writable in its namespace',
    'runbox follows only symlinks root made in a dir only root may write to, and'
  ]) {
    expect({ fragment, inCode: code.includes(fragment) }).toEqual({ fragment, inCode: true });
    const shown = fragment.replace('${cfg.kind}', 'guix');
    expect({ fragment, inReadme: flat(section).includes(shown) || flat(section).includes(shown.replace(/^\(|\)$/g, '')) }).toEqual({ fragment, inReadme: true });
  }
});
